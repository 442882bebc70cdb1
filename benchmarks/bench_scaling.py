"""Contrastive training throughput with 1 and 2 processes on the same global batch.

Runs ``dnalib finetune`` (the profile's settings: cpu, 12 pairs of 3 kbp views
read in 200 bp chunks) under ``torchrun`` with 1 and then 2 processes, a few
SimCLR and MI-Mix steps each after warm-up steps that are not timed, and
prints the optimizer steps per second of each and their ratio (2 processes
over 1). Both runs compute the same thing (the loss over the global batch:
``tests/test_contrastive_ddp.py``), so the ratio is the speed-up from
adding a process.

On a 2-core CPU the ratio is expected below 2, and may be below 1: the single
process already uses both cores (2 intra-op threads), the two processes get
one core each, so the arithmetic is the same and only what threads do
poorly (small matrix products, the Python between kernels) runs in parallel;
each step adds the gathers of the projections (and, for MI-Mix, of the
hidden states at the mixing layer), their backward reduce-scatters and the
gradient all-reduce of DDP; and the other process's sampling and
tokenization of the global batch are repeated, not shared. On GPUs each
process has a device of its own and the ratio approaches the number of GPUs
as long as the global batch keeps each one busy. On a CPU shared with other
work (the record keeps the load average) the single process's two threads
wait for each other and the ratio comes out higher, even above 2.

Writes a record (steps/s per phase and process count, the ratio, commit,
hardware, command) with :func:`dnalib.records.write` to ``--out``.

    python benchmarks/bench_scaling.py --out results/scaling_cpu.json
    python benchmarks/bench_scaling.py --profile smoke --warmup 1 --steps 2 --out /tmp/s.json
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PHASES = ("simclr", "mimix")


def prepare(work: Path, profile: str) -> tuple[Path, Path]:
    """A simulated community and a 1-step MLM of the profile (the speed does not need a trained one)."""
    from dnalib.contrastive import finetune_config
    from dnalib.pretrain import pretrain, pretrain_config
    from dnalib.simulate import simulate_community

    cfg = finetune_config(profile)
    length = max(20_000, 8 * cfg.fragment_length)
    community = simulate_community(0, n_genera=4, species_per_genus=4, genome_length=length)
    community.write(work / "community")
    seqs = [c for g in community.train_ids for c in community.genomes[g]]
    pretrain(seqs, work / "mlm", pretrain_config(profile, max_steps=1, checkpoint_every=0,
                                                 eval_every=0), progress=False)
    return work / "community", work / "mlm"


def run(processes: int, profile: str, data: Path, init: Path, out: Path, warmup: int,
        steps: int) -> dict[str, float]:
    """Steps/s per phase of one run with *processes* processes (warm-up steps not timed)."""
    from dnalib.training import FINETUNE_INFO_FILE

    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           f"--nproc_per_node={processes}", "-m", "dnalib.cli", "finetune", "--profile", profile,
           "--init", str(init), "--data", str(data), "--out", str(out), "--no-progress",
           "--curriculum", ",".join(PHASES), "--steps", f"{warmup + steps},{warmup + steps}",
           "--checkpoint-every", "0", "--device", "cpu"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
    env.pop("OMP_NUM_THREADS", None)  # dnalib gives each process its share of the cores
    result = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        sys.exit(f"{processes} process(es) failed:\n{result.stderr[-3000:]}")
    info = json.loads((out / FINETUNE_INFO_FILE).read_text())
    assert info["world_size"] == processes, info["world_size"]
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    rates = {}
    for phase in PHASES:
        timed = [r["seconds"] for r in log if r["phase"] == phase][warmup:]
        rates[phase] = len(timed) / sum(timed)
    rates["all"] = 2 / (1 / rates["simclr"] + 1 / rates["mimix"])  # half the steps each
    return rates


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu", choices=["smoke", "cpu", "gpu"])
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps at the start of each phase")
    parser.add_argument("--steps", type=int, default=6, help="timed steps per phase")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--out", required=True, help="record (JSON) to write")
    args = parser.parse_args(argv)

    from dnalib import records
    from dnalib.contrastive import finetune_config

    cfg = finetune_config(args.profile)
    load_before = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data, init = prepare(work, args.profile)
        for n in args.processes:
            rates = run(n, args.profile, data, init, work / f"run{n}", args.warmup, args.steps)
            for phase, rate in rates.items():
                rows.append({"processes": n, "phase": phase, "steps_per_s": rate})
                print(f"{phase} steps/s, {n} process(es): {rate:.3f}")
    rate = {(r["processes"], r["phase"]): r["steps_per_s"] for r in rows}
    base, top = min(args.processes), max(args.processes)
    ratios = {phase: rate[top, phase] / rate[base, phase] for phase in (*PHASES, "all")}
    for phase, ratio in ratios.items():
        print(f"ratio {top} over {base} process(es), {phase}: {ratio:.2f}")
    record = {"benchmark": "contrastive scaling", "profile": args.profile,
              "global_batch_pairs": cfg.batch_pairs, "fragment_length": cfg.fragment_length,
              "chunk_length": cfg.chunk_length, "warmup_steps": args.warmup,
              "timed_steps_per_phase": args.steps, "rows": rows,
              "ratio": {"processes": [base, top], **ratios},
              "command": "python " + " ".join(shlex.quote(a) for a in
                                              ["benchmarks/bench_scaling.py", *(argv or sys.argv[1:])]),
              # Other work on the machine (1-minute load average, against its cores) slows the
              # single process's threads more than the two single-threaded processes.
              "load_average": {"before": load_before, "after": os.getloadavg()[0],
                               "cores": os.cpu_count()},
              "commit": records.commit(), "hardware": records.hardware(),
              "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    records.write(args.out, record)
    print(f"record: {args.out}")
    return record


if __name__ == "__main__":
    main()
