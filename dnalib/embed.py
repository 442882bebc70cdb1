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

from collections.abc import Sequence
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
        ``"tnf"`` (256 tetranucleotide frequencies, L2-normalised, the
        DNABERT-S baseline), ``"kmer6"`` (canonical 6-mer spectrum,
        L2-normalised) or a model directory (``dnalib pretrain`` /
        ``dnalib finetune`` output, or any directory with a dnalib tokenizer).
    seqs : sequence of str
        DNA sequences.
    batch_size, device, progress
        As in :func:`embed_sequences` (ignored for baselines).

    Returns
    -------
    numpy.ndarray
        ``(len(seqs), dim)`` float32 embeddings.
    """
    from pathlib import Path

    from dnalib import kmers

    seqs = list(seqs)
    if not seqs:
        raise DnalibError("no sequences to embed")
    if model == "tnf":
        return kmers.tnf(seqs).astype(np.float32)
    if model == "kmer6":
        return kmers.kmer_spectrum(seqs, 6, canonical=True, normalize="l2").astype(np.float32)
    path = Path(model)
    if not (path / "config.json").exists():
        raise DnalibError(
            f"{model!r} is neither a baseline ({', '.join(BASELINES)}) nor a model directory "
            "(no config.json): pass the output directory of `dnalib pretrain` or `dnalib finetune`"
        )
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    encoder = AutoModel.from_pretrained(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    if device:
        encoder = encoder.to(device)
    return embed_sequences(encoder, tokenizer, seqs, batch_size=batch_size, progress=progress)


__all__ = ["BASELINES", "embed_sequences", "embed_with", "max_chunk_length"]
