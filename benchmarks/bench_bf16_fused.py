"""How much faster could the bf16 encoder run with its operations fused? A measurement, not a path dnalib takes.

``bench_embed.py`` times dnalib's bf16 path: weights cast once, eager PyTorch.
On the small encoders this book trains (2 layers x 128) the matrix products
are a minority of the time; attention, GELU, layer norm and the copies around
them take the rest, and bf16 speeds those up little (layer norm is slower in
bf16 than in fp32 on these CPUs). A graph compiler that fuses them is the
remaining lever. This bench times one forward pass of the encoder, one thread,
for a batch of 200 bp chunks (197 tokens each), four ways in the same run:

* ``fp32``: eager float32 (the reference);
* ``bf16``: eager, weights cast to bfloat16 by :func:`dnalib.inference.cast_bf16`
  (what ``--precision bf16`` runs);
* ``bf16_frozen``: the bf16 model traced and frozen by TorchScript
  (``torch.jit.trace`` + ``torch.jit.freeze``);
* ``bf16_fused``: the same with oneDNN Graph fusion on
  (``torch.jit.enable_onednn_fusion``), which fuses matmul + bias + GELU,
  layer norms and the attention pattern into oneDNN kernels.

Each is the median of ``--repeats`` passes, alternated round by round (the
machine's speed drifts; ratios within a round are what compare). Printed:
milliseconds per pass, each way's ratio to fp32, and the largest difference of
its last hidden state from eager bf16 and from fp32 (a fused graph rounds
differently: its scores would need the ``bench_bf16_scores.py`` check before
dnalib could use it).

Run: ``python benchmarks/bench_bf16_fused.py [--profile gpu] [--rows 10 40]``.
"""

from __future__ import annotations

import argparse
import copy
import time
import warnings

import numpy as np
import torch

from dnalib.profiles import cpu_model, cpu_vector_isa


def _timed(fn, inputs: torch.Tensor) -> float:
    t0 = time.perf_counter()
    fn(inputs)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Time the four ways; print and return the figures."""
    from dnalib.inference import cast_bf16, cpu_bf16_units
    from dnalib.models import model_config, new_mlm_model
    from dnalib.pretrain import pretrain_config
    from dnalib.tokenizers import make_tokenizer

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--profile", default="cpu", help="whose encoder architecture (weights random)")
    p.add_argument("--rows", type=int, nargs="+", default=[10, 40], help="chunks per pass")
    p.add_argument("--repeats", type=int, default=15, help="timed passes of each way")
    args = p.parse_args(argv)
    units = cpu_bf16_units()
    print(f"processor: {cpu_model()} ({cpu_vector_isa()}); bf16 units: {units or 'none'}")
    if not units:
        print("no AMX or AVX-512 BF16 on this CPU: nothing to measure (bf16 runs emulated here)")
        return {}
    warnings.filterwarnings("ignore")  # TorchScript's deprecation and tracer warnings
    torch.set_num_threads(1)
    figures: dict[str, float] = {}
    cfg = pretrain_config(args.profile)  # the profile's encoder architecture, random weights
    tok = make_tokenizer(cfg.tokenizer, k=cfg.k)
    model = new_mlm_model(model_config(tok, profile=args.profile, max_tokens=cfg.tokens_per_fragment),
                          seed=0).base_model.eval()
    model.config.return_dict = False
    half = cast_bf16(copy.deepcopy(model))
    print(f"encoder: {args.profile} profile, {model.config.num_hidden_layers} x {model.config.hidden_size}, "
          "one thread")
    for rows in args.rows:
        ids = torch.randint(5, model.config.vocab_size, (rows, 197))
        with torch.inference_mode():
            frozen = torch.jit.freeze(torch.jit.trace(copy.deepcopy(half), (ids,), strict=False))
            torch.jit.enable_onednn_fusion(True)
            try:
                fused = torch.jit.freeze(torch.jit.trace(copy.deepcopy(half), (ids,), strict=False))
            finally:
                torch.jit.enable_onednn_fusion(False)

            def run_fused(x: torch.Tensor, fused=fused):
                torch.jit.enable_onednn_fusion(True)
                try:
                    return fused(x)
                finally:
                    torch.jit.enable_onednn_fusion(False)

            ways = {"fp32": model, "bf16": half, "bf16_frozen": frozen, "bf16_fused": run_fused}
            for fn in ways.values():  # warm-up: a traced graph is profiled and compiled on its first passes
                for _ in range(3):
                    fn(ids)
            times: dict[str, list[float]] = {name: [] for name in ways}
            for _ in range(args.repeats):
                for name, fn in ways.items():
                    times[name].append(_timed(fn, ids))
            ref32 = model(ids)[0].float()
            ref16 = half(ids)[0].float()
            for name, fn in ways.items():
                out = fn(ids)[0].float()
                ms = 1e3 * float(np.median(times[name]))
                figures[f"{name}_{rows}rows_ms"] = ms
                figures[f"{name}_{rows}rows_vs_fp32"] = float(np.median(times["fp32"]) / np.median(times[name]))
                figures[f"{name}_{rows}rows_max_diff_fp32"] = float((out - ref32).abs().max())
                figures[f"{name}_{rows}rows_max_diff_bf16"] = float((out - ref16).abs().max())
    for name, value in figures.items():
        print(f"{name}: {value:.3g}" if "diff" in name else f"{name}: {value:.2f}")
    return figures


if __name__ == "__main__":
    main()
