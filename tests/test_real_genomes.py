"""The genomes_real corpus and its split, the learned spectrum map, paired comparisons over species."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dnalib import datasets, io
from dnalib.errors import DnalibError
from dnalib.evaluate import clustering_scores, paired_clustering_difference
from dnalib.pairs import species_groups
from dnalib.spectrum_map import (
    SpectrumMap,
    SpectrumMapConfig,
    is_spectrum_map_dir,
    train_spectrum_map,
)

# --------------------------------------------------------------------------- the split rule


def _table(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["id", "genus", "species"]).set_index("id")


def test_split_keeps_genera_and_held_out_genera_together() -> None:
    rows = [(f"g{i}", f"Genus{i % 40}", f"Genus{i % 40} sp{i % 3}") for i in range(200)]
    rows += [("e1", "Escherichia", "Escherichia coli"), ("k1", "Klebsiella", "Klebsiella oxytoca")]
    table = _table(rows)
    split = datasets.genus_disjoint_split(table)
    assert set(split) == set(table.index) and set(split.values()) == {"train", "validation"}
    by_genus: dict[str, set[str]] = {}
    for gid, row in table.iterrows():
        by_genus.setdefault(row["genus"], set()).add(split[gid])
    assert all(len(sides) == 1 for sides in by_genus.values())  # a genus is on one side only
    assert split["e1"] == split["k1"] == "validation"  # kmcp15 genera never train
    share = np.mean([split[f"g{i}"] == "train" for i in range(200)])
    assert 0.35 < share < 0.85  # about TRAIN_FRACTION of 40 genera
    # the rule depends on names only: a genome added elsewhere moves nobody
    more = datasets.genus_disjoint_split(_table(rows + [("x", "Newgenus", "Newgenus alba")]))
    assert all(more[g] == s for g, s in split.items())
    assert datasets.genus_disjoint_split(table, train_fraction=0.0) == dict.fromkeys(split, "validation")


def test_split_groups_genus_less_genomes_by_name_stem() -> None:
    assert datasets.split_group("", "candidate division WOR-1 bacterium RIFOXYA12_FULL_36_13") == \
        datasets.split_group("", "candidate division WOR-1 bacterium RIFOXYB2_FULL_37_13") == \
        "candidate division WOR-1"
    assert datasets.split_group("", "Candidatus Bathyarchaeota archaeon B26-1") == \
        "Candidatus Bathyarchaeota"
    assert datasets.split_group("Vibrio", "Vibrio cholerae") == "Vibrio"


def test_kmcp15_genera_constant_matches_the_dataset(shared_data: Path) -> None:
    kmcp = io.load_genome_set(shared_data / "genomes-kmcp15")
    assert set(datasets.KMCP15_GENERA) == set(kmcp.labels("genus"))


# --------------------------------------------------------------------------- the corpus


@pytest.fixture(scope="module")
def real(shared_data_real: Path) -> io.GenomeSet:
    return datasets.load_genomes_real(mirror=shared_data_real, progress=False)


@pytest.fixture(scope="module")
def shared_data_real(shared_data: Path) -> Path:
    if not (shared_data / "genomes-real").is_dir():
        pytest.skip("genomes-real is not in the data mirror")
    return shared_data


def test_genomes_real_loads_with_ranks_and_a_disjoint_split(real: io.GenomeSet) -> None:
    assert len(real.ids) == 160 and real.ranks == ["domain", "phylum", "genus", "species"]
    assert len(set(real.labels("species"))) == 119
    train, val = real.split("train"), real.split("validation")
    assert len(train.ids) + len(val.ids) == 160
    assert len(set(train.labels("species"))) == 59 and len(set(val.labels("species"))) == 60
    train_genera = {g for g in train.labels("genus") if g}
    assert not train_genera & {g for g in val.labels("genus") if g}
    assert not set(train.labels("species")) & set(val.labels("species"))
    assert not train_genera & set(datasets.KMCP15_GENERA)
    assert train.splits and set(train.splits.values()) == {"train"}  # subsets keep their split
    with pytest.raises(DnalibError, match="no genome has split 'test'; this set's splits are train, validation"):
        real.split("test")


def test_without_leaves_out_a_rank_s_labels_and_the_refit_set_keeps_kmcp15_unseen(
        real: io.GenomeSet) -> None:
    refit = real.without(datasets.KMCP15_GENERA, "genus")
    assert len(refit.ids) == 122 and len(set(refit.labels("species"))) == 96
    assert not set(refit.labels("genus")) & set(datasets.KMCP15_GENERA)
    assert set(real.split("train").ids) <= set(refit.ids)  # the training split and more
    kept = [g for g, genus in zip(real.ids, real.labels("genus"), strict=True)
            if genus not in datasets.KMCP15_GENERA]
    assert refit.ids == kept and refit.splits == {g: real.splits[g] for g in kept}
    assert real.without(["no such genus"], "genus").ids == real.ids
    with pytest.raises(DnalibError, match="unknown rank 'strain'"):
        real.without(["x"], "strain")
    with pytest.raises(DnalibError, match="leaves no genome of the 160"):
        real.without(set(real.labels("domain")), "domain")


def test_load_genome_set_keeps_only_the_named_ranks(tmp_path: Path) -> None:
    (tmp_path / "a.fa").write_text(">c\nACGTACGTAC\n")
    (tmp_path / "taxonomy.tsv").write_text("id\tgenus\tspecies\torganism\tgc\na\tG\tG s\tG s X\t50.0\n")
    assert io.load_genome_set(tmp_path).ranks == ["genus", "species", "organism", "gc"]
    gs = io.load_genome_set(tmp_path, ranks=["genus", "species"])
    assert gs.ranks == ["genus", "species"]
    with pytest.raises(DnalibError, match="no 'phylum' column"):
        io.load_genome_set(tmp_path, ranks=["phylum", "species"])


def test_species_groups_pool_the_genomes_of_a_species() -> None:
    taxonomy = pd.DataFrame({"species": ["A", "B", "A"]}, index=["g1", "g2", "g3"])
    gs = io.GenomeSet(None, taxonomy, {"g1": ["AAAA", "CC"], "g2": ["GGGG"], "g3": ["TTTT"]})
    assert species_groups(gs) == [["AAAA", "CC", "TTTT"], ["GGGG"]]


# --------------------------------------------------------------------------- the spectrum map


def _two_species_set(seed: int = 0) -> io.GenomeSet:
    from dnalib.simulate import simulate_community

    community = simulate_community(seed, n_genera=3, species_per_genus=3, genome_length=60_000)
    taxonomy = pd.DataFrame({"species": list(community.labels("species"))}, index=list(community.genomes))
    return io.GenomeSet(None, taxonomy, {g: list(c) for g, c in community.genomes.items()})


def test_spectrum_map_trains_saves_loads_and_embeds(tmp_path: Path) -> None:
    gs = _two_species_set()
    cfg = SpectrumMapConfig(k=4, dim=16, fragment_length=2000, batch_pairs=8, steps=40, seed=3)
    result = train_spectrum_map(species_groups(gs), tmp_path / "map", cfg, progress=False)
    losses = [r["loss"] for r in result["history"]]
    assert len(losses) == 40 and np.mean(losses[-10:]) < np.mean(losses[:10])
    assert is_spectrum_map_dir(tmp_path / "map") and not is_spectrum_map_dir(tmp_path)
    info = json.loads((tmp_path / "map" / "dnalib_spectrum_map.json").read_text())
    assert info["config"]["steps"] == 40 and info["fingerprints"]["data"] and info["complete"]
    model = SpectrumMap.from_pretrained(tmp_path / "map")
    frags, table = gs.fragments(2000, 5, seed=1)
    z = model.embed(frags)
    assert z.shape == (len(frags), 16) and np.allclose(np.linalg.norm(z, axis=1), 1, atol=1e-5)
    # the same map through the embedder the CLI and benchmarks use
    from dnalib.embed import describe_embedder, embed_with

    assert np.allclose(embed_with(str(tmp_path / "map"), frags), z, atol=1e-6)
    identity = describe_embedder(str(tmp_path / "map"))
    assert identity["min_bases"] == 4 and identity["spectrum_map"].endswith("map")
    # same seed, same data: the same weights
    train_spectrum_map(species_groups(gs), tmp_path / "again", cfg, progress=False)
    assert np.allclose(SpectrumMap.from_pretrained(tmp_path / "again").embed(frags), z, atol=1e-6)


def test_damaged_or_foreign_spectrum_map_is_refused_in_one_line(tmp_path: Path) -> None:
    SpectrumMap(k=3, dim=4).save_pretrained(tmp_path / "m")
    (tmp_path / "m" / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(DnalibError, match="damaged spectrum map") as exc:
        SpectrumMap.from_pretrained(tmp_path / "m")
    assert "\n" not in str(exc.value)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "config.json").write_text('{"model_type": "roberta"}')
    with pytest.raises(DnalibError, match="not a saved spectrum map"):
        SpectrumMap.from_pretrained(tmp_path / "other")


@pytest.mark.parametrize("bad", [{"k": 9}, {"dim": 0}, {"batch_pairs": 1}, {"temperature": 0.0},
                                 {"fragment_length": 3, "k": 6}, {"steps": True}])
def test_impossible_spectrum_map_settings_are_refused(bad: dict, tmp_path: Path) -> None:
    with pytest.raises(DnalibError):
        train_spectrum_map([["ACGT" * 5000], ["GGCA" * 5000]], tmp_path / "x",
                           SpectrumMapConfig(**bad), progress=False)
    assert not (tmp_path / "x").exists()


def test_spectrum_map_command_line(tmp_path: Path) -> None:
    gs = _two_species_set(1)
    io.write_genome_set(gs.genomes, gs.taxonomy, tmp_path / "set")
    cmd = [sys.executable, "-m", "dnalib.cli", "spectrum-map", "--data", str(tmp_path / "set"),
           "--out", str(tmp_path / "map"), "--k", "4", "--dim", "8", "--fragment-length", "2000",
           "--batch-pairs", "4", "--steps", "3", "--no-progress"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "trained a 4-mer spectrum map (8 dimensions)" in done.stdout
    again = subprocess.run(cmd, capture_output=True, text=True)
    assert again.returncode == 1 and again.stderr.count("\n") == 1
    assert "pass --force" in again.stderr and "--resume" not in again.stderr
    nope = subprocess.run([*cmd[:5], "no_such_dataset", *cmd[6:], "--force"], capture_output=True, text=True)
    assert nope.returncode == 1 and "not a registered dataset" in nope.stderr


def test_nonlinear_spectrum_map_trains_saves_loads_and_embeds_everywhere(tmp_path: Path) -> None:
    """--hidden: one hidden layer before the output map, saved in its config, loaded as the same kind
    of model, so dnalib embed and dnalib evaluate take its directory like the linear map's."""
    import torch

    from dnalib.cli import main
    from dnalib.embed import describe_embedder, load_embeddings

    gs = _two_species_set(2)
    io.write_genome_set(gs.genomes, gs.taxonomy, tmp_path / "set")
    assert main(["spectrum-map", "--data", str(tmp_path / "set"), "--out", str(tmp_path / "map"),
                 "--k", "4", "--dim", "8", "--hidden", "32", "--fragment-length", "2000",
                 "--batch-pairs", "6", "--steps", "20", "--seed", "1", "--no-progress"]) == 0
    config = json.loads((tmp_path / "map" / "config.json").read_text())
    assert config["hidden"] == 32
    info = json.loads((tmp_path / "map" / "dnalib_spectrum_map.json").read_text())
    assert info["config"]["hidden"] == 32 and info["complete"]
    model = SpectrumMap.from_pretrained(tmp_path / "map")
    assert model.hidden == 32 and model.hidden_layer is not None
    assert model.hidden_layer[0].weight.shape == (32, 136) and model.linear.weight.shape == (8, 32)
    frags, _ = gs.fragments(2000, 3, seed=4)
    z = model.embed(frags)
    assert z.shape == (len(frags), 8) and np.allclose(np.linalg.norm(z, axis=1), 1, atol=1e-5)
    # not linear in the features: the embedding of a mixture is not the mixture of embeddings
    with torch.inference_mode():
        a, b = model.features(frags[:2])
        mixed = model(((a + b) / 2)[None])[0]
        assert not torch.allclose(mixed, (model(a[None])[0] + model(b[None])[0]) / 2, atol=1e-4)
    assert "spectrum_map" in describe_embedder(str(tmp_path / "map"))
    # dnalib embed: the rows model.embed gives
    fasta = tmp_path / "frags.fa"
    fasta.write_text("".join(f">f{i}\n{f}\n" for i, f in enumerate(frags)))
    assert main(["embed", "--model", str(tmp_path / "map"), "--input", str(fasta), "--out",
                 str(tmp_path / "emb"), "--no-progress"]) == 0
    ids, rows = load_embeddings(tmp_path / "emb")
    assert ids == [f"f{i}" for i in range(len(frags))] and np.allclose(rows, z, atol=1e-6)
    # dnalib evaluate: scored, and the record names the map
    out = tmp_path / "r.json"
    assert main(["evaluate", "--model", str(tmp_path / "map"), "--genomes", str(tmp_path / "set"),
                 "--fragment-length", "2000", "--per-genome", "5", "--tasks", "clustering",
                 "--errors", "longread5", "--out", str(out), "--no-progress"]) == 0
    record = json.loads(out.read_text())
    assert 0 <= record["clustering"]["ari"] <= 1 and "spectrum_map" in record["embedder"]
    # weights that do not fit the config are a damaged map, in one line
    SpectrumMap(4, 8, hidden=32).save_pretrained(tmp_path / "copy")
    (tmp_path / "copy" / "config.json").write_text(json.dumps({**config, "hidden": 16}))
    with pytest.raises(DnalibError, match="damaged spectrum map") as exc:
        SpectrumMap.from_pretrained(tmp_path / "copy")
    assert "\n" not in str(exc.value)
    with pytest.raises(DnalibError, match="hidden"):
        SpectrumMap(4, 8, hidden=-1)


# --------------------------------------------------------------------------- paired comparison


def _clouds(n_species: int, per: int, spread: float, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_species, dim))
    y = np.repeat(np.arange(n_species), per)
    return centres[y] + spread * rng.normal(size=(len(y), dim)), y


def test_paired_difference_finds_a_real_gap_and_no_gap_between_equals() -> None:
    sharp, y = _clouds(24, 12, 0.3, 8, 0)
    blurred = sharp + np.random.default_rng(1).normal(scale=1.2, size=sharp.shape)
    res = paired_clustering_difference(sharp, blurred, y, draws=40)
    assert res["difference"] > 0.1 and res["interval"][0] > 0 and res["wins"] > 0.9
    assert res["interval"][0] <= res["difference"] <= res["interval"][1]
    assert res["n_species"] == 24 and res["half"] == 12
    assert res["ari_a"] == pytest.approx(clustering_scores(sharp, y)["ari"])
    same = paired_clustering_difference(blurred, blurred.copy(), y, draws=20)
    assert same["difference"] == 0 and same["interval"] == [0.0, 0.0]


def test_paired_difference_averages_the_models_of_a_side() -> None:
    """A list of embeddings is one recipe's trained models: its ARI is their mean, halves too."""
    sharp, y = _clouds(16, 10, 0.3, 8, 0)
    noise = np.random.default_rng(1)
    blurred = [sharp + noise.normal(scale=s, size=sharp.shape) for s in (1.0, 1.4)]
    res = paired_clustering_difference(blurred, sharp, y, draws=20, seeds=(0, 1))
    alone = [paired_clustering_difference(b, sharp, y, draws=20, seeds=(0, 1)) for b in blurred]
    assert res["ari_a_runs"] == pytest.approx([a["ari_a"] for a in alone])
    assert res["ari_a"] == pytest.approx(np.mean(res["ari_a_runs"])) and len(res["ari_b_runs"]) == 1
    assert res["difference"] == pytest.approx(np.mean([a["difference"] for a in alone]))
    assert res["interval"][1] < 0 and res["wins"] < 0.1 and res["kmeans_seeds"] == [0, 1]
    with pytest.raises(DnalibError, match="different numbers of samples"):
        paired_clustering_difference([sharp, sharp[:-1]], sharp, y, draws=10)


def test_paired_difference_of_halves_clustered_apart_is_the_paired_comparison() -> None:
    """A baseline's halves clustered once pair with any model's: the same numbers as one call."""
    from dnalib.evaluate import clustering_halves, paired_difference

    sharp, y = _clouds(12, 8, 0.3, 6, 0)
    blurred = sharp + np.random.default_rng(1).normal(scale=1.0, size=sharp.shape)
    other = sharp + np.random.default_rng(2).normal(scale=0.6, size=sharp.shape)
    options = {"draws": 12, "seed": 3, "seeds": (0, 1)}
    base = clustering_halves(blurred, y, **options)
    for model in (sharp, other):
        apart = paired_difference(clustering_halves(model, y, **options), base, level=0.9)
        assert apart == paired_clustering_difference(model, blurred, y, level=0.9, **options)
    assert len(base["halves"]) == 12 and base["full"] == [pytest.approx(clustering_scores(
        blurred, y, seeds=(0, 1))["ari"])]
    with pytest.raises(DnalibError, match="seed differ"):
        paired_difference(clustering_halves(sharp, y, draws=12, seed=4, seeds=(0, 1)), base)
    with pytest.raises(DnalibError, match="species, n_samples differ"):
        paired_difference(clustering_halves(sharp[:-8], y[:-8], **options), base)


def test_compact_halves_pair_as_the_full_ones_and_keep_species_apart() -> None:
    """What a record row stores (count + sha256 of the species) compares exactly as the full side."""
    import json

    from dnalib.evaluate import clustering_halves, compact_halves, paired_difference

    sharp, y = _clouds(12, 8, 0.3, 6, 0)
    blurred = sharp + np.random.default_rng(1).normal(scale=1.0, size=sharp.shape)
    options = {"draws": 10, "seed": 0, "seeds": (0,)}
    a, b = clustering_halves(sharp, y, **options), clustering_halves(blurred, y, **options)
    stored = json.loads(json.dumps(compact_halves(a)))  # through a record
    assert "species" not in stored and stored["n_species"] == 12
    assert paired_difference(stored, b) == paired_difference(a, b)
    assert paired_difference(stored, compact_halves(b)) == paired_difference(a, b)
    assert compact_halves(stored) == stored
    renamed = clustering_halves(sharp, np.char.add(y.astype(str), "x"), **options)
    with pytest.raises(DnalibError, match="species differ"):
        paired_difference(stored, renamed)


@pytest.mark.parametrize("kwargs, match", [({"draws": 5}, "draws"), ({"level": 1.5}, "level"),
                                           ({"seeds": ()}, "KMeans random state")])
def test_paired_difference_refuses_bad_options(kwargs: dict, match: str) -> None:
    x, y = _clouds(6, 5, 0.3, 4, 0)
    with pytest.raises(DnalibError, match=match):
        paired_clustering_difference(x, x, y, **kwargs)
    with pytest.raises(DnalibError, match="at least 4 species"):
        paired_clustering_difference(x[:15], x[:15], y[:15])


# --------------------------------------------------------------------------- the shipped weights


def test_shipped_spectrum_map_is_used_checked_and_refused_when_damaged(
        isolated_data_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    from dnalib import artifacts

    for name in artifacts.MAPS:
        assert artifacts.shipped_matches(name)  # recipe and sha256 of the copy in the repository
        got = artifacts.get(name, progress=False)  # no corpus needed: copied from dnalib/weights
        assert is_spectrum_map_dir(got) and artifacts.is_cached(name)
        assert SpectrumMap.from_pretrained(got).embed(["ACGT" * 500]).shape == (1, 256)
    refit = json.loads((artifacts.shipped_path("spectrum_map_refit") / "dnalib_spectrum_map.json").read_text())
    assert refit["groups"] == 96 and "without(KMCP15_GENERA" in refit["data"]
    assert refit["config"] == json.loads((artifacts.shipped_path("spectrum_map") /
                                          "dnalib_spectrum_map.json").read_text())["config"]
    aug = json.loads((artifacts.shipped_path("spectrum_map_aug10") / "dnalib_spectrum_map.json").read_text())
    assert aug["augment_errors"]["name"] == "longread10" and aug["data"] == artifacts.REAL_TRAINING
    # a damaged shipped copy is refused in one line, never used
    fake = tmp_path / "weights"
    for name in artifacts.MAPS:
        shutil.copytree(artifacts.shipped_path(name), fake / name)
    monkeypatch.setattr(artifacts, "shipped_path", lambda name, profile=None: fake / name)
    shutil.rmtree(artifacts.cache_root())
    for name in artifacts.MAPS:
        weights = fake / name / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)
        with pytest.raises(DnalibError, match="shipped weights .* are damaged .*model.safetensors") as err:
            artifacts.get(name, progress=False)
        assert "\n" not in str(err.value) and not artifacts.is_cached(name)
    # a shipped copy made by another recipe is not used (get would train instead)
    recipe = json.loads((fake / "spectrum_map" / artifacts.RECIPE_FILE).read_text())
    recipe["config"]["steps"] += 1
    (fake / "spectrum_map" / artifacts.RECIPE_FILE).write_text(json.dumps(recipe))
    assert not artifacts.shipped_matches("spectrum_map")


def test_sqrt_transform_round_trips_and_unknown_transform_is_refused(tmp_path: Path) -> None:
    model = SpectrumMap(k=3, dim=4, transform="sqrt")
    model.save_pretrained(tmp_path / "m")
    again = SpectrumMap.from_pretrained(tmp_path / "m")
    assert again.transform == "sqrt"
    seqs = ["ACGTTGCA" * 50, "GGGCCCAT" * 40]
    assert np.allclose(again.embed(seqs), model.embed(seqs), atol=1e-6)
    assert np.allclose(again.features(seqs).numpy() ** 2,
                       np.asarray(__import__("dnalib").kmers.kmer_spectrum(seqs, 3, canonical=True)),
                       atol=1e-6)
    with pytest.raises(DnalibError, match="transform must be one of log, sqrt"):
        SpectrumMap(k=3, dim=4, transform="cube")
    with pytest.raises(DnalibError, match="transform must be one of log, sqrt"):
        SpectrumMapConfig(transform="cube").validate()


def test_evaluate_scores_only_rank_columns_of_a_richer_label_table(tmp_path: Path) -> None:
    gs = _two_species_set(2)
    table = gs.taxonomy.assign(genus=[s.split()[0] for s in gs.taxonomy["species"]])
    table = table[["genus", "species"]].assign(organism=[f"{s} strain {i}" for i, s in
                                                         enumerate(table["species"])], gc="50.1")
    io.write_genome_set(gs.genomes, table, tmp_path / "set")
    base = [sys.executable, "-m", "dnalib.cli", "evaluate", "--model", "kmer6", "--genomes",
            str(tmp_path / "set"), "--per-genome", "6", "--fragment-length", "2000",
            "--tasks", "clustering,taxonomy", "--seeds", "2", "--no-progress"]
    done = subprocess.run([*base, "--out", str(tmp_path / "r.json")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "scoring the ranks genus, species; the label table's other columns (organism, gc)" in done.stderr
    scored = {row["rank"] for row in json.loads((tmp_path / "r.json").read_text())["taxonomy"]}
    assert scored and scored <= {"genus", "species"}
    bad = subprocess.run([*base, "--ranks", "genus,phylum", "--out", str(tmp_path / "b.json")],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and "--ranks genus,phylum: the label table has columns" in bad.stderr


def test_paired_tables_pool_the_seeds_of_a_method() -> None:
    """The chapter's tables of a bench_real_genomes record: seeds pooled, sets side by side."""
    from dnalib import records

    def method(ari: float, binned: int) -> dict:
        return {"ari": ari, "ari_std": 0.0, "nmi": 0.0, "f1_ge_0.5": binned, "f1_ge_0.9": 0}

    comparison = {"a": "spectrum_map", "b": "kmer6", "runs_a": ["spectrum_map/0", "spectrum_map/1"],
                  "runs_b": ["kmer6"], "difference": 0.05, "interval": [0.01, 0.09], "wins": 0.97,
                  "n_species": 60}
    rec = {"sets": {
        "validation": {"methods": {"kmer6": method(0.5, 18), "spectrum_map/0": method(0.56, 30),
                                   "spectrum_map/1": method(0.54, 28)}, "comparisons": [comparison]},
        "kmcp15": {"methods": {"kmer6": method(0.53, 11), "spectrum_map/0": method(0.6, 10),
                               "spectrum_map/1": method(0.62, 11)},
                   "comparisons": [{**comparison, "runs_a": None, "runs_b": None}]}}}
    methods, pairs = records.paired_tables(rec)
    assert list(methods.index) == ["kmer6", "spectrum_map"]
    assert methods.loc["spectrum_map", ("validation", "ARI")] == pytest.approx(0.55)
    assert methods.loc["spectrum_map", ("validation", "lowest")] == pytest.approx(0.54)
    assert methods.loc["spectrum_map", ("kmcp15", "binned")] == pytest.approx(10.5)
    assert methods.loc["spectrum_map", ("kmcp15", "seeds")] == 2
    assert [c[0] for c in methods.columns][:5] == ["validation"] * 5
    assert list(pairs["models"]) == ["2 vs 1", "1 vs 1"]
    assert list(pairs["95% interval"]) == ["[+0.010, +0.090]"] * 2
    with pytest.raises(DnalibError, match="one draw of fragments: .*--kmcp15-draws"):
        records.draws_table(rec)
    # further draws of kmcp15 fragments: left out of the two tables, pooled by draws_table
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "bench_real_genomes", Path(__file__).resolve().parents[1] / "benchmarks" / "bench_real_genomes.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rec["sets"]["kmcp15@1"] = {"methods": {"kmer6": method(0.55, 9), "spectrum_map/0": method(0.64, 11),
                                           "spectrum_map/1": method(0.6, 10)}, "comparisons": []}
    rec["sets"]["kmcp15@2"] = {"methods": {"kmer6": method(0.5, 10)}, "comparisons": []}
    with pytest.raises(SystemExit):  # refused while parsing, before any data is read
        bench.main(["--kmcp15-draws", "0", "--out", "never-written.json"])
    rec["over_draws"] = bench.over_draws(rec)
    assert rec["over_draws"]["draws"] == ["kmcp15", "kmcp15@1", "kmcp15@2"]
    assert "spectrum_map" not in rec["over_draws"]["methods"]  # not scored on every draw
    del rec["sets"]["kmcp15@2"]
    rec["over_draws"] = bench.over_draws(rec)
    again, _ = records.paired_tables(rec)
    assert again.equals(methods)
    table = records.draws_table(rec)
    assert table.loc["spectrum_map", "binned"] == pytest.approx(10.5)  # (10.5 + 10.5) / 2
    assert table.loc["spectrum_map", "binned per draw"] == "10.5 10.5"
    assert table.loc["spectrum_map", "binned − 6-mer"] == pytest.approx(0.5)  # -0.5 and +1.5
    assert (table.loc["spectrum_map", "lowest"], table.loc["spectrum_map", "highest"]) == (-0.5, 1.5)
    assert table.loc["spectrum_map", "ARI − 6-mer"] == pytest.approx((0.61 - 0.53 + 0.62 - 0.55) / 2)


def test_ship_weights_from_a_finished_map_run_checks_it_is_the_recipe(
        isolated_data_env: Path, shared_data_real: Path, real: io.GenomeSet, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`ship_weights.py NAME --from DIR` ships a run trained elsewhere as a fresh one would be, after
    checking its settings and data; a run of other settings is refused, naming them."""
    import importlib.util

    from dnalib import artifacts

    monkeypatch.setenv("DNALIB_DATA_MIRROR", str(shared_data_real))
    spec = importlib.util.spec_from_file_location(
        "ship_weights", Path(__file__).resolve().parents[1] / "benchmarks" / "ship_weights.py")
    ship = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ship)
    monkeypatch.setattr(artifacts, "shipped_path", lambda name, profile=None: tmp_path / "weights" / name)
    groups = species_groups(real.split("train"))
    train_spectrum_map(groups, tmp_path / "map", SpectrumMapConfig(), progress=False)
    train_spectrum_map(groups, tmp_path / "short", SpectrumMapConfig(steps=3), progress=False)
    for name, run, match in (("spectrum_map_aug10", "map", r"augment_errors=None \(recipe 'longread10'\)"),
                             ("spectrum_map", "short", r"steps=3 \(recipe 300\)")):
        with pytest.raises(SystemExit, match=f"{name}: .* not trained with the .* recipe of '{name}': {match}"):
            ship.main([name, "--from", str(tmp_path / run)])
    with pytest.raises(SystemExit, match="ships one artifact"):
        ship.main(["spectrum_map", "spectrum_map_refit", "--from", str(tmp_path / "map")])
    assert not (tmp_path / "weights").exists()
    ship.main(["spectrum_map", "--from", str(tmp_path / "map")])
    shipped = tmp_path / "weights" / "spectrum_map"
    assert sorted(p.name for p in shipped.iterdir()) == sorted(ship.SHIPPED + (artifacts.SUMS_FILE,))
    assert artifacts.shipped_matches("spectrum_map")  # recipe and sums
    assert artifacts.get("spectrum_map", progress=False) == artifacts.path("spectrum_map")
    info = json.loads((shipped / "dnalib_spectrum_map.json").read_text())
    assert not any(str(tmp_path) in json.dumps(v) for v in info.values())


def test_refit_map_retrains_from_the_mirror_on_the_data_it_ships_with(
        isolated_data_env: Path, shared_data_real: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dnalib import artifacts

    monkeypatch.setenv("DNALIB_DATA_MIRROR", str(shared_data_real))
    trained = artifacts.get("spectrum_map_refit", force=True, progress=False)
    info = json.loads((trained / "dnalib_spectrum_map.json").read_text())
    shipped = json.loads((artifacts.shipped_path("spectrum_map_refit") / "dnalib_spectrum_map.json").read_text())
    assert info["fingerprints"] == shipped["fingerprints"] and info["groups"] == 96
    assert info["data"] == artifacts.REFIT_TRAINING
