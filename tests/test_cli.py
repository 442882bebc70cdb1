"""The `dnalib` command line: bad input gives one line and a non-zero exit, never a traceback."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dnalib.cli import main
from dnalib.io import load_genome_set

REPO_ROOT = Path(__file__).resolve().parents[1]


def _write(path: Path, data: bytes | str) -> Path:
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def _truncated_gz(path: Path) -> Path:
    blob = gzip.compress(b">a\n" + b"ACGT" * 5000 + b"\n")
    return _write(path, blob[: len(blob) // 2])


def _genome_set_missing_label(root: Path) -> Path:
    root.mkdir()
    _write(root / "g1.fa", ">c1\nACGTACGT\n")
    _write(root / "g2.fa", ">c1\nACGTTTGT\n")
    _write(root / "taxonomy.tsv", "id\tgenus\tspecies\ng1\tGa\tGa sp\n")
    return root


BAD_INPUTS = {
    "missing file": (lambda d: d / "nope.fa", "nope.fa"),
    "no header": (lambda d: _write(d / "x.fa", "ACGTACGT\nACGT\n"), "x.fa"),
    "truncated gzip": (lambda d: _truncated_gz(d / "t.fa.gz"), "t.fa.gz"),
    "empty record": (lambda d: _write(d / "e.fa", ">a\n>b\nACGT\n"), "'a'"),
    "duplicate ids": (lambda d: _write(d / "d.fa", ">a\nACGT\n>a\nGGCC\n"), "'a'"),
    "non-IUPAC character": (lambda d: _write(d / "c.fa", ">a\nACGT\n>b\nAC1T\n"), "'b'"),
    "empty file": (lambda d: _write(d / "z.fa", ""), "z.fa"),
    "labels do not match": (lambda d: _genome_set_missing_label(d / "gs"), "g2"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_inspect_rejects_bad_input_in_one_line(case, tmp_path, capsys):
    make, must_name = BAD_INPUTS[case]
    path = make(tmp_path)
    status = main(["inspect", str(path)])
    err = capsys.readouterr().err.strip()
    assert status == 1
    assert err.startswith("dnalib: error: ")
    assert "\n" not in err and "Traceback" not in err
    assert must_name in err, err


def test_inspect_accepts_crlf_and_lower_case(tmp_path, capsys):
    path = _write(tmp_path / "ok.fa", ">a desc\r\nacgtnACGT\r\n>b\r\nGGCC\r\n")
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert "records" in out and "2" in out


def test_console_script_exits_nonzero_without_traceback(tmp_path):
    bad = _write(tmp_path / "bad.fa", ">a\nACGX\n")
    exe = Path(sys.executable).with_name("dnalib")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "dnalib.cli"]
    result = subprocess.run([*cmd, "inspect", str(bad)], capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "bad.fa" in result.stderr and "'X'" in result.stderr


def test_simulate_writes_a_genome_set_the_loader_reads(tmp_path, capsys):
    out = tmp_path / "community"
    assert main(["simulate", "--seed", "3", "--genera", "2", "--species-per-genus", "3",
                 "--genome-length", "20000", "--out", str(out)]) == 0
    genomes = load_genome_set(out)
    assert len(genomes) == 6
    assert set(genomes.taxonomy["genus"]) and genomes.total_length(genomes.ids[0]) > 15_000
    assert (out / "split.tsv").exists()
    assert main(["inspect", str(out)]) == 0
    # A second run must not silently overwrite the first.
    assert main(["simulate", "--seed", "4", "--out", str(out)]) == 1
    assert "--force" in capsys.readouterr().err


def test_data_list_and_get_through_the_mirror(shared_data, isolated_data_env, capsys):
    assert main(["data", "list"]) == 0
    listing = capsys.readouterr().out
    assert "kmcp15" in listing and "dairydb" in listing
    for name in ("kmcp15", "dairydb"):
        assert main(["data", "get", name, "--mirror", str(shared_data), "--quiet"]) == 0
        path = Path(capsys.readouterr().out.strip())
        assert path.is_dir()
    assert main(["data", "get", "no-such-dataset", "--quiet"]) == 1
    assert "kmcp15" in capsys.readouterr().err


def test_data_get_offline_without_mirror_says_how_to_fix(isolated_data_env, capsys, monkeypatch):
    monkeypatch.setenv("DNALIB_DATA_BASE_URL", "http://127.0.0.1:9/")  # nothing listens there
    assert main(["data", "get", "dairydb", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "DNALIB_DATA_MIRROR" in err and "\n" not in err.strip()


def test_unknown_profile_is_a_clear_error(monkeypatch):
    from dnalib.errors import DnalibError
    from dnalib.profiles import current_profile

    monkeypatch.setenv("DNALIB_PROFILE", "tpu")
    with pytest.raises(DnalibError, match="smoke, cpu, hour, gpu"):
        current_profile()
    assert current_profile("GPU") == "gpu"
    monkeypatch.delenv("DNALIB_PROFILE")
    assert current_profile() == os.environ.get("DNALIB_PROFILE", "cpu")


@pytest.fixture(scope="module")
def genome_set(tmp_path_factory):
    from dnalib.simulate import simulate_community

    root = tmp_path_factory.mktemp("evalset") / "genomes"
    simulate_community(0, n_genera=3, species_per_genus=3, genome_length=40_000).write(root)
    return root


def test_evaluate_cli_writes_every_task_to_json(genome_set, tmp_path, capsys):
    import json

    from dnalib.cli import main

    out = tmp_path / "res.json"
    args = ["evaluate", "--model", "tnf", "--genomes", str(genome_set), "--fragment-length", "2500",
            "--per-genome", "12", "--out", str(out), "--no-progress"]
    assert main(args) == 0
    res = json.loads(out.read_text())
    assert res["n_samples"] == 9 * 12 and res["n_species"] == 9 and res["seeds"] == [0, 1, 2, 3, 4]
    assert 0 <= res["clustering"]["ari"] <= 1 and "nmi" in res["clustering"]
    assert [r["k"] for r in res["fewshot"]] == [1, 2, 5, 10] and "macro_f1" in res["fewshot"][0]
    assert {"f1_ge_0.5", "f1_ge_0.9", "threshold"} <= set(res["binning"])
    assert {r["rank"] for r in res["taxonomy"]} >= {"genus"} and "accuracy" in res["taxonomy"][0]
    assert res["settings"]["fragment_length"] == 2500
    printed = capsys.readouterr().out
    assert "clustering" in printed and str(out) in printed
    # the same draw gives the same numbers; kmer6 goes through the same interface
    assert main(args[:-3] + ["--out", str(tmp_path / "again.json"), "--no-progress"]) == 0
    assert json.loads((tmp_path / "again.json").read_text())["clustering"] == res["clustering"]
    assert main([*args[:2], "kmer6", *args[3:-3], "--tasks", "clustering", "--out",
                 str(tmp_path / "k6.json")]) == 0
    assert set(json.loads((tmp_path / "k6.json").read_text())) >= {"clustering"}


def test_evaluate_cli_bad_input_is_one_clear_line(genome_set, tmp_path, capsys):
    from dnalib.cli import main

    base = ["evaluate", "--genomes", str(genome_set), "--out", str(tmp_path / "r.json")]
    assert main([*base, "--model", "tnf", "--tasks", "clustering,magic"]) == 1
    assert "--tasks" in capsys.readouterr().err
    assert main([*base, "--model", str(tmp_path)]) == 1
    assert "neither a baseline" in capsys.readouterr().err
    assert main(["evaluate", "--model", "tnf", "--genomes", str(tmp_path / "nope"), "--out",
                 str(tmp_path / "r.json")]) == 1
    assert "no such directory" in capsys.readouterr().err
    assert main([*base, "--model", "tnf", "--fragment-length", "10000000"]) == 1
    assert "fragment-length" in capsys.readouterr().err


def test_evaluate_errors_are_applied_recorded_and_shown(genome_set, tmp_path, capsys):
    """--errors: fragments are cut as before, then carry the model's errors (seeded by --seed);
    the record names the model, the table's header says it; clean is the same as no flag."""
    import json

    from dnalib.cli import main
    from dnalib.seqerrors import ERROR_PRESETS

    def run(*extra: str) -> dict:
        out = tmp_path / f"r{len(list(tmp_path.iterdir()))}.json"
        assert main(["evaluate", "--model", "kmer6", "--genomes", str(genome_set), "--fragment-length",
                     "3000", "--per-genome", "10", "--tasks", "clustering,binning", "--out", str(out),
                     "--no-progress", *extra]) == 0
        return json.loads(out.read_text())

    plain = run()
    assert plain["settings"]["errors"] == ERROR_PRESETS["clean"].describe()
    assert "3000 bp fragments, 10 per genome; errors: clean" in capsys.readouterr().out
    clean = run("--errors", "clean")
    assert clean["clustering"] == plain["clustering"] and clean["binning"] == plain["binning"]
    noisy = run("--errors", "longread10")
    assert noisy["settings"]["errors"] == ERROR_PRESETS["longread10"].describe()
    assert noisy["settings"]["errors"]["rate"] == pytest.approx(0.1)
    printed = capsys.readouterr().out
    assert "errors: longread10 (2% substitutions, 4% insertions, 4% deletions)" in printed
    assert noisy["clustering"] != plain["clustering"]  # the fragments did change
    # a total rate is the long-read split: the same errors as the preset of that rate
    rate = run("--errors", "0.1")
    assert rate["settings"]["errors"]["name"] == "0.1"
    assert rate["clustering"] == noisy["clustering"]
    # and another fragment seed gives other fragments and other errors, reproducibly
    assert run("--errors", "0.1", "--seed", "1")["clustering"] == \
        run("--errors", "0.1", "--seed", "1")["clustering"]


def test_evaluate_bad_errors_are_one_line(genome_set, tmp_path, capsys):
    from dnalib.cli import main

    out = tmp_path / "r.json"
    base = ["evaluate", "--model", "tnf", "--out", str(out)]
    assert main([*base, "--genomes", str(genome_set), "--errors", "longread11"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("dnalib: error: unknown error model 'longread11'") and "\n" not in err
    assert "longread10" in err and "illumina" in err and not out.exists()
    # marker-gene sequences take no error model (yet): said in one line, before reading anything
    assert main([*base, "--sequences", str(tmp_path / "16S.fa"), "--taxonomy", str(tmp_path / "t.tsv"),
                 "--errors", "longread5"]) == 1
    err = capsys.readouterr().err.strip()
    assert "--errors only apply to --genomes" in err and "\n" not in err
