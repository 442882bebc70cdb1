"""Embedding with chunking, batching and pooling."""

from __future__ import annotations

import numpy as np
import pytest

from dnalib.errors import DnalibError
from dnalib.inference import embed_sequences, max_chunk_length
from dnalib.models import model_config, new_mlm_model
from dnalib.tokenizers import make_tokenizer


@pytest.fixture(scope="module")
def tiny():
    tok = make_tokenizer("kmer", k=4)
    model = new_mlm_model(model_config(tok, profile="smoke", max_tokens=40), seed=0)
    return model, tok


def _random(n, length, seed=0):
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("ACGT"), length)) for _ in range(n)]


def test_max_chunk_length_matches_the_position_budget(tiny):
    model, tok = tiny
    assert max_chunk_length(model, tok) == 38 + 4 - 1  # 40 tokens - [CLS] [SEP], 4-mers


def test_long_sequences_are_the_length_weighted_mean_of_their_chunks(tiny):
    model, tok = tiny
    seq = _random(1, 100)[0]
    whole = embed_sequences(model, tok, [seq], chunk_length=41)[0]
    parts = embed_sequences(model, tok, [seq[:41], seq[41:82], seq[82:]], chunk_length=41)
    expected = (parts * np.array([41, 41, 18])[:, None]).sum(0) / 100
    np.testing.assert_allclose(whole, expected, rtol=1e-5, atol=1e-6)


def test_batching_and_order_do_not_change_embeddings(tiny):
    model, tok = tiny
    seqs = [s[: 10 + 7 * i] for i, s in enumerate(_random(12, 120, seed=1))]
    a = embed_sequences(model, tok, seqs, batch_size=64)
    b = embed_sequences(model, tok, seqs, batch_size=1)
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert a.shape == (12, model.config.hidden_size) and a.dtype == np.float32


def test_empty_input_is_a_clear_error(tiny):
    model, tok = tiny
    with pytest.raises(DnalibError, match="empty"):
        embed_sequences(model, tok, ["ACGT", ""])
    with pytest.raises(DnalibError, match="no sequences"):
        embed_sequences(model, tok, [])


def test_embed_with_baselines_and_bad_names(tmp_path):
    import numpy as np
    import pytest

    from dnalib.embed import embed_with
    from dnalib.errors import DnalibError
    from dnalib.kmers import kmer_spectrum, tnf

    seqs = ["ACGTACGTTAGCATCGATCGATCGGCTA" * 5, "TTGACCAGTAGGCATGCAATCCGA" * 6]
    assert np.allclose(embed_with("tnf", seqs), tnf(seqs))
    assert np.allclose(embed_with("kmer6", seqs), kmer_spectrum(seqs, 6, canonical=True, normalize="l2"))
    with pytest.raises(DnalibError, match="neither a baseline"):
        embed_with(str(tmp_path), seqs)
    with pytest.raises(DnalibError, match="no sequences"):
        embed_with("tnf", [])


@pytest.fixture(scope="module")
def saved(tiny, tmp_path_factory):
    model, tok = tiny
    path = tmp_path_factory.mktemp("model") / "tiny"
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def _fasta(path, seqs, prefix="r"):
    from dnalib.io import write_fasta

    write_fasta({f"{prefix}{i}": s for i, s in enumerate(seqs)}, path)
    return path


def test_embed_file_streams_in_blocks_and_keeps_ids(saved, tmp_path):
    from dnalib.embed import embed_file, embed_with, load_embeddings

    seqs = [s[: 30 + 9 * i] for i, s in enumerate(_random(23, 250, seed=2))]
    fa = _fasta(tmp_path / "in.fa", seqs)
    info = embed_file(str(saved), fa, tmp_path / "out" / "emb", block_size=5, progress=False)
    assert info["n"] == 23 and info["resumed_from"] == 0
    ids, emb = load_embeddings(tmp_path / "out" / "emb")
    assert ids == [f"r{i}" for i in range(23)]
    np.testing.assert_allclose(emb, embed_with(str(saved), seqs), rtol=1e-4, atol=1e-5)
    assert not list((tmp_path / "out").glob("*.part"))  # nothing half-written is left
    # baselines through the same interface; a trailing .npy in the prefix is accepted
    embed_file("tnf", fa, tmp_path / "tnf.npy", block_size=7, progress=False)
    ids, emb = load_embeddings(tmp_path / "tnf")
    np.testing.assert_allclose(emb, embed_with("tnf", seqs), rtol=1e-6)


def test_embed_file_resumes_an_interrupted_run_without_redoing_rows(saved, tmp_path, monkeypatch):
    import dnalib.embed as E

    seqs = _random(12, 80, seed=3)
    fa = _fasta(tmp_path / "in.fa", seqs)
    full = E.embed_with(str(saved), seqs)
    real = E.load_embedder
    calls = []

    def failing(model, **kw):
        f = real(model, **kw)

        def g(batch):
            calls.append(len(batch))
            if len(calls) == 3:  # the third block dies (Ctrl-C, OOM, power)
                raise KeyboardInterrupt
            return f(batch)
        return g

    monkeypatch.setattr(E, "load_embedder", failing)
    with pytest.raises(KeyboardInterrupt):
        E.embed_file(str(saved), fa, tmp_path / "emb", block_size=4, progress=False)
    assert not (tmp_path / "emb.npy").exists()
    # a half-written last line of ids (crash between the two writes) is dropped, not trusted
    with open(tmp_path / "emb.ids.txt.part", "a") as fh:
        fh.write("r8")
    with pytest.raises(DnalibError, match="resume"):
        E.embed_file(str(saved), fa, tmp_path / "emb", block_size=4, progress=False)
    seen = []

    def counting(model, **kw):
        f = real(model, **kw)
        return lambda batch: (seen.append(len(batch)), f(batch))[1]

    monkeypatch.setattr(E, "load_embedder", counting)
    info = E.embed_file(str(saved), fa, tmp_path / "emb", block_size=4, resume=True, progress=False)
    assert info["resumed_from"] == 8
    assert sum(seen) == 1 + 4  # the dimension probe + the one block that was missing
    ids, emb = E.load_embeddings(tmp_path / "emb")
    assert ids == [f"r{i}" for i in range(12)]
    np.testing.assert_allclose(emb, full, rtol=1e-4, atol=1e-5)


def test_embed_file_refuses_to_resume_onto_a_different_input(saved, tmp_path):
    from dnalib.embed import embed_file

    fa = _fasta(tmp_path / "a.fa", _random(6, 60, seed=4))
    (tmp_path / "emb.npy.part").write_bytes(np.zeros(256, np.float32).tobytes())  # one TNF row
    (tmp_path / "emb.ids.txt.part").write_text("other0\n")
    # .part files with no record of the model and input that wrote them are not trusted
    with pytest.raises(DnalibError, match="nothing records which model and input"):
        embed_file("tnf", fa, tmp_path / "emb", resume=True, progress=False)
    # an interrupted run on another file: the record names both inputs
    (tmp_path / "emb.part.json").write_text(
        '{"format": 1, "embedder": {"baseline": "tnf", "settings": {"k": 4, "canonical": false, '
        '"normalize": "l2"}}, "input": {"path": "/elsewhere/b.fa", "bytes": 9, "sha256": "ab"}}')
    with pytest.raises(DnalibError, match="/elsewhere/b.fa.*a.fa differs"):
        embed_file("tnf", fa, tmp_path / "emb", resume=True, progress=False)


def test_embed_file_bad_input_is_a_clear_error(saved, tmp_path):
    from dnalib.embed import embed_file, load_embeddings
    from dnalib.errors import DataNotFoundError, InputFormatError

    with pytest.raises(DataNotFoundError):
        embed_file("tnf", tmp_path / "missing.fa", tmp_path / "e", progress=False)
    bad = tmp_path / "bad.fa"
    bad.write_text(">a\nACGT\n>b\nAC!GT\n")
    with pytest.raises(InputFormatError):
        embed_file("tnf", bad, tmp_path / "e", progress=False)
    with pytest.raises(DnalibError, match="directory"):
        embed_file("tnf", _fasta(tmp_path / "ok.fa", ["ACGT" * 10]), tmp_path, progress=False)
    with pytest.raises(DnalibError, match="does not exist"):
        load_embeddings(tmp_path / "nothing")


def test_cli_embed(saved, tmp_path, capsys):
    from dnalib.cli import main
    from dnalib.embed import load_embeddings

    fa = _fasta(tmp_path / "in.fa.gz", _random(5, 90, seed=5))
    assert main(["embed", "--model", str(saved), "--input", str(fa), "--out", str(tmp_path / "e"),
                 "--no-progress"]) == 0
    assert "5 embeddings" in capsys.readouterr().out
    ids, emb = load_embeddings(tmp_path / "e")
    assert len(ids) == 5 and emb.shape[0] == 5
    assert main(["embed", "--model", "nope", "--input", str(fa), "--out", str(tmp_path / "f")]) == 1


def _reference_embedding(model, tok, seq, chunk):
    """The plain loop: each chunk through the Hugging Face tokenizer and the model on its own,
    masked mean over its sequence tokens, chunk means weighted by chunk length."""
    import torch

    encoder = model.base_model.eval()
    special = set(tok.all_special_ids) - {tok.unk_token_id}
    total, weight = 0.0, 0
    for a in range(0, len(seq), chunk):
        piece = seq[a:a + chunk]
        enc = tok(piece, return_tensors="pt")
        with torch.inference_mode():
            hidden = encoder(**enc).last_hidden_state[0]
        keep = torch.tensor([i not in special for i in enc["input_ids"][0].tolist()])
        # a remainder shorter than k has no k-mer token: it pools to zeros (masked_mean)
        mean = hidden[keep].mean(0) if keep.any() else torch.zeros(hidden.shape[1])
        total = total + mean.double().numpy() * len(piece)
        weight += len(piece)
    return total / weight


@pytest.fixture(scope="module")
def plain_loop(tiny):
    """Mixed lengths, ambiguous bases, lower case and short remainders, with the plain loop's
    embeddings (computed once for the module)."""
    model, tok = tiny
    rng = np.random.default_rng(5)
    seqs = ["".join(rng.choice(list("ACGTacgtN"), int(n), p=[0.22] * 4 + [0.03] * 4 + [0.0]))
            for n in rng.integers(5, 300, 20)]
    seqs[3] = seqs[3][:20] + "NNNN" + seqs[3][20:]
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)  # one small pass at a time: faster on one thread
    try:
        return seqs, np.stack([_reference_embedding(model, tok, s, 41) for s in seqs])
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("threads", [1, 2])
def test_embeddings_match_a_plain_per_chunk_loop(tiny, plain_loop, threads):
    """Sorting, batching across sequences, small CPU passes and one thread per core change no
    number beyond float32 rounding."""
    import torch

    model, tok = tiny
    seqs, expected = plain_loop
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        got = embed_sequences(model, tok, seqs, chunk_length=41)
        assert torch.get_num_threads() == threads  # the per-core threads leave the setting as it was
    finally:
        torch.set_num_threads(before)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_cpu_passes_hold_at_most_the_token_budget(tiny, monkeypatch):
    from dnalib import inference

    model, tok = tiny
    seqs = _random(20, 150, seed=2)
    default = embed_sequences(model, tok, seqs, chunk_length=41)
    shapes = []
    handle = model.base_model.register_forward_hook(
        lambda mod, args, kwargs, out: shapes.append(tuple(kwargs["input_ids"].shape)),
        with_kwargs=True)
    monkeypatch.setattr(inference, "CPU_TOKENS_PER_PASS", 120)
    try:
        small = embed_sequences(model, tok, seqs, chunk_length=41, batch_size=64)
    finally:
        handle.remove()
    assert shapes and all(rows * width <= 120 for rows, width in shapes)
    assert sum(rows for rows, _ in shapes) == 20 * 4  # every chunk once
    np.testing.assert_allclose(small, default, rtol=1e-5, atol=1e-6)


def test_an_error_in_a_pass_reaches_the_caller_and_the_thread_setting_is_restored(tiny, monkeypatch):
    import torch

    model, tok = tiny
    encoder = model.base_model
    calls = []

    def broken(*args, **kwargs):
        calls.append(1)
        raise RuntimeError("pass failed")

    monkeypatch.setattr(encoder, "forward", broken)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with pytest.raises(RuntimeError, match="pass failed"):
            embed_sequences(model, tok, _random(40, 150, seed=3), chunk_length=41, batch_size=1)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert calls
