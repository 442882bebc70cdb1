"""Which taxon labels are missing: the one rule every dnalib task uses.

A label is *missing* when it is NaN / None, or a string that fully matches
:data:`PLACEHOLDER_PATTERN` (case-insensitively, surrounding spaces ignored):
the empty string, ``nan``, ``none``, ``null``, ``na``, ``n/a``, ``-``, ``?``,
``unknown``, ``unclassified``, ``unidentified``, ``unassigned``,
``uncultured`` (with an optional ``bacterium``) and ``incertae sedis``.

A missing label says nothing about which samples belong together, so it is
never a class: the taxonomy task, clustering, few-shot classification,
binning and contrastive grouping (:func:`dnalib.pairs.species_groups`)
all leave such samples out, and say how many they left out.

Named placeholders such as DAIRYdb's ``Ruminococcaceae_Genus`` (an unnamed
genus of a named family) are *kept*: they name a real group of sequences and
MetaBERTa kept them; drop them with e.g.
``PLACEHOLDER_PATTERN + r"|.*_(phylum|class|order|family|genus|species)"``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from dnalib.errors import DnalibError

#: Labels that count as missing (matched case-insensitively against the whole label, spaces
#: around it ignored); NaN / None are always missing.
PLACEHOLDER_PATTERN = (
    r"|nan|none|null|na|n/a|-|\?|unknown|unclassified|unidentified|unassigned"
    r"|uncultured(?: bacterium)?|incertae sedis"
)

__all__ = ["PLACEHOLDER_PATTERN", "compile_placeholder", "missing_labels"]


def compile_placeholder(pattern: str | None) -> re.Pattern[str] | None:
    """*pattern* compiled case-insensitively (None stays None); a bad pattern is one line."""
    if pattern is None:
        return None
    try:
        return re.compile(pattern, re.IGNORECASE)
    except (re.error, TypeError) as exc:
        raise DnalibError(
            f"placeholder_pattern {pattern!r} is not a valid regular expression: {exc}"
        ) from None


def missing_labels(labels: Sequence[Any] | np.ndarray | Any,
                   placeholder_pattern: str | None = PLACEHOLDER_PATTERN) -> np.ndarray:
    """Boolean mask: True where a label is missing (see the module docstring).

    Parameters
    ----------
    labels
        One label per sample (a list, array or pandas Series).
    placeholder_pattern
        Labels meaning "unknown" (default :data:`PLACEHOLDER_PATTERN`);
        ``None``: only NaN / None are missing.

    Returns
    -------
    numpy.ndarray

    Examples
    --------
    >>> missing_labels(["E. coli", "", " Unknown ", None, "n/a", "B. subtilis"]).tolist()
    [False, True, True, True, True, False]
    """
    import pandas as pd

    regex = compile_placeholder(placeholder_pattern)
    values = labels.to_numpy(dtype=object) if isinstance(labels, pd.Series) else \
        np.asarray(labels, dtype=object)
    if values.ndim != 1:
        raise DnalibError(
            f"labels must be one-dimensional (one label per sample), got shape {values.shape}")
    s = pd.Series(values, dtype=object)
    missing = s.isna().to_numpy().copy()
    if regex is not None and (~missing).any():
        text = s[~missing].astype(str).str.strip()
        missing[~missing] = text.str.fullmatch(regex).to_numpy(dtype=bool)
    return missing
