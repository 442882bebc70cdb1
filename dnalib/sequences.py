"""DNA sequences as data: alphabet, 2-bit encoding, k-mer ids, cleaning, fragmenting.

Everything here is vectorised with NumPy (a 256-entry lookup table over the raw
bytes of a sequence); there are no per-base Python loops on hot paths.

Conventions
-----------
*Alphabet and codes.*  ``A=0, C=1, G=2, T=3`` (lower case accepted); every other
byte (``N``, IUPAC ambiguity codes, anything else) encodes to ``4``.

*k-mer ids.*  A k-mer is read as a base-4 number with its first base most
significant, so ids follow the lexicographic order of ``"ACGT"``:
``AAA=0, AAC=1, ..., TTT=4**k-1`` (see :func:`kmer_strings`).  A window that
contains a non-ACGT base has id ``-1``.

*Cleaning policy* (:func:`clean`).  Real assemblies contain lower case (soft
masking), IUPAC ambiguity codes and runs of ``N`` (scaffold gaps).  Lower case is
upper-cased.  Ambiguity codes are handled by one of three policies:

``"split"`` (default)
    cut the sequence at every run of at least ``max_n_run`` ambiguous bases and
    keep the clean pieces of at least ``min_length`` bases.  With the default
    ``max_n_run=1`` every piece is pure ACGT.  Shorter runs stay inside the
    pieces unchanged; k-mer counting skips windows that touch them.
``"drop"``
    keep the sequence only if it has no ambiguous base at all.
``"replace"``
    replace every ambiguity code by a base it stands for, drawn with a seeded
    random generator (``R`` becomes ``A`` or ``G``, ``N`` any base), or by a
    fixed letter (``replace_with="N"``).

Characters that are not IUPAC nucleotide codes (digits, ``-``, ``*``, ``U``,
whitespace, ...) raise :class:`~dnalib.errors.InputFormatError` naming the
character and its position.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from dnalib.errors import InputFormatError

__all__ = [
    "ALPHABET",
    "IUPAC",
    "MAX_K",
    "as_codes_array",
    "batch_kmer_ids",
    "batch_window_ids",
    "canonical_ids",
    "clean",
    "concat_codes",
    "decode",
    "encode",
    "fragment",
    "gc_content",
    "kmer_ids",
    "kmer_strings",
    "n50",
    "ragged_positions",
    "reference_kmer_ids",
    "reverse_complement",
    "sample_fragments",
    "window_ids",
]

#: The four unambiguous bases, in code order (``A=0, C=1, G=2, T=3``).
ALPHABET = "ACGT"

#: IUPAC nucleotide codes and the bases each stands for.
IUPAC: dict[str, str] = {
    "A": "A",
    "C": "C",
    "G": "G",
    "T": "T",
    "R": "AG",
    "Y": "CT",
    "S": "CG",
    "W": "AT",
    "K": "GT",
    "M": "AC",
    "B": "CGT",
    "D": "AGT",
    "H": "ACT",
    "V": "ACG",
    "N": "ACGT",
}

#: Largest k for which :func:`kmer_ids` works (ids must fit in a signed 64-bit integer).
MAX_K = 31

# --- lookup tables ---------------------------------------------------------------

_ENCODE_LUT = np.full(256, 4, dtype=np.uint8)
for _i, _b in enumerate(ALPHABET):
    _ENCODE_LUT[ord(_b)] = _i
    _ENCODE_LUT[ord(_b.lower())] = _i

_ENCODE_TABLE = _ENCODE_LUT.tobytes()

# 0 = ACGT, 1 = IUPAC ambiguity code, 2 = not a nucleotide code
_CLASS_LUT = np.full(256, 2, dtype=np.uint8)
for _c in IUPAC:
    _cls = 0 if _c in ALPHABET else 1
    _CLASS_LUT[ord(_c)] = _cls
    _CLASS_LUT[ord(_c.lower())] = _cls

_DECODE_LUT = np.frombuffer(b"ACGTN", dtype=np.uint8)

_RC_TABLE = str.maketrans(
    "ACGTRYKMBVDHSWNacgtrykmbvdhswn",
    "TGCAYRMKVBHDSWNtgcayrmkvbhdswn",
)
_IUPAC_CHARS = "".join(IUPAC) + "".join(IUPAC).lower()
_DELETE_IUPAC = str.maketrans("", "", _IUPAC_CHARS)


# --- helpers ---------------------------------------------------------------------


def _as_bytes(seq: Any) -> bytes | memoryview:
    """Raw bytes of a sequence given as str, bytes-like, or an object with ``.sequence``."""
    if isinstance(seq, str):
        # latin-1 maps every character < 256 to one byte; others become '?' (-> code 4)
        return seq.encode("latin-1", errors="replace")
    if isinstance(seq, bytes | bytearray | memoryview):
        return seq
    if hasattr(seq, "sequence"):  # dnaio.SequenceRecord and look-alikes
        return _as_bytes(seq.sequence)
    raise InputFormatError(
        f"expected a DNA sequence as str or bytes, got {type(seq).__name__}; "
        "pass the sequence text (e.g. record.sequence)"
    )


def _as_text(seq: Any) -> str:
    """A sequence as str (bytes are decoded as ASCII)."""
    if isinstance(seq, str):
        return seq
    if isinstance(seq, bytes | bytearray | memoryview):
        return bytes(seq).decode("latin-1")
    if hasattr(seq, "sequence"):
        return _as_text(seq.sequence)
    raise InputFormatError(
        f"expected a DNA sequence as str or bytes, got {type(seq).__name__}; "
        "pass the sequence text (e.g. record.sequence)"
    )


def _check_k(k: Any, max_k: int = MAX_K) -> int:
    """Validate a k-mer length and return it as int."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer):
        raise InputFormatError(f"k must be an integer between 1 and {max_k}, got {k!r}")
    k = int(k)
    if not 1 <= k <= max_k:
        raise InputFormatError(f"k must be between 1 and {max_k}, got k={k}")
    return k


def _check_positive(name: str, value: Any) -> int:
    """Validate a positive integer argument."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise InputFormatError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    """A NumPy Generator from a seed, or the generator itself."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


# --- encoding --------------------------------------------------------------------


def encode(seq: str | bytes | np.ndarray) -> np.ndarray:
    """Encode a DNA sequence as 2-bit codes.

    Parameters
    ----------
    seq
        The sequence as ``str`` or bytes (upper or lower case), or an object with
        a ``sequence`` attribute (such as a FASTA record).  An integer NumPy
        array is taken to be codes already and returned as ``uint8``.

    Returns
    -------
    numpy.ndarray
        ``uint8`` array of length ``len(seq)`` with ``A=0, C=1, G=2, T=3`` and
        ``4`` for every other character (``N``, IUPAC ambiguity codes, ...).

    Raises
    ------
    InputFormatError
        If ``seq`` is an array whose values are not codes in ``0..4``.

    Examples
    --------
    >>> encode("ACgtN").tolist()
    [0, 1, 2, 3, 4]
    """
    if isinstance(seq, np.ndarray):
        return as_codes_array(seq)
    raw = _as_bytes(seq)
    if isinstance(raw, memoryview):
        raw = raw.tobytes()
    # bytes.translate with a 256-byte table is the fastest lookup available
    return np.frombuffer(bytearray(raw.translate(_ENCODE_TABLE)), dtype=np.uint8)


def as_codes_array(arr: np.ndarray) -> np.ndarray:
    """Validate an already-encoded array (values 0..4) and return it as uint8."""
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise InputFormatError(
            f"an encoded sequence must be a 1-d integer array of codes 0..4, "
            f"got a {arr.ndim}-d {arr.dtype} array; use encode() on the sequence text"
        )
    if arr.size and (int(arr.min()) < 0 or int(arr.max()) > 4):
        raise InputFormatError(
            f"an encoded sequence must hold codes 0..4 (A, C, G, T, other), found values "
            f"{int(arr.min())}..{int(arr.max())}; pass text as str or bytes, not as an array"
        )
    return arr.astype(np.uint8, copy=False)


def decode(codes: np.ndarray | Sequence[int]) -> str:
    """Turn 2-bit codes back into a sequence string.

    Parameters
    ----------
    codes
        Integer codes ``0..4`` as produced by :func:`encode`.

    Returns
    -------
    str
        The sequence, with ``N`` for code ``4``.

    Raises
    ------
    InputFormatError
        If a code is outside ``0..4``.
    """
    arr = as_codes_array(np.asarray(codes, dtype=np.int64).ravel())
    return _DECODE_LUT[arr].tobytes().decode("ascii")


def reverse_complement(seq: str) -> str:
    """Reverse complement of a DNA sequence, IUPAC codes and case included.

    Ambiguity codes map to their complements (``R<->Y``, ``K<->M``, ``B<->V``,
    ``D<->H``; ``S``, ``W`` and ``N`` stay) and lower case stays lower case, so
    applying the function twice gives the input back.

    Parameters
    ----------
    seq
        The sequence (``str``; bytes are decoded as ASCII).

    Returns
    -------
    str
        The reverse complement.

    Raises
    ------
    InputFormatError
        If the sequence has a character that is not an IUPAC nucleotide code.

    Examples
    --------
    >>> reverse_complement("AACgtR")
    'YacGTT'
    """
    text = _as_text(seq)
    if text.translate(_DELETE_IUPAC):
        _raise_invalid(text)
    return text.translate(_RC_TABLE)[::-1]


def _raise_invalid(seq: str | bytes) -> None:
    """Raise InputFormatError naming the first non-IUPAC character of ``seq``."""
    classes = _CLASS_LUT[np.frombuffer(_as_bytes(seq), dtype=np.uint8)]
    bad = np.flatnonzero(classes == 2)
    pos = int(bad[0]) if bad.size else 0
    text = _as_text(seq)
    char = text[pos] if pos < len(text) else "?"
    raise InputFormatError(
        f"invalid character {char!r} at position {pos + 1} (1-based) of a sequence of "
        f"length {len(text)}: only IUPAC nucleotide codes ACGTRYSWKMBDHVN are allowed"
    )


# --- k-mer ids ---------------------------------------------------------------------


def window_ids(codes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Ids of every overlapping window of ``codes`` (uint8, values 0..4).

    Returns the ids in the narrowest unsigned dtype that holds ``4**k - 1`` and a
    boolean mask of windows that contain a non-ACGT base (``None`` if none do).
    Ids of such windows are garbage.
    """
    n = codes.size - k + 1
    if n <= 0:
        return np.zeros(0, dtype=np.uint16), None
    dtype = np.uint16 if k <= 8 else np.uint32 if k <= 16 else np.uint64
    has_bad = bool(codes.max() > 3)  # max() allocates nothing; most inputs are clean
    bad = codes > 3 if has_bad else None
    low = codes & np.uint8(3) if has_bad else codes
    ids = low[:n].astype(dtype)
    two = dtype(2)
    for j in range(1, k):
        ids <<= two
        ids |= low[j : j + n]
    if not has_bad:
        return ids, None
    invalid = bad[:n].copy()
    for j in range(1, k):
        invalid |= bad[j : j + n]
    return ids, invalid


def kmer_ids(seq: str | bytes | np.ndarray, k: int, *, stride: int = 1) -> np.ndarray:
    """Ids of the k-mers of a sequence.

    Parameters
    ----------
    seq
        The sequence (str or bytes, any case) or its codes from :func:`encode`.
    k
        k-mer length, ``1 <= k <= 31``.
    stride
        Distance between window starts: ``1`` (default) gives every overlapping
        k-mer, ``stride=k`` the non-overlapping k-mers of a left-to-right tiling
        (a last incomplete k-mer is dropped).

    Returns
    -------
    numpy.ndarray
        ``int64`` array with one id per window (``max(0, (len(seq) - k) // stride + 1)``
        of them); the id reads the k-mer as a base-4 number, first base most
        significant (``AA..A = 0``, ``TT..T = 4**k - 1``); ``-1`` for windows that
        contain a base other than ACGT.

    Raises
    ------
    InputFormatError
        If ``k`` or ``stride`` is out of range.

    Examples
    --------
    >>> kmer_ids("ACGTNA", 2).tolist()
    [1, 6, 11, -1, -1]
    >>> kmer_ids("ACGTAC", 2, stride=2).tolist()
    [1, 11, 1]
    """
    k = _check_k(k)
    stride = _check_positive("stride", stride)
    codes = encode(seq)
    n = codes.size - k + 1
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    if stride == 1:
        ids, invalid = window_ids(codes, k)
        out = ids.astype(np.int64)
        if invalid is not None:
            out[invalid] = -1
        return out
    starts = np.arange(0, n, stride)
    # gather only the needed windows: k strided views
    out = np.zeros(starts.size, dtype=np.int64)
    invalid = np.zeros(starts.size, dtype=bool)
    for j in range(k):
        c = codes[starts + j] if stride != k else codes[j : j + starts.size * k : k]
        out <<= 2
        out |= c & 3
        invalid |= c > 3
    out[invalid] = -1
    return out


def concat_codes(seqs: Iterable[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Encode many sequences at once: (codes of their concatenation, starts, lengths).

    One ``join`` + one ``bytes.translate`` for the whole batch instead of one
    call per sequence; ``starts`` and ``lengths`` are int64 arrays.  The codes
    array is read-only (it wraps the translated bytes without a copy).
    """
    if isinstance(seqs, str | bytes | bytearray | memoryview | np.ndarray):
        raise InputFormatError(
            f"expected a list of sequences, got a single {type(seqs).__name__}; "
            "wrap it in a list: [seq]"
        )
    seqs = seqs if isinstance(seqs, list | tuple) else list(seqs)
    if seqs and all(type(s) is str for s in seqs):
        raw = "".join(seqs).encode("latin-1", errors="replace")
        lengths = np.fromiter(map(len, seqs), dtype=np.int64, count=len(seqs))
    else:
        parts = [bytes(_as_bytes(s)) for s in seqs]
        raw = b"".join(parts)
        lengths = np.fromiter(map(len, parts), dtype=np.int64, count=len(parts))
    codes = np.frombuffer(raw.translate(_ENCODE_TABLE), dtype=np.uint8)  # read-only, no copy
    starts = np.zeros(len(seqs), dtype=np.int64)
    if len(seqs) > 1:
        np.cumsum(lengths[:-1], out=starts[1:])
    return codes, starts, lengths


def ragged_positions(starts: np.ndarray, counts: np.ndarray, step: int) -> np.ndarray:
    """Flat positions ``starts[j] + step * i`` for ``i < counts[j]``, sequence by sequence."""
    total = int(counts.sum())
    seq_of = np.repeat(np.arange(counts.size), counts)
    first = np.cumsum(counts) - counts  # index of each sequence's first item in the flat array
    local = np.arange(total, dtype=np.int64) - first[seq_of]
    return starts[seq_of] + step * local


def batch_kmer_ids(
    seqs: Iterable[str | bytes], k: int, *, stride: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """k-mer ids of many sequences in one vectorised pass.

    Gives exactly what :func:`kmer_ids` gives sequence by sequence, but encodes
    the concatenation of all sequences once and computes every window id in one
    go, which removes the per-call overhead that dominates short sequences
    (reads, 200 bp - 1 kbp fragments).  Windows that would cross from one
    sequence into the next are dropped.

    Parameters
    ----------
    seqs
        A list (or other iterable) of sequences, str or bytes, any case.
    k
        k-mer length, ``1 <= k <= 31``.
    stride
        Distance between window starts, as in :func:`kmer_ids` (``1``: all
        overlapping k-mers; ``k``: non-overlapping tiling, incomplete tail dropped).

    Returns
    -------
    ids : numpy.ndarray
        ``int64`` ids of all sequences, concatenated; ``-1`` for windows with a
        base other than ACGT.
    offsets : numpy.ndarray
        ``int64`` array of length ``len(seqs) + 1``: the ids of sequence ``j``
        are ``ids[offsets[j]:offsets[j + 1]]``.

    Raises
    ------
    InputFormatError
        If ``k`` or ``stride`` is out of range, or ``seqs`` is a single sequence.

    Examples
    --------
    >>> ids, offsets = batch_kmer_ids(["ACGT", "GN", "TTA"], 2)
    >>> ids.tolist(), offsets.tolist()
    ([1, 6, 11, -1, 15, 12], [0, 3, 4, 6])
    """
    k = _check_k(k)
    stride = _check_positive("stride", stride)
    codes, starts, lengths = concat_codes(seqs)
    counts = np.maximum((lengths - k) // stride + 1, 0)
    offsets = np.zeros(counts.size + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    ids, invalid = batch_window_ids(codes, starts, lengths, counts, k, stride)
    out = ids.astype(np.int64)
    if invalid is not None:
        out[invalid] = -1
    return out, offsets


def _rows(flat: np.ndarray, n: int, row_stride: int, width: int) -> np.ndarray:
    """Read-only ``(n, width)`` view of ``flat`` whose row ``j`` starts at ``j * row_stride``."""
    item = flat.itemsize
    return np.lib.stride_tricks.as_strided(
        flat, shape=(n, width), strides=(row_stride * item, item), writeable=False
    )


def batch_window_ids(
    codes: np.ndarray,
    starts: np.ndarray,
    lengths: np.ndarray,
    counts: np.ndarray,
    k: int,
    stride: int,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Window ids (narrow unsigned dtype) and invalid mask (or None) of a concatenated batch."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.uint16), None
    if stride == 1:
        ids, invalid = window_ids(codes, k)
        if ids.size == total:  # one sequence, or every window is some sequence's own
            return ids, invalid
        n = lengths.size
        if int(lengths.min()) == int(lengths.max()):
            # equal lengths: the windows of sequence j are row j of an (n, L - k + 1) view
            # with row stride L; one strided copy
            length = int(lengths[0])
            m = length - k + 1
            ids = _rows(ids, n, length, m).ravel()
            return ids, None if invalid is None else _rows(invalid, n, length, m).ravel()
        # drop the windows that start in the last k - 1 bases of a sequence (they run
        # into the next one): one boolean compress
        keep = np.ones(ids.size, dtype=bool)
        first = np.maximum(lengths - k + 1, 0)
        cross = ragged_positions(starts + first, lengths - first, 1)
        keep[cross[cross < ids.size]] = False
        return ids[keep], None if invalid is None else invalid[keep]
    pos = ragged_positions(starts, counts, stride)
    dtype = np.uint16 if k <= 8 else np.uint32 if k <= 16 else np.uint64
    ids = np.zeros(total, dtype=dtype)
    bad = np.zeros(total, dtype=bool)
    two = dtype(2)
    for j in range(k):
        c = codes[pos + j]
        ids <<= two
        ids |= (c & np.uint8(3)).astype(dtype)
        bad |= c > 3
    return ids, bad if bad.any() else None


@lru_cache(maxsize=16)
def rc_id_table(k: int) -> np.ndarray:
    """Reverse-complement id of every k-mer id (int64, length 4**k)."""
    return _rc_ids(np.arange(4**k, dtype=np.int64), k)


def _rc_ids(ids: np.ndarray, k: int) -> np.ndarray:
    """Reverse-complement ids of valid (non-negative) int64 ids, digit by digit."""
    comp = (4**k - 1) - ids  # complement every base: code c -> 3 - c
    rc = np.zeros_like(comp)
    for _ in range(k):
        rc <<= 2
        rc |= comp & 3
        comp >>= 2
    return rc


def canonical_ids(ids: np.ndarray, k: int) -> np.ndarray:
    """Canonical ids: the smaller of a k-mer's id and its reverse complement's.

    Parameters
    ----------
    ids
        k-mer ids as returned by :func:`kmer_ids` (``-1`` for invalid windows).
    k
        The k-mer length the ids were computed with.

    Returns
    -------
    numpy.ndarray
        ``int64`` array of the same shape; ``-1`` stays ``-1``.  The canonical id
        of a k-mer is still an id in ``0 .. 4**k - 1`` (the id of the
        lexicographically smaller of the k-mer and its reverse complement).

    Raises
    ------
    InputFormatError
        If ``k`` is out of range or an id is outside ``-1 .. 4**k - 1``.
    """
    k = _check_k(k)
    ids = np.asarray(ids, dtype=np.int64)
    if ids.size and (int(ids.min()) < -1 or int(ids.max()) >= 4**k):
        raise InputFormatError(
            f"k-mer ids for k={k} must lie in -1..{4**k - 1}, found {int(ids.min())}..{int(ids.max())}"
        )
    valid = ids >= 0
    if k <= 10:
        rc = rc_id_table(k)[np.where(valid, ids, 0)]
    else:
        rc = _rc_ids(np.where(valid, ids, 0), k)
    return np.where(valid, np.minimum(ids, rc), -1)


def kmer_strings(k: int) -> list[str]:
    """All ``4**k`` k-mers in id order (lexicographic in ``"ACGT"``).

    Parameters
    ----------
    k
        k-mer length, ``1 <= k <= 12``.

    Returns
    -------
    list of str
        ``kmer_strings(k)[i]`` is the k-mer whose id is ``i``.

    Raises
    ------
    InputFormatError
        If ``k`` is out of range.

    Examples
    --------
    >>> kmer_strings(1)
    ['A', 'C', 'G', 'T']
    """
    k = _check_k(k, 12)
    return list(_kmer_strings(k))


@lru_cache(maxsize=8)
def _kmer_strings(k: int) -> tuple[str, ...]:
    return tuple("".join(p) for p in itertools.product(ALPHABET, repeat=k))


# --- cleaning ----------------------------------------------------------------------


def clean(
    seq: str | bytes,
    policy: str = "split",
    *,
    min_length: int = 1,
    max_n_run: int = 1,
    replace_with: str = "random",
    seed: int | np.random.Generator | None = 0,
) -> list[str]:
    """Upper-case a sequence and deal with its ambiguous bases (the cleaning policy).

    Parameters
    ----------
    seq
        The sequence (str or bytes), any case.
    policy
        ``"split"``: cut at runs of at least ``max_n_run`` ambiguous bases
        (``N`` or any other IUPAC ambiguity code) and return the pieces.
        ``"drop"``: return ``[]`` if the sequence has any ambiguous base, else the
        upper-cased sequence.  ``"replace"``: replace each ambiguous base (see
        ``replace_with``) and return the whole sequence.
    min_length
        Pieces (or the whole sequence, for ``"drop"`` / ``"replace"``) shorter
        than this are discarded.
    max_n_run
        ``"split"`` only: the shortest run of ambiguous bases that splits the
        sequence.  The default ``1`` splits at every ambiguous base, so all
        pieces are pure ACGT; larger values keep shorter runs inside the pieces
        unchanged (k-mer counting skips the windows that touch them).
    replace_with
        ``"replace"`` only: ``"random"`` (default) draws, for each ambiguous base,
        one of the bases it stands for (``R`` -> ``A`` or ``G``, ``N`` -> any),
        uniformly with a generator seeded by ``seed``; a single letter (e.g.
        ``"N"``) replaces every ambiguous base by that letter.
    seed
        Seed or NumPy Generator for ``replace_with="random"`` (default ``0``: the
        same input always gives the same output).

    Returns
    -------
    list of str
        The clean upper-case pieces, in order (empty if nothing is kept).

    Raises
    ------
    InputFormatError
        If the sequence has a character that is not an IUPAC nucleotide code
        (the message names it and its position), or an argument is invalid.

    Examples
    --------
    >>> clean("acgtNNacgtRacg", min_length=3)
    ['ACGT', 'ACGT', 'ACG']
    >>> clean("acgtNNacgtRacg", "split", max_n_run=2)
    ['ACGT', 'ACGTRACG']
    >>> clean("ACGTN", "drop")
    []
    >>> clean("ACGTN", "replace", replace_with="A")
    ['ACGTA']
    """
    if policy not in ("split", "drop", "replace"):
        raise InputFormatError(
            f"unknown cleaning policy {policy!r}; use 'split', 'drop' or 'replace'"
        )
    min_length = max(int(min_length), 0)
    raw = np.frombuffer(_as_bytes(seq), dtype=np.uint8)
    classes = _CLASS_LUT[raw]
    if raw.size and int(classes.max()) == 2:
        _raise_invalid(bytes(raw))
    upper = raw & np.uint8(0xDF)  # ASCII upper case (all valid characters are letters)
    ambiguous = classes == 1

    if policy == "drop":
        if ambiguous.any() or raw.size < min_length or raw.size == 0:
            return []
        return [upper.tobytes().decode("ascii")]

    if policy == "replace":
        if raw.size < min_length or raw.size == 0:
            return []
        out = upper.copy()
        pos = np.flatnonzero(ambiguous)
        if pos.size:
            if replace_with == "random":
                out[pos] = _random_compatible(out[pos], _rng(seed))
            else:
                if (
                    not isinstance(replace_with, str)
                    or len(replace_with) != 1
                    or replace_with.upper() not in IUPAC
                ):
                    raise InputFormatError(
                        f"replace_with must be 'random' or one IUPAC letter such as 'N', got {replace_with!r}"
                    )
                out[pos] = ord(replace_with.upper())
        return [out.tobytes().decode("ascii")]

    # policy == "split"
    max_n_run = _check_positive("max_n_run", max_n_run)
    text = upper.tobytes().decode("ascii")
    if not ambiguous.any():
        return [text] if 0 < len(text) and len(text) >= min_length else []
    # runs of ambiguous bases: starts and ends (exclusive)
    edges = np.diff(np.concatenate(([0], ambiguous.view(np.int8), [0])))
    run_starts = np.flatnonzero(edges == 1)
    run_ends = np.flatnonzero(edges == -1)
    long_runs = (run_ends - run_starts) >= max_n_run
    cut_starts = run_starts[long_runs]
    cut_ends = run_ends[long_runs]
    piece_starts = np.concatenate(([0], cut_ends))
    piece_ends = np.concatenate((cut_starts, [raw.size]))
    keep = (piece_ends - piece_starts) >= max(min_length, 1)
    return [text[s:e] for s, e in zip(piece_starts[keep], piece_ends[keep], strict=True)]


@lru_cache(maxsize=1)
def _compatible_table() -> tuple[np.ndarray, np.ndarray]:
    """For each byte: number of compatible bases and the bases (padded to 4)."""
    counts = np.zeros(256, dtype=np.int64)
    bases = np.zeros((256, 4), dtype=np.uint8)
    for code, options in IUPAC.items():
        counts[ord(code)] = len(options)
        for i in range(4):
            bases[ord(code), i] = ord(options[i % len(options)])
    return counts, bases


def _random_compatible(codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random base compatible with each upper-case IUPAC byte."""
    counts, bases = _compatible_table()
    choice = (rng.random(codes.size) * counts[codes]).astype(np.int64)
    return bases[codes, choice]


# --- fragments and statistics ---------------------------------------------------------


def fragment(
    seq: str | bytes | np.ndarray,
    length: int,
    stride: int | None = None,
    *,
    keep_tail: bool = False,
) -> list:
    """Tile a sequence with fixed-length fragments.

    Parameters
    ----------
    seq
        The sequence (str, bytes or an encoded array); fragments have its type.
    length
        Fragment length.
    stride
        Distance between fragment starts; default ``length`` (adjacent,
        non-overlapping fragments).  ``stride < length`` gives overlapping ones.
    keep_tail
        Also return the shorter remainder that starts where the next fragment
        would start, if any (``False`` by default: all fragments have ``length``).

    Returns
    -------
    list
        Fragments ``seq[s : s + length]`` for ``s = 0, stride, 2*stride, ...``
        while ``s + length <= len(seq)``.

    Raises
    ------
    InputFormatError
        If ``length`` or ``stride`` is not a positive integer.

    Examples
    --------
    >>> fragment("AACCGGT", 2)
    ['AA', 'CC', 'GG']
    >>> fragment("AACCGGT", 2, keep_tail=True)
    ['AA', 'CC', 'GG', 'T']
    """
    length = _check_positive("length", length)
    stride = length if stride is None else _check_positive("stride", stride)
    n = len(seq)
    starts = range(0, n - length + 1, stride) if n >= length else range(0)
    out = [seq[s : s + length] for s in starts]
    if keep_tail:
        tail = len(starts) * stride
        if tail < n:
            out.append(seq[tail:])
    return out


def sample_fragments(
    seqs: str | bytes | Sequence[str | bytes],
    length: int,
    n: int,
    *,
    seed: int | np.random.Generator | None = None,
    non_overlapping: bool = True,
    return_coords: bool = False,
    allow_fewer: bool = False,
) -> list | tuple[list, np.ndarray]:
    """Draw random fixed-length fragments from a genome (one or more contigs).

    Fragments never cross contig boundaries.  With ``non_overlapping=True``
    (default) no two fragments share a base: the ``n`` fragments are first
    shared among contigs by drawing ``n`` of the genome's ``len(contig) // length``
    "slots" without replacement (a multivariate hypergeometric draw, so longer
    contigs get proportionally more), then placed uniformly at random within each
    contig under the no-overlap constraint.  With ``non_overlapping=False`` the
    ``n`` distinct start positions are drawn uniformly among all valid ones.

    Parameters
    ----------
    seqs
        A sequence (str or bytes) or a list of contigs.
    length
        Fragment length.
    n
        Number of fragments.
    seed
        Seed or NumPy Generator; the same seed gives the same fragments.
    non_overlapping
        Whether fragments must be disjoint.
    return_coords
        Also return an ``(n, 2)`` int64 array of ``(contig index, start)``.
    allow_fewer
        If the genome cannot hold ``n`` fragments, return as many as fit (with a
        warning) instead of raising.

    Returns
    -------
    list or tuple
        The fragments, sorted by contig and start; with ``return_coords`` a tuple
        ``(fragments, coords)``.

    Raises
    ------
    InputFormatError
        If the genome cannot hold ``n`` fragments (and ``allow_fewer`` is False),
        or an argument is invalid.
    """
    length = _check_positive("length", length)
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
        raise InputFormatError(f"n must be a non-negative integer, got {n!r}")
    n = int(n)
    contigs = [seqs] if isinstance(seqs, str | bytes | bytearray) else list(seqs)
    lengths = np.array([len(c) for c in contigs], dtype=np.int64)
    rng = _rng(seed)
    if non_overlapping:
        capacity = lengths // length
    else:
        capacity = np.maximum(lengths - length + 1, 0)
    total = int(capacity.sum())
    if n > total:
        what = "non-overlapping " if non_overlapping else ""
        msg = (
            f"cannot sample {n} {what}fragments of {length} bp from {len(contigs)} contig(s) "
            f"totalling {int(lengths.sum())} bp (room for at most {total}); "
            "lower n or length, or pass allow_fewer=True"
        )
        if not allow_fewer:
            raise InputFormatError(msg)
        warnings.warn(msg.split(";")[0] + f"; returning {total}", stacklevel=2)
        n = total

    if non_overlapping:
        per_contig = (
            rng.multivariate_hypergeometric(capacity, n)
            if n
            else np.zeros(len(contigs), dtype=np.int64)
        )
        contig_idx = []
        starts = []
        for j in np.flatnonzero(per_contig):
            m = int(per_contig[j])
            slack = int(lengths[j]) - m * length
            offsets = np.sort(rng.integers(0, slack + 1, size=m))
            contig_idx.append(np.full(m, j, dtype=np.int64))
            starts.append(offsets + np.arange(m, dtype=np.int64) * length)
        cidx = np.concatenate(contig_idx) if contig_idx else np.zeros(0, dtype=np.int64)
        st = np.concatenate(starts) if starts else np.zeros(0, dtype=np.int64)
    else:
        flat = np.sort(rng.choice(total, size=n, replace=False)) if n else np.zeros(0, np.int64)
        bounds = np.cumsum(capacity)
        cidx = np.searchsorted(bounds, flat, side="right").astype(np.int64)
        st = (flat - (bounds[cidx] - capacity[cidx])).astype(np.int64)

    frags = [contigs[c][s : s + length] for c, s in zip(cidx.tolist(), st.tolist(), strict=True)]
    if return_coords:
        return frags, np.stack([cidx, st], axis=1) if cidx.size else np.zeros((0, 2), np.int64)
    return frags


def gc_content(seq: str | bytes | np.ndarray | Iterable[str]) -> float | np.ndarray:
    """GC fraction over the unambiguous bases (A, C, G, T) only.

    Parameters
    ----------
    seq
        A sequence (str, bytes or codes) or a list of sequences.

    Returns
    -------
    float or numpy.ndarray
        ``(G + C) / (A + C + G + T)``; ``nan`` for a sequence without ACGT bases.
        A list of sequences gives a float64 array.

    Examples
    --------
    >>> gc_content("GGCANN")
    0.75
    """
    if isinstance(seq, list | tuple):
        return np.array([gc_content(s) for s in seq], dtype=np.float64)
    counts = np.bincount(encode(seq), minlength=5)
    acgt = int(counts[:4].sum())
    if acgt == 0:
        return float("nan")
    return float(counts[1] + counts[2]) / acgt


def n50(lengths: Iterable[int]) -> int:
    """N50 of a set of contig lengths.

    Parameters
    ----------
    lengths
        Contig (or read) lengths.

    Returns
    -------
    int
        The largest length ``L`` such that contigs of length ``>= L`` hold at
        least half of all bases; ``0`` for no contigs.

    Examples
    --------
    >>> n50([2, 3, 4, 5, 6])
    5
    """
    arr = np.sort(np.asarray(list(lengths), dtype=np.int64))[::-1]
    if arr.size == 0:
        return 0
    csum = np.cumsum(arr)
    return int(arr[np.searchsorted(csum, csum[-1] / 2.0)])


def reference_kmer_ids(seq: str, k: int) -> list[int]:
    """Pure-Python overlapping k-mer ids (slow; the yardstick for tests and benchmarks).

    Splits the upper-cased sequence into ``seq[i:i+k]`` substrings and looks each
    up in a dict of the ``4**k`` k-mers; ``-1`` for substrings with other letters.

    Parameters
    ----------
    seq
        The sequence.
    k
        k-mer length, 1 to 31.

    Returns
    -------
    list of int
        One id per window, as :func:`kmer_ids` returns them.
    """
    k = _check_k(k)
    seq = seq.upper()
    if k <= 8:
        index = _reference_id_index(k)
        return [index.get(seq[i : i + k], -1) for i in range(len(seq) - k + 1)]
    # large k: parse each k-mer as a base-4 number instead of building a huge dict
    digits = str.maketrans("ACGT", "0123")
    out = []
    for i in range(len(seq) - k + 1):
        kmer = seq[i : i + k]
        out.append(int(kmer.translate(digits), 4) if kmer.strip("ACGT") == "" else -1)
    return out


@lru_cache(maxsize=4)
def _reference_id_index(k: int) -> dict[str, int]:
    return {kmer: i for i, kmer in enumerate(kmer_strings(k))}
