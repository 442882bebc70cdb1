"""Tests of dnalib.contrastive and the two modules below it (dnalib.losses, dnalib.pairs):
the two losses, the pair sampler, the projection head, MI-Mix encoding."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dnalib.contrastive import ProjectionHead, draw_mix, encode
from dnalib.errors import DnalibError
from dnalib.losses import mimix_loss, weighted_simclr_loss
from dnalib.models import base_model, content_mask, masked_mean, model_config, new_mlm_model
from dnalib.tokenizers import fast_encode, make_tokenizer

# --------------------------------------------------------------------------- slow references


def _dot(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def ref_weighted_simclr(z1: torch.Tensor, z2: torch.Tensor, tau: float) -> float:
    """Weighted SimCLR exactly as written in DESIGN.md section 6, with loops and math.exp."""
    n = z1.shape[0]
    f = z1.double().tolist() + z2.double().tolist()
    total = 0.0
    for i in range(2 * n):
        partner = (i + n) % (2 * n)
        pos = math.exp(_dot(f[i], f[partner]) / tau)
        neg = [math.exp(_dot(f[i], f[j]) / tau) for j in range(2 * n) if j not in (i, partner)]
        assert len(neg) == 2 * n - 2
        mean = sum(neg) / len(neg)
        ng = sum((nij / mean) * nij for nij in neg)
        total += -math.log(pos / (pos + ng))
    return total / (2 * n)


def ref_mimix(z1m: torch.Tensor, z2: torch.Tensor, perm: list[int], lam: list[float], tau: float) -> float:
    """MI-Mix loss exactly as written in DESIGN.md section 6, with loops and math.exp."""
    n = z1m.shape[0]
    a, b = z1m.double().tolist(), z2.double().tolist()
    total = 0.0
    for i in range(n):
        pos = math.exp(_dot(a[i], b[i]) / tau)
        pos_r = math.exp(_dot(a[i], b[perm[i]]) / tau)
        neg = [math.exp(_dot(a[i], b[j]) / tau) for j in range(n) if j != i]
        mean = sum(neg) / len(neg)
        ng = sum((nij / mean) * nij for nij in neg)
        total += -(lam[i] * math.log(pos / (pos + ng)) + (1 - lam[i]) * math.log(pos_r / (pos + ng)))
    return total / n


def _unit(n: int, d: int, gen: torch.Generator, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return F.normalize(torch.randn(n, d, generator=gen, dtype=torch.float64), dim=1).to(dtype)


CASES = [(2, 3, 0.05), (5, 8, 0.05), (16, 32, 0.05), (7, 4, 0.5), (12, 16, 1.0), (3, 128, 0.1)]


# --------------------------------------------------------------------------- losses


@pytest.mark.parametrize(("n", "d", "tau"), CASES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_weighted_simclr_matches_reference(n: int, d: int, tau: float, dtype: torch.dtype) -> None:
    gen = torch.Generator().manual_seed(n * 1000 + d)
    z1, z2 = _unit(n, d, gen, dtype), _unit(n, d, gen, dtype)
    got = float(weighted_simclr_loss(z1, z2, temperature=tau))
    assert got == pytest.approx(ref_weighted_simclr(z1, z2, tau), rel=1e-5)


def test_weighted_simclr_close_views_and_default_temperature() -> None:
    gen = torch.Generator().manual_seed(1)
    z1 = _unit(6, 16, gen)
    z2 = F.normalize(z1 + 0.05 * torch.randn(6, 16, generator=gen), dim=1)
    got = float(weighted_simclr_loss(z1, z2))
    assert got == pytest.approx(ref_weighted_simclr(z1, z2, 0.05), rel=1e-5)


@pytest.mark.parametrize(("n", "d", "tau"), CASES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_mimix_matches_reference(n: int, d: int, tau: float, dtype: torch.dtype) -> None:
    gen = torch.Generator().manual_seed(n * 1000 + d + 7)
    z1m, z2 = _unit(n, d, gen, dtype), _unit(n, d, gen, dtype)
    perm = torch.randperm(n, generator=gen)
    lam = 0.5 + 0.5 * torch.rand(n, generator=gen, dtype=torch.float64)
    got = float(mimix_loss(z1m, z2, perm, lam.to(dtype), temperature=tau))
    assert got == pytest.approx(ref_mimix(z1m, z2, perm.tolist(), lam.tolist(), tau), rel=1e-5)


def test_mimix_fixed_points_and_lambda_one() -> None:
    gen = torch.Generator().manual_seed(3)
    n, d, tau = 6, 8, 0.05
    z1m, z2 = _unit(n, d, gen), _unit(n, d, gen)
    perm = torch.tensor([0, 2, 1, 3, 5, 4])  # fixed points 0 and 3
    lam = torch.tensor([1.0, 0.6, 0.6, 0.8, 1.0, 0.5])
    got = float(mimix_loss(z1m, z2, perm, lam, temperature=tau))
    assert got == pytest.approx(ref_mimix(z1m, z2, perm.tolist(), lam.tolist(), tau), rel=1e-5)
    # With lambda = 1 the partner term vanishes, whatever the permutation.
    ones = torch.ones(n)
    a = mimix_loss(z1m, z2, perm, ones, temperature=tau)
    b = mimix_loss(z1m, z2, torch.arange(n), ones, temperature=tau)
    assert float(a) == pytest.approx(float(b), rel=1e-6)
    assert float(a) == pytest.approx(ref_mimix(z1m, z2, list(range(n)), [1.0] * n, tau), rel=1e-5)


def test_losses_have_finite_nonzero_gradients() -> None:
    gen = torch.Generator().manual_seed(4)
    n, d = 8, 16
    raw1 = torch.randn(n, d, generator=gen, requires_grad=True)
    raw2 = torch.randn(n, d, generator=gen, requires_grad=True)
    perm = torch.randperm(n, generator=gen)
    lam = 0.5 + 0.5 * torch.rand(n, generator=gen)
    for loss_fn in (lambda a, b: weighted_simclr_loss(a, b),
                    lambda a, b: mimix_loss(a, b, perm, lam)):
        raw1.grad = raw2.grad = None
        loss = loss_fn(F.normalize(raw1, dim=1), F.normalize(raw2, dim=1))
        loss.backward()
        for g in (raw1.grad, raw2.grad):
            assert g is not None and torch.isfinite(g).all() and g.abs().sum() > 0


def test_losses_stable_for_identical_views() -> None:
    # exp(1/tau) = exp(20) at tau = 0.05; identical views must not overflow in fp32.
    z = F.normalize(torch.randn(4, 8, generator=torch.Generator().manual_seed(5)), dim=1)
    for loss in (weighted_simclr_loss(z, z.clone()), mimix_loss(z, z.clone(), torch.arange(4), torch.ones(4))):
        assert torch.isfinite(loss)


def test_losses_are_float32_under_bf16_autocast() -> None:
    gen = torch.Generator().manual_seed(6)
    z1, z2 = _unit(6, 16, gen), _unit(6, 16, gen)
    perm, lam = torch.randperm(6, generator=gen), torch.full((6,), 0.75)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        a = weighted_simclr_loss(z1, z2)
        b = mimix_loss(z1, z2, perm, lam)
    assert a.dtype == b.dtype == torch.float32
    assert float(a) == pytest.approx(float(weighted_simclr_loss(z1, z2)), rel=1e-6)
    assert float(b) == pytest.approx(float(mimix_loss(z1, z2, perm, lam)), rel=1e-6)


def test_loss_input_validation() -> None:
    z = torch.zeros(4, 3)
    with pytest.raises(DnalibError):
        weighted_simclr_loss(z, torch.zeros(4, 5))
    with pytest.raises(DnalibError):
        weighted_simclr_loss(torch.zeros(1, 3), torch.zeros(1, 3))
    with pytest.raises(DnalibError):
        weighted_simclr_loss(torch.zeros(4), torch.zeros(4))
    with pytest.raises(DnalibError):
        weighted_simclr_loss(z, z, temperature=0.0)
    with pytest.raises(DnalibError):
        mimix_loss(z, z, torch.arange(3), torch.ones(4))
    with pytest.raises(DnalibError):
        mimix_loss(z, z, torch.arange(4), torch.ones(4, 1))


# --------------------------------------------------------------------------- projection head


def test_projection_head() -> None:
    torch.manual_seed(0)
    head = ProjectionHead(16, out=8)
    out = head(torch.randn(5, 16))
    assert out.shape == (5, 8)
    assert torch.allclose(out.norm(dim=1), torch.ones(5), atol=1e-6)
    linears = [m for m in head.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(16, 16), (16, 8)]
    assert all(m.bias is None for m in linears)


# --------------------------------------------------------------------------- encode and MI-Mix


SEQS = ["ACGTACGTAGCTAGCATCGATTGCA", "ACGTTGCAAGT", "ACGATCGATCGTAGCTAGCTAGCAGGCT", "TTGACCAGTAGGCATGCAAT"]
TOKENIZERS = {"kmer3": ("kmer", 3), "nonoverlap4": ("nonoverlap", 4)}


def _setup(tok_name: str, position: str, *, padded: bool) -> tuple:
    scheme, k = TOKENIZERS[tok_name]
    tok = make_tokenizer(scheme, k=k)
    model = new_mlm_model(model_config(tok, profile="smoke", max_tokens=40, position=position), seed=1).eval()
    seqs = SEQS if padded else [s[:11] for s in SEQS]
    enc = fast_encode(tok, seqs)
    ids = torch.as_tensor(np.asarray(enc["input_ids"]), dtype=torch.long)
    att = torch.as_tensor(np.asarray(enc["attention_mask"]), dtype=torch.long)
    assert bool(att.all()) != padded
    return tok, model, ids, att


def _manual_mixed(model, ids, att, content, layer, perm, lam) -> torch.Tensor:
    """Mix the stock forward's hidden states after *layer* layers, then run the rest by hand.

    Uses a hand-built 4-D additive float mask (not the model's mask preparation).
    """
    enc = base_model(model)
    hs = enc(input_ids=ids, attention_mask=att, output_hidden_states=True).hidden_states
    h = hs[layer]  # input of layer `layer` (hs[0] is the embedding output)
    w = lam.view(-1, 1, 1)
    h = w * h + (1 - w) * h[perm]
    mask = att * att[perm]
    big_negative = torch.finfo(h.dtype).min
    additive = torch.zeros(h.shape[0], 1, h.shape[1], h.shape[1], dtype=h.dtype)
    additive = additive.masked_fill(~mask.bool()[:, None, None, :], big_negative)
    is_esm = enc.config.model_type == "esm"
    if is_esm:
        rope = enc.rotary_embeddings(h, torch.arange(h.shape[1]).unsqueeze(0))
    for lay in enc.encoder.layer[layer:]:
        h = lay(h, attention_mask=additive, position_embeddings=rope) if is_esm else lay(h, additive)
    if is_esm:
        h = enc.encoder.emb_layer_norm_after(h)
    return masked_mean(h, content * content[perm])


@pytest.mark.parametrize("position", ["absolute", "rotary"])
@pytest.mark.parametrize("tok_name", list(TOKENIZERS))
@pytest.mark.parametrize("padded", [False, True])
def test_encode_without_mixing_matches_stock_forward(position: str, tok_name: str, padded: bool) -> None:
    tok, model, ids, att = _setup(tok_name, position, padded=padded)
    cm = content_mask(ids, att, tok)
    with torch.no_grad():
        ref = masked_mean(base_model(model)(ids, att).last_hidden_state, cm)
        assert torch.allclose(encode(model, ids, att, content=cm), ref, atol=1e-5)
        assert torch.allclose(encode(base_model(model), ids, att, content=cm), ref, atol=1e-5)
        ref_all = masked_mean(base_model(model)(ids, att).last_hidden_state, att)
        assert torch.allclose(encode(model, ids, att), ref_all, atol=1e-5)


@pytest.mark.parametrize("position", ["absolute", "rotary"])
def test_mix_with_lambda_one_is_unmixed(position: str) -> None:
    tok, model, ids, att = _setup("kmer3", position, padded=True)
    cm = content_mask(ids, att, tok)
    n = ids.shape[0]
    perm = torch.arange(n)  # identity: the masks stay the same too
    with torch.no_grad():
        ref = encode(model, ids, att, content=cm)
        for layer in range(model.config.num_hidden_layers):
            got = encode(model, ids, att, mix_layer=layer, perm=perm, lam=torch.ones(n), content=cm)
            assert torch.allclose(got, ref, atol=1e-5)
            # A real permutation with lambda = 1 keeps the hidden states; only
            # the masks become products, so compare on unpadded inputs.
    tok, model, ids, att = _setup("kmer3", position, padded=False)
    cm = content_mask(ids, att, tok)
    with torch.no_grad():
        ref = encode(model, ids, att, content=cm)
        for layer in range(model.config.num_hidden_layers):
            got = encode(model, ids, att, mix_layer=layer, perm=torch.tensor([2, 0, 3, 1]),
                         lam=torch.ones(n), content=cm)
            assert torch.allclose(got, ref, atol=1e-5)


@pytest.mark.parametrize("position", ["absolute", "rotary"])
@pytest.mark.parametrize("padded", [False, True])
def test_mix_matches_manual_forward(position: str, padded: bool) -> None:
    tok, model, ids, att = _setup("nonoverlap4", position, padded=padded)
    cm = content_mask(ids, att, tok)
    perm = torch.tensor([1, 2, 0, 3])  # 3 is a fixed point
    lam = torch.tensor([0.7, 0.55, 0.9, 0.6])
    with torch.no_grad():
        for layer in range(model.config.num_hidden_layers):
            got = encode(model, ids, att, mix_layer=layer, perm=perm, lam=lam, content=cm)
            ref = _manual_mixed(model, ids, att, cm, layer, perm, lam)
            assert torch.allclose(got, ref, atol=1e-5), (layer, (got - ref).abs().max())
            unmixed = encode(model, ids, att, content=cm)
            assert not torch.allclose(got[:3], unmixed[:3], atol=1e-3)


@pytest.mark.parametrize("position", ["absolute", "rotary"])
def test_gradients_reach_encoder_through_mimix(position: str) -> None:
    tok, model, ids, att = _setup("kmer3", position, padded=True)
    cm = content_mask(ids, att, tok)
    head = ProjectionHead(model.config.hidden_size, out=16)
    layer, perm, lam = draw_mix(ids.shape[0], model.config.num_hidden_layers, np.random.default_rng(0))
    z1 = head(encode(model, ids, att, mix_layer=layer, perm=perm, lam=lam, content=cm))
    z2 = head(encode(model, ids.flip(1), att.flip(1), content=cm.flip(1)))
    mimix_loss(z1, z2, perm, lam).backward()
    grad = base_model(model).embeddings.word_embeddings.weight.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_encode_validation() -> None:
    tok, model, ids, att = _setup("kmer3", "absolute", padded=True)
    n = ids.shape[0]
    with pytest.raises(DnalibError):
        encode(model, ids, att, mix_layer=model.config.num_hidden_layers, perm=torch.arange(n), lam=torch.ones(n))
    with pytest.raises(DnalibError):
        encode(model, ids, att, mix_layer=0)
    with pytest.raises(DnalibError):
        encode(model, ids, att[:, :-1])


def test_draw_mix() -> None:
    rng = np.random.default_rng(0)
    layers = set()
    for _ in range(200):
        layer, perm, lam = draw_mix(7, 3, rng)
        layers.add(layer)
        assert 0 <= layer < 3
        assert sorted(perm.tolist()) == list(range(7)) and perm.dtype == torch.int64
        assert lam.shape == (7,) and bool(((lam >= 0.5) & (lam <= 1.0)).all())
    assert layers == {0, 1, 2}
    assert all(draw_mix(5, 4, rng, input_only=True)[0] == 0 for _ in range(20))
    g1, g2 = torch.Generator().manual_seed(9), torch.Generator().manual_seed(9)
    a, b = draw_mix(6, 4, g1, alpha=0.5), draw_mix(6, 4, g2, alpha=0.5)
    assert a[0] == b[0] and torch.equal(a[1], b[1]) and torch.equal(a[2], b[2])
    with pytest.raises(DnalibError):
        draw_mix(4, 2, rng, alpha=0.0)


def test_tiny_optimisation_lowers_weighted_simclr() -> None:
    # About 0.3 s on one idle core (30 steps of a 2-layer d=64 model).
    torch.manual_seed(0)
    tok = make_tokenizer("nonoverlap", k=4)
    model = new_mlm_model(model_config(tok, profile="smoke", max_tokens=20), seed=0)
    head = ProjectionHead(model.config.hidden_size, out=16)
    rng = np.random.default_rng(0)
    genomes = ["".join(rng.choice(list("ACGT"), 200)) for _ in range(8)]
    view1 = fast_encode(tok, [g[:64] for g in genomes])
    view2 = fast_encode(tok, [g[100:164] for g in genomes])
    batches = [
        (torch.as_tensor(np.asarray(v["input_ids"]), dtype=torch.long),
         torch.as_tensor(np.asarray(v["attention_mask"]), dtype=torch.long))
        for v in (view1, view2)
    ]
    params = list(model.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=1e-3)

    def loss_now() -> torch.Tensor:
        z1, z2 = (head(encode(model, ids, att, content=content_mask(ids, att, tok))) for ids, att in batches)
        return weighted_simclr_loss(z1, z2)

    losses = []
    for _ in range(30):
        loss = loss_now()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    with torch.no_grad():
        final = float(loss_now())
    assert final < 0.5 * losses[0], (losses[0], final)


# --------------------------------------------------------------------------- training loop


def test_finetune_curriculum_saves_a_loadable_encoder_and_resumes(small_set, tmp_path, capsys):
    import json as _json

    from transformers import AutoModel

    from dnalib.cli import main

    root, community = small_set
    args = ["finetune", "--profile", "smoke", "--init", str(root / "mlm"), "--data",
            str(root / "community"), "--no-progress", "--checkpoint-every", "4"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    log = [_json.loads(x) for x in (tmp_path / "a" / "log.jsonl").read_text().splitlines()]
    assert [r["phase"] for r in log] == ["simclr"] * 4 + ["mimix"] * 4
    assert all(r["mix_layer"] is None for r in log[:4])
    assert all(0 <= r["mix_layer"] < 2 for r in log[4:])
    assert type(AutoModel.from_pretrained(tmp_path / "a")).__name__ == "RobertaModel"
    assert (tmp_path / "a" / "head.safetensors").exists()
    info = _json.loads((tmp_path / "a" / "dnalib_finetune.json").read_text())
    assert info["config"]["curriculum"] == ["simclr", "mimix"] and info["groups"] == len(community.train_ids)

    # Resume from the step-4 checkpoint reproduces the uninterrupted run.
    import shutil

    shutil.copytree(tmp_path / "a", tmp_path / "b")
    shutil.rmtree(tmp_path / "b" / "checkpoints" / "step-0000008")
    assert main([*args, "--out", str(tmp_path / "b"), "--resume"]) == 0
    resumed = [_json.loads(x)["loss"] for x in (tmp_path / "b" / "log.jsonl").read_text().splitlines()]
    np.testing.assert_allclose(resumed, [r["loss"] for r in log], rtol=1e-5)

    # Paused after phase 1 (--stop-after), then continued with --resume: the uninterrupted run.
    assert main([*args, "--out", str(tmp_path / "c"), "--stop-after", "4"]) == 0
    assert "paused after step 4 of 8" in capsys.readouterr().out
    assert main([*args, "--out", str(tmp_path / "c"), "--resume"]) == 0
    two_part = [_json.loads(x)["loss"] for x in (tmp_path / "c" / "log.jsonl").read_text().splitlines()]
    np.testing.assert_allclose(two_part, [r["loss"] for r in log], rtol=1e-5)


def test_training_commands_choose_the_split_and_the_rank(small_set, tmp_path, capsys):
    """--split picks the genomes trained on (pretraining holds out the others), --rank the positives."""
    import json as _json

    from dnalib.cli import main
    from dnalib.pretrain import sequences_fingerprint

    root, community = small_set
    info = lambda out, name: _json.loads((tmp_path / out / name).read_text())  # noqa: E731
    ft = ["finetune", "--profile", "smoke", "--init", str(root / "mlm"), "--data",
          str(root / "community"), "--no-progress", "--checkpoint-every", "0", "--steps", "1"]
    assert main([*ft, "--out", str(tmp_path / "ev"), "--split", "eval"]) == 0
    got = info("ev", "dnalib_finetune.json")
    assert got["groups"] == len(community.eval_ids) and "(eval split, one group per species)" in got["data"]
    assert main([*ft, "--out", str(tmp_path / "ge"), "--rank", "genus"]) == 0
    genera = {community.taxonomy.loc[g, "genus"] for g in community.train_ids}
    assert info("ge", "dnalib_finetune.json")["groups"] == len(genera) < len(community.train_ids)
    assert main([*ft, "--out", str(tmp_path / "no"), "--split", "nope"]) == 1
    assert "no genome has split 'nope'" in capsys.readouterr().err

    pre = ["pretrain", "--profile", "smoke", "--data", str(root / "community"), "--steps", "1",
           "--no-progress", "--checkpoint-every", "0", "--eval-every", "0"]
    assert main([*pre, "--out", str(tmp_path / "pe"), "--split", "eval"]) == 0
    got = info("pe", "dnalib_pretrain.json")
    eval_contigs = [c for g in community.eval_ids for c in community.genomes[g]]
    assert got["training_sha256"] == sequences_fingerprint(eval_contigs)
    assert got["data"].endswith("(eval split)") and got["final"]["eval_loss"] > 0  # held out: train


def test_finetune_ablations_and_label_free_mode(small_set, tmp_path):
    import json as _json

    from dnalib.cli import main

    root, _ = small_set
    base = ["finetune", "--profile", "smoke", "--init", str(root / "mlm"), "--data",
            str(root / "community"), "--no-progress", "--steps", "3"]
    assert main([*base, "--curriculum", "imix", "--out", str(tmp_path / "i")]) == 0
    log = [_json.loads(x) for x in (tmp_path / "i" / "log.jsonl").read_text().splitlines()]
    assert [r["mix_layer"] for r in log] == [0, 0, 0]
    assert main([*base, "--label-free", "--out", str(tmp_path / "lf")]) == 0
    info = _json.loads((tmp_path / "lf" / "dnalib_finetune.json").read_text())
    assert info["groups"] == 9 and "label-free" in info["data"]
    assert info["config"]["sample_by"] == "length"
    # A fresh encoder trained on the sample alone: no pretraining, no labels.
    scratch = [*base[:4], "scratch", *base[5:], "--label-free", "--out", str(tmp_path / "s")]
    assert main(scratch) == 0
    from dnalib.embed import embed_with

    emb = embed_with(str(tmp_path / "s"), ["ACGTTGCA" * 40, "GGCATTAC" * 25])
    assert emb.shape == (2, 64) and np.isfinite(emb).all()
    assert main([*base[:4], "scratch", *base[5:], "--out", str(tmp_path / "t")]) == 1


def test_reverse_complement_init_ties_each_kmer_to_its_reverse_complement():
    import torch

    from dnalib.contrastive import scratch_encoder
    from dnalib.inference import embed_sequences
    from dnalib.models import base_model
    from dnalib.sequences import reverse_complement

    model, tok = scratch_encoder("smoke", seed=3)
    vocab = tok.get_vocab()
    emb = base_model(model).embeddings.word_embeddings.weight
    assert torch.equal(emb[vocab["AAAC"]], emb[vocab["GTTT"]])
    assert not torch.equal(emb[vocab["AAAC"]], emb[vocab["AAAG"]])
    assert float(emb[vocab["ACGT"]].std()) > 0.5  # std 1, not the usual 0.02
    # Untrained, a sequence and its reverse complement already embed (nearly) alike,
    # much more alike than two unrelated sequences.
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), 200)) for _ in range(6)]
    fwd = embed_sequences(model, tok, seqs)
    rev = embed_sequences(model, tok, [reverse_complement(s) for s in seqs])
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    same = (unit(fwd) * unit(rev)).sum(1)
    other = (unit(fwd) * unit(np.roll(rev, 1, axis=0))).sum(1)
    assert (same > other).all()


@pytest.mark.parametrize("position", ["absolute", "rotary"])
def test_spectrum_init_makes_the_untrained_encoder_a_function_of_the_kmer_spectrum(position):
    from dnalib.models import spectrum_init_
    from dnalib.sequences import reverse_complement

    tok = make_tokenizer("kmer", k=4, model_max_length=120)
    model = new_mlm_model(model_config(tok, profile="smoke", max_tokens=120, position=position,
                                       tie_word_embeddings=False), seed=1)
    spectrum_init_(model, tok, seed=1)
    enc = base_model(model).eval()
    rng = np.random.default_rng(2)
    seqs = ["".join(rng.choice(list("ACGT"), n)) for n in (100, 60, 117)]
    both = seqs + [reverse_complement(s) for s in seqs]
    e = fast_encode(tok, both, dtype=np.int64)
    ids, att = torch.from_numpy(e["input_ids"]), torch.from_numpy(e["attention_mask"])
    content = content_mask(ids, att, tok)
    with torch.no_grad():
        pooled = encode(enc, ids, att, content=content)
        if position == "absolute":  # every layer passes the embedding output through unchanged
            direct = masked_mean(enc.embeddings(input_ids=ids), content)
            torch.testing.assert_close(pooled, direct, atol=1e-4, rtol=1e-4)
    # Same k-mer multiset up to reverse complements -> same encoding; other sequences differ.
    torch.testing.assert_close(pooled[:3], pooled[3:], atol=1e-4, rtol=1e-4)
    assert float((pooled[0] - pooled[1]).abs().max()) > 1e-2
    # Layers still learn: the zeroed projections get gradients at once.
    model.train()
    encode(enc, ids, att, content=content).pow(2).sum().backward()
    layer = enc.encoder.layer[0]
    assert float(layer.output.dense.weight.grad.abs().sum()) > 0


def test_spectrum_init_with_axes_embeds_the_spectrum_projected_on_them():
    from dnalib.kmers import kmer_columns, kmer_spectrum, spectrum_axes
    from dnalib.models import spectrum_init_
    from dnalib.sequences import reverse_complement

    tok = make_tokenizer("kmer", k=4, model_max_length=220)
    model = new_mlm_model(model_config(tok, profile="smoke", max_tokens=220,
                                       tie_word_embeddings=False), seed=0)
    rng = np.random.default_rng(0)
    corpus = ["".join(rng.choice(list("ACGT"), 4000, p=p)) for p in
              ([0.3, 0.2, 0.2, 0.3], [0.2, 0.3, 0.3, 0.2], [0.25] * 4)]
    axes = spectrum_axes(corpus, 4, 40, fragment_length=400, max_fragments=300)
    assert axes.shape == (136, 40)  # fewer axes than the 64 hidden dimensions
    spectrum_init_(model, tok, seed=0, axes=axes)
    vocab = tok.get_vocab()
    emb = base_model(model).embeddings.word_embeddings.weight.detach().numpy()
    column = {c: i for i, c in enumerate(kmer_columns(4, canonical=True))}
    for kmer in ("AAAC", "GTTT", "ACGT", "CCGA"):
        np.testing.assert_allclose(emb[vocab[kmer], :40],
                                   axes[column[min(kmer, reverse_complement(kmer))]] * np.sqrt(136),
                                   rtol=1e-5, atol=1e-6)
    assert float(np.abs(emb[:, 40:]).mean()) > 0.5  # the other dimensions stay random (std 1)
    # Untrained, the pooled encoding's first 40 dimensions are a linear map of the spectrum:
    # sequences whose spectra differ along the first axis differ there too.
    seqs = ["".join(rng.choice(list("ACGT"), 200, p=p)) for p in ([0.35, 0.15, 0.15, 0.35],
                                                                  [0.15, 0.35, 0.35, 0.15])]
    e = fast_encode(tok, seqs, dtype=np.int64)
    ids, att = torch.from_numpy(e["input_ids"]), torch.from_numpy(e["attention_mask"])
    with torch.no_grad():
        direct = masked_mean(base_model(model).embeddings.word_embeddings(ids),
                             content_mask(ids, att, tok)).numpy()
    spec = kmer_spectrum(seqs, 4, canonical=True) @ axes * np.sqrt(136)
    np.testing.assert_allclose(direct[:, :40], spec, rtol=1e-4, atol=1e-4)
    with pytest.raises(DnalibError, match="axes must have shape"):
        spectrum_init_(model, tok, axes=axes[:100])


def test_embedding_learning_rate_multiplier_is_checked_and_used(small_set, tmp_path):
    from safetensors.torch import load_file

    from dnalib import contrastive as C
    from dnalib.pairs import genome_groups

    with pytest.raises(DnalibError, match="must not be negative"):
        C.finetune_config("smoke", embedding_lr_mult=-1.0)
    assert C.finetune_config("cpu").embedding_lr_mult == 10.0
    root, community = small_set
    groups = genome_groups({g: community.genomes[g] for g in community.train_ids})
    key = "embeddings.word_embeddings.weight"
    start = load_file(root / "mlm" / "model.safetensors")
    start = next(v for k, v in start.items() if k.endswith(key))
    moved = {}
    for mult in (1.0, 100.0):
        out = tmp_path / str(mult)
        C.finetune(groups, out, root / "mlm", C.finetune_config(
            "smoke", curriculum=("simclr",), phase_steps=(1,), embedding_lr_mult=mult,
            lr=1e-5, checkpoint_every=0), progress=False)
        after = next(v for k, v in load_file(out / "model.safetensors").items() if k.endswith(key))
        moved[mult] = float((after - start).abs().max())
    assert moved[100.0] > 20 * moved[1.0] > 0


def test_sampling_by_length_draws_groups_in_proportion_to_their_bases():
    from dnalib.pairs import PairSampler

    rng = np.random.default_rng(1)
    groups = [["".join(rng.choice(list("ACGT"), n))] for n in (400, 400, 3200)]
    counts = {"group": np.zeros(3), "length": np.zeros(3)}
    for how in counts:
        sampler = PairSampler(groups, 100, seed=0, sample_by=how)
        for step in range(300):
            _, _, chosen = sampler.batch(step, 1, return_groups=True)
            counts[how][chosen[0]] += 1
    assert abs(counts["group"][2] / 300 - 1 / 3) < 0.1
    assert abs(counts["length"][2] / 300 - 0.8) < 0.08
    with pytest.raises(DnalibError, match="sample_by"):
        PairSampler(groups, 100, sample_by="size")
    for bad in (0, -5, 2.5, True):
        with pytest.raises(DnalibError, match="positive integer"):
            PairSampler(groups, bad)


def test_views_longer_than_the_model_reads_are_cut_into_the_longest_chunks_that_fit():
    from dnalib.contrastive import finetune_config, view_chunk_length

    assert view_chunk_length(finetune_config("cpu", label_free=True), 200) == 200  # 1 kbp: 5 x 200
    assert view_chunk_length(finetune_config("cpu", label_free=True), 1000) == 1000  # read whole
    assert view_chunk_length(finetune_config("smoke", fragment_length=600), 250) == 200
    assert view_chunk_length(finetune_config("cpu"), 200) == 200  # the explicit chunk_length
    with pytest.raises(DnalibError, match="does not fit"):
        view_chunk_length(finetune_config("cpu", chunk_length=300, fragment_length=3000), 200)


def test_label_free_views_from_an_mlm_are_read_in_chunks(small_set, tmp_path):
    """The README's 'no labels needed' line: 1 kbp label-free views from an MLM reading 200 bp."""
    from dnalib.contrastive import INFO_FILE, finetune, finetune_config
    from dnalib.inference import max_chunk_length
    from dnalib.models import load_encoder
    from dnalib.pairs import contig_groups

    root, gs = small_set
    cfg = finetune_config("cpu", label_free=True, phase_steps=(2,), batch_pairs=4, checkpoint_every=0)
    contigs = [c for g in gs.genomes.values() for c in g]
    fits = max_chunk_length(*load_encoder(root / "mlm"))
    finetune(contig_groups(contigs, 2 * cfg.fragment_length), tmp_path / "lf", root / "mlm", cfg,
             progress=False)
    info = json.loads((tmp_path / "lf" / INFO_FILE).read_text())
    assert info["complete"] and info["chunk_length_used"] <= fits
    assert cfg.fragment_length % info["chunk_length_used"] == 0


def test_finetune_bad_settings_are_clear_errors(small_set, tmp_path, capsys):
    from dnalib.cli import main

    root, _ = small_set
    base = ["finetune", "--profile", "smoke", "--init", str(root / "mlm"), "--data",
            str(root / "community"), "--no-progress", "--out", str(tmp_path / "x")]
    assert main([*base, "--fragment-length", "500", "--chunk-length", "500"]) == 1
    assert "does not fit the model" in capsys.readouterr().err
    assert main([*base, "--fragment-length", "499"]) == 1  # a prime: no chunk length fits
    assert "no divisor close" in capsys.readouterr().err
    assert main([*base, "--curriculum", "simclr,magic"]) == 1
    assert "curriculum phases" in capsys.readouterr().err
    assert main([*base[:4], str(tmp_path), *base[5:]]) == 1
    assert "config.json" in capsys.readouterr().err


@pytest.mark.parametrize("position", ["absolute", "rotary"])
def test_chunked_views_average_chunk_encodings_and_mix_chunk_by_chunk(position: str) -> None:
    from dnalib.contrastive import ContrastiveObjective

    tok = make_tokenizer("kmer", k=3)
    model = new_mlm_model(model_config(tok, profile="smoke", max_tokens=40, position=position), seed=2).eval()
    head = ProjectionHead(model.config.hidden_size, out=8)
    rng = np.random.default_rng(3)
    views = ["".join(rng.choice(list("ACGT"), 36)) for _ in range(3)]
    chunks = [v[a:a + 12] for v in views for a in range(0, 36, 12)]  # 3 chunks per view
    enc = fast_encode(tok, chunks)
    ids = torch.as_tensor(np.asarray(enc["input_ids"]), dtype=torch.long)
    att = torch.as_tensor(np.asarray(enc["attention_mask"]), dtype=torch.long)
    cm = content_mask(ids, att, tok)
    obj = ContrastiveObjective(model, head, tok, chunks=3)
    perm, lam = torch.tensor([2, 0, 1]), torch.tensor([0.8, 0.6, 0.95])
    with torch.no_grad():
        per_chunk = encode(model, ids, att, content=cm)
        assert torch.allclose(obj._pooled(ids, att), per_chunk.view(3, 3, -1).mean(1), atol=1e-6)
        # chunk j of view i mixes with chunk j of view perm[i]
        chunk_perm = torch.tensor([6, 7, 8, 0, 1, 2, 3, 4, 5])
        ref = encode(model, ids, att, mix_layer=1, perm=chunk_perm, lam=lam.repeat_interleave(3), content=cm)
        got = obj._pooled(ids, att, mix_layer=1, perm=perm, lam=lam)
        assert torch.allclose(got, ref.view(3, 3, -1).mean(1), atol=1e-6)


def test_a_later_phase_continues_from_a_finetuned_directory_with_its_head(small_set, tmp_path):
    from safetensors.torch import load_file

    from dnalib.contrastive import HEAD_FILE, finetune, finetune_config
    from dnalib.pairs import genome_groups

    root, community = small_set
    groups = genome_groups({g: community.genomes[g] for g in community.train_ids})
    finetune(groups, tmp_path / "p1", root / "mlm",
             finetune_config("smoke", curriculum=("simclr",), phase_steps=(2,), checkpoint_every=0),
             progress=False)
    finetune(groups, tmp_path / "p2", tmp_path / "p1",
             finetune_config("smoke", curriculum=("mimix",), phase_steps=(1,), lr=0.0, checkpoint_every=0),
             progress=False)
    a, b = load_file(tmp_path / "p1" / HEAD_FILE), load_file(tmp_path / "p2" / HEAD_FILE)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_data_offset_lets_a_continuation_draw_the_pairs_a_single_run_would(small_set, tmp_path):
    """Phase 2 run separately from the phase-1 output (the two-phase run paused after phase 1),
    with data_offset = phase-1 steps, starts exactly where a single two-phase run is at its first
    phase-2 step (same weights, pairs and mixing), so its first loss is the same; without the
    offset it replays phase 1's pairs."""
    import json as _json

    from dnalib.contrastive import finetune, finetune_config
    from dnalib.pairs import genome_groups

    root, community = small_set
    groups = genome_groups({g: community.genomes[g] for g in community.train_ids})

    def losses(out):
        return [_json.loads(x)["loss"] for x in (out / "log.jsonl").read_text().splitlines()]

    common = dict(checkpoint_every=0, warmup_steps=1)
    two = finetune_config("smoke", curriculum=("simclr", "mimix"), phase_steps=(3, 2), **common)
    finetune(groups, tmp_path / "one", root / "mlm", two, progress=False)
    finetune(groups, tmp_path / "p1", root / "mlm", two, stop_after=3, progress=False)
    np.testing.assert_allclose(losses(tmp_path / "p1"), losses(tmp_path / "one")[:3], rtol=1e-5)
    for offset in (3, 0):
        finetune(groups, tmp_path / f"p2-{offset}", tmp_path / "p1",
                 finetune_config("smoke", curriculum=("mimix",), phase_steps=(2,), data_offset=offset,
                                 **common), progress=False)
    single = losses(tmp_path / "one")[3]
    assert losses(tmp_path / "p2-3")[0] == pytest.approx(single, rel=1e-5)
    assert losses(tmp_path / "p2-0")[0] != pytest.approx(single, rel=1e-3)
    with pytest.raises(DnalibError, match="data_offset"):
        finetune_config("smoke", data_offset=-1)


def test_one_phase_from_the_command_line_keeps_that_phases_profile_steps(small_set, tmp_path):
    """`dnalib finetune --curriculum simclr` (README) runs the profile's phase-1 steps, and
    `--curriculum mimix --data-offset N` from its output continues with new pairs."""
    import json as _json

    from dnalib.cli import main

    root, _ = small_set
    base = ["finetune", "--profile", "smoke", "--data", str(root / "community"), "--no-progress"]
    assert main([*base, "--init", str(root / "mlm"), "--curriculum", "simclr",
                 "--out", str(tmp_path / "p1")]) == 0
    assert main([*base, "--init", str(tmp_path / "p1"), "--curriculum", "mimix", "--data-offset", "4",
                 "--out", str(tmp_path / "p2")]) == 0
    for out, phase in (("p1", "simclr"), ("p2", "mimix")):
        cfg = _json.loads((tmp_path / out / "dnalib_finetune.json").read_text())["config"]
        assert cfg["curriculum"] == [phase] and cfg["phase_steps"] == [4]  # smoke: (4, 4)
    assert cfg["data_offset"] == 4


def test_one_learning_rate_schedule_spans_the_phases():
    """Warm-up once, then one cosine from 1 to 0.1 over all phases: phase 2 continues the decay
    where phase 1 left it (no restart); a one-phase run has the same schedule as before."""
    from dnalib.contrastive import finetune_config

    cfg = finetune_config("cpu")
    n1, n2 = cfg.phase_steps
    f = np.array([cfg.lr_factor(s) for s in range(cfg.max_steps)])
    assert f[:cfg.warmup_steps] == pytest.approx((np.arange(cfg.warmup_steps) + 1) / cfg.warmup_steps)
    assert f[cfg.warmup_steps] == pytest.approx(1.0) and f[-1] > 0.1 and f[-1] < 0.1 + 1e-3
    assert np.all(np.diff(f[cfg.warmup_steps:]) < 0)  # strictly decreasing, across the boundary
    assert abs(f[n1] - f[n1 - 1]) < 0.05  # no jump at the start of phase 2
    one = finetune_config("cpu", curriculum=("simclr",), phase_steps=(n1 + n2,))
    assert [one.lr_factor(s) for s in range(one.max_steps)] == pytest.approx(f.tolist())
    w, t = cfg.warmup_steps, cfg.max_steps  # the schedule the recorded one-phase ablation rows used
    old = [(s + 1) / w if s < w else 0.1 + 0.45 * (1 + math.cos(math.pi * (s - w) / (t - w)))
           for s in range(t)]
    assert [one.lr_factor(s) for s in range(t)] == pytest.approx(old, rel=1e-12)


def test_stop_after_pauses_a_run_that_resume_completes(small_set, tmp_path):
    import json as _json

    from dnalib.contrastive import finetune, finetune_config
    from dnalib.pairs import genome_groups

    root, community = small_set
    groups = genome_groups({g: community.genomes[g] for g in community.train_ids})
    cfg = finetune_config("smoke", checkpoint_every=0)
    with pytest.raises(DnalibError, match="stop_after"):
        finetune(groups, tmp_path / "x", root / "mlm", cfg, stop_after=cfg.max_steps + 1, progress=False)
    with pytest.raises(DnalibError, match="stop_after"):
        finetune(groups, tmp_path / "x", root / "mlm", cfg, stop_after=0, progress=False)
    r = finetune(groups, tmp_path / "p", root / "mlm", cfg, stop_after=cfg.phase_steps[0], progress=False)
    assert len(r["history"]) == cfg.phase_steps[0]
    info = _json.loads((tmp_path / "p" / "dnalib_finetune.json").read_text())
    assert info["steps_done"] == cfg.phase_steps[0] and info["complete"] is False
    r = finetune(groups, tmp_path / "p", root / "mlm", cfg, resume=True, progress=False)
    assert [h["phase"] for h in r["history"]] == ["simclr"] * 4 + ["mimix"] * 4
    info = _json.loads((tmp_path / "p" / "dnalib_finetune.json").read_text())
    assert info["steps_done"] == cfg.max_steps and info["complete"] is True


def test_simclr_alone_and_the_curriculum_share_their_first_phase(small_set, tmp_path):
    """With one seed, SimCLR for all the steps and the curriculum are the same run until the
    curriculum switches to MI-Mix (chapter 6 compares them seed by seed on that basis)."""
    from safetensors.torch import load_file

    from dnalib.contrastive import finetune, finetune_config
    from dnalib.pairs import genome_groups

    root, community = small_set
    groups = genome_groups({g: community.genomes[g] for g in community.train_ids})
    cur = finetune_config("smoke", checkpoint_every=0)
    one = finetune_config("smoke", curriculum=("simclr",), phase_steps=(cur.max_steps,), checkpoint_every=0)
    n1 = cur.phase_steps[0]
    finetune(groups, tmp_path / "c", root / "mlm", cur, stop_after=n1, progress=False)
    finetune(groups, tmp_path / "s", root / "mlm", one, stop_after=n1, progress=False)
    for name in ("model.safetensors", "head.safetensors"):
        a, b = load_file(tmp_path / "c" / name), load_file(tmp_path / "s" / name)
        assert all(torch.equal(a[k], b[k]) for k in a), name
