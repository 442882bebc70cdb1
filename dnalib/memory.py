"""GPU memory of a profile's training steps, measured on a CPU and extrapolated.

The ``gpu`` profile has to fit a 15 GiB T4 (Colab's free GPU) in every
chapter. Without a GPU at hand, this module measures what one training step
holds, on the CPU, with the real code path (model, loss, float16 autocast,
loss scaling, fused AdamW, gradient clipping), at a few small batch sizes, and
extrapolates linearly to the profile's batch:

- **peak** (:func:`peak_allocated`): the largest amount of memory allocated at
  once during one step (forward, backward, optimizer step), from the
  allocation and free events ``torch.profiler`` records (``profile_memory``),
  above what was allocated before the step (the parameters and the optimizer
  state, counted separately as *static*);
- **saved** (:func:`saved_bytes`): the bytes the forward pass keeps for the
  backward pass (``torch.autograd.graph.saved_tensors_hooks``, each storage
  counted once, parameters excluded): the part of the peak that grows with
  the batch, independent of the device.

Both grow linearly with the batch at a fixed sequence length (attention runs
through SDPA's fused kernels, which keep no ``tokens x tokens`` matrix), so
two small batches give the line; a third checks it (:func:`fit`).

From the CPU to the GPU (:meth:`StageMemory.gpu_bytes`), stated assumptions:

- float16 autocast is measured directly (``torch.autocast("cpu",
  dtype=torch.float16)``): the matrix products' outputs are float16 on CPU and
  CUDA alike. For these encoders the residual stream stays float32 under both
  (a float16 product plus the float32 residual is float32), so the tensors the
  two autocast op lists treat differently (layer norms, softmax) have the same
  dtype here.
- Attention: CPU SDPA runs its flash kernel; a T4 (compute capability 7.5)
  runs the memory-efficient kernel. Both keep the output and the row
  log-sum-exp for the backward pass, not the attention matrix.
- Not tensors, so not measured: the CUDA context, cuBLAS workspaces and
  kernels, :data:`CUDA_OVERHEAD` (0.5 GiB; about 0.3 to 0.5 GiB with torch on
  a T4); and the caching allocator's fragmentation, :data:`FRAGMENTATION`
  (10% of the step's peak).

``python benchmarks/gpu_memory.py`` writes the table for a profile; a test
keeps the ``gpu`` profile's estimates under :data:`BUDGET` (13 GiB).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from dnalib.errors import DnalibError

GIB = 2**30
#: Memory of a T4 (16 GB of GDDR6, of which 15 GiB are usable).
T4_BYTES = 15 * GIB
#: What an estimate must stay under on a T4, leaving 2 GiB of margin for what the estimate leaves out.
BUDGET = 13 * GIB
#: Memory a GPU process holds that is not tensors (the CUDA context, cuBLAS workspaces, kernels).
CUDA_OVERHEAD = GIB // 2
#: The caching allocator's fragmentation, as a fraction of the step's peak.
FRAGMENTATION = 0.10


# --------------------------------------------------------------------------- measuring


def peak_allocated(fn: Callable[[], Any]) -> int:
    """Bytes allocated at most at once while *fn* runs, above what was allocated before.

    Read from the allocation and free events of ``torch.profiler`` with
    ``profile_memory=True`` (CPU tensors), summed in time order.
    """
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = sorted(((e.start_ns(), i, e.nbytes()) for i, e in
                     enumerate(prof.profiler.kineto_results.events()) if e.name() == "[memory]"))
    running = peak = 0
    for _, _, nbytes in events:
        running += nbytes
        peak = max(peak, running)
    return int(peak)


def saved_bytes(fn: Callable[[], Any], exclude: Sequence[torch.Tensor] = ()) -> int:
    """Bytes of the tensors autograd saves for the backward pass while *fn* runs.

    Each storage is counted once; the storages of *exclude* (the parameters)
    are not counted (a float16 copy of a weight, made by autocast, is).
    """
    skip = {t.untyped_storage().data_ptr() for t in exclude}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        ptr = storage.data_ptr()
        if ptr not in skip and ptr not in seen:
            seen[ptr] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return int(sum(seen.values()))


@dataclass
class Measurement:
    """One training step measured on the CPU at one batch size.

    Attributes
    ----------
    units : int
        The batch, in the stage's unit (fragments, or chunks read).
    peak : int
        :func:`peak_allocated` of the step, bytes.
    saved : int
        :func:`saved_bytes` of its forward pass, bytes.
    """

    units: int
    peak: int
    saved: int


def _tensor_bytes(tensors: Any) -> int:
    return int(sum(t.numel() * t.element_size() for t in tensors if isinstance(t, torch.Tensor)))


def _measure(model: torch.nn.Module, optimizer: torch.optim.Optimizer,
             step: Callable[[str], None], units: int, precision: str) -> tuple[Measurement, int]:
    """Measure *step* under *precision* after one float32 warm-up step (which creates the
    optimizer state). Returns the measurement and the static bytes (parameters, optimizer state)."""
    step("fp32")
    params = list(model.parameters())
    static = _tensor_bytes(params) + _tensor_bytes(
        v for state in optimizer.state.values() for v in state.values())
    saved = saved_bytes(lambda: step(precision), exclude=params)
    peak = peak_allocated(lambda: step(precision))
    return Measurement(units, peak, saved), static


def train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer,
               loss_fn: Callable[[], torch.Tensor], grad_clip: float) -> Callable[[str], None]:
    """One optimizer step as the training loops run it, in a precision given at call time.

    Autocast, loss scaling for float16, unscaling, gradient clipping, the
    step, gradients set to None (:class:`dnalib.training.Precision`).
    """
    from dnalib.training import Precision

    def step(precision: str) -> None:
        prec = Precision(precision, "cpu")
        with prec.autocast():
            loss = loss_fn()
        prec.backward(loss)
        prec.unscale(optimizer)
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], grad_clip)
        prec.step(optimizer)
        optimizer.zero_grad(set_to_none=True)

    return step


# --------------------------------------------------------------------------- the line


@dataclass
class StageMemory:
    """A training (or embedding) stage's memory as a line in its batch.

    ``peak(units) = base + per_unit * units`` fitted to measurements;
    the parameters and optimizer state (*static*) come on top.

    Attributes
    ----------
    stage : str
        What is measured (e.g. ``"pretrain"``).
    unit : str
        What the batch counts (``"fragments"``, ``"chunks"``).
    units : int
        The profile's batch in that unit (per micro-batch).
    static : int
        Parameters and optimizer state, bytes (float32).
    base : float
        The fitted line's value at zero batch (bytes).
    per_unit : float
        The fitted line's slope: bytes of the step's peak per unit.
    saved_per_unit : float
        Bytes saved for the backward pass per unit (the slope of ``saved``).
    precision : str
        ``"fp16"`` or ``"fp32"``: what the measurements ran in.
    measurements : list of Measurement
    max_relative_error : float
        Largest relative miss of the line at a measured point not used to fit it.
    note : str
        How the profile's batch is reached (micro-batches, chunks).
    """

    stage: str
    unit: str
    units: int
    static: int
    base: float
    per_unit: float
    saved_per_unit: float
    precision: str
    measurements: list[Measurement] = field(default_factory=list)
    max_relative_error: float = 0.0
    note: str = ""

    def step_peak(self, units: int | None = None) -> float:
        """Bytes of the step's peak above the static ones at *units* (default: the profile's)."""
        return self.base + self.per_unit * (self.units if units is None else units)

    def gpu_bytes(self, units: int | None = None) -> float:
        """Estimated GPU memory at *units*: static + peak x (1 + fragmentation) + CUDA overhead."""
        return self.static + self.step_peak(units) * (1 + FRAGMENTATION) + CUDA_OVERHEAD

    def max_units(self, budget: int = BUDGET) -> int:
        """The largest batch (in the stage's unit) whose estimate stays under *budget*."""
        room = (budget - CUDA_OVERHEAD - self.static) / (1 + FRAGMENTATION) - self.base
        return max(0, int(room // self.per_unit))

    def row(self) -> dict[str, Any]:
        """The stage as a table row (GiB, rounded)."""
        return {"stage": self.stage, "batch": f"{self.units} {self.unit}", "precision": self.precision,
                "static GiB": round(self.static / GIB, 2),
                "activations GiB": round(self.saved_per_unit * self.units / GIB, 2),
                "step peak GiB": round(self.step_peak() / GIB, 2),
                "T4 estimate GiB": round(self.gpu_bytes() / GIB, 2),
                "fits up to": f"{self.max_units()} {self.unit}",
                "line error": round(self.max_relative_error, 3), "how": self.note}


def fit(measurements: Sequence[Measurement]) -> tuple[float, float, float, float]:
    """``(base, per_unit, saved_per_unit, max_relative_error)`` of the line through the first two.

    The other measurements check it: the largest relative miss of the
    predicted peak there is returned (0 with two measurements).
    """
    if len(measurements) < 2:
        raise DnalibError("two measurements at different batch sizes are needed for a line")
    a, b = measurements[0], measurements[1]
    if a.units == b.units:
        raise DnalibError("the first two measurements must be at different batch sizes")
    per_unit = (b.peak - a.peak) / (b.units - a.units)
    base = a.peak - per_unit * a.units
    saved_per_unit = (b.saved - a.saved) / (b.units - a.units)
    err = max((abs(base + per_unit * m.units - m.peak) / m.peak for m in measurements[2:]),
              default=0.0)
    return base, per_unit, saved_per_unit, err


# --------------------------------------------------------------------------- the stages


def _random_dna(n: int, length: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("ACGT"), size=length)) for _ in range(n)]


def pretrain_memory(cfg: Any, sizes: Sequence[int] = (2, 4, 6), precision: str = "fp16") -> StageMemory:
    """Measure MLM pretraining steps of *cfg* (a :class:`~dnalib.pretrain.PretrainConfig`).

    The model has the profile's sizes (``init="spectrum"`` stands in for
    ``"pca"``: the same shapes without a corpus; the embedding learning rate
    stays the configured one, so frozen embeddings stay frozen). *sizes* are
    the micro-batches measured (fragments); the line is evaluated at the
    configured micro-batch, ``batch_size / grad_accum``.
    """
    from dnalib import pretrain as P
    from dnalib.tokenizers import encode_batch

    stand_in = dataclasses.replace(cfg, init="standard" if cfg.init == "standard" else "spectrum",
                                   embedding_lr_mult=cfg.embedding_rate)
    tok = P.make_pretrain_tokenizer(stand_in)
    model = P.initial_model(stand_in, tok)
    model.train()
    scorer = P.MaskedLMScorer(model)
    points, static = [], 0
    for n in sizes:
        optimizer = P.make_optimizer(model, stand_in, fused=True)
        ids, att = encode_batch(tok, _random_dna(n, cfg.fragment_length, n))
        inputs, sel = P.mask_tokens(ids, att, mask_prob=cfg.mask_prob, span=cfg.span,
                                    vocab_size=len(tok), rng=np.random.default_rng(n))
        t = [torch.from_numpy(a) for a in (inputs, att, ids, sel)]
        n_sel = float(sel.sum())
        step = train_step(model, optimizer,
                          lambda t=t, n_sel=n_sel: P.mlm_loss(scorer, *t, normalizer=n_sel)[0],
                          cfg.grad_clip)
        m, static = _measure(model, optimizer, step, n, precision)
        points.append(m)
    base, per_unit, saved, err = fit(points)
    micro = cfg.batch_size // cfg.grad_accum
    note = (f"{cfg.grad_accum} micro-batches of {micro} fragments" if cfg.grad_accum > 1
            else f"one batch of {micro} fragments")
    return StageMemory("pretrain", "fragments", micro, static, base, per_unit, saved, precision,
                       points, err, f"{note} of {cfg.fragment_length} bp")


def contrastive_model(cfg: Any, *, label_free: bool) -> tuple[Any, Any]:
    """The encoder and tokenizer a profile's fine-tuning starts from (untrained, same shapes).

    Labelled: the profile's MLM encoder; label-free: the scratch encoder
    (:func:`dnalib.contrastive.scratch_encoder`).
    """
    from dnalib import contrastive as C
    from dnalib import pretrain as P
    from dnalib.models import base_model

    if label_free:
        model, tok = C.scratch_encoder(cfg.profile)
        return base_model(model), tok
    pcfg = P.pretrain_config(cfg.profile, init="spectrum")
    tok = P.make_pretrain_tokenizer(pcfg)
    return base_model(P.initial_model(pcfg, tok)), tok


def contrastive_memory(cfg: Any, *, label_free: bool = False, phase: str = "simclr",
                       sizes: Sequence[tuple[int, int]] = ((2, 1), (4, 1), (2, 3)),
                       precision: str = "fp16") -> StageMemory:
    """Measure contrastive steps of *cfg* (a :class:`~dnalib.contrastive.FinetuneConfig`).

    The unit is the chunk the encoder reads: a step reads ``2 x batch_pairs x
    chunks per view`` of them. *sizes* are ``(pairs, chunks per view)``
    measured; the loss over the views themselves (a ``2N x 2N`` similarity
    matrix) is negligible next to the encoder's activations.
    """
    from dnalib import contrastive as C
    from dnalib.inference import max_chunk_length
    from dnalib.tokenizers import encode_batch

    if phase not in C.PHASES:
        raise DnalibError(f"phase must be one of {C.PHASES}; got {phase!r}")
    encoder, tok = contrastive_model(cfg, label_free=label_free)
    chunk = C.view_chunk_length(cfg, max_chunk_length(encoder, tok))
    encoder.train()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        head = C.ProjectionHead(encoder.config.hidden_size, cfg.proj_dim)
    points, static = [], 0
    for pairs, chunks in sizes:
        objective = C.ContrastiveObjective(encoder, head, tok, cfg.temperature, chunks=chunks).train()
        optimizer = C.finetune_optimizer(encoder, head, cfg, fused=True)
        views = [C.split_views(_random_dna(pairs, chunk * chunks, seed + pairs), chunk)
                 for seed in (0, 1)]
        t = [torch.from_numpy(a) for v in views for a in encode_batch(tok, v)]
        mix = None
        if phase != "simclr":
            n_layers = len(encoder.encoder.layer)
            mix = C.draw_mix(pairs, n_layers, np.random.default_rng(0), alpha=cfg.alpha,
                             input_only=phase == "imix")
            if phase == "mimix":
                mix = (n_layers // 2, *mix[1:])
        step = train_step(objective, optimizer,
                          lambda objective=objective, t=t, mix=mix: objective(*t, mix=mix),
                          cfg.grad_clip)
        m, static = _measure(objective, optimizer, step, 2 * pairs * chunks, precision)
        points.append(m)
    base, per_unit, saved, err = fit(points)
    chunks = cfg.fragment_length // chunk
    units = 2 * cfg.batch_pairs * chunks
    stage = f"{'label-free ' if label_free else ''}{phase}"
    note = (f"{cfg.batch_pairs} pairs of {cfg.fragment_length} bp views, read in {chunks} chunks "
            f"of {chunk} bp")
    return StageMemory(stage, "chunks", units, static, base, per_unit, saved, precision, points, err,
                       note)


def embedding_memory(cfg: Any, *, label_free: bool = False, batch_size: int = 64,
                     sizes: Sequence[int] = (8, 16, 24), precision: str = "fp16") -> StageMemory:
    """Measure the embedding of chunks (no gradients) with the encoder *cfg*'s fine-tuning trains.

    :func:`dnalib.inference.embed_sequences` reads *batch_size* chunks per forward
    pass (its default, 64); half-precision autocast as on a GPU.
    """
    from dnalib import contrastive as C
    from dnalib.inference import max_chunk_length
    from dnalib.models import content_mask, masked_mean
    from dnalib.tokenizers import encode_batch

    encoder, tok = contrastive_model(cfg, label_free=label_free)
    encoder.eval()
    chunk = C.view_chunk_length(cfg, max_chunk_length(encoder, tok))
    dtype = torch.float16 if precision == "fp16" else torch.bfloat16
    points = []
    for n in sizes:
        ids, att = (torch.from_numpy(a) for a in encode_batch(tok, _random_dna(n, chunk, n)))

        def forward(ids: torch.Tensor = ids, att: torch.Tensor = att) -> None:
            with torch.inference_mode(), torch.autocast("cpu", dtype=dtype,
                                                        enabled=precision != "fp32"):
                hidden = encoder(input_ids=ids, attention_mask=att).last_hidden_state
                masked_mean(hidden, content_mask(ids, att, tok))

        forward()
        points.append(Measurement(n, peak_allocated(forward), 0))
    base, per_unit, _, err = fit(points)
    static = _tensor_bytes(encoder.parameters())
    stage = f"embedding ({'scratch' if label_free else 'MLM'} encoder)"
    return StageMemory(stage, "chunks", batch_size, static, base, per_unit, 0.0, precision, points,
                       err, f"{batch_size} chunks of {chunk} bp per forward pass, no gradients")


def profile_memory(profile: str = "gpu", precision: str = "fp16") -> list[StageMemory]:
    """Every training and embedding stage of *profile*'s chapters, measured and extrapolated.

    Chapter 4 pretrains (and, in an exercise, with rotary positions: an ESM
    encoder); chapters 5 and 6 train the two phases of the labelled
    curriculum (chapter 7 embeds with the results); chapter 9 trains the
    label-free curriculum from the scratch encoder and embeds.
    """
    from dnalib import contrastive as C
    from dnalib import pretrain as P

    labelled = C.finetune_config(profile)
    free = C.finetune_config(profile, label_free=True)
    rotary = pretrain_memory(P.pretrain_config(profile, position="rotary"), precision=precision)
    rotary.stage = "pretrain, rotary positions"
    stages = [pretrain_memory(P.pretrain_config(profile), precision=precision), rotary]
    stages += [contrastive_memory(labelled, phase=p, precision=precision) for p in labelled.curriculum]
    stages += [contrastive_memory(free, label_free=True, phase=p, precision=precision)
               for p in free.curriculum]
    stages += [embedding_memory(labelled, precision=precision),
               embedding_memory(free, label_free=True, precision=precision)]
    return stages


def stage_batches(profile: str = "gpu") -> dict[str, tuple[int, str]]:
    """Each stage's batch in *profile*'s current settings: ``stage -> (units, how)``.

    The stages and units of :func:`profile_memory`. A measured line does not
    depend on the batch, so a record of lines (``benchmarks/gpu_memory.py``)
    gives the estimate at whatever batch the profile has now
    (:func:`estimates`).
    """
    from dnalib import contrastive as C
    from dnalib import pretrain as P
    from dnalib.inference import max_chunk_length

    pre = P.pretrain_config(profile)
    micro = pre.batch_size // pre.grad_accum
    how = (f"{pre.grad_accum} micro-batches of {micro} fragments" if pre.grad_accum > 1
           else f"one batch of {micro} fragments") + f" of {pre.fragment_length} bp"
    out = {"pretrain": (micro, how), "pretrain, rotary positions": (micro, how)}
    for label_free in (False, True):
        cfg = C.finetune_config(profile, label_free=label_free)
        encoder, tok = contrastive_model(cfg, label_free=label_free)
        chunk = C.view_chunk_length(cfg, max_chunk_length(encoder, tok))
        chunks = cfg.fragment_length // chunk
        for phase in cfg.curriculum:
            out[f"{'label-free ' if label_free else ''}{phase}"] = (
                2 * cfg.batch_pairs * chunks,
                f"{cfg.batch_pairs} pairs of {cfg.fragment_length} bp views, read in {chunks} chunks "
                f"of {chunk} bp")
        out[f"embedding ({'scratch' if label_free else 'MLM'} encoder)"] = (
            64, f"64 chunks of {chunk} bp per forward pass, no gradients")
    return out


def estimates(stages: Sequence[dict[str, Any]], profile: str = "gpu") -> list[dict[str, Any]]:
    """Table rows (:meth:`StageMemory.row`) of recorded lines at *profile*'s current batches.

    *stages* are the rows ``benchmarks/gpu_memory.py`` records for one
    precision (each with ``stage``, ``unit``, ``static``, ``base``, ``per_unit``,
    ``saved_per_unit``, ``precision``).
    """
    batches = stage_batches(profile)
    rows = []
    for s in stages:
        units, how = batches[s["stage"]]
        line = StageMemory(s["stage"], s["unit"], units, s["static"], s["base"], s["per_unit"],
                           s["saved_per_unit"], s["precision"],
                           max_relative_error=s.get("line error", 0.0), note=how)
        rows.append(line.row())
    return rows

