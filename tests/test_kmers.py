"""Tests for dnalib.kmers: spectra against a pure-Python reference, TNF, the transformer."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline, make_pipeline

import dnalib.kmers as kmers_module
from dnalib.errors import InputFormatError
from dnalib.kmers import (
    KmerSpectrum,
    kmer_columns,
    kmer_spectrum,
    n_kmer_columns,
    reference_kmer_spectrum,
    tnf,
)
from dnalib.sequences import encode, kmer_strings, reverse_complement


def _independent_reference(seqs, k, canonical):
    """A second reference written without any dnalib helper (strings only)."""
    comp = str.maketrans("ACGT", "TGCA")
    names = kmer_strings(k)
    if canonical:
        names = sorted({min(s, s.translate(comp)[::-1]) for s in names})
    col = {s: i for i, s in enumerate(names)}
    out = np.zeros((len(seqs), len(names)), dtype=np.int64)
    for r, seq in enumerate(seqs):
        seq = seq.upper()
        for kmer, c in Counter(seq[i : i + k] for i in range(len(seq) - k + 1)).items():
            if set(kmer) <= set("ACGT"):
                if canonical:
                    kmer = min(kmer, kmer.translate(comp)[::-1])
                out[r, col[kmer]] += c
    return out


def _messy_sequences(seed: int, n: int = 60, max_len: int = 120) -> list[str]:
    rng = np.random.default_rng(seed)
    alphabet = list("ACGTACGTacgtNnRYKMSWBDHV")
    seqs = ["".join(rng.choice(alphabet, int(rng.integers(0, max_len)))) for _ in range(n)]
    seqs += ["", "A", "AC", "NNNNNNNNNN", "acgtacgtac", "ACGTNACGTNACGT"]
    return seqs


@pytest.mark.parametrize("k", range(1, 9))
@pytest.mark.parametrize("canonical", [False, True])
def test_counts_identical_to_reference(k, canonical):
    seqs = _messy_sequences(k)
    got = kmer_spectrum(seqs, k, canonical=canonical, normalize=None, dtype=np.int64)
    ref = reference_kmer_spectrum(seqs, k, canonical=canonical)
    assert got.shape == (len(seqs), n_kmer_columns(k, canonical))
    np.testing.assert_array_equal(got, ref)
    if k <= 6:
        np.testing.assert_array_equal(ref, _independent_reference(seqs, k, canonical))


@pytest.mark.parametrize("k", [1, 4, 6])
@pytest.mark.parametrize("canonical", [False, True])
def test_frequencies_l1_l2(k, canonical):
    seqs = _messy_sequences(100 + k)
    ref = reference_kmer_spectrum(seqs, k, canonical=canonical).astype(np.float64)
    l1 = ref.sum(1, keepdims=True)
    l2 = np.sqrt((ref**2).sum(1, keepdims=True))
    exp1 = np.divide(ref, l1, out=np.zeros_like(ref), where=l1 > 0)
    exp2 = np.divide(ref, l2, out=np.zeros_like(ref), where=l2 > 0)
    for norm in ("l1", True):
        got = kmer_spectrum(seqs, k, canonical=canonical, normalize=norm)
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, exp1, rtol=1e-6, atol=1e-7)
    got2 = kmer_spectrum(seqs, k, canonical=canonical, normalize="l2", dtype=np.float64)
    np.testing.assert_allclose(got2, exp2, rtol=1e-12, atol=1e-15)
    assert not np.isnan(got2).any()
    counts = kmer_spectrum(seqs, k, canonical=canonical, normalize=None)
    np.testing.assert_array_equal(counts, ref)
    counts = kmer_spectrum(seqs, k, canonical=canonical, normalize=False)
    np.testing.assert_array_equal(counts, ref)


def test_short_and_empty_sequences_give_zero_rows():
    x = kmer_spectrum(["", "ACG", "NNNNNN", "ACGTA"], 4)
    assert x[:3].sum() == 0 and not np.isnan(x).any()
    assert x[3].sum() == pytest.approx(1.0)
    assert kmer_spectrum([], 3).shape == (0, 64)


def test_no_kmers_across_sequence_boundaries():
    # "AAA" + "AAA" must not produce a 4-mer AAAA
    x = kmer_spectrum(["AAA", "AAA"], 4, normalize=None)
    assert x.sum() == 0
    x = kmer_spectrum(["AAA", "A"], 2, normalize=None)
    assert x.sum(1).tolist() == [2, 0]


def test_single_sequence_is_1d_and_inputs_are_interchangeable():
    seq = "ACGTTGCAnnACGTacgtRACG"
    a = kmer_spectrum(seq, 3)
    assert a.shape == (64,)
    np.testing.assert_array_equal(a, kmer_spectrum([seq], 3)[0])
    np.testing.assert_array_equal(a, kmer_spectrum(seq.encode(), 3))
    np.testing.assert_array_equal(a, kmer_spectrum(encode(seq), 3))
    mixed = kmer_spectrum([seq, seq.encode(), encode(seq), np.str_(seq)], 3)
    assert (mixed == a).all()
    assert kmer_spectrum(np.array([seq, seq]), 3).shape == (2, 64)
    assert kmer_spectrum((s for s in [seq, seq]), 3).shape == (2, 64)
    codes2d = np.stack([encode("ACGTA"), encode("TTTTT")])
    np.testing.assert_array_equal(
        kmer_spectrum(codes2d, 2, normalize=None),
        kmer_spectrum(["ACGTA", "TTTTT"], 2, normalize=None),
    )


def test_canonical_merges_reverse_complements():
    rng = np.random.default_rng(11)
    seqs = ["".join(rng.choice(list("ACGTN"), 500)) for _ in range(10)]
    rcs = [reverse_complement(s) for s in seqs]
    for k in (1, 2, 3, 4, 5):
        a = kmer_spectrum(seqs, k, canonical=True, normalize=None)
        b = kmer_spectrum(rcs, k, canonical=True, normalize=None)
        np.testing.assert_array_equal(a, b)
        full = kmer_spectrum(seqs, k, normalize=None)
        assert a.sum() == full.sum()


def test_columns():
    assert kmer_columns(2) == [a + b for a in "ACGT" for b in "ACGT"]
    canon = kmer_columns(4, canonical=True)
    assert len(canon) == 136 == n_kmer_columns(4, True)
    assert canon == sorted(canon)
    comp = str.maketrans("ACGT", "TGCA")
    assert all(c <= c.translate(comp)[::-1] for c in canon)
    assert [n_kmer_columns(k, True) for k in range(1, 7)] == [2, 10, 32, 136, 512, 2080]


def test_large_sequences_in_chunks(monkeypatch):
    # force tiny batches so both the batching and the long-sequence path are used
    monkeypatch.setattr(kmers_module, "_BATCH_BASES", 50)
    monkeypatch.setattr(kmers_module, "_BLOCK_CELLS", 64)
    seqs = _messy_sequences(5, n=40, max_len=200)
    for k in (2, 4):
        for canonical in (False, True):
            got = kmer_spectrum(seqs, k, canonical=canonical, normalize=None)
            np.testing.assert_array_equal(
                got, reference_kmer_spectrum(seqs, k, canonical=canonical)
            )
            ref = reference_kmer_spectrum(seqs, k, canonical=canonical).astype(float)
            l2 = np.sqrt((ref**2).sum(1, keepdims=True))
            exp = np.divide(ref, l2, out=np.zeros_like(ref), where=l2 > 0)
            got = kmer_spectrum(seqs, k, canonical=canonical, normalize="l2")
            np.testing.assert_allclose(got, exp, rtol=1e-6, atol=1e-7)


def test_tnf_defaults():
    rng = np.random.default_rng(12)
    seqs = ["".join(rng.choice(list("ACGT"), 300)) for _ in range(5)]
    x = tnf(seqs)
    assert x.shape == (5, 256)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, rtol=1e-6)
    assert tnf(seqs, canonical=True).shape == (5, 136)
    np.testing.assert_allclose(x, kmer_spectrum(seqs, 4, normalize="l2"))


@pytest.mark.parametrize("bad_k", [0, 9, 2.0, None])
def test_bad_k(bad_k):
    with pytest.raises(InputFormatError) as exc:
        kmer_spectrum(["ACGT"], bad_k)
    assert "\n" not in str(exc.value) and "k must be" in str(exc.value)


def test_bad_arguments():
    with pytest.raises(InputFormatError, match="normalize"):
        kmer_spectrum(["ACGT"], 2, normalize="max")
    with pytest.raises(InputFormatError, match="floating-point"):
        kmer_spectrum(["ACGT"], 2, dtype=np.int32)
    with pytest.raises(InputFormatError, match="int"):
        kmer_spectrum([1, 2], 2)
    with pytest.raises(InputFormatError, match="codes 0..4"):
        kmer_spectrum(np.array([65, 67, 71]), 2)


# --- scikit-learn ------------------------------------------------------------------------


def _toy_two_class(n: int = 40, length: int = 300, seed: int = 0):
    """Class 0 is AT-rich, class 1 is GC-rich."""
    rng = np.random.default_rng(seed)
    seqs, labels = [], []
    for i in range(n):
        cls = i % 2
        p = [0.35, 0.15, 0.15, 0.35] if cls == 0 else [0.15, 0.35, 0.35, 0.15]
        seqs.append("".join(rng.choice(list("ACGT"), length, p=p)))
        labels.append(cls)
    return seqs, np.array(labels)


def test_transformer_basics():
    seqs, _ = _toy_two_class(6)
    t = KmerSpectrum(k=3, canonical=True, normalize="l2")
    x = t.fit_transform(seqs)
    assert x.shape == (6, 32) and t.n_features_out_ == 32
    np.testing.assert_array_equal(x, kmer_spectrum(seqs, 3, canonical=True, normalize="l2"))
    assert list(t.get_feature_names_out()) == kmer_columns(3, True)
    assert clone(t).get_params() == t.get_params()
    with pytest.raises(InputFormatError, match="list"):
        t.transform("ACGT")
    with pytest.raises(InputFormatError):
        KmerSpectrum(k=12).fit(seqs)


@pytest.mark.parametrize(
    "classifier",
    [KNeighborsClassifier(n_neighbors=3), RandomForestClassifier(n_estimators=25, random_state=0)],
)
def test_pipeline_fit_predict(classifier):
    train, y_train = _toy_two_class(40, seed=1)
    test, y_test = _toy_two_class(20, seed=2)
    model = Pipeline([("kmers", KmerSpectrum(k=4)), ("clf", classifier)])
    model.fit(train, y_train)
    assert (model.predict(test) == y_test).mean() >= 0.9
    scores = cross_val_score(
        make_pipeline(KmerSpectrum(k=2), clone(classifier)), train, y_train, cv=2
    )
    assert scores.mean() >= 0.9


def test_conditional_entropy_of_random_and_periodic_sequences():
    from dnalib.kmers import conditional_entropy

    rng = np.random.default_rng(0)
    random_seq = "".join(rng.choice(list("ACGT"), 200_000))
    h = conditional_entropy(random_seq, max_context=3)
    np.testing.assert_allclose(h, np.log(4), atol=0.002)
    periodic = "ACGTTGCA" * 5000  # every base determined by the 3 before it
    h = conditional_entropy(periodic, max_context=3)
    assert h[0] == pytest.approx(np.log(4), abs=1e-3)
    assert h[3] == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(Exception, match="between 0 and 7"):
        conditional_entropy(periodic, max_context=9)


def test_spectrum_axes_are_orthonormal_deterministic_principal_directions():
    rng = np.random.default_rng(0)
    # Two kinds of sequence that differ in GC: the first axis must tell them apart.
    at = ["".join(rng.choice(list("ACGT"), 3000, p=[0.35, 0.15, 0.15, 0.35])) for _ in range(4)]
    gc = ["".join(rng.choice(list("ACGT"), 3000, p=[0.15, 0.35, 0.35, 0.15])) for _ in range(4)]
    axes = kmers_module.spectrum_axes(at + gc, 3, 8, fragment_length=500, max_fragments=200)
    assert axes.shape == (kmers_module.n_kmer_columns(3, canonical=True), 8)
    np.testing.assert_allclose(axes.T @ axes, np.eye(8), atol=1e-10)
    assert (axes[np.abs(axes).argmax(axis=0), np.arange(8)] > 0).all()  # fixed signs
    np.testing.assert_array_equal(
        axes, kmers_module.spectrum_axes(at + gc, 3, 8, fragment_length=500, max_fragments=200))
    proj = kmers_module.kmer_spectrum(at + gc, 3, canonical=True) @ axes[:, 0]
    assert max(proj[:4]) < min(proj[4:]) or min(proj[:4]) > max(proj[4:])
    # The first axis is the direction of largest variance: no random direction beats it.
    x = kmers_module.kmer_spectrum(at + gc, 3, canonical=True).astype(np.float64)
    x -= x.mean(0)
    top = np.var(x @ axes[:, 0])
    for _ in range(20):
        v = rng.standard_normal(x.shape[1])
        assert np.var(x @ (v / np.linalg.norm(v))) <= top + 1e-12


def test_spectrum_axes_handle_short_inputs_and_report_bad_ones():
    # Contigs shorter than a fragment are used whole; no more axes than the data span.
    few = kmers_module.spectrum_axes(["ACGTTGCAAC", "GGGCCCATAT", "ATATATATCG"], 2, 50,
                                     fragment_length=1000)
    assert few.shape[0] == kmers_module.n_kmer_columns(2, canonical=True) and 1 <= few.shape[1] <= 2
    with pytest.raises(InputFormatError, match="no sequence of at least"):
        kmers_module.spectrum_axes(["AC"], 3, 4)
    with pytest.raises(InputFormatError, match="no valid 3-mer"):
        kmers_module.spectrum_axes(["NNNNNNNN"], 3, 4)
    with pytest.raises(InputFormatError, match="n_axes must be a positive integer"):
        kmers_module.spectrum_axes(["ACGTACGT"], 3, 0)
