"""The error model: realised rates, presets, determinism, non-ACGT bases, the parser."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dnalib.errors import DnalibError
from dnalib.seqerrors import (
    ERROR_PRESETS,
    HOMOPOLYMER_RUN,
    ErrorModel,
    apply_errors,
    error_model,
    mutate_codes,
)
from dnalib.sequences import encode

RNG = np.random.default_rng(123)
#: 200 kbp of random sequence, cut into 20 pieces of 10 kbp.
PIECES = ["".join(RNG.choice(list("ACGT"), 10_000)) for _ in range(20)]
TOTAL = sum(len(p) for p in PIECES)


def _counts(model: ErrorModel, seed: int = 0) -> dict[str, float]:
    """Errors per template base over the 200 kbp (from the edits themselves)."""
    subs = ins = dels = 0
    for i, piece in enumerate(PIECES):
        e = mutate_codes(encode(piece), model, np.random.default_rng([seed, i]))
        subs, ins, dels = subs + e.substitutions, ins + e.insertions, dels + e.deletions
    return {"substitution": subs / TOTAL, "insertion": ins / TOTAL, "deletion": dels / TOTAL}


@pytest.mark.parametrize("name", ["illumina", "longread5", "longread10"])
def test_realised_rates_match_the_preset_on_200_kbp(name):
    model = ERROR_PRESETS[name]
    got = _counts(model)
    for kind, rate in got.items():
        expected = getattr(model, kind)
        # the binomial sd on 200 kbp is at most 0.00044 at these rates: about 5 sd
        assert rate == pytest.approx(expected, abs=0.0025), (kind, rate, expected)
        if expected == 0:
            assert rate == 0
    # the same rates seen from the outside: length change and mismatches
    out = apply_errors(PIECES, model, seed=3)
    change = (sum(map(len, out)) - TOTAL) / TOTAL
    assert change == pytest.approx(model.insertion - model.deletion, abs=0.004)


def test_substitutions_only_are_mismatches_at_the_rate():
    model = ErrorModel(0.03, 0.0, 0.0)
    out = apply_errors(PIECES, model, seed=5)
    assert [len(o) for o in out] == [len(p) for p in PIECES]
    mismatches = sum(a != b for o, p in zip(out, PIECES, strict=True) for a, b in zip(o, p, strict=True))
    assert mismatches / TOTAL == pytest.approx(0.03, abs=0.002)


def test_deletions_only_shorten_and_insertions_only_lengthen():
    shorter = apply_errors(PIECES, ErrorModel(0.0, 0.0, 0.05), seed=1)
    longer = apply_errors(PIECES, ErrorModel(0.0, 0.05, 0.0), seed=1)
    assert sum(map(len, shorter)) / TOTAL == pytest.approx(0.95, abs=0.003)
    assert sum(map(len, longer)) / TOTAL == pytest.approx(1.05, abs=0.003)


def test_clean_is_identity_and_a_zero_rate_too():
    assert apply_errors(PIECES, "clean", seed=9) == PIECES
    assert apply_errors(PIECES, 0.0, seed=9) == PIECES
    assert apply_errors(PIECES[0], ERROR_PRESETS["clean"]) == PIECES[0]
    assert error_model("clean").rate == 0 and error_model(None) == ERROR_PRESETS["clean"]


def test_deterministic_per_seed_and_index_whatever_the_batch():
    model = ERROR_PRESETS["longread10"]
    a = apply_errors(PIECES[:5], model, seed=7)
    assert apply_errors(PIECES[:5], model, seed=7) == a
    # a sequence's errors depend on (seed, index), not on the other sequences of the call
    b = apply_errors([PIECES[0], "ACGT" * 100, PIECES[2]], model, seed=7)
    assert b[0] == a[0] and b[2] == a[2]
    # another seed, or other seed words, give other errors
    assert apply_errors(PIECES[:5], model, seed=8) != a
    assert apply_errors(PIECES[:5], model, seed=(7, 1)) != apply_errors(PIECES[:5], model, seed=(7, 2))
    assert apply_errors(PIECES[:5], model, seed=(7, 1)) == apply_errors(PIECES[:5], model, seed=[7, 1])
    # independent seeds: the errors of two seeds fall at unrelated places
    x, y = (np.frombuffer(s.encode(), np.uint8) for s in
            apply_errors([PIECES[0]], ErrorModel(0.1, 0, 0), seed=1)
            + apply_errors([PIECES[0]], ErrorModel(0.1, 0, 0), seed=2))
    ref = np.frombuffer(PIECES[0].encode(), np.uint8)
    both = np.mean((x != ref) & (y != ref))
    assert both == pytest.approx(0.1 * 0.1, abs=0.006)


def test_indel_dominated_presets_change_lengths_and_illumina_does_not():
    for name in ("longread5", "longread10"):
        model = ERROR_PRESETS[name]
        assert model.insertion + model.deletion >= 0.75 * model.rate
        out = apply_errors(PIECES, model, seed=0)
        assert sum(len(o) != len(p) for o, p in zip(out, PIECES, strict=True)) >= 18
    assert ERROR_PRESETS["longread5"].rate == pytest.approx(0.05)
    assert ERROR_PRESETS["longread10"].rate == pytest.approx(0.10)
    out = apply_errors(PIECES, "illumina", seed=0)
    assert [len(o) for o in out] == [len(p) for p in PIECES] and out != PIECES


def test_non_acgt_bases_and_case_are_kept():
    seq = "NNNNacgtRYKM" * 50 + "ACGT" * 200 + "N" * 30
    out = apply_errors([seq], ErrorModel(0.3, 0.3, 0.3), seed=0)[0]
    # every non-ACGT character survives, in order, and nothing is inserted among the N run
    assert [c for c in out if c.upper() not in "ACGT"] == [c for c in seq if c.upper() not in "ACGT"]
    assert out.endswith("N" * 30) and out.startswith("NNNN")
    assert set(out) <= set(seq) | set("ACGT")
    assert out != seq


def test_homopolymer_bias_puts_indels_into_runs_and_keeps_the_rate():
    rng = np.random.default_rng(4)
    # half runs of 6 identical bases, half random bases
    seq = "".join(rng.choice(list("ACGT")) * 6 + "".join(rng.choice(list("ACGT"), 6))
                  for _ in range(10_000))
    codes = encode(seq)
    plain = ErrorModel(0.0, 0.02, 0.02)
    biased = ErrorModel(0.0, 0.02, 0.02, homopolymer=4.0)
    run = np.zeros(len(codes), bool)
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    lengths = np.diff(np.r_[starts, len(codes)])
    run = np.repeat(lengths, lengths) >= HOMOPOLYMER_RUN

    def deleted_in_runs(model):
        e = mutate_codes(codes, model, np.random.default_rng(0))
        kept = np.zeros(len(codes), bool)
        kept[e.source[e.source >= 0]] = True
        gone = ~kept
        return gone[run].mean() / gone[~run].mean(), e

    ratio_plain, e_plain = deleted_in_runs(plain)
    ratio_biased, e_biased = deleted_in_runs(biased)
    assert ratio_plain == pytest.approx(1.0, abs=0.15)
    assert ratio_biased == pytest.approx(5.0, rel=0.2)  # 1 + h inside runs
    # the expected rates are kept over the whole sequence
    for e in (e_plain, e_biased):
        assert e.deletions / len(codes) == pytest.approx(0.02, abs=0.002)
        assert e.insertions / len(codes) == pytest.approx(0.02, abs=0.002)
    with pytest.raises(DnalibError, match="homopolymer"):
        ErrorModel(0, 0, 0, homopolymer=-1)


@pytest.mark.parametrize("spec", ["longread11", "ten percent", "1.5", "-0.1", "nan", "", True])
def test_unknown_specs_are_one_line_errors_naming_the_presets(spec):
    with pytest.raises(DnalibError) as err:
        error_model(spec)
    message = str(err.value)
    assert "\n" not in message and "longread10" in message and "illumina" in message


def test_a_rate_is_a_long_read_like_split():
    model = error_model("0.1")
    assert (model.substitution, model.insertion, model.deletion) == pytest.approx((0.02, 0.04, 0.04))
    assert model.name == "0.1" and error_model(0.10).name == "0.1" and error_model("0.10") == model
    assert error_model("LongRead5") is ERROR_PRESETS["longread5"]
    assert model.describe() == {"substitution": pytest.approx(0.02), "insertion": pytest.approx(0.04),
                                "deletion": pytest.approx(0.04), "homopolymer": 0.0, "name": "0.1",
                                "rate": pytest.approx(0.1)}


@pytest.mark.parametrize("kwargs, message", [
    ({"substitution": 1.0, "insertion": 0, "deletion": 0}, "substitution"),
    ({"substitution": 0.6, "insertion": 0, "deletion": 0.5}, "below 1"),
    ({"substitution": 0, "insertion": float("nan"), "deletion": 0}, "insertion"),
    ({"substitution": "0.1", "insertion": 0, "deletion": 0}, "number"),
])
def test_impossible_models_are_refused(kwargs, message):
    with pytest.raises(DnalibError, match=message):
        ErrorModel(**kwargs)


def test_bad_seeds_and_inputs_are_refused():
    with pytest.raises(DnalibError, match="seed"):
        apply_errors(["ACGT"], "longread5", seed=-1)
    with pytest.raises(DnalibError, match="seed"):
        apply_errors(["ACGT"], "longread5", seed=())
    with pytest.raises(DnalibError, match="str"):
        apply_errors([b"ACGT"], "longread5")


@settings(max_examples=60, deadline=None)
@given(seq=st.text(alphabet="ACGTNacgtRY", max_size=300),
       rates=st.tuples(st.floats(0, 0.45), st.floats(0, 0.9), st.floats(0, 0.45)),
       homopolymer=st.sampled_from([0.0, 3.0]), seed=st.integers(0, 2**32))
def test_property_errors_only_make_bases_and_keep_everything_else(seq, rates, homopolymer, seed):
    model = ErrorModel(*rates, homopolymer=homopolymer)
    out = apply_errors(seq, model, seed=seed)
    assert apply_errors(seq, model, seed=seed) == out  # deterministic
    # every character is ACGT or a kept character of the input; N, R, Y all survive, in order
    assert set(out) <= set(seq) | set("ACGT")
    assert [c for c in out if c.upper() not in "ACGT"] == [c for c in seq if c.upper() not in "ACGT"]
    # without insertions the output is no longer than the input; without deletions no shorter
    if model.insertion == 0:
        assert len(out) <= len(seq)
    if model.deletion == 0:
        assert len(out) >= len(seq)
    if model.rate == 0:
        assert out == seq
