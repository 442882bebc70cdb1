"""Run profiles: one switch from CI-seconds to laptop-minutes to one GPU.

A profile is a plain dictionary of settings that the training and evaluation
code reads (model size, fragment lengths, steps, batch size, device).  The
active profile comes from the ``DNALIB_PROFILE`` environment variable
(default ``cpu``), so the same notebook runs in seconds under ``smoke`` in CI,
in minutes on a laptop under ``cpu``, and at full size under ``gpu``.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from dnalib.errors import DnalibError

PROFILES: tuple[str, ...] = ("smoke", "cpu", "gpu")
DEFAULT_PROFILE = "cpu"


def cpu_model() -> str:
    """The processor's model name (``/proc/cpuinfo`` on Linux), for benchmark records.

    Timings only compare on the same kind of processor: 2-core machines of
    this project's CI have differed by a factor of about five in matrix
    throughput (AVX-512 versus AVX2 cores).
    """
    import platform

    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


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
    settings = {**table[name], **overrides}
    for key, value in settings.items():  # lists from JSON or the CLI become tuples
        if isinstance(value, list) and isinstance(fields[key].default, tuple):
            settings[key] = tuple(value)
    cfg = config_cls(profile=name, **settings)
    cfg.validate()
    return cfg
