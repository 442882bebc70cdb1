"""Does bf16 autocast pay for training on this CPU? MLM pretraining and contrastive steps, fp32 against bf16.

Runs the real trainers (:func:`dnalib.pretrain.pretrain`, :func:`dnalib.contrastive.finetune`)
of ``--profile`` (default ``cpu``) for ``--steps`` steps with ``bf16="off"`` and
``bf16="on"`` (autocast; weights, optimizer state and the loss stay float32),
on the same synthetic-community data, for each ``--seeds`` seed, in turns
(fp32, bf16, fp32, bf16, ...) so that load from other programs hits both alike.

Figures (one ``name: value`` line each): the speed of each trainer and
precision (median over the timed steps of all seeds, the first ``--skip``
steps of each run left out; tokens/s for pretraining, steps/s for the
contrastive runs), their ratio (``*_bf16_speedup``), and the largest
difference between the fp32 and bf16 loss curves of one seed relative to the
spread of the fp32 curves over seeds (``*_loss_gap_over_seed_spread``: below 1,
bf16 moves the curve less than a change of seed does).

The rule (issue: training where it pays): bf16 becomes the CPU default only
if a step is at least 1.5x faster and the curves and final scores stay within
the seed spread. ``--out`` writes the record (``results/bf16_training_cpu.json``)::

    python benchmarks/bench_bf16_training.py --out results/bf16_training_cpu.json
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from dnalib import records


def _pretrain_run(seqs: list[str], out: Path, profile: str, seed: int, steps: int, bf16: str) -> list[dict]:
    from dnalib.pretrain import pretrain, pretrain_config

    cfg = pretrain_config(profile, max_steps=steps, seed=seed, bf16=bf16, eval_every=10**6)
    pretrain(seqs, out, cfg, progress=False, device="cpu")
    from dnalib.training import read_log

    return [r for r in read_log(out / "log.jsonl") if "loss" in r and "step" in r]


def _finetune_run(groups: list[list[str]], init: Path, out: Path, profile: str, seed: int, steps: int,
                  bf16: str) -> list[dict]:
    from dnalib.contrastive import finetune, finetune_config
    from dnalib.training import read_log

    cfg = finetune_config(profile, curriculum=("simclr",), phase_steps=(steps,), seed=seed, bf16=bf16)
    finetune(groups, out, str(init), cfg, progress=False, device="cpu")
    return [r for r in read_log(out / "log.jsonl") if "loss" in r and "step" in r]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Train fp32 and bf16 in turns, print and record the step times and loss curves."""
    from dnalib.inference import cpu_bf16_units
    from dnalib.pairs import species_groups
    from dnalib.simulate import simulate_community

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--profile", default="cpu")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--skip", type=int, default=3, help="first steps of a run not timed")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    community = simulate_community(0, n_genera=4, species_per_genus=3, genome_length=60_000)
    contigs = [c for genome in community.genomes.values() for c in genome]
    groups = species_groups(community)
    record: dict[str, Any] = {
        "benchmark": "bf16 autocast against float32 for training steps on a CPU",
        "command": "python benchmarks/bench_bf16_training.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "commit": records.commit(), "hardware": records.hardware(), "bf16_units": cpu_bf16_units(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "settings": {"profile": args.profile, "steps": args.steps, "skip": args.skip, "seeds": args.seeds},
        "trainers": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        curves: dict[str, dict[str, list[list[float]]]] = {"pretrain": {"off": [], "on": []},
                                                           "finetune": {"off": [], "on": []}}
        rates: dict[str, dict[str, list[float]]] = {"pretrain": {"off": [], "on": []},
                                                    "finetune": {"off": [], "on": []}}
        init = tmp / "init"
        _pretrain_run(contigs, init, args.profile, 0, 5, "off")  # a start for the contrastive runs
        for seed in args.seeds:
            for bf16 in ("off", "on"):
                log = _pretrain_run(contigs, tmp / f"p{seed}{bf16}", args.profile, seed, args.steps, bf16)
                curves["pretrain"][bf16].append([float(r["loss"]) for r in log])
                rates["pretrain"][bf16] += [float(r["tokens_per_s"]) for r in log][args.skip:]
                log = _finetune_run(groups, init, tmp / f"f{seed}{bf16}", args.profile, seed, args.steps, bf16)
                curves["finetune"][bf16].append([float(r["loss"]) for r in log])
                rates["finetune"][bf16] += [1 / float(r["seconds"]) for r in log][args.skip:]
    for trainer in ("pretrain", "finetune"):
        # steps per second (pretrain: tokens per second, the same ratio), median over the timed steps
        fp32, bf16 = (float(np.median(rates[trainer][k])) for k in ("off", "on"))
        a = np.asarray(curves[trainer]["off"])
        b = np.asarray(curves[trainer]["on"])
        n = min(a.shape[1], b.shape[1])
        spread = float(np.max(a[:, :n].max(0) - a[:, :n].min(0))) if len(a) > 1 else float("nan")
        gap = float(np.max(np.abs(a[:, :n] - b[:, :n])))
        entry = {"rate_fp32": fp32, "rate_bf16": bf16, "bf16_speedup": bf16 / fp32,
                 "max_loss_gap": gap, "max_seed_spread": spread,
                 "loss_gap_over_seed_spread": gap / spread if spread else float("nan"),
                 "final_loss_fp32": a[:, n - 1].tolist(), "final_loss_bf16": b[:, n - 1].tolist(),
                 "rate_unit": "tokens/s" if trainer == "pretrain" else "steps/s"}
        record["trainers"][trainer] = entry
        for key in ("bf16_speedup", "max_loss_gap", "max_seed_spread", "loss_gap_over_seed_spread"):
            print(f"{trainer}_{key}: {entry[key]:.3g}")
    record["bf16_default_on_cpu"] = all(e["bf16_speedup"] >= 1.5 and e["loss_gap_over_seed_spread"] <= 1
                                        for e in record["trainers"].values())
    print(f"processor: {record['hardware']['processor']} (bf16 units: {record['bf16_units'] or 'none'})")
    print(f"bf16_default_on_cpu: {record['bf16_default_on_cpu']}")
    if args.out:
        records.write(args.out, record)
    return record


if __name__ == "__main__":
    main()
