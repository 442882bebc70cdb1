"""One object per kind of model (dnalib.embedders) and the precision of inference.

A kind added here, in the test module only, runs through ``dnalib embed`` and
``dnalib evaluate`` without any other change to dnalib: that is the point of the
interface.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import dnalib.embedders as K
import dnalib.inference as I
from dnalib import artifacts
from dnalib.cli import main
from dnalib.errors import DnalibError
from dnalib.io import write_fasta


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    from dnalib.models import model_config, new_mlm_model
    from dnalib.simulate import simulate_community
    from dnalib.spectrum_map import SpectrumMap
    from dnalib.tokenizers import make_tokenizer

    root = tmp_path_factory.mktemp("kinds")
    tok = make_tokenizer("kmer", k=4)
    model = new_mlm_model(model_config(tok, profile="smoke", max_tokens=40), seed=0)
    model.save_pretrained(root / "model")
    tok.save_pretrained(root / "model")
    SpectrumMap(4, 8).save_pretrained(root / "map")
    rng = np.random.default_rng(0)
    write_fasta({f"r{i}": "".join(rng.choice(list("ACGT"), 300 + 11 * i)) for i in range(7)}, root / "a.fa")
    simulate_community(0, n_genera=2, species_per_genus=2, genome_length=20_000).write(root / "gs")
    return root


class RandomProjection6(K.Embedder):
    """A kind that exists only in this test: a fixed random projection of the canonical 6-mer spectrum."""

    kind = "random projection of the 6-mer spectrum"

    @classmethod
    def accepts(cls, name):
        return name.startswith("randproj6:")

    @property
    def dim(self):
        return int(self.name.split(":")[1])

    @property
    def identity(self):
        return {"randproj6": self.dim, "seed": 0, "min_bases": 6}

    @property
    def min_bases(self):
        return 6

    def embed(self, seqs):
        from dnalib.kmers import kmer_spectrum

        x = kmer_spectrum(list(seqs), 6, canonical=True, normalize="l2")
        w = np.random.default_rng(0).standard_normal((x.shape[1], self.dim))
        return (x @ w).astype(np.float32)


@pytest.fixture
def with_random_projection(monkeypatch):
    monkeypatch.setattr(K, "KINDS", list(K.KINDS))
    K.register(RandomProjection6)
    return RandomProjection6


def test_the_kind_is_picked_once_by_name(inputs):
    assert type(K.from_name("tnf")) is K.KmerSpectrum
    assert type(K.from_name(inputs / "map")) is K.SpectrumMapEmbedder
    assert type(K.from_name(inputs / "model")) is K.Transformer
    assert K.kind_of("kmer6") is K.KmerSpectrum and K.kind_of("owner/some-model") is K.Transformer
    with pytest.raises(DnalibError, match="neither a baseline"):
        K.from_name(inputs / "no-such-dir")
    with pytest.raises(TypeError):
        K.register(dict)


def test_identity_and_min_bases_per_kind(inputs):
    from dnalib.embed import describe_embedder

    assert K.from_name("tnf").identity == {"baseline": "tnf", "settings": K.BASELINE_SETTINGS["tnf"]}
    assert K.from_name("kmer6").min_bases == 6
    m = K.from_name(inputs / "map")
    assert m.min_bases == 4 and m.identity["precision"] == "float32"
    t = K.from_name(inputs / "model", precision="fp32")
    assert t.identity == describe_embedder(str(inputs / "model"), precision="fp32")
    assert set(t.identity) == {"model_dir", "sha256", "precision", "min_bases"}
    assert t.identity["precision"] == "float32" and t.min_bases == 4
    assert K.from_name(inputs / "model", precision="bf16").identity["precision"] == "bf16"
    assert "baseline tnf" in K.describe_identity(K.from_name("tnf").identity)


def test_a_kind_added_in_a_test_runs_through_embed_and_evaluate(inputs, tmp_path, capsys,
                                                                with_random_projection):
    assert main(["embed", "--model", "randproj6:16", "--input", str(inputs / "a.fa"), "--out",
                 str(tmp_path / "e"), "--no-progress"]) == 0
    emb = np.load(tmp_path / "e.npy")
    assert emb.shape == (7, 16)
    from dnalib.io import read_sequences

    seqs = [r.sequence for r in read_sequences(inputs / "a.fa")]
    np.testing.assert_array_equal(emb, RandomProjection6("randproj6:16").embed(seqs))
    out = tmp_path / "r.json"
    assert main(["evaluate", "--model", "randproj6:16", "--genomes", str(inputs / "gs"), "--out", str(out),
                 "--fragment-length", "2000", "--per-genome", "6", "--tasks", "clustering",
                 "--seeds", "2", "--no-progress"]) == 0, capsys.readouterr().err
    record = json.loads(out.read_text())
    assert record["embedder"] == {"randproj6": 16, "seed": 0, "min_bases": 6}
    assert -1 <= record["clustering"]["ari"] <= 1 and record["n_genomes"] == 4


def test_options_a_kind_has_no_use_for_are_noted(inputs, tmp_path, capsys):
    assert main(["embed", "--model", "tnf", "--input", str(inputs / "a.fa"), "--out", str(tmp_path / "e"),
                 "--no-progress", "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    assert "--device has no effect on tnf" in err


@pytest.mark.parametrize("argv, status, must", [
    ("embed --model tnf --precision bf16", 1, "no bf16 path"),
    ("embed --model {d}/map --precision bf16", 1, "no bf16 path"),
    ("embed --model {d}/model --precision fp8", 2, "invalid choice"),
])
def test_bad_precisions_are_one_line_errors(argv, status, must, inputs, tmp_path, capsys):
    args = argv.format(d=inputs).split() + ["--input", str(inputs / "a.fa"), "--out", str(tmp_path / "e")]
    try:
        got = main(args)
    except SystemExit as exc:  # argparse's own refusal
        got = exc.code
    err = capsys.readouterr().err.strip().splitlines()
    assert got == status and must in err[-1], err
    assert status == 2 or len(err) == 1
    assert not list(tmp_path.iterdir())


def test_auto_precision_follows_the_cpu_units(monkeypatch):
    import torch

    monkeypatch.setattr(I, "cpu_bf16_units", lambda: "amx_bf16")
    assert I.choose_inference_precision("auto", None) == "bf16"
    assert I.choose_inference_precision("auto", torch.device("cpu")) == "bf16"
    assert I.choose_inference_precision("fp32", None) == "fp32"
    monkeypatch.setattr(I, "cpu_bf16_units", lambda: None)
    assert I.choose_inference_precision("auto", None) == "fp32"
    assert I.choose_inference_precision("bf16", None) == "bf16"  # asked for: emulated, slower, allowed
    with pytest.raises(DnalibError, match="auto, fp32, bf16"):
        I.choose_inference_precision("half", None)


def test_cpu_bf16_units_reads_the_processor_flags():
    flags = open("/proc/cpuinfo").read() if __import__("os").path.exists("/proc/cpuinfo") else ""
    expected = "amx_bf16" if " amx_bf16" in flags else "avx512_bf16" if " avx512_bf16" in flags else None
    assert I.cpu_bf16_units() == expected


def test_bf16_rows_are_bf16_close_and_pooled_in_float32(inputs):
    seqs = ["".join(np.random.default_rng(i).choice(list("ACGT"), 500)) for i in range(6)]
    a = K.from_name(inputs / "model", precision="fp32").embed(seqs)
    t = K.from_name(inputs / "model", precision="bf16")
    b = t.embed(seqs)
    encoder, _, _ = t.load()
    import torch

    assert next(encoder.parameters()).dtype == torch.bfloat16  # cast once, not autocast
    assert b.dtype == np.float32 and np.isfinite(b).all()
    cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    assert cosine.min() > 0.999 and not np.array_equal(a, b)


def test_resume_refuses_another_precision(inputs, tmp_path, capsys, monkeypatch,
                                          interrupt_embed_after_first_block):
    import dnalib.embed as E

    argv = ["embed", "--model", str(inputs / "model"), "--input", str(inputs / "a.fa"), "--out",
            str(tmp_path / "e"), "--block-size", "3", "--no-progress"]
    real = interrupt_embed_after_first_block()
    assert main([*argv, "--precision", "fp32"]) == 130
    monkeypatch.setattr(E, "load_embedder", real)
    capsys.readouterr()
    assert main([*argv, "--precision", "bf16", "--resume"]) == 1
    err = capsys.readouterr().err
    assert "embedded in float32, this run would use bf16" in err and "--precision" in err
    assert main([*argv, "--precision", "fp32", "--resume"]) == 0


def test_auto_bf16_on_cpus_follows_the_recorded_score_comparison():
    """CPU_AUTO_BF16 may be True only while results/bf16_scores_cpu.json shows every shipped
    transformer within the tolerance on both sets (the rule the default was adopted under)."""
    from dnalib.records import repository_root

    record = json.loads((repository_root() / "results" / "bf16_scores_cpu.json").read_text())
    assert record["complete"] and record["settings"]["tolerance"] <= 0.005
    entries = [m for s in record["sets"].values() for m in s["models"].values()]
    assert {"validation", "kmcp15"} <= set(record["sets"])
    shipped = {n for n in artifacts.NAMES if n not in artifacts.MAPS
               and artifacts.shipped_path(n, "hour").is_dir()}  # every transformer dnalib ships
    assert {name.split("/")[1] for s in record["sets"].values() for name in s["models"]} == shipped
    within = all(abs(m["ari_difference"]) <= record["settings"]["tolerance"] for m in entries)
    assert I.CPU_AUTO_BF16 == (within and record["all_within_tolerance"])
