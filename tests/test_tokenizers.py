"""Tests for dnalib.tokenizers: the four schemes, the NumPy fast path, leakage counter."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from dnalib.errors import DnalibError
from dnalib.sequences import kmer_ids, kmer_strings
from dnalib.tokenizers import (
    CLS_ID,
    MASK_ID,
    NUM_SPECIAL,
    PAD_ID,
    SEP_ID,
    SPECIAL_TOKENS,
    UNK_ID,
    count_recoverable_masked_tokens,
    encode_char_batch,
    encode_kmer_batch,
    fast_encode,
    make_tokenizer,
    overlap_leak,
    recoverable_masked_tokens,
    token_counts,
    tokenizer_scheme,
    tokens_per_bp,
    train_bpe_tokenizer,
    vocabulary_usage,
)

transformers = pytest.importorskip("transformers")


def _random_seqs(rng: np.random.Generator, n: int, max_len: int, alphabet: str) -> list[str]:
    letters = np.array(list(alphabet))
    out = [""]  # always include an empty sequence
    for _ in range(n - 1):
        length = int(rng.integers(0, max_len + 1))
        out.append("".join(letters[rng.integers(0, len(letters), length)]))
    return out


def _model_json(tok) -> dict:
    return json.loads(tok.backend_tokenizer.to_str())["model"]


_MESSY = "ACGTACGTACGTacgtNRy"  # mostly ACGT, some lower case, N and ambiguity codes


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    rng = np.random.default_rng(1)
    return ["".join(rng.choice(list("ACGT"), 400)) for _ in range(60)]


@pytest.fixture(scope="module")
def bpe(corpus):
    return train_bpe_tokenizer(corpus, vocab_size=120)


# --- fast path == HF tokenizer --------------------------------------------------------------


@pytest.mark.parametrize(
    ("scheme", "k"),
    [
        ("kmer", 1),
        ("kmer", 3),
        ("kmer", 6),
        ("kmer", 8),
        ("nonoverlap", 2),
        ("nonoverlap", 3),
        ("nonoverlap", 6),
        ("char", None),
    ],
)
def test_fast_path_matches_hf_tokenizer(scheme, k):
    rng = np.random.default_rng(0 if k is None else k)
    seqs = _random_seqs(rng, 60, 40, _MESSY) + ["acgtn", "A" * ((k or 1) - 1), "NNNNNNNNNN"]
    tok = make_tokenizer(scheme, k)
    hf = tok(seqs, padding=True, return_attention_mask=True)
    fast = fast_encode(tok, seqs)
    assert fast["input_ids"].tolist() == hf["input_ids"]
    assert fast["attention_mask"].tolist() == hf["attention_mask"]
    # truncation and padding to max_length, and no special tokens
    for max_length in (3, 7, 25):
        hf = tok(seqs, padding="max_length", truncation=True, max_length=max_length)
        fast = fast_encode(tok, seqs, padding="max_length", max_length=max_length)
        assert fast["input_ids"].tolist() == hf["input_ids"]
        assert fast["attention_mask"].tolist() == hf["attention_mask"]
    hf = tok(seqs, add_special_tokens=False)["input_ids"]
    fast = fast_encode(tok, seqs, add_special_tokens=False, padding=False)["input_ids"]
    assert [r.tolist() for r in fast] == hf


def test_fast_path_equal_length_batch_and_int32():
    rng = np.random.default_rng(5)
    seqs = ["".join(rng.choice(list("ACGTN"), 50)) for _ in range(20)]
    tok = make_tokenizer("kmer", 4)
    hf = tok(seqs, truncation=True, max_length=30)["input_ids"]
    fast = encode_kmer_batch(seqs, 4, max_length=30, dtype=np.int32)
    assert fast["input_ids"].dtype == np.int32 and fast["input_ids"].tolist() == hf
    assert fast["attention_mask"].all()
    ids = encode_kmer_batch(
        [s.encode() for s in seqs], 4, add_special_tokens=False, dtype=np.int64
    )["input_ids"]
    assert ids.dtype == np.int64
    expected = [[x + NUM_SPECIAL if x >= 0 else UNK_ID for x in kmer_ids(s, 4)] for s in seqs]
    assert ids.tolist() == expected


def test_kmer_ids_are_kmer_ids_plus_offset_and_unk_for_n():
    out = encode_kmer_batch(["ACGTNAC", "AC"], 3)
    ids = out["input_ids"]
    assert ids.shape == (2, 7)
    assert ids[0].tolist() == [
        CLS_ID,
        6 + NUM_SPECIAL,
        27 + NUM_SPECIAL,
        UNK_ID,
        UNK_ID,
        UNK_ID,
        SEP_ID,
    ]
    assert ids[1].tolist() == [CLS_ID, SEP_ID] + [PAD_ID] * 5  # shorter than k: no k-mer token
    assert out["attention_mask"][1].tolist() == [1, 1, 0, 0, 0, 0, 0]


def test_nonoverlapping_tail_is_split_into_single_bases():
    k = 4
    tok = make_tokenizer("nonoverlap", k)
    vocab = tok.get_vocab()
    assert len(tok) == 4**k + 5 + NUM_SPECIAL
    enc = tok("ACGTACGTAcg", add_special_tokens=False)
    assert tok.convert_ids_to_tokens(enc["input_ids"]) == ["ACGT", "ACGT", "A", "C", "G"]
    # an ambiguous base in the tail is the N token; inside a k-mer it makes [UNK]
    enc = tok("ACNTAR", add_special_tokens=False)
    assert tok.convert_ids_to_tokens(enc["input_ids"]) == ["[UNK]", "A", "N"]
    assert vocab["N"] == 4**k + NUM_SPECIAL + 4
    fast = encode_kmer_batch(["ACNTAR"], k, overlapping=False, add_special_tokens=False)
    assert fast["input_ids"][0].tolist() == [UNK_ID, vocab["A"], vocab["N"]]


def test_char_scheme_maps_iupac_and_lowercase_to_n_and_upper():
    tok = make_tokenizer("char")
    enc = tok("acgtNRYx", add_special_tokens=False)
    assert tok.convert_ids_to_tokens(enc["input_ids"]) == list("ACGTNNNN")
    assert (
        encode_char_batch(["acgtNRYx"], add_special_tokens=False)["input_ids"][0].tolist()
        == (enc["input_ids"])
    )


# --- HF behaviour: save / load, special tokens, batching -------------------------------------


@pytest.mark.parametrize(
    ("scheme", "k"), [("char", None), ("kmer", 3), ("nonoverlap", 4), ("bpe", None)]
)
def test_save_and_load_with_auto_tokenizer(scheme, k, tmp_path, bpe):
    from transformers import AutoTokenizer

    tok = bpe if scheme == "bpe" else make_tokenizer(scheme, k)
    tok.save_pretrained(tmp_path)
    assert (tmp_path / "tokenizer.json").is_file()
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    seqs = _random_seqs(np.random.default_rng(3), 20, 30, _MESSY)
    a = tok(seqs, padding=True, truncation=True, max_length=16)
    b = loaded(seqs, padding=True, truncation=True, max_length=16)
    assert a["input_ids"] == b["input_ids"] and a["attention_mask"] == b["attention_mask"]
    assert tokenizer_scheme(loaded) == ((scheme, k) if scheme != "char" else ("char", None))
    for t in (tok, loaded):
        assert [
            t.pad_token_id,
            t.unk_token_id,
            t.cls_token_id,
            t.sep_token_id,
            t.mask_token_id,
        ] == [PAD_ID, UNK_ID, CLS_ID, SEP_ID, MASK_ID]
        assert (t.bos_token, t.eos_token) == ("[CLS]", "[SEP]")
        assert t.convert_ids_to_tokens(list(range(5))) == list(SPECIAL_TOKENS)


def test_overlapping_kmer_vocabulary_and_token_count():
    for k in (3, 5):
        tok = make_tokenizer("kmer", k)
        assert len(tok) == 4**k + NUM_SPECIAL
        assert tok.convert_ids_to_tokens([NUM_SPECIAL, 4**k + NUM_SPECIAL - 1]) == [
            kmer_strings(k)[0],
            kmer_strings(k)[-1],
        ]
        seq = "ACGTTGCAAGT"
        enc = tok(seq, add_special_tokens=False)
        assert len(enc["input_ids"]) == len(seq) - k + 1
        assert tok.convert_ids_to_tokens(enc["input_ids"]) == [
            seq[i : i + k] for i in range(len(seq) - k + 1)
        ]


def test_batch_padding_truncation_attention_mask():
    tok = make_tokenizer("kmer", 3)
    enc = tok(
        ["ACGTACGT", "ACGT"], padding=True, truncation=True, max_length=5, return_tensors="np"
    )
    assert enc["input_ids"].tolist() == [[2, 11, 32, 49, 3], [2, 11, 32, 3, 0]]
    assert enc["attention_mask"].tolist() == [[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]]


def test_bpe_is_deterministic_and_has_requested_size(corpus, bpe):
    again = train_bpe_tokenizer(corpus, vocab_size=120)
    assert len(bpe) == 120
    # (compare the models: the fixture's backend may hold padding / truncation state)
    assert _model_json(bpe) == _model_json(again)
    assert _model_json(bpe)["merges"]
    assert bpe.convert_ids_to_tokens(list(range(NUM_SPECIAL))) == list(SPECIAL_TOKENS)
    enc = bpe(corpus[0], add_special_tokens=False)
    assert "".join(bpe.convert_ids_to_tokens(enc["input_ids"])) == corpus[0]
    assert tokens_per_bp(bpe, corpus) < 0.6  # merges make tokens longer than one base
    assert tokenizer_scheme(bpe) == ("bpe", None)
    # fast_encode falls back to the tokenizer itself for BPE
    assert (
        fast_encode(bpe, corpus[:3])["input_ids"].tolist()
        == bpe(corpus[:3], padding=True)["input_ids"]
    )


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: make_tokenizer("words"), "unknown tokenization scheme"),
        (lambda: make_tokenizer("kmer", 0), "k must be between"),
        (lambda: make_tokenizer("kmer", 11), "k must be between"),
        (lambda: make_tokenizer("nonoverlap", 1), "char"),
        (lambda: make_tokenizer("nonoverlap", 2.5), "k must be an integer"),
        (lambda: make_tokenizer("char", 3), "takes no k"),
        (lambda: train_bpe_tokenizer(["ACGT"], vocab_size=6), "too small"),
        (lambda: train_bpe_tokenizer([], vocab_size=50), "empty corpus"),
        (lambda: encode_kmer_batch(["ACGT"], 3, max_length=2), "max_length"),
        (lambda: encode_kmer_batch(["ACGT"], 3, padding="max_length"), "needs max_length"),
        (lambda: encode_kmer_batch(["ACGT"], 3, padding="wide"), "padding must be"),
        (lambda: encode_kmer_batch("ACGT", 3), "single str"),
        (lambda: count_recoverable_masked_tokens(np.zeros(3), np.zeros(4, bool), 3), "same"),
    ],
)
def test_bad_input_gives_one_line_dnalib_error(call, match):
    with pytest.raises(DnalibError, match=match) as info:
        call()
    assert "\n" not in str(info.value)


# --- corpus statistics and leakage --------------------------------------------------------------


def test_tokens_per_bp_counts_and_usage(corpus):
    kmer, non, char = (
        make_tokenizer("kmer", 2),
        make_tokenizer("nonoverlap", 4),
        make_tokenizer("char"),
    )
    n_bp = sum(map(len, corpus))
    assert tokens_per_bp(kmer, corpus) == pytest.approx((n_bp - len(corpus)) / n_bp)
    assert tokens_per_bp(non, corpus) == pytest.approx(0.25)
    assert tokens_per_bp(char, corpus) == 1.0
    counts = token_counts(kmer, corpus)
    assert counts.shape == (len(kmer),) and counts.sum() == n_bp - len(corpus)
    assert counts[:NUM_SPECIAL].sum() == 0
    assert vocabulary_usage(kmer, corpus) == 1.0  # all 16 2-mers occur
    assert vocabulary_usage(char, corpus) == pytest.approx(0.8)  # no N


def test_recoverable_masked_tokens_by_hand():
    k = 3
    ids = encode_kmer_batch(["ACGTACGTACGT"], k, add_special_tokens=False)["input_ids"][0]
    mask = np.zeros(ids.size, bool)
    mask[[0, 5]] = True  # position 0 has no left neighbour to spell its first base
    assert recoverable_masked_tokens(ids, mask, k).tolist() == [i == 5 for i in range(ids.size)]
    mask[:] = False
    mask[3 : 3 + k] = True  # a span of k hides base 3 + k - 1 from every unmasked token
    assert count_recoverable_masked_tokens(ids, mask, k) == 0
    mask[:] = False
    mask[3 : 3 + k - 1] = True  # a span of k - 1 leaks everything
    assert count_recoverable_masked_tokens(ids, mask, k) == k - 1
    # 2-D input with specials: [CLS]/[SEP]/[PAD] reveal nothing
    batch = encode_kmer_batch(["ACGTACG", "ACGTACGTAC"], k)["input_ids"]
    mask2 = np.zeros(batch.shape, bool)
    mask2[:, 2] = True
    assert recoverable_masked_tokens(batch, mask2, k)[:, 2].tolist() == [True, True]
    mask2[:, 0] = True  # masking [CLS] never counts
    assert recoverable_masked_tokens(batch, mask2, k)[:, 0].tolist() == [False, False]


def test_overlap_leak_single_vs_span_masking():
    for k in (3, 6):
        assert overlap_leak(k, span=1) > 0.9
        assert overlap_leak(k, span=k) == 0.0


def test_import_is_light():
    code = "import sys, dnalib.tokenizers; print('transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_token_spans_cover_the_sequence_for_every_scheme():
    from dnalib.tokenizers import make_tokenizer, token_spans, train_bpe_tokenizer

    seq = "ACGTACGGTTACNNAGTCAGGCTAGCTAGGAT"
    kmer = token_spans(make_tokenizer("kmer", k=4), seq)
    assert len(kmer) == len(seq) - 3
    assert kmer[0] == ("ACGT", 0, 4) and kmer[-1] == ("GGAT", len(seq) - 4, len(seq))
    assert kmer[9][0] == "[UNK]"  # ACNN contains N
    for tok in (make_tokenizer("char"), make_tokenizer("nonoverlap", k=6),
                train_bpe_tokenizer(["ACGTACGGTTAC" * 50, "AGTCAGGCTAGCTAGGAT" * 40], vocab_size=40)):
        spans = token_spans(tok, seq)
        assert spans[0][1] == 0 and spans[-1][2] == len(seq)
        assert all(a[2] == b[1] for a, b in zip(spans[:-1], spans[1:], strict=True))  # no gaps
    nonover = token_spans(make_tokenizer("nonoverlap", k=6), seq)
    assert [t for t, _, _ in nonover[-2:]] == ["A", "T"]  # a 2-base tail becomes single bases
