"""What each part of the CI run costs: test modules, the slowest tests, the executed chapters.

Usage (what ``.ci/run`` does after the tests; any pytest run works the same)::

    python -m pytest --junitxml=_build/ci/pytest.xml
    python benchmarks/ci_costs.py --junit _build/ci/pytest.xml --total-seconds 1300 \\
        --out results/ci_costs_cpu.json

Reads the JUnit XML report pytest writes (``--junitxml``: one ``testcase``
element per test with its seconds) and, when the run built the book, the
chapter execution times of the book build's cache (``_build/.jupyter_cache``,
as :mod:`chapter_timings` reads them). The record holds the seconds of every
test module, the slowest tests, every chapter, the totals and the machine
(processor and vector extension), and prints the same as a short table.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

from chapter_timings import chapter_seconds

from dnalib import records
from dnalib.errors import DnalibError

ROOT = Path(__file__).resolve().parent.parent


def junit_costs(path: Path) -> tuple[dict[str, float], list[dict[str, object]], dict[str, int]]:
    """``(seconds per test module, every test with its seconds, outcome counts)`` of a JUnit XML report."""
    try:
        tree = ET.parse(path)
    except (OSError, ET.ParseError) as exc:
        raise DnalibError(f"cannot read the pytest report {path}: {exc}; write one with "
                          "`python -m pytest --junitxml=PATH`") from None
    modules: dict[str, float] = defaultdict(float)
    tests: list[dict[str, object]] = []
    outcomes = {"passed": 0, "failed": 0, "skipped": 0}
    for case in tree.iter("testcase"):
        seconds = float(case.get("time") or 0.0)
        module = (case.get("classname") or "?").split(".")
        # classname is "tests.test_x" or "tests.test_x.TestClass": the module is its second part
        name = module[1] if len(module) > 1 and module[0] == "tests" else module[0]
        modules[name] += seconds
        tests.append({"test": f"{name}::{case.get('name')}", "seconds": round(seconds, 1)})
        if case.find("failure") is not None or case.find("error") is not None:
            outcomes["failed"] += 1
        elif case.find("skipped") is not None:
            outcomes["skipped"] += 1
        else:
            outcomes["passed"] += 1
    if not tests:
        raise DnalibError(f"{path} holds no test cases: is it a pytest --junitxml report?")
    tests.sort(key=lambda t: -float(t["seconds"]))  # type: ignore[arg-type]
    ordered = dict(sorted(((m, round(s, 1)) for m, s in modules.items()), key=lambda kv: -kv[1]))
    return ordered, tests, outcomes


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--junit", type=Path, required=True, help="pytest --junitxml report")
    p.add_argument("--cache", type=Path, default=ROOT / "_build" / ".jupyter_cache",
                   help="the book build's jupyter cache (chapter times; skipped when absent)")
    p.add_argument("--total-seconds", type=float, default=None,
                   help="wall time of the whole CI run, set-up included (from .ci/run)")
    p.add_argument("--slowest", type=int, default=15, help="slowest tests listed")
    p.add_argument("--note", default="", help="how the run was made (fresh clone, load, ...)")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    try:
        modules, tests, outcomes = junit_costs(args.junit)
    except DnalibError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    chapters = chapter_seconds(args.cache) if (args.cache / "global.db").exists() else {}
    pytest_seconds = round(sum(modules.values()), 1)
    record = {
        "benchmark": "ci_costs",
        "command": "python benchmarks/ci_costs.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "commit": records.commit(), "hardware": records.hardware(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "note": args.note,
        "ci_seconds": args.total_seconds,
        "pytest_seconds": pytest_seconds,
        "tests": outcomes,
        "modules": modules,
        "slowest_tests": tests[: args.slowest],
        "chapters": chapters,
        "chapters_seconds": round(sum(chapters.values()), 1),
        "profile": os.environ.get("DNALIB_PROFILE", "cpu"),
    }
    records.write(args.out, record)
    hw = record["hardware"]
    print(f"{hw['processor']} ({hw['vector_isa']}), {hw['cpu_count']} CPUs; "
          f"{outcomes['passed']} passed, {outcomes['failed']} failed, {outcomes['skipped']} skipped")
    total = f"; whole CI {args.total_seconds:.0f} s" if args.total_seconds else ""
    print(f"tests {pytest_seconds:.0f} s{total}")
    for name, seconds in list(modules.items())[:12]:
        print(f"  {name:32s} {seconds:7.1f} s")
    if chapters:
        print(f"chapters (inside test_book_build) {record['chapters_seconds']:.0f} s: "
              + ", ".join(f"{k.split('_')[0]} {v:.0f}" for k, v in chapters.items()))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
