"""Error augmentation of training views: both trainers, the run identity, the unchanged default."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dnalib import io, seqerrors
from dnalib.contrastive import finetune, finetune_config, split_views
from dnalib.errors import DnalibError
from dnalib.pairs import genome_groups, species_groups
from dnalib.spectrum_map import SpectrumMap, SpectrumMapConfig, train_spectrum_map


def _set() -> io.GenomeSet:
    from dnalib.simulate import simulate_community

    community = simulate_community(2, n_genera=3, species_per_genus=3, genome_length=30_000)
    taxonomy = pd.DataFrame({"species": list(community.labels("species"))}, index=list(community.genomes))
    return io.GenomeSet(None, taxonomy, {g: list(c) for g, c in community.genomes.items()})


MAP = {"k": 4, "dim": 16, "fragment_length": 2000, "batch_pairs": 6, "steps": 6, "seed": 1}


def _weights(directory: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(str(directory / "model.safetensors"))


def test_new_settings_at_their_neutral_values_leave_recipes_and_records_as_they_were():
    """The shipped maps and hour models still match their recipes: the new settings are left out
    of every config dict while they train as before, and come back from their defaults."""
    from dnalib import artifacts
    from dnalib.training import plain

    for name in artifacts.MAPS:
        assert artifacts.shipped_matches(name)
    for name in ("simclr", "curriculum"):
        assert artifacts.shipped_matches(name, profile="hour")
    assert {"hidden", "augment_errors"}.isdisjoint(SpectrumMapConfig().to_dict())
    assert "augment_errors" not in plain(finetune_config("hour"))
    noisy = SpectrumMapConfig(hidden=32, augment_errors="longread5")
    assert noisy.to_dict()["hidden"] == 32 and plain(noisy)["augment_errors"] == "longread5"
    assert SpectrumMapConfig.from_dict(noisy.to_dict()) == noisy
    assert SpectrumMapConfig.from_dict(SpectrumMapConfig().to_dict()) == SpectrumMapConfig()
    cfg = finetune_config("smoke", augment_errors="0.05")
    assert type(cfg).from_dict(cfg.to_dict()).augment_errors == "0.05"


def test_default_training_never_draws_errors(monkeypatch, small_set, tmp_path):
    """Without augmentation neither trainer calls the error model: their default path is the one
    they always had (the weights of the shipped models are reproduced bit for bit)."""
    def refuse(*args, **kwargs):
        raise AssertionError("augment_pair called without --augment-errors")

    monkeypatch.setattr(seqerrors, "augment_pair", refuse)
    train_spectrum_map(species_groups(_set()), tmp_path / "map", SpectrumMapConfig(**MAP), progress=False)
    root, community = small_set
    groups = genome_groups({g: community.genomes[g] for g in community.train_ids})
    finetune(groups, tmp_path / "ft", root / "mlm", finetune_config("smoke", phase_steps=(1, 1),
                                                                      checkpoint_every=0), progress=False)
    assert "augment_errors" not in json.loads((tmp_path / "ft" / "dnalib_finetune.json").read_text())


def test_spectrum_map_views_get_independent_errors_recorded_in_the_run(monkeypatch, tmp_path):
    seen = []
    real = seqerrors.augment_pair

    def spy(view1, view2, model, seed, step):
        out = real(view1, view2, model, seed, step)
        seen.append((list(view1), list(view2), *out))
        return out

    monkeypatch.setattr(seqerrors, "augment_pair", spy)
    groups = species_groups(_set())
    cfg = SpectrumMapConfig(**MAP, augment_errors="longread10")
    train_spectrum_map(groups, tmp_path / "noisy", cfg, progress=False)
    assert len(seen) == MAP["steps"]
    v1, v2, e1, e2 = seen[0]
    assert all(a != b for a, b in zip(v1, e1, strict=True)) and all(a != b for a, b in zip(v2, e2, strict=True))
    changed = [sum(x != y for x, y in zip(a, b, strict=False)) / len(a) for a, b in zip(v1, e1, strict=True)]
    assert 0.2 < np.mean(changed) < 0.95  # indels shift the rest of a view: most positions differ
    # the two views of a pair draw their own errors: the same text gets different ones
    twin1, twin2 = real([v1[0]], [v1[0]], "longread10", 1, 0)
    assert twin1 != twin2
    # errors differ from step to step
    assert seen[1][2] != real(seen[1][0], seen[1][1], "longread10", 1, 0)[0]
    info = json.loads((tmp_path / "noisy" / "dnalib_spectrum_map.json").read_text())
    assert info["config"]["augment_errors"] == "longread10"
    assert info["augment_errors"] == seqerrors.ERROR_PRESETS["longread10"].describe()
    # deterministic, and other than the clean map
    train_spectrum_map(groups, tmp_path / "again", cfg, progress=False)
    train_spectrum_map(groups, tmp_path / "clean", SpectrumMapConfig(**MAP), progress=False)
    noisy, again, clean = (_weights(tmp_path / d) for d in ("noisy", "again", "clean"))
    assert all(np.array_equal(noisy[k], again[k]) for k in noisy)
    assert not np.array_equal(noisy["linear.weight"], clean["linear.weight"])
    with pytest.raises(DnalibError, match="unknown error model 'longread11'"):
        train_spectrum_map(groups, tmp_path / "bad", SpectrumMapConfig(**MAP, augment_errors="longread11"),
                           progress=False)


def test_finetune_augments_both_views_and_resume_refuses_another_error_model(small_set, tmp_path):
    root, community = small_set
    groups = genome_groups({g: community.genomes[g] for g in community.train_ids})
    cfg = finetune_config("smoke", checkpoint_every=0, augment_errors="longread10")
    finetune(groups, tmp_path / "a", root / "mlm", cfg, stop_after=cfg.phase_steps[0], progress=False)
    other = finetune_config("smoke", checkpoint_every=0, augment_errors="longread5")
    with pytest.raises(DnalibError, match=r"different settings \(augment_errors\)"):
        finetune(groups, tmp_path / "a", root / "mlm", other, resume=True, progress=False)
    with pytest.raises(DnalibError, match=r"different settings \(augment_errors\)"):
        finetune(groups, tmp_path / "a", root / "mlm", finetune_config("smoke", checkpoint_every=0),
                 resume=True, progress=False)
    r = finetune(groups, tmp_path / "a", root / "mlm", cfg, resume=True, progress=False)
    assert [h["phase"] for h in r["history"]] == ["simclr"] * 4 + ["mimix"] * 4
    info = json.loads((tmp_path / "a" / "dnalib_finetune.json").read_text())
    assert info["complete"] and info["config"]["augment_errors"] == "longread10"
    assert info["augment_errors"]["rate"] == pytest.approx(0.1)
    # the paused-and-resumed run is the uninterrupted one, errors included
    finetune(groups, tmp_path / "b", root / "mlm", cfg, progress=False)
    losses = [[json.loads(x)["loss"] for x in (tmp_path / d / "log.jsonl").read_text().splitlines()]
              for d in ("a", "b")]
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-5)
    clean = finetune(groups, tmp_path / "c", root / "mlm", finetune_config("smoke", checkpoint_every=0),
                     progress=False)
    assert [h["loss"] for h in clean["history"]] != pytest.approx(losses[1], rel=1e-6)


def test_augment_errors_on_the_command_line(small_set, tmp_path, capsys):
    from dnalib.cli import main

    root, _ = small_set
    ft = ["finetune", "--profile", "smoke", "--init", str(root / "mlm"), "--data", str(root / "community"),
          "--no-progress", "--checkpoint-every", "0", "--steps", "1"]
    assert main([*ft, "--out", str(tmp_path / "e"), "--augment-errors", "0.10"]) == 0
    cfg = json.loads((tmp_path / "e" / "dnalib_finetune.json").read_text())["config"]
    assert cfg["augment_errors"] == "0.1"
    # clean errors are no augmentation: the same run as without the flag
    assert main([*ft, "--out", str(tmp_path / "c"), "--augment-errors", "clean"]) == 0
    assert "augment_errors" not in json.loads((tmp_path / "c" / "dnalib_finetune.json").read_text())["config"]
    assert main([*ft, "--out", str(tmp_path / "x"), "--augment-errors", "noisy"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("dnalib: error: unknown error model 'noisy'") and "\n" not in err
    sm = ["spectrum-map", "--data", str(root / "community"), "--k", "4", "--dim", "8",
          "--fragment-length", "2000", "--batch-pairs", "4", "--steps", "2", "--no-progress"]
    assert main([*sm, "--out", str(tmp_path / "m"), "--augment-errors", "longread5"]) == 0
    assert "views with longread5 errors" in capsys.readouterr().out
    cfg = json.loads((tmp_path / "m" / "dnalib_spectrum_map.json").read_text())["config"]
    assert cfg["augment_errors"] == "longread5"
    assert main([*sm, "--out", str(tmp_path / "n"), "--augment-errors", "2"]) == 1
    assert "unknown error model '2'" in capsys.readouterr().err


def test_views_changed_by_indels_are_read_in_as_many_chunks_as_clean_ones():
    views = ["A" * 1000, "C" * 1037, "G" * 950, "T" * 801]
    rows = split_views(views, 200, 5)
    assert len(rows) == 20 and max(map(len, rows)) <= 200
    assert "".join(rows[:5]) == views[0] and "".join(rows[5:10]) == views[1][:1000]
    assert "".join(rows[10:15]) == views[2] and min(map(len, rows[15:])) == 160
    assert split_views(views[:1], 200, 5) == split_views(views[:1], 200)  # a clean view: as before
    assert seqerrors.augment_setting("clean") is None and seqerrors.augment_setting(0) is None
    assert seqerrors.augment_setting("LONGREAD10") == "longread10"
    biased = seqerrors.ErrorModel(0.01, 0.02, 0.02, homopolymer=2.0, name="longread5")
    with pytest.raises(DnalibError, match="cannot be named"):
        seqerrors.augment_setting(biased)


def test_nonlinear_map_default_is_the_linear_map():
    """hidden=0 builds exactly the linear map (same parameters, same initial weights)."""
    import torch

    torch.manual_seed(0)
    linear = SpectrumMap(4, 8)
    torch.manual_seed(0)
    zero = SpectrumMap(4, 8, hidden=0)
    assert linear.state_dict().keys() == zero.state_dict().keys() == {"norm.weight", "norm.bias",
                                                                        "linear.weight", "linear.bias"}
    assert all(torch.equal(linear.state_dict()[k], zero.state_dict()[k]) for k in linear.state_dict())
    assert len(dict(SpectrumMap(4, 8, hidden=32).state_dict())) > 4
