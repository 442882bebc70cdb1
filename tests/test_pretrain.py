"""MLM pretraining: masking, determinism, kill-and-resume, DDP equivalence, HF loading."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from dnalib import pretrain as P
from dnalib.errors import DnalibError

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def community_dir(tmp_path_factory):
    from dnalib.simulate import simulate_community

    out = tmp_path_factory.mktemp("community")
    simulate_community(0, n_genera=3, species_per_genus=3, genome_length=20_000).write(out)
    return out


def _smoke(**kw):
    base = dict(max_steps=8, checkpoint_every=4, eval_every=4, eval_fragments=16, batch_size=8)
    return P.pretrain_config("smoke", **{**base, **kw})


def _losses(out: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in (out / P.LOG_FILE).read_text().splitlines()]


def test_span_masking_covers_contiguous_spans_and_never_specials():
    rng = np.random.default_rng(0)
    ids = rng.integers(5, 261, size=(64, 100))
    ids[:, 0], ids[:, -1] = 2, 3
    ids[:, 50] = 1  # an [UNK] column
    att = np.ones_like(ids)
    inputs, sel = P.mask_tokens(ids, att, mask_prob=0.15, span=4, vocab_size=261, rng=rng)
    assert not sel[:, [0, -1, 50]].any()
    frac = sel[:, 1:-1].mean()
    assert 0.10 < frac < 0.17, frac
    # Spans: most selected tokens have a selected neighbour.
    runs = np.diff(np.concatenate([np.zeros((64, 1), bool), sel, np.zeros((64, 1), bool)], axis=1)
                   .astype(int), axis=1)
    starts = (runs == 1).sum()
    assert sel.sum() / starts >= 3.0, "spans of 4 tokens should dominate"
    changed = inputs[sel] != ids[sel]
    assert 0.85 < changed.mean() < 0.95  # 80% [MASK] + 10% random (rarely equal) ; 10% kept
    assert ((inputs == 4) & sel).sum() / sel.sum() == pytest.approx(0.8, abs=0.05)
    assert (inputs[~sel] == ids[~sel]).all()


def test_single_token_masking_for_non_overlapping_tokens():
    cfg = P.pretrain_config("smoke", tokenizer="nonoverlap", k=4)
    assert cfg.span == 1
    assert P.pretrain_config("smoke", tokenizer="kmer", k=5).span == 5


def test_bad_settings_are_clear_errors():
    with pytest.raises(DnalibError, match="unknown pretraining setting"):
        P.pretrain_config("smoke", batchsize=3)
    with pytest.raises(DnalibError, match="divisible"):
        P.pretrain_config("smoke", batch_size=10, grad_accum=4)
    with pytest.raises(DnalibError, match="at least 200 bp"):
        P.FragmentSampler(["ACGT" * 10], 200)
    with pytest.raises(DnalibError, match="init must be one of"):
        P.pretrain_config("smoke", init="random")


def test_pca_init_works_for_non_overlapping_kmers_and_refuses_characters():
    from dnalib.models import base_model

    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), 3000)) for _ in range(3)]
    cfg = _smoke(tokenizer="nonoverlap", k=4)  # its vocabulary also holds single bases
    tok = P.make_pretrain_tokenizer(cfg)
    words = base_model(P.initial_model(cfg, tok, seqs)).embeddings.word_embeddings.weight
    assert torch.equal(words[tok.get_vocab()["AAAC"]], words[tok.get_vocab()["GTTT"]])
    with pytest.raises(DnalibError, match="needs k-mer tokens"):
        P.initial_model(_smoke(tokenizer="char"), P.make_pretrain_tokenizer(_smoke(tokenizer="char")), seqs)


@pytest.mark.parametrize("init", ["pca", "spectrum", "standard"])
def test_init_choice_decides_the_starting_encoder_and_decoder_tying(tmp_path, init):
    from transformers import AutoModelForMaskedLM

    from dnalib.models import base_model

    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), 2000)) for _ in range(3)]
    out = tmp_path / init
    P.pretrain(seqs, out, _smoke(init=init, max_steps=2, checkpoint_every=0, eval_every=0),
               progress=False)
    model = AutoModelForMaskedLM.from_pretrained(out)
    words = base_model(model).embeddings.word_embeddings.weight
    tied = model.lm_head.decoder.weight.data_ptr() == words.data_ptr()
    if init != "standard":  # std-1 embeddings (2 steps barely move them), decoder separate
        assert not tied and float(words[5:].std()) > 0.5
    else:
        assert tied and float(words[5:].std()) < 0.1
    cfg = _smoke(init=init)
    start = P.initial_model(cfg, P.make_pretrain_tokenizer(cfg), seqs)
    first = base_model(start).embeddings.word_embeddings.weight.detach().numpy()
    if init == "pca":  # the principal axes of the corpus's spectra, a k-mer's loadings in its row
        from dnalib.kmers import kmer_columns, spectrum_axes

        axes = spectrum_axes(seqs, cfg.k, first.shape[1], seed=cfg.seed)
        row = P.make_pretrain_tokenizer(cfg).get_vocab()["ACGT"]
        col = kmer_columns(cfg.k, canonical=True).index("ACGT")
        m = axes.shape[1]
        np.testing.assert_allclose(first[row, :m], axes[col] * np.sqrt(axes.shape[0]), rtol=1e-5,
                                   atol=1e-6)
        with pytest.raises(DnalibError, match="pass sequences"):
            P.initial_model(cfg, P.make_pretrain_tokenizer(cfg))


@pytest.mark.parametrize("mult", [0.0, 0.1])
def test_embedding_lr_mult_freezes_or_slows_only_the_token_embeddings(tmp_path, mult):
    from transformers import AutoModelForMaskedLM

    from dnalib.models import base_model

    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), 2000)) for _ in range(3)]
    moved = {}
    for m in (1.0, mult):
        cfg = _smoke(embedding_lr_mult=m, max_steps=3, checkpoint_every=0, eval_every=0)
        start = base_model(P.initial_model(cfg, P.make_pretrain_tokenizer(cfg), seqs))
        out = tmp_path / f"m{m}"
        P.pretrain(seqs, out, cfg, progress=False)
        end = base_model(AutoModelForMaskedLM.from_pretrained(out))
        moved[m] = {name: float((end.state_dict()[name] - w).abs().max())
                    for name, w in start.state_dict().items()
                    if name in ("embeddings.word_embeddings.weight",
                                "encoder.layer.0.attention.self.query.weight")}
    word = "embeddings.word_embeddings.weight"
    other = "encoder.layer.0.attention.self.query.weight"
    assert moved[1.0][word] > 0 and moved[mult][other] > 0
    if mult == 0:
        assert moved[mult][word] == 0.0
    else:  # Adam moves a weight by about its learning rate per step
        assert 0 < moved[mult][word] < 0.5 * moved[1.0][word]
    with pytest.raises(DnalibError, match="embedding_lr_mult"):
        _smoke(embedding_lr_mult=-1.0)
    # A record of a run with other settings is told apart from one of the current code.
    import dataclasses

    current = json.loads(json.dumps(dataclasses.asdict(P.pretrain_config("smoke", eval_every=0))))
    assert P.changed_settings(current, "smoke", eval_every=0) == []
    assert P.changed_settings({**current, "embedding_lr_mult": 1.0}, "smoke", eval_every=0) == [
        "embedding_lr_mult"]
    assert P.changed_settings(None, "smoke") == ["not recorded"]
    # Default: frozen for the PCA start (its embeddings are the spectrum axes), learned otherwise.
    assert _smoke().embedding_rate == 0.0 and _smoke(init="spectrum").embedding_rate == 1.0
    assert _smoke(init="standard", embedding_lr_mult=0.5).embedding_rate == 0.5


def test_same_seed_same_losses_and_the_output_loads_with_auto_classes(community_dir, tmp_path):
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    seqs = P.load_training_sequences(community_dir)
    a = P.pretrain(seqs, tmp_path / "a", _smoke(), progress=False)
    b = P.pretrain(seqs, tmp_path / "b", _smoke(), progress=False)
    la, lb = [h["loss"] for h in a["history"]], [h["loss"] for h in b["history"]]
    assert la == lb
    c = P.pretrain(seqs, tmp_path / "c", _smoke(seed=1), progress=False)
    assert [h["loss"] for h in c["history"]] != la

    model = AutoModelForMaskedLM.from_pretrained(tmp_path / "a")
    tok = AutoTokenizer.from_pretrained(tmp_path / "a")
    assert type(model).__name__ == "RobertaForMaskedLM"
    enc = tok(["ACGTACGTAGGATTACAGATTACAGGATCCA"], return_tensors="pt")
    with torch.no_grad():
        assert model(**enc).logits.shape[-1] == len(tok)
    info = json.loads((tmp_path / "a" / P.INFO_FILE).read_text())
    assert info["config"]["profile"] == "smoke" and info["config"]["k"] == 4
    assert "command" in info and "final" in info and info["training_bases"] > 0
    assert (tmp_path / "a" / "model.safetensors").exists()


def test_rotary_positions_train_and_load(community_dir, tmp_path):
    from transformers import AutoModelForMaskedLM

    seqs = P.load_training_sequences(community_dir)
    P.pretrain(seqs, tmp_path / "r", _smoke(position="rotary", max_steps=3, checkpoint_every=0),
               progress=False)
    model = AutoModelForMaskedLM.from_pretrained(tmp_path / "r")
    assert model.config.position_embedding_type == "rotary"


def test_a_tiny_run_lowers_the_loss(tmp_path):
    rng = np.random.default_rng(0)
    motif = "".join(rng.choice(list("ACGT"), 40))
    seqs = [motif * 100]  # a periodic genome: context predicts the masked k-mers
    res = P.pretrain(seqs, tmp_path / "t", _smoke(max_steps=40, lr=3e-3, checkpoint_every=0,
                                                  eval_every=40), progress=False)
    losses = [h["loss"] for h in res["history"]]
    assert np.mean(losses[-5:]) < 0.85 * np.mean(losses[:5]), losses


def _cli(*args, env=None):
    return [sys.executable, "-m", "dnalib.cli", "pretrain", "--no-progress", *args]


def test_kill_and_resume_continues_the_same_loss_curve(community_dir, tmp_path):
    common = ["--profile", "smoke", "--data", str(community_dir), "--steps", "24",
              "--checkpoint-every", "4", "--eval-every", "0", "--batch-size", "8"]
    ref = tmp_path / "ref"
    subprocess.run(_cli(*common, "--out", str(ref)), check=True, capture_output=True)

    run = tmp_path / "run"
    proc = subprocess.Popen(_cli(*common, "--out", str(run)), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while P.latest_checkpoint(run) is None or P.latest_checkpoint(run).name < "step-0000008":
        assert proc.poll() is None, "the run ended before it could be interrupted"
        assert time.time() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = P.latest_checkpoint(run)
    assert not (run / P.INFO_FILE).exists(), "the run should not have finished"

    # A second run into the same directory without --resume refuses instead of overwriting.
    again = subprocess.run(_cli(*common, "--out", str(run)), capture_output=True, text=True)
    assert again.returncode == 1 and "--resume" in again.stderr

    subprocess.run(_cli(*common, "--out", str(run), "--resume"), check=True, capture_output=True)
    resumed, reference = _losses(run), _losses(ref)
    assert len(resumed) == len(reference) == 24
    np.testing.assert_allclose(resumed, reference, rtol=1e-5)
    assert int(killed_at.name.split("-")[1]) >= 8


@pytest.mark.slow
def test_two_processes_match_one_process(community_dir, tmp_path):
    common = ["--profile", "smoke", "--data", str(community_dir), "--steps", "6",
              "--checkpoint-every", "0", "--eval-every", "0", "--batch-size", "8", "--bf16", "off"]
    one = tmp_path / "one"
    subprocess.run(_cli(*common, "--out", str(one)), check=True, capture_output=True)
    two = tmp_path / "two"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "dnalib.cli", "pretrain", "--no-progress", *common, "--out", str(two)]
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    info = json.loads((two / P.INFO_FILE).read_text())
    assert info["world_size"] == 2
    np.testing.assert_allclose(_losses(two), _losses(one), rtol=2e-4)
    shutil.rmtree(two, ignore_errors=True)


def test_a_run_that_did_not_finish_is_not_taken_for_a_model(community_dir, tmp_path):
    """--force over a finished model: the old model goes when the new run starts; until the new
    one finishes, embed and load_encoder refuse the directory instead of using either model."""
    from dnalib.cli import main
    from dnalib.models import load_encoder

    out = tmp_path / "m"
    common = ["pretrain", "--profile", "smoke", "--data", str(community_dir), "--out", str(out),
              "--checkpoint-every", "2", "--eval-every", "0", "--no-progress"]
    assert main([*common, "--steps", "2"]) == 0
    load_encoder(out)  # a finished run loads
    seqs = P.load_training_sequences(community_dir)

    def stop(record):
        if record["step"] == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        P.pretrain(seqs, out, _smoke(max_steps=6, checkpoint_every=2), progress=False, on_step=stop)
    assert not (out / P.INFO_FILE).exists() and not (out / "model.safetensors").exists()
    with pytest.raises(DnalibError, match="did not finish"):
        load_encoder(out)
    fasta = next(community_dir.glob("*.fa*"))
    assert main(["embed", "--model", str(out), "--input", str(fasta), "--out",
                 str(tmp_path / "e"), "--no-progress"]) == 1
