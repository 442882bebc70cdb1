"""The pipeline driver (benchmarks/pipeline.py) on the smoke profile: every stage runs, is
recorded, and a second run skips the finished stages."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from dnalib import evaluate
from dnalib.errors import DnalibError

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))


@pytest.mark.slow
def test_pipeline_runs_every_stage_records_it_and_skips_finished_ones(tmp_path):
    import pipeline

    out = tmp_path / "pipeline_smoke.json"
    argv = ["--profile", "smoke", "--work", str(tmp_path / "w"), "--out", str(out), "--genera", "2",
            "--no-real"]
    assert pipeline.main(argv) == 0
    rec = json.loads(out.read_text())
    assert rec["complete"] and rec["profile"] == "smoke" and rec["commit"]
    assert list(rec["stages"]) == list(pipeline.STAGES)
    assert all(s["seconds"] > 0 and not s["skipped"] for s in rec["stages"].values())
    assert rec["pretrain"]["steps"] == 12 and rec["tokens_per_s"] > 0
    assert rec["mfu"] is None  # no peak known on a CPU
    assert rec["finetune"]["steps"] == 8
    ari = rec["evaluation"]["synthetic"]["ari"]
    assert set(ari) == {"model", "TNF", "6-mer"} and rec["ari"] == ari["model"]
    assert 0.3 < ari["TNF"] < 0.7
    # Again: the training stages are found complete and skipped; evaluation runs again.
    assert pipeline.main([*argv, "--peak-tflops", "1"]) == 0
    again = json.loads(out.read_text())
    assert [s["skipped"] for s in again["stages"].values()] == [True, True, True, False]
    assert not again["complete"] and again["mfu"] > 0
    table = evaluate.pipeline_runs(tmp_path)
    assert list(table.index) == ["pipeline_smoke.json"]
    assert table.loc["pipeline_smoke.json", "synthetic ARI"] == again["ari"]
    assert table.loc["pipeline_smoke.json", "kmcp15 ARI"] is None  # --no-real


def test_pipeline_runs_table_is_empty_without_records_and_names_a_broken_one(tmp_path):
    assert evaluate.pipeline_runs(tmp_path).empty
    (tmp_path / "pipeline_bad.json").write_text('{"profile": "gpu"}')
    with pytest.raises(DnalibError, match="pipeline_bad.json is not a readable pipeline record"):
        evaluate.pipeline_runs(tmp_path)
