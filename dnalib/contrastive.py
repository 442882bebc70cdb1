"""Contrastive training of a k-mer encoder: weighted SimCLR, then MI-Mix (DNABERT-S).

Read top to bottom:

1. :class:`ProjectionHead`, the small MLP between the pooled encoder output and
   the losses (used for training only; embeddings are the pooled encoder
   output).
2. :func:`encode`, the encoder pass run layer by layer so that hidden states
   can be mixed at any layer (MI-Mix), and :func:`draw_mix`, which draws the
   layer, the partners and the mixing weights of one step.
3. :class:`FinetuneConfig` and :func:`finetune`, the training loop.

The two losses of the curriculum (C2LR) are
:func:`dnalib.losses.weighted_simclr_loss` and :func:`dnalib.losses.mimix_loss`
(their formulas are in :mod:`dnalib.losses`), and the positive pairs come from
:class:`dnalib.pairs.PairSampler`; both are shared with
:mod:`dnalib.spectrum_map`, the other trainer.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dnalib.errors import DnalibError
from dnalib.losses import TEMPERATURE, mimix_loss, weighted_simclr_loss
from dnalib.models import base_model, masked_mean
from dnalib.pairs import SAMPLE_BY, PairSampler
from dnalib.profiles import Settings
from dnalib.training import FINETUNE_INFO_FILE

# --------------------------------------------------------------------------- projection head


class ProjectionHead(nn.Module):
    """Projection head of DNABERT-S: Linear(d, d) -> ReLU -> Linear(d, out), L2-normalised.

    Both linear maps have no bias. The head is used for training only.

    Parameters
    ----------
    d : int
        Input size (the encoder's hidden size).
    out : int
        Output size (128 in DNABERT-S).
    """

    def __init__(self, d: int, out: int = 128) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d, d, bias=False), nn.ReLU(), nn.Linear(d, out, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """L2-normalised projections ``(N, out)`` of pooled encodings ``(N, d)``."""
        return F.normalize(self.net(x), dim=-1)


# --------------------------------------------------------------------------- encoder pass with MI-Mix


def _prepare_mask(encoder: Any, mask: torch.Tensor | None, hidden: torch.Tensor) -> Any:
    """The attention mask in the format the encoder's layers expect (None: attend everywhere)."""
    if mask is None or bool(mask.all()):
        return None  # SDPA fast path, as in the stock forward without padding
    from transformers.masking_utils import create_bidirectional_mask

    return create_bidirectional_mask(config=encoder.config, inputs_embeds=hidden, attention_mask=mask)


def encode(
    model_or_encoder: Any,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    *,
    mix_layer: int | None = None,
    perm: torch.Tensor | None = None,
    lam: torch.Tensor | None = None,
    content: torch.Tensor | None = None,
    gather: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """Pooled encoder output, optionally with MI-Mix at one layer.

    Runs the encoder layer by layer: embeddings, then for each layer l, if
    ``l == mix_layer`` the hidden states become ``lam * h + (1 - lam) * h[perm]``
    (one lambda per sample) and the attention mask ``mask * mask[perm]``; then
    layer l. Without mixing the result equals masked-mean pooling of the stock
    forward's ``last_hidden_state``. Works for ``RobertaModel`` (absolute
    positions) and ``EsmModel`` (rotary positions; its final layer norm is
    applied).

    Parameters
    ----------
    model_or_encoder
        A ``RobertaModel`` / ``EsmModel`` or a model with a head around one
        (see :func:`dnalib.models.base_model`).
    input_ids, attention_mask : torch.Tensor
        ``(N, T)`` token ids and 1/0 attention mask.
    mix_layer : int, optional
        Mix the input of this layer, in ``0 ... L-1`` (0: the embedding
        output). None: no mixing.
    perm : torch.Tensor, optional
        ``(N,)`` partner of each sample (required with *mix_layer*).
    lam : torch.Tensor, optional
        ``(N,)`` weight of each sample itself (required with *mix_layer*).
    content : torch.Tensor, optional
        ``(N, T)`` pooling mask (1 for tokens to average). Pass
        :func:`dnalib.models.content_mask` to exclude [CLS] and [SEP] as in
        DNABERT-S; default: *attention_mask*. When mixing it becomes
        ``content * content[perm]``.
    gather : callable, optional
        Partners from other processes: ``gather(x)`` returns the rows of *x*
        of every process (:func:`gather_rows`), *perm* then indexes those
        rows, and at the mixing layer ``h[perm]``, ``mask[perm]`` and
        ``content[perm]`` are taken from the gathered hidden states and masks
        (default: this process's rows only).

    Returns
    -------
    torch.Tensor
        ``(N, hidden_size)`` pooled encodings.
    """
    encoder = base_model(model_or_encoder)
    if input_ids.dim() != 2 or attention_mask.shape != input_ids.shape:
        raise DnalibError(
            f"input_ids and attention_mask must be (batch, tokens) of the same shape; got "
            f"{tuple(input_ids.shape)} and {tuple(attention_mask.shape)}"
        )
    layers = encoder.encoder.layer
    n = input_ids.shape[0]
    if mix_layer is not None:
        if not 0 <= mix_layer < len(layers):
            raise DnalibError(f"mix_layer must be in 0..{len(layers) - 1}; got {mix_layer}")
        if perm is None or lam is None or perm.shape != (n,) or lam.shape != (n,):
            raise DnalibError(f"mixing needs perm and lam of shape ({n},), one entry per sample")
    if content is None:
        content = attention_mask
    elif content.shape != input_ids.shape:
        raise DnalibError(
            f"content must have the shape of input_ids {tuple(input_ids.shape)}; got {tuple(content.shape)}"
        )

    is_esm = getattr(encoder.config, "model_type", "") == "esm"
    if is_esm:
        hidden = encoder.embeddings(input_ids=input_ids, attention_mask=attention_mask)
        position_embeddings = None
        if encoder.rotary_embeddings is not None:
            positions = torch.arange(input_ids.shape[1], device=input_ids.device).unsqueeze(0)
            position_embeddings = encoder.rotary_embeddings(hidden, positions)
    else:
        hidden = encoder.embeddings(input_ids=input_ids)

    mask = attention_mask
    prepared = _prepare_mask(encoder, mask, hidden)
    for i, layer in enumerate(layers):
        if i == mix_layer:
            perm = perm.to(hidden.device).long()
            w = lam.to(hidden.device, hidden.dtype).view(-1, 1, 1)
            every = gather or (lambda x: x)
            hidden = w * hidden + (1 - w) * every(hidden)[perm]
            mask = mask * every(mask)[perm]
            content = content * every(content)[perm]
            prepared = _prepare_mask(encoder, mask, hidden)
        if is_esm:
            hidden = layer(hidden, attention_mask=prepared, position_embeddings=position_embeddings)
        else:
            hidden = layer(hidden, prepared)
    if is_esm and encoder.encoder.emb_layer_norm_after is not None:
        hidden = encoder.encoder.emb_layer_norm_after(hidden)
    return masked_mean(hidden, content)


def draw_mix(
    n: int,
    n_layers: int,
    rng_or_generator: np.random.Generator | torch.Generator,
    alpha: float = 1.0,
    input_only: bool = False,
) -> tuple[int, torch.Tensor, torch.Tensor]:
    """Draw the MI-Mix layer, partners and weights of one training step.

    Parameters
    ----------
    n : int
        Batch size.
    n_layers : int
        Number of encoder layers L; the layer is uniform on ``0 ... L-1``.
    rng_or_generator : numpy.random.Generator or torch.Generator
        Source of randomness (a torch generator seeds a NumPy one from itself).
    alpha : float
        lambda ~ Beta(alpha, alpha) per sample, then lambda <- max(lambda, 1 - lambda).
    input_only : bool
        Always mix at layer 0, the embedding output (the i-Mix ablation).

    Returns
    -------
    layer : int
        Mixing layer for :func:`encode`.
    perm : torch.Tensor
        ``(n,)`` int64 random permutation (may have fixed points).
    lam : torch.Tensor
        ``(n,)`` float32 weights in [0.5, 1].
    """
    if n < 1 or n_layers < 1:
        raise DnalibError(f"draw_mix needs n >= 1 and n_layers >= 1; got n={n}, n_layers={n_layers}")
    if not alpha > 0:
        raise DnalibError(f"alpha must be positive; got {alpha}")
    if isinstance(rng_or_generator, torch.Generator):
        seed = int(torch.randint(0, 2**62, (1,), generator=rng_or_generator))
        rng = np.random.default_rng(seed)
    else:
        rng = rng_or_generator
    layer = 0 if input_only else int(rng.integers(n_layers))
    perm = torch.from_numpy(rng.permutation(n).astype(np.int64))
    lam = rng.beta(alpha, alpha, size=n)
    lam = torch.from_numpy(np.maximum(lam, 1.0 - lam).astype(np.float32))
    return layer, perm, lam


def _process_group() -> tuple[int, int]:
    """``(rank, world)`` of the process group (``(0, 1)`` without one)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def gather_rows(x: torch.Tensor) -> torch.Tensor:
    """The rows of *x* of every process, in rank order (*x* itself in a single process).

    Floating-point tensors are gathered with an all-gather that carries
    gradients (``all_gather_single_autograd`` of
    ``torch.distributed._functional_collectives``, which torch names as the
    successor of the deprecated ``torch.distributed.nn.functional.all_gather``):
    its backward sends each process the sum, over processes, of the gradient
    of its rows (a reduce-scatter). When every process computes the same global loss from the
    gathered rows, that sum is *world* times the gradient of the global loss,
    and DDP's average over processes leaves exactly the single-process
    gradient. Integer and boolean tensors (masks) are gathered without
    gradient. Every process must pass a tensor of the same shape.
    """
    _, world = _process_group()
    if world == 1:
        return x
    import torch.distributed as dist

    if x.is_floating_point():
        from torch.distributed import _functional_collectives as fc

        return fc.wait_tensor(fc.all_gather_single_autograd(x.contiguous(), 0, dist.group.WORLD))
    wire = x.to(torch.uint8) if x.dtype == torch.bool else x.contiguous()
    parts = [torch.empty_like(wire) for _ in range(world)]
    dist.all_gather(parts, wire)
    out = torch.cat(parts)
    return out.bool() if x.dtype == torch.bool else out



__all__ = [
    "ContrastiveObjective",
    "FinetuneConfig",
    "ProjectionHead",
    "draw_mix",
    "encode",
    "finetune",
    "finetune_config",
    "finetune_optimizer",
    "gather_rows",
    "init_fingerprint",
    "scratch_encoder",
    "split_views",
    "view_chunk_length",
]


# --------------------------------------------------------------------------- training


@dataclass
class FinetuneConfig(Settings):
    """Every setting of a contrastive fine-tuning run.

    Parameters
    ----------
    profile : str
        ``smoke``, ``cpu``, ``hour`` or ``gpu``.
    curriculum : tuple of str
        Phases in order, each ``"simclr"``, ``"mimix"`` or ``"imix"`` (mixing at
        the input only); DNABERT-S: ``("simclr", "mimix")``.
    phase_steps : tuple of int
        Optimizer steps of each phase.
    fragment_length : int
        Bases per view (DNABERT-S: 10 kbp; scaled down for CPUs). Species
        signal in a view grows with its length: below about 2 kbp two views of
        one synthetic genome are hard to match even for 6-mer spectra.
    chunk_length : int
        Bases the encoder reads in one pass (0: the whole view). A longer view
        is cut into ``fragment_length / chunk_length`` consecutive chunks and
        its encoding is the mean of the chunk encodings, exactly as
        :func:`dnalib.inference.embed_sequences` embeds long sequences. The cost
        of a step then grows linearly with the view length.
    batch_pairs : int
        Positive pairs per step (N); the loss sees 2N views.
    lr : float
        Peak learning rate of the encoder.
    head_lr_mult : float
        The projection head learns this many times faster (DNABERT-S: 100,
        from a well-pretrained encoder; a briefly pretrained one needs less).
    embedding_lr_mult : float
        The token embeddings learn this many times faster than the rest of
        the encoder. Adam moves every weight by about the learning rate per
        step whatever its size, so the large embeddings of
        :func:`dnalib.models.spectrum_init_` (standard deviation 1, fifty
        times the usual) change proportionally slowly; on the cpu profile, from an untrained
        spectrum-initialised encoder, 120 steps of SimCLR reach ARI 0.43 on the
        unseen synthetic species with 1x and 0.53 with 10x.
    warmup_steps : int
        Linear warm-up at the start of the run, then one cosine decay to 0.1x
        over all phases together (:meth:`lr_factor`): a later phase continues
        the schedule and the optimizer state where the earlier one stopped,
        as DNABERT-S trains its curriculum with one optimizer at one learning
        rate. (Restarting the schedule at full rate for phase 2 made the
        curriculum seed-sensitive on the cpu profile: ARI 0.771, 0.693 and
        0.722 over three seeds, against 0.728, 0.728 and 0.725 for SimCLR.)
    weight_decay : float
        AdamW weight decay.
    grad_clip : float
        Maximum gradient norm.
    temperature : float
        Loss temperature (0.05).
    alpha : float
        MI-Mix lambda ~ Beta(alpha, alpha).
    proj_dim : int
        Output size of the projection head (128).
    reverse_complement : bool
        Draw each view from either strand.
    sample_by : str
        How each step picks its groups: ``"group"``, evenly (with labels:
        every species counts the same however large its genome), or
        ``"length"``, in proportion to the bases a group holds (label-free:
        every base of the sample is equally likely, as reads are, so a genome
        split into many short contigs is not over-sampled).
    checkpoint_every : int
        Steps between checkpoints (0: only at the end).
    keep_checkpoints : int
        Checkpoints kept on disk.
    seed : int
        Seed of data, mixing and head initialisation.
    data_offset : int
        Steps of the data stream already used: step *s* draws the pairs (and
        mixing) of step ``s + data_offset``. A run that continues another
        one (phase 2 from a phase-1 output) passes the earlier run's steps,
        so it sees new pairs, as the second phase of a single curriculum run
        does, rather than the first phase's pairs again.
    bf16 : str
        ``"auto"`` (GPUs only), ``"on"`` or ``"off"``.
    augment_errors : str or None
        Sequencing errors given to each view of every positive pair,
        independently and anew every step (:func:`dnalib.seqerrors.augment_pair`),
        a spec :func:`dnalib.seqerrors.error_model` reads (``"longread10"``,
        ``"0.05"``); None: clean views. A view whose length changed (indels)
        is cut to ``fragment_length`` bases and read in as many chunks as a
        clean view, of nearly equal length (:func:`split_views`).
    """

    #: Settings added after the shipped models were trained. At these values they train as before.
    NEUTRAL: ClassVar[dict[str, Any]] = {"augment_errors": None}

    profile: str = "cpu"
    curriculum: tuple[str, ...] = ("simclr", "mimix")
    phase_steps: tuple[int, ...] = (60, 60)
    fragment_length: int = 3000
    chunk_length: int = 200
    batch_pairs: int = 12
    lr: float = 1e-3
    head_lr_mult: float = 10.0
    embedding_lr_mult: float = 1.0
    warmup_steps: int = 10
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    temperature: float = TEMPERATURE
    alpha: float = 1.0
    proj_dim: int = 128
    reverse_complement: bool = True
    sample_by: str = "group"
    checkpoint_every: int = 50
    keep_checkpoints: int = 2
    seed: int = 0
    data_offset: int = 0
    bf16: str = "auto"
    augment_errors: str | None = None

    @property
    def max_steps(self) -> int:
        """Steps of all phases together."""
        return int(sum(self.phase_steps))

    def lr_factor(self, step: int) -> float:
        """Learning-rate multiplier at global step *step* (0-based) of the run.

        Linear warm-up over ``warmup_steps``, then cosine decay from 1 to 0.1
        over the remaining steps of all phases together; phase boundaries do
        not restart it.
        """
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        progress = (step - self.warmup_steps) / max(1, self.max_steps - self.warmup_steps)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    def phase_at(self, step: int) -> tuple[str, int, int]:
        """``(phase, step within the phase, steps of the phase)`` of global step *step*."""
        start = 0
        for phase, n in zip(self.curriculum, self.phase_steps, strict=True):
            if step < start + n:
                return phase, step - start, n
            start += n
        raise DnalibError(f"step {step} is past the end of the curriculum ({self.max_steps} steps)")

    def validate(self) -> None:
        """Raise :class:`~dnalib.errors.DnalibError` for inconsistent settings."""
        bad = [p for p in self.curriculum if p not in PHASES]
        if bad or not self.curriculum:
            raise DnalibError(f"curriculum phases must be among {PHASES}; got {list(self.curriculum)}")
        if len(self.phase_steps) != len(self.curriculum) or min(self.phase_steps) < 1:
            raise DnalibError(
                f"give one positive step count per phase: {len(self.curriculum)} phases, "
                f"steps {list(self.phase_steps)}"
            )
        if self.chunk_length < 0 or (self.chunk_length and self.fragment_length % self.chunk_length):
            raise DnalibError(
                f"fragment_length {self.fragment_length} must be a multiple of chunk_length "
                f"{self.chunk_length} (0: no chunking)"
            )
        if min(self.lr, self.head_lr_mult, self.embedding_lr_mult) < 0:
            raise DnalibError(
                f"lr ({self.lr}), head_lr_mult ({self.head_lr_mult}) and embedding_lr_mult "
                f"({self.embedding_lr_mult}) must not be negative"
            )
        if self.data_offset < 0:
            raise DnalibError(f"data_offset must not be negative; got {self.data_offset}")
        if self.batch_pairs < 2:
            raise DnalibError(f"batch_pairs must be at least 2 (negatives are needed); got {self.batch_pairs}")
        if self.sample_by not in SAMPLE_BY:
            raise DnalibError(f"sample_by must be one of {SAMPLE_BY}; got {self.sample_by!r}")
        if self.bf16 not in ("auto", "on", "off"):
            raise DnalibError(f"bf16 must be auto, on or off; got {self.bf16!r}")
        if self.augment_errors is not None:
            from dnalib.seqerrors import error_model

            error_model(self.augment_errors)  # one line naming the presets if it is not one


PHASES = ("simclr", "mimix", "imix")

def finetune_config(profile: str | None = None, *, label_free: bool = False,
                    **overrides: Any) -> FinetuneConfig:
    """The fine-tuning settings of a profile, with *overrides* applied.

    Parameters
    ----------
    profile : str, optional
        ``smoke``, ``cpu``, ``hour`` or ``gpu`` (default: ``$DNALIB_PROFILE`` or ``cpu``).
    label_free : bool
        The label-free settings (:data:`dnalib.profiles.LABEL_FREE_SETTINGS`) instead of the
        labelled ones (:data:`dnalib.profiles.FINETUNE_SETTINGS`).
    **overrides
        Any :class:`FinetuneConfig` field.

    Returns
    -------
    FinetuneConfig
    """
    from dnalib.profiles import FINETUNE_SETTINGS, LABEL_FREE_SETTINGS, config_for_profile

    table = LABEL_FREE_SETTINGS if label_free else FINETUNE_SETTINGS
    return config_for_profile(FinetuneConfig, table, profile, overrides, "fine-tuning")


def scratch_encoder(profile: str | None = None, *, seed: int = 0) -> tuple[Any, Any]:
    """A fresh encoder and tokenizer for label-free training on a sample, no pretraining needed.

    A RoBERTa encoder (:data:`dnalib.profiles.SCRATCH_ENCODERS`; cpu: 2 layers of 128) over non-overlapping 4-mers
    (a quarter of the tokens of overlapping k-mers, so a 1 kbp chunk is 250
    tokens), whose token embeddings start reverse-complement tied
    (:func:`dnalib.models.reverse_complement_init_`): untrained, it already
    embeds a fragment like a random projection of its canonical 4-mer
    spectrum, and contrastive training on the sample improves on that.

    Parameters
    ----------
    profile : str, optional
        ``smoke``, ``cpu``, ``hour`` or ``gpu`` (default: ``$DNALIB_PROFILE`` or ``cpu``).
    seed : int
        Seed of the initial weights.

    Returns
    -------
    tuple
        ``(model, tokenizer)``: a ``RobertaForMaskedLM`` (:func:`finetune`
        uses its encoder) and its tokenizer.
    """
    from dnalib.models import model_config, new_mlm_model, reverse_complement_init_
    from dnalib.profiles import SCRATCH_ENCODERS, current_profile
    from dnalib.tokenizers import nonoverlapping_kmer_tokenizer

    arch = dict(SCRATCH_ENCODERS[current_profile(profile)])
    k, chunk = arch.pop("k"), arch.pop("chunk_length")
    tok = nonoverlapping_kmer_tokenizer(k, model_max_length=chunk // k + 2)
    cfg = model_config(tok, profile=profile, max_tokens=chunk // k + 2, **arch)
    model = new_mlm_model(cfg, seed=seed)
    reverse_complement_init_(model, tok, seed=seed)
    return model, tok




class ContrastiveObjective(nn.Module):
    """Encoder + projection head + loss of one step (the module DDP wraps).

    Under DDP each process holds its slice of the global batch (rank *r* the
    views ``r * N ... (r + 1) * N - 1``), and the loss is the global batch's:
    the projections of every process are gathered (:func:`gather_rows`), so
    an anchor's negatives are all other views of the global batch, and a
    MI-Mix partner may be a view of another process (its hidden states and
    masks are gathered at the mixing layer). Every process computes the same
    global loss; its gradient, averaged by DDP, is the single-process one.

    Parameters
    ----------
    encoder
        A ``RobertaModel`` / ``EsmModel``.
    head : ProjectionHead
        The projection head.
    tokenizer
        Gives the special token ids for the pooling mask.
    temperature : float
        Loss temperature.
    chunks : int
        Chunks per view: the inputs hold ``N * chunks`` rows, the chunks of
        view *i* in rows ``i * chunks ... (i + 1) * chunks - 1``; a view's
        encoding is the mean of its chunk encodings (chunks of equal length).
        With MI-Mix, chunk j of view i is mixed with chunk j of its partner.
    """

    def __init__(self, encoder: Any, head: ProjectionHead, tokenizer: Any,
                 temperature: float = TEMPERATURE, chunks: int = 1) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head
        self.cls_id, self.sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id
        self.temperature = temperature
        self.chunks = chunks

    def _content(self, ids: torch.Tensor, att: torch.Tensor) -> torch.Tensor:
        return att.bool() & (ids != self.cls_id) & (ids != self.sep_id)

    def _pooled(self, ids: torch.Tensor, att: torch.Tensor, **mix: Any) -> torch.Tensor:
        """View encodings ``(N, d)``: mean of the pooled chunk encodings.

        With mixing, ``perm`` (one entry per view) indexes the views of the
        global batch: chunk rows are gathered from every process.
        """
        c = self.chunks
        if mix:
            perm, lam = mix["perm"], mix["lam"]
            mix["perm"] = (perm.long().view(-1, 1) * c
                           + torch.arange(c, device=perm.device)).reshape(-1)
            mix["lam"] = lam.repeat_interleave(c)
            mix["gather"] = gather_rows
        pooled = encode(self.encoder, ids, att, content=self._content(ids, att), **mix)
        return pooled.view(-1, c, pooled.shape[-1]).mean(1)

    def forward(self, ids1: torch.Tensor, att1: torch.Tensor, ids2: torch.Tensor,
                att2: torch.Tensor, mix: tuple[int, torch.Tensor, torch.Tensor] | None = None
                ) -> torch.Tensor:
        """The global batch's loss: weighted SimCLR without *mix*, MI-Mix with ``mix``.

        *mix* is ``(layer, perm, lam)`` for the global batch (``perm`` and
        ``lam`` have one entry per view of all processes together); the
        inputs are this process's slice.
        """
        z2 = gather_rows(self.head(self._pooled(ids2, att2)))
        if mix is None:
            z1 = gather_rows(self.head(self._pooled(ids1, att1)))
            return weighted_simclr_loss(z1, z2, self.temperature)
        layer, perm, lam = mix
        rank, _ = _process_group()
        n = ids1.shape[0] // self.chunks
        mine = slice(rank * n, (rank + 1) * n)
        z1m = gather_rows(self.head(self._pooled(ids1, att1, mix_layer=layer, perm=perm[mine],
                                                 lam=lam[mine])))
        return mimix_loss(z1m, z2, perm.to(z1m.device), lam.to(z1m.device), self.temperature)


def _load_start(init: Any, tokenizer: Any | None, *, checkpoint: bool = False
                ) -> tuple[Any, Any, dict[str, torch.Tensor] | None]:
    """Encoder, tokenizer and projection-head weights (None: a new head) to start or resume from.

    *init* is a model directory (its saved tokenizer unless *tokenizer* is
    given) or an in-memory model (then *tokenizer* is required). A checkpoint
    or a ``finetune`` output directory brings its head (a later phase
    continues an earlier run's); an MLM directory or a model has none. A
    *checkpoint* without its head is damaged (an error).
    """
    from safetensors.torch import load_file

    from dnalib.models import load_encoder

    if not isinstance(init, (str, os.PathLike)):
        if tokenizer is None:
            raise DnalibError("pass the tokenizer together with an in-memory model")
        return base_model(init), tokenizer, None
    encoder, tok = load_encoder(init)
    head = Path(init) / HEAD_FILE
    if checkpoint or head.exists():
        return encoder, tokenizer or tok, load_file(head)
    return encoder, tokenizer or tok, None


def init_fingerprint(init: Any) -> str:
    """SHA-256 naming the initial model of a run: its weight files, or an in-memory model's weights."""
    import hashlib

    from dnalib.training import weights_fingerprint

    if not isinstance(init, (str, os.PathLike)):
        return weights_fingerprint(base_model(init))
    digest = hashlib.sha256()
    for f in sorted(Path(init).glob("*.safetensors")) + [Path(init) / "config.json"]:
        if f.is_file():
            digest.update(f.name.encode())
            digest.update(hashlib.sha256(f.read_bytes()).digest())
    return digest.hexdigest()


def view_chunk_length(cfg: FinetuneConfig, fits: int) -> int:
    """Bases the encoder reads in one pass: ``cfg.chunk_length``, or chosen to fit the model.

    With ``chunk_length=0`` a view is read whole when the model reads that
    many bases at once, and otherwise in chunks of the longest divisor of the
    view length that it does read at once (an MLM pretrained on 200 bp
    fragments reads a 1 kbp view as five 200 bp chunks).

    Parameters
    ----------
    cfg : FinetuneConfig
    fits : int
        The longest sequence the encoder reads at once, in bp
        (:func:`dnalib.inference.max_chunk_length`).

    Returns
    -------
    int
    """
    if cfg.chunk_length:
        if cfg.chunk_length > fits:
            raise DnalibError(
                f"chunk_length {cfg.chunk_length} bp does not fit the model, which reads at most "
                f"{fits} bp at once: set chunk_length (--chunk-length) to {fits} bp or less, a "
                "divisor of the fragment length"
            )
        return cfg.chunk_length
    length = cfg.fragment_length
    best = max(d for d in range(1, min(length, fits) + 1) if length % d == 0)
    if best < min(length, fits) // 2:
        raise DnalibError(
            f"fragment_length {length} bp does not fit the model, which reads at most {fits} bp at "
            f"once, and has no divisor close to that: set chunk_length (--chunk-length) to a "
            f"divisor of the fragment length of at most {fits} bp"
        )
    return best


def finetune_optimizer(encoder: Any, head: nn.Module, cfg: FinetuneConfig, *,
                       fused: bool = False) -> torch.optim.Optimizer:
    """AdamW over three groups: the encoder, its token embeddings, the projection head.

    Each group's ``base_lr`` is ``cfg.lr`` times its multiplier (1,
    ``cfg.embedding_lr_mult``, ``cfg.head_lr_mult``); the loop sets
    ``lr = base_lr * cfg.lr_factor(step)``.

    Parameters
    ----------
    encoder
        The encoder being trained.
    head : torch.nn.Module
        The projection head.
    cfg : FinetuneConfig
    fused : bool
        The fused (CUDA) implementation.

    Returns
    -------
    torch.optim.Optimizer
    """
    word = encoder.embeddings.word_embeddings.weight
    rates = [cfg.lr, cfg.lr * cfg.embedding_lr_mult, cfg.lr * cfg.head_lr_mult]
    params = [[p for p in encoder.parameters() if p is not word], [word], list(head.parameters())]
    return torch.optim.AdamW([{"params": p, "lr": r, "base_lr": r}
                              for p, r in zip(params, rates, strict=True)],
                             weight_decay=cfg.weight_decay, fused=fused)


def finetune(
    groups: Sequence[Sequence[str]],
    out_dir: str | os.PathLike[str],
    init: Any,
    cfg: FinetuneConfig | None = None,
    *,
    tokenizer: Any | None = None,
    resume: bool = False,
    stop_after: int | None = None,
    progress: bool = True,
    device: str | None = None,
    data_description: str = "",
    command: str | None = None,
    on_step: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Contrastive fine-tuning of an encoder with the curriculum of *cfg*.

    The run directory, checkpoints, resume, log and processes are the shared
    engine's (:mod:`dnalib.training`); this loop holds the pairs, the mixing,
    the loss and what is saved. Under ``torchrun`` / ``accelerate launch``
    each process encodes its share of the ``cfg.batch_pairs`` pairs of a
    step and the loss is the whole batch's (:class:`ContrastiveObjective`):
    the run trains what a single process trains.

    Parameters
    ----------
    groups : sequence of sequence of str
        Contigs per group; positives are two fragments of one group
        (:func:`dnalib.pairs.genome_groups` with labels, :func:`dnalib.pairs.contig_groups` without).
    out_dir : str or path-like
        Output directory: the encoder (``AutoModel.from_pretrained(out_dir)``),
        its tokenizer, ``head.safetensors``, ``log.jsonl``,
        ``dnalib_finetune.json`` and checkpoints.
    init
        A ``dnalib pretrain`` output directory, a ``finetune`` output directory
        (its projection head is loaded too, so a later phase continues an
        earlier run), or an in-memory model (then pass *tokenizer*). None
        with ``resume=True``: continue the run in *out_dir*, whatever it
        started from.
    cfg : FinetuneConfig, optional
        Settings (default: :func:`finetune_config` of the current profile).
    tokenizer : optional
        The tokenizer (default: the one saved in *init*).
    resume : bool
        Continue from the newest good checkpoint in *out_dir*; refused when it
        was written with other settings, other groups or another *init*.
    stop_after : int, optional
        Pause the run after this many steps (of ``cfg.max_steps``): the
        output directory then holds the model at that step and a checkpoint
        that ``resume=True`` with the same *cfg* continues to the end, exactly
        as if the run had not paused (same optimizer state, schedule and
        pairs). ``stop_after=cfg.phase_steps[0]`` gives phase 1 of a
        curriculum run; chapters 5 and 6 train the curriculum that way.
    progress : bool
        Show a progress bar (rank 0).
    device : str, optional
        ``"cpu"``, ``"cuda"``, ... (default: CUDA if available).
    data_description : str
        Recorded in ``dnalib_finetune.json``.
    command : str, optional
        Recorded in ``dnalib_finetune.json``.
    on_step : callable, optional
        Called with each step's log record (rank 0).

    Returns
    -------
    dict
        ``history`` (one record per step), ``out_dir``, ``seconds``.
    """
    from safetensors.torch import save_file

    from dnalib.inference import max_chunk_length
    from dnalib.seqerrors import augment_pair, error_model
    from dnalib.tokenizers import encode_batch
    from dnalib.training import Run, groups_fingerprint, setup_processes

    cfg = cfg or finetune_config()
    cfg.validate()
    errors = error_model(cfg.augment_errors) if cfg.augment_errors is not None else None
    procs = setup_processes(device)
    precision = procs.precision(cfg.bf16)  # bf16, fp16 with loss scaling (a T4), or fp32
    use_bf16 = precision.name == "bf16"
    local = procs.share(cfg.batch_pairs, "batch_pairs")
    sampler = PairSampler(groups, cfg.fragment_length, seed=cfg.seed, sample_by=cfg.sample_by,
                          reverse_complement=cfg.reverse_complement)
    run = Run(out_dir, info_file=INFO_FILE, settings=cfg, desc="finetune", processes=procs,
              fingerprints={"data": groups_fingerprint(sampler.groups),
                            **({} if init is None else {"initial model": init_fingerprint(init)})},
              total_steps=cfg.max_steps, end=stop_after, checkpoint_every=cfg.checkpoint_every,
              keep=cfg.keep_checkpoints, progress=progress, on_step=on_step)
    resumed = run.resume(lambda ckpt: _load_start(ckpt, tokenizer, checkpoint=True)) if resume else None
    if resumed:
        state, (encoder, tok, head_weights) = resumed
        started_from = run.previous_info().get("init", "unknown") if init is None else init
    elif init is None:
        raise DnalibError(f"no checkpoint to resume in {out_dir}: pass the initial model (init)")
    else:
        encoder, tok, head_weights = _load_start(init, tokenizer)
        started_from = init
    chunk = view_chunk_length(cfg, max_chunk_length(encoder, tok))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        head = ProjectionHead(encoder.config.hidden_size, cfg.proj_dim)
    if head_weights is not None:
        head.load_state_dict(head_weights)
    chunks = cfg.fragment_length // chunk
    objective = ContrastiveObjective(encoder, head, tok, cfg.temperature,
                                     chunks=chunks).to(procs.device).train()
    optimizer = finetune_optimizer(encoder, head, cfg, fused=procs.fused_adamw)
    if resumed:
        optimizer.load_state_dict(state["optimizer"])
    model = procs.wrap(objective)
    n_layers = len(encoder.encoder.layer)

    def save(directory: Path) -> None:
        encoder.save_pretrained(directory, safe_serialization=True)
        tok.save_pretrained(directory)
        save_file({k: v.detach().cpu().contiguous() for k, v in head.state_dict().items()},
                  directory / HEAD_FILE)

    t_start = time.perf_counter()
    for step in run.steps():
        t0 = time.perf_counter()
        phase = cfg.phase_at(step)[0]
        factor = cfg.lr_factor(step)
        for g in optimizer.param_groups:
            g["lr"] = g["base_lr"] * factor
        view1, view2 = sampler.batch(step + cfg.data_offset, cfg.batch_pairs)
        pieces = None
        if errors is not None:  # each view its own errors; read in `chunks` pieces all the same
            view1, view2 = augment_pair(view1, view2, errors, cfg.seed, step + cfg.data_offset)
            pieces = chunks
        # Every process tokenizes the global batch (padded as one process would) and takes
        # its rows; the loss gathers the others' (ContrastiveObjective).
        rows = slice(procs.rank * local * chunks, (procs.rank + 1) * local * chunks)
        ids1, att1 = encode_batch(tok, split_views(view1, chunk, pieces))
        ids2, att2 = encode_batch(tok, split_views(view2, chunk, pieces))
        t = [procs.to_device(a[rows]) for a in (ids1, att1, ids2, att2)]
        mix = None
        if phase != "simclr":
            # One draw for the global batch, the same on every process (partners may be
            # another process's views); with one process, the draws of earlier versions.
            rng = np.random.default_rng([cfg.seed, 6, step + cfg.data_offset])
            mix = draw_mix(cfg.batch_pairs, n_layers, rng, alpha=cfg.alpha,
                           input_only=phase == "imix")
        with precision.autocast():
            loss = model(*t, mix=mix)
        precision.backward(loss)
        precision.unscale(optimizer)
        grad_norm = float(torch.nn.utils.clip_grad_norm_(objective.parameters(), cfg.grad_clip))
        precision.step(optimizer)
        optimizer.zero_grad(set_to_none=True)
        value = procs.sum([float(loss.detach())])[0] / procs.world
        run.log({"step": step + 1, "phase": phase, "loss": value, "lr": cfg.lr * factor,
                 "grad_norm": grad_norm, "mix_layer": None if mix is None else mix[0],
                 "seconds": time.perf_counter() - t0}, phase=phase, loss=f"{value:.3f}")
        if run.checkpoint_due(step + 1):
            run.checkpoint(step + 1, save, {"optimizer": optimizer.state_dict()})
    seconds = time.perf_counter() - t_start
    reached = max(run.end, run.start_step)  # a resumed run past stop_after trains nothing more
    history = run.history
    run.finish(save, {"kind": "contrastive", "steps_done": reached,
                      "complete": reached == cfg.max_steps, "chunk_length_used": chunk,
                      "init": str(started_from) if isinstance(started_from, (str, os.PathLike))
                      else type(started_from).__name__,
                      "data": data_description, "groups": len(sampler.groups), "bf16": use_bf16,
                      "seconds": seconds, "final_loss": history[-1]["loss"] if history else None,
                      **({"augment_errors": errors.describe()} if errors is not None else {})},
               {"optimizer": optimizer.state_dict()}, command=command)
    return {"history": history, "out_dir": str(run.out), "seconds": seconds}


def split_views(views: Sequence[str], chunk: int, pieces: int | None = None) -> list[str]:
    """Consecutive chunks of *chunk* bases of every view, view by view (the rows the encoder reads).

    With *pieces* (views whose length sequencing errors changed), every view,
    cut to at most ``pieces * chunk`` bases, becomes exactly *pieces*
    consecutive chunks of nearly equal length (none longer than *chunk*), so
    every view has the same number of rows; a view of exactly ``pieces *
    chunk`` bases is cut as without *pieces*.

    Parameters
    ----------
    views : sequence of str
    chunk : int
        Bases per chunk (at most).
    pieces : int, optional
        Chunks per view.

    Returns
    -------
    list of str
    """
    if pieces is None:
        return [v[a:a + chunk] for v in views for a in range(0, len(v), chunk)]
    out = []
    for v in views:
        v = v[:pieces * chunk]
        cuts = [i * len(v) // pieces for i in range(pieces + 1)]
        out += [v[cuts[i]:cuts[i + 1]] for i in range(pieces)]
    return out


HEAD_FILE = "head.safetensors"
#: The info file a finished fine-tuning run writes last.
INFO_FILE = FINETUNE_INFO_FILE
