"""Evaluation of embeddings the way the DNABERT-S paper does it.

This first version holds the species clustering protocol only
(:func:`clustering_scores`).  The rest of the evaluation suite (few-shot
classification, metagenomic binning, taxonomic classification by rank and the
result tables) comes later.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from dnalib.errors import DnalibError

__all__ = ["clustering_scores"]


def clustering_scores(
    embeddings: Any,
    labels: Sequence[Any] | np.ndarray,
    *,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    n_init: int = 3,
    max_iter: int = 1000,
) -> dict[str, Any]:
    """Species clustering scores (ARI and NMI) of embeddings, DNABERT-S protocol.

    The embeddings are L2-normalised, then clustered by KMeans with K = the
    number of distinct labels (``init="random"``, ``n_init``, ``max_iter``),
    once per seed; ARI and NMI against the labels are averaged over the seeds.

    Parameters
    ----------
    embeddings
        Array-like of shape ``(n_samples, n_features)``.
    labels
        True label (e.g. species) of every sample.
    seeds
        KMeans random states; one clustering per seed.
    n_init
        KMeans restarts per seed (the best inertia is kept).
    max_iter
        KMeans iteration limit.

    Returns
    -------
    dict
        ``ari``, ``ari_std``, ``nmi``, ``nmi_std`` (mean and standard deviation
        over seeds), ``seeds`` (list) and ``per_seed`` (one dict per seed with
        ``seed``, ``ari``, ``nmi``).

    Raises
    ------
    DnalibError
        If the embeddings are not a finite 2-D array, the number of labels does
        not match, there are fewer than two classes, fewer samples than
        classes, or no seeds.
    """
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    try:
        x = np.asarray(embeddings, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DnalibError(f"embeddings must be a numeric 2-D array: {exc}") from None
    if x.ndim != 2:
        raise DnalibError(
            f"embeddings must be 2-D (n_samples, n_features), got shape {x.shape}; "
            "stack one embedding per row"
        )
    y = np.asarray(labels)
    if y.ndim != 1 or len(y) != x.shape[0]:
        raise DnalibError(
            f"got {x.shape[0]} embeddings but labels of shape {y.shape}: "
            "give exactly one label per embedding row"
        )
    if not np.all(np.isfinite(x)):
        raise DnalibError("embeddings contain NaN or infinite values")
    classes = np.unique(y)
    if len(classes) < 2:
        raise DnalibError(f"clustering needs at least 2 classes, got {len(classes)}")
    if x.shape[0] < len(classes):
        raise DnalibError(
            f"{x.shape[0]} samples cannot form {len(classes)} clusters: need one sample per class at least"
        )
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise DnalibError("seeds must name at least one KMeans random state")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    x = x / np.where(norms > 0, norms, 1.0)

    per_seed: list[dict[str, float | int]] = []
    for seed in seeds:
        pred = KMeans(
            n_clusters=len(classes),
            init="random",
            n_init=n_init,
            max_iter=max_iter,
            random_state=seed,
        ).fit_predict(x)
        per_seed.append(
            {
                "seed": seed,
                "ari": float(adjusted_rand_score(y, pred)),
                "nmi": float(normalized_mutual_info_score(y, pred)),
            }
        )
    ari = np.array([r["ari"] for r in per_seed])
    nmi = np.array([r["nmi"] for r in per_seed])
    return {
        "ari": float(ari.mean()),
        "ari_std": float(ari.std()),
        "nmi": float(nmi.mean()),
        "nmi_std": float(nmi.std()),
        "seeds": seeds,
        "per_seed": per_seed,
    }
