"""Embedding sequences with a trained encoder: dnalib's own or a published one.

An embedding is the masked mean of the encoder's last hidden layer over the
sequence's real tokens ([CLS], [SEP] and padding excluded; DNABERT-S), or with
``pooling="cls"`` its first token. The model is a baseline name, a model
directory or a Hugging Face model id (:mod:`dnalib.hub` lists published ones),
whatever its tokenizer (character, k-mer, BPE); a model that ships its own
code loads only with ``trust_remote_code=True`` (``--trust-remote-code``).

Sequences longer than the model reads at once are cut into consecutive chunks
of ``chunk_length`` bases (the last chunk is the remainder, so no base is
dropped); each chunk is embedded on its own and the sequence embedding is the
mean of its chunk embeddings weighted by chunk length. For a tokenizer whose
bases per token vary (BPE) every chunk is checked after tokenising and halved
until it fits the model's context: nothing is truncated. Chunks are sorted by
token count and batched, so padding is minimal (a model that takes no
attention mask, such as HyenaDNA, gets batches of one length only); inference
runs without gradients and, on a GPU, in bf16 (fp16 on a GPU without bf16
units, such as a T4: :func:`inference_dtype`).

On a CPU, passes are small (:data:`CPU_TOKENS_PER_PASS` tokens) and, for
models of ``transformers`` itself, run in ``torch.get_num_threads()`` threads
of one intra-op thread each, every thread on its own pass: faster than one
pass at a time split across the cores (no synchronisation inside small
matrix products, activations in one core's cache) and robust when another
program holds a core. The numbers do not change beyond float32 rounding
(``benchmarks/bench_embed.py`` checks them against a plain per-chunk loop to
1e-5). Inference stays float32 on a CPU: measured on 300 kmcp15 fragments of
10 kbp with the cpu profile's curriculum encoder, bf16 autocast moved
embeddings by up to 1.2e-4 and int8 dynamic quantisation by up to 7e-4, both
left the clustering ARI unchanged (0.492), and neither was faster at this
model size on a 2-core AVX-512 (AMX) Xeon.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import re
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dnalib.errors import DnalibError, InputFormatError
from dnalib.models import (
    WEIGHT_FILES,
    ModelSource,
    base_model,
    check_model_dir,
    content_mask,
    is_hub_id,
    load_encoder,
    load_tokenizer,
    masked_mean,
    resolve_model,
    unfinished_run,
)
from dnalib.spectrum_map import is_spectrum_map_dir
from dnalib.training import check_device

#: Poolings of the last hidden layer, ``mean`` (masked mean over the sequence's tokens,
#: DNABERT-S) and ``cls`` (the first token, [CLS] / <cls>).
POOLINGS = ("mean", "cls")

#: Tokenizers report this (or more) as ``model_max_length`` when they set none.
_NO_LIMIT = 10**7

#: Random bases tokenised to estimate a foreign tokenizer's bases per token.
_PROBE_BP = 1200


def _hidden_size(model: Any) -> int | None:
    cfg = getattr(model, "config", None)
    for attr in ("hidden_size", "d_model", "n_embd"):
        value = getattr(cfg, attr, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def context_tokens(model: Any, tokenizer: Any) -> int | None:
    """Tokens (special tokens included) the model reads in one pass, or None if nothing says.

    The smallest of the config's position budget (``max_position_embeddings``,
    less the pad offset of RoBERTa-style absolute positions; else
    ``max_seq_len`` / ``n_positions``) and the tokenizer's ``model_max_length``.

    Parameters
    ----------
    model
        A Hugging Face encoder.
    tokenizer
        Its tokenizer.

    Returns
    -------
    int or None
    """
    cfg = base_model(model).config
    limits = []
    n = getattr(cfg, "max_position_embeddings", None)
    model_type = getattr(cfg, "model_type", "")
    if isinstance(n, int) and n > 0:
        absolute = getattr(cfg, "position_embedding_type", "absolute") == "absolute"
        if model_type in ("roberta", "xlm-roberta", "camembert") or (model_type == "esm" and absolute):
            n -= (getattr(cfg, "pad_token_id", None) or 0) + 1  # positions numbered from pad + 1
        limits.append(n)
    else:
        for attr in ("max_seq_len", "n_positions", "max_sequence_length", "seq_len"):
            value = getattr(cfg, attr, None)
            if isinstance(value, int) and value > 0:
                limits.append(value)
                break
    mml = getattr(tokenizer, "model_max_length", None)
    if isinstance(mml, int) and 0 < mml < _NO_LIMIT:
        limits.append(mml)
    return min(limits) if limits else None


def _dnalib_budget(model: Any) -> int:
    """Tokens a dnalib model reads at once: its position budget (as dnalib has always computed it)."""
    cfg = base_model(model).config
    max_tokens = cfg.max_position_embeddings
    if getattr(cfg, "model_type", "") == "roberta":
        max_tokens -= cfg.pad_token_id + 1  # RoBERTa numbers positions from pad + 1
    return int(max_tokens)


def _token_budget(model: Any, tokenizer: Any) -> int | None:
    """Tokens per pass: the exact position budget for dnalib's own tokenizers, else :func:`context_tokens`."""
    from dnalib.tokenizers import tokenizer_scheme

    if tokenizer_scheme(tokenizer)[0] in ("kmer", "nonoverlap", "char"):
        return _dnalib_budget(model)
    return context_tokens(model, tokenizer)


def _n_special(tokenizer: Any) -> int:
    try:
        return int(tokenizer.num_special_tokens_to_add(pair=False))
    except Exception:  # noqa: BLE001 - a foreign tokenizer without the method
        return 2


def bases_per_token(tokenizer: Any) -> float:
    """Bases per token of a tokenizer on random DNA (a fixed probe of 1,200 bp).

    1 for characters, k for non-overlapping k-mers, about 1 for overlapping
    k-mers, the mean token length for BPE (lower on random DNA than on
    genomes, so chunks cut with it are conservative).

    Raises
    ------
    ~dnalib.errors.DnalibError
        When most of the probe becomes unknown tokens: the tokenizer does not
        read raw DNA (DNABERT-1, for one, expects space-separated k-mers).
    """
    rng = np.random.default_rng(20240527)
    probe = "".join(rng.choice(list("ACGT"), _PROBE_BP))
    ids = _encode_quietly(tokenizer, [probe], add_special_tokens=False)
    ids = np.asarray(ids["input_ids"][0])
    unk = getattr(tokenizer, "unk_token_id", None)
    if ids.size == 0 or (unk is not None and np.mean(ids == unk) > 0.5):
        raise DnalibError(
            f"the tokenizer ({type(tokenizer).__name__}) turns plain DNA into unknown tokens: it "
            "expects another input format (DNABERT-1, for one, wants space-separated k-mers), "
            "which dnalib does not produce"
        )
    return _PROBE_BP / ids.size


def max_chunk_length(model: Any, tokenizer: Any, max_tokens: int | None = None) -> int:
    """The longest chunk, in bases, that *model* reads in one pass.

    For dnalib's k-mer and character tokenizers this is exact (from the
    position budget). For any other tokenizer it is the token budget
    (:func:`context_tokens` or *max_tokens*, less the special tokens) times
    :func:`bases_per_token`; :func:`embed_sequences` then checks every chunk
    after tokenising and halves any that is still too long.

    Parameters
    ----------
    model
        A Hugging Face encoder (with or without an MLM head).
    tokenizer
        Its tokenizer.
    max_tokens : int, optional
        Tokens per pass, special tokens included (default: :func:`context_tokens`).

    Returns
    -------
    int
    """
    from dnalib.tokenizers import tokenizer_scheme

    scheme, k = tokenizer_scheme(tokenizer)
    if scheme in ("kmer", "nonoverlap", "char") and max_tokens is None:
        body = _dnalib_budget(model) - 2
        if scheme == "kmer":
            return body + k - 1
        if scheme == "nonoverlap":
            return body * k
        return body
    budget = max_tokens or context_tokens(model, tokenizer)
    if budget is None:
        raise DnalibError(
            f"cannot tell how many tokens {type(base_model(model)).__name__} reads at once (no "
            "max_position_embeddings / max_seq_len in its config, no model_max_length in its "
            "tokenizer): pass chunk_length or max_tokens explicitly"
        )
    body = budget - _n_special(tokenizer)
    if body < 1:
        raise DnalibError(f"a context of {budget} tokens leaves no room for sequence tokens")
    return max(1, int(body * bases_per_token(tokenizer)))


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


def _encode_quietly(tokenizer: Any, pieces: Sequence[str], **kwargs: Any) -> dict[str, Any]:
    """fast_encode without transformers' "longer than the maximum length" warning (lengths are checked here)."""
    from transformers.utils import logging as hf_logging

    from dnalib.tokenizers import fast_encode

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        return fast_encode(tokenizer, list(pieces), padding=False, dtype=np.int64, **kwargs)
    finally:
        hf_logging.set_verbosity(level)


def _token_ids(tokenizer: Any, pieces: Sequence[str]) -> list[np.ndarray]:
    if not pieces:
        return []
    enc = _encode_quietly(tokenizer, pieces)
    return [np.asarray(r, dtype=np.int64) for r in enc["input_ids"]]


def plan_chunks(
    tokenizer: Any,
    seqs: Sequence[str],
    length: int,
    max_tokens: int | None = None,
) -> tuple[list[str], np.ndarray, np.ndarray, list[np.ndarray]]:
    """Cut sequences into chunks of at most *length* bases and *max_tokens* tokens.

    Each sequence is cut into consecutive chunks of *length* bases (the last
    one the remainder, so no base is dropped); a chunk whose tokens
    (special tokens included) exceed *max_tokens* is halved until it fits, so
    nothing is ever truncated.

    Parameters
    ----------
    tokenizer
        The model's tokenizer.
    seqs : sequence of str
        Non-empty DNA sequences.
    length : int
        Bases per chunk.
    max_tokens : int, optional
        Tokens per chunk, special tokens included (None: not checked).

    Returns
    -------
    tuple
        ``(pieces, owner, weight, token_ids)``: the chunks, the index of the
        sequence each belongs to, its length in bases and its token ids.
    """
    pieces, owner, weight = _chunks(seqs, length)
    ids = _token_ids(tokenizer, pieces)
    if max_tokens is None:
        return pieces, owner, weight, ids
    todo = [i for i, t in enumerate(ids) if t.size > max_tokens]
    if not todo:
        return pieces, owner, weight, ids
    out_p, out_o, out_i = [], [], []
    queue = list(zip(pieces, owner.tolist(), ids, strict=True))
    while queue:
        piece, own, tok = queue.pop(0)
        if tok.size <= max_tokens:
            out_p.append(piece)
            out_o.append(own)
            out_i.append(tok)
            continue
        if len(piece) == 1:
            raise DnalibError(f"a single base takes {tok.size} tokens, more than the model's "
                              f"{max_tokens}: the model cannot read this input")
        half = (len(piece) + 1) // 2
        parts = [piece[:half], piece[half:]]
        queue[:0] = list(zip(parts, [own, own], _token_ids(tokenizer, parts), strict=True))
    return (out_p, np.asarray(out_o), np.asarray([len(p) for p in out_p], dtype=np.float64),
            out_i)


def _accepts(module: Any, name: str) -> bool:
    try:
        params = inspect.signature(module.forward).parameters
    except (TypeError, ValueError):
        return True
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def _first_token(tokenizer: Any) -> int | None:
    for attr in ("cls_token_id", "bos_token_id"):
        value = getattr(tokenizer, attr, None)
        if value is not None:
            return int(value)
    return None


def _pooling_ids(tokenizer: Any) -> torch.Tensor | None:
    """Ids that mean pooling leaves out: the special tokens other than [UNK] (None: none listed)."""
    unk = getattr(tokenizer, "unk_token_id", None)
    special = [i for i in (getattr(tokenizer, "all_special_ids", None) or []) if i != unk]
    return torch.tensor(sorted(set(special))) if special else None


#: Tokens (chunks x padded width) per forward pass on a CPU, whatever ``batch_size``
#: allows: a pass of this size keeps most of its activations in a core's cache (the cpu
#: profile's encoder on one core: 8 to 10 chunks of 200 bp per pass ran about 1.2x faster
#: per token than 64).
CPU_TOKENS_PER_PASS = 2048


def _batches(sizes: np.ndarray, order: np.ndarray, batch_size: int, max_tokens: int | None,
             same_length: bool) -> list[np.ndarray]:
    """Consecutive runs of *order* (chunks sorted by token count) as forward passes.

    At most *batch_size* chunks, at most *max_tokens* tokens once padded to the
    longest (always at least one chunk), and, for a model without an attention
    mask (*same_length*), chunks of one token count only.
    """
    batches, start, n = [], 0, len(order)
    while start < n:
        stop = min(start + batch_size, n)
        if same_length:
            differ = np.flatnonzero(sizes[order[start:stop]] != sizes[order[start]])
            stop = start + int(differ[0]) if differ.size else stop
        if max_tokens is not None:
            # sorted by size: the last chunk of a pass sets its padded width
            rows = np.arange(1, stop - start + 1)
            fits = np.flatnonzero(rows * sizes[order[start:stop]] <= max_tokens)
            stop = start + (int(fits[-1]) + 1 if fits.size else 1)
        batches.append(order[start:stop])
        start = stop
    return batches


def _thread_safe(encoder: Any) -> bool:
    """Whether forward passes may run in several threads at once: a model of transformers itself.

    Those keep no state between calls at inference; code shipped with a model
    (``trust_remote_code``) may cache tensors in its forward pass, so it runs in one thread.
    """
    return type(encoder).__module__.startswith("transformers.models.")


def _run_batches(fn: Callable[[np.ndarray], np.ndarray], batches: list[np.ndarray],
                 workers: int) -> Any:
    """Yield ``(batch, fn(batch))`` in order; with *workers* > 1, passes run in that many threads.

    On a CPU, *workers* threads of one intra-op thread each, every thread on its
    own small pass, use the cores better than one pass at a time split across
    them: no synchronisation inside an operation, each pass in one core's cache,
    and no core left waiting when another program holds the other one. The
    process-wide ``torch.get_num_threads()`` is restored afterwards.
    """
    if workers <= 1:
        for idx in batches:
            yield idx, fn(idx)
        return
    from concurrent.futures import ThreadPoolExecutor

    threads = torch.get_num_threads()
    pool = ThreadPoolExecutor(workers, initializer=torch.set_num_threads, initargs=(1,),
                              thread_name_prefix="dnalib-embed")
    try:
        yield from zip(batches, pool.map(fn, batches), strict=True)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        torch.set_num_threads(threads)


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
    pooling: str = "mean",
    max_tokens: int | None = None,
) -> np.ndarray:
    """Embed DNA sequences with a trained encoder (dnalib's or any Hugging Face one).

    Parameters
    ----------
    model
        A Hugging Face encoder or ``*ForMaskedLM`` model (its encoder is used).
    tokenizer
        The model's tokenizer (character, k-mer, BPE, ...).
    seqs : sequence of str
        DNA sequences of any length (ambiguous bases become [UNK] tokens).
    chunk_length : int, optional
        Bases per chunk (default: :func:`max_chunk_length`).
    batch_size : int
        Chunks per forward pass, at most (on a CPU a pass also holds at most
        :data:`CPU_TOKENS_PER_PASS` tokens).
    device : str, optional
        Where to run (default: the model's device).
    progress : bool
        Show a progress bar.
    pooling : str
        ``"mean"``, the masked mean of the last hidden layer over the chunk's
        sequence tokens (special tokens and padding excluded), or ``"cls"``, its
        first token ([CLS]).
    max_tokens : int, optional
        Tokens per pass, special tokens included (default:
        :func:`context_tokens`); every chunk is checked against it after
        tokenising and halved until it fits (never truncated).

    Returns
    -------
    numpy.ndarray
        ``(len(seqs), hidden_size)`` float32 embeddings, in input order.
    """
    from tqdm.auto import tqdm

    seqs = list(seqs)
    if not seqs:
        raise DnalibError("no sequences to embed")
    if batch_size < 1:
        raise DnalibError(f"batch_size must be a positive number of chunks per forward pass; got {batch_size}")
    if pooling not in POOLINGS:
        raise DnalibError(f"pooling must be one of {', '.join(POOLINGS)}; got {pooling!r}")
    length = chunk_length or max_chunk_length(model, tokenizer, max_tokens)
    if length < 1:
        raise DnalibError(f"chunk_length must be positive; got {length}")
    dev = torch.device(device) if device else next(model.parameters()).device
    encoder = base_model(model).to(dev)
    was_training = encoder.training
    encoder.eval()
    budget = max_tokens or _token_budget(encoder, tokenizer)
    pieces, owner, weight, token_ids = plan_chunks(tokenizer, seqs, length, budget)
    sizes = np.asarray([t.size for t in token_ids])
    order = np.argsort(sizes, kind="stable")
    takes_mask = _accepts(encoder, "attention_mask")
    on_cpu = dev.type == "cpu"
    batches = _batches(sizes, order, batch_size, CPU_TOKENS_PER_PASS if on_cpu else None,
                       same_length=not takes_mask)
    pad_id = getattr(tokenizer, "pad_token_id", None)
    pad_id = 0 if pad_id is None else int(pad_id)
    first = _first_token(tokenizer) if pooling == "cls" else None
    special = _pooling_ids(tokenizer)
    half = inference_dtype(dev)

    def pool_batch(idx: np.ndarray) -> np.ndarray:
        width = int(sizes[idx].max())
        ids_np = np.full((len(idx), width), pad_id, dtype=np.int64)
        att_np = np.zeros((len(idx), width), dtype=np.int64)
        for row, i in enumerate(idx):
            ids_np[row, :sizes[i]] = token_ids[i]
            att_np[row, :sizes[i]] = 1
        ids = torch.from_numpy(ids_np).to(dev)
        att = torch.from_numpy(att_np).to(dev)
        inputs = {"input_ids": ids}
        if takes_mask and not bool(att.all()):
            inputs["attention_mask"] = att
        with torch.inference_mode(), torch.autocast(dev.type, dtype=half or torch.bfloat16,
                                                    enabled=half is not None):
            out = encoder(**inputs)
            hidden = out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]
            if hidden.dim() != 3 or tuple(hidden.shape[:2]) != tuple(ids.shape):
                raise DnalibError(
                    f"{type(encoder).__name__} returned hidden states of shape {tuple(hidden.shape)} "
                    f"for {tuple(ids.shape)} tokens: not a per-token encoder output dnalib can pool"
                )
            if pooling == "cls":
                if first is None or bool((ids[:, 0] != first).any()):
                    raise DnalibError(
                        f"--pooling cls needs a tokenizer that puts a [CLS] token first; "
                        f"{type(tokenizer).__name__} does not (first token ids "
                        f"{sorted(set(ids[:, 0].tolist()))[:3]}): use --pooling mean"
                    )
                pooled = hidden[:, 0].float()
            else:
                mask = (att.bool() & ~torch.isin(ids, special.to(dev)) if special is not None
                        else content_mask(ids, att, tokenizer))
                pooled = masked_mean(hidden.float(), mask)
            return pooled.cpu().numpy()

    chunk_emb: np.ndarray | None = None
    workers = min(torch.get_num_threads(), len(batches)) if on_cpu and _thread_safe(encoder) else 1
    bar = tqdm(total=len(batches), disable=not progress, desc="embed")
    runs = _run_batches(pool_batch, batches, workers)
    try:
        for idx, pooled in runs:
            if chunk_emb is None:
                chunk_emb = np.zeros((len(pieces), pooled.shape[1]), dtype=np.float32)
            chunk_emb[idx] = pooled
            bar.update(1)
    finally:
        runs.close()
        bar.close()
        encoder.train(was_training)
    assert chunk_emb is not None
    out_emb = np.zeros((len(seqs), chunk_emb.shape[1]), dtype=np.float64)
    np.add.at(out_emb, owner, chunk_emb * weight[:, None])
    totals = np.bincount(owner, weights=weight, minlength=len(seqs))
    return (out_emb / totals[:, None]).astype(np.float32)


#: Baselines :func:`embed_with` knows by name (no model directory needed).
BASELINES = ("tnf", "kmer6")

#: The k-mer spectrum settings of each baseline (what a resumed ``embed`` run must match).
BASELINE_SETTINGS: dict[str, dict[str, Any]] = {
    "tnf": {"k": 4, "canonical": False, "normalize": "l2"},
    "kmer6": {"k": 6, "canonical": True, "normalize": "l2"},
}

def inference_dtype(device: Any) -> Any:
    """The autocast dtype embedding runs in on *device*: None (float32) on a CPU.

    On a GPU the training choice (:func:`dnalib.training.choose_precision`):
    bfloat16 from compute capability 8.0, float16 on older GPUs such as a
    Colab T4, which has no bf16 units (it would emulate bf16, slower than
    float32).

    Parameters
    ----------
    device : torch.device

    Returns
    -------
    torch.dtype or None
    """
    if device.type != "cuda":
        return None
    from dnalib.training import choose_precision

    name = choose_precision("auto", "cuda", torch.cuda.get_device_capability(device))
    return torch.bfloat16 if name == "bf16" else torch.float16


def _model_dir(model: str | os.PathLike[str]) -> Path:
    """A model directory checked with :func:`dnalib.models.check_model_dir` (baselines named in the error)."""
    if not (Path(model) / "config.json").is_file() and not unfinished_run(model):
        raise DnalibError(
            f"{str(model)!r} is neither a baseline ({', '.join(BASELINES)}) nor a model directory "
            "(no config.json) nor a Hugging Face model id (owner/name): pass the output directory of "
            "`dnalib pretrain` or `dnalib finetune`, a directory AutoModel loads, or a hub id "
            "(`dnalib models list`)"
        )
    return check_model_dir(model)


def _source(model: str, revision: str | None, trust_remote_code: bool) -> ModelSource:
    """Resolve a model directory or hub id (a local path that is no model dir: the baseline-aware error)."""
    if not is_hub_id(model):
        _model_dir(model)
    return resolve_model(model, revision=revision, trust_remote_code=trust_remote_code)


def _pooling(model: str, pooling: str | None) -> str:
    from dnalib.hub import lookup

    if pooling is None:
        entry = lookup(model)
        return entry.pooling if entry else "mean"
    if pooling not in POOLINGS:
        raise DnalibError(f"pooling must be one of {', '.join(POOLINGS)}; got {pooling!r}")
    return pooling


def model_fingerprint(model: str | os.PathLike[str]) -> str:
    """sha256 over the files that decide a model directory's embeddings.

    The config, the encoder weights, the tokenizer files and any Python code
    shipped with the model are hashed (name and content, in name order);
    training logs, checkpoints and a projection head are not.

    Parameters
    ----------
    model : str or path-like
        A model directory.

    Returns
    -------
    str
        The hex digest.
    """
    path = Path(model)
    names = sorted(
        f.name for f in path.iterdir()
        if f.is_file() and (
            f.name == "config.json" or f.name in WEIGHT_FILES or f.name.startswith("model-")
            or f.suffix == ".py"  # a model's own code (auto_map)
            or f.name.startswith("tokenizer") or f.name in ("special_tokens_map.json", "vocab.txt",
                                                             "vocab.json", "merges.txt")
        )
    )
    digest = hashlib.sha256()
    for name in names:
        digest.update(name.encode() + b"\0")
        with open(path / name, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def describe_embedder(model: str, *, device: str | None = None, pooling: str | None = None,
                      revision: str | None = None, trust_remote_code: bool = False) -> dict[str, Any]:
    """What decides the rows :func:`load_embedder` computes: the model's identity and settings.

    Parameters
    ----------
    model : str
        ``"tnf"``, ``"kmer6"``, a model directory (checked with
        :func:`dnalib.models.check_model_dir`) or a Hugging Face model id.
    device : str, optional
        Where a model runs: on a GPU it runs in bf16 (fp16 on GPUs without bf16 units, see
        :func:`inference_dtype`), which changes the rows slightly.
    pooling, revision, trust_remote_code
        As in :func:`load_embedder`.

    Returns
    -------
    dict
        For a baseline ``{"baseline": name, "settings": ...}``; for a
        directory with a dnalib k-mer or character tokenizer and mean pooling
        ``{"model_dir": path, "sha256": fingerprint, "precision": ...,
        "min_bases": ...}`` (as dnalib has always recorded it); for any other
        directory the same plus ``pooling``, ``revision`` (None) and
        ``trust_remote_code``; for a hub id ``{"model": id, "revision": asked,
        "commit": resolved, "pooling": ..., "trust_remote_code": ...,
        "precision": ..., "min_bases": 1}``. ``min_bases`` (also in a
        baseline's settings as ``k``) is the run of unambiguous bases a record
        needs to be seen at all.
    """
    if model in BASELINES:
        return {"baseline": model, "settings": dict(BASELINE_SETTINGS[model])}
    if is_spectrum_map_dir(model):
        k = int(json.loads((Path(model) / "config.json").read_text())["k"])
        return {"spectrum_map": str(Path(model).resolve()), "sha256": model_fingerprint(model),
                "precision": "float32", "min_bases": k}
    src = _source(model, revision, trust_remote_code)
    dev = check_device(device)
    pool = _pooling(model, pooling)

    from dnalib.tokenizers import tokenizer_scheme

    scheme, k = tokenizer_scheme(load_tokenizer(model, source=src))
    half = inference_dtype(dev) if dev is not None else None
    precision = {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(half, "float32")
    need = k if scheme in ("kmer", "nonoverlap") and k and not src.custom_code else 1
    if not src.local:
        return {"model": src.name, "revision": src.revision, "commit": src.commit, "pooling": pool,
                "trust_remote_code": src.trust_remote_code, "precision": precision, "min_bases": 1}
    path = Path(model)
    identity: dict[str, Any] = {"model_dir": str(path.resolve()), "sha256": model_fingerprint(path),
                                "precision": precision, "min_bases": need}
    if src.custom_code or scheme not in ("kmer", "nonoverlap", "char") or pool != "mean":
        identity.update(pooling=pool, revision=None, trust_remote_code=src.trust_remote_code)
    return identity


def min_bases(identity: dict[str, Any]) -> int:
    """Unambiguous bases in a row that a record needs to be embedded (from :func:`describe_embedder`)."""
    return int(identity.get("min_bases") or identity.get("settings", {}).get("k") or 1)


def unembeddable(seqs: Sequence[str], k: int) -> list[int]:
    """Indices of sequences with no run of *k* unambiguous bases (A, C, G, T).

    Such a record is shorter than *k* or mostly ambiguous (``N``): a k-mer
    spectrum of it is all zero and a k-mer model sees only unknown tokens.

    Parameters
    ----------
    seqs : sequence of str
        Upper-case DNA sequences.
    k : int
        The k-mer length (1 for a character model).

    Returns
    -------
    list of int
    """
    run = re.compile(f"[ACGT]{{{max(int(k), 1)}}}")
    return [i for i, s in enumerate(seqs) if not run.search(s)]


def unembeddable_warning(n_bad: int, n_total: int, examples: Sequence[str], k: int,
                         source: str = "the input") -> str:
    """One-line warning for records too short or too ambiguous to embed.

    Parameters
    ----------
    n_bad, n_total : int
        How many records cannot be embedded, out of how many.
    examples : sequence of str
        Labels of the first few (e.g. quoted record ids).
    k : int
        The unambiguous bases in a row a record needs (:func:`min_bases`).
    source : str
        Where the records come from, for the message.

    Returns
    -------
    str
    """
    shown = ", ".join(examples[:3]) + (", ..." if n_bad > 3 else "")
    return (f"{n_bad} of {n_total} records in {source} ({shown}) have no {k} unambiguous bases in a "
            f"row (shorter than {k} bp or mostly N): their embeddings carry no sequence information "
            f"(k-mer baselines give all-zero rows); drop those records (e.g. `seqkit seq -m {k}`) "
            "or ignore their rows")


def load_embedder(
    model: str,
    *,
    batch_size: int = 64,
    device: str | None = None,
    progress: bool = False,
    pooling: str | None = None,
    revision: str | None = None,
    trust_remote_code: bool = False,
) -> Callable[[Sequence[str]], np.ndarray]:
    """Load a baseline or a model once; return a function that embeds sequences.

    Parameters
    ----------
    model : str
        ``"tnf"`` (256 tetranucleotide frequencies, L2-normalised, the
        DNABERT-S baseline), ``"kmer6"`` (canonical 6-mer spectrum,
        L2-normalised), a model directory (``dnalib pretrain`` /
        ``dnalib finetune`` output, or any directory that ``AutoModel`` and
        ``AutoTokenizer`` load, whatever its tokenizer: character, k-mer,
        BPE) or a Hugging Face model id such as ``zhihan1996/DNABERT-S``
        (see :mod:`dnalib.hub`; downloaded once into the Hugging Face cache).
    batch_size, device, progress
        As in :func:`embed_sequences` (ignored for baselines).
    pooling : str, optional
        ``"mean"`` or ``"cls"``, as in :func:`embed_sequences`; default: the catalogue's pooling for a
        catalogued model (:func:`dnalib.hub.lookup`), else ``"mean"``.
    revision : str, optional
        Hub revision; a commit hash pins the download (hub ids only).
    trust_remote_code : bool
        Allow a model's own Python code to run (DNABERT-2/-S, Nucleotide
        Transformer v2, HyenaDNA, Caduceus need it); without it such a model
        is refused with a one-line error.

    Returns
    -------
    callable
        ``f(seqs) -> (len(seqs), dim)`` float32 array; the model stays loaded
        between calls (what :func:`embed_file` uses block after block).

    Raises
    ------
    ~dnalib.errors.DnalibError
        An unknown name, a model that cannot be loaded (see
        :func:`dnalib.models.check_model_dir`, :func:`dnalib.models.resolve_model`), custom
        code without *trust_remote_code*, an unusable device or a batch size
        below 1.
    """
    from dnalib import kmers
    from dnalib.hub import lookup

    if model in BASELINES:
        settings = BASELINE_SETTINGS[model]
        return lambda seqs: kmers.kmer_spectrum(_nonempty(seqs), settings["k"],
                                                canonical=settings["canonical"],
                                                normalize=settings["normalize"]).astype(np.float32)
    if is_spectrum_map_dir(model):
        from dnalib.spectrum_map import SpectrumMap

        spectrum_map = SpectrumMap.from_pretrained(model)
        return lambda seqs: spectrum_map.embed(_nonempty(seqs))
    src = _source(model, revision, trust_remote_code)
    pool = _pooling(model, pooling)
    if batch_size < 1:
        raise DnalibError(f"batch_size must be a positive number of chunks per forward pass; got {batch_size}")
    dev = check_device(device)
    encoder, tokenizer = load_encoder(model, device=dev, source=src)
    entry = lookup(model)
    max_tokens = entry.chunk_tokens if entry else None
    length = max_chunk_length(encoder, tokenizer, max_tokens)
    if pool == "cls" and _first_token(tokenizer) is None:
        raise DnalibError(f"--pooling cls needs a tokenizer with a [CLS] / <cls> token; {model}'s "
                          "has none: use --pooling mean")
    return lambda seqs: embed_sequences(encoder, tokenizer, seqs, chunk_length=length,
                                        batch_size=batch_size, progress=progress, pooling=pool,
                                        max_tokens=max_tokens)


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
    pooling: str | None = None,
    revision: str | None = None,
    trust_remote_code: bool = False,
) -> np.ndarray:
    """Embed sequences with a baseline named in :data:`BASELINES` or a saved model.

    Records with no *k* unambiguous bases in a row (see :func:`unembeddable`)
    are embedded anyway, with one ``UserWarning`` saying how many there are.

    Parameters
    ----------
    model : str
        ``"tnf"``, ``"kmer6"``, a model directory or a Hugging Face model id
        (see :func:`load_embedder`).
    seqs : sequence of str
        DNA sequences.
    batch_size, device, progress
        As in :func:`embed_sequences` (ignored for baselines).
    pooling, revision, trust_remote_code
        As in :func:`load_embedder`.

    Returns
    -------
    numpy.ndarray
        ``(len(seqs), dim)`` float32 embeddings.
    """
    seqs = _nonempty(seqs)
    options = {"pooling": pooling, "revision": revision, "trust_remote_code": trust_remote_code}
    k = min_bases(describe_embedder(model, device=device, **options))
    bad = unembeddable(seqs, k)
    if bad:
        warnings.warn(unembeddable_warning(len(bad), len(seqs), [f"sequence {i}" for i in bad], k),
                      UserWarning, stacklevel=2)
    return load_embedder(model, batch_size=batch_size, device=device, progress=progress,
                         **options)(seqs)


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


#: Version of the record :func:`embed_file` keeps next to its ``.part`` files.
RUN_RECORD_FORMAT = 1


def file_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 of a file's bytes (read in 1 MiB pieces).

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    str
        The hex digest.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _describe_identity(identity: dict[str, Any]) -> str:
    if "baseline" in identity:
        settings = ", ".join(f"{k}={v}" for k, v in identity["settings"].items())
        return f"baseline {identity['baseline']} ({settings})"
    if "model" in identity:
        commit = identity.get("commit") or identity.get("revision") or "unpinned"
        return (f"Hugging Face model {identity['model']} (commit {str(commit)[:12]}, "
                f"{identity.get('pooling')} pooling, {identity.get('precision')})")
    pooling = f", {identity['pooling']} pooling" if identity.get("pooling") else ""
    return (f"model directory {identity.get('model_dir')} (weights sha256 "
            f"{str(identity.get('sha256'))[:12]}{pooling}, {identity.get('precision')})")


def resume_mismatch(before: dict[str, Any], now: dict[str, Any]) -> str | None:
    """What differs between the run record of an interrupted embed run and the run asked for now.

    Parameters
    ----------
    before, now : dict
        Run records (``format``, ``embedder`` from :func:`describe_embedder`,
        ``input`` with the input file's ``path``, ``bytes`` and ``sha256``).

    Returns
    -------
    str or None
        A phrase naming the first difference, or None when they match.
    """
    if before.get("format") != now["format"]:
        return f"it was written in run-record format {before.get('format')!r}, not {now['format']}"
    old, new = before.get("embedder") or {}, now["embedder"]
    if old != new:
        if old.get("precision") and old.get("sha256") == new.get("sha256") \
                and old.get("precision") != new.get("precision"):
            return (f"it was embedded in {old['precision']}, this run would use {new['precision']} "
                    "(pass the --device of the interrupted run)")
        return f"it was written by {_describe_identity(old)}, not {_describe_identity(new)}"
    old_in, new_in = before.get("input") or {}, now["input"]
    if (old_in.get("sha256"), old_in.get("bytes")) != (new_in["sha256"], new_in["bytes"]):
        same_path = old_in.get("path") == new_in["path"]
        return (f"it was written for input {old_in.get('path')} ({old_in.get('bytes')} bytes, sha256 "
                f"{str(old_in.get('sha256'))[:12]}) and "
                + ("that file has changed since" if same_path else f"--input {new_in['path']} differs")
                + f" ({new_in['bytes']} bytes, sha256 {new_in['sha256'][:12]})")
    return None


def _discard(*paths: Path) -> None:
    for p in paths:
        p.unlink(missing_ok=True)


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
    pooling: str | None = None,
    revision: str | None = None,
    trust_remote_code: bool = False,
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

    ``PREFIX.part.json`` records what produces the ``.part`` files: the
    model (the sha256 of its config, weights and tokenizer, and the precision;
    for a hub model its id, revision and resolved commit; the pooling when it
    is not dnalib's default) or the baseline and its settings, and the input
    file (path, size, sha256).
    A resumed run must match it, so rows of two models or two inputs never
    end up in one matrix. A run stopped by bad input removes its ``.part``
    files: nothing is left that a later run would continue.

    Records with no *k* unambiguous bases in a row (shorter than *k* or
    mostly ``N``, see :func:`unembeddable`) are embedded anyway and counted in
    one ``UserWarning`` at the end.

    Parameters
    ----------
    model : str
        ``"tnf"``, ``"kmer6"``, a model directory or a Hugging Face model id
        (see :func:`load_embedder`).
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
        Continue an interrupted run with the same *out*, model and input.
    progress : bool
        Show a progress bar (records).
    pooling, revision, trust_remote_code
        As in :func:`load_embedder`.

    Returns
    -------
    dict
        ``embeddings`` and ``ids`` (the two paths), ``n``, ``dim``,
        ``resumed_from`` (records found done), ``unembeddable`` (how many
        records had too few unambiguous bases), ``seconds``.
    """
    import time

    from tqdm.auto import tqdm

    from dnalib import __version__
    from dnalib.io import read_sequences, write_text_atomically

    if block_size < 1:
        raise DnalibError(f"block_size must be positive; got {block_size}")
    npy, ids_path = _output_paths(out)
    raw = npy.with_name(npy.name + ".part")
    ids_part = ids_path.with_name(ids_path.name + ".part")
    record_path = npy.with_suffix(".part.json")
    records = read_sequences(path)  # a missing file fails here, before any model is loaded
    options = {"pooling": pooling, "revision": revision, "trust_remote_code": trust_remote_code}
    identity = describe_embedder(model, device=device, **options)
    source = Path(path)
    run_record = {
        "format": RUN_RECORD_FORMAT,
        "embedder": identity,
        "input": {"path": str(source.resolve()), "bytes": source.stat().st_size,
                  "sha256": file_sha256(source)},
        "dnalib": __version__,
    }
    leftovers = [f.name for f in (raw, ids_part) if f.exists()]
    done_ids: list[str] = []
    done_bytes = 0
    if leftovers:
        if not resume:
            raise DnalibError(
                f"an interrupted run left {' / '.join(leftovers)} in {raw.parent}: continue it "
                "with resume=True (--resume), or delete those files to start again"
            )
        try:
            before = json.loads(record_path.read_text())
        except FileNotFoundError:
            before = None
        except (OSError, ValueError):
            before = {}
        why = ("nothing records which model and input wrote them (no readable "
               f"{record_path.name})" if not isinstance(before, dict) or not before
               else resume_mismatch(before, run_record))
        if why:
            raise DnalibError(
                f"cannot resume {raw.name}: {why}; resume with the same --model, --input and "
                f"--device, or delete {', '.join([*leftovers, record_path.name])} in {raw.parent} "
                "to start again"
            )
        done_ids, done_bytes = _resume_state(raw, ids_part)
    npy.parent.mkdir(parents=True, exist_ok=True)
    fresh = not leftovers
    if fresh:  # recorded before any row is written; also proves --out is writable
        write_text_atomically(record_path, json.dumps(run_record, indent=2) + "\n")
    try:
        embedder = load_embedder(model, batch_size=batch_size, device=device, **options)
    except BaseException:
        if fresh:
            _discard(record_path)
        raise
    k = min_bases(identity)
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
    bad_ids: list[str] = []
    n_bad = 0
    bar = tqdm(disable=not progress, desc="embed", unit="seq")
    try:
        with open(raw, "ab") as fraw, open(ids_part, "a") as fids:
            block_ids: list[str] = []
            block_seqs: list[str] = []

            def flush_block() -> None:
                nonlocal dim, n_bad
                emb = np.ascontiguousarray(embedder(block_seqs), dtype=np.float32)
                if dim is None:
                    dim = emb.shape[1]
                skipped = unembeddable(block_seqs, k)
                n_bad += len(skipped)
                bad_ids.extend(block_ids[i] for i in skipped[:3 - len(bad_ids)])
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
                            f"cannot resume: record {n + 1} of {path} is {rec.id!r} but the interrupted "
                            f"run wrote {done_ids[n]!r} there; the input changed, so delete {raw} and "
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
    except InputFormatError:
        # Bad input: no later run can finish from these rows (a fixed input is a different file).
        _discard(raw, ids_part, record_path)
        raise
    finally:
        bar.close()
    if n == 0:
        _discard(raw, ids_part, record_path)
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
    _discard(raw, record_path)
    if n_bad:
        warnings.warn(unembeddable_warning(n_bad, n - len(done_ids), [repr(i) for i in bad_ids], k,
                                           str(path)), UserWarning, stacklevel=2)
    return {"embeddings": str(npy), "ids": str(ids_path), "n": n, "dim": int(dim),
            "resumed_from": len(done_ids), "unembeddable": n_bad,
            "seconds": time.perf_counter() - t0}


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


__all__ = ["BASELINES", "BASELINE_SETTINGS", "CPU_TOKENS_PER_PASS", "POOLINGS", "bases_per_token",
           "inference_dtype",
           "context_tokens", "describe_embedder", "plan_chunks",
           "embed_file", "embed_sequences", "embed_with", "file_sha256", "load_embedder",
           "load_embeddings", "max_chunk_length", "min_bases", "model_fingerprint",
           "resume_mismatch", "unembeddable", "unembeddable_warning"]
