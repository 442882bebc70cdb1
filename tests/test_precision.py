"""What the gpu profile trains in: bf16 where the GPU has it, float16 with loss scaling on a T4,
float32 on CPUs; and the float16 path (autocast + GradScaler) runs and learns (on a CPU here)."""

from __future__ import annotations

import pytest
import torch

from dnalib.errors import DnalibError
from dnalib.training import Precision, Processes, choose_precision


@pytest.mark.parametrize("setting, device, capability, forced, expected", [
    ("auto", "cuda", (9, 0), False, "bf16"),   # H100 / H200
    ("auto", "cuda", (8, 0), False, "bf16"),   # A100
    ("auto", "cuda", (7, 5), False, "fp16"),   # T4 (Colab's free GPU): no bf16 units
    ("auto", "cuda", (7, 0), False, "fp16"),   # V100
    ("auto", "cpu", None, False, "fp32"),
    ("auto", "cpu", None, True, "bf16"),       # CI's stand-in for a GPU run
    ("on", "cuda", (7, 5), False, "bf16"),
    ("on", "cpu", None, False, "bf16"),
    ("off", "cuda", (9, 0), False, "fp32"),
])
def test_the_precision_follows_the_device(setting, device, capability, forced, expected):
    assert choose_precision(setting, device, capability, force_gpu_paths=forced) == expected


def test_bad_settings_are_one_line_errors():
    with pytest.raises(DnalibError, match="auto, on or off"):
        choose_precision("yes", "cpu")
    with pytest.raises(DnalibError, match="bf16, fp16 or fp32"):
        Precision("fp8", "cpu")


def test_processes_on_cpu_train_in_float32_and_use_bf16_agrees():
    procs = Processes(rank=0, world=1, device=torch.device("cpu"))
    assert procs.precision("auto").name == "fp32" and procs.precision("auto").scaler is None
    assert procs.use_bf16("auto") is False and procs.use_bf16("on") is True


def _train(precision: Precision, steps: int = 30) -> list[float]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    x = torch.randn(64, 16)
    y = x[:, :1] * 2 - x[:, 1:2]
    losses = []
    for _ in range(steps):
        with precision.autocast():
            loss = torch.nn.functional.mse_loss(model(x).float(), y)
        precision.backward(loss)
        precision.unscale(opt)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        precision.step(opt)
        opt.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
    return losses


def test_float16_with_loss_scaling_learns_like_float32():
    fp16 = Precision("fp16", "cpu")
    assert fp16.scaler is not None and fp16.scaler.get_scale() == 2.0 ** 16
    with fp16.autocast():
        assert torch.nn.Linear(4, 4)(torch.randn(2, 4)).dtype == torch.float16
    lo16, lo32 = _train(fp16), _train(Precision("fp32", "cpu"))
    assert lo16[-1] < 0.5 * lo16[0]
    assert abs(lo16[-1] - lo32[-1]) < 0.05 * lo32[0]


def test_an_overflowing_float16_step_is_skipped_and_the_scale_lowered():
    p = Precision("fp16", "cpu")
    w = torch.nn.Parameter(torch.ones(3))
    opt = torch.optim.SGD([w], lr=0.1)
    p.backward((w * float("inf")).sum())
    p.unscale(opt)
    p.step(opt)
    assert torch.equal(w.detach(), torch.ones(3)), "a step with inf gradients must be skipped"
    assert p.scaler.get_scale() < 2.0 ** 16


def test_embedding_dtype_follows_the_device(monkeypatch):
    import torch

    from dnalib.inference import inference_dtype

    assert inference_dtype(torch.device("cpu")) is None
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 5))
    assert inference_dtype(torch.device("cuda")) is torch.float16  # a T4: no bf16 units
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (9, 0))
    assert inference_dtype(torch.device("cuda")) is torch.bfloat16
