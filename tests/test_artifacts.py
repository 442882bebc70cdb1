"""Tests of dnalib.artifacts: named models trained once, cached, retrained when the recipe changes."""

from __future__ import annotations

import json

import pytest

from dnalib import artifacts
from dnalib.errors import DnalibError


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DNALIB_CACHE", str(tmp_path))
    return tmp_path


def test_get_trains_the_chain_once_and_reuses_it(cache):
    from transformers import AutoModel

    out = artifacts.get("curriculum", "smoke", progress=False)
    assert out == cache / "artifacts" / "smoke" / "curriculum"
    chain = ("mlm", "simclr", "curriculum")  # spectrum_map is no part of it (see test_real_genomes)
    for name in chain:
        assert artifacts.is_cached(name, "smoke")
    assert not artifacts.is_cached("spectrum_map", "smoke")
    full = artifacts.recipe("curriculum", "smoke")["config"]
    n1, n2 = full["phase_steps"]
    first = [json.loads(x) for x in (artifacts.path("simclr", "smoke") / "log.jsonl").read_text().splitlines()]
    assert [r["phase"] for r in first] == ["simclr"] * n1
    log = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    assert [r["phase"] for r in log] == ["simclr"] * n1 + ["mimix"] * n2
    assert log[:n1] == first  # the curriculum continues the simclr run, it does not redo it
    assert type(AutoModel.from_pretrained(out)).__name__ == "RobertaModel"
    info = json.loads((out / "dnalib_finetune.json").read_text())
    assert info["init"] == str(cache / "artifacts" / "smoke" / "mlm")  # one run, continued
    stamps = {n: (artifacts.path(n, "smoke") / "model.safetensors").stat().st_mtime_ns
              for n in chain}
    assert artifacts.get("curriculum", "smoke", progress=False) == out
    assert stamps == {n: (artifacts.path(n, "smoke") / "model.safetensors").stat().st_mtime_ns
                      for n in chain}
    assert not list((cache / "artifacts" / "smoke").glob("*.tmp-*"))


def test_simclr_then_curriculum_equals_one_uninterrupted_curriculum_run(cache, tmp_path):
    """Chapters 5 and 6 train one run in two parts (paused after phase 1, then resumed):
    the result is the uninterrupted run's, weights, head and losses."""
    import torch

    from dnalib.contrastive import FinetuneConfig, finetune
    from dnalib.pairs import genome_groups
    from dnalib.simulate import training_genomes

    out = artifacts.get("curriculum", "smoke", progress=False)
    fields = artifacts.recipe("curriculum", "smoke")["config"]
    cfg = FinetuneConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})
    one = tmp_path / "one"
    finetune(genome_groups(training_genomes()), one, artifacts.path("mlm", "smoke"), cfg, progress=False)
    for name in ("model.safetensors", "head.safetensors"):
        a, b = _weights(out, name), _weights(one, name)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
    losses = [[json.loads(x)["loss"] for x in (d / "log.jsonl").read_text().splitlines()] for d in (out, one)]
    assert losses[0] == pytest.approx(losses[1], rel=1e-6)
    simclr = json.loads((artifacts.path("simclr", "smoke") / "dnalib_finetune.json").read_text())
    assert simclr["steps_done"] == cfg.phase_steps[0] and simclr["complete"] is False


def test_a_changed_recipe_or_missing_marker_retrains(cache):
    mlm = artifacts.get("mlm", "smoke", progress=False)
    marker = mlm / artifacts.RECIPE_FILE
    rec = json.loads(marker.read_text())
    rec["config"]["max_steps"] += 1  # as if the profile's settings had changed
    marker.write_text(json.dumps(rec))
    assert not artifacts.is_cached("mlm", "smoke")
    artifacts.get("mlm", "smoke", progress=False)
    assert artifacts.is_cached("mlm", "smoke")
    marker.unlink()  # an interrupted run never wrote its marker
    assert not artifacts.is_cached("mlm", "smoke")


def test_unknown_names_are_clear_errors(cache):
    with pytest.raises(DnalibError, match="unknown artifact"):
        artifacts.get("bert", "smoke")
    with pytest.raises(DnalibError, match="unknown artifact"):
        artifacts.recipe("bert", "smoke")


def _weights(directory, name="model.safetensors"):
    from safetensors.torch import load_file

    return load_file(directory / name)


def test_adopt_caches_a_live_run_identical_to_the_recipe(cache, tmp_path, monkeypatch):
    """Chapter 4's live run (held-out evaluations, checkpoints) is the `mlm` artifact, weight for weight."""
    import torch

    from dnalib import pretrain as P
    from dnalib import simulate

    train = [c for contigs in simulate.training_genomes().values() for c in contigs]
    held_out = [c for g in simulate.default_community().eval_ids
                for c in simulate.default_community().genomes[g]]
    cfg = P.pretrain_config("smoke")
    assert cfg.eval_every and cfg.checkpoint_every  # unlike the recipe, which neither evaluates nor checkpoints
    live = tmp_path / "live"
    result = P.pretrain(train, live, cfg, eval_sequences=held_out, progress=False)
    assert len(result["evals"]) > 1
    out = artifacts.adopt("mlm", live, "smoke")
    assert out == artifacts.path("mlm", "smoke") and artifacts.is_cached("mlm", "smoke")
    assert artifacts.get("mlm", "smoke", progress=False) == out
    assert (live / "model.safetensors").is_file()  # the source is left as it was
    adopted = _weights(out)

    monkeypatch.setenv("DNALIB_CACHE", str(tmp_path / "other-cache"))
    fresh = _weights(artifacts.get("mlm", "smoke", progress=False))
    assert adopted.keys() == fresh.keys()
    for key in fresh:
        assert torch.equal(adopted[key], fresh[key]), key


def test_adopt_refuses_other_settings_data_or_directories(cache, tmp_path):
    import numpy as np

    from dnalib import pretrain as P

    for name in ("simclr", "curriculum"):
        with pytest.raises(DnalibError, match=f"the '{name}' artifact .* cannot be adopted"):
            artifacts.adopt(name, tmp_path, "smoke")
    with pytest.raises(DnalibError, match="not a finished run of dnalib.pretrain.pretrain"):
        artifacts.adopt("mlm", tmp_path / "nothing", "smoke")
    rng = np.random.default_rng(0)
    other = ["".join(rng.choice(list("ACGT"), 20_000)) for _ in range(3)]
    cfg = P.pretrain_config("smoke")
    P.pretrain(other, tmp_path / "other-data", cfg, progress=False)
    with pytest.raises(DnalibError, match="other sequences"):
        artifacts.adopt("mlm", tmp_path / "other-data", "smoke")
    P.pretrain(other, tmp_path / "longer", P.pretrain_config("smoke", max_steps=cfg.max_steps + 1),
               progress=False)
    with pytest.raises(DnalibError, match="max_steps"):
        artifacts.adopt("mlm", tmp_path / "longer", "smoke")
    assert not artifacts.is_cached("mlm", "smoke")


def test_augmented_recipes_differ_from_the_clean_ones_only_by_augment_errors():
    for profile in ("smoke", "hour"):
        for name, clean in artifacts.AUGMENTED.items():
            aug, base = artifacts.recipe(name, profile), artifacts.recipe(clean, profile)
            assert aug["config"] == {**base["config"], "augment_errors": "longread10"}
            assert aug["data"] == base["data"] and aug["kind"] == base["kind"]
        one = artifacts.recipe("curriculum_aug10", profile)  # one run from mlm, not continued
        assert one["from"] == "mlm" and "continue" not in one and "stop_after" not in one
    assert artifacts.recipe("spectrum_map_aug10")["data"] == artifacts.REAL_TRAINING
    assert artifacts.recipe("curriculum_aug10", "hour")["config"]["phase_steps"] == [800, 800]
    assert artifacts.shipped_path("spectrum_map_aug10", "hour").parts[-2:] == ("weights", "spectrum_map_aug10")
    assert artifacts.shipped_path("curriculum_aug10", "hour").parts[-3:] == ("weights", "hour", "curriculum_aug10")


def test_the_point_best_recipes_change_what_their_names_say():
    """spectrum_map_h512(_aug10): spectrum_map with a hidden layer (and errors); curriculum_plus_aug10:
    a new MI-Mix-only run from curriculum's weights, with errors, on pairs the curriculum never drew."""
    clean = artifacts.recipe("spectrum_map")["config"]
    assert artifacts.recipe("spectrum_map_h512")["config"] == {**clean, "hidden": artifacts.NONLINEAR_HIDDEN}
    assert artifacts.recipe("spectrum_map_h512_aug10")["config"] == {
        **clean, "hidden": artifacts.NONLINEAR_HIDDEN, "augment_errors": artifacts.AUGMENT}
    for profile, steps in (("hour", 240), ("cpu", None), ("smoke", None)):
        full = artifacts.recipe("curriculum", profile)["config"]
        plus = artifacts.recipe("curriculum_plus_aug10", profile)
        assert plus["from"] == "curriculum" and "continue" not in plus and plus["kind"] == "finetune"
        cfg = plus["config"]
        assert cfg["curriculum"] == ["mimix"] and cfg["augment_errors"] == artifacts.AUGMENT
        assert cfg["phase_steps"] == [steps or max(1, round(artifacts.PLUS_SHARE * full["phase_steps"][-1]))]
        assert cfg["data_offset"] == sum(full["phase_steps"])
        same = {k: v for k, v in cfg.items() if k not in ("curriculum", "phase_steps", "data_offset",
                                                           "augment_errors")}
        assert same == {k: full[k] for k in same}
    assert set(artifacts.WITH_ERRORS) == {n for n in artifacts.NAMES if n.endswith("_aug10")}


def test_adopt_takes_a_finetune_run_of_the_recipe_and_names_what_differs(cache, tmp_path):
    """An augmented curriculum trained elsewhere (with checkpoints) is the recipe's, weight for weight;
    a run with other settings, stopped early or started elsewhere is refused in one line."""
    import shutil

    import torch

    from dnalib.contrastive import finetune, finetune_config
    from dnalib.pairs import genome_groups
    from dnalib.simulate import training_genomes

    groups = genome_groups(training_genomes())
    mlm = artifacts.get("mlm", "smoke", progress=False)

    def run(out, init=mlm, groups=groups, **kw):
        cfg = finetune_config("smoke", **{"augment_errors": "longread10", **kw})
        finetune(groups, tmp_path / out, init, cfg, progress=False)
        return tmp_path / out

    live = run("live")
    assert finetune_config("smoke").checkpoint_every  # unlike the recipe's 0
    adopted = artifacts.adopt("curriculum_aug10", live, "smoke")
    assert artifacts.get("curriculum_aug10", "smoke", progress=False) == adopted
    kept = shutil.copytree(adopted, tmp_path / "kept")
    fresh = artifacts.get("curriculum_aug10", "smoke", progress=False, force=True)
    for name in ("model.safetensors", "head.safetensors"):
        a, b = _weights(kept, name), _weights(fresh, name)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
    for out, kw, match in (
            ("clean", {"augment_errors": None}, r"augment_errors=None \(recipe 'longread10'\)"),
            ("short", {"phase_steps": (2, 2)}, r"phase_steps=\[2, 2\] \(recipe \[4, 4\]\)")):
        with pytest.raises(DnalibError, match=f"not trained with the smoke recipe of 'curriculum_aug10': {match}"):
            artifacts.adopt("curriculum_aug10", run(out, **kw), "smoke")
    with pytest.raises(DnalibError, match="trained on other sequences than the recipe's"):
        artifacts.adopt("curriculum_aug10", run("fewer", groups=groups[1:]), "smoke")
    paused = tmp_path / "paused"
    finetune(groups, paused, mlm, finetune_config("smoke", augment_errors="longread10"), progress=False,
             stop_after=4)
    with pytest.raises(DnalibError, match="stopped after 4 steps"):
        artifacts.adopt("curriculum_aug10", paused, "smoke")
    with pytest.raises(DnalibError, match="did not start from the smoke 'mlm' artifact") as err:
        artifacts.adopt("curriculum_aug10", run("elsewhere", init=fresh), "smoke")
    assert "\n" not in str(err.value)


def test_a_start_without_its_checkpoint_is_trained_again_before_it_is_continued(cache):
    """A shipped ``simclr`` holds no checkpoint: continuing it into ``curriculum`` retrains it first."""
    import shutil

    import torch

    simclr = artifacts.get("simclr", "smoke", progress=False)
    shutil.rmtree(simclr / "checkpoints")  # what a shipped copy looks like
    out = artifacts.get("curriculum", "smoke", progress=False)
    assert (artifacts.path("simclr", "smoke") / "checkpoints").is_dir()
    reference = cache / "again"
    shutil.copytree(out, reference)
    shutil.rmtree(cache / "artifacts")
    again = artifacts.get("curriculum", "smoke", progress=False)  # the ordinary chain
    a, b = _weights(again), _weights(reference)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_the_hour_profile_trains_on_real_genomes_and_ships_per_profile():
    for name in ("mlm", "simclr", "curriculum"):
        assert artifacts.recipe(name, "hour")["data"] == artifacts.REAL_TRAINING
        assert artifacts.recipe(name, "cpu")["data"] == artifacts.SYNTHETIC_TRAINING
        assert artifacts.shipped_path(name, "hour").parts[-3:] == ("weights", "hour", name)
    assert artifacts.shipped_path("spectrum_map", "hour").parts[-2:] == ("weights", "spectrum_map")
    hour = artifacts.recipe("curriculum", "hour")["config"]
    cpu = artifacts.recipe("curriculum", "cpu")["config"]
    assert hour["phase_steps"] > cpu["phase_steps"]  # more steps, the rest as the cpu profile's
    assert {k for k in hour if hour[k] != cpu[k]} <= {"profile", "phase_steps", "warmup_steps"}


def test_artifacts_command_prints_the_directory_or_says_how_to_get_it(cache, capsys):
    from dnalib.cli import main

    args = ["artifacts", "get", "mlm", "--profile", "smoke", "--quiet"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "neither cached nor shipped" in err and "--train" in err and err.count("\n") == 1
    assert main([*args, "--train"]) == 0
    assert capsys.readouterr().out.strip() == str(artifacts.path("mlm", "smoke"))
    assert main(args) == 0  # cached now: no --train needed
    assert capsys.readouterr().out.strip() == str(artifacts.path("mlm", "smoke"))


def test_artifacts_command_checks_the_shipped_weights_once(cache, capsys, monkeypatch):
    """`dnalib artifacts get` of a shipped model hashes its files once, not before and again in get."""
    from dnalib.cli import main

    calls = []
    real = artifacts.shipped_matches

    def counted(*a, **kw):
        calls.append(a)
        return real(*a, **kw)

    monkeypatch.setattr(artifacts, "shipped_matches", counted)
    assert main(["artifacts", "get", "spectrum_map", "--quiet"]) == 0
    assert capsys.readouterr().out.strip() == str(artifacts.path("spectrum_map"))
    assert len(calls) == 1
    with pytest.raises(DnalibError, match="neither cached nor shipped"):
        artifacts.get("mlm", "smoke", train=False)


def test_every_shipped_file_is_package_data():
    """pyproject's package-data globs reach every file of dnalib/weights (a wheel, as Colab installs
    dnalib, would otherwise lack them and train for an hour instead)."""
    import tomllib
    from pathlib import Path

    import dnalib

    pkg = Path(dnalib.__file__).parent
    root = pkg.parent
    globs = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["dnalib"]
    covered = {p for pattern in globs for p in pkg.glob(pattern) if p.is_file()}
    shipped = {p for p in (pkg / "weights").rglob("*") if p.is_file()}
    assert shipped and shipped <= covered, sorted(str(p.relative_to(pkg)) for p in shipped - covered)[:5]


def test_every_shipped_artifact_is_its_recipe_and_all_fit_in_30_mb():
    """Each copy in dnalib/weights is one `get` uses (its current recipe, its sums intact), and
    together they stay small enough to ship in the package (an hour transformer is 4 to 7 MB)."""
    from pathlib import Path

    root = Path(artifacts.__file__).parent / "weights"
    found = []
    for marker in sorted(root.rglob(artifacts.RECIPE_FILE)):
        where = marker.parent
        profile = None if where.parent == root else where.parent.name
        assert artifacts.shipped_path(where.name, profile) == where
        assert artifacts.shipped_matches(where.name, profile=profile), where
        found.append(where.relative_to(root).as_posix())
    assert {*artifacts.MAPS, "hour/mlm", "hour/simclr", "hour/curriculum"} <= set(found)
    size = sum(f.stat().st_size for f in root.rglob("*") if f.is_file())
    assert size <= 30e6, f"dnalib/weights holds {size / 1e6:.1f} MB"
