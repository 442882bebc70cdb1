"""Evaluation of embeddings and features the way the papers do it.

- :func:`clustering_scores`: species clustering (ARI, NMI), DNABERT-S protocol;
  :func:`paired_clustering_difference`: the ARI of two embeddings compared
  with an interval over species (built from :func:`clustering_halves` of each
  side and :func:`paired_difference`).
- :func:`taxonomy_classification`: taxonomic classification by rank with KNN
  and random forest, accuracy and macro-F1 (SCORPIO / MetaBERTa protocol);
  :func:`usable_labels` says which labels it keeps at a rank.

- :func:`fewshot_classification`: few-shot species classification (k labelled
  samples per species, logistic regression, macro-F1), DNABERT-S protocol.
- :func:`binning_threshold`, :func:`kmedoid_bins` and :func:`binning_scores`:
  metagenomic binning with the modified K-medoid of DNABERT-S, bins matched to
  species by the Hungarian algorithm.
- :func:`evaluate_embeddings`: one call, the chosen tasks, one tidy table.
"""

from __future__ import annotations

import hashlib
import time
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from dnalib.errors import DnalibError
from dnalib.labels import PLACEHOLDER_PATTERN, missing_labels

__all__ = [
    "CLASSIFIERS",
    "FEWSHOT_K",
    "PLACEHOLDER_PATTERN",
    "binning_scores",
    "binning_threshold",
    "TASKS",
    "clustering_halves",
    "clustering_scores",
    "compact_halves",
    "paired_clustering_difference",
    "paired_difference",
    "evaluate_embeddings",
    "fewshot_classification",
    "grouped_folds",
    "kmedoid_bins",
    "pipeline_runs",
    "taxonomy_classification",
    "usable_labels",
]


def _embedding_matrix(embeddings: Any) -> np.ndarray:
    """Validated finite ``(n, d)`` float64 embeddings."""
    try:
        x = np.asarray(embeddings, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DnalibError(f"embeddings must be a numeric 2-D array: {exc}") from None
    if x.ndim != 2:
        raise DnalibError(
            f"embeddings must be 2-D (n_samples, n_features), got shape {x.shape}; "
            "stack one embedding per row"
        )
    if not np.all(np.isfinite(x)):
        raise DnalibError("embeddings contain NaN or infinite values")
    return x


def _embeddings_and_labels(embeddings: Any, labels: Any, task: str
                           ) -> tuple[np.ndarray, np.ndarray, int]:
    """Validated ``(n, d)`` float64 embeddings and ``(n,)`` labels of at least two classes,
    without the samples whose label is missing (:func:`dnalib.labels.missing_labels`), and
    how many those were."""
    x = _embedding_matrix(embeddings)
    y = np.asarray(labels)
    if y.ndim != 1 or len(y) != x.shape[0]:
        raise DnalibError(
            f"got {x.shape[0]} embeddings but labels of shape {y.shape}: "
            "give exactly one label per embedding row"
        )
    missing = missing_labels(y)
    if missing.any():
        x, y = x[~missing], y[~missing]
    n_classes = len(np.unique(y))
    if n_classes < 2:
        raise DnalibError(f"{task} needs at least 2 classes, got {n_classes}"
                          + (f" ({int(missing.sum())} sample(s) with a missing label left out)"
                             if missing.any() else ""))
    return x, y, int(missing.sum())


def _unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero)."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


def clustering_scores(
    embeddings: Any,
    labels: Sequence[Any] | np.ndarray,
    *,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    n_init: int = 3,
    max_iter: int = 1000,
    normalize: bool = True,
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
    normalize
        L2-normalise rows first (the protocol). Pass ``False`` to cluster
        coordinates as they are, e.g. a 2-D projection from
        :func:`dnalib.viz.project`, where unit length would be meaningless.

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

    x, y, n_missing = _embeddings_and_labels(embeddings, labels, "clustering")
    classes = np.unique(y)
    if x.shape[0] < len(classes):
        raise DnalibError(
            f"{x.shape[0]} samples cannot form {len(classes)} clusters: need one sample per class at least"
        )
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise DnalibError("seeds must name at least one KMeans random state")
    if normalize:
        x = _unit_rows(x)

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
        "missing_labels": n_missing,
    }


def _model_runs(embeddings: Any, labels: Any, side: str) -> list[np.ndarray]:
    """One embedding array, or a list of them (one per trained model), as a list of unit-row arrays."""
    many = isinstance(embeddings, list | tuple) and len(embeddings) > 0 and np.ndim(embeddings[0]) == 2
    runs = list(embeddings) if many else [embeddings]
    if many and len({np.shape(x)[0] for x in runs}) != 1:
        raise DnalibError(f"the models of {side} embed different numbers of samples "
                          f"({sorted({np.shape(x)[0] for x in runs})}): give every model the same samples")
    return [_unit_rows(_embeddings_and_labels(x, labels, "clustering")[0]) for x in runs]


def clustering_halves(
    embeddings: Any,
    labels: Sequence[Any] | np.ndarray,
    *,
    draws: int = 100,
    seed: int = 0,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    n_init: int = 3,
) -> dict[str, Any]:
    """One side of :func:`paired_clustering_difference`: ARI on all species and on random halves.

    The halves and the KMeans random states depend only on *labels*, *draws*,
    *seed* and *seeds*, never on the embeddings, so two sides computed apart
    with the same ones pair up exactly (:func:`paired_difference`): a
    baseline's halves can be clustered once and compared with many models.

    Parameters
    ----------
    embeddings
        ``(n_samples, n_features)``, or a list of such arrays of the same
        samples (one per trained model: its ARIs are their means).
    labels
        Species of every sample.
    draws : int
        Random halves of the species (at least 10).
    seed : int
        Seed of the halves (and offset of the halves' KMeans random states).
    seeds : sequence of int
        KMeans random states of the whole set; every half uses as many, its own.
    n_init : int
        KMeans restarts per random state.

    Returns
    -------
    dict
        ``full`` (the ARI on all species, one per model), ``halves`` (the
        mean over models of the ARI of each half, ``draws`` values),
        ``species`` (sorted), ``n_samples``, ``draws``, ``seed``, ``seeds``,
        ``n_init``.

    Raises
    ------
    DnalibError
        As :func:`paired_clustering_difference`.
    """
    runs = _model_runs(embeddings, labels, "a")
    _, y, _ = _embeddings_and_labels(runs[0], labels, "clustering")
    draws = _check_int_param("draws", draws, 10)
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise DnalibError("seeds must name at least one KMeans random state")
    species = np.unique(y)
    if len(species) < 4:
        raise DnalibError(f"a paired comparison over species needs at least 4 species; got {len(species)}")

    def ari(keep: Any, states: list[int]) -> list[float]:
        return [clustering_scores(x[keep], y[keep], seeds=states, n_init=n_init, normalize=False)["ari"]
                for x in runs]

    full = ari(slice(None), seeds)
    half = len(species) // 2
    rng = np.random.default_rng(seed)
    halves = np.empty(draws)
    for r in range(draws):
        keep = np.isin(y, rng.choice(species, size=half, replace=False))
        states = [(seed * draws + r + 1) * 1_000 + s for s in seeds]
        halves[r] = np.mean(ari(keep, states))
    return {"full": [float(v) for v in full], "halves": [float(v) for v in halves],
            "species": [str(s) for s in species], "n_samples": int(len(y)), "draws": draws,
            "seed": int(seed), "seeds": seeds, "n_init": int(n_init)}


def _species_digest(side: Mapping[str, Any]) -> str:
    """sha256 of a side's sorted species (what :func:`compact_halves` keeps of them)."""
    if "species" in side:
        return hashlib.sha256("\n".join(map(str, side["species"])).encode()).hexdigest()
    return str(side["species_sha256"])


def _n_species(side: Mapping[str, Any]) -> int:
    return len(side["species"]) if "species" in side else int(side["n_species"])


def compact_halves(side: Mapping[str, Any]) -> dict[str, Any]:
    """A :func:`clustering_halves` result small enough to store in a record row.

    The species list is replaced by its count and sha256; the result pairs
    with any other side (full or compact) in :func:`paired_difference`, so a
    record that keeps every model's halves can compare any two models later,
    without embedding again.

    Parameters
    ----------
    side : mapping
        A :func:`clustering_halves` result (or a compact one: returned as is).

    Returns
    -------
    dict
        ``full``, ``halves``, ``n_species``, ``species_sha256``, ``n_samples``,
        ``draws``, ``seed``, ``seeds``, ``n_init``.
    """
    keep = ("full", "halves", "n_samples", "draws", "seed", "seeds", "n_init")
    return {**{k: side[k] for k in keep}, "n_species": _n_species(side),
            "species_sha256": _species_digest(side)}


def paired_difference(side_a: Mapping[str, Any], side_b: Mapping[str, Any], *,
                      level: float = 0.95) -> dict[str, Any]:
    """The paired difference *a* minus *b* of two :func:`clustering_halves` results.

    Both must come from the same samples, halves and KMeans states (same
    labels, ``draws``, ``seed``, ``seeds``, ``n_init``); the result is what
    :func:`paired_clustering_difference` returns for the two embeddings.

    Parameters
    ----------
    side_a, side_b : mapping
        :func:`clustering_halves` of each side (or its :func:`compact_halves`).
    level : float
        Coverage of the intervals.

    Returns
    -------
    dict
        As :func:`paired_clustering_difference`.

    Raises
    ------
    DnalibError
        Sides of other samples or halves, or a level outside (0, 1).
    """
    if not 0 < level < 1:
        raise DnalibError(f"level must be between 0 and 1 (e.g. 0.95); got {level}")
    same = ("n_samples", "draws", "seed", "seeds", "n_init")
    differ = [k for k in same if side_a[k] != side_b[k]]
    if _species_digest(side_a) != _species_digest(side_b):
        differ.insert(0, "species")
    if differ:
        raise DnalibError(f"the two sides were clustered on other samples or halves ({', '.join(differ)} "
                          "differ): compute both with the same labels, draws, seed and seeds")
    d = np.asarray(side_a["halves"]) - np.asarray(side_b["halves"])
    diff = float(np.mean(side_a["full"]) - np.mean(side_b["full"]))
    tail = (1 - level) / 2
    lo, hi = np.quantile(d - d.mean(), [tail, 1 - tail])
    spread = np.quantile(d, [tail, 1 - tail])
    return {
        "difference": diff,
        "interval": [float(diff - hi), float(diff - lo)],
        "spread": [float(spread[0]), float(spread[1])],
        "wins": float((d > 0).mean()),
        "ari_a": float(np.mean(side_a["full"])),
        "ari_b": float(np.mean(side_b["full"])),
        "ari_a_runs": list(side_a["full"]),
        "ari_b_runs": list(side_b["full"]),
        "n_species": _n_species(side_a),
        "half": _n_species(side_a) // 2,
        "draws": int(side_a["draws"]),
        "level": float(level),
        "kmeans_seeds": list(side_a["seeds"]),
    }


def paired_clustering_difference(
    embeddings_a: Any,
    embeddings_b: Any,
    labels: Sequence[Any] | np.ndarray,
    *,
    draws: int = 100,
    seed: int = 0,
    level: float = 0.95,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    n_init: int = 3,
) -> dict[str, Any]:
    """Clustering ARI of *a* minus that of *b* on the same samples, with an interval over species.

    Species, not fragments, are the unit of evidence: fragments of one
    species are not independent, and which species a community holds is what
    moves a score (with 16 species the ranking of two methods flips with the
    draw). So the difference is measured on *draws* random halves of the
    species, each clustered afresh by both, exactly as the whole set is
    (:func:`clustering_scores`: K = the species of the half, one KMeans per
    seed of *seeds*, ARI averaged; the same random states for both sides): a
    paired design, one number ``d = ARI_a - ARI_b`` per half. Averaging over
    KMeans seeds matters: on 60 real species one KMeans run's own randomness
    made up about three quarters of the variance of ``d``.

    Either side may be a list of embeddings of the same samples, one per
    trained model (training seeds of one recipe): its ARI is then the mean of
    its models' ARIs, on the whole set and on every half, so the interval
    covers the species drawn with the training seeds averaged.

    * ``difference``: ``ARI_a - ARI_b`` on all species.
    * ``interval``: a *level* confidence interval of that difference,
      ``difference - q`` for the quantiles *q* of ``d - mean(d)``: the
      delete-half jackknife. Half-samples are the one subsample size whose
      spread around the whole equals the sampling spread of the whole (a
      mean over ``m = n/2`` of *n* species varies around the full mean by
      ``(1/m - 1/n) s2 = s2/n``); the KMeans noise left after averaging is
      in ``d`` too, so the interval errs on the wide side.
    * ``spread``: the *level* range of ``d`` itself: what a community of
      ``n/2`` such species would show (wider).
    * ``wins``: the fraction of halves with ``d > 0``.

    Parameters
    ----------
    embeddings_a, embeddings_b
        ``(n_samples, n_features)`` arrays of the same samples (features may
        differ), or lists of such arrays (one per trained model).
    labels
        Species of every sample.
    draws : int
        Random halves.
    seed : int
        Seed of the halves (and offset of the halves' KMeans random states).
    level : float
        Coverage of the intervals.
    seeds : sequence of int
        KMeans random states of the whole set; every half uses as many, its own.
    n_init : int
        KMeans restarts per random state (the best inertia is kept).

    Returns
    -------
    dict
        ``difference``, ``interval``, ``spread``, ``wins``, ``ari_a``, ``ari_b``
        (means over each side's models), ``ari_a_runs``, ``ari_b_runs`` (one per
        model), ``n_species``, ``half``, ``draws``, ``level``, ``kmeans_seeds``.

    Raises
    ------
    DnalibError
        Mismatched sizes, fewer than 4 species, draws below 10, a level
        outside (0, 1) or no KMeans seeds.

    Notes
    -----
    It is :func:`clustering_halves` of each side, then
    :func:`paired_difference` of the two; call those to compare many models
    with one baseline (the baseline's halves clustered once).
    """
    runs_a = _model_runs(embeddings_a, labels, "a")
    runs_b = _model_runs(embeddings_b, labels, "b")
    if not 0 < level < 1:
        raise DnalibError(f"level must be between 0 and 1 (e.g. 0.95); got {level}")
    options = {"draws": draws, "seed": seed, "seeds": seeds, "n_init": n_init}
    return paired_difference(clustering_halves(runs_a, labels, **options),
                             clustering_halves(runs_b, labels, **options), level=level)


# --- taxonomic classification by rank (SCORPIO / MetaBERTa) ------------------------------

#: Classifier names understood by :func:`taxonomy_classification`.
CLASSIFIERS: tuple[str, ...] = ("knn", "rf")

_DEFAULT_RF = {"n_estimators": 100}


def _check_int_param(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise DnalibError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def usable_labels(
    labels: Sequence[Any] | np.ndarray | pd.Series,
    *,
    min_per_taxon: int = 10,
    placeholder_pattern: str | None = PLACEHOLDER_PATTERN,
) -> np.ndarray:
    """Which samples :func:`taxonomy_classification` keeps at one rank.

    A sample is dropped if its label is missing (NaN / None, or a string that
    fully matches ``placeholder_pattern``, case-insensitively, surrounding
    spaces ignored), or if fewer than ``min_per_taxon`` samples carry its
    (valid) label.  Counts are over samples, i.e. over fragments when the rows
    are fragments, as in MetaBERTa's evaluation.

    Parameters
    ----------
    labels
        One taxon label per sample.
    min_per_taxon
        Smallest number of samples a taxon needs to be kept (SCORPIO: 10).
    placeholder_pattern
        Regular expression of labels that mean "unknown" (default
        :data:`dnalib.labels.PLACEHOLDER_PATTERN`); ``None`` treats only NaN / None as missing.

    Returns
    -------
    numpy.ndarray
        Boolean mask, one entry per sample.

    Raises
    ------
    ~dnalib.errors.DnalibError
        If ``labels`` is not one-dimensional, ``min_per_taxon`` is not a
        positive integer or the pattern does not compile.

    Examples
    --------
    >>> usable_labels(["a", "a", "b", "unknown", None, "a"], min_per_taxon=2).tolist()
    [True, True, False, False, False, True]
    """
    min_per_taxon = _check_int_param("min_per_taxon", min_per_taxon, 1)
    valid = ~missing_labels(labels, placeholder_pattern)
    s = pd.Series(labels.to_numpy(dtype=object) if isinstance(labels, pd.Series)
                  else np.asarray(labels, dtype=object), dtype=object)
    counts = s[valid].value_counts()
    frequent = counts.index[counts >= min_per_taxon]
    return valid & s.isin(frequent).to_numpy()


def _make_classifiers(
    classifiers: Sequence[str] | Mapping[str, Any],
    *,
    knn_k: int,
    rf_params: Mapping[str, Any] | None,
    seed: int,
    n_jobs: int | None,
) -> dict[str, Any]:
    """Name -> unfitted scikit-learn estimator."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.neighbors import KNeighborsClassifier

    if isinstance(classifiers, Mapping):
        out = dict(classifiers)
        for name, est in out.items():
            if not (hasattr(est, "fit") and hasattr(est, "predict")):
                raise DnalibError(
                    f"classifier {name!r} is a {type(est).__name__}, not an estimator with fit/predict"
                )
        if not out:
            raise DnalibError("classifiers must name at least one classifier (e.g. 'knn', 'rf')")
        return out
    if isinstance(classifiers, str):
        classifiers = (classifiers,)
    out = {}
    for name in classifiers:
        if name == "knn":
            out[name] = KNeighborsClassifier(n_neighbors=knn_k, n_jobs=n_jobs)
        elif name == "rf":
            params = {
                **_DEFAULT_RF,
                "random_state": seed,
                "n_jobs": n_jobs,
                **dict(rf_params or {}),
            }
            try:
                out[name] = RandomForestClassifier(**params)
            except TypeError as exc:
                raise DnalibError(
                    f"rf_params has an unknown RandomForestClassifier argument: {exc}"
                ) from None
        else:
            raise DnalibError(
                f"unknown classifier {name!r}: use {', '.join(map(repr, CLASSIFIERS))} "
                "or pass a dict of name -> scikit-learn estimator"
            )
    if not out:
        raise DnalibError("classifiers must name at least one classifier (e.g. 'knn', 'rf')")
    return out


def _splitter(n_splits: int, test_size: float | None, grouped: bool, seed: int) -> Any:
    from sklearn.model_selection import (
        GroupShuffleSplit,
        StratifiedGroupKFold,
        StratifiedKFold,
        StratifiedShuffleSplit,
    )

    if test_size is None:
        cls = StratifiedGroupKFold if grouped else StratifiedKFold
        return cls(n_splits=n_splits, shuffle=True, random_state=seed)
    cls = GroupShuffleSplit if grouped else StratifiedShuffleSplit
    return cls(n_splits=n_splits, test_size=test_size, random_state=seed)


def _check_features(features: Any) -> np.ndarray:
    """*features* as a finite numeric 2-D array, or a one-line DnalibError."""
    if isinstance(features, pd.DataFrame):
        features = features.to_numpy()
    x = np.asarray(features)
    if x.dtype == object or not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise DnalibError(f"features must be a numeric 2-D array, got dtype {x.dtype}")
    if x.ndim != 2:
        raise DnalibError(
            f"features must be 2-D (n_samples, n_features), got shape {x.shape}; stack one row per sample"
        )
    if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
        raise DnalibError("features contain NaN or infinite values")
    return x


def _check_folds(folds: Any, features: Any) -> np.ndarray | None:
    """*folds* as an int array of ids ``0 .. F-1`` (each used), ``None`` if not given."""
    per_split = isinstance(features, list | tuple)
    if folds is None:
        if per_split:
            raise DnalibError("features given per fold need folds= (the test fold of every sample)")
        return None
    f = np.asarray(folds)
    if f.ndim != 1 or not np.issubdtype(f.dtype, np.integer) or (len(f) and f.min() < 0):
        raise DnalibError("folds must be one non-negative whole number per sample (the sample's test fold)")
    n_folds = int(f.max()) + 1 if len(f) else 0
    if n_folds < 2 or len(np.unique(f)) != n_folds:
        raise DnalibError(f"folds must use every id 0 .. F-1 with F >= 2; got ids {sorted(set(f.tolist()))[:10]}")
    if per_split and len(features) != n_folds:
        raise DnalibError(f"got features for {len(features)} folds but {n_folds} folds")
    return f


def grouped_folds(labels: Any, groups: Any, n_splits: int = 3, seed: int = 0) -> np.ndarray:
    """One test fold per sample, stratified by *labels* and grouped by *groups*.

    ``StratifiedGroupKFold``: all samples of a group (e.g. the tiles of one
    source sequence) share a fold, and every label is spread over the folds as
    evenly as the groups allow.  Pass the result as ``folds=`` to
    :func:`taxonomy_classification` so that every rank and every model are
    scored on the same splits.

    Parameters
    ----------
    labels
        One label per sample to stratify by (e.g. the finest rank; missing
        values count as one label of their own).
    groups
        One group per sample.
    n_splits : int
        Number of folds (at least 2).
    seed : int
        Seed of the shuffle.

    Returns
    -------
    numpy.ndarray
        ``int64`` fold ids ``0 .. n_splits-1``.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    n_splits = _check_int_param("n_splits", n_splits, 2)
    y = pd.Series(np.asarray(labels, dtype=object)).fillna("(none)").astype(str).to_numpy()
    g = pd.factorize(np.asarray(groups, dtype=object))[0]
    if len(y) != len(g):
        raise DnalibError(f"got {len(y)} labels but {len(g)} groups: give one of each per sample")
    if len(np.unique(g)) < n_splits:
        raise DnalibError(f"{len(np.unique(g))} groups cannot fill {n_splits} folds: lower n_splits")
    out = np.empty(len(y), dtype=np.int64)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*least populated class.*")
        splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
        for j, (_, test) in enumerate(splitter.split(np.zeros((len(y), 1)), y, g)):
            out[test] = j
    return out


def taxonomy_classification(
    features: Any,
    taxonomy: pd.DataFrame | pd.Series,
    ranks: str | Sequence[str] = ("phylum", "order", "genus"),
    *,
    classifiers: Sequence[str] | Mapping[str, Any] = CLASSIFIERS,
    groups: Sequence[Any] | np.ndarray | None = None,
    min_per_taxon: int = 10,
    placeholder_pattern: str | None = PLACEHOLDER_PATTERN,
    n_splits: int = 5,
    test_size: float | None = None,
    seed: int = 0,
    knn_k: int = 3,
    rf_params: Mapping[str, Any] | None = None,
    n_jobs: int | None = None,
    folds: Sequence[int] | np.ndarray | None = None,
) -> pd.DataFrame:
    """Taxonomic classification by rank: KNN and random forest, SCORPIO protocol.

    For every rank: drop samples whose label is missing or whose taxon has
    fewer than ``min_per_taxon`` samples (:func:`usable_labels`), split the
    rest with stratified cross-validation, fit every classifier on each
    training part and score its predictions on the held-out part (accuracy and
    macro-F1, the unweighted mean of the per-taxon F1, so rare taxa count as
    much as common ones).  Scores are averaged over the splits.

    Parameters
    ----------
    features
        Array-like of shape ``(n_samples, n_features)``: k-mer spectra
        (:func:`dnalib.kmers.kmer_spectrum`) or embeddings.  Not copied when it
        already is a NumPy array (float32 is fine).  With ``folds``, also a
        list of such arrays, one per fold: split ``j`` fits and predicts on
        ``features[j]`` (a model trained on the training part of split ``j``
        alone, so that no test sample shaped the features).
    taxonomy
        One row per sample, aligned by *position* with ``features`` (the index
        is ignored); one column per rank.  A Series is taken as one rank named
        after the Series.
    ranks
        Columns of ``taxonomy`` to classify, in output order.
    classifiers
        ``"knn"`` (k-nearest neighbours, ``knn_k`` neighbours, Euclidean
        distance) and / or ``"rf"`` (random forest, 100 trees unless
        ``rf_params`` says otherwise, ``random_state=seed``); or a dict of
        name -> scikit-learn classifier (cloned for every split).
    groups
        Optional group of every sample, e.g. the id of the sequence a fragment
        was cut from.  All samples of a group then stay on the same side of
        every split (``StratifiedGroupKFold``, or ``GroupShuffleSplit`` with
        ``test_size``, where ``test_size`` is a fraction of the groups).
        Without groups (default, as in SCORPIO / MetaBERTa) fragments of one
        source sequence can be in training and test at the same time.
    min_per_taxon
        Taxa with fewer samples are dropped, per rank (SCORPIO: 10).
    placeholder_pattern
        Labels that count as missing (:data:`dnalib.labels.PLACEHOLDER_PATTERN`; ``None``:
        only NaN / None).
    n_splits
        Number of folds (stratified k-fold, default 5), or with ``test_size``
        the number of random train / test splits.
    test_size
        ``None`` (default): k-fold cross-validation.  A fraction in (0, 1):
        ``n_splits`` stratified random hold-out splits of that test size;
        ``n_splits=1, test_size=0.1`` is MetaBERTa's single 90 / 10 split.
    seed
        Seed of the splits and of the random forest.
    knn_k
        Neighbours of the KNN classifier (SCORPIO: 3).
    rf_params
        Extra ``RandomForestClassifier`` arguments (e.g. ``{"n_estimators": 200}``).
    n_jobs
        Parallel jobs of KNN and the random forest (``None``: one, ``-1``: all
        cores).
    folds
        Optional test fold of every sample, ``0 .. F-1`` (e.g. from
        :func:`grouped_folds`): split ``j`` holds out fold ``j``, at every rank,
        replacing ``n_splits``, ``test_size``, ``groups`` and the splitter.  The
        same folds for every model make their per-split scores paired.

    Returns
    -------
    pandas.DataFrame
        One row per (rank, classifier), in the order given: ``rank``,
        ``classifier``, ``accuracy``, ``accuracy_std``, ``macro_f1``,
        ``macro_f1_std`` (mean and standard deviation over splits),
        ``n_samples`` and ``n_taxa`` (kept at that rank), ``n_dropped``
        (samples dropped by the filter), ``n_splits``, ``accuracy_splits``
        (the accuracy of every split, in split order) and ``seconds``
        (wall-clock time of fitting and predicting, summed over splits).

    Raises
    ------
    ~dnalib.errors.DnalibError
        If the features are not a finite 2-D numeric array, ``taxonomy`` or
        ``groups`` do not have one row per sample, a rank is not a column, an
        argument is out of range, a classifier is unknown, or fewer than two
        taxa (or too few samples for the splits) remain at a rank.

    Notes
    -----
    *Leakage between fragments.*  When the samples are fragments of longer
    sequences, a random split puts other fragments of a test fragment's source
    sequence into the training set.  For *non-overlapping* fragments of a 16S
    gene these are other regions of the gene, and the classifier gains little
    from them: the bigger help comes from near-identical reference sequences
    of the same species, which no split can separate.  SCORPIO and MetaBERTa
    split fragments at random, so that is the default here (faithful
    replication); pass ``groups`` to measure the difference, which chapter 2
    of the book does on DAIRYdb.

    *Memory.*  scikit-learn's random forest keeps a class distribution in every
    tree node; with about a thousand taxa (DAIRYdb genera) and tens of
    thousands of samples that is tens of GB.  Subsample, use fewer trees or
    limit the tree size (``rf_params={"min_samples_leaf": 2}``).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = np.repeat(np.eye(3), 10, axis=0) + rng.normal(0, 0.01, (30, 3))
    >>> tax = pd.DataFrame({"genus": np.repeat(["a", "b", "c"], 10)})
    >>> table = taxonomy_classification(x, tax, "genus", classifiers=["knn"])
    >>> table[["rank", "classifier", "accuracy", "n_taxa"]].to_dict("records")
    [{'rank': 'genus', 'classifier': 'knn', 'accuracy': 1.0, 'n_taxa': 3}]
    """
    from sklearn.base import clone
    from sklearn.metrics import accuracy_score, f1_score

    # --- validate ------------------------------------------------------------------
    fold_ids = _check_folds(folds, features)
    per_split = isinstance(features, list | tuple)
    if per_split:
        xs = [_check_features(f) for f in features]
        if len({f.shape for f in xs}) != 1:
            raise DnalibError(f"per-fold features differ in shape: {sorted({f.shape for f in xs})}")
        x = xs[0]
    else:
        x = _check_features(features)
        xs = [x]
    n = x.shape[0]
    if isinstance(taxonomy, pd.Series):
        taxonomy = taxonomy.to_frame(name=taxonomy.name if taxonomy.name is not None else "label")
    if not isinstance(taxonomy, pd.DataFrame):
        raise DnalibError(
            f"taxonomy must be a pandas DataFrame with one column per rank, got {type(taxonomy).__name__}"
        )
    if len(taxonomy) != n:
        raise DnalibError(
            f"got {n} feature rows but {len(taxonomy)} taxonomy rows: give one taxonomy row per sample"
        )
    ranks = [ranks] if isinstance(ranks, str) else list(ranks)
    if not ranks:
        raise DnalibError("ranks must name at least one taxonomy column")
    missing = [r for r in ranks if r not in taxonomy.columns]
    if missing:
        raise DnalibError(
            f"rank(s) {missing} not in taxonomy columns {list(map(str, taxonomy.columns))}"
        )
    if fold_ids is not None and len(fold_ids) != n:
        raise DnalibError(f"got {n} feature rows but {len(fold_ids)} folds: give one fold per sample")
    min_per_taxon = _check_int_param("min_per_taxon", min_per_taxon, 1)
    knn_k = _check_int_param("knn_k", knn_k, 1)
    seed = _check_int_param("seed", seed, 0)
    if fold_ids is not None:  # the folds say how many splits there are
        n_splits, test_size, groups = int(fold_ids.max()) + 1, None, None
    if test_size is None:
        n_splits = _check_int_param("n_splits", n_splits, 2)
        if min_per_taxon < n_splits:
            raise DnalibError(
                f"min_per_taxon={min_per_taxon} is below n_splits={n_splits}: every kept taxon "
                "needs a sample in each fold; raise min_per_taxon or lower n_splits"
            )
    else:
        n_splits = _check_int_param("n_splits", n_splits, 1)
        if (
            isinstance(test_size, bool)
            or not isinstance(test_size, float | int)
            or not 0 < test_size < 1
        ):
            raise DnalibError(
                f"test_size must be a fraction between 0 and 1 (e.g. 0.1), got {test_size!r}"
            )
        if min_per_taxon < 2 and groups is None:
            raise DnalibError("a stratified hold-out split needs min_per_taxon >= 2")
    if groups is not None:
        g = groups.to_numpy() if isinstance(groups, pd.Series) else np.asarray(groups)
        if g.ndim != 1 or len(g) != n:
            raise DnalibError(
                f"got {n} feature rows but groups of shape {g.shape}: give one group per sample"
            )
        if pd.isna(g).any():
            raise DnalibError("groups contain missing values: give every sample a group id")
        g = pd.factorize(g)[0]
    else:
        g = None
    models = _make_classifiers(
        classifiers, knn_k=knn_k, rf_params=rf_params, seed=seed, n_jobs=n_jobs
    )

    # --- evaluate ------------------------------------------------------------------
    rows: list[dict[str, Any]] = []
    for rank in ranks:
        labels = taxonomy[rank].to_numpy(dtype=object)
        keep = usable_labels(
            labels, min_per_taxon=min_per_taxon, placeholder_pattern=placeholder_pattern
        )
        y, taxa = pd.factorize(pd.Series(labels[keep], dtype=object))
        if len(taxa) < 2:
            raise DnalibError(
                f"rank {rank!r}: {len(taxa)} taxon left after dropping missing labels and taxa with "
                f"< {min_per_taxon} samples; classification needs at least 2 (lower min_per_taxon?)"
            )
        xrs = [f if keep.all() else f[keep] for f in xs]
        gr = None if g is None else g[keep]
        if fold_ids is not None:
            fr = fold_ids[keep]
            splits = [(np.flatnonzero(fr != j), np.flatnonzero(fr == j)) for j in range(n_splits)]
            empty = [j for j, (train, test) in enumerate(splits) if len(test) == 0 or len(train) == 0]
            if empty:
                raise DnalibError(f"rank {rank!r}: fold(s) {empty} hold none (or all) of its {len(y)} usable "
                                  "samples; use fewer folds")
        else:
            splitter = _splitter(n_splits, test_size, gr is not None, seed)
            try:
                splits = list(splitter.split(np.zeros((len(y), 1)), y, gr))
            except ValueError as exc:
                raise DnalibError(
                    f"rank {rank!r}: cannot split {len(y)} samples of {len(taxa)} taxa: {exc}"
                ) from None
        for name, model in models.items():
            acc, f1 = [], []
            t0 = time.perf_counter()
            for j, (train, test) in enumerate(splits):
                xr = xrs[j if per_split else 0]
                est = clone(model).fit(xr[train], y[train])
                pred = est.predict(xr[test])
                acc.append(accuracy_score(y[test], pred))
                f1.append(f1_score(y[test], pred, average="macro", zero_division=0))
            rows.append(
                {
                    "rank": rank,
                    "classifier": name,
                    "accuracy": float(np.mean(acc)),
                    "accuracy_std": float(np.std(acc)),
                    "macro_f1": float(np.mean(f1)),
                    "macro_f1_std": float(np.std(f1)),
                    "n_samples": int(len(y)),
                    "n_taxa": int(len(taxa)),
                    "n_dropped": int(n - len(y)),
                    "n_splits": len(splits),
                    "accuracy_splits": [float(a) for a in acc],
                    "seconds": time.perf_counter() - t0,
                }
            )
    return pd.DataFrame(rows)


# --- few-shot classification (DNABERT-S) ---------------------------------------------------

#: Shots per class of the DNABERT-S few-shot protocol.
FEWSHOT_K: tuple[int, ...] = (1, 2, 5, 10, 20)




def fewshot_classification(
    embeddings: Any,
    labels: Sequence[Any] | np.ndarray,
    *,
    shots: Sequence[int] = FEWSHOT_K,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    max_iter: int = 1000,
) -> pd.DataFrame:
    """Few-shot classification: k labelled samples per class, DNABERT-S protocol.

    For every k and seed, k samples of every class are drawn at random for
    training and all the others are the test set; a ``StandardScaler`` +
    ``LogisticRegression`` is fitted and scored by macro-F1 (and accuracy).
    Classes with at most k samples (nothing left to test) are left out at that
    k, and the row says how many classes were used.

    Parameters
    ----------
    embeddings
        Array-like ``(n_samples, n_features)``.
    labels
        Class (species) of every sample.
    shots
        Values of k.
    seeds
        One draw of the training samples per seed.
    max_iter
        Logistic-regression iteration limit.

    Returns
    -------
    pandas.DataFrame
        One row per k: ``k``, ``macro_f1``, ``macro_f1_std``, ``accuracy``,
        ``accuracy_std`` (over seeds), ``n_classes``, ``n_test``, ``seeds``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y, n_missing = _embeddings_and_labels(embeddings, labels, "few-shot classification")
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise DnalibError("seeds must name at least one random state")
    classes, counts = np.unique(y, return_counts=True)
    rows = []
    for k in shots:
        k = _check_int_param("every k of shots", k, 1)
        usable = classes[counts > k]
        if len(usable) < 2:
            raise DnalibError(
                f"k={k}: only {len(usable)} class(es) have more than {k} samples; few-shot "
                "classification needs at least 2 (use smaller k or more samples per class)"
            )
        f1s, accs, n_test = [], [], 0
        for seed in seeds:
            rng = np.random.default_rng(seed)
            train_idx, test_idx = [], []
            for c in usable:
                idx = rng.permutation(np.flatnonzero(y == c))
                train_idx.extend(idx[:k])
                test_idx.extend(idx[k:])
            model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter))
            model.fit(x[train_idx], y[train_idx])
            pred = model.predict(x[test_idx])
            f1s.append(f1_score(y[test_idx], pred, average="macro", zero_division=0))
            accs.append(accuracy_score(y[test_idx], pred))
            n_test = len(test_idx)
        rows.append({"k": k, "macro_f1": float(np.mean(f1s)), "macro_f1_std": float(np.std(f1s)),
                     "accuracy": float(np.mean(accs)), "accuracy_std": float(np.std(accs)),
                     "n_classes": int(len(usable)), "n_test": int(n_test), "seeds": seeds,
                     "missing_labels": n_missing})
    return pd.DataFrame(rows)


# --- metagenomic binning (DNABERT-S modified K-medoid) -------------------------------------


def binning_threshold(embeddings: Any, labels: Sequence[Any] | np.ndarray,
                      percentile: float = 70.0) -> float:
    """Similarity threshold gamma for :func:`kmedoid_bins`, calibrated on labelled data.

    The embeddings are L2-normalised; every sequence's dot product with the
    mean of its class's normalised embeddings (the mean itself is not
    re-normalised, as in the DNABERT-S evaluation code) is computed, and gamma
    is the *percentile*-th percentile of these similarities (DNABERT-S: 70).

    Parameters
    ----------
    embeddings
        Array-like ``(n_samples, n_features)`` of a labelled calibration set.
    labels
        Class of every sample.
    percentile
        Percentile in [0, 100].

    Returns
    -------
    float
    """
    x, y, _ = _embeddings_and_labels(embeddings, labels, "the binning threshold")
    if not 0 <= percentile <= 100:
        raise DnalibError(f"percentile must be in [0, 100], got {percentile}")
    x = _unit_rows(x)
    sims = np.empty(len(y))
    for c in np.unique(y):
        members = y == c
        sims[members] = x[members] @ x[members].mean(0)
    return float(np.percentile(sims, percentile))


def kmedoid_bins(embeddings: Any, threshold: float, *, min_bin_size: int = 10,
                 refinements: int = 3) -> np.ndarray:
    """Bin sequences with the modified K-medoid algorithm of DNABERT-S.

    With X the L2-normalised embeddings and S = X Xᵀ (entries below
    *threshold* set to 0), every sequence's score is its row sum of S. Until
    no sequence is left: the unbinned sequence of highest score seeds a bin
    with centre m; *refinements* times, the members become the unbinned
    sequences with ``X · m >= threshold`` and m their mean; the members form a
    new bin and their columns of S are subtracted from the scores. Bins with
    fewer than *min_bin_size* members are dissolved (label -1). The number of
    bins is not given: it follows from the threshold.

    Parameters
    ----------
    embeddings
        Array-like ``(n_samples, n_features)``.
    threshold : float
        Cosine-similarity threshold gamma (see :func:`binning_threshold`).
    min_bin_size : int
        Smallest bin kept.
    refinements : int
        Centre updates per bin.

    Returns
    -------
    numpy.ndarray
        ``(n_samples,)`` int bin labels ``0, 1, ...``; -1 for unbinned.
    """
    x = _embedding_matrix(embeddings)
    _check_int_param("min_bin_size", min_bin_size, 1)
    _check_int_param("refinements", refinements, 1)
    x = _unit_rows(x)
    s = x @ x.T
    s[s < threshold] = 0.0
    score = s.sum(1)
    labels = np.full(len(x), -1, dtype=np.int64)
    unbinned = np.ones(len(x), dtype=bool)
    next_bin = 0
    while unbinned.any():
        i = int(np.flatnonzero(unbinned)[np.argmax(score[unbinned])])
        centre = x[i]
        members = np.array([i])
        for _ in range(refinements):
            found = np.flatnonzero(unbinned & (x @ centre >= threshold))
            if len(found):
                members = found
            centre = x[members].mean(0)
        members = np.union1d(members, [i])  # the seed always leaves the pool
        labels[members] = next_bin
        unbinned[members] = False
        score -= s[:, members].sum(1)
        next_bin += 1
    sizes = np.bincount(labels, minlength=next_bin)
    small = sizes[labels] < min_bin_size
    labels[small] = -1
    kept = np.unique(labels[labels >= 0])
    remap = np.full(next_bin, -1, dtype=np.int64)
    remap[kept] = np.arange(len(kept))
    return np.where(labels >= 0, remap[np.maximum(labels, 0)], -1)


def binning_scores(
    embeddings: Any,
    labels: Sequence[Any] | np.ndarray,
    *,
    threshold: float | None = None,
    min_bin_size: int = 10,
    min_per_species: int = 10,
) -> dict[str, Any]:
    """Metagenomic binning scored against the species, DNABERT-S protocol.

    Species with fewer than *min_per_species* sequences are dropped first
    (the caller keeps only sequences of at least 2.5 kbp, as DNABERT-S does).
    The sequences are binned with :func:`kmedoid_bins`; bins are matched to
    species one-to-one by the Hungarian algorithm on the species x bin count
    matrix (maximising the matched sequences). As in the DNABERT-S evaluation,
    the scores are computed over the *binned* sequences: for every species,
    precision is its matched count over the size of its bin, recall the
    matched count over its binned sequences, F1 their harmonic mean (0 for an
    unmatched species); ``unbinned_fraction`` reports what was left out.

    Parameters
    ----------
    embeddings
        Array-like ``(n_samples, n_features)``.
    labels
        Species of every sample.
    threshold : float, optional
        Similarity threshold (default: :func:`binning_threshold` on these
        labelled data, the calibration DNABERT-S used).
    min_bin_size : int
        Smallest bin kept.
    min_per_species : int
        Species with fewer sequences are left out.

    Returns
    -------
    dict
        ``f1_ge_0.5`` and ``f1_ge_0.9`` (numbers of species), ``recall_ge_0.5``,
        ``recall_ge_0.9``, ``mean_f1``, ``n_species``, ``n_bins``,
        ``unbinned_fraction``, ``threshold`` and ``per_species`` (a table).
    """
    from scipy.optimize import linear_sum_assignment

    x, y, n_missing = _embeddings_and_labels(embeddings, labels, "binning")
    species, counts = np.unique(y, return_counts=True)
    keep_species = species[counts >= min_per_species]
    if len(keep_species) < 2:
        raise DnalibError(
            f"only {len(keep_species)} species have at least {min_per_species} sequences; binning "
            "needs at least 2 (lower min_per_species or add sequences)"
        )
    keep = np.isin(y, keep_species)
    x, y = x[keep], y[keep]
    gamma = binning_threshold(x, y) if threshold is None else float(threshold)
    bins = kmedoid_bins(x, gamma, min_bin_size=min_bin_size)
    sp_index = {s: i for i, s in enumerate(keep_species)}
    n_bins = int(bins.max()) + 1 if (bins >= 0).any() else 0
    counts_mat = np.zeros((len(keep_species), max(n_bins, 1)), dtype=np.int64)
    binned = bins >= 0
    np.add.at(counts_mat, (np.array([sp_index[s] for s in y[binned]], dtype=np.int64), bins[binned]), 1)
    rows, cols = linear_sum_assignment(-counts_mat)
    bin_sizes = np.bincount(bins[binned], minlength=max(n_bins, 1))
    species_sizes = np.array([(y == s).sum() for s in keep_species])
    binned_sizes = counts_mat.sum(1)
    f1 = np.zeros(len(keep_species))
    precision = np.zeros(len(keep_species))
    recall = np.zeros(len(keep_species))
    for r, c in zip(rows, cols, strict=True):
        matched = counts_mat[r, c]
        if matched == 0:
            continue
        precision[r] = matched / bin_sizes[c]
        recall[r] = matched / binned_sizes[r]
        f1[r] = 2 * precision[r] * recall[r] / (precision[r] + recall[r])
    table = pd.DataFrame({"species": keep_species, "n": species_sizes, "n_binned": binned_sizes,
                          "precision": precision,
                          "recall": recall, "f1": f1})
    return {
        "f1_ge_0.5": int((f1 >= 0.5).sum()),
        "f1_ge_0.9": int((f1 >= 0.9).sum()),
        "recall_ge_0.5": int((recall >= 0.5).sum()),
        "recall_ge_0.9": int((recall >= 0.9).sum()),
        "mean_f1": float(f1.mean()),
        "n_species": int(len(keep_species)),
        "n_bins": n_bins,
        "unbinned_fraction": float((~binned).mean()),
        "threshold": gamma,
        "per_species": table,
        "missing_labels": n_missing,
    }


# --- everything at once --------------------------------------------------------------------

#: Task names of :func:`evaluate_embeddings`, in order.
TASKS: tuple[str, ...] = ("clustering", "fewshot", "binning", "taxonomy")

#: DNABERT-S bins only sequences of at least this length.
BINNING_MIN_LENGTH = 2500


def evaluate_embeddings(
    embeddings: Any,
    taxonomy: pd.DataFrame,
    *,
    tasks: Sequence[str] = TASKS,
    lengths: Sequence[int] | None = None,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    ranks: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Run embeddings through the evaluation tasks: one call, one tidy table.

    Parameters
    ----------
    embeddings
        ``(n_samples, n_features)`` embeddings or features.
    taxonomy : pandas.DataFrame
        One row per sample (aligned by position), with a ``species`` column
        and optionally other rank columns.
    tasks
        Any of :data:`TASKS`: ``clustering`` (:func:`clustering_scores`),
        ``fewshot`` (:func:`fewshot_classification`), ``binning``
        (:func:`binning_scores`, threshold calibrated on these labelled
        embeddings, only samples of at least 2.5 kbp when *lengths* is given)
        and ``taxonomy`` (:func:`taxonomy_classification` at *ranks*).
    lengths
        Sequence length of every sample (for the binning length filter).
    seeds
        Seeds of KMeans and of the few-shot draws.
    ranks
        Ranks for the taxonomy task (default: every rank column above
        species that has at least two taxa).

    Returns
    -------
    dict
        ``table`` (a DataFrame with columns ``task``, ``setting``, ``metric``,
        ``value``), and one entry per task with its full result (JSON-ready:
        numbers, lists and dicts), ``seeds``, ``skipped`` (task -> reason) and
        ``missing_species_labels``: samples whose species label is missing
        (:func:`dnalib.labels.missing_labels`), left out of every task.
    """
    bad = [t for t in tasks if t not in TASKS]
    if bad or not tasks:
        raise DnalibError(f"tasks must be among {', '.join(TASKS)}; got {list(tasks)}")
    if not isinstance(taxonomy, pd.DataFrame) or "species" not in taxonomy.columns:
        raise DnalibError("taxonomy must be a DataFrame with a 'species' column, one row per sample")
    missing = missing_labels(taxonomy["species"].to_numpy(dtype=object))
    if missing.any():  # never a species of their own: left out of every task, and counted
        embeddings = _embedding_matrix(embeddings)
        if len(embeddings) != len(taxonomy):
            raise DnalibError(f"got {len(embeddings)} embeddings but {len(taxonomy)} label rows: "
                              "give exactly one label row per embedding row")
        embeddings, taxonomy = embeddings[~missing], taxonomy[~missing]
        if lengths is not None:
            lengths = np.asarray(lengths)[~missing]
    x, species, _ = _embeddings_and_labels(embeddings, taxonomy["species"].astype(str).to_numpy(),
                                           "evaluation")
    seeds = [int(s) for s in seeds]
    rows: list[dict[str, Any]] = []
    out: dict[str, Any] = {"seeds": seeds, "skipped": {}, "n_samples": int(len(x)),
                           "n_species": int(len(np.unique(species))),
                           "missing_species_labels": int(missing.sum())}
    if "clustering" in tasks:
        res = clustering_scores(x, species, seeds=seeds)
        out["clustering"] = {k: res[k] for k in ("ari", "ari_std", "nmi", "nmi_std", "per_seed")}
        rows += [{"task": "clustering", "setting": "kmeans", "metric": m, "value": res[m]}
                 for m in ("ari", "nmi")]
    if "fewshot" in tasks:
        counts = pd.Series(species).value_counts()
        shots = [k for k in FEWSHOT_K if (counts > k).sum() >= 2]
        if not shots:
            out["skipped"]["fewshot"] = "fewer than 2 species with more than 1 sample"
        else:
            table = fewshot_classification(x, species, shots=shots, seeds=seeds)
            out["fewshot"] = table.to_dict(orient="records")
            rows += [{"task": "fewshot", "setting": f"k={r['k']}", "metric": m, "value": r[m]}
                     for r in out["fewshot"] for m in ("macro_f1", "accuracy")]
    if "binning" in tasks:
        keep = np.ones(len(x), dtype=bool)
        if lengths is not None:
            keep = np.asarray(lengths) >= BINNING_MIN_LENGTH
        try:
            res = binning_scores(x[keep], species[keep])
        except DnalibError as exc:
            out["skipped"]["binning"] = (f"{exc} (only sequences >= {BINNING_MIN_LENGTH} bp are binned)"
                                         if lengths is not None else str(exc))
        else:
            res = dict(res, per_species=res["per_species"].to_dict(orient="records"))
            out["binning"] = res
            rows += [{"task": "binning", "setting": "kmedoid", "metric": m, "value": res[m]}
                     for m in ("f1_ge_0.5", "f1_ge_0.9", "recall_ge_0.5", "recall_ge_0.9", "mean_f1")]
    if "taxonomy" in tasks:
        if ranks is None:
            order = [r for r in ("superkingdom", "phylum", "class", "order", "family", "genus")
                     if r in taxonomy.columns]
            ranks = [r for r in order if taxonomy[r].nunique() >= 2]
        try:
            if not ranks:
                raise DnalibError("no rank above species with at least two taxa")
            table = taxonomy_classification(x, taxonomy.reset_index(drop=True), list(ranks),
                                            min_per_taxon=min(10, int(len(x) // 10) or 1))
        except DnalibError as exc:
            out["skipped"]["taxonomy"] = str(exc)
        else:
            out["taxonomy"] = table.drop(columns=["seconds"]).to_dict(orient="records")
            rows += [{"task": "taxonomy", "setting": f"{r['rank']}/{r['classifier']}", "metric": m,
                      "value": r[m]} for r in out["taxonomy"] for m in ("accuracy", "macro_f1")]
    out["table"] = pd.DataFrame(rows, columns=["task", "setting", "metric", "value"])
    return out


def pipeline_runs(results: Any = "results") -> pd.DataFrame:
    """The full-pipeline runs recorded in *results* (``pipeline_*.json``), one row each.

    ``benchmarks/pipeline.py`` writes these records (simulate, pretrain,
    curriculum, evaluate; timed, with MFU and ARIs). Chapter 8 and the
    instructors page show this table.

    Parameters
    ----------
    results : str or path-like
        The results directory.

    Returns
    -------
    pandas.DataFrame
        Indexed by record file name: profile, hardware, minutes, pretraining
        MFU (None without a known peak), tokens/s, the model's and TNF's ARI on
        the synthetic evaluation species and on kmcp15 (None when that
        evaluation was skipped), commit, complete. Empty when none is recorded.

    Raises
    ------
    DnalibError
        If a record cannot be read (names the file).
    """
    import json
    from pathlib import Path

    rows = []
    for path in sorted(Path(results).glob("pipeline_*.json")):
        try:
            r = json.loads(path.read_text())
            syn = r["evaluation"]["synthetic"]["ari"]
            real = r["evaluation"].get("kmcp15", {}).get("ari", {})
            rows.append({
                "record": path.name, "profile": r["profile"],
                "hardware": r["hardware"].get("gpu", r["hardware"].get("processor")),
                "minutes": r["total_seconds"] / 60, "pretraining MFU": r.get("mfu"),
                "tokens/s": r.get("tokens_per_s"), "synthetic ARI": syn["model"],
                "synthetic TNF": syn["TNF"], "kmcp15 ARI": real.get("model"),
                "kmcp15 TNF": real.get("TNF"), "commit": str(r.get("commit", ""))[:8],
                "complete": bool(r.get("complete")),
            })
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise DnalibError(f"{path} is not a readable pipeline record ({err!r}): "
                              "write it again with benchmarks/pipeline.py") from err
    columns = ["profile", "hardware", "minutes", "pretraining MFU", "tokens/s", "synthetic ARI",
               "synthetic TNF", "kmcp15 ARI", "kmcp15 TNF", "commit", "complete"]
    if not rows:
        return pd.DataFrame(columns=columns).rename_axis("record")
    return pd.DataFrame(rows).set_index("record")[columns]
