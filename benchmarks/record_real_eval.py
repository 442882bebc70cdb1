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
    from dnalib import artifacts, datasets
    from dnalib.cli import main as cli

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--profile", default="cpu")
    p.add_argument("--models", nargs="+", default=["tnf", "kmer6", "mlm", "simclr", "curriculum"])
    p.add_argument("--per-genome", type=int, default=100)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    commit = records.commit()
    genomes = datasets.get("kmcp15")
    record = {"benchmark": "trained models on the 15 kmcp15 genomes (dnalib evaluate)",
              "command": "python benchmarks/record_real_eval.py " + " ".join(sys.argv[1:] if argv is None
                                                                             else argv),
              "commit": commit, "hardware": records.hardware(), "profile": args.profile,
              "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "complete": False,
              "models": {}}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            model = name if name in ("tnf", "kmer6") else str(artifacts.get(name, args.profile))
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
            record["complete"] = len(record["models"]) == len(args.models)
            out.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
