"""How a transformer encoder turns DNA into vectors: chunking, batching, pooling, precision.

This is the engine under :class:`dnalib.embedders.Transformer` (and under
:func:`dnalib.embed.embed_with` / ``dnalib embed`` for any model directory or
Hugging Face id). An embedding is the masked mean of the encoder's last hidden
layer over the sequence's real tokens ([CLS], [SEP] and padding excluded;
DNABERT-S), or with ``pooling="cls"`` its first token, whatever the tokenizer
(character, k-mer, BPE).

Sequences longer than the model reads at once are cut into consecutive chunks
of ``chunk_length`` bases (the last chunk is the remainder, so no base is
dropped); each chunk is embedded on its own and the sequence embedding is the
mean of its chunk embeddings weighted by chunk length. For a tokenizer whose
bases per token vary (BPE) every chunk is checked after tokenising and halved
until it fits the model's context: nothing is truncated. Chunks are sorted by
token count and batched, so padding is minimal (a model that takes no
attention mask, such as HyenaDNA, gets batches of one length only); inference
runs without gradients.

On a CPU, passes are small (:data:`CPU_TOKENS_PER_PASS` tokens) and, for
models of ``transformers`` itself, run in ``torch.get_num_threads()`` threads
of one intra-op thread each, every thread on its own pass: faster than one
pass at a time split across the cores (no synchronisation inside small
matrix products, activations in one core's cache) and robust when another
program holds a core. The numbers do not change beyond float32 rounding
(``benchmarks/bench_embed.py`` checks them against a plain per-chunk loop to
1e-5). A call with many passes runs them through a TorchScript trace of the
encoder (:func:`traced_encoder`): the same operations without Python between
them, so the threads do not wait on each other for the interpreter. Every
shape of pass is checked once against the eager model, bit for bit, before
the trace is trusted with it; a model whose trace differs runs eagerly.

Precision (:func:`choose_inference_precision`): ``fp32``, or ``bf16`` with the
weights cast to bfloat16 once (:func:`cast_bf16`) and pooling done in float32.
``auto`` picks bf16 on a CPU with bf16 matrix units (Intel AMX or AVX-512
BF16, :func:`cpu_bf16_units`) and on GPUs from compute capability 8.0 (fp16
autocast on older GPUs such as a T4, :func:`inference_dtype`), else fp32. ``benchmarks/bench_embed.py`` measures
the speed and ``results/bf16_scores_cpu.json`` the clustering scores of both.
"""

from __future__ import annotations

import inspect
import threading
import warnings
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from dnalib.errors import DnalibError
from dnalib.models import base_model, content_mask, masked_mean

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


def token_budget(model: Any, tokenizer: Any) -> int | None:
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


def first_token(tokenizer: Any) -> int | None:
    """The id of the token a tokenizer puts first ([CLS] / <cls>, else BOS), or None if it has none.

    Parameters
    ----------
    tokenizer
        A Hugging Face tokenizer.

    Returns
    -------
    int or None
    """
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


#: Passes a call must hold before it traces the encoder (tracing takes about a second on
#: two CPU cores; a trace is kept for later calls with the same model).
TRACE_MIN_PASSES = 64

_TRACES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_TRACE_LOCK = threading.Lock()


class _LastHidden(torch.nn.Module):
    """An encoder's last hidden layer as a plain tensor (what a trace can return)."""

    def __init__(self, encoder: Any) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        inputs = {"input_ids": input_ids}
        if attention_mask is not None:
            inputs["attention_mask"] = attention_mask
        return _eager_hidden(self.encoder, inputs)


def _eager_hidden(encoder: Any, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    out = encoder(**inputs)
    return out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]


def traced_encoder(encoder: Any, inputs: dict[str, torch.Tensor]) -> Callable[..., torch.Tensor] | None:
    """A TorchScript trace of *encoder* that gives its last hidden layer for *inputs*, bit for bit, or None.

    The trace shares the encoder's weights (a model updated in place is
    traced once) and is kept per encoder, weight dtype and input names. It is
    trusted with a shape of *inputs* (rows, tokens) only after one pass of
    that shape equals the eager model's exactly; a trace that ever differs,
    or a model that cannot be traced, gets None for good and runs eagerly.

    Parameters
    ----------
    encoder
        A model of ``transformers`` itself (not remote code), in eval mode.
    inputs : dict
        ``input_ids`` and, optionally, ``attention_mask`` of one pass.

    Returns
    -------
    callable or None
        ``f(**inputs) -> last hidden state``, or None: use the encoder itself.
    """
    params = list(encoder.parameters())
    key = (params[0].dtype if params else None, tuple(id(p) for p in params), tuple(sorted(inputs)))
    shape = tuple(inputs["input_ids"].shape)
    with _TRACE_LOCK:
        entry = _TRACES.setdefault(encoder, {}).get(key)
        if entry is None:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # TorchScript's deprecation and tracer warnings
                    trace = torch.jit.trace(_LastHidden(encoder), tuple(inputs[k] for k in
                                                                        ("input_ids", "attention_mask") if k in inputs),
                                            strict=False, check_trace=False)
            except Exception:  # noqa: BLE001 - any model a trace cannot follow runs eagerly
                trace = None
            entry = {"trace": trace, "shapes": set()}
            _TRACES[encoder][key] = entry
        trace = entry["trace"]
        if trace is None or shape in entry["shapes"]:
            return trace
        same = torch.equal(trace(**inputs), _eager_hidden(encoder, inputs))
        if not same:
            entry["trace"] = None
            return None
        entry["shapes"].add(shape)
        return trace


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
    autocast: bool = True,
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
    autocast : bool
        On a GPU, run a float32 model under autocast in :func:`inference_dtype`
        (False: in the weights' own dtype, as always on a CPU). A model whose
        weights were cast to bfloat16 runs in bfloat16 either way; pooling is
        done in float32.

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
    budget = max_tokens or token_budget(encoder, tokenizer)
    pieces, owner, weight, token_ids = plan_chunks(tokenizer, seqs, length, budget)
    sizes = np.asarray([t.size for t in token_ids])
    order = np.argsort(sizes, kind="stable")
    takes_mask = _accepts(encoder, "attention_mask")
    on_cpu = dev.type == "cpu"
    batches = _batches(sizes, order, batch_size, CPU_TOKENS_PER_PASS if on_cpu else None,
                       same_length=not takes_mask)
    pad_id = getattr(tokenizer, "pad_token_id", None)
    pad_id = 0 if pad_id is None else int(pad_id)
    first = first_token(tokenizer) if pooling == "cls" else None
    special = _pooling_ids(tokenizer)
    half = inference_dtype(dev) if autocast else None

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
            trace = traced_encoder(encoder, inputs) if trace_it else None
            hidden = trace(**inputs) if trace is not None else _eager_hidden(encoder, inputs)
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
    # a trace pays on a CPU, for a model of transformers itself, once there is work enough (or one is kept)
    trace_it = (on_cpu and half is None and _thread_safe(encoder)
                and (len(batches) >= TRACE_MIN_PASSES or encoder in _TRACES))
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




#: What ``precision`` may be for inference (``--precision``).
INFERENCE_PRECISIONS = ("auto", "fp32", "bf16")

#: The precision embedding uses when none is given.
DEFAULT_PRECISION = "auto"

#: Whether ``auto`` picks bf16 on a CPU with bf16 units. Adopted only because every shipped
#: transformer's clustering ARI on the 60 validation species and on kmcp15 moved by at most
#: 0.005 against float32 (``results/bf16_scores_cpu.json``, ``benchmarks/bench_bf16_scores.py``).
CPU_AUTO_BF16 = True


def cpu_bf16_units() -> str | None:
    """The bf16 matrix units of this machine's CPU, if any: ``"amx_bf16"``, ``"avx512_bf16"`` or None.

    Read from the processor's flags (``/proc/cpuinfo`` on Linux); elsewhere None
    (fp32 stays the choice there).

    Returns
    -------
    str or None
    """
    try:
        with open("/proc/cpuinfo") as fh:
            flags: set[str] = set()
            for line in fh:
                if line.startswith("flags"):
                    flags.update(line.split(":", 1)[1].split())
                    break
    except OSError:
        return None
    for unit in ("amx_bf16", "avx512_bf16"):
        if unit in flags:
            return unit
    return None


def _same_layer_norm(module: torch.nn.LayerNorm) -> bool:
    """Whether *module* with float32 copies of its bf16 parameters gives its bf16 output exactly."""
    weight, bias, width = module.weight, module.bias, tuple(module.normalized_shape)
    probe = (torch.randn((64, *width), generator=torch.Generator().manual_seed(0)) * 3 + 1).to(torch.bfloat16)
    with torch.inference_mode():
        plain = torch.nn.functional.layer_norm(probe, width, weight, bias, module.eps)
        mixed = torch.nn.functional.layer_norm(probe, width, None if weight is None else weight.float(),
                                               None if bias is None else bias.float(), module.eps)
    return mixed.dtype == torch.bfloat16 and torch.equal(plain, mixed)


def cast_bf16(encoder: Any) -> Any:
    """Cast *encoder*'s weights to bfloat16 once, for inference on a CPU (in place; returned).

    Every ``torch.nn.LayerNorm`` then gets its parameters back as float32
    tensors holding the same (bf16-rounded) values: PyTorch's CPU layer norm
    takes a bf16 input with float32 parameters, returns bf16, and computes in
    float32 either way, so the output is the bf16 layer norm's bit for bit
    while its kernel runs about twice as fast (0.28 against 0.54 ms for 10 x
    197 tokens of width 128, one thread of an AMX Xeon, torch 2.13: layer
    norm is the one operation slower in bf16 than in float32 there). This is
    checked per module on a probe when the model is cast; a layer norm whose
    outputs would differ keeps bf16 parameters. The rows equal those of a
    plain ``encoder.to(torch.bfloat16)`` exactly (``tests/test_hf_models.py``).

    Parameters
    ----------
    encoder : torch.nn.Module
        A float32 encoder on a CPU.

    Returns
    -------
    torch.nn.Module
        The same module, in bfloat16 apart from its layer norms' parameters.
    """
    encoder = encoder.to(torch.bfloat16)
    for module in encoder.modules():
        if not isinstance(module, torch.nn.LayerNorm):
            continue
        if module.weight is not None and module.weight.device.type != "cpu":
            continue
        if _same_layer_norm(module):
            module.float()
    return encoder


def choose_inference_precision(setting: str, device: Any) -> str:
    """The precision a transformer embeds in: ``"fp32"``, ``"bf16"`` or ``"fp16"``.

    Parameters
    ----------
    setting : str
        ``"auto"``, ``"fp32"`` or ``"bf16"`` (:data:`INFERENCE_PRECISIONS`).
    device : torch.device or None
        Where the model runs (None: a CPU).

    Returns
    -------
    str
        ``auto`` gives bf16 on a CPU with bf16 units (:func:`cpu_bf16_units`),
        fp32 on other CPUs and on MPS, and on a CUDA GPU the training rule
        (bf16 from compute capability 8.0, fp16 below: :func:`inference_dtype`).

    Raises
    ------
    ~dnalib.errors.DnalibError
        For a setting not in :data:`INFERENCE_PRECISIONS`.
    """
    if setting not in INFERENCE_PRECISIONS:
        raise DnalibError(f"precision must be one of {', '.join(INFERENCE_PRECISIONS)}; got {setting!r}")
    if setting != "auto":
        return setting
    kind = device.type if device is not None else "cpu"
    if kind == "cuda":
        return {torch.bfloat16: "bf16", torch.float16: "fp16"}[inference_dtype(device)]
    if kind == "cpu" and CPU_AUTO_BF16 and cpu_bf16_units() is not None:
        return "bf16"
    return "fp32"


__all__ = ["CPU_AUTO_BF16", "CPU_TOKENS_PER_PASS", "DEFAULT_PRECISION", "INFERENCE_PRECISIONS", "POOLINGS",
           "TRACE_MIN_PASSES", "bases_per_token", "cast_bf16", "choose_inference_precision", "context_tokens",
           "cpu_bf16_units", "embed_sequences", "first_token", "inference_dtype", "max_chunk_length",
           "plan_chunks", "token_budget", "traced_encoder"]
