"""Published-model families through `--model`: tiny random models of each, no network.

Every model directory is loaded through the path a hub id takes
(``resolve_model`` -> ``AutoModel`` / ``AutoTokenizer.from_pretrained(name,
revision=..., trust_remote_code=...)``); one test lays a model out as a hub
cache snapshot and loads it by id, offline, pinned to a commit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import dnalib.embed as E
import dnalib.inference as I
from dnalib.cli import main
from dnalib.errors import DnalibError
from dnalib.io import write_fasta

sys.path.insert(0, str(Path(__file__).parent))
from hf_tiny_models import FAMILIES, REMOTE_CODE, build_all, write_hub_cache  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return build_all(tmp_path_factory.mktemp("hf"))


@pytest.fixture(scope="module")
def genomes(tmp_path_factory):
    from dnalib.simulate import simulate_community

    root = tmp_path_factory.mktemp("gs")
    simulate_community(0, n_genera=2, species_per_genus=2, genome_length=20_000).write(root / "gs")
    return root / "gs"


def _trust(family):
    return ["--trust-remote-code"] if family in REMOTE_CODE else []


def _random(n, length, seed):
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("ACGT"), length)) for _ in range(n)]


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_embeds_and_batching_does_not_matter(family, models):
    seqs = [s[: 20 + 37 * i] for i, s in enumerate(_random(9, 400, seed=1))] + ["ACGTNNACGTTA"]
    f = E.load_embedder(str(models[family]), trust_remote_code=family in REMOTE_CODE, precision="fp32")
    a = f(seqs)
    b = E.load_embedder(str(models[family]), batch_size=1, trust_remote_code=family in REMOTE_CODE,
                        precision="fp32")(seqs)
    # bf16 (weights cast once, pooled in float32): the same rows to bf16 rounding, whatever the CPU
    c = E.load_embedder(str(models[family]), trust_remote_code=family in REMOTE_CODE, precision="bf16")(seqs)
    assert c.dtype == np.float32 and np.isfinite(c).all()
    cosine = (a * c).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(c, axis=1))
    assert cosine.min() > 0.99, cosine
    assert a.shape == (10, 64 if family == "dnalib" else 32) and a.dtype == np.float32
    assert np.isfinite(a).all() and np.abs(a).sum(1).min() > 0
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_traced_passes_give_the_eager_numbers_bit_for_bit(family, precision, models, monkeypatch):
    """Many passes run through a TorchScript trace: the same rows, exactly, for every family and shape."""
    seqs = [s[: 20 + 37 * i] for i, s in enumerate(_random(12, 450, seed=2))] + ["ACGTNNACGTTA"]
    load = lambda: E.load_embedder(str(models[family]), batch_size=3,  # noqa: E731
                                   trust_remote_code=family in REMOTE_CODE, precision=precision)
    monkeypatch.setattr(I, "TRACE_MIN_PASSES", 10**9)
    eager = load()(seqs)
    monkeypatch.setattr(I, "TRACE_MIN_PASSES", 1)
    traced_calls = []
    real = I.traced_encoder
    monkeypatch.setattr(I, "traced_encoder", lambda enc, inputs: traced_calls.append(real(enc, inputs))
                        or traced_calls[-1])
    traced = load()(seqs)
    np.testing.assert_array_equal(traced, eager)
    if family in REMOTE_CODE:  # code shipped with a model may keep state: never traced
        assert traced_calls == []
    else:
        assert traced_calls and any(t is not None for t in traced_calls), family


def test_a_trace_that_differs_from_the_model_is_dropped_for_good(models, monkeypatch):
    """A trace is trusted with a shape only once it matched the eager pass; one mismatch and it is gone."""
    from dnalib.models import load_encoder

    model, tok = load_encoder(str(models["roberta"]))
    ids = torch.tensor(tok(["ACGTACGTAC", "TTGACCATGA"], padding=True)["input_ids"])
    with torch.inference_mode():
        trace = I.traced_encoder(model, {"input_ids": ids})
        assert trace is not None and trace is I.traced_encoder(model, {"input_ids": ids})
        real = torch.jit.trace
        monkeypatch.setattr(torch.jit, "trace", lambda module, example, **kw: (
            lambda **a: real(module, example, **kw)(**a) + 1))  # a trace that is off by one
        other = load_encoder(str(models["roberta"]))[0]
        assert I.traced_encoder(other, {"input_ids": ids}) is None
        assert I.traced_encoder(other, {"input_ids": ids[:1]}) is None  # never tried again
        # in-place weight updates are followed: the trace shares the weights
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(1.01)
        after = I.traced_encoder(model, {"input_ids": ids})(input_ids=ids)
        assert torch.equal(after, model(input_ids=ids).last_hidden_state)


@pytest.mark.parametrize("family", FAMILIES)
def test_long_input_is_the_mean_of_its_chunks_embedded_one_by_one(family, models):
    from dnalib.models import load_encoder

    enc, tok = load_encoder(str(models[family]), trust_remote_code=family in REMOTE_CODE)
    seq = _random(1, 700, seed=2)[0]
    seq = seq[:300] + "NNN" + seq[303:]
    length = I.max_chunk_length(enc, tok)
    budget = I.token_budget(enc, tok)
    pieces, owner, weight, ids = I.plan_chunks(tok, [seq], length, budget)
    assert len(pieces) > 3 and "".join(pieces) == seq
    assert max(t.size for t in ids) <= budget  # nothing beyond the context, nothing truncated
    whole = I.embed_sequences(enc, tok, [seq])[0]
    one_by_one = np.stack([I.embed_sequences(enc, tok, [p], chunk_length=len(p))[0] for p in pieces])
    expected = (one_by_one * weight[:, None]).sum(0) / weight.sum()
    np.testing.assert_allclose(whole, expected, rtol=1e-4, atol=1e-5)


def test_bpe_chunks_too_long_in_tokens_are_halved_not_truncated(models):
    from dnalib.models import load_encoder

    enc, tok = load_encoder(str(models["dnabert2"]))
    seq = _random(1, 900, seed=3)[0]
    pieces, owner, weight, ids = I.plan_chunks(tok, [seq], 600, 24)  # 600 bp is far over 24 tokens
    assert "".join(pieces) == seq and max(t.size for t in ids) <= 24
    # a chunk length beyond the context still embeds (BERT would fail past 24 positions)
    emb = I.embed_sequences(enc, tok, [seq], chunk_length=600)
    assert np.isfinite(emb).all()


def test_foreign_embeddings_match_a_direct_forward_pass(models):
    """Pooling as the authors do it: masked mean over the sequence tokens of the last layer."""
    from dnalib.models import load_encoder

    for family in ("nt", "dnalib"):
        enc, tok = load_encoder(str(models[family]))
        seq = _random(1, 30, seed=4)[0]  # one chunk for both
        enc_ids = tok(seq, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            hidden = enc(input_ids=enc_ids).last_hidden_state[0]
        expected = hidden[1:-1].mean(0).numpy()  # [CLS]/<cls> and [SEP]/<eos> excluded
        np.testing.assert_allclose(I.embed_sequences(enc, tok, [seq])[0], expected, rtol=1e-4, atol=1e-5)


def test_cls_pooling_where_there_is_a_cls_token_and_a_clear_error_where_not(models):
    seqs = _random(3, 80, seed=5)
    mean = E.embed_with(str(models["dnabert2"]), seqs)
    cls = E.embed_with(str(models["dnabert2"]), seqs, pooling="cls")
    assert not np.allclose(mean, cls)
    with pytest.raises(DnalibError, match="use --pooling mean"):
        E.embed_with(str(models["hyena"]), seqs, pooling="cls", trust_remote_code=True)


def test_custom_code_is_refused_without_the_flag(models, tmp_path, capsys):
    with pytest.raises(DnalibError, match="--trust-remote-code") as err:
        E.load_embedder(str(models["hyena"]))
    assert "\n" not in str(err.value) and "modeling_tinyhyena.TinyHyenaModel" in str(err.value)
    fa = tmp_path / "a.fa"
    write_fasta({"r0": "ACGT" * 20}, fa)
    assert main(["embed", "--model", str(models["hyena"]), "--input", str(fa), "--out",
                 str(tmp_path / "e"), "--no-progress"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dnalib: error: ") and "--trust-remote-code" in lines[0]
    print(lines[0])
    assert not list(tmp_path.glob("e*"))  # nothing left behind


def test_bad_names_and_revisions_are_one_line_errors(models, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(DnalibError, match="cannot fetch config.json of 'nobody/no-such-model'"):
        E.embed_with("nobody/no-such-model", ["ACGT" * 10])
    with pytest.raises(DnalibError, match="--revision .* not the local directory"):
        E.load_embedder(str(models["nt"]), revision="abc")
    with pytest.raises(DnalibError, match="neither a baseline"):
        E.load_embedder("no-such-thing")


def test_dnalib_model_identity_is_unchanged_and_foreign_ones_record_pooling(models):
    legacy = E.describe_embedder(str(models["dnalib"]))
    assert set(legacy) == {"model_dir", "sha256", "precision", "min_bases"} and legacy["min_bases"] == 4
    foreign = E.describe_embedder(str(models["hyena"]), trust_remote_code=True)
    assert foreign["pooling"] == "mean" and foreign["trust_remote_code"] is True
    assert "revision" in foreign and foreign["min_bases"] == 1
    assert E.describe_embedder(str(models["dnalib"]), pooling="cls")["pooling"] == "cls"


@pytest.mark.parametrize("family", FAMILIES)
def test_cli_evaluate_with_each_family(family, models, genomes, tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["evaluate", "--model", str(models[family]), "--genomes", str(genomes), "--out", str(out),
                 "--fragment-length", "400", "--per-genome", "6", "--tasks", "clustering,fewshot",
                 "--seeds", "2", "--no-progress", *_trust(family)]) == 0, capsys.readouterr().err
    record = json.loads(out.read_text())
    assert record["model"] == str(models[family]) and record["revision"] is None
    assert record["embedder"]["model_dir"] == str(models[family].resolve())
    if family != "dnalib":
        assert record["embedder"]["pooling"] == "mean"
    print(family, capsys.readouterr().out.strip().splitlines()[-1])




@pytest.mark.parametrize("family", FAMILIES)
def test_cli_embed_streams_and_resumes_with_each_family(family, models, tmp_path, capsys,
                                                        monkeypatch, interrupt_embed_after_first_block):
    seqs = {f"r{i}": s[: 50 + 45 * i] for i, s in enumerate(_random(8, 500, seed=6))}
    fa = tmp_path / "in.fa"
    write_fasta(seqs, fa)
    argv = lambda out, *x: ["embed", "--model", str(models[family]), "--input", str(fa),  # noqa: E731
                            "--out", str(tmp_path / out), "--block-size", "3", "--no-progress",
                            *_trust(family), *x]
    assert main(argv("full")) == 0
    real = interrupt_embed_after_first_block()
    assert main(argv("e")) == 130
    record = json.loads((tmp_path / "e.part.json").read_text())
    if family != "dnalib":
        assert record["embedder"]["pooling"] == "mean" and "revision" in record["embedder"]
    monkeypatch.setattr(E, "load_embedder", real)
    if family != "dnalib":  # another pooling is another model: refused
        assert main(argv("e", "--resume", "--pooling", "cls")) == 1
        assert "cannot resume" in capsys.readouterr().err
    assert main(argv("e", "--resume")) == 0
    assert "3 were done before" in capsys.readouterr().out
    ids, emb = E.load_embeddings(tmp_path / "e")
    full_ids, full = E.load_embeddings(tmp_path / "full")
    assert ids == full_ids == list(seqs)
    np.testing.assert_array_equal(emb, full)


def test_hub_id_loads_offline_from_the_cache_pinned_to_a_commit(models, genomes, tmp_path):
    """The hub path end to end: a cache snapshot of a custom-code model, loaded by id and commit."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    cache = tmp_path / "hub"
    write_hub_cache(cache, "tiny-org/tiny-hyena", models["hyena"], commit)
    env = {**os.environ, "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1",
           "HF_MODULES_CACHE": str(tmp_path / "modules"), "PYTHONPATH": str(REPO)}
    out = tmp_path / "r.json"
    cmd = [sys.executable, "-m", "dnalib.cli", "evaluate", "--model", "tiny-org/tiny-hyena", "--revision",
           commit, "--trust-remote-code", "--genomes", str(genomes), "--out", str(out),
           "--fragment-length", "400", "--per-genome", "4", "--tasks", "clustering", "--seeds", "1",
           "--no-progress"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    record = json.loads(out.read_text())
    assert record["model"] == "tiny-org/tiny-hyena" and record["revision"] == commit
    assert record["embedder"] == {"model": "tiny-org/tiny-hyena", "revision": commit, "commit": commit,
                                  "pooling": "mean", "trust_remote_code": True, "precision": "float32",
                                  "min_bases": 1}
    refused = subprocess.run([c for c in cmd if c != "--trust-remote-code"], env=env, capture_output=True, text=True, timeout=600)
    assert refused.returncode == 1
    assert refused.stderr.strip().count("\n") == 0 and "--trust-remote-code" in refused.stderr


def test_models_list_shows_the_catalogue_without_downloading(capsys):
    from dnalib.hub import CATALOGUE, estimate_cost, lookup

    assert main(["models", "list"]) == 0
    text = capsys.readouterr().out
    for m in CATALOGUE:
        assert m.id in text
        assert m.revision is None  # none verified: the user pins one
    assert "zhihan1996/DNABERT-S" in text and "--revision" in text
    assert lookup("zhihan1996/DNABERT-S").remote_code and lookup("tnf") is None
    cost = estimate_cost(lookup("zhihan1996/DNABERT-S"))
    assert cost["tokens"] == 2_000_000 and cost["seconds"] > 0


@pytest.mark.parametrize("family", FAMILIES)
def test_cast_bf16_layer_norms_in_float32_give_the_bf16_rows_bit_for_bit(family, models, monkeypatch):
    """cast_bf16 keeps layer-norm parameters in float32 (a faster CPU kernel): the rows of a plain
    bf16 cast, exactly, for every family; a layer norm the probe finds different stays bf16."""
    import copy

    from dnalib.models import load_encoder

    enc, tok = load_encoder(str(models[family]), trust_remote_code=family in REMOTE_CODE)
    seqs = [s[: 30 + 41 * i] for i, s in enumerate(_random(8, 400, seed=3))] + ["ACGTNNACGTTA"]
    monkeypatch.setattr(I, "TRACE_MIN_PASSES", 10**9)
    plain = I.embed_sequences(copy.deepcopy(enc).to(torch.bfloat16), tok, seqs, batch_size=3)
    cast = I.cast_bf16(copy.deepcopy(enc))
    norms = [m for m in cast.modules() if isinstance(m, torch.nn.LayerNorm) and m.weight is not None]
    assert all(m.weight.dtype == torch.float32 for m in norms), family
    assert norms or family == "hyena"  # HyenaDNA normalises with its own module, left as cast
    assert next(cast.parameters()).dtype == torch.bfloat16
    np.testing.assert_array_equal(I.embed_sequences(cast, tok, seqs, batch_size=3), plain)
    real = torch.nn.functional.layer_norm

    def off_when_mixed(x, shape, weight=None, bias=None, eps=1e-5):
        out = real(x, shape, weight, bias, eps)
        return out + 1 if weight is not None and weight.dtype != x.dtype else out

    monkeypatch.setattr(torch.nn.functional, "layer_norm", off_when_mixed)
    kept = I.cast_bf16(copy.deepcopy(enc))
    assert all(m.weight.dtype == torch.bfloat16 for m in kept.modules()
               if isinstance(m, torch.nn.LayerNorm) and m.weight is not None)
