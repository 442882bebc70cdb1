"""Output directories under faults: what is on disk afterwards (issue 39).

Each case runs `dnalib.cli.main` (in-process, or a second process where two
runs must meet) on a tiny genome set and checks the exit status, the one-line
message and what the directory holds afterwards: no user file lost, nothing
non-finite published, nothing half-published that a loader accepts.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dnalib.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def gs(tmp_path_factory):
    from dnalib.simulate import simulate_community

    root = tmp_path_factory.mktemp("faults")
    simulate_community(0, n_genera=2, species_per_genus=2, genome_length=20_000).write(root / "gs")
    return root / "gs"


def _snapshot(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _err(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("dnalib: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


TRAIN = {
    "pretrain": ["pretrain", "--profile", "smoke", "--steps", "3", "--checkpoint-every", "0",
                 "--eval-every", "0"],
    "finetune": ["finetune", "--profile", "smoke", "--init", "scratch", "--label-free", "--steps", "3"],
    "spectrum-map": ["spectrum-map", "--steps", "3"],
}


@pytest.mark.parametrize("command", list(TRAIN))
def test_force_never_deletes_files_dnalib_did_not_write(command, gs, tmp_path, capsys):
    out = tmp_path / "mine"
    (out / "checkpoints").mkdir(parents=True)
    for name in ("log.jsonl", "config.json", "checkpoints/step-0000001"):
        (out / name).write_text("the user's own")
    before = _snapshot(out)
    argv = [*TRAIN[command], "--data", str(gs), "--out", str(out), "--no-progress"]
    assert main([*argv, "--force"]) == 1
    assert "dnalib did not write (checkpoints, config.json, log.jsonl)" in _err(capsys)
    if command != "spectrum-map":
        assert main([*argv, "--resume"]) == 1
        assert "cannot resume" in _err(capsys)
    assert _snapshot(out) == before


@pytest.mark.parametrize("command", list(TRAIN))
def test_a_diverging_run_fails_and_publishes_nothing(command, gs, tmp_path, capsys):
    out = tmp_path / "m"
    assert main([*TRAIN[command], "--data", str(gs), "--out", str(out), "--lr", "1e30",
                 "--no-progress"]) == 1
    assert "training diverged: the loss is nan" in _err(capsys)
    assert sorted(p.name for p in out.iterdir()) == [".dnalib-owned.json", "log.jsonl"]


def test_resume_of_a_finished_run_without_checkpoints_is_refused_and_takes_no_new_settings(
        gs, tmp_path, capsys):
    out = tmp_path / "m"
    argv = [*TRAIN["pretrain"], "--data", str(gs), "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    shutil.rmtree(out / "checkpoints")
    before = _snapshot(out)
    assert main([*argv, "--resume", "--lr", "0.5"]) == 1
    message = _err(capsys)
    assert "cannot resume" in message and "no checkpoint" in message and "--force" in message
    assert _snapshot(out) == before
    assert main([*argv, "--force"]) == 0  # --force starts over in dnalib's own directory


def test_a_second_run_on_the_same_out_fails_while_the_first_is_alive(gs, tmp_path, capsys):
    out = tmp_path / "m"
    first = subprocess.Popen(
        [sys.executable, "-m", "dnalib.cli", *TRAIN["spectrum-map"][:1], "--steps", "100000",
         "--data", str(gs), "--out", str(out), "--no-progress"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.time() + 120
        while not (out / "log.jsonl").is_file() or not (out / "log.jsonl").read_text():
            assert first.poll() is None and time.time() < deadline
            time.sleep(0.1)
        assert main([*TRAIN["spectrum-map"], "--data", str(gs), "--out", str(out), "--force",
                     "--no-progress"]) == 1
        assert "in use by another dnalib run" in _err(capsys)
    finally:
        first.kill()
        first.wait()
    steps = [line for line in (out / "log.jsonl").read_text().splitlines() if '"step": 1,' in line]
    assert len(steps) == 1  # one run's log, not two interleaved


@pytest.mark.parametrize("fault", ["before-info", "before-sums"])
def test_a_fault_while_publishing_leaves_nothing_embed_accepts(fault, gs, tmp_path, capsys,
                                                                monkeypatch):
    out = tmp_path / "m"
    argv = [*TRAIN["spectrum-map"], "--data", str(gs), "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    fasta = str(next(p for p in gs.iterdir() if ".fa" in p.name))
    emb = ["embed", "--model", str(out), "--input", fasta, "--no-progress"]
    assert main([*emb, "--out", str(tmp_path / "ok")]) == 0
    monkeypatch.setenv("DNALIB_FAULT", fault)  # after the new weights (and info file) moved in
    assert main([*argv, "--force", "--lr", "0.5"]) == 1
    assert "cannot write the final model" in _err(capsys)
    assert main([*emb, "--out", str(tmp_path / "e")]) == 1
    assert "did not finish publishing" in _err(capsys)
    assert not list(tmp_path.glob("e*"))


def test_a_changed_byte_in_a_copied_model_is_refused(tmp_path, capsys):
    copy = shutil.copytree(ROOT / "dnalib" / "weights" / "spectrum_map", tmp_path / "map")
    blob = bytearray((copy / "model.safetensors").read_bytes())
    blob[-5] ^= 1
    (copy / "model.safetensors").write_bytes(bytes(blob))
    fasta = tmp_path / "a.fa"
    fasta.write_text(">a\n" + "ACGT" * 300 + "\n")
    assert main(["embed", "--model", str(copy), "--input", str(fasta), "--out", str(tmp_path / "e"),
                 "--no-progress"]) == 1
    assert "model.safetensors does not match SHA256SUMS" in _err(capsys)


# --------------------------------------------------------------------------- embed


@pytest.fixture(scope="module")
def nan_model(tmp_path_factory):
    """A model directory (no checksums: a plain save_pretrained) whose weights are all NaN."""
    import torch

    from dnalib.models import model_config, new_mlm_model
    from dnalib.tokenizers import make_tokenizer

    root = tmp_path_factory.mktemp("nan") / "model"
    tok = make_tokenizer("kmer", k=4)
    model = new_mlm_model(model_config(tok, profile="smoke", max_tokens=40), seed=0)
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(float("nan"))
    model.save_pretrained(root)
    tok.save_pretrained(root)
    return root


def _fasta(path: Path, n: int = 5) -> Path:
    path.write_text("".join(f">r{i}\n{'ACGTTGCA' * (20 + i)}\n" for i in range(n)))
    return path


def test_embed_refuses_non_finite_rows_and_leaves_nothing(nan_model, tmp_path, capsys):
    fasta = _fasta(tmp_path / "a.fa")
    assert main(["embed", "--model", str(nan_model), "--input", str(fasta), "--out",
                 str(tmp_path / "e"), "--no-progress"]) == 1
    assert "not finite" in _err(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.fa"]


def test_load_embeddings_refuses_non_finite_rows(tmp_path):
    import numpy as np

    from dnalib.embed import load_embeddings
    from dnalib.errors import DnalibError

    np.save(tmp_path / "e.npy", np.array([[0.0, 1.0], [np.nan, 0.0]], dtype=np.float32))
    (tmp_path / "e.ids.txt").write_text("a\nb\n")
    with pytest.raises(DnalibError, match=r"row 1 \('b'\) is not finite"):
        load_embeddings(tmp_path / "e")


def test_embed_never_writes_over_its_input(tmp_path, capsys):
    fasta = _fasta(tmp_path / "a.fa")
    link = tmp_path / "link.npy"
    link.symlink_to(fasta)
    before = fasta.read_bytes()
    for out in (tmp_path / "a.fa.npy", link):  # --out a.fa.npy is a.fa's own name through a link
        if out.name == "a.fa.npy":
            out.symlink_to(fasta)
        assert main(["embed", "--model", "tnf", "--input", str(fasta), "--out", str(out),
                     "--no-progress"]) == 1
        assert "an input of this command" in _err(capsys)
    assert fasta.read_bytes() == before


@pytest.mark.parametrize("given", ["-", "fifo"])
def test_a_pipe_as_input_is_refused_not_read_twice(given, tmp_path, capsys):
    source = given
    if given == "fifo":
        source = str(tmp_path / "fifo")
        os.mkfifo(source)
    assert main(["embed", "--model", "tnf", "--input", source, "--out", str(tmp_path / "e"),
                 "--no-progress"]) == 1
    assert "save it to a file first" in _err(capsys)
    assert main(["inspect", source]) == 1
    assert "save it to a file first" in _err(capsys)


def test_a_failed_final_write_of_embed_is_one_line_and_leaves_no_temp_file(tmp_path, capsys,
                                                                          monkeypatch):
    fasta = _fasta(tmp_path / "a.fa")
    monkeypatch.setenv("DNALIB_FAULT", "embed-npy")
    assert main(["embed", "--model", "tnf", "--input", str(fasta), "--out", str(tmp_path / "e"),
                 "--no-progress"]) == 1
    assert "cannot write" in (err := _err(capsys)) and "e.npy" in err and "--resume" in err
    assert not list(tmp_path.glob("*.tmp-*")) and not (tmp_path / "e.npy").exists()
    monkeypatch.delenv("DNALIB_FAULT")
    assert main(["embed", "--model", "tnf", "--input", str(fasta), "--out", str(tmp_path / "e"),
                 "--no-progress", "--resume"]) == 0


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs (root on Linux only; skipped where mounting is not permitted)."""
    where = tmp_path / "disk"
    where.mkdir()
    mount = shutil.which("mount")
    if mount is None or os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root and mount(8)")
    done = subprocess.run([mount, "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where)],
                          capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"mounting a tmpfs is not permitted here ({done.stderr.strip()[:80]})")
    yield where
    subprocess.run(["umount", str(where)], check=False)


def test_a_full_disk_while_embed_writes_is_one_line_and_leaves_no_temp_file(small_disk, tmp_path,
                                                                           capsys):
    fasta = tmp_path / "a.fa"
    # 600 rows of 256 float32 (tnf): the rows (.part) fit in 1 MiB, the rows and the .npy do not
    fasta.write_text("".join(f">r{i}\nACGTTGCAAC\n" for i in range(600)))
    assert main(["embed", "--model", "tnf", "--input", str(fasta), "--out", str(small_disk / "e"),
                 "--no-progress"]) == 1
    err = _err(capsys)
    assert "No space left on device" in err and str(small_disk) in err
    assert not list(small_disk.glob("*.tmp-*")) and not (small_disk / "e.npy").exists()
    # too many rows for even the .part files: one line naming the file, the rows so far kept
    fasta.write_text("".join(f">r{i}\nACGTTGCAAC\n" for i in range(1200)))
    for leftover in small_disk.iterdir():
        leftover.unlink()
    assert main(["embed", "--model", "tnf", "--input", str(fasta), "--out", str(small_disk / "e"),
                 "--no-progress", "--block-size", "100"]) == 1
    err = _err(capsys)
    assert "No space left on device" in err and "e.npy.part" in err and "--resume" in err


# --------------------------------------------------------------------------- outputs vs inputs, simulate


def test_evaluate_never_writes_over_its_label_table(tmp_path, capsys):
    from dnalib.simulate import simulate_community

    gs = simulate_community(0, n_genera=2, species_per_genus=2, genome_length=20_000).write(tmp_path / "gs")
    (tmp_path / "link.json").symlink_to(gs / "taxonomy.tsv")
    before = _snapshot(gs)
    for out in (gs / "taxonomy.tsv", tmp_path / "link.json", gs / "G01_S01.fa"):
        assert main(["evaluate", "--model", "tnf", "--genomes", str(gs), "--out", str(out),
                     "--no-progress"]) == 1
        assert "an input of this command" in _err(capsys)
    assert _snapshot(gs) == before


def _simulate(out: Path, *extra: str) -> list[str]:
    return ["simulate", "--out", str(out), "--species-per-genus", "2", "--genome-length", "20000",
            *extra]


def test_simulate_force_swaps_a_whole_community_in_and_leaves_no_stale_genome(tmp_path, capsys,
                                                                           monkeypatch):
    from dnalib.io import load_genome_set

    out = tmp_path / "c"
    assert main(_simulate(out, "--genera", "3")) == 0
    before = _snapshot(out)
    monkeypatch.setenv("DNALIB_FAULT", "simulate-swap")  # disk full after the new files are written
    assert main(_simulate(out, "--genera", "2", "--seed", "1", "--force")) == 1
    assert "the community there is unchanged" in _err(capsys)
    assert _snapshot(out) == before and sorted(p.name for p in tmp_path.iterdir()) == ["c"]
    monkeypatch.delenv("DNALIB_FAULT")
    assert main(_simulate(out, "--genera", "2", "--seed", "1", "--force")) == 0
    genomes = load_genome_set(out)
    assert sorted(p.name for p in out.glob("*.fa")) == sorted(f"{g}.fa" for g in genomes.ids)
    assert len(genomes.ids) == 4  # the third genus's genomes are gone, not left beside the new table
    (out / "notes.txt").write_text("mine")
    assert main(_simulate(out, "--force")) == 1
    assert "notes.txt" in _err(capsys) and (out / "notes.txt").read_text() == "mine"
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "taxonomy.tsv").write_text("id\tspecies\n")
    assert main(_simulate(foreign, "--force")) == 1
    assert "dnalib did not write (taxonomy.tsv)" in _err(capsys)
    assert (foreign / "taxonomy.tsv").read_text() == "id\tspecies\n"


# --------------------------------------------------------------------------- loaders


@pytest.fixture(scope="module")
def bin_model(tmp_path_factory):
    """A tiny encoder saved as pytorch_model.bin (the pickled format)."""
    import torch

    from dnalib.models import model_config, new_mlm_model
    from dnalib.tokenizers import make_tokenizer

    root = tmp_path_factory.mktemp("bin") / "model"
    tok = make_tokenizer("kmer", k=4)
    model = new_mlm_model(model_config(tok, profile="smoke", max_tokens=40), seed=0)
    model.save_pretrained(root)
    tok.save_pretrained(root)
    torch.save(model.state_dict(), root / "pytorch_model.bin")
    (root / "model.safetensors").unlink()
    return root


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {os.environ.get('DNALIB_EVIL_MARK', '/nonexistent/x')}",))


@pytest.mark.parametrize("damage", ["empty", "random", "pickle"])
def test_a_pytorch_model_bin_the_safe_loader_rejects_is_one_line_and_runs_nothing(
        damage, bin_model, tmp_path, capsys, monkeypatch):
    import pickle

    model = shutil.copytree(bin_model, tmp_path / "m")
    mark = tmp_path / "ran"
    monkeypatch.setenv("DNALIB_EVIL_MARK", str(mark))
    blob = {"empty": b"", "random": os.urandom(3000),
            "pickle": pickle.dumps({"w": _Evil()})}[damage]
    (model / "pytorch_model.bin").write_bytes(blob)
    assert main(["embed", "--model", str(model), "--input", str(_fasta(tmp_path / "a.fa")),
                 "--out", str(tmp_path / "e"), "--no-progress"]) == 1
    err = _err(capsys)
    assert "pytorch_model.bin" in err or "nothing in it ran" in err
    assert not mark.exists() and not list(tmp_path.glob("e*"))


def test_shards_outside_the_model_directory_are_refused(bin_model, tmp_path, capsys):
    import json

    from dnalib.embedders import model_fingerprint

    model = shutil.copytree(bin_model, tmp_path / "m")
    (model / "pytorch_model.bin").unlink()
    (tmp_path / "other").mkdir()
    shutil.copy(bin_model / "pytorch_model.bin", tmp_path / "other" / "pytorch_model.bin")
    index = {"metadata": {}, "weight_map": {"roberta.embeddings.word_embeddings.weight":
                                            "../other/pytorch_model.bin"}}
    (model / "pytorch_model.bin.index.json").write_text(json.dumps(index))
    assert main(["embed", "--model", str(model), "--input", str(_fasta(tmp_path / "a.fa")),
                 "--out", str(tmp_path / "e"), "--no-progress"]) == 1
    assert "refusing to read outside it" in _err(capsys)
    # a shard inside the directory is covered by the resume fingerprint
    shutil.move(tmp_path / "other" / "pytorch_model.bin", model / "part-1.bin")
    index["weight_map"] = {k: "part-1.bin" for k in index["weight_map"]}
    (model / "pytorch_model.bin.index.json").write_text(json.dumps(index))
    before = model_fingerprint(model)
    with open(model / "part-1.bin", "ab") as fh:
        fh.write(b"\0")
    assert model_fingerprint(model) != before


def test_a_local_looking_name_that_does_not_exist_is_not_sent_to_the_hub(tmp_path, capsys,
                                                                        monkeypatch):
    from dnalib import models

    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "mlm").mkdir(parents=True)

    def no_hub(*a, **k):
        raise AssertionError("sent to the hub")

    monkeypatch.setattr(models, "_hub_file", no_hub)
    for name in ("runs/mlmm", "./mlm", "~/no-such-model", "runs/mlmm/"):
        assert models.looks_local(name) and not models.is_hub_id(name)
        with pytest.raises(Exception, match="no such model directory|not a model directory|neither"):
            models.resolve_model(name)
    assert models.is_hub_id("zhihan1996/DNABERT-S")
    assert main(["embed", "--model", "runs/mlmm", "--input", str(_fasta(tmp_path / "a.fa")),
                 "--out", str(tmp_path / "e"), "--no-progress"]) == 1
    _err(capsys)


def test_artifacts_get_rehashes_the_cached_copy(tmp_path, monkeypatch):
    from dnalib import artifacts

    monkeypatch.setenv("DNALIB_CACHE", str(tmp_path))
    where = artifacts.get("spectrum_map", "smoke", progress=False)
    good = (where / "model.safetensors").read_bytes()
    blob = bytearray(good)
    blob[-3] ^= 1
    (where / "model.safetensors").write_bytes(bytes(blob))
    with pytest.warns(UserWarning, match="damaged"):
        assert artifacts.get("spectrum_map", "smoke", progress=False) == where
    assert (where / "model.safetensors").read_bytes() == good


# --------------------------------------------------------------------------- malformed side files


@pytest.mark.parametrize("content", [b"", b"id\tfold\nG01_S01\ttrain\n", b"\x89PNG\r\n\x1a\n\x00\xff\xfe"])
def test_a_malformed_split_table_is_one_line_everywhere_and_inspect_flags_it(content, tmp_path,
                                                                            capsys):
    from dnalib.simulate import simulate_community

    gs = simulate_community(0, n_genera=2, species_per_genus=2, genome_length=20_000).write(tmp_path / "gs")
    (gs / "split.tsv").write_bytes(content)
    assert main(["inspect", str(gs)]) == 1
    assert "split.tsv" in _err(capsys)
    for command in TRAIN:
        argv = [*TRAIN[command], "--data", str(gs), "--out", str(tmp_path / command), "--no-progress"]
        if command == "finetune":
            argv = [a for a in argv if a not in ("scratch", "--label-free", "--init")]
            argv += ["--init", str(ROOT / "dnalib" / "weights" / "hour" / "mlm")]
        assert main(argv) == 1, command
        assert "split.tsv" in _err(capsys)


def test_non_utf8_bytes_in_the_log_are_skipped_on_resume_with_a_warning(tmp_path):
    from dnalib import training as T

    log = tmp_path / T.LOG_FILE
    log.write_bytes(b'{"step": 1, "loss": 1.0}\n\xff\xfe{"step": 2\n{"step": 2, "loss": 0.5}\n')
    with pytest.warns(UserWarning, match="1 damaged line"):
        assert [r["step"] for r in T.read_log(log)] == [1, 2]


@pytest.mark.parametrize("command", ["pretrain", "spectrum-map"])
def test_a_full_disk_while_checkpointing_or_publishing_is_one_line_and_nothing_is_trusted(
        command, small_disk, gs, tmp_path, capsys):
    out = small_disk / "m"
    argv = [*TRAIN[command], "--data", str(gs), "--out", str(out), "--no-progress"]
    if command == "pretrain":
        argv[argv.index("--checkpoint-every") + 1] = "1"
    assert main(argv) == 1
    err = _err(capsys)
    assert "cannot write the" in err and "No space left on device" in err
    assert not list(out.rglob("*.tmp-*")) and not (out / ".final-tmp").exists()
    fasta = _fasta(tmp_path / "a.fa")
    assert main(["embed", "--model", str(out), "--input", str(fasta), "--out", str(tmp_path / "e"),
                 "--no-progress"]) == 1
    _err(capsys)


def test_a_full_disk_names_the_file_being_written_and_leaves_no_temp_file(small_disk):
    from dnalib.io import write_text_atomically

    with open(small_disk / "filler", "wb") as fh, pytest.raises(OSError):
        while True:
            fh.write(b"\0" * 65536)
            fh.flush()
    with pytest.raises(OSError) as caught:
        write_text_atomically(small_disk / "results.json", "x" * 200_000)
    assert caught.value.filename == str(small_disk / "results.json")
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler"]


def test_embed_over_an_earlier_result_never_pairs_new_rows_with_old_ids(tmp_path, capsys, monkeypatch):
    from dnalib.embed import load_embeddings
    from dnalib.errors import DnalibError

    first, second = _fasta(tmp_path / "a.fa"), tmp_path / "b.fa"
    second.write_text("".join(f">other{i}\nGGGCCCAT\n" for i in range(5)))
    assert main(["embed", "--model", "tnf", "--input", str(first), "--out", str(tmp_path / "e"),
                 "--no-progress"]) == 0
    real_replace = os.replace

    def stop_before_ids(src, dst):
        if str(dst).endswith(".ids.txt"):
            raise KeyboardInterrupt  # killed between the two renames
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", stop_before_ids)
    with pytest.raises(KeyboardInterrupt):
        from dnalib.embed import embed_file

        embed_file("tnf", second, tmp_path / "e", progress=False)
    monkeypatch.setattr(os, "replace", real_replace)
    with pytest.raises(DnalibError, match="does not exist"):
        load_embeddings(tmp_path / "e")
