"""Bad invocations of `dnalib` fail safe: one line, a non-zero exit, nothing a later run would trust.

Every case runs `dnalib.cli.main` in-process and checks the exit status (1 for
a failure found while running, 2 for a bad command-line value, as argparse
does), that stderr is exactly one `dnalib: error:` line (or argparse's usage
error ending in one `dnalib COMMAND: error:` line), that no traceback is shown
and that no file was left behind.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import dnalib.embed as E
from dnalib.cli import main
from dnalib.errors import DnalibError
from dnalib.io import write_fasta

UNWRITABLE = "/proc/dnalib-test/out"  # cannot be created, not even by root


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """Inputs shared by the cases: a tiny model, damaged copies of it, sequence files, a genome set."""
    from dnalib.models import model_config, new_mlm_model
    from dnalib.simulate import simulate_community
    from dnalib.tokenizers import make_tokenizer

    root = tmp_path_factory.mktemp("bad")
    tok = make_tokenizer("kmer", k=4)
    for name, seed in (("model", 0), ("other_model", 1)):
        model = new_mlm_model(model_config(tok, profile="smoke", max_tokens=40), seed=seed)
        model.save_pretrained(root / name)
        tok.save_pretrained(root / name)
    no_weights = shutil.copytree(root / "model", root / "no_weights")
    (no_weights / "model.safetensors").unlink()
    bad_config = shutil.copytree(root / "model", root / "bad_config")
    (bad_config / "config.json").write_text('{"model_type": "roberta", ')
    truncated = shutil.copytree(root / "model", root / "truncated")
    blob = (root / "model" / "model.safetensors").read_bytes()
    (truncated / "model.safetensors").write_bytes(blob[: len(blob) // 2])
    rng = np.random.default_rng(0)
    seqs = {f"r{i}": "".join(rng.choice(list("ACGT"), 60 + 7 * i)) for i in range(9)}
    write_fasta(seqs, root / "a.fa")
    write_fasta({k: v[::-1] for k, v in seqs.items()}, root / "b.fa")
    (root / "bad_late.fa").write_text(">r0\nACGTACGTAC\n>r1\nACGTTGCA\n>r2\nACG!T\n")
    simulate_community(0, n_genera=2, species_per_genus=2, genome_length=20_000).write(root / "gs")
    return root


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


# name: (argv with {d} = the fixture directory and {w} = a fresh work directory, exit status,
#        text the message must contain)
CASES = {
    "embed --batch-size -1 with a model": (
        "embed --model {d}/model --input {d}/a.fa --out {w}/e --batch-size -1", 2, "--batch-size"),
    "embed --batch-size 0": (
        "embed --model {d}/model --input {d}/a.fa --out {w}/e --batch-size 0", 2, "at least 1"),
    "embed --block-size 0": ("embed --model tnf --input {d}/a.fa --out {w}/e --block-size 0", 2,
                             "--block-size"),
    "embed unknown device": ("embed --model {d}/model --input {d}/a.fa --out {w}/e --device tpu9", 2,
                             "--device"),
    "embed unwritable --out": ("embed --model tnf --input {d}/a.fa --out " + UNWRITABLE, 1,
                               "cannot create files"),
    "embed --out is a directory": ("embed --model tnf --input {d}/a.fa --out {w}", 1, "directory"),
    "embed model without weights": ("embed --model {d}/no_weights --input {d}/a.fa --out {w}/e", 1,
                                    "no weights"),
    "embed invalid config.json": ("embed --model {d}/bad_config --input {d}/a.fa --out {w}/e", 1,
                                  "config.json is not valid JSON"),
    "embed truncated safetensors": ("embed --model {d}/truncated --input {d}/a.fa --out {w}/e", 1,
                                    "truncated"),
    "embed bad record after good blocks": (
        "embed --model kmer6 --input {d}/bad_late.fa --out {w}/e --block-size 1", 1, "'r2'"),
    "embed missing input": ("embed --model tnf --input {d}/nope.fa --out {w}/e", 1, "nope.fa"),
    "evaluate unwritable --out": ("evaluate --model tnf --genomes {d}/gs --out " + UNWRITABLE + ".json",
                                  1, "cannot create files"),
    "evaluate --per-genome 0": ("evaluate --model tnf --genomes {d}/gs --out {w}/r.json --per-genome 0",
                                2, "--per-genome"),
    "evaluate --batch-size -1": ("evaluate --model tnf --genomes {d}/gs --out {w}/r.json --batch-size -1",
                                 2, "--batch-size"),
    "simulate unwritable --out": ("simulate --out " + UNWRITABLE, 1, "cannot create files"),
    "simulate --genera 0": ("simulate --out {w}/c --genera 0", 2, "--genera"),
    "simulate --eval-fraction 1.5": ("simulate --out {w}/c --eval-fraction 1.5", 2, "--eval-fraction"),
    "pretrain --grad-accum 0": ("pretrain --data {d}/a.fa --out {w}/m --grad-accum 0", 2, "--grad-accum"),
    "pretrain --checkpoint-every -1": ("pretrain --data {d}/a.fa --out {w}/m --checkpoint-every -1", 2,
                                       "--checkpoint-every"),
    "pretrain --lr nan": ("pretrain --data {d}/a.fa --out {w}/m --lr nan", 2, "--lr"),
    "pretrain unwritable --out": ("pretrain --profile smoke --data {d}/a.fa --out " + UNWRITABLE, 1,
                                  "cannot create files"),
    "finetune --steps 10,x": ("finetune --init {d}/model --data {d}/gs --out {w}/m --steps 10,x", 2,
                              "--steps"),
    "finetune --batch-pairs 1": ("finetune --init {d}/model --data {d}/gs --out {w}/m --batch-pairs 1",
                                 2, "--batch-pairs"),
    "finetune unwritable --out": ("finetune --profile smoke --init {d}/model --data {d}/gs --out "
                                  + UNWRITABLE, 1, "cannot create files"),
}


def _run(argv: list[str], capsys) -> tuple[int, str]:
    try:
        status = main(argv)
    except SystemExit as exc:  # argparse: a bad command-line value
        status = exc.code
    return status, capsys.readouterr().err


def _assert_one_line_error(status: int, err: str, expected: int, must: str) -> None:
    assert status == expected, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    if expected == 2:
        assert lines[0].startswith("usage: dnalib"), err
        assert lines[-1].startswith("dnalib ") and ": error: argument " in lines[-1], err
    else:
        assert len(lines) == 1 and lines[0].startswith("dnalib: error: "), err
    assert must in lines[-1], err


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_invocation_fails_in_one_line_and_leaves_nothing(case, env, tmp_path, capsys):
    argv, expected, must = CASES[case]
    before = _files(env)
    argv = argv.format(d=env, w=tmp_path).split()
    if argv[0] != "simulate":
        argv.append("--no-progress")  # the progress bar is not part of the message
    status, err = _run(argv, capsys)
    _assert_one_line_error(status, err, expected, must)
    assert _files(tmp_path) == set(), "a failed run left files behind"
    assert _files(env) == before


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_on_a_cpu_machine_is_a_command_line_error(env, tmp_path, capsys):
    status, err = _run(["embed", "--model", str(env / "model"), "--input", str(env / "a.fa"),
                        "--out", str(tmp_path / "e"), "--device", "cuda"], capsys)
    _assert_one_line_error(status, err, 2, "--device cpu")


def test_debug_shows_the_traceback(env, tmp_path, capsys, monkeypatch):
    argv = ["embed", "--model", str(env / "no_weights"), "--input", str(env / "a.fa"),
            "--out", str(tmp_path / "e")]
    with pytest.raises(DnalibError, match="no weights"):
        main([*argv, "--debug"])
    with pytest.raises(DnalibError, match="no weights"):
        main(["--debug", *argv])
    monkeypatch.setenv("DNALIB_DEBUG", "1")
    with pytest.raises(DnalibError, match="no weights"):
        main(argv)


def test_os_errors_are_one_line(env, tmp_path, capsys, monkeypatch):
    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device", str(tmp_path / "e.npy.part"))

    monkeypatch.setattr(E, "load_embedder", full_disk)
    status, err = _run(["embed", "--model", "tnf", "--input", str(env / "a.fa"), "--out",
                        str(tmp_path / "e")], capsys)
    _assert_one_line_error(status, err, 1, "free some disk space")


def test_short_and_ambiguous_records_are_counted_in_one_warning(tmp_path, capsys):
    (tmp_path / "s.fa").write_text(">ok\nACGTACGTACGTAA\n>short\nACG\n>ns\nNNNNNNNNNNNN\n")
    assert main(["embed", "--model", "kmer6", "--input", str(tmp_path / "s.fa"), "--out",
                 str(tmp_path / "e"), "--no-progress"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("dnalib: warning: 2 of 3 records"), err
    assert "'short'" in err[0] and "'ns'" in err[0]


def test_embedding_a_model_prints_no_load_report(env, tmp_path, capfd):
    assert main(["embed", "--model", str(env / "model"), "--input", str(env / "a.fa"), "--out",
                 str(tmp_path / "e"), "--no-progress"]) == 0
    err = capfd.readouterr().err
    assert "LOAD REPORT" not in err and "lm_head" not in err and err.strip() == "", err


# --------------------------------------------------------------------------- resuming embed




def _embed(model, fa, out, *extra):
    return ["embed", "--model", str(model), "--input", str(fa), "--out", str(out),
            "--block-size", "3", "--no-progress", *extra]


RESUME_MISMATCHES = {
    # name: (model of the interrupted run, model now, input now, text the message must contain)
    "different model": ("{d}/model", "{d}/other_model", "{d}/a.fa", "model directory"),
    "model instead of baseline": ("tnf", "{d}/model", "{d}/a.fa", "baseline tnf"),
    "different baseline": ("tnf", "kmer6", "{d}/a.fa", "not baseline kmer6"),
    "different input": ("tnf", "tnf", "{d}/b.fa", "b.fa differs"),
    "input changed in place": ("tnf", "tnf", "{w}/in.fa", "has changed"),
}


@pytest.mark.parametrize("case", sorted(RESUME_MISMATCHES))
def test_resume_refuses_parts_written_by_another_model_or_input(case, env, tmp_path, capsys,
        monkeypatch, interrupt_embed_after_first_block):
    first, now, fa_now, must = (x.format(d=env, w=tmp_path) for x in RESUME_MISMATCHES[case])
    fa = tmp_path / "in.fa"
    shutil.copy(env / "a.fa", fa)
    real = interrupt_embed_after_first_block()
    assert main(_embed(first, fa, tmp_path / "e")) == 130
    assert capsys.readouterr().err.strip() == "dnalib: interrupted"
    monkeypatch.setattr(E, "load_embedder", real)
    parts = {p: p.read_bytes() for p in tmp_path.glob("e.*part*")}
    assert len(parts) == 3  # rows, ids and the record of what wrote them
    if case == "input changed in place":
        shutil.copy(env / "b.fa", fa)
    elif fa_now != str(fa):
        fa = Path(fa_now)
    status, err = _run(_embed(now, fa, tmp_path / "e", "--resume"), capsys)
    _assert_one_line_error(status, err, 1, must)
    assert "cannot resume" in err
    assert {p: p.read_bytes() for p in tmp_path.glob("e.*part*")} == parts  # left for the right run
    assert not (tmp_path / "e.npy").exists()


@pytest.mark.parametrize("model", ["tnf", "model"])
def test_resume_with_the_same_model_and_input_equals_an_uninterrupted_run(
        model, env, tmp_path, capsys, monkeypatch, interrupt_embed_after_first_block):
    model = model if model == "tnf" else str(env / model)
    assert main(_embed(model, env / "a.fa", tmp_path / "full")) == 0
    real = interrupt_embed_after_first_block()
    assert main(_embed(model, env / "a.fa", tmp_path / "e")) == 130
    record = json.loads((tmp_path / "e.part.json").read_text())
    assert record["input"]["sha256"] == E.file_sha256(env / "a.fa")
    monkeypatch.setattr(E, "load_embedder", real)
    assert main(_embed(model, env / "a.fa", tmp_path / "e", "--resume")) == 0
    assert "3 were done before" in capsys.readouterr().out
    ids, emb = E.load_embeddings(tmp_path / "e")
    full_ids, full = E.load_embeddings(tmp_path / "full")
    assert ids == full_ids
    np.testing.assert_array_equal(emb, full)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.ids.txt", "e.npy", "full.ids.txt",
                                                          "full.npy"]
