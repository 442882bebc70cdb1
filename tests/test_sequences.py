"""Tests for dnalib.sequences: encoding, k-mer ids, cleaning, fragmenting."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from dnalib.errors import DnalibError, InputFormatError
from dnalib.sequences import (
    IUPAC,
    canonical_ids,
    clean,
    decode,
    encode,
    fragment,
    gc_content,
    kmer_ids,
    kmer_strings,
    n50,
    reference_kmer_ids,
    reverse_complement,
    sample_fragments,
)

IUPAC_LETTERS = "".join(IUPAC)


def random_seq(rng: np.random.Generator, n: int, alphabet: str = "ACGTacgtNnRYkmSWbdhv") -> str:
    return "".join(rng.choice(list(alphabet), n))


def one_line(exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert "\n" not in msg and msg
    return msg


# --- encode / decode ----------------------------------------------------------------


def test_encode_codes_and_case():
    assert encode("ACGTacgt").tolist() == [0, 1, 2, 3, 0, 1, 2, 3]
    assert encode("NRYKMBVDHSWnx-*é").tolist() == [4] * 16
    assert encode(b"GATTACA").tolist() == [2, 0, 3, 3, 0, 1, 0]
    assert encode("").dtype == np.uint8 and encode("").size == 0


def test_encode_is_writable_and_accepts_records_and_arrays():
    codes = encode("ACGT")
    codes[0] = 3  # a fresh writable array
    assert encode(np.array([0, 1, 4])).tolist() == [0, 1, 4]

    class Record:
        sequence = "acgn"

    assert encode(Record()).tolist() == [0, 1, 2, 4]


def test_encode_rejects_non_sequences():
    with pytest.raises(InputFormatError) as exc:
        encode(12)
    assert "int" in one_line(exc)
    with pytest.raises(InputFormatError, match="codes 0..4"):
        encode(np.array([65, 67]))


def test_decode_roundtrip():
    rng = np.random.default_rng(1)
    seq = random_seq(rng, 500, "ACGT")
    assert decode(encode(seq)) == seq
    assert decode(encode("ACGTRN")) == "ACGTNN"
    with pytest.raises(InputFormatError):
        decode([0, 7])


# --- reverse complement ----------------------------------------------------------------


def test_reverse_complement_iupac_and_case():
    assert reverse_complement("ACGT") == "ACGT"
    assert reverse_complement("AAcgN") == "NcgTT"
    assert reverse_complement("RYKMBVDHSWN") == "NWSDHBVKMRY"
    pairs = {"R": "Y", "K": "M", "B": "V", "D": "H", "S": "S", "W": "W", "N": "N"}
    for a, b in pairs.items():
        assert reverse_complement(a) == b and reverse_complement(b) == a
        assert reverse_complement(a.lower()) == b.lower()


def test_reverse_complement_involution():
    rng = np.random.default_rng(2)
    for _ in range(50):
        seq = random_seq(rng, int(rng.integers(0, 200)), IUPAC_LETTERS + IUPAC_LETTERS.lower())
        assert reverse_complement(reverse_complement(seq)) == seq


def test_reverse_complement_rejects_invalid():
    with pytest.raises(InputFormatError) as exc:
        reverse_complement("ACGT-AC")
    msg = one_line(exc)
    assert "'-'" in msg and "position 5" in msg


# --- k-mer ids ---------------------------------------------------------------------------


@pytest.mark.parametrize("k", range(1, 9))
def test_kmer_ids_match_reference(k):
    rng = np.random.default_rng(k)
    for n in (0, k - 1, k, k + 1, 300):
        seq = random_seq(rng, n)
        assert kmer_ids(seq, k).tolist() == reference_kmer_ids(seq, k)


def test_kmer_ids_large_k_and_order():
    assert kmer_ids("A" * 31, 31).tolist() == [0]
    assert kmer_ids("T" * 31, 31).tolist() == [4**31 - 1]
    rng = np.random.default_rng(3)
    seq = random_seq(rng, 200, "ACGTN")
    for k in (10, 12, 20, 31):
        assert kmer_ids(seq, k).tolist() == reference_kmer_ids(seq, k)
    # id order is lexicographic order of the k-mer strings
    names = kmer_strings(3)
    assert names == sorted(names) and len(names) == 64
    assert [kmer_ids(s, 3)[0] for s in names] == list(range(64))


@pytest.mark.parametrize("k,stride", [(1, 1), (3, 3), (4, 2), (6, 6), (5, 7)])
def test_kmer_ids_stride(k, stride):
    rng = np.random.default_rng(4)
    for n in (0, 4, 17, 100):
        seq = random_seq(rng, n, "ACGTN")
        expected = reference_kmer_ids(seq, k)[::stride]
        assert kmer_ids(seq, k, stride=stride).tolist() == expected


def test_kmer_ids_accepts_codes():
    codes = encode("ACGTNACG")
    assert kmer_ids(codes, 3).tolist() == kmer_ids("ACGTNACG", 3).tolist()


@pytest.mark.parametrize("bad_k", [0, 32, -1, 2.5, "4", True])
def test_kmer_ids_bad_k(bad_k):
    with pytest.raises(InputFormatError) as exc:
        kmer_ids("ACGT", bad_k)
    assert "k must be" in one_line(exc)


def test_kmer_ids_bad_stride():
    with pytest.raises(InputFormatError, match="stride"):
        kmer_ids("ACGT", 2, stride=0)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 6, 11])
def test_canonical_ids(k):
    comp = str.maketrans("ACGT", "TGCA")
    rng = np.random.default_rng(k)
    seq = random_seq(rng, 300, "ACGTN")
    ids = kmer_ids(seq, k)
    canon = canonical_ids(ids, k)
    names = (
        {i: "".join(p) for i, p in enumerate(itertools.product("ACGT", repeat=k))}
        if k < 8
        else None
    )
    for i, w in enumerate(ids.tolist()):
        if w < 0:
            assert canon[i] == -1
            continue
        kmer = seq[i : i + k]
        rc = kmer.translate(comp)[::-1]
        expected = min(kmer, rc)
        assert canon[i] == kmer_ids(expected, k)[0]
        if names is not None:
            assert names[int(canon[i])] == expected
    # canonical of the reverse complement is the same
    rc_ids = kmer_ids(reverse_complement(seq), k)[::-1]
    assert canonical_ids(rc_ids, k).tolist() == canon.tolist()


def test_canonical_ids_rejects_out_of_range():
    with pytest.raises(InputFormatError):
        canonical_ids(np.array([0, 16]), 2)


def test_kmer_strings_bounds():
    assert kmer_strings(2)[:3] == ["AA", "AC", "AG"]
    with pytest.raises(InputFormatError):
        kmer_strings(13)


# --- cleaning ------------------------------------------------------------------------------


def test_clean_split_default_is_pure_acgt():
    pieces = clean("acgtNNNNacgtRacgtttt", min_length=1)
    assert pieces == ["ACGT", "ACGT", "ACGTTTT"]
    assert all(set(p) <= set("ACGT") for p in pieces)


def test_clean_split_min_length_and_max_n_run():
    seq = "AAAAANCCCCCNNNNGGGGGGR"
    assert clean(seq, min_length=6) == ["GGGGGG"]
    assert clean(seq, max_n_run=2) == ["AAAAANCCCCC", "GGGGGGR"]
    assert clean(seq, max_n_run=5) == [seq]
    assert clean("NNNN") == []
    assert clean("") == []
    assert clean("acgt") == ["ACGT"]


def test_clean_drop():
    assert clean("acgt", "drop") == ["ACGT"]
    assert clean("acgtn", "drop") == []
    assert clean("acgtY", "drop") == []
    assert clean("acg", "drop", min_length=4) == []


def test_clean_replace_random_is_compatible_and_seeded():
    rng = np.random.default_rng(5)
    seq = random_seq(rng, 2000, IUPAC_LETTERS + "acgtn")
    (out,) = clean(seq, "replace", seed=7)
    assert len(out) == len(seq)
    assert set(out) <= set("ACGT")
    for a, b in zip(seq.upper(), out, strict=True):
        assert b in IUPAC[a]
    assert clean(seq, "replace", seed=7) == [out]
    assert clean(seq, "replace", seed=8) != [out]
    # every compatible base is drawn
    (ns,) = clean("N" * 400, "replace", seed=0)
    assert set(ns) == set("ACGT")


def test_clean_replace_fixed_letter():
    assert clean("ACRYNt", "replace", replace_with="N") == ["ACNNNT"]
    with pytest.raises(InputFormatError):
        clean("ACN", "replace", replace_with="XY")


def test_clean_invalid_character_names_it():
    with pytest.raises(InputFormatError) as exc:
        clean("ACGTAC1GT")
    msg = one_line(exc)
    assert "'1'" in msg and "position 7" in msg
    with pytest.raises(InputFormatError, match="'U'"):
        clean("ACGU", "drop")
    with pytest.raises(InputFormatError, match="policy"):
        clean("ACGT", "fix")
    assert issubclass(InputFormatError, DnalibError)


# --- fragments ------------------------------------------------------------------------------


def test_fragment_tiling():
    seq = "AACCGGTTA"
    assert fragment(seq, 3) == ["AAC", "CGG", "TTA"]
    assert fragment(seq, 4) == ["AACC", "GGTT"]
    assert fragment(seq, 4, keep_tail=True) == ["AACC", "GGTT", "A"]
    assert fragment(seq, 3, keep_tail=True) == ["AAC", "CGG", "TTA"]
    assert fragment(seq, 4, 2) == ["AACC", "CCGG", "GGTT"]
    assert fragment(seq, 4, 2, keep_tail=True) == ["AACC", "CCGG", "GGTT", "TTA"]
    assert fragment("AC", 5) == []
    assert fragment("AC", 5, keep_tail=True) == ["AC"]
    assert [f.tolist() for f in fragment(encode("ACGTA"), 2)] == [[0, 1], [2, 3]]
    with pytest.raises(InputFormatError):
        fragment(seq, 0)


def _genome(rng, lengths):
    return [random_seq(rng, n, "ACGT") for n in lengths]


def test_sample_fragments_non_overlapping_within_contigs():
    rng = np.random.default_rng(6)
    contigs = _genome(rng, [5000, 120, 3000, 999, 64])
    for seed in range(20):
        frags, coords = sample_fragments(contigs, 100, 60, seed=seed, return_coords=True)
        assert len(frags) == 60 and coords.shape == (60, 2)
        for f, (c, s) in zip(frags, coords.tolist(), strict=True):
            assert len(f) == 100
            assert 0 <= s and s + 100 <= len(contigs[c])  # inside its contig
            assert contigs[c][s : s + 100] == f
        order = np.lexsort((coords[:, 1], coords[:, 0]))
        assert (order == np.arange(60)).all()  # sorted by contig, start
        for c in np.unique(coords[:, 0]):
            starts = np.sort(coords[coords[:, 0] == c, 1])
            assert (np.diff(starts) >= 100).all()  # no overlap
        assert 4 not in coords[:, 0]  # a 64 bp contig cannot hold a 100 bp fragment


def test_sample_fragments_deterministic():
    rng = np.random.default_rng(7)
    contigs = _genome(rng, [4000, 2000])
    a = sample_fragments(contigs, 50, 30, seed=3)
    assert a == sample_fragments(contigs, 50, 30, seed=3)
    assert a != sample_fragments(contigs, 50, 30, seed=4)
    g = np.random.default_rng(3)
    assert sample_fragments(contigs, 50, 30, seed=g) == sample_fragments(
        contigs, 50, 30, seed=np.random.default_rng(3)
    )


def test_sample_fragments_full_packing_and_single_string():
    seq = random_seq(np.random.default_rng(8), 1000, "ACGT")
    frags = sample_fragments(seq, 100, 10, seed=0)
    assert "".join(frags) == seq  # exactly tiled
    assert sample_fragments(seq, 100, 0, seed=0) == []


def test_sample_fragments_too_many():
    contigs = ["A" * 250, "C" * 150]
    with pytest.raises(InputFormatError) as exc:
        sample_fragments(contigs, 100, 4, seed=0)
    msg = one_line(exc)
    assert "room for at most 3" in msg and "allow_fewer" in msg
    with pytest.warns(UserWarning, match="returning 3"):
        frags = sample_fragments(contigs, 100, 4, seed=0, allow_fewer=True)
    assert sorted(frags) == ["A" * 100, "A" * 100, "C" * 100]


def test_sample_fragments_overlapping_mode():
    rng = np.random.default_rng(9)
    contigs = _genome(rng, [300, 150, 90])
    frags, coords = sample_fragments(
        contigs, 100, 250, seed=1, non_overlapping=False, return_coords=True
    )
    assert len(set(map(tuple, coords.tolist()))) == 250  # distinct starts
    for f, (c, s) in zip(frags, coords.tolist(), strict=True):
        assert contigs[c][s : s + 100] == f and len(f) == 100
    with pytest.raises(InputFormatError):
        sample_fragments(contigs, 100, 300, seed=1, non_overlapping=False)


# --- statistics -------------------------------------------------------------------------------


def test_gc_content():
    assert gc_content("GGCA") == 0.75
    assert gc_content("ggcaNNNN") == 0.75
    assert np.isnan(gc_content("NNN"))
    assert gc_content(["GC", "AT"]).tolist() == [1.0, 0.0]


def test_n50():
    assert n50([2, 3, 4, 5, 6]) == 5
    assert n50([10]) == 10
    assert n50([5, 5]) == 5
    assert n50([]) == 0
    assert n50(np.array([100, 1, 1, 1])) == 100


# --- batched k-mer ids ------------------------------------------------------------------------


@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("k", [1, 3, 6])
def test_batch_kmer_ids_matches_kmer_ids(k, stride):
    from dnalib.sequences import batch_kmer_ids

    rng = np.random.default_rng(k * 10 + stride)
    letters = np.array(list("ACGTacgtNR"))
    seqs = ["", "A"] + ["".join(letters[rng.integers(0, 10, rng.integers(0, 30))]) for _ in range(40)]
    for batch in (seqs, [s.encode() for s in seqs], ["ACGTNACGTA"] * 5):
        ids, offsets = batch_kmer_ids(batch, k, stride=stride)
        assert offsets.dtype == np.int64 and ids.dtype == np.int64
        assert offsets.size == len(batch) + 1 and offsets[-1] == ids.size
        for j, s in enumerate(batch):
            expected = kmer_ids(s, k, stride=stride).tolist()
            assert ids[offsets[j] : offsets[j + 1]].tolist() == expected


def test_batch_kmer_ids_edge_cases():
    from dnalib.sequences import batch_kmer_ids

    ids, offsets = batch_kmer_ids([], 3)
    assert ids.size == 0 and offsets.tolist() == [0]
    ids, offsets = batch_kmer_ids(iter(["ACGT", "GN", "TTA"]), 2)
    assert ids.tolist() == [1, 6, 11, -1, 15, 12] and offsets.tolist() == [0, 3, 4, 6]
    with pytest.raises(InputFormatError, match="wrap it in a list"):
        batch_kmer_ids("ACGT", 2)
    with pytest.raises(InputFormatError):
        batch_kmer_ids(["ACGT"], 0)
