"""`dnalib evaluate --sequences`: labelled marker-gene sequences, tiles, grouped splits, label parsing.

Every edge case of real inputs is handled *and counted* (dnalib.markers): the
tests check the counts, and that bad tables and FASTA files end in one line.
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dnalib import markers
from dnalib.cli import main
from dnalib.errors import DnalibError
from dnalib.io import DAIRYDB_RANKS, write_fasta

RNG = np.random.default_rng(0)


def _random_dna(n: int, rng: np.random.Generator = RNG) -> str:
    return "".join(rng.choice(list("ACGT"), n))


def _mutate(seq: str, rate: float, rng: np.random.Generator) -> str:
    s = np.array(list(seq))
    hit = rng.random(len(s)) < rate
    s[hit] = rng.choice(list("ACGT"), hit.sum())
    return "".join(s)


def _labels(rows: dict[str, list[str]], ranks=("phylum", "genus")) -> pd.DataFrame:
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(ranks)).rename_axis("id")


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("dnalib: error: "), err
    assert "Traceback" not in err[0]
    return err[0]


# --------------------------------------------------------------------------- tiling


def test_tiles_are_adjacent_non_overlapping_and_inherit_labels():
    seqs = {"a": _random_dna(450), "short": _random_dna(199), "b": _random_dna(600)}
    labels = _labels({"a": ["P1", "G1"], "short": ["P1", "G2"], "b": ["P2", "G3"]})
    f = markers.labelled_fragments(list(seqs), list(seqs.values()), labels, tile=200)
    assert f.sequences == [seqs["a"][:200], seqs["a"][200:400], seqs["b"][:200], seqs["b"][200:400],
                           seqs["b"][400:600]]
    assert f.table["id"].tolist() == ["a", "a", "b", "b", "b"]
    assert f.table["start"].tolist() == [0, 200, 0, 200, 400]
    assert f.table["genus"].tolist() == ["G1", "G1", "G3", "G3", "G3"]
    assert f.report["shorter_than_tile"] == 1 and f.report["shorter_than_tile_examples"] == ["short"]
    assert f.report["n_fragments"] == 5 and f.report["n_used_sequences"] == 2
    whole = markers.labelled_fragments(list(seqs), list(seqs.values()), labels)
    assert whole.sequences == list(seqs.values()) and whole.report["shorter_than_tile"] == 0


def test_max_tiles_keeps_a_seeded_choice_in_order_and_counts_the_rest():
    seq = _random_dna(1000)
    labels = _labels({"a": ["P", "G"]})
    f = markers.labelled_fragments(["a"], [seq], labels, tile=100, max_tiles=3, seed=5)
    starts = f.table["start"].tolist()
    assert len(starts) == 3 and starts == sorted(starts)
    assert all(f.sequences[i] == seq[s:s + 100] for i, s in enumerate(starts))
    assert f.report["tiles_not_used"] == 7
    again = markers.labelled_fragments(["a"], [seq], labels, tile=100, max_tiles=3, seed=5)
    assert again.table["start"].tolist() == starts


def test_tiling_nothing_long_enough_is_an_error():
    with pytest.raises(DnalibError, match="no sequence is at least 200 bp"):
        markers.labelled_fragments(["a"], ["ACGT" * 10], _labels({"a": ["P", "G"]}), tile=200)


# --------------------------------------------------------------------------- grouped splits


class _Recorder:
    """A classifier that records which samples (feature column 0 = sample index) it trains and tests on."""

    seen: list[tuple[set[int], set[int]]] = []

    def __init__(self) -> None:
        self.train: set[int] = set()

    def get_params(self, deep: bool = True) -> dict:
        return {}

    def set_params(self, **params):
        return self

    def fit(self, x, y):
        self.train = set(x[:, 0].astype(int).tolist())
        self.y = y[0]
        return self

    def predict(self, x):
        _Recorder.seen.append((self.train, set(x[:, 0].astype(int).tolist())))
        return np.full(len(x), self.y)


def test_no_source_sequence_is_on_both_sides_of_a_split():
    rng = np.random.default_rng(1)
    ids, seqs, rows = [], [], {}
    for g in range(4):
        base = _random_dna(800, rng)
        for s in range(6):
            ids.append(f"g{g}s{s}")
            seqs.append(_mutate(base, 0.05, rng))
            rows[ids[-1]] = [f"P{g % 2}", f"G{g}"]
    ids.append("copy")  # an identical copy of g0s0: one group with it
    seqs.append(seqs[0])
    rows["copy"] = ["P0", "G0"]
    f = markers.labelled_fragments(ids, seqs, _labels(rows), tile=100)
    assert f.table.loc[f.table["id"] == "copy", "group"].iloc[0] == f.table.loc[f.table["id"] == "g0s0",
                                                                                 "group"].iloc[0]
    x = np.c_[np.arange(len(f.sequences)), np.zeros(len(f.sequences))]
    _Recorder.seen = []
    res = markers.classify_by_rank(x, f, ["phylum", "genus"], n_splits=3,
                                   classifiers={"recorder": _Recorder()})
    assert len(_Recorder.seen) == 6 and not res["skipped"]
    source = f.table["id"].to_numpy()
    group = f.table["group"].to_numpy()
    for train, test in _Recorder.seen:
        assert train and test and not train & test
        assert not set(source[list(train)]) & set(source[list(test)])
        assert not set(group[list(train)]) & set(group[list(test)])
    assert {r["n_splits"] for r in res["taxonomy"]} == {3}
    # folds given set the number of splits: min_per_taxon is checked against theirs, not n_splits'
    from dnalib.evaluate import grouped_folds

    folds = grouped_folds(f.table["phylum"], f.table["group"], n_splits=2, seed=0)
    given = markers.classify_by_rank(x, f, ["phylum"], min_per_taxon=2, folds=folds, classifiers=["knn"])
    assert {r["n_splits"] for r in given["taxonomy"]} == {2} and not given["skipped"]
    with pytest.raises(DnalibError, match="min_per_taxon=2 is below n_splits=3"):
        markers.classify_by_rank(x, f, ["phylum"], min_per_taxon=2, n_splits=3, classifiers=["knn"])


def test_a_rank_without_two_usable_taxa_is_skipped_with_the_reason():
    rng = np.random.default_rng(2)
    ids = [f"s{i}" for i in range(12)]
    seqs = [_random_dna(400, rng) for _ in ids]
    rows = {i: ["Bacteria", f"G{n % 2}"] for n, i in enumerate(ids)}
    f = markers.labelled_fragments(ids, seqs, _labels(rows, ("kingdom", "genus")), tile=100)
    x = markers.embed_fragments("tnf", f)[0]
    res = markers.classify_by_rank(x, f, n_splits=3, classifiers=["knn"])
    assert "taxonomy/kingdom" in res["skipped"] and "1 usable taxon" in res["skipped"]["taxonomy/kingdom"]
    assert [r["rank"] for r in res["taxonomy"]] == ["genus"]


def test_taxa_of_a_single_sequence_are_set_aside_and_counted():
    rng = np.random.default_rng(3)
    ids = [f"s{i}" for i in range(9)]
    seqs = [_random_dna(1000, rng) for _ in ids]
    rows = {i: ["P", ["A", "A", "A", "A", "B", "B", "B", "B", "lonely"][n]] for n, i in enumerate(ids)}
    f = markers.labelled_fragments(ids, seqs, _labels(rows), tile=100)
    x = markers.embed_fragments("tnf", f)[0]
    res = markers.classify_by_rank(x, f, ["genus"], n_splits=2, classifiers=["knn"])
    (row,) = res["taxonomy"]
    assert row["n_taxa"] == 2 and row["n_few_sequences"] == 10 and row["n_samples"] == 80


# --------------------------------------------------------------------------- labels


@pytest.mark.parametrize("label", ["", "  ", "g__", "s__", "unidentified", "Unknown", "uncultured",
                                   "uncultured_bacterium", "uncultured rumen bacterium",
                                   "Clostridiales_Incertae_Sedis", "Incertae_Sedis", "Bacillus_sp",
                                   "Penicillium sp.", "g__unidentified", "NA", "gut_metagenome"])
def test_placeholders_mean_no_taxon(label):
    assert markers.is_placeholder(label)


@pytest.mark.parametrize("label", ["Bacillus", "g__Bacillus", "Ruminococcaceae_Genus",
                                   "Bacillus_subtilis", "Prevotella_genomosp._C2", "Spirosoma"])
def test_named_taxa_are_not_placeholders(label):
    assert not markers.is_placeholder(label)


def test_the_rule_extends_the_taxonomy_tasks_rule():
    from dnalib.evaluate import PLACEHOLDER_PATTERN

    assert markers.PLACEHOLDER_PATTERN.startswith(PLACEHOLDER_PATTERN)


# Taxon names as references spell them: letters, digits, '_', '.', '-', inner spaces; never 'x__...'.
_LABEL = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9_. -]{0,10}[A-Za-z0-9])?", fullmatch=True).filter(
    lambda s: s[1:3] != "__")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(list(markers.LINEAGE_PREFIXES)), _LABEL | st.just("")),
                min_size=1, max_size=8, unique_by=lambda t: t[0]),
       st.sampled_from([";", "; "]), st.booleans())
def test_prefixed_lineages_parse_to_their_ranks(levels, sep, trailing):
    text = sep.join(f"{p}__{lab}" for p, lab in levels) + (";" if trailing else "")
    parsed = markers.parse_lineage(text)
    assert parsed == {markers.LINEAGE_PREFIXES[p]: lab for p, lab in levels}


@settings(max_examples=200, deadline=None)
@given(st.lists(_LABEL | st.just(""), min_size=1, max_size=7), st.booleans())
def test_plain_lineages_fill_the_ranks_in_order(levels, trailing):
    text = ";".join(levels) + (";" if trailing else "")
    parsed = markers.parse_lineage(text)
    assert list(parsed) == list(DAIRYDB_RANKS)
    assert [parsed[r] for r in DAIRYDB_RANKS[:len(levels)]] == levels
    assert all(parsed[r] == "" for r in DAIRYDB_RANKS[len(levels):])


def test_malformed_lineages_are_one_clear_error():
    with pytest.raises(DnalibError, match="mixes prefixed"):
        markers.parse_lineage("k__Fungi;Ascomycota")
    with pytest.raises(DnalibError, match="twice"):
        markers.parse_lineage("k__Fungi;k__Plantae")
    with pytest.raises(DnalibError, match="8 levels"):
        markers.parse_lineage(";".join("abcdefgh"))


def test_label_tables_of_every_layout(tmp_path):
    cols = tmp_path / "cols.tsv"
    cols.write_text("id\tphylum\tgenus\na\tFirmicutes\tg__Bacillus\nb\t p__Proteobacteria \t\n")
    t, info = markers.read_sequence_labels(cols)
    assert info["layout"] == "columns" and t.loc["a"].tolist() == ["Firmicutes", "Bacillus"]
    assert t.loc["b"].tolist() == ["Proteobacteria", ""]
    mothur = tmp_path / "dairy.txt"  # DAIRYdb: no header, plain lineage with a trailing ';'
    mothur.write_text("x1\tBacteria;Firmicutes;Bacilli;Bacillales;Bacillaceae;Bacillus;Bacillus_subtilis;\n"
                      "x2\tBacteria;Proteobacteria;Gammaproteobacteria;Enterobacterales;;;;\n")
    t, info = markers.read_sequence_labels(mothur)
    assert info["layout"] == "lineage" and list(t.columns) == list(DAIRYDB_RANKS)
    assert t.loc["x1", "genus"] == "Bacillus" and t.loc["x2", "genus"] == ""
    unite = tmp_path / "unite.txt"
    unite.write_text("SH1\tk__Fungi;p__Ascomycota;c__Eurotiomycetes;o__Eurotiales;f__Aspergillaceae;"
                     "g__Penicillium;s__Penicillium_sp\n")
    t, _ = markers.read_sequence_labels(unite)
    assert list(t.columns) == ["kingdom", "phylum", "class", "order", "family", "genus", "species"]
    qiime = tmp_path / "qiime.tsv"
    qiime.write_text("Feature ID\tTaxon\tConfidence\nf1\td__Bacteria; p__Firmicutes; g__Bacillus\t0.99\n")
    t, info = markers.read_sequence_labels(qiime)
    assert list(t.columns) == ["domain", "phylum", "genus"] and info["ignored_columns"] == ["Confidence"]
    silva = tmp_path / "silva.txt"
    silva.write_text("s1\tBacteria;Firmicutes;Bacilli;Lactobacillales;Lactobacillaceae;Lactobacillus;\n")
    t, _ = markers.read_sequence_labels(silva, lineage_ranks=["domain", "phylum", "class", "order",
                                                              "family", "genus"])
    assert t.loc["s1", "domain"] == "Bacteria" and t.loc["s1", "genus"] == "Lactobacillus"


@pytest.mark.parametrize("content, message", [
    (b"\x00\x01\x02binary", "binary file"),
    (b"name\tphylum\na\tP\n", "no id column"),
    (b"id\tphylum\na\tP\na\tQ\n", "line 3.*duplicate id 'a'"),
    (b"id\tphylum\tgenus\na\tP\n", "line 2.*2 tab-separated fields, expected 3"),
    (b"a\tk__Fungi;Ascomycota\n", "line 1.*mixes prefixed"),
    (b"id\tphylum\n", "header but no rows"),
    (b"\xff\xfe bad", "not UTF-8"),
    (b"", "empty"),
])
def test_bad_label_tables_are_one_line(tmp_path, capsys, content, message):
    (tmp_path / "t.tsv").write_bytes(content)
    write_fasta({"a": _random_dna(300)}, tmp_path / "s.fa")
    status = main(["evaluate", "--model", "tnf", "--sequences", str(tmp_path / "s.fa"), "--taxonomy",
                   str(tmp_path / "t.tsv"), "--out", str(tmp_path / "r.json")])
    assert status == 1
    import re

    assert re.search(message, _one_error_line(capsys))
    assert not (tmp_path / "r.json").exists()


# --------------------------------------------------------------------------- edge cases, counted


@pytest.fixture(scope="module")
def its_like(tmp_path_factory) -> Path:
    """A hand-made ITS-like set: UNITE lineages, lengths 150-700 bp, every edge case of real inputs."""
    rng = np.random.default_rng(7)
    root = tmp_path_factory.mktemp("its")
    genera = {"Penicillium": "Ascomycota", "Aspergillus": "Ascomycota", "Fusarium": "Ascomycota",
              "Russula": "Basidiomycota", "Amanita": "Basidiomycota", "Mucor": "Mucoromycota"}
    seqs, lines = {}, []
    for genus, phylum in genera.items():
        base = _random_dna(700, rng)
        for j in range(8):
            sid = f"SH_{genus}_{j}"
            seqs[sid] = _mutate(base, 0.04, rng)[: int(rng.integers(450, 700))]
            species = f"{genus}_sp" if j == 0 else f"{genus}_species{j % 3}"
            lines.append(f"{sid}\tk__Fungi;p__{phylum};c__;o__;f__;g__{genus};s__{species}")
    seqs["SH_Penicillium_1"] = seqs["SH_Penicillium_1"].lower()  # soft-masked
    seqs["SH_Russula_2"] = seqs["SH_Russula_2"][:100] + "N" * 300 + seqs["SH_Russula_2"][400:]
    seqs["SH_Amanita_3"] = seqs["SH_Amanita_3"][:80] + "RYKM" + seqs["SH_Amanita_3"][84:]
    seqs["SH_short"] = _random_dna(150, rng)  # shorter than a tile
    lines.append("SH_short\tk__Fungi;p__Ascomycota;c__;o__;f__;g__Fusarium;s__Fusarium_x")
    seqs["SH_dup"] = seqs["SH_Mucor_4"]  # identical sequence, other genus: a conflict
    lines.append("SH_dup\tk__Fungi;p__Mucoromycota;c__;o__;f__;g__Rhizopus;s__Rhizopus_y")
    seqs["SH_unlabelled"] = _random_dna(500, rng)  # no label row
    lines.append("SH_gone\tk__Fungi;p__Ascomycota;c__;o__;f__;g__Fusarium;s__Fusarium_z")  # no sequence
    lines.append("SH_unknown\tk__Fungi;p__unidentified;c__;o__;f__;g__unidentified;s__unidentified")
    seqs["SH_unknown"] = _random_dna(500, rng)
    write_fasta(seqs, root / "its.fasta")
    (root / "its_taxonomy.txt").write_text("\n".join(lines) + "\n")
    return root


def test_every_edge_case_is_counted(its_like):
    f = markers.load_labelled_sequences(its_like / "its.fasta", its_like / "its_taxonomy.txt", tile=200)
    r = f.report
    assert r["n_sequences"] == 52 and r["n_label_rows"] == 52
    assert r["sequences_without_labels"] == 1 and r["sequences_without_labels_examples"] == ["SH_unlabelled"]
    assert r["labels_without_sequences"] == 1 and r["labels_without_sequences_examples"] == ["SH_gone"]
    assert r["lower_case"] == 1 and r["stray_semicolons"] == 0
    assert r["sequences_with_ambiguous_bases"] == 2
    assert r["shorter_than_tile"] == 1 and r["shorter_than_tile_examples"] == ["SH_short"]
    assert r["identical_sequences"] == 1
    assert r["conflicting_labels"]["genus"] == 2 and r["conflicting_labels"]["phylum"] == 0
    assert r["placeholder_labels"]["phylum"] == 1 and r["placeholder_labels"]["genus"] == 1
    assert r["placeholder_labels"]["species"] == 6 + 1  # the Genus_sp rows and SH_unknown
    assert r["empty_labels"]["class"] == 51
    assert all(s == s.upper() for s in f.sequences)
    assert not f.table.loc[f.table["id"].isin(["SH_dup", "SH_Mucor_4"]), "genus"].notna().any()
    keep = markers.load_labelled_sequences(its_like / "its.fasta", its_like / "its_taxonomy.txt", tile=200,
                                           conflicting="keep")
    assert set(keep.table.loc[keep.table["id"].isin(["SH_dup", "SH_Mucor_4"]), "genus"]) == {"Mucor",
                                                                                             "Rhizopus"}
    x, used = markers.embed_fragments("kmer6", f)
    assert used.report["unembeddable"] == 1  # the tile that is all N
    assert len(x) == len(used.sequences) == r["n_fragments"] - 1


def test_cli_on_an_its_like_set(its_like, tmp_path, capsys):
    out = tmp_path / "its.json"
    assert main(["evaluate", "--model", "kmer6", "--sequences", str(its_like / "its.fasta"), "--taxonomy",
                 str(its_like / "its_taxonomy.txt"), "--tile", "200", "--ranks", "kingdom,phylum,genus",
                 "--splits", "3", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    rec = json.loads(out.read_text())
    assert {(r["rank"], r["classifier"]) for r in rec["taxonomy"]} == {
        (k, c) for k in ("phylum", "genus") for c in ("knn", "rf")}
    assert "taxonomy/kingdom" in rec["skipped"] and "skipped taxonomy/kingdom" in printed
    assert rec["settings"]["tile"] == 200 and rec["settings"]["n_splits"] == 3
    assert rec["inputs"]["unembeddable"] == 1 and rec["inputs"]["shorter_than_tile"] == 1
    assert rec["embedder"]["baseline"] == "kmer6"
    for r in rec["taxonomy"]:
        assert 0 <= r["accuracy"] <= 1 and r["n_splits"] == 3
        assert r["n_samples"] + r["n_dropped"] == rec["n_samples"]
    genus = next(r for r in rec["taxonomy"] if r["rank"] == "genus" and r["classifier"] == "knn")
    assert genus["n_taxa"] == 6 and genus["accuracy"] > 0.5  # six well separated genera
    assert "shorter_than_tile" in printed and "unembeddable" in printed


def test_cli_with_a_tiny_transformer(its_like, tmp_path):
    from dnalib.models import model_config, new_mlm_model
    from dnalib.tokenizers import make_tokenizer

    tok = make_tokenizer("kmer", k=4)
    model = new_mlm_model(model_config(tok, profile="smoke", max_tokens=80), seed=0)
    model.save_pretrained(tmp_path / "model")
    tok.save_pretrained(tmp_path / "model")
    out = tmp_path / "t.json"
    assert main(["evaluate", "--model", str(tmp_path / "model"), "--sequences", str(its_like / "its.fasta"),
                 "--taxonomy", str(its_like / "its_taxonomy.txt"), "--tile", "200", "--max-tiles", "1",
                 "--ranks", "phylum", "--splits", "2", "--min-per-taxon", "4", "--no-progress",
                 "--out", str(out)]) == 0
    rec = json.loads(out.read_text())
    assert rec["embedder"]["model_dir"] == str(tmp_path / "model")
    assert rec["settings"]["max_tiles"] == 1 and rec["settings"]["min_per_taxon"] == 4
    assert {r["classifier"] for r in rec["taxonomy"]} == {"knn", "rf"}


@pytest.mark.parametrize("extra, message", [
    (["--tile", "200", "--per-genome", "5"], "--per-genome only apply to --genomes"),
    (["--ranks", "phylum,subgenus"], "subgenus"),
    (["--splits", "5", "--min-per-taxon", "3"], "min_per_taxon=3 is below n_splits=5"),
    (["--ranks", "class"], "no rank could be scored"),
])
def test_impossible_sequence_options_are_one_line(its_like, tmp_path, capsys, extra, message):
    status = main(["evaluate", "--model", "tnf", "--sequences", str(its_like / "its.fasta"), "--taxonomy",
                   str(its_like / "its_taxonomy.txt"), *extra, "--out", str(tmp_path / "r.json")])
    assert status == 1 and message in _one_error_line(capsys)
    assert not (tmp_path / "r.json").exists()


def test_sequence_options_with_a_genome_set_and_missing_inputs(its_like, tmp_path, capsys):
    fasta, tax, out = str(its_like / "its.fasta"), str(its_like / "its_taxonomy.txt"), str(tmp_path / "r.json")
    assert main(["evaluate", "--model", "tnf", "--genomes", str(tmp_path), "--tile", "200",
                 "--out", out]) == 1
    assert "--tile only apply to --sequences" in _one_error_line(capsys)
    assert main(["evaluate", "--model", "tnf", "--sequences", fasta, "--out", out]) == 1
    assert "needs --taxonomy" in _one_error_line(capsys)
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", "--model", "tnf", "--sequences", fasta, "--genomes", str(tmp_path),
              "--taxonomy", tax, "--out", out])
    assert exc.value.code == 2
    capsys.readouterr()
    (tmp_path / "bin.fa").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00binary")
    assert main(["evaluate", "--model", "tnf", "--sequences", str(tmp_path / "bin.fa"), "--taxonomy", tax,
                 "--out", out]) == 1
    _one_error_line(capsys)
    (tmp_path / "other.fa").write_text(">nope\nACGTACGTAC\n")
    assert main(["evaluate", "--model", "tnf", "--sequences", str(tmp_path / "other.fa"), "--taxonomy", tax,
                 "--out", out]) == 1
    assert "none of the 1 sequence ids is in the label table" in _one_error_line(capsys)
    (tmp_path / "gap.fa").write_text(">SH_Mucor_1\nACGT-ACGT\n")
    assert main(["evaluate", "--model", "tnf", "--sequences", str(tmp_path / "gap.fa"), "--taxonomy", tax,
                 "--out", out]) == 1
    assert "degap" in _one_error_line(capsys)
    assert not Path(out).exists()


# --------------------------------------------------------------------------- DAIRYdb from the mirror


@pytest.fixture(scope="module")
def dairy_subset(shared_data, tmp_path_factory) -> Path:
    """240 DAIRYdb sequences of 3 phyla, the mothur files' text as it is (stray ';' on sequence lines)."""
    archive = shared_data / "dairydb" / "DAIRYdb_v1.2.4_20200604_mothur.tgz"
    with tarfile.open(archive) as tar:
        names = [m.name for m in tar.getmembers() if m.isfile()]
        fasta = tar.extractfile(next(n for n in names if n.endswith(".fasta"))).read().decode()
        tax = tar.extractfile(next(n for n in names if n.endswith("taxonomy.txt"))).read().decode()
    lineage = dict(line.split("\t", 1) for line in tax.splitlines() if line)
    records = [r for r in fasta.split(">")[1:]
               if lineage[r.split("\n", 1)[0].strip()].split(";")[1] in ("Firmicutes", "Proteobacteria",
                                                                          "Actinobacteria")]
    rng = np.random.default_rng(0)
    chosen = [records[i] for i in np.sort(rng.choice(len(records), 240, replace=False))]
    root = tmp_path_factory.mktemp("dairy")
    (root / "DDB.fasta").write_text("".join(">" + r for r in chosen))
    (root / "DDB_taxonomy.txt").write_text(
        "".join(f"{r.split(chr(10), 1)[0].strip()}\t{lineage[r.split(chr(10), 1)[0].strip()]}\n"
                for r in chosen))
    return root


def test_cli_end_to_end_on_dairydb(dairy_subset, tmp_path, capsys):
    assert ";\n" in (dairy_subset / "DDB.fasta").read_text()[:5000]  # the raw mothur text
    out = tmp_path / "dairy.json"
    assert main(["evaluate", "--model", "tnf", "--sequences", str(dairy_subset / "DDB.fasta"),
                 "--taxonomy", str(dairy_subset / "DDB_taxonomy.txt"), "--tile", "200", "--max-tiles", "2",
                 "--ranks", "phylum,order", "--splits", "3", "--out", str(out)]) == 0
    rec = json.loads(out.read_text())
    assert rec["inputs"]["stray_semicolons"] == 240 and rec["inputs"]["label_table_layout"] == "lineage"
    assert rec["inputs"]["n_fragments"] == 480 and rec["n_samples"] == 480
    phylum = {r["classifier"]: r for r in rec["taxonomy"] if r["rank"] == "phylum"}
    assert phylum.keys() == {"knn", "rf"} and phylum["knn"]["n_taxa"] == 3
    assert phylum["knn"]["accuracy"] > 0.7  # TNF of 200 bp tiles tells these phyla apart
    assert all(r["n_splits"] == 3 for r in rec["taxonomy"])
    assert "phylum/knn" in capsys.readouterr().out


def test_bench_markers_smoke_run(shared_data, tmp_path, monkeypatch):
    """benchmarks/bench_markers.py --smoke: the same tiles for every model, rows against 6-mer + RF."""
    import importlib.util

    monkeypatch.setenv("DNALIB_DATA_MIRROR", str(shared_data))
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_markers.py"
    spec = importlib.util.spec_from_file_location("bench_markers", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "markers.json"
    rec = bench.main(["--smoke", "--models", "6mer_freq", "spectrum_map", "--jobs", "1",
                      "--out", str(out)])
    saved = json.loads(out.read_text())
    assert saved["complete"] and saved["commit"] and saved["hardware"] and "--smoke" in saved["command"]
    assert saved["n_samples"] == 200 and saved["settings"]["n_splits"] == 3
    assert {r["model"] for r in rec["rows"]} == {"6mer_freq", "spectrum_map"}
    ref = [r for r in rec["rows"] if (r["model"], r["classifier"]) == ("6mer_freq", "rf")]
    assert ref and all(r["accuracy_minus_6mer_rf"] == 0 for r in ref)
    assert all("accuracy_minus_6mer_rf" in r for r in rec["rows"])
    assert saved["models"]["6mer_freq"]["dim"] == 4096
    assert all(k.endswith("taxonomy/genus") for k in saved["skipped"])  # too few sequences per genus
    with pytest.raises(SystemExit):
        bench.main(["--smoke"])  # would overwrite the full run's record


def test_bad_arguments_are_errors_not_skipped_ranks():
    f = markers.labelled_fragments([f"s{i}" for i in range(6)], [_random_dna(300) for _ in range(6)],
                                   _labels({f"s{i}": ["P", f"G{i % 2}"] for i in range(6)}), tile=100)
    x = np.zeros((len(f.sequences), 3))
    for kwargs, message in (({"classifiers": ["svm"]}, "classifiers must be among"),
                            ({"knn_k": 0}, "knn_k must be"), ({"n_splits": 1}, "n_splits must be"),
                            ({"min_sequences": 0}, "min_sequences must be")):
        with pytest.raises(DnalibError, match=message):
            markers.classify_by_rank(x, f, ["genus"], min_per_taxon=2, **kwargs)


def test_the_fasta_reader_strips_only_dairydbs_line_end_semicolons(tmp_path):
    from dnalib.io import read_fasta

    (tmp_path / "m.fasta").write_text(">a\nACGT;\nacgt;\n>b\nGGCC;\n")
    assert [r.sequence for r in read_fasta(tmp_path / "m.fasta", mothur=True)] == ["ACGTACGT", "GGCC"]
    with pytest.raises(DnalibError, match="';'"):
        list(read_fasta(tmp_path / "m.fasta"))
    (tmp_path / "mid.fasta").write_text(">a\nAC;GT\n")
    with pytest.raises(DnalibError, match="';'"):
        list(read_fasta(tmp_path / "mid.fasta", mothur=True))
