"""Score the book's trained models on the 15 real genomes (all four tasks), recorded in results/.

The models of chapters 4 to 6 (MLM, SimCLR, curriculum; ``dnalib.artifacts``,
trained on the synthetic community and cached) read 200 bp at a time, so
embedding 1,500 fragments of 10 kbp costs each of them 75,000 passes: too slow
for the chapter 8 build on a CPU. This script runs the chapter's protocol
(``dnalib evaluate``: 100 fragments of 10 kbp per genome, fragment seed 0,
clustering / few-shot / binning / taxonomy, 5 seeds) for each of them and for
TNF and 6-mer spectra on the same fragments, and writes one record with the
command, commit, hardware and date, after every model (``complete`` is false
until all are done); chapter 8 reads it::

    python benchmarks/record_real_eval.py --profile cpu --out results/kmcp15_eval_cpu.json

``label-free`` is chapter 9's label-free model (section 9.5) with the profile's full step count: a
fresh 4-mer encoder trained on the 15 genomes' own contigs without labels
(``dnalib finetune --label-free --init scratch``; the chapter trains fewer
steps live), then scored like the others. With ``--update`` the models named
are added to (or replaced in) an existing record, which keeps the others::

    python benchmarks/record_real_eval.py --profile cpu --models label-free --update \
        --out results/kmcp15_eval_cpu.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from dnalib import records


def main(argv: list[str] | None = None) -> None:
    """Run the evaluations and write the record."""
    from dnalib import datasets

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--profile", default="cpu")
    p.add_argument("--models", nargs="+", default=["tnf", "kmer6", "mlm", "simclr", "curriculum"],
                   choices=["tnf", "kmer6", "mlm", "simclr", "curriculum", "label-free"])
    p.add_argument("--per-genome", type=int, default=100)
    p.add_argument("--update", action="store_true",
                   help="add these models to the record at --out (same profile and fragments)")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    commit = records.commit()
    genomes = datasets.get("kmcp15")
    command = "python benchmarks/record_real_eval.py " + " ".join(sys.argv[1:] if argv is None else argv)
    out = Path(args.out)
    if args.update and out.exists():
        record = json.loads(out.read_text())
        if record.get("profile") != args.profile:
            raise SystemExit(f"{out} holds profile {record.get('profile')!r}, not {args.profile!r}: "
                             "drop --update to start a new record")
        cut = {m["settings"]["per_genome"] for m in record["models"].values()}
        if cut and cut != {args.per_genome}:
            raise SystemExit(f"{out} scored {sorted(cut)} fragments per genome, not {args.per_genome}: "
                             "pass the same --per-genome, or drop --update to start a new record")
        record.setdefault("updates", []).append({"command": command, "commit": commit,
                                                 "hardware": records.hardware(), "models": args.models,
                                                 "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
        wanted = list(dict.fromkeys([*record["models"], *args.models]))
        run(args, genomes, record, wanted, out)
        return
    record = {"benchmark": "trained models on the 15 kmcp15 genomes (dnalib evaluate)",
              "command": command, "commit": commit, "hardware": records.hardware(), "profile": args.profile,
              "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "complete": False,
              "models": {}}
    run(args, genomes, record, args.models, out)


def run(args: argparse.Namespace, genomes: Path, record: dict, wanted: list[str], out: Path) -> None:
    """Score every model of ``args.models`` into *record*, written after each; *wanted* sets ``complete``."""
    from dnalib import artifacts
    from dnalib.cli import main as cli

    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            if name in ("tnf", "kmer6"):
                model = name
            elif name == "label-free":
                model = str(Path(tmp) / "label-free")
                status = cli(["finetune", "--label-free", "--init", "scratch", "--profile", args.profile,
                              "--data", str(genomes), "--out", model, "--no-progress"])
                if status:
                    raise SystemExit("dnalib finetune --label-free failed")
            else:
                model = str(artifacts.get(name, args.profile))
            target = Path(tmp) / f"{name}.json"
            status = cli(["evaluate", "--model", model, "--genomes", str(genomes),
                          "--per-genome", str(args.per_genome), "--out", str(target), "--no-progress"])
            if status:
                raise SystemExit(f"dnalib evaluate failed for {name}")
            result = json.loads(target.read_text())
            result["model"] = name
            record["models"][name] = result
            print(f"{name}: ARI {result['clustering']['ari']:.3f}", flush=True)
            record["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            record["complete"] = all(m in record["models"] for m in wanted)
            records.write(out, record)  # paths made portable (repository-relative, dataset names)


if __name__ == "__main__":
    main()
