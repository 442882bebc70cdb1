"""Record how long each chapter took to execute in the last book build.

Usage:
    make book && python benchmarks/chapter_timings.py --profile cpu --out results/chapter_timings_cpu.json

Reads the execution times that the book build stored in its cache
(``_build/.jupyter_cache``, written by Jupyter Book / jupyter-cache for every
executed notebook) and records them with the command, commit, hardware and
date. The instructors page renders these files; nothing there is typed in by
hand. Build from a clean cache (``rm -rf _build``) to time every chapter with
its models trained from scratch; a chapter that reused cached models (chapters
5 to 8 share them) is faster than a first run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def chapter_seconds(cache: Path) -> dict[str, float]:
    """Execution seconds per notebook (file stem) in a jupyter-cache database."""
    db = cache / "global.db"
    if not db.exists():
        raise SystemExit(f"no book-build cache at {db}: run `make book` first")
    with sqlite3.connect(db) as con:
        rows = con.execute("select uri, data from nbcache").fetchall()
    out = {}
    for uri, data in rows:
        seconds = json.loads(data or "{}").get("execution_seconds")
        if seconds is not None:
            out[Path(uri).stem] = round(float(seconds), 1)
    return dict(sorted(out.items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default=os.environ.get("DNALIB_PROFILE", "cpu"))
    parser.add_argument("--cache", type=Path, default=ROOT / "_build" / ".jupyter_cache")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--note", default="", help="how the build was run (clean cache, load, ...)")
    args = parser.parse_args(argv)
    from dnalib.profiles import cpu_model, cpu_vector_isa

    seconds = chapter_seconds(args.cache)
    if not seconds:
        raise SystemExit("the cache holds no executed notebooks")
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    try:
        import torch

        device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    except ImportError:
        device = "cpu"
    record = {
        "benchmark": "chapter_timings",
        "command": "python benchmarks/chapter_timings.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "commit": commit,
        "profile": args.profile,
        "hardware": {"machine": platform.machine(), "processor": cpu_model(),
                     "vector_isa": cpu_vector_isa(), "cpu_count": os.cpu_count(), "device": device},
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "note": args.note,
        "seconds": seconds,
        "total_seconds": round(sum(seconds.values()), 1),
    }
    from dnalib import records

    records.write(args.out, record)  # paths made portable (repository-relative, dataset names)
    for name, s in seconds.items():
        print(f"{name}: {s:.1f} s")
    print(f"total: {record['total_seconds']:.1f} s; wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
