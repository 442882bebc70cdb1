"""Contrastive training under DDP computes what one process does; the GPU branches run on CPUs.

Two gloo processes (``torchrun`` and ``accelerate launch``) train on the same
global batch as one process: the loss of every step and the weights at the
end agree to float tolerance, in the SimCLR and the MI-Mix phase, with
labels and without. Each process holds half the batch, so this holds only
because the projections (and, for MI-Mix, the partners' hidden states) of
both processes are gathered: computed on its own half, the loss has 2 pairs'
negatives instead of 5 and differs from the first step.

The GPU branches (bf16 autocast under ``bf16="auto"``, fused AdamW,
non-blocking copies) are forced on the CPU, for a few fine-tuning and
pretraining steps.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def small(small_set):
    """The root of conftest's ``small_set``: a 9-species ``community/`` and a 2-step smoke ``mlm/``."""
    return small_set[0]


def _log(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def _weights(out: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return {**load_file(out / "model.safetensors"),
            **{f"head.{k}": v for k, v in load_file(out / "head.safetensors").items()}}


def _finetune_args(root: Path, mode: str) -> list[str]:
    common = ["finetune", "--profile", "smoke", "--init", str(root / "mlm"), "--data",
              str(root / "community"), "--no-progress", "--checkpoint-every", "0", "--bf16", "off",
              "--device", "cpu"]
    if mode == "labelled":  # 60 bp views read as 3 chunks of 20 bp; step 7 mixes at layer 1
        return [*common, "--steps", "3,4", "--chunk-length", "20"]
    return [*common, "--label-free", "--curriculum", "simclr,mimix", "--steps", "2,3"]


def _launch(launcher: list[str], args: list[str]) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    result = subprocess.run([*launcher, "-m", "dnalib.cli", *args], capture_output=True,
                            text=True, env=env, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]


def _assert_same_run(one: Path, two: Path) -> dict[str, float]:
    """Same phases, mixing layers and losses step by step, same weights; max loss gap per phase."""
    assert json.loads((two / "dnalib_finetune.json").read_text())["world_size"] == 2
    a, b = _log(one), _log(two)
    assert [(r["phase"], r["mix_layer"]) for r in a] == [(r["phase"], r["mix_layer"]) for r in b]
    np.testing.assert_allclose([r["loss"] for r in b], [r["loss"] for r in a], rtol=1e-5, atol=1e-6)
    wa, wb = _weights(one), _weights(two)
    assert wa.keys() == wb.keys()
    for name in wa:
        # AdamW divides each gradient by its running scale, so an element whose gradient is near
        # zero can move by a sizeable part of a step when the sum of two processes' gradients rounds
        # differently from one process's sum (seen on AMD EPYC cores: 2 of 8,192 elements off by
        # 2.2e-5 after 5 steps). Every element within a tenth of a step (lr 1e-3), and all but
        # 0.1% within 1e-5.
        torch.testing.assert_close(wb[name], wa[name], rtol=1e-4, atol=1e-4, msg=lambda m, n=name: f"{n}: {m}")
        off = (wb[name] - wa[name]).abs() > 1e-5 + 1e-4 * wa[name].abs()
        assert off.float().mean() <= 1e-3, f"{name}: {int(off.sum())} of {off.numel()} elements differ"
    gaps: dict[str, float] = {}
    for ra, rb in zip(a, b, strict=True):
        gap = abs(ra["loss"] - rb["loss"])
        gaps[ra["phase"]] = max(gaps.get(ra["phase"], 0.0), gap)
    return gaps


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["labelled", "label-free"])
def test_two_processes_match_one_process(small, tmp_path, mode):
    from dnalib.cli import main

    args = _finetune_args(small, mode)
    assert main([*args, "--out", str(tmp_path / "one")]) == 0
    _launch([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"],
            [*args, "--out", str(tmp_path / "two")])
    gaps = _assert_same_run(tmp_path / "one", tmp_path / "two")
    assert set(gaps) == {"simclr", "mimix"}
    layers = {r["mix_layer"] for r in _log(tmp_path / "one")}
    if mode == "labelled":  # partners mixed at the embeddings and inside the encoder
        assert {0, 1} <= layers
    print(f"{mode}: max loss difference per phase {gaps}")
    shutil.rmtree(tmp_path / "two", ignore_errors=True)


@pytest.mark.slow
def test_accelerate_launch_trains_the_same_run(small, tmp_path):
    """``accelerate launch --multi_gpu`` starts the processes through torchrun, here on CPUs
    (``--device cpu``: gloo). (``accelerate launch --cpu --num_processes 2`` would need
    MPI and a hostfile; without them it runs a single process.)"""
    from dnalib.cli import main

    args = _finetune_args(small, "label-free")
    assert main([*args, "--out", str(tmp_path / "one")]) == 0
    accelerate = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu",
                  "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
                  "--dynamo_backend", "no"]
    _launch(accelerate, [*args, "--out", str(tmp_path / "two")])
    _assert_same_run(tmp_path / "one", tmp_path / "two")


# --------------------------------------------------------------------------- the GPU branches on CPUs


@pytest.fixture
def gpu_paths(monkeypatch):
    """Force the GPU branches; record AdamW's ``fused`` choices and the dtypes of linear layers."""
    from dnalib import pretrain as P
    from dnalib import training as T

    real_setup = T.setup_processes

    def forced(device=None, **kw):
        return real_setup(device, force_gpu_paths=True)

    monkeypatch.setattr(T, "setup_processes", forced)
    monkeypatch.setattr(P, "setup_processes", forced)
    seen: dict[str, list] = {"fused": [], "dtypes": []}
    real_adamw = torch.optim.AdamW

    class SpyAdamW(real_adamw):
        def __init__(self, *args, **kwargs):
            seen["fused"].append(kwargs.get("fused"))
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(torch.optim, "AdamW", SpyAdamW)

    def hook(module, inputs, output):
        if isinstance(module, torch.nn.Linear) and torch.is_tensor(output):
            seen["dtypes"].append(output.dtype)

    handle = torch.nn.modules.module.register_module_forward_hook(hook)
    yield seen
    handle.remove()


def test_processes_take_the_gpu_branches_when_forced():
    from dnalib.training import Processes

    cpu = Processes(0, 1, torch.device("cpu"))
    forced = Processes(0, 1, torch.device("cpu"), force_gpu_paths=True)
    assert not cpu.gpu_paths and not cpu.fused_adamw and not cpu.use_bf16("auto")
    assert forced.gpu_paths and forced.fused_adamw and forced.use_bf16("auto")
    assert not forced.use_bf16("off") and cpu.use_bf16("on")
    x = np.arange(6).reshape(2, 3)[:, ::2]  # not contiguous
    assert forced.to_device(x).tolist() == [[0, 2], [3, 5]]


def test_gpu_branches_of_finetune_and_pretrain_run_on_cpu(small, tmp_path, gpu_paths):
    """bf16 autocast ("auto"), fused AdamW and non-blocking copies, as on a GPU: a few steps each."""
    from dnalib.contrastive import INFO_FILE, finetune, finetune_config
    from dnalib.io import load_genome_set
    from dnalib.pairs import genome_groups
    from dnalib.pretrain import INFO_FILE as PRETRAIN_INFO
    from dnalib.pretrain import pretrain, pretrain_config

    gs = load_genome_set(small / "community")
    groups = genome_groups(gs.genomes)
    cfg = finetune_config("smoke", phase_steps=(2, 2), chunk_length=20, checkpoint_every=0)
    assert cfg.bf16 == "auto"
    res = finetune(groups, tmp_path / "ft", small / "mlm", cfg, progress=False, device="cpu")
    info = json.loads((tmp_path / "ft" / INFO_FILE).read_text())
    assert info["bf16"] is True and info["complete"]
    assert [r["phase"] for r in res["history"]] == ["simclr"] * 2 + ["mimix"] * 2
    assert all(math.isfinite(r["loss"]) and math.isfinite(r["grad_norm"]) for r in res["history"])
    assert gpu_paths["fused"] == [True]
    assert torch.bfloat16 in gpu_paths["dtypes"]  # autocast was on in the encoder

    # bf16 changes the loss only a little: the first step (same weights) against float32.
    plain = finetune(groups, tmp_path / "ft32", small / "mlm",
                     finetune_config("smoke", phase_steps=(1,), curriculum=("simclr",),
                                     chunk_length=20, checkpoint_every=0, bf16="off"),
                     progress=False, device="cpu")
    assert res["history"][0]["loss"] == pytest.approx(plain["history"][0]["loss"], rel=0.1)

    seqs = [c for contigs in gs.genomes.values() for c in contigs]
    gpu_paths["dtypes"].clear()
    out = pretrain(seqs, tmp_path / "mlm", pretrain_config("smoke", max_steps=3, checkpoint_every=0,
                                                           eval_every=3), progress=False,
                   device="cpu")
    info = json.loads((tmp_path / "mlm" / PRETRAIN_INFO).read_text())
    assert info["bf16"] is True
    assert gpu_paths["fused"][-1] is True
    assert torch.bfloat16 in gpu_paths["dtypes"]
    assert all(math.isfinite(r["loss"]) for r in out["history"])
    assert math.isfinite(out["final"]["loss"])
