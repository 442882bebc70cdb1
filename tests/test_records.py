"""Records name what a reader can rerun: repository-relative paths and registered dataset names."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

from dnalib import records

ROOT = Path(__file__).resolve().parent.parent
#: An absolute path of a machine, or the data mirror's location, anywhere in a string.
MACHINE_PATH = re.compile(r"""(?:^|[\s='"(])(/(?:work|tmp|home|Users|root|var|mnt|data)\b|\S*shared/data)""")


def test_paths_become_relative_dataset_names_or_tmpdir(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    (mirror / "genomes-kmcp15").mkdir(parents=True)
    monkeypatch.setenv("DNALIB_DATA_MIRROR", str(mirror))
    assert records.portable_path(str(mirror / "genomes-kmcp15")) == "kmcp15"
    assert records.portable_path(str(mirror / "genomes-real" / "x.fa.gz")) == "genomes_real/x.fa.gz"
    assert records.portable_path(str(ROOT / "runs" / "ablation")) == "runs/ablation"
    assert records.portable_path("../results/a.json", cwd=ROOT / "benchmarks") == "results/a.json"
    assert records.portable_path(str(Path(tempfile.gettempdir()) / "c")) == "$TMPDIR/c"
    assert records.portable_path("/opt/elsewhere") == "/opt/elsewhere"  # nothing to say instead


def test_written_records_hold_no_machine_paths(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    monkeypatch.setenv("DNALIB_DATA_MIRROR", str(mirror))
    monkeypatch.chdir(ROOT)
    record = {
        "command": f"python benchmarks/b.py --trained {ROOT}/runs/a {ROOT / 'runs/b'} "
                   f"--out={ROOT}/results/b.json",
        "genomes": str(mirror / "genomes-kmcp15"),
        "note": f"with an empty cache (DNALIB_CACHE={tempfile.gettempdir()}/fresh): seconds / step",
        "rows": [{"model_dir": str(ROOT / "runs" / "a" / "SimCLR-0"), "ari": 0.5, "method": "a/b"}],
    }
    out = records.write(tmp_path / "r.json", record)
    got = json.loads(out.read_text())
    assert got["command"] == ("python benchmarks/b.py --trained runs/a runs/b "
                              "--out=results/b.json")
    assert got["genomes"] == "kmcp15"
    assert got["note"] == "with an empty cache (DNALIB_CACHE=$TMPDIR/fresh): seconds / step"
    assert got["rows"] == [{"model_dir": "runs/a/SimCLR-0", "ari": 0.5, "method": "a/b"}]


def test_committed_records_hold_no_machine_paths():
    found = []
    for path in sorted((ROOT / "results").glob("*.json")):
        for line_no, line in enumerate(path.read_text().splitlines(), 1):
            if MACHINE_PATH.search(line):
                found.append(f"{path.name}:{line_no}: {line.strip()[:120]}")
    assert not found, ("records with a machine's paths (write them with dnalib.records.write, "
                       "which makes them portable):\n" + "\n".join(found))


def test_shipped_weights_hold_no_machine_paths():
    found = []
    for path in sorted((ROOT / "dnalib" / "weights").rglob("*")):
        if path.suffix in (".json", ".jsonl") or path.name == "SHA256SUMS":
            for line_no, line in enumerate(path.read_text().splitlines(), 1):
                if MACHINE_PATH.search(line):
                    found.append(f"{path.relative_to(ROOT)}:{line_no}: {line.strip()[:120]}")
    assert not found, "shipped weights with a machine's paths (benchmarks/ship_weights.py):\n" + "\n".join(found)


def test_ship_weights_names_the_shipped_start_not_the_cache(tmp_path, monkeypatch):
    import importlib.util

    from dnalib import artifacts

    monkeypatch.setenv("DNALIB_CACHE", str(tmp_path / "cache"))
    spec = importlib.util.spec_from_file_location("ship_weights", ROOT / "benchmarks" / "ship_weights.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    info = {"init": str(artifacts.path("mlm", "hour")), "command": f"dnalib finetune --out {ROOT}/runs/x",
            "data": "genomes_real"}
    (tmp_path / "dnalib_finetune.json").write_text(json.dumps(info))
    module.portable_run_info(tmp_path, "hour")
    got = json.loads((tmp_path / "dnalib_finetune.json").read_text())
    assert got == {"init": "dnalib/weights/hour/mlm", "command": "dnalib finetune --out runs/x",
                   "data": "genomes_real"}
    # a run trained elsewhere (--from) names its start by any path: the checked start replaces it
    info["init"] = "/somewhere/else/mlm"
    (tmp_path / "dnalib_finetune.json").write_text(json.dumps(info))
    module.portable_run_info(tmp_path, "hour", start="mlm")
    assert json.loads((tmp_path / "dnalib_finetune.json").read_text())["init"] == "dnalib/weights/hour/mlm"
