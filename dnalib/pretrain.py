"""Masked-language-model pretraining of a k-mer encoder (the SCORPIO / MetaBERTa recipe).

Read top to bottom:

1. :class:`PretrainConfig` holds every setting; :func:`pretrain_config` fills
   it from a profile (``smoke``, ``cpu``, ``hour``, ``gpu``).
2. :class:`FragmentSampler` draws random fragments (200 bp by default, either
   strand) from the training genomes. The batch of step *s* is a pure function
   of ``(seed, s)``, so a resumed run sees exactly the data it would have seen,
   and several processes split one global batch between them.
3. :func:`mask_tokens` hides 15% of the tokens. For overlapping k-mers it masks
   contiguous spans of k tokens, because a single masked k-mer can be read off
   its neighbours (chapter 3).
4. :func:`mlm_loss` runs the encoder and scores only the masked positions (the
   output layer over 4^k tokens is the most expensive part of a small model;
   unmasked positions carry no loss).
5. :func:`pretrain` is the loop: AdamW, linear warm-up then cosine decay,
   gradient clipping and accumulation, bf16 autocast where the CPU or GPU
   supports it, periodic evaluation, atomic checkpoints and exact resume,
   DDP under ``torchrun``.

The output directory is a Hugging Face model directory
(``AutoModelForMaskedLM.from_pretrained(out)`` and
``AutoTokenizer.from_pretrained(out)``) plus ``dnalib_pretrain.json`` (config,
data, command, final metrics) and ``log.jsonl`` (one line per step).
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from dnalib.errors import DnalibError
from dnalib.models import (
    base_model,
    lm_head,
    model_config,
    new_mlm_model,
    spectrum_init_,
    train_flops_per_step,
)
from dnalib.profiles import PRETRAIN_SETTINGS, Settings, config_for_profile
from dnalib.sequences import reverse_complement
from dnalib.tokenizers import encode_batch
from dnalib.training import (  # noqa: F401  (re-exported: the run directory's names)
    CHECKPOINT_DIR,
    LOG_FILE,
    PRETRAIN_INFO_FILE,
    STATE_FILE,
    Run,
    changed_keys,
    cosine_lr,
    latest_checkpoint,
    sequences_fingerprint,
    setup_processes,
)

#: The info file a finished pretraining run writes last.
INFO_FILE = PRETRAIN_INFO_FILE


# --------------------------------------------------------------------------- configuration


@dataclass
class PretrainConfig(Settings):
    """Every setting of a pretraining run.

    Parameters
    ----------
    profile : str
        Model size profile (see :data:`dnalib.profiles.MODEL_SIZES`).
    tokenizer : str
        ``"kmer"`` (overlapping), ``"nonoverlap"`` or ``"char"``.
    k : int
        k-mer length (ignored for ``"char"``).
    fragment_length : int
        Bases per training fragment (SCORPIO: 200).
    position : str
        ``"absolute"`` (RoBERTa) or ``"rotary"`` (relative).
    batch_size : int
        Fragments per optimizer step, over all processes and accumulation steps.
    grad_accum : int
        Micro-batches per optimizer step.
    max_steps : int
        Optimizer steps.
    lr : float
        Peak learning rate (SCORPIO: 5e-4).
    embedding_lr_mult : float or None
        The input token embeddings learn at this multiple of the learning
        rate; 0 freezes them. ``None`` (default): 0 with ``init="pca"``, 1
        otherwise. The PCA-initialised embeddings already hold the principal
        axes of the k-mer spectra, most of what tells species apart, and
        masked-token gradients carry no species signal: on the cpu profile
        (seed 0, unseen synthetic species) the MLM with learned embeddings
        embedded at ARI 0.679 and the curriculum from it reached 0.742; with
        frozen embeddings 0.696 and 0.771. A decoder tied to the embeddings
        (``init="standard"``) shares their rate.
    warmup_steps : int
        Linear warm-up; cosine decay to ``min_lr_ratio * lr`` afterwards.
    min_lr_ratio : float
        Final learning rate as a fraction of ``lr``.
    weight_decay : float
        AdamW weight decay (not on biases and LayerNorm weights).
    betas : tuple of float
        AdamW betas.
    grad_clip : float
        Maximum gradient norm.
    mask_prob : float
        Fraction of tokens masked (0.15).
    mask_span : int or None
        Tokens per masked span; ``None``: k for overlapping k-mers, else 1.
    reverse_complement : bool
        Draw fragments from both strands.
    eval_every : int
        Evaluate every this many steps (and at the end).
    eval_fragments : int
        Fixed held-out fragments for evaluation.
    checkpoint_every : int
        Write a checkpoint every this many steps (0: only at the end).
    keep_checkpoints : int
        Checkpoints kept on disk (oldest removed first).
    seed : int
        Seed of weights, data and masks.
    bf16 : str
        ``"auto"`` (on for GPUs with bf16, off on CPUs, where it measured
        slower; see :meth:`dnalib.training.Processes.use_bf16`), ``"on"`` or ``"off"``.
    dropout : float
        Dropout of the encoder.
    model : dict
        Overrides of the model size (e.g. ``{"num_hidden_layers": 6}``).
    init : str
        How the model starts (:func:`initial_model`). ``"pca"`` (default):
        :func:`dnalib.models.spectrum_init_` with the principal axes of the
        training corpus's canonical k-mer spectra
        (:func:`dnalib.kmers.spectrum_axes`): the untrained encoder embeds a
        fragment as its spectrum projected on those axes (reverse-complement
        tied token embeddings, layers that start as the identity; the output
        decoder is then not tied to the input embeddings). ``"spectrum"``: the
        same with random directions (a random projection of the spectrum).
        ``"standard"``: the stock Hugging Face initialisation (tied decoder).
        Untrained, on the synthetic evaluation species (cpu sizes, corpus
        :func:`dnalib.simulate.training_genomes`): ARI 0.72 for ``"pca"``, 0.40
        for ``"spectrum"``, below 0.1 for ``"standard"``.
    """

    profile: str = "cpu"
    tokenizer: str = "kmer"
    k: int = 6
    fragment_length: int = 200
    position: str = "absolute"
    batch_size: int = 32
    grad_accum: int = 1
    max_steps: int = 300
    lr: float = 5e-4
    embedding_lr_mult: float | None = None
    warmup_steps: int = 30
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.98)
    grad_clip: float = 1.0
    mask_prob: float = 0.15
    mask_span: int | None = None
    reverse_complement: bool = True
    eval_every: int = 100
    eval_fragments: int = 256
    checkpoint_every: int = 100
    keep_checkpoints: int = 2
    seed: int = 0
    bf16: str = "auto"
    dropout: float = 0.0
    model: dict[str, Any] = field(default_factory=dict)
    init: str = "pca"

    @property
    def embedding_rate(self) -> float:
        """The embedding learning-rate multiple actually used (``embedding_lr_mult`` resolved)."""
        if self.embedding_lr_mult is not None:
            return float(self.embedding_lr_mult)
        return 0.0 if self.init == "pca" else 1.0

    @property
    def span(self) -> int:
        """Tokens per masked span actually used."""
        if self.mask_span is not None:
            return self.mask_span
        return self.k if self.tokenizer == "kmer" else 1

    @property
    def tokens_per_fragment(self) -> int:
        """Tokens of one fragment, [CLS] and [SEP] included."""
        n = self.fragment_length
        if self.tokenizer == "kmer":
            body = n - self.k + 1
        elif self.tokenizer == "nonoverlap":
            body = n // self.k + n % self.k
        else:
            body = n
        return body + 2

    def validate(self) -> None:
        """Raise :class:`~dnalib.errors.DnalibError` for inconsistent settings."""
        if self.tokenizer not in ("kmer", "nonoverlap", "char"):
            raise DnalibError(f"tokenizer must be kmer, nonoverlap or char; got {self.tokenizer!r}")
        if self.tokenizer != "char" and self.fragment_length < self.k:
            raise DnalibError(f"fragment_length {self.fragment_length} is shorter than k={self.k}")
        if self.batch_size % self.grad_accum:
            raise DnalibError(
                f"batch_size {self.batch_size} is not divisible by grad_accum {self.grad_accum}"
            )
        if not 0 < self.mask_prob < 1:
            raise DnalibError(f"mask_prob must be between 0 and 1; got {self.mask_prob}")
        if self.max_steps < 1:
            raise DnalibError(f"max_steps must be at least 1; got {self.max_steps}")
        if self.bf16 not in ("auto", "on", "off"):
            raise DnalibError(f"bf16 must be auto, on or off; got {self.bf16!r}")
        if self.init not in INITS:
            raise DnalibError(f"init must be one of {INITS}; got {self.init!r}")
        if self.embedding_lr_mult is not None and not self.embedding_lr_mult >= 0:
            raise DnalibError(f"embedding_lr_mult must be 0 (frozen), positive or None (0 for "
                              f"init='pca', else 1); got {self.embedding_lr_mult}")


INITS = ("pca", "spectrum", "standard")

def pretrain_config(profile: str | None = None, **overrides: Any) -> PretrainConfig:
    """The pretraining settings of a profile, with *overrides* applied.

    Parameters
    ----------
    profile : str, optional
        ``smoke``, ``cpu``, ``hour`` or ``gpu`` (default: ``$DNALIB_PROFILE`` or ``cpu``).
    **overrides
        Any :class:`PretrainConfig` field.

    Returns
    -------
    PretrainConfig
    """
    return config_for_profile(PretrainConfig, PRETRAIN_SETTINGS, profile, overrides, "pretraining")


def changed_settings(recorded: dict[str, Any] | None, profile: str | None = None,
                     **overrides: Any) -> list[str]:
    """Settings in which a recorded run's pretraining differs from what the code does now.

    Benchmark records (``results/*.json``) keep the ``pretrain_config`` of
    their MLMs; a chapter that shows such a record says when the code has
    moved on since.

    Parameters
    ----------
    recorded : dict or None
        The record's pretraining settings (``dataclasses.asdict`` of a
        :class:`PretrainConfig`, as JSON values); None for a record that
        kept none.
    profile : str, optional
        The record's profile.
    **overrides
        Settings the recording run changed from the profile (e.g.
        ``checkpoint_every=0``).

    Returns
    -------
    list of str
        Names of the settings that differ (sorted), ``["not recorded"]`` when
        *recorded* is None, empty when the record matches the current code.
    """
    if recorded is None:
        return ["not recorded"]
    return changed_keys(recorded, pretrain_config(profile, **overrides))


def make_pretrain_tokenizer(cfg: PretrainConfig) -> Any:
    """The Hugging Face tokenizer for *cfg* (saved with the model)."""
    from dnalib.tokenizers import make_tokenizer

    k = None if cfg.tokenizer == "char" else cfg.k
    return make_tokenizer(cfg.tokenizer, k=k, model_max_length=cfg.tokens_per_fragment)


# --------------------------------------------------------------------------- data


class FragmentSampler:
    """Random fixed-length fragments of a set of sequences, deterministic per step.

    A contig is chosen with probability proportional to the number of
    fragments that fit in it, then a uniform start; with
    ``reverse_complement`` half of the fragments are reverse complemented.
    ``batch(step)`` depends only on ``(seed, step)``.

    Parameters
    ----------
    sequences : sequence of str
        Contigs (any case; ambiguous bases become [UNK] tokens later).
    length : int
        Fragment length in bases.
    seed : int
        Seed of the sampler.
    reverse_complement : bool
        Draw from both strands.
    """

    def __init__(self, sequences: Sequence[str], length: int, *, seed: int = 0,
                 reverse_complement: bool = True) -> None:
        self.sequences = [s.upper() for s in sequences if len(s) >= length]
        if not self.sequences:
            raise DnalibError(
                f"no training sequence is at least {length} bp long: lower the fragment length "
                "or provide longer sequences"
            )
        self.length = length
        self.seed = seed
        self.reverse_complement = reverse_complement
        fits = np.array([len(s) - length + 1 for s in self.sequences], dtype=np.float64)
        self._p = fits / fits.sum()
        self._fits = fits.astype(np.int64)

    @property
    def total_length(self) -> int:
        """Bases in the sampled sequences."""
        return sum(len(s) for s in self.sequences)

    def fragments(self, n: int, rng: np.random.Generator) -> list[str]:
        """*n* random fragments drawn with *rng*."""
        which = rng.choice(len(self.sequences), size=n, p=self._p)
        starts = (rng.random(n) * self._fits[which]).astype(np.int64)
        flip = rng.random(n) < 0.5 if self.reverse_complement else np.zeros(n, dtype=bool)
        out = []
        for w, s, f in zip(which, starts, flip, strict=True):
            frag = self.sequences[w][s:s + self.length]
            out.append(reverse_complement(frag) if f else frag)
        return out

    def batch(self, step: int, n: int) -> list[str]:
        """The *n* fragments of optimizer step *step* (the whole global batch)."""
        return self.fragments(n, np.random.default_rng([self.seed, 1, step]))


def load_training_sequences(path: str | os.PathLike[str], *, split: str | None = "train") -> list[str]:
    """Contigs to pretrain on, from a labelled genome set directory or a FASTA/FASTQ file.

    Parameters
    ----------
    path : str or path-like
        A genome set directory (FASTA files + ``taxonomy.tsv``) or a sequence file.
    split : str or None
        For a genome set with a ``split.tsv`` (the synthetic community), keep only
        the genomes of this split (``"train"``), so evaluation species stay unseen.
        ``None`` keeps every genome.

    Returns
    -------
    list of str
    """
    from dnalib import io

    p = Path(path)
    if p.is_dir():
        gs = io.load_genome_set(p)
        if split is not None:
            gs = gs.split(split)
        return [c for contigs in gs.genomes.values() for c in contigs]
    return [r.sequence for r in io.read_sequences(p)]


# --------------------------------------------------------------------------- masking and loss


def mask_tokens(
    input_ids: np.ndarray,
    attention_mask: np.ndarray,
    *,
    mask_prob: float,
    span: int,
    vocab_size: int,
    rng: np.random.Generator,
    mask_id: int = 4,
    first_regular_id: int = 5,
    special_ids: Sequence[int] = (0, 1, 2, 3, 4),
    replace: tuple[float, float] = (0.8, 0.1),
) -> tuple[np.ndarray, np.ndarray]:
    """BERT-style masking with contiguous spans.

    Span starts are drawn among the real (non-special) tokens so that about
    ``mask_prob`` of them are covered; every token of a span is selected. Of
    the selected tokens 80% become [MASK], 10% a random regular token and 10%
    stay unchanged (all are scored). [UNK] tokens are never selected.

    Parameters
    ----------
    input_ids, attention_mask : numpy.ndarray
        ``(batch, tokens)`` integer arrays.
    mask_prob : float
        Target fraction of selected tokens.
    span : int
        Tokens per span (k for overlapping k-mers, 1 otherwise).
    vocab_size : int
        Vocabulary size (random replacements are drawn below it).
    rng : numpy.random.Generator
        Source of randomness.
    mask_id, first_regular_id : int
        Id of [MASK] and of the first non-special token.
    special_ids : sequence of int
        Ids that are never selected.
    replace : tuple of float
        Fractions of the selected tokens replaced by [MASK] and by a random
        token (the rest stay unchanged); ``(1.0, 0.0)`` masks all of them,
        which is how :func:`evaluate_mlm` scores a model.

    Returns
    -------
    inputs : numpy.ndarray
        The corrupted ids.
    selected : numpy.ndarray
        Boolean ``(batch, tokens)``: positions that are scored.
    """
    ids = np.asarray(input_ids)
    eligible = ~np.isin(ids, special_ids) & (np.asarray(attention_mask) > 0)
    n_rows, width = ids.shape
    selected = np.zeros_like(eligible)
    counts = eligible.sum(axis=1)
    n_spans = np.maximum(1, np.round(counts * mask_prob / span)).astype(np.int64)
    for r in range(n_rows):  # one loop per sequence, not per token
        pos = np.flatnonzero(eligible[r])
        if pos.size == 0:
            continue
        starts = rng.choice(pos, size=min(n_spans[r], pos.size), replace=False)
        cover = (starts[:, None] + np.arange(span)[None, :]).ravel()
        cover = cover[cover < width]
        selected[r, cover] = True
    selected &= eligible
    u = rng.random(ids.shape)
    p_mask, p_random = replace
    inputs = ids.copy()
    inputs[selected & (u < p_mask)] = mask_id
    rand = selected & (u >= p_mask) & (u < p_mask + p_random)
    inputs[rand] = rng.integers(first_regular_id, vocab_size, size=int(rand.sum()))
    return inputs, selected


def initial_model(cfg: PretrainConfig, tokenizer: Any, sequences: Sequence[str] | None = None) -> Any:
    """The masked-language model a pretraining run with *cfg* starts from.

    Sizes from the profile and ``cfg.model``; with ``cfg.init`` ``"pca"`` or
    ``"spectrum"`` an untied decoder and :func:`dnalib.models.spectrum_init_`
    (for ``"pca"`` with the principal axes of the k-mer spectra of
    *sequences*, :func:`dnalib.kmers.spectrum_axes`), otherwise the stock
    initialisation. Seeded with ``cfg.seed``.

    Parameters
    ----------
    cfg : PretrainConfig
        The run's settings.
    tokenizer
        Its tokenizer (:func:`make_pretrain_tokenizer`).
    sequences : sequence of str, optional
        The training contigs; needed for ``init="pca"``.

    Returns
    -------
    transformers.RobertaForMaskedLM or transformers.EsmForMaskedLM
    """
    sizes = dict(cfg.model)
    if cfg.init in ("pca", "spectrum"):
        sizes.setdefault("tie_word_embeddings", False)
    config = model_config(tokenizer, profile=cfg.profile, max_tokens=cfg.tokens_per_fragment,
                          position=cfg.position, dropout=cfg.dropout, **sizes)
    axes = None
    if cfg.init == "pca":
        if sequences is None:
            raise DnalibError("init='pca' computes the embeddings from the training contigs: pass sequences")
        if cfg.tokenizer == "char":
            raise DnalibError("init='pca' needs k-mer tokens; with tokenizer='char' use init='spectrum' "
                              "or 'standard'")
        from dnalib.kmers import spectrum_axes

        axes = spectrum_axes(sequences, cfg.k, config.hidden_size, seed=cfg.seed)
    model = new_mlm_model(config, seed=cfg.seed)
    if cfg.init in ("pca", "spectrum"):
        spectrum_init_(model, tokenizer, seed=cfg.seed, axes=axes)
    return model


def _freeze_unused_head_bias(model: Any) -> None:
    """Freeze RoBERTa's ``lm_head.bias`` when its decoder has a bias of its own.

    Transformers ties the two only together with the word embeddings; an
    untied model (``init="pca"`` or ``"spectrum"``) adds the decoder's bias and never uses
    ``lm_head.bias``, which DistributedDataParallel rejects as a parameter
    without gradient.
    """
    head = lm_head(model)
    decoder = getattr(head, "decoder", None)  # ESM's head adds its own bias after a bias-free decoder
    if decoder is not None and decoder.bias is not None and head.bias is not decoder.bias:
        head.bias.requires_grad_(False)


class MaskedLMScorer(torch.nn.Module):
    """Encoder + MLM head applied to the selected positions only.

    Wrapping this module (not the bare model) in DistributedDataParallel keeps
    the whole forward pass inside DDP, which is what makes DDP average the
    gradients of the processes.

    Parameters
    ----------
    model
        A ``RobertaForMaskedLM`` / ``EsmForMaskedLM``.
    """

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model

    def forward(self, inputs: torch.Tensor, attention_mask: torch.Tensor,
                selected: torch.Tensor) -> torch.Tensor:
        """Logits ``(n_selected, vocab)`` of the selected positions."""
        # Fragments of one length need no attention mask; without one, SDPA
        # takes its fastest (flash) kernel.
        mask = None if bool(attention_mask.all()) else attention_mask
        hidden = base_model(self.model)(input_ids=inputs, attention_mask=mask)
        return lm_head(self.model)(hidden.last_hidden_state[selected])


def mlm_loss(scorer: Any, inputs: torch.Tensor, attention_mask: torch.Tensor,
             labels: torch.Tensor, selected: torch.Tensor, *, normalizer: float | None = None
             ) -> tuple[torch.Tensor, dict[str, float]]:
    """Masked-language-model loss, scoring only the selected positions.

    Parameters
    ----------
    scorer
        A :class:`MaskedLMScorer` (possibly wrapped in DDP), or a
        ``*ForMaskedLM`` model (wrapped on the fly).
    inputs, attention_mask, labels : torch.Tensor
        ``(batch, tokens)``; *labels* are the original ids.
    selected : torch.Tensor
        Boolean ``(batch, tokens)``: positions to score.
    normalizer : float, optional
        Divide the summed cross-entropy by this (default: the number of selected
        positions). Several processes pass the *global* count divided by the
        number of processes, so that DDP's gradient average equals the
        single-process gradient.

    Returns
    -------
    loss : torch.Tensor
        Scalar to back-propagate.
    stats : dict
        ``loss_sum`` and ``correct`` (masked tokens predicted right), ``n``.
    """
    if hasattr(scorer, "lm_head"):  # a bare *ForMaskedLM model
        scorer = MaskedLMScorer(scorer)
    logits = scorer(inputs, attention_mask, selected).float()
    target = labels[selected]
    loss_sum = F.cross_entropy(logits, target, reduction="sum")
    n = int(target.numel())
    denom = float(normalizer if normalizer is not None else max(n, 1))
    with torch.no_grad():
        correct = int((logits.argmax(-1) == target).sum())
    return loss_sum / denom, {"loss_sum": float(loss_sum.detach()), "correct": correct, "n": n}


# --------------------------------------------------------------------------- helpers


def lr_at(step: int, cfg: PretrainConfig) -> float:
    """Learning rate of optimizer step *step* (0-based): linear warm-up, cosine decay."""
    return cosine_lr(step, peak=cfg.lr, warmup_steps=cfg.warmup_steps, total_steps=cfg.max_steps,
                     min_ratio=cfg.min_lr_ratio)


def make_optimizer(model: Any, cfg: PretrainConfig, *, fused: bool | None = None
                   ) -> torch.optim.Optimizer:
    """AdamW without weight decay on biases and LayerNorm weights (fused on CUDA).

    *fused* chooses the fused kernel (default: when the model is on a GPU;
    :func:`pretrain` passes :attr:`dnalib.training.Processes.fused_adamw`).

    The input token embeddings form a group of their own whose rate is
    ``cfg.embedding_rate`` times the others (each group's ``lr_mult``;
    :func:`pretrain` sets ``lr = lr_at(step) * lr_mult``). With a multiple of
    0 they are frozen (``requires_grad`` off) and left out of the optimizer.
    """
    word = base_model(model).embeddings.word_embeddings.weight
    rate = cfg.embedding_rate
    if rate == 0:
        word.requires_grad_(False)
    decay, no_decay, embedding = [], [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if p is word:
            embedding.append(p)
        elif p.ndim < 2 or "LayerNorm" in name or "layer_norm" in name:
            no_decay.append(p)
        else:
            decay.append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay, "lr_mult": 1.0},
              {"params": no_decay, "weight_decay": 0.0, "lr_mult": 1.0}]
    if embedding:
        groups.append({"params": embedding, "weight_decay": cfg.weight_decay,
                       "lr_mult": rate})
    for g in groups:
        g["lr"] = cfg.lr * g["lr_mult"]
    if fused is None:
        fused = next(model.parameters()).device.type == "cuda"
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas, fused=fused)


# --------------------------------------------------------------------------- evaluation


@torch.no_grad()
def evaluate_mlm(model: Any, tokenizer: Any, fragments: list[str], cfg: PretrainConfig, *,
                 batch_size: int = 64, autocast: bool = False) -> dict[str, float]:
    """Masked-token loss, perplexity and accuracy on fixed fragments (fixed masks).

    Every selected token is replaced by [MASK] (no random or unchanged
    tokens), so the accuracy measures prediction, not copying of the input.

    Parameters
    ----------
    model
        A ``*ForMaskedLM`` model.
    tokenizer
        Its tokenizer.
    fragments : list of str
        Held-out fragments.
    cfg : PretrainConfig
        Masking settings.
    batch_size : int
        Fragments per forward pass.
    autocast : bool
        Run in bf16 autocast.

    Returns
    -------
    dict
        ``loss``, ``perplexity``, ``accuracy``, ``masked_tokens``.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    rng = np.random.default_rng([cfg.seed, 2])
    total, correct, n = 0.0, 0, 0
    for i in range(0, len(fragments), batch_size):
        ids, att = encode_batch(tokenizer, fragments[i:i + batch_size])
        inputs, sel = mask_tokens(ids, att, mask_prob=cfg.mask_prob, span=cfg.span,
                                  vocab_size=len(tokenizer), rng=rng, replace=(1.0, 0.0))
        t = [torch.from_numpy(a).to(device) for a in (inputs, att, ids, sel)]
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            _, stats = mlm_loss(model, *t, normalizer=1.0)
        total += stats["loss_sum"]
        correct += stats["correct"]
        n += stats["n"]
    model.train(was_training)
    loss = total / max(n, 1)
    return {"loss": loss, "perplexity": math.exp(min(loss, 50.0)), "accuracy": correct / max(n, 1),
            "masked_tokens": n}


def eval_fragments(sequences: Sequence[str], cfg: PretrainConfig) -> list[str]:
    """The fixed held-out fragments a run evaluates on (the same for every step and every resume)."""
    sampler = FragmentSampler(sequences, cfg.fragment_length, seed=cfg.seed + 10_000,
                              reverse_complement=cfg.reverse_complement)
    return sampler.fragments(cfg.eval_fragments, np.random.default_rng([cfg.seed, 3]))


# --------------------------------------------------------------------------- the loop


def pretrain(
    sequences: Sequence[str],
    out_dir: str | os.PathLike[str],
    cfg: PretrainConfig | None = None,
    *,
    eval_sequences: Sequence[str] | None = None,
    resume: bool = False,
    progress: bool = True,
    device: str | None = None,
    data_description: str = "",
    command: str | None = None,
    on_step: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Pretrain a k-mer encoder with masked language modelling.

    The run directory, checkpoints, resume, log and processes are the shared
    engine's (:mod:`dnalib.training`); this loop holds the batch (fragments,
    masks, micro-batches), the loss and what is saved.

    Parameters
    ----------
    sequences : sequence of str
        Training contigs (see :func:`load_training_sequences`).
    out_dir : str or path-like
        Output directory (model, tokenizer, ``log.jsonl``, checkpoints).
    cfg : PretrainConfig, optional
        Settings (default: :func:`pretrain_config` of the current profile).
    eval_sequences : sequence of str, optional
        Held-out contigs for evaluation (default: the training contigs, with
        a different seed).
    resume : bool
        Continue from the newest good checkpoint in *out_dir*; refused when it
        was written with other settings or other training or evaluation data.
    progress : bool
        Show a progress bar (rank 0 only).
    device : str, optional
        ``"cpu"``, ``"cuda"``, ... (default: CUDA if available).
    data_description : str
        Recorded in ``dnalib_pretrain.json``.
    command : str, optional
        The command line, recorded in ``dnalib_pretrain.json``.
    on_step : callable, optional
        Called with each step's log record (rank 0).

    Returns
    -------
    dict
        ``history`` (one record per step), ``evals`` (evaluation records),
        ``final`` (last evaluation), ``tokens_per_s``, ``out_dir``.
    """
    from transformers import AutoModelForMaskedLM

    cfg = cfg or pretrain_config()
    cfg.validate()
    procs = setup_processes(device)
    precision = procs.precision(cfg.bf16)  # bf16, fp16 with loss scaling (a T4), or fp32
    use_bf16 = precision.name == "bf16"
    micro = cfg.batch_size // cfg.grad_accum
    local = procs.share(micro, "micro-batch")

    tokenizer = make_pretrain_tokenizer(cfg)
    sampler = FragmentSampler(sequences, cfg.fragment_length, seed=cfg.seed,
                              reverse_complement=cfg.reverse_complement)
    eval_frags = eval_fragments(eval_sequences or sequences, cfg)
    fingerprint = sequences_fingerprint(sequences)
    run = Run(out_dir, info_file=INFO_FILE, settings=cfg, desc="pretrain", processes=procs,
              fingerprints={"data": fingerprint,
                            "eval data": sequences_fingerprint(eval_sequences or sequences)},
              total_steps=cfg.max_steps, checkpoint_every=cfg.checkpoint_every,
              keep=cfg.keep_checkpoints, progress=progress, on_step=on_step)
    resumed = run.resume(lambda ckpt: AutoModelForMaskedLM.from_pretrained(
        ckpt, attn_implementation="sdpa")) if resume else None
    if resumed:
        state, model = resumed
        torch.set_rng_state(state["torch_rng"])
    else:
        model = initial_model(cfg, tokenizer, sequences)
        torch.manual_seed(cfg.seed)
    _freeze_unused_head_bias(model)
    model.to(procs.device).train()
    optimizer = make_optimizer(model, cfg, fused=procs.fused_adamw)
    if resumed:
        optimizer.load_state_dict(state["optimizer"])
    train_model = procs.wrap(MaskedLMScorer(model))
    evals = [r for r in run.history if "eval_loss" in r]

    def save(directory: Path) -> None:
        model.save_pretrained(directory, safe_serialization=True)
        tokenizer.save_pretrained(directory)

    def training_state() -> dict[str, Any]:
        return {"optimizer": optimizer.state_dict(), "torch_rng": torch.get_rng_state()}

    tokens_per_step = cfg.batch_size * cfg.tokens_per_fragment
    t_start, steps_timed = time.perf_counter(), 0
    for step in run.steps():
        t0 = time.perf_counter()
        lr = lr_at(step, cfg)
        for group in optimizer.param_groups:
            group["lr"] = lr * group.get("lr_mult", 1.0)
        ids_all, att_all = encode_batch(tokenizer, sampler.batch(step, cfg.batch_size))
        inputs_all, sel_all = mask_tokens(ids_all, att_all, mask_prob=cfg.mask_prob, span=cfg.span,
                                          vocab_size=len(tokenizer),
                                          rng=np.random.default_rng([cfg.seed, 4, step]))
        n_selected = int(sel_all.sum())
        loss_sum, correct = 0.0, 0
        for m in range(cfg.grad_accum):  # this process's share of each micro-batch
            lo = m * micro + procs.rank * local
            t = [procs.to_device(a[lo:lo + local]) for a in (inputs_all, att_all, ids_all, sel_all)]
            last_micro = m == cfg.grad_accum - 1
            sync = contextlib.nullcontext() if last_micro or not procs.distributed \
                else train_model.no_sync()
            with sync:
                with precision.autocast():
                    # Every process divides by the global count; DDP averages over
                    # processes, so multiply by world to get the global mean.
                    loss, stats = mlm_loss(train_model, *t, normalizer=n_selected / procs.world)
                precision.backward(loss)
            loss_sum += stats["loss_sum"]
            correct += stats["correct"]
        precision.unscale(optimizer)
        grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip))
        precision.step(optimizer)
        optimizer.zero_grad(set_to_none=True)
        loss_sum, correct = procs.sum([loss_sum, correct])
        dt = time.perf_counter() - t0
        steps_timed += 1
        record = {"step": step + 1, "loss": loss_sum / max(n_selected, 1),
                  "accuracy": int(correct) / max(n_selected, 1), "lr": lr, "grad_norm": grad_norm,
                  "tokens_per_s": tokens_per_step / dt,
                  "flops_per_s": train_flops_per_step(model.config, cfg.batch_size,
                                                      cfg.tokens_per_fragment, n_selected) / dt}
        if procs.main and (step + 1 == cfg.max_steps
                           or (cfg.eval_every and (step + 1) % cfg.eval_every == 0)):
            ev = evaluate_mlm(model, tokenizer, eval_frags, cfg, autocast=use_bf16)
            record.update({f"eval_{k}": v for k, v in ev.items()})
            evals.append(record)
        run.log(record, loss=f"{record['loss']:.3f}", tok_s=f"{record['tokens_per_s']:.0f}")
        if run.checkpoint_due(step + 1):
            run.checkpoint(step + 1, save, training_state())
    elapsed = time.perf_counter() - t_start
    tokens_per_s = tokens_per_step * steps_timed / elapsed if steps_timed else float("nan")
    final = evals[-1] if evals else None
    run.finish(save, {"kind": "mlm", "data": data_description, "training_bases": sampler.total_length,
                      "training_sha256": fingerprint, "bf16": use_bf16, "final": final,
                      "tokens_per_s": tokens_per_s}, training_state(), command=command)
    return {"history": run.history, "evals": evals, "final": final,
            "tokens_per_s": tokens_per_s, "out_dir": str(run.out)}

