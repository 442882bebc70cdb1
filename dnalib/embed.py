"""Embedding sequences with a trained encoder.

An embedding is the masked mean of the encoder's last hidden layer over the
sequence's real tokens ([CLS], [SEP] and padding excluded; DNABERT-S).

Sequences longer than the model reads at once are cut into consecutive chunks
of ``chunk_length`` bases (the last chunk is the remainder, so no base is
dropped); each chunk is embedded on its own and the sequence embedding is the
mean of its chunk embeddings weighted by chunk length. Chunks are sorted by
length and batched, so padding is minimal; inference runs without gradients
and, on a GPU, in bf16.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dnalib.errors import DnalibError
from dnalib.models import base_model, content_mask, masked_mean


def max_chunk_length(model: Any, tokenizer: Any) -> int:
    """The longest chunk, in bases, that *model* reads in one pass.

    Parameters
    ----------
    model
        A Hugging Face encoder (with or without an MLM head).
    tokenizer
        Its tokenizer (from :mod:`dnalib.tokenizers`).

    Returns
    -------
    int
    """
    from dnalib.tokenizers import tokenizer_scheme

    cfg = model.config
    max_tokens = cfg.max_position_embeddings
    if getattr(cfg, "model_type", "") == "roberta":
        max_tokens -= cfg.pad_token_id + 1  # RoBERTa numbers positions from pad + 1
    body = max_tokens - 2
    scheme, k = tokenizer_scheme(tokenizer)
    if scheme == "kmer":
        return body + k - 1
    if scheme == "nonoverlap":
        return body * k
    if scheme == "char":
        return body
    raise DnalibError(
        f"cannot tell how many bases fit for a {scheme!r} tokenizer: pass chunk_length explicitly"
    )


def _chunks(seqs: Sequence[str], length: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    pieces, owner, weight = [], [], []
    for i, s in enumerate(seqs):
        if not s:
            raise DnalibError(f"sequence {i} is empty: remove empty sequences before embedding")
        for a in range(0, len(s), length):
            piece = s[a:a + length]
            pieces.append(piece)
            owner.append(i)
            weight.append(len(piece))
    return pieces, np.asarray(owner), np.asarray(weight, dtype=np.float64)


@torch.inference_mode()
def embed_sequences(
    model: Any,
    tokenizer: Any,
    seqs: Sequence[str],
    *,
    chunk_length: int | None = None,
    batch_size: int = 64,
    device: str | None = None,
    progress: bool = False,
) -> np.ndarray:
    """Embed DNA sequences with a trained encoder.

    Parameters
    ----------
    model
        A Hugging Face encoder or ``*ForMaskedLM`` model (its encoder is used).
    tokenizer
        The model's tokenizer.
    seqs : sequence of str
        DNA sequences of any length (ambiguous bases become [UNK] tokens).
    chunk_length : int, optional
        Bases per chunk (default: :func:`max_chunk_length`).
    batch_size : int
        Chunks per forward pass.
    device : str, optional
        Where to run (default: the model's device).
    progress : bool
        Show a progress bar.

    Returns
    -------
    numpy.ndarray
        ``(len(seqs), hidden_size)`` float32 embeddings, in input order.
    """
    from tqdm.auto import tqdm

    from dnalib.tokenizers import fast_encode

    seqs = list(seqs)
    if not seqs:
        raise DnalibError("no sequences to embed")
    length = chunk_length or max_chunk_length(model, tokenizer)
    if length < 1:
        raise DnalibError(f"chunk_length must be positive; got {length}")
    dev = torch.device(device) if device else next(model.parameters()).device
    encoder = base_model(model).to(dev)
    was_training = encoder.training
    encoder.eval()
    pieces, owner, weight = _chunks(seqs, length)
    order = np.argsort([len(p) for p in pieces], kind="stable")
    dim = encoder.config.hidden_size
    chunk_emb = np.zeros((len(pieces), dim), dtype=np.float32)
    autocast = dev.type == "cuda"
    for start in tqdm(range(0, len(order), batch_size), disable=not progress, desc="embed"):
        idx = order[start:start + batch_size]
        enc = fast_encode(tokenizer, [pieces[i] for i in idx], dtype=np.int64)
        ids = torch.from_numpy(enc["input_ids"]).to(dev)
        att = torch.from_numpy(enc["attention_mask"]).to(dev)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=autocast):
            mask = None if bool(att.all()) else att
            hidden = encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        pooled = masked_mean(hidden.float(), content_mask(ids, att, tokenizer))
        chunk_emb[idx] = pooled.cpu().numpy()
    encoder.train(was_training)
    out = np.zeros((len(seqs), dim), dtype=np.float64)
    np.add.at(out, owner, chunk_emb * weight[:, None])
    totals = np.bincount(owner, weights=weight, minlength=len(seqs))
    return (out / totals[:, None]).astype(np.float32)


#: Baselines :func:`embed_with` knows by name (no model directory needed).
BASELINES = ("tnf", "kmer6")


def load_embedder(
    model: str,
    *,
    batch_size: int = 64,
    device: str | None = None,
    progress: bool = False,
) -> Callable[[Sequence[str]], np.ndarray]:
    """Load a baseline or a saved model once; return a function that embeds sequences.

    Parameters
    ----------
    model : str
        ``"tnf"`` (256 tetranucleotide frequencies, L2-normalised, the
        DNABERT-S baseline), ``"kmer6"`` (canonical 6-mer spectrum,
        L2-normalised) or a model directory (``dnalib pretrain`` /
        ``dnalib finetune`` output, or any directory with a dnalib tokenizer).
    batch_size, device, progress
        As in :func:`embed_sequences` (ignored for baselines).

    Returns
    -------
    callable
        ``f(seqs) -> (len(seqs), dim)`` float32 array; the model stays loaded
        between calls (what :func:`embed_file` uses block after block).
    """
    from dnalib import kmers

    if model == "tnf":
        return lambda seqs: kmers.tnf(_nonempty(seqs)).astype(np.float32)
    if model == "kmer6":
        return lambda seqs: kmers.kmer_spectrum(_nonempty(seqs), 6, canonical=True,
                                                normalize="l2").astype(np.float32)
    path = Path(model)
    if not (path / "config.json").exists():
        raise DnalibError(
            f"{model!r} is neither a baseline ({', '.join(BASELINES)}) nor a model directory "
            "(no config.json): pass the output directory of `dnalib pretrain` or `dnalib finetune`"
        )
    import json

    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    extra = {}
    if json.loads((path / "config.json").read_text()).get("model_type") == "roberta":
        extra["add_pooling_layer"] = False  # dnalib never uses the pooler (mean pooling)
    encoder = AutoModel.from_pretrained(path, **extra)
    tokenizer = AutoTokenizer.from_pretrained(path)
    if device:
        encoder = encoder.to(device)
    encoder.eval()
    return lambda seqs: embed_sequences(encoder, tokenizer, seqs, batch_size=batch_size,
                                        progress=progress)


def _nonempty(seqs: Sequence[str]) -> list[str]:
    seqs = list(seqs)
    if not seqs:
        raise DnalibError("no sequences to embed")
    return seqs


def embed_with(
    model: str,
    seqs: Sequence[str],
    *,
    batch_size: int = 64,
    device: str | None = None,
    progress: bool = False,
) -> np.ndarray:
    """Embed sequences with a baseline named in :data:`BASELINES` or a saved model.

    Parameters
    ----------
    model : str
        ``"tnf"``, ``"kmer6"`` or a model directory (see :func:`load_embedder`).
    seqs : sequence of str
        DNA sequences.
    batch_size, device, progress
        As in :func:`embed_sequences` (ignored for baselines).

    Returns
    -------
    numpy.ndarray
        ``(len(seqs), dim)`` float32 embeddings.
    """
    seqs = _nonempty(seqs)
    return load_embedder(model, batch_size=batch_size, device=device, progress=progress)(seqs)


def _output_paths(out: str | os.PathLike[str]) -> tuple[Path, Path]:
    """``(PREFIX.npy, PREFIX.ids.txt)`` for an output prefix (a trailing ``.npy`` is dropped)."""
    out = Path(out)
    if out.suffix == ".npy":
        out = out.with_suffix("")
    if out.is_dir():
        raise DnalibError(f"{out} is a directory: give an output prefix such as {out / 'embeddings'}")
    return out.with_name(out.name + ".npy"), out.with_name(out.name + ".ids.txt")


def _resume_state(raw: Path, ids_part: Path) -> tuple[list[str], int]:
    """Ids and row count already written by an interrupted run, trimmed to what both files hold."""
    ids = ids_part.read_text().split("\n") if ids_part.exists() else []
    complete = ids[:-1]  # the text after the last newline was not finished
    return complete, raw.stat().st_size if raw.exists() else 0


def embed_file(
    model: str,
    path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    block_size: int = 2048,
    batch_size: int = 64,
    device: str | None = None,
    resume: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Stream a FASTA/FASTQ file through a model and write the embeddings with their ids.

    Records are read and embedded *block_size* at a time, and each block's
    rows are appended to disk before the next block is read, so memory stays
    flat however large the file is. The result is ``PREFIX.npy`` (float32,
    ``(n, dim)``, row *i* = record *i* in file order; open it with
    ``numpy.load(..., mmap_mode="r")``) and ``PREFIX.ids.txt`` (record ids,
    one per line, same order). Both appear only when the whole file is done;
    until then the rows live in ``PREFIX.npy.part`` / ``PREFIX.ids.txt.part``
    and an interrupted run continues with ``resume=True`` (``--resume``)
    without embedding anything twice. Embeddings do not depend on
    *block_size* or on whether the run was resumed.

    Parameters
    ----------
    model : str
        ``"tnf"``, ``"kmer6"`` or a model directory (see :func:`load_embedder`).
    path : str or path-like
        FASTA or FASTQ, plain or compressed.
    out : str or path-like
        Output prefix (``results/emb`` writes ``results/emb.npy`` and
        ``results/emb.ids.txt``).
    block_size : int
        Records held in memory at once.
    batch_size, device
        As in :func:`embed_sequences`.
    resume : bool
        Continue an interrupted run with the same *out*.
    progress : bool
        Show a progress bar (records).

    Returns
    -------
    dict
        ``embeddings`` and ``ids`` (the two paths), ``n``, ``dim``,
        ``resumed_from`` (records found done), ``seconds``.
    """
    import time

    from tqdm.auto import tqdm

    from dnalib.io import read_sequences

    if block_size < 1:
        raise DnalibError(f"block_size must be positive; got {block_size}")
    npy, ids_path = _output_paths(out)
    raw = npy.with_name(npy.name + ".part")
    ids_part = ids_path.with_name(ids_path.name + ".part")
    records = read_sequences(path)  # a missing file fails here, before any model is loaded
    done_ids: list[str] = []
    done_bytes = 0
    if raw.exists() or ids_part.exists():
        if not resume:
            raise DnalibError(
                f"an interrupted run left {raw.name} / {ids_part.name} in {raw.parent}: continue it "
                "with resume=True (--resume), or delete those files to start again"
            )
        done_ids, done_bytes = _resume_state(raw, ids_part)
    npy.parent.mkdir(parents=True, exist_ok=True)
    embedder = load_embedder(model, batch_size=batch_size, device=device)
    dim: int | None = None
    if done_ids or done_bytes:
        # A block's rows are written before its ids: keep the records both files hold in full.
        dim = embedder(["ACGT" * 64]).shape[1]
        keep = min(done_bytes // (4 * dim), len(done_ids))
        if raw.exists():
            os.truncate(raw, keep * 4 * dim)
        done_ids = done_ids[:keep]
        ids_part.write_text("".join(i + "\n" for i in done_ids))
    t0 = time.perf_counter()
    n = 0
    bar = tqdm(disable=not progress, desc="embed", unit="seq")
    with open(raw, "ab") as fraw, open(ids_part, "a") as fids:
        block_ids: list[str] = []
        block_seqs: list[str] = []

        def flush_block() -> None:
            nonlocal dim
            emb = np.ascontiguousarray(embedder(block_seqs), dtype=np.float32)
            if dim is None:
                dim = emb.shape[1]
            fraw.write(emb.tobytes())
            fraw.flush()
            fids.write("".join(i + "\n" for i in block_ids))
            fids.flush()
            bar.update(len(block_ids))
            block_ids.clear()
            block_seqs.clear()

        for rec in records:
            if n < len(done_ids):
                if rec.id != done_ids[n]:
                    raise DnalibError(
                        f"cannot resume: record {n + 1} of {path} is {rec.id!r} but the interrupted run "
                        f"wrote {done_ids[n]!r} there; the input changed, so delete {raw} and "
                        f"{ids_part} and start again"
                    )
                n += 1
                bar.update(1)
                continue
            block_ids.append(rec.id)
            block_seqs.append(rec.sequence)
            n += 1
            if len(block_ids) == block_size:
                flush_block()
        if block_ids:
            flush_block()
    bar.close()
    if n == 0:
        raw.unlink(missing_ok=True)
        ids_part.unlink(missing_ok=True)
        raise DnalibError(f"{path} holds no sequences")
    assert dim is not None  # set by the resume probe or by the first block written
    if raw.stat().st_size != n * 4 * dim:
        raise DnalibError(
            f"{raw} holds {raw.stat().st_size} bytes, not {n} rows of {dim} float32: it was "
            "written by another model or run; delete it and start again"
        )
    tmp = npy.with_name(npy.name + f".tmp-{os.getpid()}")
    rows = np.memmap(raw, dtype=np.float32, mode="r", shape=(n, dim))
    dest = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(n, dim))
    for a in range(0, n, 65536):
        dest[a:a + 65536] = rows[a:a + 65536]
    dest.flush()
    del dest, rows
    os.replace(tmp, npy)
    os.replace(ids_part, ids_path)
    raw.unlink()
    return {"embeddings": str(npy), "ids": str(ids_path), "n": n, "dim": int(dim),
            "resumed_from": len(done_ids), "seconds": time.perf_counter() - t0}


def load_embeddings(out: str | os.PathLike[str], *, mmap: bool = True) -> tuple[list[str], np.ndarray]:
    """Read what :func:`embed_file` wrote: ``(ids, embeddings)``.

    Parameters
    ----------
    out : str or path-like
        The output prefix given to :func:`embed_file` (or its ``.npy`` path).
    mmap : bool
        Memory-map the array instead of reading it into memory.

    Returns
    -------
    tuple
        The ids (list of str) and the ``(n, dim)`` float32 array.
    """
    npy, ids_path = _output_paths(out)
    for f in (npy, ids_path):
        if not f.exists():
            raise DnalibError(f"{f} does not exist: run embed_file / `dnalib embed` with this prefix first")
    ids = ids_path.read_text().splitlines()
    emb = np.load(npy, mmap_mode="r" if mmap else None)
    if emb.ndim != 2 or emb.shape[0] != len(ids):
        raise DnalibError(f"{npy} has shape {emb.shape} but {ids_path} lists {len(ids)} ids: "
                          "the two files do not belong together")
    return ids, emb


__all__ = ["BASELINES", "embed_file", "embed_sequences", "embed_with", "load_embedder",
           "load_embeddings", "max_chunk_length"]
