"""Benchmarks: the contrastive ablation resumes only with the same settings; smoke runs of the others."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from dnalib.training import plain

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_contrastive",
                                                  ROOT / "benchmarks" / "bench_contrastive.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _record(path: Path, settings: dict, rows: list[dict]) -> None:
    path.write_text(json.dumps({**settings, "commit": "abc123", "date": "2026-01-01T00:00:00Z",
                                "seeds": [0], "methods": ["SimCLR"], "rows": rows}))


def test_resume_keeps_the_rows_and_merges_seeds_and_methods(bench, tmp_path):
    from dnalib import contrastive as C
    from dnalib import pretrain as P

    settings = {"profile": "smoke",
                "pretrain_config": plain(P.pretrain_config("smoke", checkpoint_every=0,
                                                                  eval_every=0)),
                "finetune_config": plain(C.finetune_config("smoke")),
                "data": {"training_genera": 40, "fragments_per_species": 15}}
    rows = [{"method": m, "seed": s, "ari": 0.5} for m, s in
            (("TNF", None), ("6-mer", None), ("MLM only", 0), ("SimCLR", 0))]
    out = tmp_path / "ablation.json"
    _record(out, settings, rows)
    kept, date, seeds, methods, runs = bench.resume_record(out, settings, [1], ["curriculum", "SimCLR"])
    assert [r["commit"] for r in runs] == ["abc123"]  # an older record: its last command only
    assert [r["method"] for r in kept] == ["TNF", "6-mer", "MLM only", "SimCLR"]
    assert all(r["commit"] == "abc123" for r in kept)  # rows name the commit that made them
    assert date == "2026-01-01T00:00:00Z" and seeds == [0, 1] and methods == ["SimCLR", "curriculum"]
    assert bench.recorded(kept, "SimCLR", 0) and not bench.recorded(kept, "SimCLR", 1)
    assert not bench.recorded(kept, "curriculum", 0)

    # Other settings (here: the MLM's) make a record that cannot be continued.
    changed = json.loads(json.dumps(settings))
    changed["pretrain_config"]["embedding_lr_mult"] = 1.0
    with pytest.raises(SystemExit, match=r"other settings \(pretrain_config\)"):
        bench.resume_record(out, changed, [0], ["SimCLR"])
    # A record from before the data and MLM settings were recorded is refused too.
    _record(out, {"profile": "smoke", "finetune_config": settings["finetune_config"]}, rows)
    with pytest.raises(SystemExit, match="pretrain_config, data"):
        bench.resume_record(out, settings, [0], ["SimCLR"])


def test_curriculum_rows_include_phase_1_and_rerun_replaces_them(bench, tmp_path, capsys):
    """A smoke run of the benchmark itself: the curriculum is one run scored after phase 1 and
    at the end; --resume --rerun curriculum trains those rows again and keeps the others."""
    out = tmp_path / "ablation.json"
    common = ["--profile", "smoke", "--seeds", "0", "--training-genera", "8",
              "--fragments-per-species", "3", "--out", str(out)]
    saved = tmp_path / "models"
    bench.main([*common, "--methods", "SimCLR", "curriculum", "--save-models", str(saved)])
    rec = json.loads(out.read_text())
    assert [r["method"] for r in rec["rows"]] == ["TNF", "6-mer", "MLM only", "SimCLR",
                                                  "curriculum after phase 1", "curriculum"]
    # --save-models keeps every encoder (no checkpoints) where bench_real_genomes.py finds them
    assert sorted(p.name for p in saved.iterdir()) == ["MLM_only-0", "SimCLR-0", "curriculum-0",
                                                       "trained_by.json"]
    assert json.loads((saved / "trained_by.json").read_text())["profile"] == "smoke"
    assert not list(saved.glob("*/checkpoint*"))
    real = _load_benchmark("bench_real_genomes")
    assert sorted(real.trained_models(saved)) == ["ablation-MLM_only/0", "ablation-SimCLR/0",
                                                  "ablation-curriculum/0"]
    with pytest.raises(SystemExit, match="--save-models"):
        real.trained_models(tmp_path)
    assert rec["complete"] and len(rec["invocations"]) == 1
    first = {r["method"]: r for r in rec["rows"]}
    bench.main([*common, "--methods", "curriculum", "--resume", "--rerun", "curriculum"])
    assert "2 of curriculum dropped" in capsys.readouterr().out
    rec = json.loads(out.read_text())
    again = {r["method"]: r for r in rec["rows"]}
    assert sorted(again) == sorted(first) and rec["complete"] and len(rec["invocations"]) == 2
    assert again["SimCLR"] == first["SimCLR"]  # kept, not trained again
    # Deterministic: the curriculum trained again scores the same.
    assert again["curriculum"]["ari"] == pytest.approx(first["curriculum"]["ari"], abs=1e-9)
    with pytest.raises(SystemExit):
        bench.main([*common, "--rerun", "curriculum"])  # --rerun without --resume


def test_finetune_data_real_and_mixed_train_on_real_species(bench, tmp_path):
    """--finetune-data: the contrastive runs train on the genomes_real training species (or on
    them and the synthetic ones); their encoders get a suffix, and the MLM is not saved twice."""
    from dnalib import datasets

    try:
        datasets.load_genomes_real(progress=False)
    except Exception:  # noqa: BLE001 - no mirror here
        pytest.skip("genomes-real is not in the data mirror")
    common = ["--profile", "smoke", "--seeds", "0", "--training-genera", "8",
              "--fragments-per-species", "3", "--methods", "SimCLR"]
    saved = tmp_path / "models"
    for data, groups in (("real", 59), ("mixed", 59 + 24)):
        out = tmp_path / f"{data}.json"
        bench.main([*common, "--finetune-data", data, "--save-models", str(saved / data),
                    "--out", str(out)])
        rec = json.loads(out.read_text())
        assert rec["training"]["finetune_data"] == data and rec["data"]["finetune_data"] == data
        assert rec["training"]["finetune_groups"] == groups
        assert sorted(p.name for p in (saved / data).iterdir()) == [f"SimCLR_{data}-0", "trained_by.json"]
    real = _load_benchmark("bench_real_genomes")
    trained, by = real.trained_from([saved / "real", saved / "mixed"])
    assert sorted(trained) == ["ablation-SimCLR_mixed/0", "ablation-SimCLR_real/0"]
    assert [b["data"]["finetune_data"] for b in by] == ["real", "mixed"]
    with pytest.raises(SystemExit, match="encoders of names another --trained folder has: "
                                         "ablation-SimCLR_real/0"):
        real.trained_from([saved / "real", saved / "real"])


def test_trajectory_scores_every_checkpoint_on_two_sets_of_unseen_species(tmp_path, capsys):
    """A smoke run of benchmarks/bench_trajectory.py: every checkpoint of the curriculum, and of
    SimCLR after the phase they share, is scored on the book's evaluation species and on other
    species that are neither trained on nor the book's."""
    from dnalib import simulate

    spec = importlib.util.spec_from_file_location("bench_trajectory",
                                                  ROOT / "benchmarks" / "bench_trajectory.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "trajectory.json"
    module.main(["--profile", "smoke", "--seed", "0", "--every", "2", "--training-genera", "9",
                 "--fragments-per-species", "3", "--heldout-pairs", "12", "--out", str(out)])
    rec = json.loads(out.read_text())
    assert [(r["run"], r["step"], r["phase"]) for r in rec["rows"]] == [
        ("curriculum", 2, "simclr"), ("curriculum", 4, "simclr"), ("curriculum", 6, "mimix"),
        ("curriculum", 8, "mimix"), ("SimCLR", 6, "simclr"), ("SimCLR", 8, "simclr")]
    for row in rec["rows"]:
        assert -1 <= row["eval_ari"] <= 1 and -1 <= row["other_ari"] <= 1
        assert 0 < row["heldout_loss"] < 50
    trained = simulate.simulate_community(simulate.DEFAULT_SEED, n_genera=9)
    assert rec["other_species"] and set(rec["other_species"]) <= set(trained.eval_ids)
    assert not set(rec["other_species"]) & set(simulate.default_community().eval_ids)
    assert rec["heldout_pairs"] == 12 and rec["commit"]
    assert "curriculum step    8 (mimix)" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="at least 9 genera"):
        module.main(["--profile", "smoke", "--training-genera", "8"])


def _load_benchmark(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_kmers_smoke_run(capsys, monkeypatch):
    """A small run of benchmarks/bench_kmers.py: every figure, the processor line first."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        monkeypatch.setenv(var, "1")  # what the benchmark sets on import, undone after the test
    figures = _load_benchmark("bench_kmers").main(["--n-1kbp", "20", "--genome-bp", "20000",
                                                   "--repeats", "1"])
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("processor: ")
    for name in ("spectrum_k4_1kbp", "spectrum_k6_1kbp", "kmer_ids_k6_1kbp", "kmer_ids_k6_5Mbp"):
        assert figures[f"{name}_Mbp_per_s"] > 0 and figures[f"{name}_speedup"] > 0
    assert figures["kmer_ids_k6_1kbp_per_call_Mbp_per_s"] > 0


def test_bench_embed_smoke_run(capsys):
    """A small run of benchmarks/bench_embed.py: the fast path and the naive loop agree to 1e-5
    (the benchmark asserts it) on the cpu profile's architecture."""
    figures = _load_benchmark("bench_embed").main(["--n-1kbp", "6", "--n-10kbp", "0", "--naive", "2",
                                                   "--stream", "0", "--repeats", "1"])
    out = capsys.readouterr().out
    assert "processor: " in out and "torch_threads: " in out
    assert figures["embed_1kbp_speedup"] > 0 and "embed_10kbp_speedup" not in figures
    assert figures["embed_1kbp_max_abs_diff"] <= 1e-5
    # the arithmetic rates: the ratio of the two runs' rates is the speedup (same work per sequence)
    assert figures["embed_1kbp_gflop_per_s"] / figures["naive_1kbp_gflop_per_s"] == \
        pytest.approx(figures["embed_1kbp_speedup"], rel=1e-9)
    assert figures["gemm_gflop_per_s"] > 0 and figures["embed_share_of_gemm"] > 0
    from dnalib.inference import cpu_bf16_units

    if cpu_bf16_units():  # the bf16 path beside it: bf16-close rows, its own GEMM rate
        assert "bf16_units: amx_bf16" in out or "bf16_units: avx512_bf16" in out
        assert figures["bf16_1kbp_min_cosine"] > 0.999 and figures["bf16_1kbp_vs_fp32"] > 0
        assert figures["bf16_gemm_gflop_per_s"] > 0
    else:  # and why it is not timed here
        assert "no AMX or AVX-512 BF16" in out and "bf16_1kbp_seq_per_s" not in figures


def test_bench_bf16_training_smoke_run(tmp_path, capsys):
    """A small run of benchmarks/bench_bf16_training.py: both trainers in both precisions, the
    record with speedups, loss gaps and the decision."""
    out = tmp_path / "bf16_training.json"
    record = _load_benchmark("bench_bf16_training").main(["--profile", "smoke", "--steps", "3", "--seeds",
                                                          "0", "1", "--skip", "1", "--out", str(out)])
    assert json.loads(out.read_text())["trainers"].keys() == {"pretrain", "finetune"}
    for entry in record["trainers"].values():
        assert entry["bf16_speedup"] > 0 and entry["max_loss_gap"] >= 0
        assert len(entry["final_loss_fp32"]) == len(entry["final_loss_bf16"]) == 2
    assert isinstance(record["bf16_default_on_cpu"], bool)
    assert "bf16_default_on_cpu: " in capsys.readouterr().out


def test_ci_costs_summarises_a_real_pytest_report(tmp_path):
    """A real pytest --junitxml report: seconds per module, outcomes, the slowest test first."""
    import subprocess
    import sys

    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "test_fast.py").write_text("def test_a():\n    pass\n\ndef test_b():\n    assert False\n")
    (tests / "test_slow.py").write_text(
        "import time, pytest\n\ndef test_sleeps():\n    time.sleep(0.3)\n\n"
        "@pytest.mark.skip(reason='no')\ndef test_skipped():\n    pass\n")
    report = tmp_path / "pytest.xml"
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests",
                    f"--junitxml={report}"], cwd=tmp_path, capture_output=True, text=True)
    out = tmp_path / "costs.json"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "ci_costs.py"), "--junit",
                           str(report), "--cache", str(tmp_path / "none"), "--total-seconds", "12",
                           "--out", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    rec = json.loads(out.read_text())
    assert rec["tests"] == {"passed": 2, "failed": 1, "skipped": 1}
    assert list(rec["modules"]) == ["test_slow", "test_fast"]  # most expensive first
    assert rec["modules"]["test_slow"] >= 0.3
    assert rec["slowest_tests"][0]["test"] == "test_slow::test_sleeps"
    assert rec["ci_seconds"] == 12 and rec["chapters"] == {}
    assert rec["hardware"]["vector_isa"] in ("avx512", "avx2", "other")

    # Not a report: one line saying what to do, no traceback.
    bad = tmp_path / "bad.xml"
    bad.write_text("<html>")
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "ci_costs.py"), "--junit",
                           str(bad), "--out", str(out)], capture_output=True, text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0 and "--junitxml" in done.stderr


def test_bench_error_grid_smoke_run_resumes_and_refuses_other_settings(tmp_path, capsys):
    """A smoke run of benchmarks/bench_error_grid.py on a small genome set: every cell x model
    row (the paired interval against kmer6 on all but kmer6), written with its provenance; a
    second run keeps the rows and adds only new cells; other settings are refused."""
    from dnalib.records import portable_path
    from dnalib.simulate import simulate_community
    from dnalib.spectrum_map import SpectrumMap

    genomes = tmp_path / "set"
    simulate_community(0, n_genera=3, species_per_genus=3, genome_length=30_000).write(genomes)
    SpectrumMap(4, 8, hidden=16).save_pretrained(tmp_path / "map")
    grid = _load_benchmark("bench_error_grid")
    out = tmp_path / "grid.json"
    common = ["--smoke", "--sets", str(genomes), "--per-genome", "10", "--out", str(out)]
    rec = grid.main([*common, "--models", "tnf", str(tmp_path / "map")])
    rows = rec["rows"]
    assert len(rows) == 2 * 2 * 3 and rec["complete"] and rec["commit"] and rec["hardware"]
    assert {(r["length"], r["errors"]) for r in rows} == {(1000, "clean"), (1000, "longread10"),
                                                          (2000, "clean"), (2000, "longread10")}
    # directories are named as records name them (portable: $TMPDIR/..., repository-relative)
    assert {r["model"] for r in rows} == {"kmer6", "tnf", portable_path(str(tmp_path / "map"))}
    assert {r["set"] for r in rows} == {portable_path(str(genomes))}
    for r in rows:
        assert -1 <= r["ari"] <= 1 and r["n_species"] == 9 and r["n_fragments"] == 90
        assert r["f1_ge_0.5"] >= 0 and r["binned_species"] == 9  # every fragment is binned
        if r["model"] == "kmer6":
            assert "vs_kmer6" not in r
        else:
            vs = r["vs_kmer6"]
            assert vs["interval"][0] <= vs["difference"] <= vs["interval"][1] and vs["draws"] == 10
    by = {(r["length"], r["errors"], r["model"]): r for r in rows}
    # the same cell as dnalib evaluate --errors would cut it: errors change the kmer6 score
    assert by[(1000, "longread10", "kmer6")]["ari"] != by[(1000, "clean", "kmer6")]["ari"]
    assert rec["grid"]["errors"]["longread10"]["rate"] == pytest.approx(0.1)
    assert rec["settings"]["kmeans_seeds"] == [0, 1] and "bench_error_grid.py --smoke" in rec["command"]
    printed = capsys.readouterr().out
    assert "longread10" in printed and "- kmer6" in printed

    again = grid.main([*common, "--models", "tnf", str(tmp_path / "map"), "--errors", "clean", "longread10",
                       "0.02"])
    assert len(again["rows"]) == 12 + 2 * 3 and len(again["runs"]) == 2 and again["complete"]
    first = {(r["length"], r["errors"], r["model"]): r for r in rows}
    kept = {(r["length"], r["errors"], r["model"]): r for r in again["rows"]}
    assert all(kept[key]["ari"] == row["ari"] and kept[key]["seconds_embed"] == row["seconds_embed"]
               for key, row in first.items())  # kept, not scored again
    assert len(capsys.readouterr().out.splitlines()) == 2 * 3  # only the new cells
    # every row keeps its halves: any two models of a cell pair up later, without embedding again
    from dnalib.viz import grid_differences

    assert all(r["halves"]["draws"] == 10 for r in again["rows"])
    vs_tnf = grid_differences(again, against="tnf")
    assert set(vs_tnf["reference"]) == {"tnf"} and len(vs_tnf) == 6 * 2  # 6 cells x kmer6, map
    # a row of an older bench (no halves) is dropped, and scored again when its model is named
    old = json.loads(out.read_text())
    old["rows"][1].pop("halves")
    out.write_text(json.dumps(old))
    third = grid.main([*common, "--models", "tnf", str(tmp_path / "map"), "--errors", "clean", "longread10",
                       "0.02"])
    assert len(third["rows"]) == 18 and all("halves" in r for r in third["rows"])
    printed = capsys.readouterr().out
    assert "1 rows without their halves" in printed and len(printed.splitlines()) == 2
    # the same weights under another name (a run since shipped elsewhere) take over its rows, unscored
    import shutil

    shutil.copytree(tmp_path / "map", tmp_path / "shipped-map")
    fourth = grid.main([*common, "--models", "tnf", str(tmp_path / "shipped-map"), "--errors", "clean",
                        "longread10", "0.02"])
    printed = capsys.readouterr().out
    new_name, old_name = portable_path(str(tmp_path / "shipped-map")), portable_path(str(tmp_path / "map"))
    assert f"6 rows of {old_name} are {new_name}'s" in printed and len(printed.splitlines()) == 1
    moved = {(r["length"], r["errors"]): r for r in fourth["rows"] if r["model"] == new_name}
    assert len(moved) == 6 and old_name not in {r["model"] for r in fourth["rows"]} and fourth["complete"]
    assert all(moved[(r["length"], r["errors"])]["ari"] == r["ari"] for r in third["rows"]
               if r["model"] == old_name)
    with pytest.raises(SystemExit, match="not a grid record with these settings"):
        grid.main([*common[:-4], "--per-genome", "5", "--out", str(out)])
    with pytest.raises(SystemExit, match="--models nope"):
        grid.main([*common, "--models", "nope"])
    with pytest.raises(SystemExit, match="unknown error model"):
        grid.main([*common, "--errors", "dirty"])


def test_bench_bf16_fused_times_four_ways_with_the_same_numbers_where_exact(capsys):
    """One short round: eager fp32 and bf16, traced bf16 (the same numbers as eager bf16), fused bf16."""
    from dnalib.inference import cpu_bf16_units

    figures = _load_benchmark("bench_bf16_fused").main(["--rows", "2", "--repeats", "1"])
    printed = capsys.readouterr().out
    if cpu_bf16_units() is None:
        assert figures == {} and "nothing to measure" in printed
        return
    assert figures["fp32_2rows_vs_fp32"] == 1.0 and figures["bf16_frozen_2rows_max_diff_bf16"] == 0.0
    assert all(figures[f"{w}_2rows_ms"] > 0 for w in ("fp32", "bf16", "bf16_frozen", "bf16_fused"))
    assert 0 < figures["bf16_fused_2rows_max_diff_fp32"] < 1 and "bf16_fused_2rows_vs_fp32" in printed
