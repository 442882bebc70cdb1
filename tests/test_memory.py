"""The gpu profile fits a 15 GiB T4: measured memory lines (dnalib.memory), the profile's sizes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from dnalib import contrastive as C
from dnalib import memory as M
from dnalib import pretrain as P
from dnalib.profiles import MODEL_SIZES, SCRATCH_ENCODERS

ROOT = Path(__file__).resolve().parent.parent
RECORD = ROOT / "results" / "gpu_memory_gpu.json"


def _record() -> dict:
    return json.loads(RECORD.read_text())


def _line(stage: dict) -> M.StageMemory:
    return M.StageMemory(stage["stage"], stage["unit"], stage["units"], stage["static"],
                         stage["base"], stage["per_unit"], stage["saved_per_unit"], "fp16")


def _chunks(cfg: C.FinetuneConfig) -> int:
    """Chunks a contrastive step reads: two views per pair, each cut into chunk_length pieces."""
    assert cfg.chunk_length, "the gpu profile names its chunk length"
    return 2 * cfg.batch_pairs * (cfg.fragment_length // cfg.chunk_length)


def profile_units(profile: str = "gpu") -> dict[str, int]:
    """Each stage's batch in the profile's current settings (written out here, not taken from
    dnalib.memory, so that the check does not share the code it checks)."""
    pre = P.pretrain_config(profile)
    labelled, free = C.finetune_config(profile), C.finetune_config(profile, label_free=True)
    units = {"pretrain": pre.batch_size // pre.grad_accum,
             "pretrain, rotary positions": pre.batch_size // pre.grad_accum}
    units.update({phase: _chunks(labelled) for phase in labelled.curriculum})
    units.update({f"label-free {phase}": _chunks(free) for phase in free.curriculum})
    units.update({"embedding (MLM encoder)": 64, "embedding (scratch encoder)": 64})
    return units


def test_the_record_measured_the_current_models():
    record = _record()
    assert record["architecture"] == {"mlm": MODEL_SIZES["gpu"], "scratch": SCRATCH_ENCODERS["gpu"]}, (
        "the gpu encoders changed since results/gpu_memory_gpu.json was measured: run "
        "`python benchmarks/gpu_memory.py --profile gpu --out results/gpu_memory_gpu.json`")
    assert record["budget_gib"] * M.GIB == M.BUDGET <= M.T4_BYTES - 2 * M.GIB
    stages = {s["stage"] for s in record["stages"]["fp16"]}
    assert stages == set(profile_units()), "every stage of the profile is measured"


def test_every_gpu_stage_fits_a_t4_in_float16():
    """The measured lines at the profile's current batches stay under 13 GiB (of a 15 GiB T4)."""
    units = profile_units()
    over = {}
    for stage in _record()["stages"]["fp16"]:
        estimate = _line(stage).gpu_bytes(units[stage["stage"]])
        assert estimate > stage["static"] + M.CUDA_OVERHEAD  # activations are counted
        if estimate > M.BUDGET:
            over[stage["stage"]] = f"{estimate / M.GIB:.1f} GiB at {units[stage['stage']]} {stage['unit']}"
    assert not over, f"gpu profile stages over the {M.BUDGET / M.GIB:.0f} GiB budget of a T4: {over}"


def test_the_check_fails_for_the_sizes_the_profile_had():
    """48 pairs of 5 kbp views in 200 bp chunks (the gpu profile before it was sized for a T4)."""
    simclr = next(s for s in _record()["stages"]["fp16"] if s["stage"] == "simclr")
    old = C.finetune_config("gpu", fragment_length=5000, batch_pairs=48)
    assert _line(simclr).gpu_bytes(_chunks(old)) > M.T4_BYTES
    assert _line(simclr).max_units() < _chunks(old)


def test_saved_bytes_count_activations_once_and_not_parameters():
    lin = torch.nn.Linear(10, 20)
    x = torch.randn(5, 10)
    # linear keeps its input (for the weight's gradient), relu its output; the weight is a parameter
    saved = M.saved_bytes(lambda: torch.relu(lin(x)).sum().backward(), exclude=list(lin.parameters()))
    assert saved == 5 * 10 * 4 + 5 * 20 * 4
    y = torch.randn(5, 10)
    assert M.saved_bytes(lambda: (y * y).sum()) == 0  # nothing requires a gradient


def test_peak_follows_allocations():
    def step():
        a = torch.empty(1_000_000, dtype=torch.uint8)
        b = torch.empty(3_000_000, dtype=torch.uint8)
        del a, b
        c = torch.empty(2_000_000, dtype=torch.uint8)
        del c

    assert M.peak_allocated(step) == 4_000_000


def test_the_line_predicts_a_larger_step():
    """Smoke sizes: fitted at 2 and 4 fragments, the line predicts the peak at 12 within 5%."""
    stage = M.pretrain_memory(P.pretrain_config("smoke"), sizes=(2, 4, 12))
    assert stage.max_relative_error < 0.05
    assert stage.per_unit > 0 and stage.saved_per_unit > 0


@pytest.mark.slow
def test_the_record_matches_a_new_measurement():
    """The gpu model's pretraining step, measured again at 2 and 4 fragments: the slope the record
    extrapolates with is reproduced within 10%."""
    recorded = next(s for s in _record()["stages"]["fp16"] if s["stage"] == "pretrain")
    again = M.pretrain_memory(P.pretrain_config("gpu"), sizes=(2, 4))
    assert again.per_unit == pytest.approx(recorded["per_unit"], rel=0.10)
    assert again.static == recorded["static"]
