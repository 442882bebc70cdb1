"""Tests for dnalib.io: readers, genome sets, 16S references, inspect, and their errors."""

from __future__ import annotations

import gzip
import time
from pathlib import Path

import pandas as pd
import pytest

from dnalib import io
from dnalib.errors import DataNotFoundError, DnalibError, InputFormatError

TAX_HEADER = "id\tsuperkingdom\tphylum\tclass\torder\tfamily\tgenus\tspecies\n"


def write(path: Path, text: str | bytes) -> Path:
    data = text.encode() if isinstance(text, str) else text
    if path.suffix == ".gz":
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def tax_row(gid: str, genus: str = "Gen", species: str = "Gen sp") -> str:
    return f"{gid}\tBacteria\tPhy\tCla\tOrd\tFam\t{genus}\t{species}\n"


def assert_one_line(exc: pytest.ExceptionInfo[BaseException], *fragments: str) -> str:
    msg = str(exc.value)
    assert "\n" not in msg, msg
    assert isinstance(exc.value, DnalibError)
    for frag in fragments:
        assert frag in msg, f"{frag!r} not in {msg!r}"
    return msg


def make_genome_set(root: Path, ids: list[str], rows: list[str] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for k, gid in enumerate(ids):
        write(
            root / f"{gid}.fa.gz",
            f">{gid}_1 contig one\nACGTACGTAC\nGGCC\n>{gid}_2\nTTTT{'A' * k}\n",
        )
    rows = rows if rows is not None else [tax_row(g, "G" + g, "S " + g) for g in ids]
    write(root / "taxonomy.tsv", TAX_HEADER + "".join(rows))
    return root


# --------------------------------------------------------------------------- positive cases


def test_fasta_plain_and_gzip_round_trip(tmp_path: Path) -> None:
    records = {"seq1": "ACGT" * 50 + "N", "seq2": "GGGCCCAAATTT"}
    for name in ("x.fa", "x.fa.gz"):
        path = io.write_fasta(records, tmp_path / name, line_width=60)
        got = list(io.read_fasta(path))
        assert [r.id for r in got] == ["seq1", "seq2"]
        assert [r.sequence for r in got] == list(records.values())
        assert all(r.quality is None for r in got)
    assert gzip.decompress((tmp_path / "x.fa.gz").read_bytes()) == (tmp_path / "x.fa").read_bytes()


def test_gzip_output_is_deterministic(tmp_path: Path) -> None:
    a = io.write_fasta({"a": "ACGT"}, tmp_path / "a.fa.gz")
    time.sleep(0.01)
    b = io.write_fasta({"a": "ACGT"}, tmp_path / "b.fa.gz")
    assert a.read_bytes() == b.read_bytes()


def test_crlf_lowercase_and_blank_lines_are_normalised(tmp_path: Path) -> None:
    path = write(
        tmp_path / "crlf.fasta", ">r1 some description\r\nacgtn\r\nRYKM\r\n\r\n>r2\r\nggcc\r\n"
    )
    recs = list(io.read_fasta(path))
    assert [(r.id, r.description, r.sequence) for r in recs] == [
        ("r1", "r1 some description", "ACGTNRYKM"),
        ("r2", "r2", "GGCC"),
    ]


def test_all_iupac_codes_are_accepted(tmp_path: Path) -> None:
    path = write(tmp_path / "iupac.fa", ">a\nACGTNRYSWKMBDHV\n>b\nacgtnryswkmbdhv\n")
    assert [r.sequence for r in io.read_fasta(path)] == ["ACGTNRYSWKMBDHV"] * 2


def test_fastq_plain_and_gzip(tmp_path: Path) -> None:
    text = "@read1 lane=1\nacgtN\n+\nIIII#\n@read2\nGGCC\n+\n!!!!\n"
    for name in ("r.fq", "r.fastq.gz"):
        path = write(tmp_path / name, text)
        recs = list(io.read_fastq(path))
        assert [(r.id, r.sequence, r.quality) for r in recs] == [
            ("read1", "ACGTN", "IIII#"),
            ("read2", "GGCC", "!!!!"),
        ]
        assert [r.id for r in io.read_sequences(path)] == ["read1", "read2"]


def test_read_sequences_detects_fasta(tmp_path: Path) -> None:
    path = write(tmp_path / "noext.gz", "\n>a\nACGT\n")
    assert io.detect_format(path) == "fasta"
    assert [r.sequence for r in io.read_sequences(path)] == ["ACGT"]


def test_readers_stream(tmp_path: Path) -> None:
    path = write(tmp_path / "s.fa", ">a\nACGT\n>b\nXXXX\n")
    it = io.read_fasta(path)
    assert next(it).id == "a"  # the bad second record is only reached later
    with pytest.raises(InputFormatError):
        next(it)


def test_genome_set_round_trip(tmp_path: Path) -> None:
    taxonomy = pd.DataFrame(
        {
            "id": ["g1", "g2"],
            "genus": ["Escherichia", "Shigella"],
            "species": ["Escherichia coli", "Shigella flexneri"],
        }
    )
    genomes = {"g1": ["ACGTACGT", "GGGG"], "g2": "ttttaaaaccN"}
    for compress in (False, True):
        root = io.write_genome_set(genomes, taxonomy, tmp_path / f"set{compress}", gzip=compress)
        assert (root / ("g1.fa.gz" if compress else "g1.fa")).exists()
        gs = io.load_genome_set(root)
        assert gs.ids == ["g1", "g2"]
        assert gs.ranks == ["genus", "species"]
        assert gs.labels("species") == ["Escherichia coli", "Shigella flexneri"]
        assert gs.labels("genus") == ["Escherichia", "Shigella"]
        assert gs.genomes["g1"] == ["ACGTACGT", "GGGG"]
        assert gs.genomes["g2"] == ["TTTTAAAACCN"]
        assert gs.total_length("g1") == 12
        assert len(gs) == 2
        with pytest.raises(DnalibError, match="unknown rank 'phylum'"):
            gs.labels("phylum")


def test_genome_set_ignores_other_tsv_and_accepts_explicit_taxonomy(tmp_path: Path) -> None:
    root = make_genome_set(tmp_path / "set", ["a", "b"])
    write(root / "genome_size.tsv", "id\tgenome_size\na\t20\n")
    (root / "taxonomy.tsv").rename(tmp_path / "labels.tsv")
    gs = io.load_genome_set(root, taxonomy=tmp_path / "labels.tsv")
    assert gs.ids == ["a", "b"]
    assert gs.genomes["b"] == ["ACGTACGTACGGCC", "TTTTA"]


def test_inspect_fasta_summary(tmp_path: Path) -> None:
    path = write(tmp_path / "s.fa", ">a\nACGTNN\n>b\nGGGGCCCCAT\n>c\nAT\n")
    s = io.inspect_path(path)
    assert s["kind"] == "fasta"
    assert s["records"] == 3
    assert s["total_length"] == 18
    assert s["n50"] == 10
    assert s["non_acgt"] == 2
    assert s["gc_fraction"] == pytest.approx(10 / 16)
    text = io.format_summary(s)
    assert "N50 (bp)" in text and "0.6250" in text


def test_inspect_genome_set_summary(tmp_path: Path) -> None:
    ids = ["a", "b", "c"]
    rows = [tax_row("a", "G1", "S1"), tax_row("b", "G1", "S2"), tax_row("c", "G2", "")]
    root = make_genome_set(tmp_path / "set", ids, rows)
    s = io.inspect_path(root)
    assert s["kind"] == "genome_set"
    assert s["genomes"] == 3 and s["records"] == 6
    assert s["labelled_genomes"] == 2 and s["species"] == 2 and s["genera"] == 2
    assert "2 / 3" in io.format_summary(s)


def test_n50() -> None:
    assert io.n50([]) == 0
    assert io.n50([10]) == 10
    assert io.n50([2, 3, 4, 5, 6]) == 5  # 6+5=11 >= 20/2
    assert io.n50([1, 1, 1, 1, 10]) == 10


# --------------------------------------------------------------------------- errors: files


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError) as exc:
        io.read_fasta(tmp_path / "nope.fa")  # raised at call time, not on iteration
    assert_one_line(exc, "nope.fa", "no such file")
    assert isinstance(exc.value, FileNotFoundError)


def test_not_fasta(tmp_path: Path) -> None:
    path = write(tmp_path / "notes.fa", "just some text\n>a\nACGT\n")
    with pytest.raises(InputFormatError) as exc:
        list(io.read_fasta(path))
    assert_one_line(exc, "notes.fa", "line 1", "not a FASTA file")
    with pytest.raises(InputFormatError) as exc:
        list(io.read_sequences(path))
    assert_one_line(exc, "notes.fa", "not a FASTA or FASTQ file")
    assert isinstance(exc.value, ValueError)


def test_fastq_given_to_fasta_reader(tmp_path: Path) -> None:
    path = write(tmp_path / "reads.fa", "@r1\nACGT\n+\nIIII\n")
    with pytest.raises(InputFormatError) as exc:
        list(io.read_fasta(path))
    assert_one_line(exc, "reads.fa", "not a FASTA file")


def test_truncated_gzip(tmp_path: Path) -> None:
    full = gzip.compress((">a\n" + "ACGT" * 20000 + "\n").encode())
    path = tmp_path / "cut.fa.gz"
    path.write_bytes(full[: len(full) // 2])
    with pytest.raises(InputFormatError) as exc:
        list(io.read_fasta(path))
    assert_one_line(exc, "cut.fa.gz", "truncated")
    with pytest.raises(InputFormatError) as exc:
        io.inspect_path(path)
    assert_one_line(exc, "cut.fa.gz", "truncated")


def test_corrupt_gzip(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.fa.gz", b"")
    path.write_bytes(b"\x1f\x8b" + b"not really gzip" * 5)
    with pytest.raises(InputFormatError) as exc:
        list(io.read_sequences(path))
    assert_one_line(exc, "bad.fa.gz", "cannot read")


def test_empty_file(tmp_path: Path) -> None:
    for name in ("empty.fa", "empty.fa.gz", "blank.fa"):
        path = write(tmp_path / name, "\n\n" if name == "blank.fa" else "")
        with pytest.raises(InputFormatError) as exc:
            list(io.read_fasta(path))
        assert_one_line(exc, name, "empty")
        with pytest.raises(InputFormatError) as exc:
            list(io.read_sequences(path))
        assert_one_line(exc, name, "empty")


def test_empty_record(tmp_path: Path) -> None:
    path = write(tmp_path / "e.fa", ">a\nACGT\n>b\n>c\nGG\n")
    with pytest.raises(InputFormatError) as exc:
        list(io.read_fasta(path))
    assert_one_line(exc, "e.fa", "'b'", "line 3", "no sequence")


def test_empty_header(tmp_path: Path) -> None:
    path = write(tmp_path / "h.fa", ">a\nACGT\n>\nGG\n")
    with pytest.raises(InputFormatError) as exc:
        list(io.read_fasta(path))
    assert_one_line(exc, "h.fa", "record 2", "line 3", "empty header")


def test_duplicate_ids(tmp_path: Path) -> None:
    path = write(tmp_path / "d.fa", ">a first\nACGT\n>b\nGG\n>a second\nTT\n")
    with pytest.raises(InputFormatError) as exc:
        list(io.read_fasta(path))
    assert_one_line(exc, "d.fa", "duplicate record id 'a'", "line 5", "record 1")


@pytest.mark.parametrize(
    ("bad", "seq"),
    [
        ("X", "ACGXT"),
        ("1", "AC1GT"),
        ("-", "AC-GT"),
        ("*", "ACGT*"),
        (" ", "AC GT"),
        ("J", "acjgt"),
        ("U", "acgu"),
    ],
)
def test_illegal_characters(tmp_path: Path, bad: str, seq: str) -> None:
    path = write(tmp_path / "ill.fa", f">ok\nACGT\n>bad rec\nACGTACGT\n{seq}\n")
    with pytest.raises(InputFormatError) as exc:
        list(io.read_fasta(path))
    msg = assert_one_line(exc, "ill.fa", "'bad'", "line 5", repr(bad), "not an IUPAC")
    assert f"position {8 + seq.upper().index(bad) + 1}" in msg
    if bad in "-U":
        assert ("gaps" if bad == "-" else "RNA") in msg


def test_illegal_character_in_fastq(tmp_path: Path) -> None:
    path = write(tmp_path / "r.fq", "@r1\nACGT\n+\nIIII\n@r2\nACXT\n+\nIIII\n")
    with pytest.raises(InputFormatError) as exc:
        list(io.read_fastq(path))
    assert_one_line(exc, "r.fq", "'r2'", "line 6", "'X'")


def test_malformed_fastq(tmp_path: Path) -> None:
    path = write(tmp_path / "m.fq", "@r1\nACGT\n+\nII\n")
    with pytest.raises(InputFormatError) as exc:
        list(io.read_fastq(path))
    assert_one_line(exc, "m.fq", "malformed FASTQ")


def test_non_ascii_and_non_utf8(tmp_path: Path) -> None:
    path = write(tmp_path / "u.fa", ">a\nACGT\n>b\nAC\xe9GT\n".encode())
    with pytest.raises(InputFormatError) as exc:
        list(io.read_fasta(path))
    assert_one_line(exc, "u.fa", "line 4", "ASCII")
    path = write(tmp_path / "l.fa", b">a\nAC\xe9GT\n")
    with pytest.raises(InputFormatError) as exc:
        list(io.read_fasta(path))
    assert_one_line(exc, "l.fa", "line 2")


def test_directory_given_as_file(tmp_path: Path) -> None:
    with pytest.raises(InputFormatError) as exc:
        io.read_fasta(tmp_path)
    assert_one_line(exc, "is a directory")


# --------------------------------------------------------------------------- errors: genome sets


def test_label_mismatch_names_ids(tmp_path: Path) -> None:
    ids = ["g1", "g2", "g3", "g4", "g5", "g6", "g7", "g8"]
    rows = [tax_row(g) for g in ["g1", "extra1", "extra2"]]
    root = make_genome_set(tmp_path / "set", ids, rows)
    with pytest.raises(InputFormatError) as exc:
        io.load_genome_set(root)
    msg = assert_one_line(
        exc, "taxonomy.tsv", "7 genome(s) have no label row", "'g2'", "and 2 more"
    )
    assert "2 label row(s) have no sequences ('extra1', 'extra2')" in msg
    with pytest.raises(InputFormatError):
        io.inspect_path(root)


def test_missing_taxonomy_file(tmp_path: Path) -> None:
    root = make_genome_set(tmp_path / "set", ["a"])
    (root / "taxonomy.tsv").unlink()
    write(root / "genome_size.tsv", "id\tgenome_size\n")
    with pytest.raises(DataNotFoundError) as exc:
        io.load_genome_set(root)
    assert_one_line(exc, "no taxonomy.tsv", "genome_size.tsv", "taxonomy=")


def test_missing_id_column(tmp_path: Path) -> None:
    root = make_genome_set(tmp_path / "set", ["a"], [])
    write(root / "taxonomy.tsv", "name\tspecies\na\tS a\n")
    with pytest.raises(InputFormatError) as exc:
        io.load_genome_set(root)
    assert_one_line(exc, "taxonomy.tsv", "no 'id' column", "name, species")


def test_missing_species_column(tmp_path: Path) -> None:
    root = make_genome_set(tmp_path / "set", ["a"], [])
    write(root / "taxonomy.tsv", "id\tgenus\na\tG\n")
    with pytest.raises(InputFormatError) as exc:
        io.load_genome_set(root)
    assert_one_line(exc, "taxonomy.tsv", "no 'species' column")


def test_empty_and_duplicate_label_table(tmp_path: Path) -> None:
    root = make_genome_set(tmp_path / "set", ["a"], [])
    write(root / "taxonomy.tsv", "")
    with pytest.raises(InputFormatError) as exc:
        io.load_genome_set(root)
    assert_one_line(exc, "taxonomy.tsv", "empty")
    write(root / "taxonomy.tsv", TAX_HEADER + tax_row("a") + tax_row("a"))
    with pytest.raises(InputFormatError) as exc:
        io.load_genome_set(root)
    assert_one_line(exc, "taxonomy.tsv", "duplicate id 'a'", "line 3")


def test_crlf_label_table(tmp_path: Path) -> None:
    root = make_genome_set(tmp_path / "set", ["a", "b"], [])
    write(
        root / "taxonomy.tsv",
        (TAX_HEADER + tax_row("a") + tax_row("b", "G", "G b")).replace("\n", "\r\n"),
    )
    gs = io.load_genome_set(root)
    assert gs.labels("species") == ["Gen sp", "G b"]


def test_genome_set_errors(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError) as exc:
        io.load_genome_set(tmp_path / "absent")
    assert_one_line(exc, "absent", "no such directory")
    (tmp_path / "emptydir").mkdir()
    with pytest.raises(InputFormatError) as exc:
        io.load_genome_set(tmp_path / "emptydir")
    assert_one_line(exc, "emptydir", "no FASTA files")
    root = make_genome_set(tmp_path / "dups", ["a"])
    write(root / "a.fasta", ">x\nACGT\n")
    with pytest.raises(InputFormatError) as exc:
        io.load_genome_set(root)
    assert_one_line(exc, "two FASTA files for genome 'a'")


def test_bad_genome_file_is_named(tmp_path: Path) -> None:
    root = make_genome_set(tmp_path / "set", ["a", "b"])
    write(root / "b.fa.gz", ">b_1\nACGT\n>b_1\nAC\n")
    with pytest.raises(InputFormatError) as exc:
        io.load_genome_set(root)
    assert_one_line(exc, "b.fa.gz", "duplicate record id 'b_1'")


def test_write_genome_set_validates(tmp_path: Path) -> None:
    tax = pd.DataFrame({"id": ["a"], "species": ["S"]})
    with pytest.raises(InputFormatError, match="no label row"):
        io.write_genome_set({"a": "ACGT", "b": "ACGT"}, tax, tmp_path / "o")
    with pytest.raises(InputFormatError, match="not IUPAC"):
        io.write_genome_set({"a": "ACGZ"}, tax, tmp_path / "o")
    with pytest.raises(InputFormatError, match="file names"):
        io.write_genome_set(
            {"a/b": "ACGT"}, pd.DataFrame({"id": ["a/b"], "species": ["S"]}), tmp_path / "o"
        )


# --------------------------------------------------------------------------- 16S references


def test_mothur_reference_small(tmp_path: Path) -> None:
    fa = write(tmp_path / "s.fasta", ">s1\nACGTRY;\n>s2\nacgt;\nGGCC;\n")
    tx = write(
        tmp_path / "t.txt",
        "s1\tBacteria;P;C;O;F;G;G_sp;\ns2\tBacteria;P;C;O;F;G;G_other;\n",
    )
    frame = io.load_16s_reference(fa, tx)
    assert list(frame.columns) == ["id", "sequence", *io.DAIRYDB_RANKS]
    assert frame["sequence"].tolist() == ["ACGTRY", "ACGTGGCC"]
    assert frame["species"].tolist() == ["G_sp", "G_other"]


def test_mothur_reference_errors(tmp_path: Path) -> None:
    fa = write(tmp_path / "s.fasta", ">s1\nACGT;\n>s2\nAC;GT;\n")
    tx = write(tmp_path / "t.txt", "s1\tB;P;C;O;F;G;S;\ns2\tB;P;C;O;F;G;S;\n")
    with pytest.raises(InputFormatError) as exc:  # ';' inside a line is not a mothur quirk
        io.load_16s_reference(fa, tx)
    assert_one_line(exc, "s.fasta", "'s2'", "';'")
    fa = write(tmp_path / "s.fasta", ">s1\nACGT;\n>s3\nACGT;\n")
    with pytest.raises(InputFormatError) as exc:
        io.load_16s_reference(fa, tx)
    assert_one_line(exc, "t.txt", "1 sequence(s) have no label row ('s3')", "('s2')")
    tx = write(tmp_path / "t.txt", "s1\tB;P;C;O;F;G;S;\ns3\tB;P;C;G;S;\n")
    with pytest.raises(InputFormatError) as exc:
        io.load_16s_reference(fa, tx)
    assert_one_line(exc, "t.txt", "line 2", "'s3'", "5 taxonomy levels")


def test_dairydb_archive(shared_data: Path) -> None:
    archive = shared_data / "dairydb" / "DAIRYdb_v1.2.4_20200604_mothur.tgz"
    frame = io.load_16s_archive(archive)
    assert len(frame) == 10_439
    assert list(frame.columns) == ["id", "sequence", *io.DAIRYDB_RANKS]
    assert not frame["sequence"].str.contains(";").any()
    assert frame["id"].is_unique
    lengths = frame["sequence"].str.len()
    assert 930 <= lengths.min() and lengths.max() <= 2_231
    assert frame["phylum"].nunique() == 47
    assert frame["genus"].nunique() == 1_755
    assert (frame[list(io.DAIRYDB_RANKS)] != "").all().all()
    assert frame["sequence"].str.contains("N").any()  # IUPAC codes are kept


def test_corrupt_archive(tmp_path: Path) -> None:
    path = write(tmp_path / "x.tgz", b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(InputFormatError) as exc:
        io.load_16s_archive(path)
    assert_one_line(exc, "x.tgz", "tar archive")


def test_kmcp15_genome_set(shared_data: Path) -> None:
    start = time.perf_counter()
    gs = io.load_genome_set(shared_data / "genomes-kmcp15")
    elapsed = time.perf_counter() - start
    assert len(gs) == 15
    assert gs.ranks == list(io.GENOME_RANKS)
    assert len(set(gs.labels("species"))) == 15 and len(set(gs.labels("genus"))) == 10
    sizes = pd.read_csv(
        shared_data / "genomes-kmcp15" / "genome_size.tsv", sep="\t", index_col="id"
    )
    for gid in gs.ids:
        assert gs.total_length(gid) == sizes.loc[gid, "genome_size"]
    assert elapsed < 15, f"loading kmcp15 took {elapsed:.1f} s"


def test_genome_set_fragments_split_and_subset(tmp_path):
    """One way to cut a genome set: genome i draws from default_rng([seed, i]) whatever is cut."""
    import numpy as np

    from dnalib import io
    from dnalib.errors import DnalibError
    from dnalib.sequences import sample_fragments
    from dnalib.simulate import simulate_community

    simulate_community(0, n_genera=2, species_per_genus=3, genome_length=20_000).write(tmp_path)
    gs = io.load_genome_set(tmp_path)
    frags, table = gs.fragments(2_000, 3, seed=5)
    assert len(frags) == 3 * len(gs) and list(table.columns[:3]) == ["id", "contig", "start"]
    assert list(table.columns[3:]) == gs.ranks
    i = 4
    expected = sample_fragments(gs.genomes[gs.ids[i]], 2_000, 3, seed=np.random.default_rng([5, i]))
    assert frags[3 * i:3 * i + 3] == expected
    alone, alone_table = gs.fragments(2_000, 3, seed=5, ids=[gs.ids[i]])
    assert alone == expected and set(alone_table["id"]) == {gs.ids[i]}
    for f, (_, row) in zip(frags, table.iterrows(), strict=True):  # coordinates say where each is
        assert gs.genomes[row["id"]][row["contig"]][row["start"]:row["start"] + 2_000] == f
    with pytest.raises(DnalibError):
        gs.fragments(15_000, 3)  # two do not fit in 20 kbp
    assert len(gs.fragments(15_000, 3, allow_fewer=True)[0]) == len(gs)
    train = gs.split("train")
    split = pd.read_csv(tmp_path / "split.tsv", sep="\t", dtype=str)
    assert train.ids == [g for g in gs.ids if g in set(split.loc[split["split"] == "train", "id"])]
    with pytest.raises(DnalibError, match="no genome has split"):
        gs.split("holdout")
