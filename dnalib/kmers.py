"""k-mer spectra and tetranucleotide frequencies (TNF), vectorised.

A *k-mer spectrum* counts every overlapping k-mer of a sequence.  Columns follow
the k-mer ids of :mod:`dnalib.sequences`: base-4 numbers with the first base most
significant, i.e. k-mers in lexicographic ``"ACGT"`` order (``AAAA, AAAC, ...,
TTTT``).  Windows that contain a base other than A, C, G, T (``N``, IUPAC
ambiguity codes) are skipped, never miscounted; lower case counts as upper case.

With ``canonical=True`` a k-mer and its reverse complement share one column
(the two DNA strands are merged).  Columns are the *canonical* k-mers (the
lexicographically smaller of each pair) in increasing id order; there are
``4**k / 2`` of them for odd k and ``(4**k + 4**(k/2)) / 2`` for even k (136 for
k=4).  :func:`kmer_columns` gives the column names for either choice.

How it is fast: a batch of sequences is concatenated and encoded once
(``bytes.translate`` with a 256-byte table), the ids of all windows are
computed with ``k`` shifted-view operations on narrow unsigned integers, and
one unbuffered ``numpy.add.at`` over ``row * n_columns + id`` counts the
whole batch into a block that stays in cache (windows that touch a non-ACGT
base or run from one sequence into the next go to a discarded row), so a
short sequence costs no Python call of its own.  Batches hold at most ~256 k
cells and a few million bases, so memory stays bounded for large genomes; a
sequence longer than that is counted in chunks with exact 64-bit counts.
Single-threaded NumPy, no numba (a numba kernel measured no faster for k=6,
where writing the output matrix dominates).  Typical single-core throughput on
1 kbp sequences (``benchmarks/bench_kmers.py``): about 200 Mbp/s for k=4 and
80-100 Mbp/s for k=6 (the 4,096-column output dominates), 20-30x a
pure-Python ``Counter``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from dnalib.errors import InputFormatError
from dnalib.sequences import (
    as_codes_array,
    concat_codes,
    encode,
    kmer_strings,
    ragged_positions,
    rc_id_table,
    window_ids,
)

__all__ = [
    "conditional_entropy",
    "MAX_SPECTRUM_K",
    "KmerSpectrum",
    "kmer_columns",
    "kmer_spectrum",
    "n_kmer_columns",
    "reference_kmer_spectrum",
    "spectrum_axes",
    "tnf",
]

#: Largest k supported by :func:`kmer_spectrum` (``4**8 = 65536`` columns).
MAX_SPECTRUM_K = 8

_NORMALIZE = {True: "l1", False: None, None: None, "l1": "l1", "l2": "l2"}

# bases counted per batch (bounds temporary memory to ~100 MB)
_BATCH_BASES = 4_000_000
# cells (rows x columns) of the per-batch count block (1 MiB of float32: stays in cache)
_BLOCK_CELLS = 1 << 18


def _check_spectrum_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer):
        raise InputFormatError(f"k must be an integer between 1 and {MAX_SPECTRUM_K}, got {k!r}")
    k = int(k)
    if not 1 <= k <= MAX_SPECTRUM_K:
        raise InputFormatError(
            f"k must be between 1 and {MAX_SPECTRUM_K} for k-mer spectra (4**k columns), got k={k}"
        )
    return k


def _check_normalize(normalize: Any) -> str | None:
    try:
        return _NORMALIZE[normalize]
    except (KeyError, TypeError):
        raise InputFormatError(
            f"normalize must be 'l1', 'l2', True (= 'l1') or None/False (raw counts), "
            f"got {normalize!r}"
        ) from None


@lru_cache(maxsize=16)
def _canonical_map(k: int) -> tuple[np.ndarray, np.ndarray]:
    """(ids of the canonical k-mers in column order, column of every k-mer id)."""
    ids = np.arange(4**k, dtype=np.int64)
    canon = np.minimum(ids, rc_id_table(k))
    col_ids = np.flatnonzero(canon == ids)
    column = np.searchsorted(col_ids, canon).astype(np.uint16 if k <= 8 else np.int64)
    return col_ids, column


def n_kmer_columns(k: int, canonical: bool = False) -> int:
    """Number of columns of a k-mer spectrum.

    Parameters
    ----------
    k
        k-mer length (1 to 8).
    canonical
        Whether reverse complements are merged.

    Returns
    -------
    int
        ``4**k``, or the number of canonical k-mers
        (``4**k / 2`` for odd k, ``(4**k + 4**(k/2)) / 2`` for even k).
    """
    k = _check_spectrum_k(k)
    if not canonical:
        return 4**k
    return 4**k // 2 if k % 2 else (4**k + 4 ** (k // 2)) // 2


def kmer_columns(k: int, canonical: bool = False) -> list[str]:
    """Column names of a k-mer spectrum: the k-mers in column order.

    Parameters
    ----------
    k
        k-mer length (1 to 8).
    canonical
        ``False``: all ``4**k`` k-mers in lexicographic ``ACGT`` order.
        ``True``: the canonical k-mers (the smaller of each k-mer and its
        reverse complement), in lexicographic order.

    Returns
    -------
    list of str
        One k-mer per column.

    Examples
    --------
    >>> kmer_columns(1, canonical=True)
    ['A', 'C']
    >>> len(kmer_columns(4, canonical=True))
    136
    """
    k = _check_spectrum_k(k)
    names = kmer_strings(k)
    if not canonical:
        return names
    col_ids, _ = _canonical_map(k)
    return [names[i] for i in col_ids.tolist()]


def _is_single(seqs: Any) -> bool:
    if isinstance(seqs, str | bytes | bytearray | memoryview):
        return True
    if isinstance(seqs, np.ndarray):
        return seqs.ndim == 1 and np.issubdtype(seqs.dtype, np.integer)
    return hasattr(seqs, "sequence")


def _as_item(seq: Any) -> str | bytes | np.ndarray:
    """One sequence as str, bytes or a validated codes array."""
    if isinstance(seq, str | bytes):
        return seq
    if isinstance(seq, bytearray | memoryview):
        return bytes(seq)
    if isinstance(seq, np.ndarray):
        if seq.ndim == 0 and seq.dtype.kind in "US":  # numpy string scalar-array
            return seq.item()
        return as_codes_array(seq)
    if isinstance(seq, np.str_ | np.bytes_):
        return seq.item()
    if hasattr(seq, "sequence"):
        return _as_item(seq.sequence)
    raise InputFormatError(
        f"expected DNA sequences as str, bytes or encoded arrays, got an item of type "
        f"{type(seq).__name__}; pass a list of sequence strings"
    )


def _encode_concat(items: Sequence[str | bytes | np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Codes of the items' concatenation (no separators), their starts and lengths."""
    if all(isinstance(s, str | bytes) for s in items):
        return concat_codes(items)
    parts = [encode(s) for s in items]
    lengths = np.fromiter(map(len, parts), dtype=np.int64, count=len(parts))
    starts = np.cumsum(lengths) - lengths
    codes = np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint8)
    return codes, starts, lengths


def _count_into(
    flat: np.ndarray,
    items: Sequence[str | bytes | np.ndarray],
    k: int,
    column: np.ndarray | None,
    n_cols: int,
) -> None:
    """Add the k-mer counts of *items* to ``flat``, rows of *n_cols* cells, one per item.

    ``flat`` holds one extra row (``len(items) * n_cols`` onwards) for the windows
    that are not a k-mer of one sequence: those with a non-ACGT base, and those
    that run from one sequence into the next.
    """
    n = len(items)
    codes, starts, lengths = _encode_concat(items)
    ids, invalid = window_ids(codes, k)
    if ids.size == 0:
        return
    if column is not None:
        ids = column[ids]
    trash = n * n_cols
    if n == 1:
        keys = ids.astype(np.intp)
    else:
        keys = np.repeat(np.arange(0, trash, n_cols, dtype=np.intp), lengths)[: ids.size]
        keys += ids
        # windows starting in the last k - 1 bases of a sequence run into the next one
        first = np.maximum(lengths - k + 1, 0)
        cross = ragged_positions(starts + first, lengths - first, 1)
        keys[cross[cross < keys.size]] = trash
    if invalid is not None:
        keys[invalid] = trash
    # unbuffered add: measured faster than bincount + a cast for k = 6 (sparse rows)
    np.add.at(flat, keys, flat.dtype.type(1))


def _count_long(
    item: str | bytes | np.ndarray, k: int, column: np.ndarray | None, n_cols: int
) -> np.ndarray:
    """Exact int64 counts of one long sequence, in overlapping chunks."""
    total = np.zeros(2 * n_cols, dtype=np.int64)
    for start in range(0, max(len(item) - k + 1, 0), _BATCH_BASES):
        piece = item[start : start + _BATCH_BASES + k - 1]
        _count_into(total, [piece], k, column, n_cols)
    return total[:n_cols]


def _row_norms(x: np.ndarray, how: str) -> np.ndarray:
    """L1 or L2 norm of every row (in the dtype of ``x``; L1 sums of counts are exact)."""
    if how == "l1":
        return np.einsum("ij->i", x)
    return np.sqrt(np.einsum("ij,ij->i", x, x))


def kmer_spectrum(
    seqs: str | bytes | np.ndarray | Iterable[str | bytes | np.ndarray],
    k: int,
    *,
    canonical: bool = False,
    normalize: str | bool | None = "l1",
    dtype: Any = np.float32,
) -> np.ndarray:
    """k-mer spectra (counts or frequencies of overlapping k-mers) of sequences.

    Parameters
    ----------
    seqs
        One sequence (str or bytes, any case; or its codes from
        ``dnalib.sequences.encode``) or an iterable of them (a list, a pandas
        Series, FASTA records with a ``sequence`` attribute, ...).
    k
        k-mer length, 1 to 8.
    canonical
        Merge each k-mer with its reverse complement (columns as in
        :func:`kmer_columns`).
    normalize
        ``"l1"`` (default; ``True`` means the same): frequencies summing to 1 per
        sequence.  ``"l2"``: unit Euclidean norm per sequence.  ``None`` or
        ``False``: raw counts.  A sequence without any valid k-mer (shorter than
        k, or all ``N``) gives a row of zeros, never NaN.
    dtype
        Output dtype (default ``float32``; counts are exact below 2**24).

    Returns
    -------
    numpy.ndarray
        Shape ``(n_seqs, n_columns)`` for an iterable of sequences, ``(n_columns,)``
        for a single sequence; ``n_columns`` is ``4**k`` or, with ``canonical``,
        the number of canonical k-mers (:func:`n_kmer_columns`).

    Raises
    ------
    InputFormatError
        If ``k`` is out of range, ``normalize`` is unknown, or an item is not a
        sequence.

    Examples
    --------
    >>> kmer_spectrum("ACGTNAC", 2, normalize=None).reshape(4, 4).astype(int).tolist()
    [[0, 2, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]]
    """
    k = _check_spectrum_k(k)
    how = _check_normalize(normalize)
    single = _is_single(seqs)
    if isinstance(seqs, np.ndarray) and seqs.ndim == 2 and np.issubdtype(seqs.dtype, np.integer):
        items = [as_codes_array(row) for row in seqs]
    else:
        items = [_as_item(seqs)] if single else list(seqs)
        if not all(type(s) is str for s in items):
            items = [_as_item(s) for s in items]
    if canonical:
        _, column = _canonical_map(k)
        n_cols = n_kmer_columns(k, True)
    else:
        column, n_cols = None, 4**k

    dtype = np.dtype(dtype)
    if how is not None and dtype.kind != "f":
        raise InputFormatError(
            f"normalize={normalize!r} needs a floating-point dtype, got {dtype}; "
            "use normalize=None for integer counts"
        )
    n = len(items)
    out = np.empty((n, n_cols), dtype=dtype)
    # Sequences are counted in batches of at most ~1 M cells and a few million bases.
    rows_cap = max(1, _BLOCK_CELLS // n_cols)
    # counts of one batch, plus a row for discarded windows; small enough to stay in cache
    block = np.zeros((min(rows_cap, max(n, 1)) + 1, n_cols), dtype=dtype if how else np.int64)

    def flush(a: int, b: int) -> None:
        buf = block[: b - a + 1]
        buf.fill(0)
        _count_into(buf.reshape(-1), items[a:b], k, column, n_cols)
        counts = buf[:-1]
        if how is None:
            out[a:b] = counts
            return
        norm = _row_norms(counts, how)
        norm[norm == 0] = 1  # rows without valid k-mers stay all zero
        np.divide(counts, norm[:, None], out=out[a:b])

    lengths = np.fromiter(map(len, items), dtype=np.int64, count=n)
    ends = np.cumsum(lengths)  # end of each sequence in the concatenation
    long_rows = np.flatnonzero(lengths >= _BATCH_BASES).tolist() + [n]
    start = 0
    for stop in long_rows:  # batches of short sequences between the long ones
        while start < stop:
            base = ends[start - 1] if start else 0
            end = int(np.searchsorted(ends, base + _BATCH_BASES, side="left")) + 1
            end = min(end, start + rows_cap, stop)
            flush(start, end)
            start = end
        if stop < n:  # a long sequence on its own, counted in chunks
            counts = _count_long(items[stop], k, column, n_cols)
            if how is None:
                out[stop] = counts
            else:
                norm = _row_norms(counts[None, :].astype(np.float64), how)[0]
                out[stop] = counts / norm if norm > 0 else 0.0
            start = stop + 1
    return out[0] if single else out


def tnf(
    seqs: str | bytes | np.ndarray | Iterable[str | bytes | np.ndarray],
    *,
    canonical: bool = False,
    normalize: str | bool | None = "l2",
    dtype: Any = np.float32,
) -> np.ndarray:
    """Tetranucleotide frequencies: the 4-mer spectrum, L2-normalised by default.

    The default (all 256 overlapping 4-mers, unit L2 norm) is the TNF baseline of
    the DNABERT-S evaluation.  On the 15 real genomes of ``genomes-kmcp15`` (100
    random 10 kbp fragments per genome, KMeans with K=15, init "random", n_init 3,
    seeds 0-4) it scores ARI 0.35-0.39 depending on the fragment draw.  Binning
    tools (MetaBAT, VAMB) use the 136 canonical 4-mers (``canonical=True``), which
    makes a fragment and its reverse complement identical; on the same fragments
    that variant scores ARI 0.51-0.53, a much stronger baseline.

    Parameters
    ----------
    seqs
        One sequence or an iterable of sequences (see :func:`kmer_spectrum`).
    canonical
        Merge reverse complements (136 columns instead of 256).
    normalize
        ``"l2"`` (default), ``"l1"`` or ``None`` (counts); see :func:`kmer_spectrum`.
    dtype
        Output dtype (default ``float32``).

    Returns
    -------
    numpy.ndarray
        Shape ``(n_seqs, 256)`` (or 136 with ``canonical``); 1-d for one sequence.
    """
    return kmer_spectrum(seqs, 4, canonical=canonical, normalize=normalize, dtype=dtype)


def reference_kmer_spectrum(seqs: Iterable[str], k: int, *, canonical: bool = False) -> np.ndarray:
    """Pure-Python k-mer counts (slow; the yardstick for tests and benchmarks).

    Splits every sequence into ``seq[i:i+k]`` substrings, counts them with
    ``collections.Counter`` and keeps k-mers made only of A, C, G, T (after
    upper-casing).

    Parameters
    ----------
    seqs
        Sequences as str.
    k
        k-mer length, 1 to 8.
    canonical
        Merge reverse complements (columns as in :func:`kmer_columns`).

    Returns
    -------
    numpy.ndarray
        ``int64`` counts, shape ``(n_seqs, n_columns)``.
    """
    k = _check_spectrum_k(k)
    index = _reference_index(k, canonical)
    seqs = list(seqs)
    out = np.zeros((len(seqs), n_kmer_columns(k, canonical)), dtype=np.int64)
    for row, seq in enumerate(seqs):
        seq = seq.upper()
        counts = Counter(seq[i : i + k] for i in range(len(seq) - k + 1))
        row_counts = [0] * out.shape[1]
        for kmer, c in counts.items():
            col = index.get(kmer)
            if col is not None:
                row_counts[col] += c
        out[row] = row_counts
    return out


@lru_cache(maxsize=4)
def _reference_index(k: int, canonical: bool) -> dict[str, int]:
    """Column of every ACGT k-mer string, built from strings only (no id arithmetic)."""
    if not canonical:
        return {kmer: i for i, kmer in enumerate(kmer_strings(k))}
    comp = str.maketrans("ACGT", "TGCA")
    canon = {kmer: min(kmer, kmer.translate(comp)[::-1]) for kmer in kmer_strings(k)}
    columns = {c: i for i, c in enumerate(sorted(set(canon.values())))}
    return {kmer: columns[c] for kmer, c in canon.items()}


class KmerSpectrum(TransformerMixin, BaseEstimator):
    """scikit-learn transformer: sequences -> k-mer spectra.

    Use it as the first step of a ``Pipeline``, e.g. with a k-nearest-neighbours
    or random-forest classifier (the 6-mer + random forest baseline of SCORPIO).
    ``fit`` learns nothing; ``transform`` calls :func:`kmer_spectrum`.

    Parameters
    ----------
    k
        k-mer length, 1 to 8.
    canonical
        Merge reverse complements.
    normalize
        ``"l1"`` (default), ``"l2"`` or ``None`` (raw counts).
    dtype
        Output dtype (default ``float32``).

    Attributes
    ----------
    n_features_out_ : int
        Number of output columns.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> model = make_pipeline(KmerSpectrum(k=2), KNeighborsClassifier(n_neighbors=1))
    >>> model.fit(["AAAAAAAA", "CGCGCGCG"], [0, 1]).predict(["AAAAAAAC"]).tolist()
    [0]
    """

    def __init__(
        self,
        k: int = 4,
        canonical: bool = False,
        normalize: str | bool | None = "l1",
        dtype: Any = np.float32,
    ) -> None:
        self.k = k
        self.canonical = canonical
        self.normalize = normalize
        self.dtype = dtype

    def fit(self, X: Iterable[Any], y: Any = None) -> KmerSpectrum:
        """Check the parameters (nothing is learned).

        Parameters
        ----------
        X
            Sequences (ignored).
        y
            Ignored.

        Returns
        -------
        KmerSpectrum
            ``self``.
        """
        _check_normalize(self.normalize)
        self.n_features_out_ = n_kmer_columns(self.k, self.canonical)
        return self

    def transform(self, X: Iterable[Any]) -> np.ndarray:
        """Compute the k-mer spectra of sequences.

        Parameters
        ----------
        X
            An iterable of sequences (str, bytes or encoded arrays).

        Returns
        -------
        numpy.ndarray
            Shape ``(n_seqs, n_features_out_)``.
        """
        check_is_fitted(self, "n_features_out_")
        if _is_single(X):
            raise InputFormatError(
                "KmerSpectrum.transform expects a list of sequences, got a single "
                "sequence; wrap it in a list"
            )
        return kmer_spectrum(
            X, self.k, canonical=self.canonical, normalize=self.normalize, dtype=self.dtype
        )

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Output feature names: the k-mers of the columns.

        Parameters
        ----------
        input_features
            Ignored (the input is sequences, not features).

        Returns
        -------
        numpy.ndarray
            Object array of k-mer strings.
        """
        check_is_fitted(self, "n_features_out_")
        return np.asarray(kmer_columns(self.k, self.canonical), dtype=object)

    def __sklearn_tags__(self):
        """Declare that the input is a list of strings, not a 2-d array."""
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.requires_fit = True
        return tags


def conditional_entropy(seqs: Any, max_context: int = 7) -> np.ndarray:
    """Entropy of the next base given the previous bases, for contexts of 0 to *max_context* bases.

    ``H(X | c previous bases) = H((c+1)-mers) - H(c-mers)``, estimated from the
    overlapping k-mer counts of *seqs* (natural log, nats per base). ``ln 4 =
    1.386`` means no predictability; the drop with growing context measures how
    much local structure a model could learn (estimates for long contexts are
    biased low when the sequences are short compared with 4^(c+1)).

    Parameters
    ----------
    seqs
        A sequence or a list of sequences.
    max_context : int
        Longest context, 0 to 7.

    Returns
    -------
    numpy.ndarray
        ``max_context + 1`` values; element ``c`` is the entropy given ``c`` bases.
    """
    if not 0 <= int(max_context) <= 7:
        raise InputFormatError(f"max_context must be between 0 and 7; got {max_context}")

    def entropy(k: int) -> float:
        if k == 0:
            return 0.0
        counts = np.asarray(kmer_spectrum(seqs, k, normalize=None), dtype=np.float64)
        counts = counts.sum(axis=0) if counts.ndim == 2 else counts
        total = counts.sum()
        if total == 0:
            raise InputFormatError(f"no valid {k}-mer in the input: sequences too short or all N")
        p = counts[counts > 0] / total
        return float(-(p * np.log(p)).sum())

    h = [entropy(k) for k in range(max_context + 2)]
    return np.array([h[c + 1] - h[c] for c in range(max_context + 1)])


def spectrum_axes(
    seqs: Iterable[str],
    k: int,
    n_axes: int,
    *,
    fragment_length: int = 1000,
    max_fragments: int = 4000,
    seed: int = 0,
) -> np.ndarray:
    """Principal axes of the canonical k-mer spectra of fragments of *seqs*.

    Cuts up to *max_fragments* fragments of *fragment_length* bp at random
    positions (every base equally likely; contigs shorter than a fragment are
    taken whole), computes their canonical k-mer frequencies, centres them and
    returns the leading right singular vectors: the directions in which k-mer
    composition varies most across the corpus (principal component analysis;
    in text processing, latent semantic analysis). Projecting a spectrum on
    them keeps what tells sequences apart and drops what all share, so *n_axes*
    of them keep much more of the species signal than as many random
    directions (6-mers, 128 axes, synthetic evaluation species: ARI 0.67
    against 0.42 for a random projection and 0.69 for the full spectrum).
    :func:`dnalib.models.spectrum_init_` starts an encoder's token embeddings
    from them. No labels are used.

    Parameters
    ----------
    seqs
        Training contigs (strings); only their k-mer composition is used.
    k
        k-mer length (1 to 8).
    n_axes
        Axes wanted. Fewer are returned when the spectra span fewer
        dimensions (fragments or canonical k-mers fewer than *n_axes*).
    fragment_length
        Bases per fragment (1 kbp by default: long enough for a stable
        spectrum, short enough for many fragments).
    max_fragments
        Fragments to sample (more: steadier axes, slower).
    seed
        Seed of the fragment positions.

    Returns
    -------
    numpy.ndarray
        ``(n_kmer_columns(k, canonical=True), m)`` with ``m <= n_axes``
        orthonormal columns, rows in :func:`kmer_columns` ``(k, True)`` order,
        in decreasing order of variance; each column's sign is fixed (its
        largest entry is positive), so the result depends only on the input.

    Raises
    ------
    InputFormatError
        If the arguments are out of range or the sequences hold no valid k-mer.
    """
    k = _check_spectrum_k(k)
    for name, value in (("n_axes", n_axes), ("fragment_length", fragment_length),
                        ("max_fragments", max_fragments)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise InputFormatError(f"{name} must be a positive integer; got {value!r}")
    contigs = [s for s in (_as_item(s) for s in seqs) if len(s) >= k]
    if not contigs:
        raise InputFormatError(
            f"no sequence of at least {k} bases to compute k-mer axes from: pass the training contigs"
        )
    lengths = np.array([len(s) for s in contigs], dtype=np.float64)
    long = lengths >= fragment_length
    rng = np.random.default_rng(seed)
    if long.any():
        fits = np.where(long, lengths - fragment_length + 1, 0.0)
        which = rng.choice(len(contigs), size=max_fragments, p=fits / fits.sum())
        starts = (rng.random(max_fragments) * fits[which]).astype(np.int64)
        frags = [contigs[w][s:s + fragment_length] for w, s in zip(which, starts, strict=True)]
    else:
        frags = contigs[:max_fragments]
    x = np.asarray(kmer_spectrum(frags, k, canonical=True, normalize="l1"), dtype=np.float64)
    x = x[x.sum(axis=1) > 0]
    if len(x) == 0:
        raise InputFormatError(f"the sequences hold no valid {k}-mer (only N or other non-ACGT bases?)")
    x -= x.mean(axis=0)
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    keep = int(min(n_axes, np.sum(s > s[0] * 1e-9) if s[0] > 0 else 0))
    axes = vt[:keep].T
    signs = np.sign(axes[np.abs(axes).argmax(axis=0), np.arange(keep)])
    return axes * np.where(signs == 0, 1.0, signs)
