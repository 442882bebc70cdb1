"""GPU memory of a profile's chapters, measured on the CPU and extrapolated (no GPU needed).

For every training stage of the profile (pretraining, the SimCLR and MI-Mix
phases with labels, the label-free curriculum) and the embedding pass,
:func:`dnalib.memory.profile_memory` measures the peak memory of one step at
a few small batches with the profile's model, extrapolates linearly to the
profile's batch and adds the parameters, the optimizer state, the CUDA
context and fragmentation; the record says, per stage, the estimate on a GPU
and the largest batch that stays under the 13 GiB budget of a 15 GiB T4.
``--precision fp16`` is what a T4 trains in (:func:`dnalib.training.choose_precision`);
``fp32`` shows what it would take without autocast.

    python benchmarks/gpu_memory.py --profile gpu --out results/gpu_memory_gpu.json

About ten minutes on 2 cores (float16 products are slow on CPUs).
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time

import torch

from dnalib import memory, records
from dnalib.profiles import MODEL_SIZES, SCRATCH_ENCODERS


def architecture(profile: str) -> dict:
    """What the measurements depend on besides the batch: the two encoders' sizes."""
    return {"mlm": MODEL_SIZES[profile], "scratch": SCRATCH_ENCODERS[profile]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="gpu")
    parser.add_argument("--precision", nargs="+", default=["fp16", "fp32"], choices=["fp16", "fp32"])
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    stages = {}
    for precision in args.precision:
        found = memory.profile_memory(args.profile, precision)
        stages[precision] = [{**s.row(), "static": s.static, "base": s.base, "per_unit": s.per_unit,
                              "saved_per_unit": s.saved_per_unit, "units": s.units, "unit": s.unit,
                              "measurements": [vars(m) for m in s.measurements]} for s in found]
        for s in found:
            print(f"{precision} {s.stage}: {s.gpu_bytes() / memory.GIB:.2f} GiB at {s.units} {s.unit} "
                  f"(fits up to {s.max_units()})", flush=True)
    record = {"profile": args.profile, "architecture": architecture(args.profile),
              "budget_gib": memory.BUDGET / memory.GIB, "t4_gib": memory.T4_BYTES / memory.GIB,
              "cuda_overhead_gib": memory.CUDA_OVERHEAD / memory.GIB,
              "fragmentation": memory.FRAGMENTATION, "stages": stages,
              "seconds": time.perf_counter() - t0, "torch": torch.__version__,
              "command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
              "commit": records.commit(), "hardware": records.hardware(),
              "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    print(f"wrote {records.write(args.out, record)}")


if __name__ == "__main__":
    main()
