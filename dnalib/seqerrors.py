"""Sequencing errors: substitutions, insertions and deletions at given rates, seeded.

One error model serves three uses: the read simulator
(:func:`dnalib.simulate.simulate_reads`), *augmentation* of contrastive
training views (``--augment-errors``: each view of a positive pair gets its
own errors) and a *condition* of evaluation (``dnalib evaluate --errors``:
fragments are cut, then errors are applied, then embedded).

The model (:class:`ErrorModel`) copies a template base by base: a base is
deleted with probability ``deletion``, otherwise replaced by one of the three
other bases with probability ``substitution / (1 - deletion)``, and a random
base is inserted after it with probability ``insertion``. Per template base
the expected numbers of substitutions, insertions and deletions are therefore
the three rates, and ``rate`` is their sum. Only the four bases take errors:
``N`` and other non-ACGT characters are copied as they are (and nothing is
inserted after them), and unchanged bases keep their case.

*Homopolymer bias* (optional, ``homopolymer=h``). Nanopore base callers
mostly err on the *length* of homopolymer runs (Delahaye & Nicolas 2021,
"Sequencing DNA with nanopores: troubles and biases", PLoS ONE 16: e0257521),
and PacBio CLR indels are also enriched in runs. With ``h > 0`` the indel
probability of a base inside a run of at least :data:`HOMOPOLYMER_RUN`
identical bases is ``1 + h`` times that of a base outside, rescaled per
sequence so that the expected indel rate stays ``insertion`` and
``deletion``; an insertion inside a run repeats the run's base (the run gets
longer, as a miscalled run length does). The presets leave it at 0.

Presets (:data:`ERROR_PRESETS`):

``clean``
    no errors.
``illumina``
    0.5% substitutions, no indels (short-read error rates are 0.1-1% and
    almost all substitutions).
``longread5``, ``longread10``
    5% and 10% errors in total, split 20% substitutions, 40% insertions, 40%
    deletions. Long-read errors are dominated by indels: Oxford Nanopore
    reads by deletions and insertions, PacBio CLR reads by insertions
    (Weirather et al. 2017, "Comprehensive comparison of Pacific Biosciences
    and Oxford Nanopore Technologies and their applications to transcriptome
    analysis", F1000Research 6: 100); the even indel split is a round
    compromise between the two platforms. 10% is a raw read of older
    chemistries; at that rate about half of a read's 6-mers hold an error.

:func:`error_model` turns a preset name or a total rate (``"0.1"``: the
long-read split at 10%) into a model; :func:`apply_errors` applies one to
sequences, deterministically per ``(seed, index)`` so that a sequence's
errors do not depend on the batch it is in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import numpy as np

from dnalib.errors import DnalibError
from dnalib.sequences import encode

__all__ = [
    "ERROR_PRESETS",
    "HOMOPOLYMER_RUN",
    "LONG_READ_SPLIT",
    "Edits",
    "ErrorModel",
    "AUGMENT_STREAM",
    "apply_errors",
    "augment_pair",
    "augment_setting",
    "error_model",
    "mutate_codes",
]

#: Shortest run of identical bases that counts as a homopolymer for the bias.
HOMOPOLYMER_RUN = 3

#: Share of substitutions, insertions and deletions in a long-read-like total rate.
LONG_READ_SPLIT = (0.2, 0.4, 0.4)

#: The seed word of training-view errors. Step *s* of a run with seed *r* draws them from
#: ``(r, AUGMENT_STREAM, s, view)`` (the pair sampler uses 5, MI-Mix 6).
AUGMENT_STREAM = 7

_BASES = np.frombuffer(b"ACGT", dtype=np.uint8)


@dataclass(frozen=True)
class ErrorModel:
    """Per-base rates of substitutions, insertions and deletions.

    Parameters
    ----------
    substitution : float
        Expected substitutions per template base, in [0, 1).
    insertion : float
        Expected inserted bases per template base, in [0, 1).
    deletion : float
        Expected deleted bases per template base, in [0, 1); ``substitution +
        deletion`` must be below 1.
    homopolymer : float
        Extra indel weight inside homopolymer runs (0: none; see the module
        docstring), at least 0.
    name : str
        How records and tables name the model.
    """

    substitution: float
    insertion: float
    deletion: float
    homopolymer: float = 0.0
    name: str = "custom"

    def __post_init__(self) -> None:
        for field in ("substitution", "insertion", "deletion", "homopolymer"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
                raise DnalibError(f"{field} rate must be a number; got {value!r}")
            object.__setattr__(self, field, float(value))
        for field in ("substitution", "insertion", "deletion"):
            value = getattr(self, field)
            if not (math.isfinite(value) and 0.0 <= value < 1.0):
                raise DnalibError(f"{field} rate must be in [0, 1); got {value!r}")
        if self.substitution + self.deletion >= 1.0:
            raise DnalibError("substitution + deletion rates must be below 1 (every base would "
                              f"change); got {self.substitution} + {self.deletion}")
        if not (math.isfinite(self.homopolymer) and self.homopolymer >= 0.0):
            raise DnalibError(f"homopolymer bias must be 0 or more; got {self.homopolymer!r}")

    @property
    def rate(self) -> float:
        """Expected errors per template base (substitutions + insertions + deletions)."""
        return self.substitution + self.insertion + self.deletion

    def summary(self) -> str:
        """A short phrase for tables: the name, and the rates in percent unless it is clean.

        Examples
        --------
        >>> ERROR_PRESETS["longread10"].summary()
        'longread10 (2% substitutions, 4% insertions, 4% deletions)'
        """
        if self.rate == 0:
            return self.name
        parts = [f"{100 * getattr(self, k):.3g}% {k}s"
                 for k in ("substitution", "insertion", "deletion") if getattr(self, k)]
        bias = f", homopolymer bias {self.homopolymer:g}" if self.homopolymer else ""
        return f"{self.name} ({', '.join(parts)}{bias})"

    def describe(self) -> dict[str, Any]:
        """The model as plain JSON values (name, the rates, the total ``rate``), for records."""
        return {**asdict(self), "rate": self.rate}


def _long_read(total: float, name: str) -> ErrorModel:
    sub, ins, dele = (round(total * share, 12) for share in LONG_READ_SPLIT)
    return ErrorModel(sub, ins, dele, name=name)


#: The named error models (see the module docstring for their sources).
ERROR_PRESETS: dict[str, ErrorModel] = {
    "clean": ErrorModel(0.0, 0.0, 0.0, name="clean"),
    "illumina": ErrorModel(0.005, 0.0, 0.0, name="illumina"),
    "longread5": _long_read(0.05, "longread5"),
    "longread10": _long_read(0.10, "longread10"),
}


def error_model(spec: ErrorModel | str | float | None) -> ErrorModel:
    """The error model a preset name or a total rate stands for.

    Parameters
    ----------
    spec : ErrorModel, str, float or None
        A preset name (:data:`ERROR_PRESETS`), a total error rate from 0 up to
        (not including) 1 as a number or text (``"0.1"``: 10% errors split as
        long reads err, :data:`LONG_READ_SPLIT`; ``"0"`` is clean), or a
        model (returned as it is). None means clean.

    Returns
    -------
    ErrorModel

    Raises
    ------
    DnalibError
        For anything else, in one line naming the presets.
    """
    if isinstance(spec, ErrorModel):
        return spec
    if spec is None:
        return ERROR_PRESETS["clean"]
    text = str(spec).strip()
    if text.lower() in ERROR_PRESETS:
        return ERROR_PRESETS[text.lower()]
    try:
        total = float(text) if not isinstance(spec, bool) else math.nan
    except ValueError:
        total = math.nan
    if not (math.isfinite(total) and 0.0 <= total < 1.0):
        raise DnalibError(f"unknown error model {text!r}: give a preset ({', '.join(ERROR_PRESETS)}) "
                          "or a total error rate from 0 up to 1, e.g. 0.1 (long-read-like: 20% "
                          "substitutions, 40% insertions, 40% deletions)")
    return _long_read(total, f"{total:g}")


class Edits(NamedTuple):
    """What :func:`mutate_codes` did to one template.

    Attributes
    ----------
    codes : numpy.ndarray
        The new sequence as codes (``uint8``).
    source : numpy.ndarray
        For every output position, the template position whose base it
        copies unchanged, or -1 for a substituted or inserted base.
    substitutions : int
        How many bases were substituted.
    insertions : int
        How many bases were inserted.
    deletions : int
        How many bases were deleted.
    """

    codes: np.ndarray
    source: np.ndarray
    substitutions: int
    insertions: int
    deletions: int


def _homopolymer_mask(codes: np.ndarray) -> np.ndarray:
    """Positions inside runs of at least :data:`HOMOPOLYMER_RUN` identical bases (ACGT only)."""
    m = len(codes)
    if m == 0:
        return np.zeros(0, dtype=bool)
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    lengths = np.diff(np.r_[starts, m])
    run_length = np.repeat(lengths, lengths)
    return (run_length >= HOMOPOLYMER_RUN) & (codes < 4)


def mutate_codes(codes: np.ndarray, model: ErrorModel, rng: np.random.Generator) -> Edits:
    """Apply *model*'s errors to one encoded template (the core every caller shares).

    Codes ``0..3`` are bases and take errors; any other code is copied as it
    is. The random draws are made in a fixed order whatever the rates (five
    arrays of the template's length), so a generator shared by many calls
    (:func:`dnalib.simulate.simulate_reads`) stays in step.

    Parameters
    ----------
    codes : numpy.ndarray
        ``uint8`` codes (:func:`dnalib.sequences.encode`).
    model : ErrorModel
        The rates.
    rng : numpy.random.Generator
        The source of randomness.

    Returns
    -------
    Edits
    """
    codes = np.asarray(codes, dtype=np.uint8)
    m = len(codes)
    real = codes < 4
    p_del: float | np.ndarray = model.deletion
    p_ins: float | np.ndarray = model.insertion
    in_run = None
    if model.homopolymer > 0 and real.any():
        in_run = _homopolymer_mask(codes)
        weight = 1.0 + model.homopolymer * in_run
        weight = weight / weight[real].mean()
        p_del = np.minimum(model.deletion * weight, 0.99 * (1.0 - model.substitution))
        p_ins = np.minimum(model.insertion * weight, 0.99)
    s_cond = model.substitution / (1.0 - p_del)
    deleted = (rng.random(m) < p_del) & real
    substituted = ~deleted & (rng.random(m) < s_cond) & real
    inserted = (rng.random(m) < p_ins) & real
    bases = np.where(substituted, (codes + rng.integers(1, 4, m)) % 4, codes)
    new = rng.integers(0, 4, m)
    if in_run is not None:
        new = np.where(in_run, codes, new)  # a longer run, as a miscalled run length
    values = np.stack([bases, new], axis=1).astype(np.uint8)
    keep = np.stack([~deleted, inserted], axis=1)
    origin = np.stack([np.where(substituted, -1, np.arange(m)), np.full(m, -1)], axis=1)
    return Edits(values[keep], origin[keep], int(substituted.sum()), int(inserted.sum()),
                 int(deleted.sum()))


def _seed_key(seed: int | Sequence[int]) -> tuple[int, ...]:
    key = (seed,) if isinstance(seed, int | np.integer) and not isinstance(seed, bool) else seed
    try:
        key = tuple(key)
    except TypeError:
        key = ()
    if not key or any(isinstance(s, bool) or not isinstance(s, int | np.integer) or s < 0
                      for s in key):
        raise DnalibError(f"seed must be a whole number of at least 0, or a sequence of them; "
                          f"got {seed!r}")
    return tuple(int(s) for s in key)


def apply_errors(seqs: str | Sequence[str], model: ErrorModel | str | float,
                 seed: int | Sequence[int] = 0) -> Any:
    """New sequences with *model*'s errors, the same for the same ``(seed, index)``.

    Sequence *i* draws its errors from ``numpy.random.default_rng([*seed,
    i])``, so its errors do not depend on which other sequences are in the
    call. Substituted and inserted bases are upper case; ``N`` and other
    non-ACGT characters, and unchanged bases, are kept as they are. A clean
    model returns the sequences unchanged.

    Parameters
    ----------
    seqs : str or sequence of str
        DNA sequences (a single string gives a single string back).
    model : ErrorModel, str or float
        The model, or a spec :func:`error_model` reads (``"longread10"``, ``0.1``).
    seed : int or sequence of int
        Seed (or seed words, e.g. ``(run_seed, step)``) of the errors.

    Returns
    -------
    str or list of str
        One new sequence per input, in order.

    Examples
    --------
    >>> apply_errors(["ACGTACGT"], "clean")
    ['ACGTACGT']
    >>> apply_errors("ACGT" * 50, "longread10", seed=1) == apply_errors("ACGT" * 50, 0.1, seed=1)
    True
    """
    model = error_model(model)
    key = _seed_key(seed)
    single = isinstance(seqs, str)
    batch = [seqs] if single else list(seqs)
    if not all(isinstance(s, str) for s in batch):
        raise DnalibError("apply_errors takes DNA sequences as str (or a list of them)")
    if model.rate == 0.0:
        return batch[0] if single else batch
    out = []
    for i, seq in enumerate(batch):
        raw = np.frombuffer(seq.encode("latin-1", errors="replace"), dtype=np.uint8)
        edits = mutate_codes(encode(seq), model, np.random.default_rng([*key, i]))
        kept = raw[np.maximum(edits.source, 0)] if len(raw) else edits.codes
        text = np.where(edits.source >= 0, kept, _BASES[edits.codes % 4]).astype(np.uint8)
        out.append(text.tobytes().decode("latin-1"))
    return out[0] if single else out


def augment_setting(spec: ErrorModel | str | float | None) -> str | None:
    """The value a training config keeps for ``--augment-errors SPEC``.

    None (no augmentation) for None or any clean model (``"clean"``, ``0``),
    so that asking for clean errors trains exactly what no flag trains and is
    the same run; otherwise the model's name, which :func:`error_model` reads
    back (``"longread10"``, ``"0.07"``). A model with a homopolymer bias has
    no such name and is refused.

    Parameters
    ----------
    spec : ErrorModel, str, float or None
        What :func:`error_model` takes.

    Returns
    -------
    str or None
    """
    if spec is None:
        return None
    model = error_model(spec)
    if model.rate == 0:
        return None
    try:
        named = error_model(model.name) == model
    except DnalibError:
        named = False
    if not named:
        raise DnalibError(f"the error model {model.name!r} cannot be named in a training config: "
                          f"use a preset ({', '.join(ERROR_PRESETS)}) or a total rate such as 0.1")
    return model.name


def augment_pair(view1: Sequence[str], view2: Sequence[str], model: ErrorModel | str,
                 seed: int, step: int) -> tuple[list[str], list[str]]:
    """Both views of a training step's positive pairs, each with its own errors.

    View 1 of pair *i* draws from ``(seed, AUGMENT_STREAM, step, 1, i)``, view
    2 from ``(seed, AUGMENT_STREAM, step, 2, i)``: independent errors on the
    two views, new ones every step, the same on every process and on a
    resumed run.

    Parameters
    ----------
    view1, view2 : sequence of str
        The views of the step (:meth:`dnalib.pairs.PairSampler.batch`).
    model : ErrorModel or str
        The error model (or its spec).
    seed : int
        The run's seed.
    step : int
        The step whose pairs these are (the data stream's step).

    Returns
    -------
    tuple of list of str
    """
    return (apply_errors(list(view1), model, (seed, AUGMENT_STREAM, step, 1)),
            apply_errors(list(view2), model, (seed, AUGMENT_STREAM, step, 2)))
