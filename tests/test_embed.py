"""Embedding with chunking, batching and pooling."""

from __future__ import annotations

import numpy as np
import pytest

from dnalib.embed import embed_sequences, max_chunk_length
from dnalib.errors import DnalibError
from dnalib.models import model_config, new_mlm_model
from dnalib.tokenizers import make_tokenizer


@pytest.fixture(scope="module")
def tiny():
    tok = make_tokenizer("kmer", k=4)
    model = new_mlm_model(model_config(tok, profile="smoke", max_tokens=40), seed=0)
    return model, tok


def _random(n, length, seed=0):
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("ACGT"), length)) for _ in range(n)]


def test_max_chunk_length_matches_the_position_budget(tiny):
    model, tok = tiny
    assert max_chunk_length(model, tok) == 38 + 4 - 1  # 40 tokens - [CLS] [SEP], 4-mers


def test_long_sequences_are_the_length_weighted_mean_of_their_chunks(tiny):
    model, tok = tiny
    seq = _random(1, 100)[0]
    whole = embed_sequences(model, tok, [seq], chunk_length=41)[0]
    parts = embed_sequences(model, tok, [seq[:41], seq[41:82], seq[82:]], chunk_length=41)
    expected = (parts * np.array([41, 41, 18])[:, None]).sum(0) / 100
    np.testing.assert_allclose(whole, expected, rtol=1e-5, atol=1e-6)


def test_batching_and_order_do_not_change_embeddings(tiny):
    model, tok = tiny
    seqs = [s[: 10 + 7 * i] for i, s in enumerate(_random(12, 120, seed=1))]
    a = embed_sequences(model, tok, seqs, batch_size=64)
    b = embed_sequences(model, tok, seqs, batch_size=1)
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert a.shape == (12, model.config.hidden_size) and a.dtype == np.float32


def test_empty_input_is_a_clear_error(tiny):
    model, tok = tiny
    with pytest.raises(DnalibError, match="empty"):
        embed_sequences(model, tok, ["ACGT", ""])
    with pytest.raises(DnalibError, match="no sequences"):
        embed_sequences(model, tok, [])


def test_embed_with_baselines_and_bad_names(tmp_path):
    import numpy as np
    import pytest

    from dnalib.embed import embed_with
    from dnalib.errors import DnalibError
    from dnalib.kmers import kmer_spectrum, tnf

    seqs = ["ACGTACGTTAGCATCGATCGATCGGCTA" * 5, "TTGACCAGTAGGCATGCAATCCGA" * 6]
    assert np.allclose(embed_with("tnf", seqs), tnf(seqs))
    assert np.allclose(embed_with("kmer6", seqs), kmer_spectrum(seqs, 6, canonical=True, normalize="l2"))
    with pytest.raises(DnalibError, match="neither a baseline"):
        embed_with(str(tmp_path), seqs)
    with pytest.raises(DnalibError, match="no sequences"):
        embed_with("tnf", [])
