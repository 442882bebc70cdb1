"""Run profiles: one switch from CI-seconds to laptop-minutes to one GPU.

A profile is a plain dictionary of settings that the training and evaluation
code reads (model size, fragment lengths, steps, batch size, device).  The
active profile comes from the ``DNALIB_PROFILE`` environment variable
(default ``cpu``), so the same notebook runs in seconds under ``smoke`` in CI,
in minutes on a laptop under ``cpu``, and at full size under ``gpu``.

``hour`` is the cpu model trained for about an hour on 2 CPU cores instead of
minutes (more MLM and contrastive steps, nothing else changed); its
:mod:`dnalib.artifacts` are trained on the real genomes of ``genomes_real``
and ship with dnalib, so a chapter can set what an hour buys beside what its
live few-minute run gives.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, ClassVar

from dnalib.errors import DnalibError

PROFILES: tuple[str, ...] = ("smoke", "cpu", "hour", "gpu")
DEFAULT_PROFILE = "cpu"


def _cpuinfo(field: str) -> str | None:
    """The value of the first ``field`` line of ``/proc/cpuinfo`` (None off Linux or when absent)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith(field):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_model() -> str:
    """The processor's model name (``/proc/cpuinfo`` on Linux), for benchmark records.

    Timings only compare on the same kind of processor: 2-core machines of
    this project's CI have differed by a factor of about five in matrix
    throughput (AVX-512 versus AVX2 cores).
    """
    import platform

    return _cpuinfo("model name") or platform.processor() or platform.machine()


def cpu_vector_isa() -> str:
    """The widest x86 vector extension the processor has: ``avx512``, ``avx2`` or ``other``.

    Named in benchmark records next to :func:`cpu_model`, because a model name
    such as "Intel(R) Xeon(R) Processor" does not say which one a (virtual)
    machine exposes, and matrix work runs 2-4x faster with AVX-512.
    """
    flags = (_cpuinfo("flags") or "").split()
    if "avx512f" in flags:
        return "avx512"
    return "avx2" if "avx2" in flags else "other"


def current_profile(name: str | None = None) -> str:
    """Return the profile to use: *name* if given, else ``$DNALIB_PROFILE``, else ``cpu``.

    Raises :class:`~dnalib.errors.DnalibError` for an unknown name.
    """
    chosen = name or os.environ.get("DNALIB_PROFILE") or DEFAULT_PROFILE
    chosen = chosen.strip().lower()
    if chosen not in PROFILES:
        raise DnalibError(
            f"unknown profile {chosen!r}: choose one of {', '.join(PROFILES)} "
            "(set DNALIB_PROFILE or pass --profile)"
        )
    return chosen


class Settings:
    """What every settings dataclass (:class:`~dnalib.pretrain.PretrainConfig`,
    :class:`~dnalib.contrastive.FinetuneConfig`) shares: plain-data round trips.

    ``to_dict`` gives JSON values (tuples become lists), as records, recipes
    and checkpoints keep them; ``from_dict`` is its inverse with one rule
    (a list becomes a tuple where the field's default is a tuple), rejects
    unknown names and validates, like the profile tables do.

    A setting added after models were trained and shipped is named in the
    class's :attr:`NEUTRAL` with the value that trains exactly as before;
    ``to_dict`` leaves it out while it has that value, so the recipes, info
    files and checkpoints of those models still match the settings they were
    made with (and ``from_dict`` restores it from its default).
    """

    #: Settings left out of :meth:`to_dict` while they have these values (see above).
    NEUTRAL: ClassVar[dict[str, Any]] = {}

    def to_dict(self) -> dict[str, Any]:
        """The settings as plain JSON values (a :attr:`NEUTRAL` setting at its value left out)."""
        import json

        values = json.loads(json.dumps(dataclasses.asdict(self)))  # type: ignore[call-overload]
        return {k: v for k, v in values.items()
                if not (k in self.NEUTRAL and v == self.NEUTRAL[k])}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Any:
        """The validated settings from :meth:`to_dict`'s output (or any subset of the fields)."""
        fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise DnalibError(f"unknown {cls.__name__} setting(s) {unknown}: choose from {sorted(fields)}")
        cfg = cls(**_as_fields(fields, values))
        cfg.validate()  # type: ignore[attr-defined]
        return cfg


def _as_fields(fields: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """*values* with lists turned into tuples where the field's default is a tuple."""
    return {k: tuple(v) if isinstance(v, list) and isinstance(fields[k].default, tuple) else v
            for k, v in values.items()}


def config_for_profile(config_cls: type, table: dict, profile: str | None,
                       overrides: dict, what: str) -> Any:
    """Build a settings dataclass from a profile table plus overrides, then validate it.

    Parameters
    ----------
    config_cls : type
        A dataclass with a ``profile`` field and a ``validate()`` method.
    table : dict
        Profile name -> settings that differ from the dataclass defaults.
    profile : str or None
        Profile name (see :func:`current_profile`).
    overrides : dict
        Field values that win over the profile's.
    what : str
        Name of the settings in error messages (e.g. ``"pretraining"``).

    Returns
    -------
    object
        The validated *config_cls* instance.
    """
    name = current_profile(profile)
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise DnalibError(f"unknown {what} setting(s) {unknown}: choose from {sorted(fields)}")
    cfg = config_cls(profile=name, **_as_fields(fields, {**table[name], **overrides}))
    cfg.validate()
    return cfg


# --------------------------------------------------------------------------- the tables
# Every setting that differs between profiles, in one place. The modules that use them:
# dnalib.models (MODEL_SIZES), dnalib.pretrain (PRETRAIN_SETTINGS), dnalib.contrastive
# (FINETUNE_SETTINGS, LABEL_FREE_SETTINGS, SCRATCH_ENCODERS).

#: Encoder sizes per profile (layers, hidden size, attention heads, feed-forward size).
MODEL_SIZES: dict[str, dict[str, int]] = {
    "smoke": {"num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 2,
              "intermediate_size": 128},
    # Small enough that contrastive fine-tuning on multi-kbp views runs in minutes on 2 cores
    # (about 40k tokens/s for a training step; 4 x 256 managed 5k).
    "cpu": {"num_hidden_layers": 2, "hidden_size": 128, "num_attention_heads": 4,
            "intermediate_size": 512},
    "gpu": {"num_hidden_layers": 8, "hidden_size": 512, "num_attention_heads": 8,
            "intermediate_size": 2048},
}
# hour: the cpu model, so that what it embeds costs what the chapters' models cost.
MODEL_SIZES["hour"] = dict(MODEL_SIZES["cpu"])

#: Settings that differ between profiles of MLM pretraining (everything else is a :class:`~dnalib.pretrain.PretrainConfig` default).
PRETRAIN_SETTINGS: dict[str, dict[str, Any]] = {
    "smoke": dict(tokenizer="kmer", k=4, fragment_length=64, batch_size=8, max_steps=12,
                  warmup_steps=2, eval_every=6, eval_fragments=32, checkpoint_every=6),
    # About 2.5 minutes on 2 CPU cores (chapter 4 trains it live).
    # A short run learns faster with a higher peak rate than SCORPIO's 5e-4.
    "cpu": dict(tokenizer="kmer", k=6, fragment_length=200, batch_size=32, max_steps=160,
                lr=1e-3, warmup_steps=16, eval_every=40, eval_fragments=256, checkpoint_every=40),
    # gpu: sized for a 15 GiB T4 (Colab), float16 with loss scaling there. The batch of 256 in two
    # micro-batches of 128 (the same batch and loss: each micro-batch's loss is divided by the
    # whole batch's masked tokens): estimated 5.5 GiB, and 7.3 GiB with rotary positions (chapter
    # 4's exercise; an ESM encoder). In one batch: 10.0 and 13.7 GiB (dnalib.memory).
    "gpu": dict(tokenizer="kmer", k=6, fragment_length=200, batch_size=256, grad_accum=2,
                max_steps=4000, warmup_steps=200, eval_every=500, eval_fragments=2048,
                checkpoint_every=500),
    # hour: the cpu settings for 2,000 steps (6-7 minutes on 2 cores), a lower peak rate for
    # the longer run.
    "hour": dict(tokenizer="kmer", k=6, fragment_length=200, batch_size=32, max_steps=2000,
                 lr=5e-4, warmup_steps=100, eval_every=500, eval_fragments=512, checkpoint_every=500),
}

#: Settings that differ between profiles of contrastive fine-tuning with labels (everything else is a
#: :class:`~dnalib.contrastive.FinetuneConfig` default).
FINETUNE_SETTINGS: dict[str, dict[str, Any]] = {
    "smoke": dict(phase_steps=(4, 4), fragment_length=60, chunk_length=0, batch_pairs=6,
                  checkpoint_every=4, warmup_steps=1),
    # cpu: mostly the FinetuneConfig defaults. Views of 3 kbp read in 200 bp chunks (the length the
    # MLM reads at once): shorter views hold too little species signal
    # (two 1 kbp fragments of one genome are matched by 6-mer spectra only 23% of the time
    # among 24 candidates, two 3 kbp fragments 63%). About 1.2 s a step on 2 cores: each phase
    # takes about 2 minutes (chapters 5 and 6 train one each).
    "cpu": dict(phase_steps=(90, 90), embedding_lr_mult=10.0, checkpoint_every=30),
    # gpu: sized for a 15 GiB T4. A step holds about 32 MiB of float16 activations per 200 bp chunk
    # read with the gpu model (dnalib.memory), so 2 x batch_pairs x fragment_length / 200 chunks must
    # stay below about 350 for 13 GiB. 16 pairs of 2 kbp views (320 chunks, estimated 12 GiB): more
    # negatives than the cpu profile (30 per view), views at the short end of what tells species
    # apart, and a batch that 2, 4, 8 or 16 processes share evenly. The sizes it had before, 48
    # pairs of 5 kbp (2,400 chunks), needed about 84 GiB (an 80 GiB-class GPU). Gradient
    # accumulation cannot keep a contrastive batch: its negatives are the other pairs of the step.
    "gpu": dict(phase_steps=(2000, 4000), fragment_length=2000, chunk_length=200, batch_pairs=16,
                embedding_lr_mult=10.0, checkpoint_every=500, warmup_steps=100),
    # hour: the cpu settings with 800 steps per phase instead of 90 (1.2-1.8 s a step on 2 cores:
    # 32-48 minutes).
    "hour": dict(phase_steps=(800, 800), embedding_lr_mult=10.0, checkpoint_every=100,
                 warmup_steps=50),
}


#: Label-free settings per profile, for a fresh encoder (see :func:`dnalib.contrastive.scratch_encoder`) trained on the
#: unlabelled sample itself (positives are two fragments of one contig, contigs drawn by
#: length). On the cpu profile a step takes about 0.27 s on 2 cores, 800 steps about 4 minutes.
LABEL_FREE_SETTINGS: dict[str, dict[str, Any]] = {
    "smoke": dict(curriculum=("simclr",), phase_steps=(4,), fragment_length=60, chunk_length=0,
                  batch_pairs=6, sample_by="length", checkpoint_every=4, warmup_steps=1),
    "cpu": dict(curriculum=("simclr",), phase_steps=(800,), fragment_length=1000, chunk_length=0,
                batch_pairs=32, lr=3e-4, sample_by="length", checkpoint_every=100),
    # gpu: sized for a 15 GiB T4: 64 pairs as before (the same negatives per step), views of one
    # 2 kbp chunk instead of two (128 chunks of 502 tokens, estimated 9.2 GiB in float16; two chunks
    # per view needed 17.6 GiB).
    "gpu": dict(curriculum=("simclr", "mimix"), phase_steps=(2000, 2000), fragment_length=2000,
                chunk_length=2000, batch_pairs=64, lr=3e-4, sample_by="length", checkpoint_every=500,
                warmup_steps=100),
}
LABEL_FREE_SETTINGS["hour"] = dict(LABEL_FREE_SETTINGS["cpu"])

#: Architecture of the scratch encoder per profile (non-overlapping 4-mers).
SCRATCH_ENCODERS: dict[str, dict[str, int]] = {
    "smoke": dict(k=4, chunk_length=200, num_hidden_layers=2, hidden_size=64, num_attention_heads=2,
                  intermediate_size=128),
    "cpu": dict(k=4, chunk_length=1000, num_hidden_layers=2, hidden_size=128, num_attention_heads=4,
                intermediate_size=512),
    "gpu": dict(k=4, chunk_length=2000, num_hidden_layers=6, hidden_size=512, num_attention_heads=8,
                intermediate_size=2048),
}
SCRATCH_ENCODERS["hour"] = dict(SCRATCH_ENCODERS["cpu"])
