"""The prepared GPU check and the scaling benchmark run (smoke versions, on CPUs) and write records."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _module(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gpu_check_smoke_records_throughput_mfu_and_memory(tmp_path, capsys):
    out = tmp_path / "gpu_check.json"
    _module("gpu_check").main(["--profile", "smoke", "--device", "cpu", "--out", str(out)])
    rec = json.loads(out.read_text())
    assert rec["profile"] == "smoke" and rec["device"] == "cpu" and rec["commit"]
    assert rec["hardware"] and rec["peak_tflops"] == 790.0
    p, c, e = rec["pretrain"], rec["contrastive"], rec["embed"]
    assert p["timed_steps"] == 5 and p["tokens_per_s"] > 0 and 0 < p["mfu"] < 1
    assert set(c["phases"]) == {"simclr", "mimix"}
    for phase in c["phases"].values():
        assert phase["timed_steps"] == 2 and phase["tokens_per_s"] > 0 and 0 < phase["mfu"] < 1
    assert c["flops_per_step"] == 6 * c["parameters_counted"] * c["tokens_per_step"]
    assert p["peak_memory_bytes"] is None  # CPU: no GPU memory to report
    assert e["sequences"] == 16 and e["bases_per_s"] > 0
    assert math.isfinite(p["final_loss"]) and math.isfinite(c["final_loss"])
    assert "MFU" in capsys.readouterr().out


@pytest.mark.slow
def test_scaling_benchmark_smoke_prints_its_ratio(tmp_path, capsys):
    out = tmp_path / "scaling.json"
    _module("bench_scaling").main(["--profile", "smoke", "--warmup", "1", "--steps", "1",
                                   "--out", str(out)])
    rec = json.loads(out.read_text())
    assert rec["ratio"]["processes"] == [1, 2] and rec["ratio"]["all"] > 0
    assert {(r["processes"], r["phase"]) for r in rec["rows"]} == {
        (n, phase) for n in (1, 2) for phase in ("simclr", "mimix", "all")}
    assert rec["commit"] and rec["hardware"] and rec["global_batch_pairs"] == 6
    assert "ratio 2 over 1 process(es), all:" in capsys.readouterr().out
