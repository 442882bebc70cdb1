"""Tokenization schemes for DNA language models, as Hugging Face fast tokenizers.

Four schemes, each built on a ``tokenizers.Tokenizer`` and wrapped as a
``transformers`` fast tokenizer, so ``save_pretrained(dir)`` writes a
``tokenizer.json`` and plain ``AutoTokenizer.from_pretrained(dir)`` loads it
back (no custom code, no ``trust_remote_code``):

``"char"``
    one token per base (``A C G T N``), as in character-level models
    (HyenaDNA, Caduceus).
``"kmer"``
    overlapping k-mers (DNABERT, SCORPIO/MetaBERTa): a sequence of length ``L``
    gives ``L - k + 1`` tokens, one per window; vocabulary ``4**k + 5``.
``"nonoverlap"`` (alias ``"kmer-nonoverlap"``)
    non-overlapping k-mers (Nucleotide Transformer): the sequence is tiled from
    the left with k-mers and a tail shorter than ``k`` is split into single
    bases, as the Nucleotide Transformer does; ``L // k + L % k`` tokens,
    vocabulary ``4**k`` k-mers + 5 single bases + 5 specials.
``"bpe"``
    byte-pair encoding learned from DNA (DNABERT-2) with
    :func:`train_bpe_tokenizer`.

*Special tokens and ids.* ``[PAD]=0, [UNK]=1, [CLS]=2, [SEP]=3, [MASK]=4`` in
every scheme (DNABERT's order). RoBERTa-style models use ``bos=[CLS]`` and
``eos=[SEP]``; the post-processor wraps every sequence as ``[CLS] ... [SEP]``.
In the k-mer schemes the k-mer with id ``i`` (:func:`dnalib.sequences.kmer_ids`,
first base most significant, ``AA..A = 0``) has token id ``i + 5``; in the
non-overlapping scheme the single bases ``A C G T N`` follow at ``4**k + 5 ..
4**k + 9``; in the character scheme ``A C G T N`` are ``5 .. 9``.

*Case and ambiguity codes.* The normalizer upper-cases ``a c g t`` and reads
**every other character** (``N``, the IUPAC ambiguity codes ``R Y S W K M B D H
V``, anything else) as ``N``. So in the character scheme (and for the
single-base tail of the non-overlapping scheme) an ambiguity code becomes the
token ``N``; in the k-mer schemes a window that contains a non-ACGT base becomes
``[UNK]`` (one token per window, so token positions stay aligned with sequence
positions). BPE keeps ``N`` as a fifth letter of its alphabet. Clean sequences
first (:func:`dnalib.sequences.clean`) if ``N`` should not reach a model at all.

*How the overlapping k-mer tokenizer is stored.* The ``tokenizers`` library has
no pre-tokenizer that emits overlapping pieces, and a custom Python
pre-tokenizer cannot be saved to ``tokenizer.json``. The overlapping k-mer
tokenizer is therefore expressed with serialisable parts only: a chain of regex
``Replace`` normalizers (Oniguruma regexes, which allow look-ahead) rewrites
``ACGTA`` into ``ACG|CGT|GTA|`` for ``k = 3`` by growing every position's window
one base per step (``k - 1`` steps of five look-ahead rules, one per letter
``ACGTN``; two separators ``|`` and ``;`` alternate between steps so that a rule
can tell a neighbouring window that already grew in this step from one that did
not), a last rule deletes
the incomplete windows at the end, a ``Split`` pre-tokenizer cuts at the
separators, and a ``WordLevel`` model looks the k-mers up (windows with ``N``
are not in the vocabulary and become ``[UNK]``). It is exact but slow, and
its token offsets cover only a window's first base; it is there so that a
saved model carries a standard tokenizer. Training and embedding code uses
the vectorised NumPy path instead (:func:`encode_kmer_batch`,
:func:`fast_encode`), which gives identical ids (tested).

.. warning::

   A k-mer tokenizer loaded with ``AutoTokenizer.from_pretrained`` and called
   as ``tokenizer(seqs)`` is slower than a pure-Python loop. Measured with
   ``benchmarks/bench_tokenize.py`` (one core of a 2-core AVX-512 Xeon, 1 kbp
   sequences, ``k = 6``): overlapping k-mers 0.19 Mbp/s, against 4 Mbp/s for
   pure Python (``seq[i:i+k]`` and a dict) and 110 Mbp/s for
   :func:`fast_encode`; non-overlapping k-mers 2.5 Mbp/s against 23 Mbp/s
   and 120 Mbp/s. The ``tokenizers`` library can only express overlapping
   windows as a chain of about ``5 * k`` regex rewrites of the text, and no
   serialisable part can do better. For more than a handful of sequences call
   ``dnalib.tokenizers.fast_encode(tokenizer, seqs)`` on the same tokenizer
   object (same ids and attention mask, NumPy arrays), or embed with
   :func:`dnalib.inference.embed_sequences`, which does so itself.

``transformers`` is imported lazily, inside the functions that build
tokenizers, so ``import dnalib.tokenizers`` stays light.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from dnalib.errors import DnalibError, InputFormatError
from dnalib.sequences import (
    batch_window_ids,
    concat_codes,
    ragged_positions,
    window_ids,
)

if TYPE_CHECKING:  # pragma: no cover
    import transformers

__all__ = [
    "token_spans",
    "BASES",
    "CLS_ID",
    "MASK_ID",
    "MAX_KMER_K",
    "NUM_SPECIAL",
    "PAD_ID",
    "SCHEMES",
    "SEP_ID",
    "SPECIAL_TOKENS",
    "UNK_ID",
    "char_tokenizer",
    "count_recoverable_masked_tokens",
    "default_bpe_corpus",
    "encode_char_batch",
    "encode_kmer_batch",
    "encode_batch",
    "fast_encode",
    "kmer_tokenizer",
    "make_tokenizer",
    "nonoverlapping_kmer_tokenizer",
    "overlap_leak",
    "recoverable_masked_tokens",
    "token_counts",
    "tokenizer_scheme",
    "tokens_per_bp",
    "train_bpe_tokenizer",
    "vocabulary_usage",
]

#: Special tokens, in id order (``[PAD]=0`` ... ``[MASK]=4``).
SPECIAL_TOKENS: tuple[str, ...] = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
PAD_ID, UNK_ID, CLS_ID, SEP_ID, MASK_ID = range(5)
#: Number of special tokens; k-mer id ``i`` has token id ``i + NUM_SPECIAL``.
NUM_SPECIAL = len(SPECIAL_TOKENS)
#: Single-base tokens of the character scheme and the non-overlapping tail, in code order.
BASES = "ACGTN"
#: Scheme names accepted by :func:`make_tokenizer` (aliases: ``"kmer-nonoverlap"``).
SCHEMES: tuple[str, ...] = ("char", "kmer", "nonoverlap", "bpe")
#: Largest k for the k-mer schemes (the vocabulary has ``4**k`` entries).
MAX_KMER_K = 10

_ALIASES = {
    "char": "char",
    "chars": "char",
    "character": "char",
    "kmer": "kmer",
    "overlapping": "kmer",
    "nonoverlap": "nonoverlap",
    "kmer-nonoverlap": "nonoverlap",
    "non-overlapping": "nonoverlap",
    "bpe": "bpe",
}
_DEFAULT_MAX_LENGTH = 512


# --- building blocks -------------------------------------------------------------------


def _check_kmer_k(k: Any, low: int = 1) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer):
        raise DnalibError(
            f"k must be an integer between {low} and {MAX_KMER_K} for k-mer tokenizers, got {k!r}"
        )
    if not low <= int(k) <= MAX_KMER_K:
        hint = " (k=1 is the 'char' scheme)" if low > 1 and int(k) == 1 else ""
        raise DnalibError(
            f"k must be between {low} and {MAX_KMER_K} for this k-mer tokenizer (vocabulary "
            f"4**k), got k={int(k)}{hint}"
        )
    return int(k)


def _normalizer_steps(separator: str | None = None) -> list:
    """Upper-case ACGT, every other character -> N (optionally followed by a separator)."""
    from tokenizers import Regex, normalizers

    if separator is None:
        steps = [normalizers.Replace(c.lower(), c) for c in "ACGT"]
        steps.append(normalizers.Replace(Regex("[^ACGT]"), "N"))
        return steps
    # other characters first, so that the later rules do not see the separators
    steps = [normalizers.Replace(Regex("[^ACGTacgt]"), "N" + separator)]
    steps += [normalizers.Replace(Regex(f"[{c}{c.lower()}]"), c + separator) for c in "ACGT"]
    return steps


def _overlap_normalizer(k: int):
    """The Replace chain that rewrites a sequence into its overlapping k-mers + separators."""
    from tokenizers import Regex, normalizers

    seps = "|;"
    steps = _normalizer_steps(separator=seps[0])  # "A|C|G|..."
    for t in range(1, k):
        old, new = seps[(t - 1) % 2], seps[t % 2]
        for b in BASES:
            # window i grows by the last base of window i+1, which has t bases and ends with
            # `old` (not grown yet in this step) or t+1 bases and ends with `new` (grown)
            pattern = rf"\{old}(?=[ACGTN]{{{t - 1}}}{b}(?:\{old}|[ACGTN]\{new}))"
            steps.append(normalizers.Replace(Regex(pattern), b + new))
    if k > 1:  # drop the k - 1 incomplete windows at the end
        steps.append(normalizers.Replace(Regex(rf"(?<![ACGTN])[ACGTN]{{1,{k - 1}}}[|;]"), ""))
    return normalizers.Sequence(steps)


def _special_vocab() -> dict[str, int]:
    return {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}


def _wrap(tok: Any, model_max_length: int) -> transformers.PreTrainedTokenizerFast:
    """Add the [CLS] ... [SEP] post-processor and wrap as a transformers fast tokenizer."""
    from tokenizers import processors
    from transformers import PreTrainedTokenizerFast

    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", CLS_ID), ("[SEP]", SEP_ID)],
    )
    if model_max_length is None or model_max_length < 3:
        raise DnalibError(f"model_max_length must be an integer >= 3, got {model_max_length!r}")
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="[CLS]",
        eos_token="[SEP]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        mask_token="[MASK]",
        unk_token="[UNK]",
        model_max_length=int(model_max_length),
        padding_side="right",
        truncation_side="right",
        model_input_names=["input_ids", "attention_mask"],
    )


def _word_level(vocab: dict[str, int]):
    from tokenizers import Tokenizer, models

    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    from tokenizers import AddedToken

    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS])
    return tok


# --- the four schemes ---------------------------------------------------------------------


def char_tokenizer(
    *, model_max_length: int = _DEFAULT_MAX_LENGTH
) -> transformers.PreTrainedTokenizerFast:
    """Character (single-nucleotide) tokenizer: one token per base.

    Parameters
    ----------
    model_max_length
        Longest input (in tokens, specials included) the model accepts; used by
        ``truncation=True``.

    Returns
    -------
    transformers.PreTrainedTokenizerFast
        Vocabulary: the 5 special tokens, then ``A C G T N`` (ids 5-9).  Lower case
        is upper-cased and every non-ACGT character becomes ``N``.
    """
    from tokenizers import Regex, normalizers, pre_tokenizers

    vocab = _special_vocab()
    vocab.update({b: NUM_SPECIAL + i for i, b in enumerate(BASES)})
    tok = _word_level(vocab)
    tok.normalizer = normalizers.Sequence(_normalizer_steps())
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    return _wrap(tok, model_max_length)


def kmer_tokenizer(
    k: int = 6, *, model_max_length: int = _DEFAULT_MAX_LENGTH
) -> transformers.PreTrainedTokenizerFast:
    """Overlapping k-mer tokenizer (DNABERT, SCORPIO / MetaBERTa).

    Parameters
    ----------
    k
        k-mer length, 1 to 10 (the DNABERT / MetaBERTa models use 3-6).
    model_max_length
        Longest input (in tokens, specials included) the model accepts.

    Returns
    -------
    transformers.PreTrainedTokenizerFast
        A sequence of length ``L`` gives ``max(0, L - k + 1)`` tokens, one per
        window; windows with a non-ACGT base are ``[UNK]``.  Vocabulary
        ``4**k + 5``; k-mer id ``i`` (:func:`dnalib.sequences.kmer_ids`) is token
        id ``i + 5``.  Built from serialisable parts only (see the module
        docstring), so it loads with ``AutoTokenizer.from_pretrained``.

    Raises
    ------
    DnalibError
        If ``k`` is out of range.

    Warnings
    --------
    Calling it (``tokenizer(seqs)``) is slow: about 0.2 Mbp/s for ``k = 6``,
    some 20 times slower than a pure-Python loop and 500 times slower than
    :func:`fast_encode` on the same object, which gives the same ids (see the
    module docstring for the measurement). Use :func:`fast_encode` for bulk work.
    """
    from tokenizers import Regex, pre_tokenizers

    from dnalib.sequences import kmer_strings

    k = _check_kmer_k(k)
    vocab = _special_vocab()
    vocab.update({s: NUM_SPECIAL + i for i, s in enumerate(kmer_strings(k))})
    tok = _word_level(vocab)
    tok.normalizer = _overlap_normalizer(k)
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("[|;]"), behavior="removed")
    return _wrap(tok, model_max_length)


def nonoverlapping_kmer_tokenizer(
    k: int = 6, *, model_max_length: int = _DEFAULT_MAX_LENGTH
) -> transformers.PreTrainedTokenizerFast:
    """Non-overlapping k-mer tokenizer (Nucleotide Transformer).

    The sequence is tiled from the left with k-mers; a tail shorter than ``k``
    is split into single-base tokens (what the Nucleotide Transformer does), so
    no base is dropped.

    Parameters
    ----------
    k
        k-mer length, 2 to 10 (the Nucleotide Transformer uses 6; ``k = 1`` is
        the character scheme, :func:`char_tokenizer`).
    model_max_length
        Longest input (in tokens, specials included) the model accepts.

    Returns
    -------
    transformers.PreTrainedTokenizerFast
        ``L // k + L % k`` tokens for a sequence of length ``L``.  Vocabulary:
        5 specials, the ``4**k`` k-mers (ids ``5 .. 4**k + 4``; windows with a
        non-ACGT base are ``[UNK]``), then the single bases ``A C G T N``.

    Raises
    ------
    DnalibError
        If ``k`` is out of range.

    Warnings
    --------
    Calling it (``tokenizer(seqs)``) runs at about 2.5 Mbp/s for ``k = 6``,
    some 10 times slower than a pure-Python loop; :func:`fast_encode` on the
    same object gives the same ids about 50 times faster.
    """
    from tokenizers import Regex, normalizers, pre_tokenizers

    from dnalib.sequences import kmer_strings

    k = _check_kmer_k(k, low=2)
    vocab = _special_vocab()
    vocab.update({s: NUM_SPECIAL + i for i, s in enumerate(kmer_strings(k))})
    vocab.update({b: NUM_SPECIAL + 4**k + i for i, b in enumerate(BASES)})
    tok = _word_level(vocab)
    tok.normalizer = normalizers.Sequence(_normalizer_steps())
    # leftmost-first alternation: k bases while at least k remain, then single bases
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(f".{{{k}}}|."), behavior="isolated")
    return _wrap(tok, model_max_length)


def default_bpe_corpus(chunk_length: int = 1000, *, max_chunks: int | None = None) -> list[str]:
    """Training text for BPE: the synthetic community's training genomes, cut into chunks.

    Parameters
    ----------
    chunk_length
        Length of the chunks (each chunk is one "word" for BPE, so no token
        spans two chunks).
    max_chunks
        Keep only the first ``max_chunks`` chunks (all by default).

    Returns
    -------
    list of str
        Non-overlapping chunks of the contigs of
        :func:`dnalib.simulate.default_community`'s training genomes, in a
        fixed order (the corpus is deterministic).
    """
    from dnalib.sequences import fragment
    from dnalib.simulate import default_community

    community = default_community()
    chunks: list[str] = []
    for gid in community.train_ids:
        for contig in community.genomes[gid]:
            chunks.extend(fragment(contig, chunk_length, keep_tail=True))
            if max_chunks is not None and len(chunks) >= max_chunks:
                return chunks[:max_chunks]
    return chunks


def train_bpe_tokenizer(
    sequences: Iterable[str] | None = None,
    vocab_size: int = 4096,
    *,
    min_frequency: int = 2,
    max_token_length: int | None = 32,
    model_max_length: int = _DEFAULT_MAX_LENGTH,
) -> transformers.PreTrainedTokenizerFast:
    """Train a byte-pair-encoding tokenizer on DNA (DNABERT-2 style).

    Starts from the alphabet ``A C G T N`` and merges the most frequent adjacent
    pair of tokens until the vocabulary has ``vocab_size`` entries.  Each input
    sequence is one "word" (no pre-tokenization), so tokens never span two
    sequences.  Training is deterministic: the same corpus in the same order
    gives the same vocabulary and merges.

    Parameters
    ----------
    sequences
        An iterable of training sequences (str); default
        :func:`default_bpe_corpus` (the synthetic community, 1 kbp chunks).
    vocab_size
        Size of the final vocabulary, special tokens and the 5 letters included
        (DNABERT-2 used 4096).
    min_frequency
        A pair must occur at least this often to be merged.
    max_token_length
        Longest token in bases (``None``: no limit).
    model_max_length
        Longest input (in tokens, specials included) the model accepts.

    Returns
    -------
    transformers.PreTrainedTokenizerFast
        The trained tokenizer.  If the corpus cannot support ``vocab_size``
        merges, the vocabulary is smaller.

    Raises
    ------
    DnalibError
        If ``vocab_size`` is smaller than the specials plus the alphabet, or
        the corpus is empty.
    """
    from tokenizers import Tokenizer, models, normalizers, trainers

    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int | np.integer):
        raise DnalibError(f"vocab_size must be an integer, got {vocab_size!r}")
    if vocab_size < NUM_SPECIAL + len(BASES):
        raise DnalibError(
            f"vocab_size={vocab_size} is too small: BPE needs at least "
            f"{NUM_SPECIAL + len(BASES)} entries (5 special tokens + ACGTN)"
        )
    if sequences is None:
        sequences = default_bpe_corpus()
    if isinstance(sequences, str | bytes):
        raise InputFormatError(
            "expected an iterable of sequences, got one sequence; wrap it in a list"
        )

    n_seen = 0

    def texts() -> Iterator[str]:
        nonlocal n_seen
        for s in sequences:
            if isinstance(s, bytes | bytearray):
                s = bytes(s).decode("latin-1")
            n_seen += 1
            yield s

    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.normalizer = normalizers.Sequence(_normalizer_steps())
    trainer = trainers.BpeTrainer(
        vocab_size=int(vocab_size),
        min_frequency=int(min_frequency),
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=list(BASES),
        limit_alphabet=len(BASES),
        max_token_length=max_token_length,
        show_progress=False,
    )
    tok.train_from_iterator(texts(), trainer=trainer)
    if n_seen == 0:
        raise DnalibError("cannot train BPE on an empty corpus; pass at least one sequence")
    return _wrap(tok, model_max_length)


def make_tokenizer(
    scheme: str, k: int | None = None, **kw: Any
) -> transformers.PreTrainedTokenizerFast:
    """Build one of the four tokenizers by name.

    Parameters
    ----------
    scheme
        ``"char"``, ``"kmer"`` (overlapping), ``"nonoverlap"`` (or
        ``"kmer-nonoverlap"``) or ``"bpe"``.
    k
        k-mer length for the k-mer schemes (default 6); must be ``None`` for
        ``"char"`` and ``"bpe"``.
    **kw
        Passed on: ``model_max_length`` for all; ``sequences``, ``vocab_size``,
        ``min_frequency``, ``max_token_length`` for ``"bpe"``.

    Returns
    -------
    transformers.PreTrainedTokenizerFast
        The tokenizer.

    Raises
    ------
    DnalibError
        If the scheme is unknown or ``k`` does not fit it.

    Examples
    --------
    >>> tok = make_tokenizer("kmer", 3)
    >>> tok("ACGTA")["input_ids"]
    [2, 11, 32, 49, 3]
    """
    name = _ALIASES.get(str(scheme).lower()) if isinstance(scheme, str) else None
    if name is None:
        raise DnalibError(
            f"unknown tokenization scheme {scheme!r}; choose one of "
            "'char', 'kmer', 'nonoverlap' (alias 'kmer-nonoverlap'), 'bpe'"
        )
    if name in ("char", "bpe"):
        if k is not None:
            raise DnalibError(f"scheme {name!r} takes no k (got k={k!r}); pass k=None")
        return char_tokenizer(**kw) if name == "char" else train_bpe_tokenizer(**kw)
    k = 6 if k is None else _check_kmer_k(k)
    if name == "kmer":
        return kmer_tokenizer(k, **kw)
    return nonoverlapping_kmer_tokenizer(k, **kw)


def tokenizer_scheme(tokenizer: Any) -> tuple[str, int | None]:
    """Which dnalib scheme a (possibly reloaded) tokenizer implements.

    Parameters
    ----------
    tokenizer
        A tokenizer made by this module, or loaded from its saved files.

    Returns
    -------
    tuple
        ``(scheme, k)``: ``("char", None)``, ``("kmer", k)``,
        ``("nonoverlap", k)`` or ``("bpe", None)``; ``("other", None)`` for a
        tokenizer that is not one of ours.
    """
    import json

    backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
    try:
        spec = json.loads(backend.to_str())
    except Exception:  # noqa: BLE001 - any foreign object
        return ("other", None)
    model = spec.get("model") or {}
    vocab = model.get("vocab") or {}
    if model.get("type") == "BPE":
        return ("bpe", None)
    if model.get("type") != "WordLevel" or any(
        vocab.get(t) != i for i, t in enumerate(SPECIAL_TOKENS)
    ):
        return ("other", None)
    size = len(vocab)
    pre = json.dumps(spec.get("pre_tokenizer"))
    if "[|;]" in pre:
        k = round(np.log(max(size - NUM_SPECIAL, 1)) / np.log(4))
        if size == 4**k + NUM_SPECIAL:
            return ("kmer", int(k))
    elif size == NUM_SPECIAL + len(BASES) and '"."' in pre.replace("\\", ""):
        return ("char", None)
    for k in range(2, MAX_KMER_K + 1):
        if size == 4**k + NUM_SPECIAL + len(BASES):
            return ("nonoverlap", k)
    return ("other", None)


# --- vectorised fast path ---------------------------------------------------------------------


def _check_max_length(max_length: int | None, add_special_tokens: bool) -> int | None:
    if max_length is None:
        return None
    n_special = 2 if add_special_tokens else 0
    if isinstance(max_length, bool) or not isinstance(max_length, int | np.integer):
        raise DnalibError(f"max_length must be an integer or None, got {max_length!r}")
    if max_length < n_special + 1:
        raise DnalibError(
            f"max_length={max_length} leaves no room for a token next to the "
            f"{n_special} special tokens; use max_length >= {n_special + 1}"
        )
    return int(max_length)


def _assemble(
    body: np.ndarray | None,
    counts: np.ndarray,
    *,
    max_length: int | None,
    add_special_tokens: bool,
    padding: bool | str,
    dtype: Any,
    block: np.ndarray | None = None,
    block_invalid: np.ndarray | None = None,
) -> dict[str, Any]:
    """Turn per-sequence token ids into model inputs (padded 2-D arrays or ragged lists).

    The ids come either as ``body``, the flat token ids of all sequences, or,
    when every sequence has the same number of tokens, as ``block``: a 2-D
    (possibly strided) array of *k-mer* ids in a narrow dtype, which is shifted
    by ``NUM_SPECIAL`` while it is copied into the output (``block_invalid``
    marks [UNK] windows).  The block path makes one pass over the output.
    """
    n = counts.size
    extra = 2 if add_special_tokens else 0
    keep = counts if max_length is None else np.minimum(counts, max_length - extra)
    lengths = keep + extra
    if block is not None and padding in (False, "do_not_pad"):
        body = block.astype(dtype).ravel()
        body += NUM_SPECIAL
        if block_invalid is not None:
            body[block_invalid.ravel()] = UNK_ID
        block = None
    if padding in (False, "do_not_pad"):
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        out_ids, out_mask = [], []
        for j in range(n):
            row = body[offsets[j] : offsets[j] + keep[j]].astype(dtype)
            if add_special_tokens:
                row = np.concatenate([np.array([CLS_ID], dtype), row, np.array([SEP_ID], dtype)])
            out_ids.append(row)
            out_mask.append(np.ones(row.size, dtype=dtype))
        return {"input_ids": out_ids, "attention_mask": out_mask}
    if padding in (True, "longest"):
        width = int(lengths.max()) if n else extra
    elif padding == "max_length":
        if max_length is None:
            raise DnalibError("padding='max_length' needs max_length; pass max_length=...")
        width = max_length
    else:
        raise DnalibError(f"padding must be True/'longest', 'max_length' or False, got {padding!r}")
    start = 1 if add_special_tokens else 0
    if block is not None:  # rectangular, shift while copying
        m = int(keep[0]) if n else 0
        ids = np.empty((n, width), dtype=dtype)
        target = ids[:, start : start + m]
        np.add(block[:, :m], NUM_SPECIAL, out=target, dtype=dtype, casting="unsafe")
        if block_invalid is not None:
            target[block_invalid[:, :m]] = UNK_ID
        ids[:, m + extra :] = PAD_ID
    else:
        ids = np.full((n, width), PAD_ID, dtype=dtype)
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        truncated = bool((keep < counts).any())
        if n and int(keep.min()) == int(keep.max()):  # rectangular: reshape, no scatter
            m = int(keep[0])
            if m:
                block = body[offsets[:-1, None] + np.arange(m)] if truncated else body.reshape(n, m)
                ids[:, start : start + m] = block
        else:
            inside = np.arange(width - start)[None, :] < keep[:, None]
            flat = body if not truncated else body[ragged_positions(offsets[:-1], keep, 1)]
            ids[:, start:][inside] = flat
    if add_special_tokens:
        ids[:, 0] = CLS_ID
        ids[np.arange(n), lengths - 1] = SEP_ID
    if n and int(lengths.min()) == width:
        mask = np.ones((n, width), dtype=dtype)
    else:
        mask = (np.arange(width)[None, :] < lengths[:, None]).astype(dtype)
    return {"input_ids": ids, "attention_mask": mask}


def encode_kmer_batch(
    seqs: Sequence[str | bytes],
    k: int,
    *,
    overlapping: bool = True,
    max_length: int | None = None,
    add_special_tokens: bool = True,
    padding: bool | str = True,
    dtype: Any = np.int32,
) -> dict[str, Any]:
    """Token ids of the k-mer schemes, computed with NumPy (the fast path).

    Gives exactly the ids of :func:`kmer_tokenizer` (``overlapping=True``) or
    :func:`nonoverlapping_kmer_tokenizer` (``overlapping=False``) called with
    the same padding and truncation settings, at a few hundred Mbp/s on one core:
    the batch is encoded in one pass (:func:`dnalib.sequences.batch_kmer_ids`
    machinery), ``token id = k-mer id + 5``, windows with a non-ACGT base are
    ``[UNK]``.

    Parameters
    ----------
    seqs
        List of sequences (str or bytes, any case; empty or shorter than ``k``
        allowed).
    k
        k-mer length, 1 to 10 (2 to 10 if not ``overlapping``).
    overlapping
        ``True``: every window (DNABERT); ``False``: non-overlapping tiling with
        the tail split into single bases (Nucleotide Transformer).
    max_length
        Truncate each row to this many tokens, specials included (the end of
        the sequence is cut); ``None``: no truncation.
    add_special_tokens
        Wrap each row as ``[CLS] ... [SEP]``.
    padding
        ``True`` / ``"longest"``: pad with ``[PAD]`` to the longest row;
        ``"max_length"``: pad to ``max_length``; ``False``: return ragged lists.
    dtype
        Integer dtype of the arrays: ``numpy.int32`` by default (half the memory
        traffic of int64, and PyTorch embeddings accept int32 indices);
        ``numpy.int64`` gives what ``return_tensors="pt"`` gives.

    Returns
    -------
    dict
        ``input_ids`` and ``attention_mask``: ``(n, width)`` arrays (1 for real
        tokens, 0 for padding), or lists of 1-D arrays if ``padding=False``.

    Raises
    ------
    DnalibError
        If ``k``, ``max_length`` or ``padding`` is invalid.

    Examples
    --------
    >>> encode_kmer_batch(["ACGTA", "AC"], 3)["input_ids"].tolist()
    [[2, 11, 32, 49, 3], [2, 3, 0, 0, 0]]
    """
    k = _check_kmer_k(k, low=1 if overlapping else 2)
    max_length = _check_max_length(max_length, add_special_tokens)
    codes, starts, lengths = concat_codes(seqs)
    kw = dict(
        max_length=max_length, add_special_tokens=add_special_tokens, padding=padding, dtype=dtype
    )
    n = lengths.size
    if overlapping and n and int(lengths.min()) == int(lengths.max()) >= k:
        # equal lengths (fragments): the windows of the concatenation, viewed as an
        # (n, L - k + 1) array with row stride L, are exactly every sequence's windows
        length = int(lengths[0])
        counts = np.full(n, length - k + 1, dtype=np.int64)
        ids, invalid = window_ids(codes, k)
        block = _rows_view(ids, n, length, length - k + 1)
        block_invalid = None if invalid is None else _rows_view(invalid, n, length, length - k + 1)
        return _assemble(None, counts, block=block, block_invalid=block_invalid, **kw)
    if overlapping:
        counts = np.maximum(lengths - k + 1, 0)
        ids, invalid = batch_window_ids(codes, starts, lengths, counts, k, 1)
        body = ids.astype(dtype)
        body += NUM_SPECIAL
        if invalid is not None:
            body[invalid] = UNK_ID
    else:
        n_kmers = lengths // k
        ids, invalid = batch_window_ids(codes, starts, lengths, n_kmers, k, k)
        tails = lengths - n_kmers * k
        counts = n_kmers + tails
        kmer_part = ids.astype(dtype)
        kmer_part += NUM_SPECIAL
        if invalid is not None:
            kmer_part[invalid] = UNK_ID
        if int(tails.sum()) == 0:
            body = kmer_part
        else:
            tail_codes = codes[ragged_positions(starts + n_kmers * k, tails, 1)]
            tail_ids = tail_codes.astype(dtype) + (NUM_SPECIAL + 4**k)
            body = np.empty(int(counts.sum()), dtype=dtype)
            row_start = np.cumsum(counts) - counts
            is_tail = np.zeros(body.size, dtype=bool)
            is_tail[ragged_positions(row_start + n_kmers, tails, 1)] = True
            body[is_tail] = tail_ids
            body[~is_tail] = kmer_part
    return _assemble(body, counts, **kw)


def _rows_view(flat: np.ndarray, n: int, row_stride: int, width: int) -> np.ndarray:
    """Read-only ``(n, width)`` view of ``flat`` whose row ``j`` starts at ``j * row_stride``."""
    item = flat.itemsize
    return np.lib.stride_tricks.as_strided(
        flat, shape=(n, width), strides=(row_stride * item, item), writeable=False
    )


def encode_char_batch(
    seqs: Sequence[str | bytes],
    *,
    max_length: int | None = None,
    add_special_tokens: bool = True,
    padding: bool | str = True,
    dtype: Any = np.int32,
) -> dict[str, Any]:
    """Token ids of the character scheme (:func:`char_tokenizer`), computed with NumPy.

    Parameters
    ----------
    seqs
        List of sequences (str or bytes, any case).
    max_length
        Truncate each row to this many tokens, specials included.
    add_special_tokens
        Wrap each row as ``[CLS] ... [SEP]``.
    padding
        ``True`` / ``"longest"``, ``"max_length"`` or ``False`` (ragged lists).
    dtype
        Integer dtype of the arrays.

    Returns
    -------
    dict
        ``input_ids`` and ``attention_mask`` as in :func:`encode_kmer_batch`;
        ``A C G T`` are ids 5-8, every other character is ``N`` (9).

    Raises
    ------
    DnalibError
        If ``max_length`` or ``padding`` is invalid.
    """
    max_length = _check_max_length(max_length, add_special_tokens)
    codes, _, lengths = concat_codes(seqs)
    body = codes.astype(dtype)
    body += NUM_SPECIAL
    return _assemble(
        body,
        lengths,
        max_length=max_length,
        add_special_tokens=add_special_tokens,
        padding=padding,
        dtype=dtype,
    )


def fast_encode(
    tokenizer: Any,
    seqs: Sequence[str | bytes],
    *,
    max_length: int | None = None,
    add_special_tokens: bool = True,
    padding: bool | str = True,
    dtype: Any = np.int32,
) -> dict[str, Any]:
    """Encode with the NumPy fast path when the tokenizer is a dnalib k-mer or char scheme.

    Falls back to the tokenizer itself (BPE, foreign tokenizers), so callers
    can always use this function.

    Parameters
    ----------
    tokenizer
        A tokenizer from this module or loaded from its saved files.
    seqs
        List of sequences.
    max_length, add_special_tokens, padding, dtype
        As in :func:`encode_kmer_batch`.

    Returns
    -------
    dict
        ``input_ids`` and ``attention_mask`` NumPy arrays (lists of arrays if
        ``padding=False``).
    """
    scheme, k = tokenizer_scheme(tokenizer)
    kw = dict(
        max_length=max_length, add_special_tokens=add_special_tokens, padding=padding, dtype=dtype
    )
    if scheme == "kmer":
        return encode_kmer_batch(seqs, k, overlapping=True, **kw)
    if scheme == "nonoverlap":
        return encode_kmer_batch(seqs, k, overlapping=False, **kw)
    if scheme == "char":
        return encode_char_batch(seqs, **kw)
    texts = [s if isinstance(s, str) else bytes(s).decode("latin-1") for s in seqs]
    enc = tokenizer(
        texts,
        add_special_tokens=add_special_tokens,
        padding=False if padding in (False, "do_not_pad") else padding,
        truncation=max_length is not None,
        max_length=max_length,
    )
    if padding in (False, "do_not_pad"):
        return {
            key: [np.asarray(r, dtype=dtype) for r in enc[key]]
            for key in ("input_ids", "attention_mask")
        }
    return {key: np.asarray(enc[key], dtype=dtype) for key in ("input_ids", "attention_mask")}


def encode_batch(tokenizer: Any, seqs: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Token ids and attention mask of a padded batch, as int64 arrays (what a model takes).

    Parameters
    ----------
    tokenizer
        A tokenizer from this module or loaded from its saved files.
    seqs : sequence of str

    Returns
    -------
    tuple
        ``(input_ids, attention_mask)``, each ``(len(seqs), longest)``.
    """
    enc = fast_encode(tokenizer, list(seqs), dtype=np.int64)
    return enc["input_ids"], enc["attention_mask"]


# --- corpus statistics --------------------------------------------------------------------------


def _token_lists(tokenizer: Any, seqs: Sequence[str]) -> list[np.ndarray]:
    enc = fast_encode(tokenizer, list(seqs), add_special_tokens=False, padding=False)
    return enc["input_ids"]


def tokens_per_bp(tokenizer: Any, seqs: Sequence[str]) -> float:
    """Average number of tokens per base pair on a corpus (special tokens excluded).

    Parameters
    ----------
    tokenizer
        Any tokenizer of this module (or a loaded one).
    seqs
        The corpus (list of sequences).

    Returns
    -------
    float
        ``total tokens / total bases``: about 1 for characters and overlapping
        k-mers, ``1/k`` for non-overlapping k-mers, ``1 / mean token length``
        for BPE; ``nan`` for an empty corpus.
    """
    seqs = list(seqs)
    n_bp = sum(len(s) for s in seqs)
    if n_bp == 0:
        return float("nan")
    return sum(int(r.size) for r in _token_lists(tokenizer, seqs)) / n_bp


def token_counts(tokenizer: Any, seqs: Sequence[str]) -> np.ndarray:
    """How often each token id occurs on a corpus (special tokens only when produced, e.g. [UNK]).

    Parameters
    ----------
    tokenizer
        Any tokenizer of this module (or a loaded one).
    seqs
        The corpus.

    Returns
    -------
    numpy.ndarray
        ``int64`` counts of length ``len(tokenizer)``, indexed by token id; sort
        them in decreasing order for a Zipf (rank-frequency) plot.
    """
    rows = _token_lists(tokenizer, list(seqs))
    flat = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    return np.bincount(flat.astype(np.int64), minlength=len(tokenizer)).astype(np.int64)


def vocabulary_usage(tokenizer: Any, seqs: Sequence[str]) -> float:
    """Fraction of the non-special vocabulary that occurs at least once on a corpus.

    Parameters
    ----------
    tokenizer
        Any tokenizer of this module (or a loaded one).
    seqs
        The corpus.

    Returns
    -------
    float
        Used non-special tokens / all non-special tokens (e.g. a 6-mer vocabulary
        is fully used by a few hundred kbp of varied DNA, a 10-mer one is not).
    """
    counts = token_counts(tokenizer, seqs)[NUM_SPECIAL:]
    return float((counts > 0).mean()) if counts.size else float("nan")


# --- MLM leakage with overlapping k-mers ----------------------------------------------------------


def recoverable_masked_tokens(ids: np.ndarray, mask: np.ndarray, k: int) -> np.ndarray:
    """Masked overlapping k-mer tokens whose k-mer can be read off their unmasked neighbours.

    With overlapping k-mers, base ``p`` is spelled by the ``k`` tokens
    starting at ``p - k + 1 .. p``.  A masked token is *recoverable* if every
    one of its ``k`` bases is spelled by some unmasked k-mer token, so the MLM
    task becomes copying instead of predicting.

    Parameters
    ----------
    ids
        Token ids, 1-D ``(L,)`` or 2-D ``(batch, L)``, one token per position
        as produced by :func:`encode_kmer_batch` (specials allowed: only ids
        ``>= 5``, real k-mers, reveal bases; ``[UNK]``, ``[CLS]``, ``[PAD]`` do
        not).  Use the ids *before* masking.
    mask
        Boolean array of the same shape: ``True`` where the token is masked.
    k
        The k-mer length.

    Returns
    -------
    numpy.ndarray
        Boolean array of the same shape: ``True`` for masked k-mer tokens that are
        fully recoverable.

    Raises
    ------
    DnalibError
        If shapes differ or ``k`` is out of range.
    """
    k = _check_kmer_k(k)
    ids = np.asarray(ids)
    mask = np.asarray(mask, dtype=bool)
    if ids.shape != mask.shape or ids.ndim not in (1, 2):
        raise DnalibError(
            f"ids and mask must have the same 1-D or 2-D shape, got {ids.shape} and {mask.shape}"
        )
    ids2 = ids.reshape(-1, ids.shape[-1])
    mask2 = mask.reshape(ids2.shape)
    is_kmer = ids2 >= NUM_SPECIAL
    revealing = (is_kmer & ~mask2).astype(np.int32)
    n, length = ids2.shape
    # base p (of positions 0 .. L+k-2) is known iff some revealing token in [p-k+1, p]
    padded = np.zeros((n, length + 2 * (k - 1)), dtype=np.int32)
    padded[:, k - 1 : k - 1 + length] = revealing
    csum = np.concatenate([np.zeros((n, 1), np.int32), np.cumsum(padded, axis=1)], axis=1)
    n_bases = length + k - 1
    known = (
        csum[:, k : k + n_bases] - csum[:, 0:n_bases]
    ) > 0  # window sum over [p, p+k-1] of padded
    # token i is recoverable iff bases i .. i+k-1 are all known
    kc = np.concatenate(
        [np.zeros((n, 1), np.int32), np.cumsum(known, axis=1, dtype=np.int32)], axis=1
    )
    all_known = (kc[:, k : k + length] - kc[:, 0:length]) == k
    return (all_known & mask2 & is_kmer).reshape(ids.shape)


def count_recoverable_masked_tokens(ids: np.ndarray, mask: np.ndarray, k: int) -> int:
    """Number of masked k-mer tokens recoverable from unmasked neighbours.

    Parameters
    ----------
    ids
        Token ids (1-D or 2-D), before masking.
    mask
        Boolean mask of the same shape, ``True`` = masked.
    k
        The k-mer length.

    Returns
    -------
    int
        ``recoverable_masked_tokens(ids, mask, k).sum()``; see
        :func:`recoverable_masked_tokens`.

    Examples
    --------
    >>> ids = encode_kmer_batch(["ACGTACGTAC"], 3, add_special_tokens=False)["input_ids"][0]
    >>> mask = np.zeros(ids.size, bool); mask[4] = True
    >>> count_recoverable_masked_tokens(ids, mask, 3)
    1
    >>> mask[2:5] = True  # a span of k masked tokens hides one base completely
    >>> count_recoverable_masked_tokens(ids, mask, 3)
    0
    """
    return int(recoverable_masked_tokens(ids, mask, k).sum())


def overlap_leak(
    k: int,
    *,
    span: int = 1,
    mask_prob: float = 0.15,
    length: int = 200,
    n: int = 200,
    seed: int = 0,
) -> float:
    """Fraction of masked overlapping k-mer tokens an MLM could copy from neighbours.

    Simulates BERT-style masking of random DNA (``n`` sequences of ``length``
    bp, overlapping k-mers) where masks come in contiguous spans of ``span``
    tokens covering about ``mask_prob`` of the tokens, and returns the fraction
    of masked tokens that :func:`recoverable_masked_tokens` finds recoverable.
    With single-token masking (``span=1``) nearly all are (the leak DNABERT's
    authors fixed by masking contiguous spans); with ``span >= k`` none are.

    Parameters
    ----------
    k
        The k-mer length.
    span
        Length of each masked span, in tokens.
    mask_prob
        Target fraction of masked tokens.
    length
        Sequence length in bp.
    n
        Number of sequences.
    seed
        Random seed.

    Returns
    -------
    float
        Recoverable masked tokens / masked tokens.

    Raises
    ------
    DnalibError
        If an argument is out of range.
    """
    k = _check_kmer_k(k)
    if not 0 < mask_prob < 1 or span < 1 or length < k + span:
        raise DnalibError(
            f"need 0 < mask_prob < 1, span >= 1 and length >= k + span; got "
            f"mask_prob={mask_prob}, span={span}, length={length}, k={k}"
        )
    rng = np.random.default_rng(seed)
    seqs = [
        encode_bytes.tobytes().decode()
        for encode_bytes in np.frombuffer(b"ACGT", np.uint8)[rng.integers(0, 4, (n, length))]
    ]
    ids = encode_kmer_batch(seqs, k, add_special_tokens=False)["input_ids"]
    n_tok = ids.shape[1]
    starts = rng.random((n, n_tok)) < mask_prob / span
    mask = np.zeros_like(starts)
    for j in range(span):
        mask[:, j:] |= starts[:, : n_tok - j]
    masked = int(mask.sum())
    if masked == 0:
        return float("nan")
    return count_recoverable_masked_tokens(ids, mask, k) / masked


def token_spans(tokenizer: Any, seq: str) -> list[tuple[str, int, int]]:
    """The tokens of one sequence with the bases each covers (no special tokens).

    Overlapping k-mer tokens cover ``[i, i + k)`` (their stored offsets only
    mark the first base); every other scheme uses the tokenizer's offsets.

    Parameters
    ----------
    tokenizer
        Any tokenizer of this module (or a loaded one).
    seq
        A DNA sequence.

    Returns
    -------
    list of (str, int, int)
        ``(token, start, end)`` per token, ``end`` exclusive, in order.
    """
    scheme, k = tokenizer_scheme(tokenizer)
    enc = tokenizer(seq, add_special_tokens=False, return_offsets_mapping=True)
    tokens = tokenizer.convert_ids_to_tokens(enc["input_ids"])
    if scheme == "kmer":
        return [(tok, i, i + k) for i, tok in enumerate(tokens)]
    return [(tok, int(a), int(b)) for tok, (a, b) in zip(tokens, enc["offset_mapping"], strict=True)]
