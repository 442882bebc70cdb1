"""Tests of the synthetic community (dnalib.simulate) and the clustering protocol."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest

from dnalib.errors import DnalibError
from dnalib.evaluate import clustering_scores
from dnalib.io import load_genome_set
from dnalib.kmers import kmer_spectrum, tnf
from dnalib.sequences import gc_content, reverse_complement
from dnalib.simulate import (
    DEFAULT_SEED,
    EVAL_FRAGMENT_LENGTH,
    EVAL_FRAGMENTS_PER_GENOME,
    RANKS,
    Community,
    default_community,
    simulate_community,
    simulate_reads,
)


def small(seed: int = 3, **kw) -> Community:
    settings = {"n_genera": 2, "species_per_genus": 3, "genome_length": 20_000} | kw
    return simulate_community(seed, **settings)


@pytest.fixture(scope="module")
def com() -> Community:
    return default_community()


@pytest.fixture(scope="module")
def evaluation(com: Community) -> dict:
    """Features and clustering scores of the documented evaluation setting."""
    frags, table = com.fragments()
    x4 = tnf(frags)
    x6 = kmer_spectrum(frags, 6, normalize="l2")
    species = table["species"].to_numpy()
    return {
        "table": table,
        "x4": x4,
        "x6": x6,
        "tnf": clustering_scores(x4, species),
        "k6": clustering_scores(x6, species),
    }


# --- structure -------------------------------------------------------------------------


def test_same_seed_same_community_and_different_seed_differs():
    a, b, c = small(3), small(3), small(4)
    assert a.genomes == b.genomes
    pd.testing.assert_frame_equal(a.taxonomy, b.taxonomy)
    pd.testing.assert_series_equal(a.split, b.split)
    assert a.to_newick() == b.to_newick()
    assert a.genomes["G01_S01"] != c.genomes["G01_S01"]


def test_default_community_is_cached_and_uses_default_seed(com):
    assert default_community() is com
    assert com.params["seed"] == DEFAULT_SEED
    json.dumps(com.params)  # serialisable


def test_default_sizes(com):
    tax = com.taxonomy
    assert tax["genus"].nunique() >= 8
    assert tax["species"].nunique() >= 40
    assert list(tax.columns) == list(RANKS)
    assert tax.index.name == "id"
    for gid, contigs in com.genomes.items():
        assert sum(len(c) for c in contigs) == 100_000, gid
        assert set("".join(contigs)) <= set("ACGT")
    assert set(com.genomes) == set(tax.index)


def test_split_is_disjoint_covering_and_per_genus(com):
    assert set(com.split.unique()) == {"train", "eval"}
    assert set(com.train_ids) | set(com.eval_ids) == set(com.genomes)
    assert not set(com.train_ids) & set(com.eval_ids)
    train_sp = set(com.taxonomy.loc[com.train_ids, "species"])
    eval_sp = set(com.taxonomy.loc[com.eval_ids, "species"])
    assert not train_sp & eval_sp
    # every genus has both training and (same-genus hard) evaluation species
    per_genus = com.taxonomy.assign(split=com.split).groupby("genus")["split"].nunique()
    assert (per_genus == 2).all()
    assert len(eval_sp) == 16


def test_phylogeny_matches_taxonomy(com):
    nodes = com.tree.nodes
    assert sorted(com.tree.leaves) == sorted(com.genomes)
    for gid in com.genomes:
        path = [gid, *com.tree.ancestors(gid)]
        names = {nodes.at[n, "rank"]: nodes.at[n, "name"] for n in path}
        for rank in RANKS:
            assert names[rank] == com.taxonomy.at[gid, rank], (gid, rank)
    newick = com.to_newick()
    assert newick.endswith(";") and newick.count("(") == newick.count(")")
    assert all(gid in newick for gid in com.genomes)


def test_strains_and_contigs():
    c = small(5, strains_per_species=2, contigs_per_genome=3)
    assert len(c.genomes) == 2 * 3 * 2
    assert all(len(contigs) == 3 for contigs in c.genomes.values())
    a, b = c.genomes["G01_S01_T1"], c.genomes["G01_S01_T2"]
    assert a != b

    def kmers(seq: str, k: int = 12) -> set[str]:
        return {seq[i : i + k] for i in range(len(seq) - k + 1)}

    def shared(x: list[str], y: list[str]) -> float:
        kx, ky = kmers("".join(x)), kmers("".join(y))
        return len(kx & ky) / len(kx)

    # strains are near-identical; species of a genus share (faint) ancestry; genera do not
    sibling = c.genomes["G01_S02_T1"]
    other_genus = c.genomes["G02_S01_T1"]
    assert shared(a, b) > 0.6 > shared(a, sibling) > 2 * shared(a, other_genus)
    assert c.tree.nodes.at["G01_S01_T1", "parent"] == "G01_S01"
    assert c.split["G01_S01_T1"] == c.split["G01_S01_T2"]


def test_bad_settings_raise():
    with pytest.raises(DnalibError, match="n_genera"):
        simulate_community(0, n_genera=0)
    with pytest.raises(DnalibError, match="eval_fraction"):
        simulate_community(0, eval_fraction=1.0)
    with pytest.raises(DnalibError, match="rank"):
        small().labels("kingdom")


def test_generation_time_under_ten_seconds():
    start = time.perf_counter()
    simulate_community(DEFAULT_SEED + 1)
    elapsed = time.perf_counter() - start
    assert elapsed < 10.0, f"default-size community took {elapsed:.1f} s"


def test_write_round_trip(tmp_path):
    c = small()
    out = c.write(tmp_path / "community")
    loaded = load_genome_set(out)
    assert loaded.genomes == c.genomes
    assert list(loaded.taxonomy.columns) == list(RANKS)
    split = pd.read_csv(out / "split.tsv", sep="\t")
    assert list(split.columns) == ["id", "split"]
    assert dict(zip(split["id"], split["split"], strict=True)) == c.split.to_dict()
    assert (out / "tree.nwk").read_text().strip() == c.to_newick()
    assert json.loads((out / "params.json").read_text())["seed"] == 3


def test_fragments_setting(com, evaluation):
    table = evaluation["table"]
    assert len(table) == len(com.eval_ids) * EVAL_FRAGMENTS_PER_GENOME
    assert set(table["id"]) == set(com.eval_ids)
    frags, _ = com.fragments(com.eval_ids[:1], n_per_genome=3)
    assert [len(f) for f in frags] == [EVAL_FRAGMENT_LENGTH] * 3


# --- calibrated difficulty ---------------------------------------------------------------


def test_tnf_clustering_is_neither_trivial_nor_hopeless(evaluation):
    ari = evaluation["tnf"]["ari"]
    assert 0.3 <= ari <= 0.7, ari


def test_six_mers_separate_species_better_than_tnf(evaluation):
    assert evaluation["k6"]["ari"] > evaluation["tnf"]["ari"] + 0.05


def test_same_genus_species_are_harder_to_separate(evaluation):
    table = evaluation["table"]
    x = evaluation["x4"] / np.linalg.norm(evaluation["x4"], axis=1, keepdims=True)
    species = table["species"].to_numpy()
    names = np.unique(species)
    centroids = np.array([x[species == s].mean(axis=0) for s in names])
    genus = table.groupby("species")["genus"].first().loc[names].to_numpy()
    dist = np.linalg.norm(centroids[:, None] - centroids[None], axis=2)
    upper = np.triu(np.ones_like(dist, dtype=bool), k=1)
    same = genus[:, None] == genus[None, :]
    assert dist[upper & same].mean() < 0.75 * dist[upper & ~same].mean()

    # nearest-neighbour mistakes stay mostly inside the genus
    sim = x @ x.T
    np.fill_diagonal(sim, -np.inf)
    nn = sim.argmax(axis=1)
    wrong = species[nn] != species
    frag_genus = table["genus"].to_numpy()
    assert wrong.any()
    assert np.mean(frag_genus[nn][wrong] == frag_genus[wrong]) > 0.5


def test_gc_differs_more_between_genera_than_within(com):
    gc = pd.Series({gid: gc_content("".join(c)) for gid, c in com.genomes.items()})
    by_genus = gc.groupby(com.taxonomy.loc[gc.index, "genus"])
    assert by_genus.mean().std() > 3 * by_genus.std().mean()


# --- reads -----------------------------------------------------------------------------


GENOME = small(7).genomes["G01_S01"][0]


def test_error_free_reads_come_from_the_genome_on_both_strands():
    reads = simulate_reads({"g": GENOME}, 200, 300, seed=1)
    assert set(reads["strand"]) == {"+", "-"}
    for row in reads.itertuples():
        template = GENOME[row.start : row.end]
        expected = template if row.strand == "+" else reverse_complement(template)
        assert row.sequence == expected
    again = simulate_reads({"g": GENOME}, 200, 300, seed=1)
    pd.testing.assert_frame_equal(reads, again)


def test_substitution_rate_matches_mismatches():
    reads = simulate_reads(GENOME, 300, 500, substitution_rate=0.05, seed=2)
    mismatches = total = 0
    for row in reads.itertuples():
        template = GENOME[row.start : row.end]
        if row.strand == "-":
            template = reverse_complement(template)
        assert len(row.sequence) == len(template)
        mismatches += sum(a != b for a, b in zip(row.sequence, template, strict=True))
        total += len(template)
    assert mismatches / total == pytest.approx(0.05, abs=0.005)


def test_indel_rates_change_read_length():
    reads = simulate_reads(
        GENOME, 300, 1000, insertion_rate=0.06, deletion_rate=0.02, substitution_rate=0.03, seed=3
    )
    change = (reads["sequence"].str.len() - reads["template_length"]).sum()
    rate = change / reads["template_length"].sum()
    assert rate == pytest.approx(0.06 - 0.02, abs=0.005)
    assert reads["insertions"].sum() / reads["template_length"].sum() == pytest.approx(0.06, abs=0.005)
    assert reads["deletions"].sum() / reads["template_length"].sum() == pytest.approx(0.02, abs=0.004)


def test_read_length_distribution_and_origins():
    c = small(8)
    reads = simulate_reads(c.genomes, 400, (800.0, 300.0), seed=4)
    assert set(reads["genome"]) <= set(c.genomes)
    assert reads["genome"].nunique() > 3
    assert reads["template_length"].mean() == pytest.approx(800, rel=0.1)
    assert (reads["end"] - reads["start"] == reads["template_length"]).all()
    with pytest.raises(DnalibError, match="deletion_rate"):
        simulate_reads(GENOME, 1, 100, deletion_rate=1.5)


# --- clustering protocol ---------------------------------------------------------------


def test_clustering_scores_on_separated_blobs():
    rng = np.random.default_rng(0)
    centres = np.eye(3) * 10
    x = np.concatenate([c + rng.normal(0, 0.1, (20, 3)) for c in centres])
    labels = np.repeat(["a", "b", "c"], 20)
    scores = clustering_scores(x, labels, seeds=(0, 1))
    assert scores["ari"] == pytest.approx(1.0)
    assert scores["nmi"] == pytest.approx(1.0)
    assert scores["ari_std"] == pytest.approx(0.0)
    assert scores["seeds"] == [0, 1]
    assert [r["seed"] for r in scores["per_seed"]] == [0, 1]


def test_clustering_scores_validates_input():
    with pytest.raises(DnalibError, match="2-D"):
        clustering_scores(np.zeros(5), [0] * 5)
    with pytest.raises(DnalibError, match="one label per"):
        clustering_scores(np.ones((4, 2)), [0, 1, 0])
    with pytest.raises(DnalibError, match="at least 2 classes"):
        clustering_scores(np.ones((4, 2)), [0, 0, 0, 0])
    with pytest.raises(DnalibError, match="NaN"):
        clustering_scores(np.full((4, 2), np.nan), [0, 1, 0, 1])


def test_training_community_extends_the_default_one_without_its_evaluation_species(com):
    from dnalib.simulate import TRAINING_GENERA, training_community, training_genomes

    big = training_community()
    assert training_community() is big
    assert big.taxonomy["genus"].nunique() == TRAINING_GENERA > com.taxonomy["genus"].nunique()
    for g in com.ids:  # the default community's genomes and split, unchanged
        assert big.genomes[g] == com.genomes[g]
        assert big.split[g] == com.split[g]
    train = training_genomes()
    assert set(train) == set(big.train_ids) and len(train) == 3 * TRAINING_GENERA
    assert not set(train) & set(com.eval_ids)
    assert not set(big.taxonomy.loc[list(train), "species"]) & set(com.taxonomy.loc[com.eval_ids, "species"])
