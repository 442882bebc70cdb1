"""The whole pipeline, one resumable stage at a time, timed and recorded in results/.

Stages (the first three each a separate ``dnalib`` command, run in a
subprocess, that starts from the previous stage's output and resumes from its
checkpoints if an earlier run was interrupted; a stage whose output is complete
is skipped; evaluation runs in this process every time):

1. ``simulate``: the training community (``dnalib simulate --genera 40``: the
   book's 8 genera and 32 more; models train on its training species);
2. ``pretrain``: MLM pretraining (``dnalib pretrain``, resumable);
3. ``finetune``: the contrastive curriculum, weighted SimCLR then MI-Mix
   (``dnalib finetune``, resumable);
4. ``evaluate``: species clustering (KMeans, K = species, 5 seeds, ARI) on the
   16 evaluation species of the book's community (5 kbp fragments, never seen
   in training) and, when the dataset is available (``DNALIB_DATA_MIRROR`` or
   the network), on the 15 real kmcp15 genomes (10 kbp fragments), next to
   TNF and 6-mer spectra on the same fragments.

The record (``--out``) holds the command, commit, hardware, date and profile,
the seconds of every stage and of the whole pipeline, pretraining throughput
(``tokens_per_s``) and model FLOP utilisation (``mfu``: achieved model FLOP/s
over ``--peak-tflops``, 790 bf16 dense for an H200 by default when one is
found; none on a CPU unless given), the contrastive phase's throughput, and
the ARIs. On one GPU::

    python benchmarks/pipeline.py --profile gpu --work runs/gpu --out results/pipeline_gpu.json

on several (each training stage under ``torchrun``)::

    python benchmarks/pipeline.py --profile gpu --work runs/gpu --out results/pipeline_gpu8.json \\
        --launcher "torchrun --nproc_per_node=8"

and a dry run of every stage on a CPU in about a minute::

    python benchmarks/pipeline.py --profile smoke --work /tmp/pipe --out /tmp/pipe.json
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from dnalib import records

STAGES = ("simulate", "pretrain", "finetune", "evaluate")
#: bf16 dense peak of the reference GPU, TFLOP/s.
H200_PEAK_TFLOPS = 790.0


def _peak_tflops(given: float | None) -> float | None:
    if given is not None:
        return given
    import torch

    if torch.cuda.is_available() and "H200" in torch.cuda.get_device_name(0):
        return H200_PEAK_TFLOPS
    return None


def _run(cmd: list[str]) -> float:
    """Run one stage's command; its seconds. A failing stage stops the pipeline."""
    print("$ " + " ".join(shlex.quote(c) for c in cmd), flush=True)
    t = time.perf_counter()
    status = subprocess.run(cmd).returncode
    if status:
        raise SystemExit(f"stage command failed with exit status {status}: {' '.join(cmd)}\n"
                         "fix the cause and run the pipeline again: finished stages are skipped and "
                         "the interrupted one resumes from its last checkpoint")
    return time.perf_counter() - t


def _train_cmd(launcher: str | None, args: list[str]) -> list[str]:
    if launcher:
        return [*shlex.split(launcher), "-m", "dnalib.cli", *args]
    return [sys.executable, "-m", "dnalib.cli", *args]


def _log(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _steady(values: list[float]) -> float | None:
    """Median over the steps after the first tenth (compilation and warm-up excluded)."""
    if not values:
        return None
    return float(np.median(values[len(values) // 10:]))


def _evaluate(model_dir: Path, real: bool) -> dict:
    from dnalib import datasets, evaluate, inference, kmers, simulate
    from dnalib.cli import main as cli
    from dnalib.models import load_encoder

    model, tok = load_encoder(model_dir)
    frags, table = simulate.default_community().fragments()
    labels = table["species"].to_numpy()
    t = time.perf_counter()
    emb = inference.embed_sequences(model, tok, frags)
    seconds = time.perf_counter() - t
    out = {"synthetic": {
        "data": "16 evaluation species of the book's community, 15 x 5 kbp each (unseen in training)",
        "ari": {"model": evaluate.clustering_scores(emb, labels)["ari"],
                "TNF": evaluate.clustering_scores(kmers.tnf(frags), labels)["ari"],
                "6-mer": evaluate.clustering_scores(
                    kmers.kmer_spectrum(frags, 6, canonical=True, normalize="l2"), labels)["ari"]},
        "embed_bp_per_s": sum(map(len, frags)) / seconds}}
    if not real:
        return out
    try:
        genomes = datasets.get("kmcp15")
    except Exception as err:  # offline without a mirror: say so in the record
        out["kmcp15"] = {"skipped": f"kmcp15 not available: {err}"}
        return out
    ari = {}
    for name, spec in (("model", str(model_dir)), ("TNF", "tnf"), ("6-mer", "kmer6")):
        target = model_dir.parent / f"kmcp15-{name}.json"
        if cli(["evaluate", "--model", spec, "--genomes", str(genomes), "--tasks", "clustering",
                "--out", str(target), "--no-progress"]):
            raise SystemExit(f"dnalib evaluate failed for {name}")
        ari[name] = json.loads(target.read_text())["clustering"]["ari"]
    out["kmcp15"] = {"data": "15 real genomes, 100 x 10 kbp each", "ari": ari}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="gpu")
    parser.add_argument("--work", required=True, help="directory for the stages' outputs")
    parser.add_argument("--out", required=True, help="JSON record to write (e.g. results/...json)")
    parser.add_argument("--launcher", default=None,
                        help='runs the training stages, e.g. "torchrun --nproc_per_node=8"')
    parser.add_argument("--genera", type=int, default=40, help="genera of the training community (40)")
    parser.add_argument("--peak-tflops", type=float, default=None,
                        help="peak FLOP/s of the device for MFU (default: 790 on an H200, else no MFU)")
    parser.add_argument("--no-real", action="store_true", help="skip the kmcp15 evaluation")
    args = parser.parse_args(argv)

    from dnalib.contrastive import INFO_FILE as FINETUNE_INFO
    from dnalib.pretrain import INFO_FILE as PRETRAIN_INFO

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    community, mlm, species = work / "community", work / "mlm", work / "species"
    record: dict = {
        "benchmark": "full pipeline: simulate -> pretrain -> curriculum -> evaluate",
        "command": " ".join(["python", "benchmarks/pipeline.py", *(sys.argv[1:] if argv is None else argv)]),
        "commit": records.commit(), "hardware": records.hardware(), "profile": args.profile,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "launcher": args.launcher,
        "stages": {}, "complete": False,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)

    def save() -> None:
        records.write(out, record)

    def stage(name: str, done: bool, cmd: list[str]) -> None:
        seconds = 0.0 if done else _run(cmd)
        record["stages"][name] = {"seconds": round(seconds, 1), "skipped": done, "command": " ".join(cmd)}
        save()

    stage("simulate", (community / "taxonomy.tsv").exists(),
          [sys.executable, "-m", "dnalib.cli", "simulate", "--seed", "0", "--genera", str(args.genera),
           "--out", str(community), "--force"])
    from dnalib.training import latest_checkpoint

    def continuing(run: Path) -> list[str]:
        """--resume from a checkpoint; --force over a run that stopped before its first one."""
        if latest_checkpoint(run) is not None:
            return ["--resume"]
        return ["--force"] if run.is_dir() and any(run.iterdir()) else []

    resume = continuing(mlm)
    stage("pretrain", (mlm / PRETRAIN_INFO).exists(),
          _train_cmd(args.launcher, ["pretrain", "--profile", args.profile, "--data", str(community),
                                     "--out", str(mlm), "--no-progress", *resume]))
    resume = continuing(species)
    stage("finetune", (species / FINETUNE_INFO).exists(),
          _train_cmd(args.launcher, ["finetune", "--profile", args.profile, "--init", str(mlm),
                                     "--data", str(community), "--out", str(species), "--no-progress",
                                     *resume]))
    t = time.perf_counter()
    record["evaluation"] = _evaluate(species, real=not args.no_real)
    record["stages"]["evaluate"] = {"seconds": round(time.perf_counter() - t, 1), "skipped": False}

    peak = _peak_tflops(args.peak_tflops)
    pre = _log(mlm / "log.jsonl")
    flops = _steady([r["flops_per_s"] for r in pre if "flops_per_s" in r])
    record["pretrain"] = {
        "steps": len(pre),
        "tokens_per_s": _steady([r["tokens_per_s"] for r in pre if "tokens_per_s" in r]),
        "model_flops_per_s": flops,
        "peak_flops_per_s": peak * 1e12 if peak else None,
        "mfu": flops / (peak * 1e12) if flops and peak else None,
    }
    fine = _log(species / "log.jsonl")
    record["finetune"] = {"steps": len(fine),
                          "seconds_per_step": _steady([r["seconds"] for r in fine if "seconds" in r])}
    record["mfu"] = record["pretrain"]["mfu"]
    record["tokens_per_s"] = record["pretrain"]["tokens_per_s"]
    record["ari"] = record["evaluation"]["synthetic"]["ari"]["model"]
    record["total_seconds"] = round(sum(s["seconds"] for s in record["stages"].values()), 1)
    record["complete"] = all(not s["skipped"] for s in record["stages"].values())
    record["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    save()
    syn = record["evaluation"]["synthetic"]["ari"]
    print("stages: " + ", ".join(f"{k} {v['seconds']:.0f} s" + (" (skipped)" if v["skipped"] else "")
                                  for k, v in record["stages"].items()))
    print(f"total: {record['total_seconds']:.0f} s")
    print(f"pretrain tokens/s: {record['tokens_per_s']:.0f}; MFU: "
          + (f"{record['mfu']:.3f}" if record["mfu"] is not None else "n/a (no --peak-tflops)"))
    print("synthetic ARI: " + ", ".join(f"{k} {v:.3f}" for k, v in syn.items()))
    if "ari" in record["evaluation"].get("kmcp15", {}):
        print("kmcp15 ARI: " + ", ".join(f"{k} {v:.3f}" for k, v in record["evaluation"]["kmcp15"]["ari"].items()))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    raise SystemExit(main())
