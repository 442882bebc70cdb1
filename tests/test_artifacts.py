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
    for name in artifacts.NAMES:
        assert artifacts.is_cached(name, "smoke")
    log = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    assert log and {r["phase"] for r in log} == {"mimix"}
    assert type(AutoModel.from_pretrained(out)).__name__ == "RobertaModel"
    info = json.loads((out / "dnalib_finetune.json").read_text())
    assert info["init"] == str(cache / "artifacts" / "smoke" / "simclr")
    stamps = {n: (artifacts.path(n, "smoke") / "model.safetensors").stat().st_mtime_ns
              for n in artifacts.NAMES}
    assert artifacts.get("curriculum", "smoke", progress=False) == out
    assert stamps == {n: (artifacts.path(n, "smoke") / "model.safetensors").stat().st_mtime_ns
                      for n in artifacts.NAMES}
    assert not list((cache / "artifacts" / "smoke").glob("*.tmp-*"))


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
