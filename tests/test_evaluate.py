"""Tests for dnalib.evaluate: taxonomic classification by rank (and the clustering protocol)."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from dnalib.errors import DnalibError
from dnalib.evaluate import (
    PLACEHOLDER_PATTERN,
    clustering_scores,
    taxonomy_classification,
    usable_labels,
)

SCORE_COLUMNS = ["accuracy", "accuracy_std", "macro_f1", "macro_f1_std"]


def _separable(n_per_taxon: int = 12, n_genera: int = 4, seed: int = 0):
    """Features with one well-separated cluster per genus; phyla group two genera each."""
    rng = np.random.default_rng(seed)
    centers = np.eye(n_genera, 8) * 10
    genus = np.repeat([f"g{i}" for i in range(n_genera)], n_per_taxon)
    x = np.repeat(centers, n_per_taxon, axis=0) + rng.normal(0, 0.1, (len(genus), 8))
    phylum = np.repeat([f"p{i // 2}" for i in range(n_genera)], n_per_taxon)
    return x.astype(np.float32), pd.DataFrame({"phylum": phylum, "genus": genus})


def _noisy(n: int = 300, seed: int = 0):
    """Overlapping classes: scores strictly between chance and 1."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    x = rng.normal(0, 1, (n, 6)) + y[:, None] * 0.6
    return x, pd.DataFrame({"genus": [f"g{v}" for v in y]})


def test_separable_features_score_one():
    x, tax = _separable()
    table = taxonomy_classification(x, tax, ["phylum", "genus"], n_jobs=1)
    assert list(table["rank"]) == ["phylum", "phylum", "genus", "genus"]
    assert list(table["classifier"]) == ["knn", "rf", "knn", "rf"]
    assert np.allclose(table["accuracy"], 1.0)
    assert np.allclose(table["macro_f1"], 1.0)
    assert np.allclose(table["accuracy_std"], 0.0)
    assert list(table["n_taxa"]) == [2, 2, 4, 4]
    assert (table["n_samples"] == 48).all() and (table["n_dropped"] == 0).all()
    assert (table["n_splits"] == 5).all()
    assert set(SCORE_COLUMNS + ["seconds"]) <= set(table.columns)


def test_noisy_features_score_between_chance_and_one():
    x, tax = _noisy()
    table = taxonomy_classification(x, tax, "genus", rf_params={"n_estimators": 30})
    assert ((table["accuracy"] > 0.35) & (table["accuracy"] < 0.95)).all()
    assert ((table["macro_f1"] > 0.3) & (table["macro_f1"] < 0.95)).all()
    assert (table["accuracy_std"] > 0).all()


def test_min_per_taxon_drops_rare_taxa():
    x, tax = _separable(n_per_taxon=12)
    # make genus g3 rare: keep only 4 of its samples
    rows = np.r_[0:40]
    x, tax = x[rows], tax.iloc[rows].reset_index(drop=True)
    table = taxonomy_classification(x, tax, "genus", classifiers=["knn"], min_per_taxon=10)
    assert table.loc[0, "n_taxa"] == 3
    assert table.loc[0, "n_samples"] == 36 and table.loc[0, "n_dropped"] == 4
    low = taxonomy_classification(
        x, tax, "genus", classifiers=["knn"], min_per_taxon=4, n_splits=4
    )
    assert low.loc[0, "n_taxa"] == 4 and low.loc[0, "n_dropped"] == 0


def test_filter_is_applied_per_rank():
    x, tax = _separable(n_per_taxon=6)  # genera of 6 samples, phyla of 12
    table = taxonomy_classification(
        x, tax.assign(genus=tax["genus"]), ["phylum"], classifiers=["knn"], min_per_taxon=10
    )
    assert table.loc[0, "n_taxa"] == 2 and table.loc[0, "n_samples"] == 24
    with pytest.raises(DnalibError, match="rank 'genus': 0 taxon left"):
        taxonomy_classification(x, tax, ["phylum", "genus"], classifiers=["knn"])


def test_missing_and_placeholder_labels_are_dropped():
    labels = ["a", "A", "b", None, np.nan, "", "  ", "unknown", "Unclassified", "NA", "x_Genus"]
    mask = usable_labels(labels, min_per_taxon=1)
    assert mask.tolist() == [True, True, True] + [False] * 7 + [True]
    assert usable_labels(labels, min_per_taxon=1, placeholder_pattern=None).tolist() == [
        True, True, True, False, False, True, True, True, True, True, True,
    ]  # fmt: skip
    strict = PLACEHOLDER_PATTERN + r"|.*_genus"
    assert not usable_labels(["x_Genus"], min_per_taxon=1, placeholder_pattern=strict)[0]
    # placeholders do not count towards the size of a real taxon
    assert usable_labels(["a", "a", "unknown"], min_per_taxon=2).tolist() == [True, True, False]


def test_placeholders_are_dropped_in_classification():
    x, tax = _separable()
    tax.loc[:5, "genus"] = "unknown"
    tax.loc[6:8, "genus"] = np.nan
    table = taxonomy_classification(x, tax, "genus", classifiers=["knn"], min_per_taxon=3, n_splits=3)
    assert table.loc[0, "n_dropped"] == 9 and table.loc[0, "n_taxa"] == 4


def test_deterministic_with_seed():
    x, tax = _noisy()
    kw = dict(rf_params={"n_estimators": 20}, n_jobs=2)
    a = taxonomy_classification(x, tax, "genus", seed=3, **kw)
    b = taxonomy_classification(x, tax, "genus", seed=3, **kw)
    c = taxonomy_classification(x, tax, "genus", seed=4, **kw)
    pd.testing.assert_frame_equal(a[SCORE_COLUMNS], b[SCORE_COLUMNS])
    assert not np.allclose(a[SCORE_COLUMNS].to_numpy(), c[SCORE_COLUMNS].to_numpy())


def test_holdout_split_and_groups():
    x, tax = _noisy(400)
    hold = taxonomy_classification(
        x, tax, "genus", classifiers=["knn"], n_splits=1, test_size=0.1, seed=42
    )
    assert hold.loc[0, "n_splits"] == 1 and hold.loc[0, "accuracy_std"] == 0
    groups = np.arange(400) // 4  # 4 "fragments" per source sequence
    grouped = taxonomy_classification(x, tax, "genus", classifiers=["knn"], groups=groups)
    assert 0.3 < grouped.loc[0, "accuracy"] < 1
    grouped_hold = taxonomy_classification(
        x, tax, "genus", classifiers=["knn"], groups=groups, n_splits=2, test_size=0.2
    )
    assert grouped_hold.loc[0, "n_splits"] == 2


def test_groups_keep_duplicates_out_of_the_test_fold():
    # every sample duplicated, random labels: without groups 1-NN finds the twin
    # whenever it is in the training folds (~80% of the time); with groups never
    rng = np.random.default_rng(1)
    base = rng.normal(0, 1, (60, 5))
    y = np.array([f"t{i % 3}" for i in range(60)])
    x = np.repeat(base, 2, axis=0)
    tax = pd.DataFrame({"genus": np.repeat(y, 2)})
    leak = taxonomy_classification(x, tax, "genus", classifiers=["knn"], knn_k=1)
    fair = taxonomy_classification(
        x, tax, "genus", classifiers=["knn"], knn_k=1, groups=np.repeat(np.arange(60), 2)
    )
    assert leak.loc[0, "accuracy"] > 0.8
    assert fair.loc[0, "accuracy"] < 0.6


def test_custom_classifiers_and_series_taxonomy():
    x, tax = _separable()
    table = taxonomy_classification(
        x, tax["genus"], "genus", classifiers={"logreg": LogisticRegression(max_iter=200)}
    )
    assert table.loc[0, "classifier"] == "logreg" and table.loc[0, "accuracy"] == 1.0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda x, t: taxonomy_classification(x[0], t), "2-D"),
        (lambda x, t: taxonomy_classification(x, t.iloc[:-1]), "taxonomy rows"),
        (lambda x, t: taxonomy_classification(x, t, "species"), "not in taxonomy columns"),
        (lambda x, t: taxonomy_classification(x, t, []), "at least one"),
        (lambda x, t: taxonomy_classification(x, t["genus"].to_numpy()), "DataFrame"),
        (lambda x, t: taxonomy_classification(np.full_like(x, np.nan), t, "genus"), "NaN"),
        (lambda x, t: taxonomy_classification(x.astype(str), t, "genus"), "numeric"),
        (lambda x, t: taxonomy_classification(x, t, "genus", groups=[1, 2]), "groups"),
        (lambda x, t: taxonomy_classification(x, t, "genus", classifiers=["svm"]), "unknown classifier"),
        (lambda x, t: taxonomy_classification(x, t, "genus", classifiers=[]), "at least one"),
        (lambda x, t: taxonomy_classification(x, t, "genus", min_per_taxon=0), "min_per_taxon"),
        (lambda x, t: taxonomy_classification(x, t, "genus", min_per_taxon=3), "n_splits"),
        (lambda x, t: taxonomy_classification(x, t, "genus", n_splits=1), "n_splits"),
        (lambda x, t: taxonomy_classification(x, t, "genus", test_size=1.5), "test_size"),
        (lambda x, t: taxonomy_classification(x, t, "genus", knn_k=0), "knn_k"),
        (lambda x, t: taxonomy_classification(x, t, "genus", rf_params={"trees": 3}), "rf_params"),
        (lambda x, t: taxonomy_classification(x, t, "genus", placeholder_pattern="("), "regular"),
        (lambda x, t: taxonomy_classification(x, t, "genus", classifiers={"a": 3}), "estimator"),
    ],
)
def test_bad_input_raises_one_line_error(call, message):
    x, tax = _separable()
    with pytest.raises(DnalibError, match=message) as info:
        call(x, tax)
    assert "\n" not in str(info.value)


def test_holdout_too_small_for_stratification_is_a_dnalib_error():
    x, tax = _separable(n_per_taxon=10)
    with pytest.raises(DnalibError, match="cannot split"):
        taxonomy_classification(x, tax, "genus", n_splits=1, test_size=0.05)


def test_usable_labels_rejects_2d():
    with pytest.raises(DnalibError, match="one-dimensional"):
        usable_labels(np.zeros((2, 2)))


def test_fast_on_a_realistic_size():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 20, 2000)
    x = rng.normal(0, 1, (2000, 64)).astype(np.float32) + y[:, None] * 0.05
    tax = pd.DataFrame({"phylum": y % 3, "genus": y})
    t0 = time.perf_counter()
    taxonomy_classification(x, tax, ["phylum", "genus"], rf_params={"n_estimators": 20}, n_jobs=2)
    assert time.perf_counter() - t0 < 15


def test_clustering_scores_still_separates_clusters():
    x, tax = _separable()
    scores = clustering_scores(x, tax["genus"], seeds=(0, 1))
    assert scores["ari"] == pytest.approx(1.0)


def test_clustering_scores_normalize_false_clusters_raw_coordinates():
    # Two groups that differ only in length along the same direction: unit rows
    # merge them, raw coordinates keep them apart.
    rng = np.random.default_rng(0)
    angle = rng.normal(np.pi / 4, 0.2, 40)
    radius = np.repeat([1.0, 5.0], 20)
    x = np.c_[radius * np.cos(angle), radius * np.sin(angle)]
    y = np.repeat(["near", "far"], 20)
    assert clustering_scores(x, y, seeds=(0,))["ari"] < 0.1
    assert clustering_scores(x, y, seeds=(0,), normalize=False)["ari"] == pytest.approx(1.0)


# --------------------------------------------------------------------------- few-shot and binning


def _blobs(n_classes: int, per_class: int, spread: float, seed: int = 0, dim: int = 16):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_classes, dim))
    x = np.repeat(centres, per_class, axis=0) + spread * rng.normal(size=(n_classes * per_class, dim))
    y = np.repeat([f"sp{i}" for i in range(n_classes)], per_class)
    return x, y


def test_fewshot_separates_signal_from_noise():
    from dnalib.evaluate import fewshot_classification

    x, y = _blobs(6, 25, 0.2)
    table = fewshot_classification(x, y)
    assert list(table["k"]) == [1, 2, 5, 10, 20]
    assert (table["macro_f1"] > 0.95).all()
    noise = fewshot_classification(np.random.default_rng(1).normal(size=x.shape), y, shots=(5,))
    assert noise["macro_f1"].iloc[0] < 0.4
    assert table["n_test"].iloc[0] == 6 * 24 and table["n_classes"].iloc[-1] == 6


def test_fewshot_drops_classes_too_small_for_k_and_validates():
    from dnalib.evaluate import fewshot_classification

    x, y = _blobs(3, 8, 0.2)
    y = y.copy()
    y[:6] = "tiny"  # a 4th class with 6 samples, sp0 keeps 2
    row = fewshot_classification(x, y, shots=(5,)).iloc[0]
    assert row["n_classes"] == 3  # sp0 (2 samples) cannot give 5 shots and a test sample
    with pytest.raises(DnalibError, match="at least 2"):
        fewshot_classification(x, y, shots=(20,))
    with pytest.raises(DnalibError):
        fewshot_classification(x[:, None], y)


def test_binning_threshold_is_the_percentile_of_own_class_similarity():
    from dnalib.evaluate import binning_threshold

    x = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [0.6, 0.8]])
    y = np.array(["a", "a", "b", "b"])
    ca = np.array([0.9, 0.3])  # class means of the (already unit) rows, not re-normalised
    cb = np.array([0.3, 0.9])
    sims = [x[0] @ ca, x[1] @ ca, x[2] @ cb, x[3] @ cb]
    assert binning_threshold(x, y, 70) == pytest.approx(np.percentile(sims, 70))
    with pytest.raises(DnalibError):
        binning_threshold(x, y, 120)


def test_kmedoid_bins_recover_separated_species_and_dissolve_small_bins():
    from sklearn.metrics import adjusted_rand_score

    from dnalib.evaluate import binning_threshold, kmedoid_bins

    x, y = _blobs(5, 30, 0.15, dim=32)
    bins = kmedoid_bins(x, binning_threshold(x, y))
    assert adjusted_rand_score(y[bins >= 0], bins[bins >= 0]) > 0.95
    assert (bins >= 0).mean() > 0.5
    outliers = np.random.default_rng(3).normal(size=(4, 32)) * 5
    bins2 = kmedoid_bins(np.vstack([x, outliers]), binning_threshold(x, y), min_bin_size=10)
    assert (bins2[-4:] == -1).all()  # a handful of scattered points never form a bin of 10
    assert set(np.unique(bins2)) == set(range(bins2.max() + 1)) | {-1}


def test_binning_scores_hungarian_matching_and_counts():
    from dnalib.evaluate import binning_scores

    x, y = _blobs(4, 50, 0.1, dim=24)
    res = binning_scores(x, y)
    assert res["n_species"] == 4 and res["f1_ge_0.5"] == 4 and res["f1_ge_0.9"] == 4
    assert 0 < res["unbinned_fraction"] < 0.8  # the 70th-percentile threshold bins the cores
    assert set(res["per_species"].columns) >= {"species", "precision", "recall", "f1"}
    # two species with identical embeddings: every bin holding them is half one, half the
    # other, so neither can reach precision above 0.5
    x2 = x.copy()
    x2[y == "sp1"] = x[y == "sp0"]
    res2 = binning_scores(x2, y, threshold=res["threshold"])
    table = res2["per_species"].set_index("species")
    assert table.loc["sp0", "precision"] <= 0.5 and table.loc["sp1", "precision"] <= 0.5
    assert res2["f1_ge_0.9"] == 2
    # species below min_per_species are left out
    res3 = binning_scores(x[:170], y[:170], min_per_species=30)
    assert res3["n_species"] == 3
    with pytest.raises(DnalibError, match="at least 2"):
        binning_scores(x[:60], y[:60], min_per_species=20)


# --- shared folds and per-fold features (the in-domain MLM of bench_markers) -----------------------


def _fold_data(n_groups=60, per_group=3, seed=0):
    rng = np.random.default_rng(seed)
    taxa = np.repeat(np.arange(n_groups) % 3, per_group)
    groups = np.repeat(np.arange(n_groups), per_group)
    x = np.eye(3)[taxa] + rng.normal(0, 0.05, (len(taxa), 3))
    tax = pd.DataFrame({"phylum": np.array(["a", "b", "c"])[taxa], "genus": np.array(["a", "b", "c"])[taxa]})
    return x, tax, groups


def test_grouped_folds_keep_groups_together_and_use_every_fold():
    from dnalib.evaluate import grouped_folds

    x, tax, groups = _fold_data()
    folds = grouped_folds(tax["genus"], groups, n_splits=3, seed=1)
    assert sorted(set(folds.tolist())) == [0, 1, 2]
    assert (pd.Series(folds).groupby(groups).nunique() == 1).all()
    assert (folds == grouped_folds(tax["genus"], groups, n_splits=3, seed=1)).all()
    for j in range(3):  # stratified: every taxon in every fold
        assert set(tax["genus"][folds == j]) == {"a", "b", "c"}
    with pytest.raises(DnalibError, match="groups cannot fill"):
        grouped_folds(tax["genus"][:6], groups[:6], n_splits=3)


def test_folds_are_the_splits_at_every_rank_and_per_fold_features_are_used_per_split():
    from dnalib.evaluate import grouped_folds

    x, tax, groups = _fold_data()
    folds = grouped_folds(tax["genus"], groups, n_splits=3, seed=0)
    one = taxonomy_classification(x, tax, ["phylum", "genus"], classifiers=["knn"], folds=folds)
    assert (one["n_splits"] == 3).all() and one["accuracy"].eq(1.0).all()
    same = taxonomy_classification([x, x, x], tax, ["phylum"], classifiers=["knn"], folds=folds)
    assert same.loc[0, "accuracy_splits"] == one.loc[0, "accuracy_splits"]
    noise = np.random.default_rng(5).normal(size=x.shape)
    mixed = taxonomy_classification([x, noise, x], tax, ["phylum"], classifiers=["knn"], folds=folds)
    acc = mixed.loc[0, "accuracy_splits"]
    assert acc[0] == 1.0 and acc[2] == 1.0 and acc[1] < 0.8  # split 1 fitted and tested on noise


def test_bad_folds_are_one_line_errors():
    x, tax, groups = _fold_data()
    with pytest.raises(DnalibError, match="need folds="):
        taxonomy_classification([x, x], tax, "phylum")
    with pytest.raises(DnalibError, match="one fold per sample"):
        taxonomy_classification(x, tax, "phylum", folds=np.zeros(5, dtype=int) + np.arange(5) % 2)
    with pytest.raises(DnalibError, match="every id"):
        taxonomy_classification(x, tax, "phylum", folds=np.where(np.arange(len(x)) % 2, 0, 2))
    with pytest.raises(DnalibError, match="features for 2 folds but 3"):
        taxonomy_classification([x, x], tax, "phylum", folds=np.arange(len(x)) % 3)
