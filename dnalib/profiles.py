"""Run profiles: one switch from CI-seconds to laptop-minutes to one GPU.

A profile is a plain dictionary of settings that the training and evaluation
code reads (model size, fragment lengths, steps, batch size, device).  The
active profile comes from the ``DNALIB_PROFILE`` environment variable
(default ``cpu``), so the same notebook runs in seconds under ``smoke`` in CI,
in minutes on a laptop under ``cpu``, and at full size under ``gpu``.
"""

from __future__ import annotations

import os

from dnalib.errors import DnalibError

PROFILES: tuple[str, ...] = ("smoke", "cpu", "gpu")
DEFAULT_PROFILE = "cpu"


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
