"""Labels are data: one rule for missing labels everywhere, and list options of the right length."""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import pandas as pd
import pytest

from dnalib import evaluate as ev
from dnalib.cli import main, per_phase, step_counts
from dnalib.errors import DnalibError
from dnalib.labels import PLACEHOLDER_PATTERN, missing_labels

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is in the dev extras")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

PLACEHOLDERS = ["", "unknown", "Unknown", " unidentified ", "NA", "n/a", "-", "?", "none", "null",
                "nan", "unclassified", "unassigned", "uncultured bacterium", "incertae sedis"]
names = st.from_regex(r"[A-Z][a-z]{2,8} [a-z]{3,9}", fullmatch=True)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.one_of(names, st.sampled_from(PLACEHOLDERS), st.none()), max_size=30))
def test_missing_labels_is_exactly_none_or_a_placeholder(labels):
    mask = missing_labels(labels)
    expected = [v is None or v.strip().lower() in {p.strip().lower() for p in PLACEHOLDERS}
                for v in labels]
    assert mask.tolist() == expected
    # the taxonomy task's rule is the same rule
    assert (~ev.usable_labels(labels, min_per_taxon=1) == mask).all()
    assert ev.PLACEHOLDER_PATTERN == PLACEHOLDER_PATTERN


def _blobs(n_species: int, per: int, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_species, 8)) * 10
    x = np.concatenate([c + rng.normal(size=(per, 8)) for c in centres])
    return x, [f"sp{i}" for i in range(n_species) for _ in range(per)]


@settings(max_examples=3, deadline=None)
@given(st.lists(st.sampled_from(PLACEHOLDERS), min_size=1, max_size=12), st.integers(0, 10**6))
def test_missing_labels_are_no_species_in_clustering_fewshot_and_binning(placeholders, seed):
    x, y = _blobs(3, 12)
    rng = np.random.default_rng(seed)
    noise = rng.normal(size=(len(placeholders), 8)) * 30  # scattered: one "species" would score badly
    with_missing = np.concatenate([x, noise]), [*y, *placeholders]
    clean = ev.clustering_scores(x, y, seeds=[0])
    mixed = ev.clustering_scores(*with_missing, seeds=[0])
    assert mixed["ari"] == clean["ari"] and mixed["missing_labels"] == len(placeholders)
    few = ev.fewshot_classification(*with_missing, shots=[1], seeds=[0])
    assert few["n_classes"].tolist() == [3] and few["missing_labels"].tolist() == [len(placeholders)]
    binned = ev.binning_scores(*with_missing, min_per_species=5, min_bin_size=2)
    assert binned["n_species"] == 3 and binned["missing_labels"] == len(placeholders)


def test_evaluate_embeddings_counts_missing_labels_and_leaves_them_out():
    x, y = _blobs(3, 12)
    x = np.concatenate([x, np.zeros((4, 8))])
    taxonomy = pd.DataFrame({"species": [*y, "", "unknown", None, "Unidentified"]})
    res = ev.evaluate_embeddings(x, taxonomy, tasks=["clustering"], seeds=[0])
    assert res["missing_species_labels"] == 4 and res["n_species"] == 3 and res["n_samples"] == 36


def test_contrastive_groups_leave_out_missing_labels_with_a_count():
    from dnalib.pairs import species_groups

    class Set:
        genomes = {"a": ["AC"], "b": ["GT"], "c": ["TT"], "d": ["CC"], "e": ["GG"]}

        def labels(self, rank):
            return ["s1", "", "s1", "unknown", "s2"]

    with pytest.warns(UserWarning, match="2 of 5 genome"):
        groups = species_groups(Set())
    assert groups == [["AC", "TT"], ["GG"]]


# --------------------------------------------------------------------------- list options


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(1, 10_000), min_size=1, max_size=5),
       st.lists(st.sampled_from(["simclr", "mimix", "imix"]), min_size=1, max_size=4))
def test_steps_are_one_per_phase_or_one_for_all_never_cut_or_padded(steps, phases):
    parsed = step_counts(",".join(map(str, steps)))
    assert parsed == steps
    if len(steps) in (1, len(phases)):
        got = per_phase(parsed, phases, "--steps")
        assert len(got) == len(phases) and set(got) <= set(steps)
    else:
        with pytest.raises(DnalibError, match=f"gives {len(steps)} values for the {len(phases)} phase"):
            per_phase(parsed, phases, "--steps")


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet="0123456789,-x ", max_size=12))
def test_step_counts_accepts_only_positive_whole_numbers(text):
    try:
        parsed = step_counts(text)
    except argparse.ArgumentTypeError:
        parts = text.split(",")
        assert not all(p.strip().lstrip("+").isdigit() and int(p) >= 1 for p in parts)
    else:
        assert parsed and all(v >= 1 for v in parsed) and len(parsed) == text.count(",") + 1


def test_finetune_with_more_steps_than_phases_is_one_line(tmp_path, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        status = main(["finetune", "--profile", "smoke", "--init", str(tmp_path / "model"),
                       "--data", str(tmp_path / "none.fa"), "--out", str(tmp_path / "m"),
                       "--steps", "2,3,4"])
    assert status == 1
    err = capsys.readouterr().err
    assert "--steps 2,3,4 gives 3 values for the 2 phase(s)" in err and err.count("\n") == 1
    assert not (tmp_path / "m").exists()
