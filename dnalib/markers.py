"""Labelled marker-gene sequences (16S, ITS, ...): labels per sequence, tiles, taxonomy by rank.

The genome-set evaluation (:func:`dnalib.evaluate.evaluate_embeddings`) has one
label row per *genome*; a marker-gene reference has one per *sequence*. This
module reads such a reference and runs the SCORPIO / MetaBERTa question on it,
with any model :func:`dnalib.embedders.from_name` takes:

- :func:`read_sequence_labels`: the label table, either an ``id`` column plus
  rank columns, or two columns ``id`` + a lineage string, Greengenes / UNITE /
  GTDB style (``k__Bacteria;p__Firmicutes;...``) or plain
  (``Bacteria;Firmicutes;...;``, DAIRYdb's and SILVA's mothur files, no header).
- :func:`parse_lineage`: one lineage string -> rank -> label.
- :func:`is_placeholder` / :data:`PLACEHOLDER_PATTERN`: the one rule of which
  labels mean "unknown" (empty, ``g__``, ``unidentified``, ``*_Incertae_sedis``,
  ``Genus_sp``, ``uncultured ...``).
- :func:`labelled_fragments`: sequences + labels -> samples (whole sequences
  or non-overlapping tiles that inherit their sequence's labels), with every
  problem of real inputs counted in ``report``.
- :func:`classify_by_rank`: :func:`dnalib.evaluate.taxonomy_classification`
  rank by rank, splits grouped by source sequence; a rank without two usable
  taxa is skipped with its reason.
- :func:`evaluate_sequences`: all of it for one model (``dnalib evaluate --sequences``).

Nothing is dropped silently: every sequence, tile or label left out is counted
in the result's ``inputs`` (and per rank in the score rows).
"""

from __future__ import annotations

import os
import re
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dnalib.errors import DnalibError, InputFormatError

__all__ = [
    "LINEAGE_PREFIXES",
    "PLACEHOLDER_PATTERN",
    "LabelledFragments",
    "classify_by_rank",
    "embed_fragments",
    "evaluate_sequences",
    "is_placeholder",
    "labelled_fragments",
    "load_labelled_sequences",
    "normalise_label",
    "parse_lineage",
    "read_sequence_labels",
]

#: Rank of every one-letter prefix of a Greengenes / UNITE / GTDB / QIIME lineage (``g__Bacillus``).
LINEAGE_PREFIXES: dict[str, str] = {
    "d": "domain", "k": "kingdom", "p": "phylum", "c": "class", "o": "order",
    "f": "family", "g": "genus", "s": "species",
}
_RANK_ORDER = ("domain", "kingdom", "phylum", "class", "order", "family", "genus", "species")
_PREFIX = re.compile(r"^([a-zA-Z])__")


def _default_plain_ranks() -> tuple[str, ...]:
    from dnalib.io import DAIRYDB_RANKS

    return DAIRYDB_RANKS


def _placeholder_pattern() -> str:
    from dnalib.labels import PLACEHOLDER_PATTERN as TASK_PATTERN

    # The taxonomy task's missing labels, plus the placeholders of marker-gene references.
    return TASK_PATTERN + (
        r"|.*incertae[ _]sedis.*"  # Clostridiales_Incertae_Sedis, Family_XI_Incertae_Sedis
        r"|[\w.-]+[ _]sp\.?"  # Genus_sp, Bacillus sp. (UNITE / SILVA: a genus, no species)
        r"|(?:uncultured|unidentified|unclassified|unknown|unassigned)(?:[ _].*)?"
        r"|(?:.*[ _])?metagenome"  # gut_metagenome (SILVA species)
    )


#: Labels that mean "no taxon at this rank" (matched case-insensitively against the
#: whole label after its rank prefix is removed): the taxonomy task's
#: :data:`dnalib.labels.PLACEHOLDER_PATTERN` (empty, ``nan``, ``unknown``,
#: ``unidentified``, ...) plus ``*incertae sedis*`` (any spelling with ``_``),
#: ``Genus_sp`` / ``Genus sp.``, anything starting with ``uncultured``,
#: ``unidentified``, ``unclassified``, ``unknown``, ``unassigned`` and
#: ``*metagenome``. Named groups such as DAIRYdb's ``Ruminococcaceae_Genus``
#: are kept, as in chapter 2. :func:`is_placeholder` applies it.
PLACEHOLDER_PATTERN: str = _placeholder_pattern()
_PLACEHOLDER = re.compile(PLACEHOLDER_PATTERN, re.IGNORECASE)


def normalise_label(label: Any) -> str:
    """A label without surrounding spaces, quotes and its rank prefix (``g__Bacillus`` -> ``Bacillus``)."""
    if label is None or (isinstance(label, float) and np.isnan(label)):
        return ""
    text = str(label).strip().strip('"').strip()
    return _PREFIX.sub("", text, count=1).strip()


def is_placeholder(label: Any) -> bool:
    """Whether a label means "unknown" (:data:`PLACEHOLDER_PATTERN`, after :func:`normalise_label`).

    Examples
    --------
    >>> [is_placeholder(x) for x in ["g__", "Bacillus_sp", "Incertae_Sedis", "uncultured_bacterium",
    ...                              "Ruminococcaceae_Genus", "Bacillus"]]
    [True, True, True, True, False, False]
    """
    return _PLACEHOLDER.fullmatch(normalise_label(label)) is not None


def parse_lineage(text: str, ranks: Sequence[str] | None = None) -> dict[str, str]:
    """Rank -> label of one lineage string.

    ``k__Bacteria;p__Firmicutes;...`` (Greengenes, UNITE, GTDB / QIIME with
    ``d__``; spaces after ``;`` allowed): the prefixes name the ranks
    (:data:`LINEAGE_PREFIXES`); a level without a prefix is an error. Plain
    ``Bacteria;Firmicutes;...;`` (DAIRYdb, SILVA mothur files): the levels are
    *ranks* in order (default: kingdom, phylum, class, order, family, genus,
    species); fewer levels leave the lower ranks empty, more are an error. A
    trailing ``;`` is ignored. Labels keep their text (prefix removed);
    whether one is a placeholder is :func:`is_placeholder`'s call.

    Raises
    ------
    ~dnalib.errors.InputFormatError
        Mixed prefixed and plain levels, a prefix given twice or unknown, or
        more plain levels than ranks.

    Examples
    --------
    >>> parse_lineage("k__Fungi;p__Ascomycota;g__;s__Penicillium_sp")
    {'kingdom': 'Fungi', 'phylum': 'Ascomycota', 'genus': '', 'species': 'Penicillium_sp'}
    >>> parse_lineage("Bacteria;Firmicutes;", ranks=["kingdom", "phylum", "class"])
    {'kingdom': 'Bacteria', 'phylum': 'Firmicutes', 'class': ''}
    """
    ranks = _default_plain_ranks() if ranks is None else tuple(ranks)
    body = str(text).strip()
    if body.endswith(";"):
        body = body[:-1]
    levels = [x.strip() for x in body.split(";")] if body else []
    prefixed = [bool(_PREFIX.match(x)) for x in levels]
    if any(prefixed):
        if not all(prefixed):
            bad = next(x for x, p in zip(levels, prefixed, strict=True) if not p)
            raise InputFormatError(f"lineage {_short(text)!r} mixes prefixed levels (k__, p__, ...) with "
                                   f"{bad!r}: give every level its rank prefix, or none")
        out: dict[str, str] = {}
        for level in levels:
            letter = level[0].lower()
            rank = LINEAGE_PREFIXES.get(letter)
            if rank is None:
                raise InputFormatError(f"lineage {_short(text)!r}: unknown rank prefix {level[:3]!r}; "
                                       f"known: {', '.join(k + '__' for k in LINEAGE_PREFIXES)}")
            if rank in out:
                raise InputFormatError(f"lineage {_short(text)!r} gives the {rank} ({letter}__) twice")
            out[rank] = normalise_label(level)
        return out
    if len(levels) > len(ranks):
        raise InputFormatError(f"lineage {_short(text)!r} has {len(levels)} levels but the ranks are "
                               f"{';'.join(ranks)} ({len(ranks)}): name the ranks of a longer lineage")
    return {rank: (normalise_label(levels[i]) if i < len(levels) else "") for i, rank in enumerate(ranks)}


def _short(text: Any, width: int = 60) -> str:
    text = str(text)
    return text if len(text) <= width else text[: width - 3] + "..."


_ID_NAMES = {"id", "#id", "feature id", "featureid", "#otu id", "#otuid", "sequence id", "seqid"}
_LINEAGE_NAMES = {"taxon", "taxonomy", "lineage"}


def read_sequence_labels(path: str | os.PathLike[str], *,
                         lineage_ranks: Sequence[str] | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read a label table with one row per sequence.

    Accepted layouts (tab-separated):

    - a header ``id<TAB>phylum<TAB>order...`` and one rank column per rank;
    - a header ``id<TAB>taxonomy`` (or ``Feature ID<TAB>Taxon[<TAB>Confidence]``, QIIME 2)
      whose lineage column holds ``k__...;p__...`` or plain lineages;
    - no header, lines ``ID<TAB>lineage`` (mothur: DAIRYdb, SILVA, UNITE).

    Labels lose their surrounding spaces and rank prefixes (:func:`normalise_label`).

    Parameters
    ----------
    path : str or path-like
        The table (plain or compressed).
    lineage_ranks : sequence of str, optional
        Rank names of the levels of *plain* lineages (default kingdom ... species).

    Returns
    -------
    labels : pandas.DataFrame
        Indexed by id (str), one str column per rank, ``""`` where a lineage
        stops early or a cell is empty.
    info : dict
        ``layout`` (``"columns"``, ``"lineage"``), ``ignored_columns``.

    Raises
    ------
    ~dnalib.errors.DnalibError
        A missing file, binary or non-UTF-8 content, no id column, an empty
        or duplicate id, rows of different widths or a malformed lineage
        (one line, naming the line).
    """
    from xopen import xopen

    p = Path(path)
    if not p.is_file():
        raise DnalibError(f"--taxonomy {p}: no such file")
    try:
        with xopen(p, "rb") as fh:
            data = fh.read()
    except (OSError, EOFError) as exc:
        raise DnalibError(f"{p}: cannot read the label table ({exc})") from None
    if b"\0" in data:
        raise InputFormatError(f"{p}: a binary file, not a label table: give a tab-separated text table "
                               "(id + rank columns, or id + lineage)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputFormatError(f"{p} (line {line}): not UTF-8 text; save the label table as UTF-8") from None
    rows = [(n, line.rstrip("\r").split("\t")) for n, line in enumerate(text.split("\n"), start=1)
            if line.strip()]
    if not rows:
        raise InputFormatError(f"{p}: the label table is empty; expected 'id<TAB>phylum...' rows or "
                               "'ID<TAB>Kingdom;Phylum;...' lines")
    header = [c.strip() for c in rows[0][1]]
    has_header = header[0].lower() in _ID_NAMES
    if not has_header:
        if len(header) == 2 and ";" in header[1] or len(header) == 2 and _PREFIX.match(header[1].strip()):
            columns = ["id", "lineage"]
        else:
            raise InputFormatError(
                f"{p}: no id column: the first line must be a header starting with 'id' (id + rank "
                "columns, or id + taxonomy), or every line 'ID<TAB>Kingdom;Phylum;...;' "
                f"(found {_short(chr(9).join(header))!r})")
        body = rows
    else:
        columns = ["id", *header[1:]]
        body = rows[1:]
    if not body:
        raise InputFormatError(f"{p}: the label table has a header but no rows; add one row per sequence")
    width = len(columns)
    for n, cells in body:
        if len(cells) != width:
            raise InputFormatError(f"{p} (line {n}): {len(cells)} tab-separated fields, expected "
                                   f"{width} ({', '.join(columns)}); fix that line")
    table = pd.DataFrame([cells for _, cells in body], columns=columns, dtype=str)
    table = table.apply(lambda col: col.str.strip())
    lines = [n for n, _ in body]
    empty = np.flatnonzero((table["id"] == "").to_numpy())
    if len(empty):
        raise InputFormatError(f"{p} (line {lines[empty[0]]}): empty id; fill it in or remove the row")
    dup = table["id"].duplicated().to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise InputFormatError(f"{p} (line {lines[i]}): duplicate id {table['id'][i]!r} "
                               f"({int(dup.sum())} repeated id(s)); keep one row per sequence")
    lineage_cols = [c for c in columns[1:] if c.lower() in _LINEAGE_NAMES]
    info: dict[str, Any] = {"ignored_columns": []}
    if len(lineage_cols) == 1 or (not has_header):
        col = lineage_cols[0] if lineage_cols else "lineage"
        info["layout"] = "lineage"
        info["ignored_columns"] = [c for c in columns[1:] if c != col]
        parsed = []
        for n, value in zip(lines, table[col], strict=True):
            try:
                parsed.append(parse_lineage(value, lineage_ranks))
            except InputFormatError as exc:
                raise InputFormatError(f"{p} (line {n}): {exc}") from None
        present = {r for d in parsed for r in d}
        order = [r for r in _RANK_ORDER if r in present] + sorted(present - set(_RANK_ORDER))
        if lineage_ranks is not None:
            order = [r for r in lineage_ranks if r in present] + [r for r in order if r not in lineage_ranks]
        labels = pd.DataFrame([[d.get(r, "") for r in order] for d in parsed], columns=order,
                              index=pd.Index(table["id"], name="id"), dtype=str)
    else:
        if len(lineage_cols) > 1:
            raise InputFormatError(f"{p}: more than one lineage column ({', '.join(lineage_cols)}); keep one")
        if width < 2:
            raise InputFormatError(f"{p}: the label table has an id column but no rank columns")
        info["layout"] = "columns"
        labels = table.set_index("id").apply(lambda col: col.map(normalise_label))
    return labels, info


# --------------------------------------------------------------------------- samples


@dataclass
class LabelledFragments:
    """Samples cut from labelled sequences (see :func:`labelled_fragments`).

    Attributes
    ----------
    sequences : list of str
        One per sample (a whole sequence or a tile), upper case.
    table : pandas.DataFrame
        One row per sample: ``id`` (source sequence), ``group`` (the source
        sequence's group: identical sequences share one), ``start`` (tile
        start, 0 for whole sequences) and one column per rank, ``None`` where
        the label is missing, a placeholder or contradicted by an identical
        sequence.
    ranks : list of str
    report : dict
        Counts of everything left out or changed (JSON-ready).
    settings : dict
    """

    sequences: list[str]
    table: pd.DataFrame
    ranks: list[str]
    report: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)


def _examples(names: Sequence[Any], n: int = 5) -> list[str]:
    return [str(x) for x in list(names)[:n]]


def labelled_fragments(
    ids: Sequence[str],
    seqs: Sequence[str],
    labels: pd.DataFrame,
    *,
    ranks: Sequence[str] | None = None,
    tile: int | None = None,
    max_tiles: int | None = None,
    seed: int = 0,
    conflicting: str = "drop",
) -> LabelledFragments:
    """Samples from labelled sequences: whole sequences or non-overlapping tiles, labels inherited.

    Parameters
    ----------
    ids, seqs : sequence of str
        The sequences (e.g. from a FASTA file), upper case.
    labels : pandas.DataFrame
        Indexed by id, one column per rank (:func:`read_sequence_labels`).
    ranks : sequence of str, optional
        The columns to keep (default all).
    tile : int, optional
        Cut every sequence into adjacent *tile* bp pieces (the last,
        incomplete one dropped, as MetaBERTa does); sequences shorter than a
        tile are left out and counted. None: one sample per sequence.
    max_tiles : int, optional
        Keep at most this many tiles per sequence, chosen at random (seeded
        by *seed*), in order.
    seed : int
        Seed of the tile choice.
    conflicting : str
        Identical sequences whose labels differ at a rank: ``"drop"`` (their
        label at that rank becomes missing, counted) or ``"keep"``.

    Returns
    -------
    LabelledFragments
        With ``report``: ``n_sequences`` (in the input), ``n_label_rows``,
        ``sequences_without_labels`` / ``labels_without_sequences`` (counts
        and ``..._examples``), ``lower_case`` / ``stray_semicolons`` (filled by
        :func:`load_labelled_sequences`), ``sequences_with_ambiguous_bases``,
        ``shorter_than_tile`` (+ examples), ``identical_sequences`` (copies of
        an earlier sequence; they share its group), ``conflicting_labels``
        (rank -> sequences), ``placeholder_labels`` and ``empty_labels``
        (rank -> sequences), ``n_used_sequences``, ``n_fragments``,
        ``fragments_with_ambiguous_bases``, ``tiles_not_used`` (by *max_tiles*).

    Raises
    ------
    ~dnalib.errors.DnalibError
        No sequence id in the label table, an unknown rank, a bad argument,
        or no sequence long enough for one tile.
    """
    from dnalib.sequences import fragment

    if conflicting not in ("drop", "keep"):
        raise DnalibError(f"conflicting must be 'drop' or 'keep'; got {conflicting!r}")
    if tile is not None and (isinstance(tile, bool) or int(tile) < 1):
        raise DnalibError(f"tile must be a positive length in bp; got {tile!r}")
    if max_tiles is not None and (isinstance(max_tiles, bool) or int(max_tiles) < 1):
        raise DnalibError(f"max_tiles must be at least 1; got {max_tiles!r}")
    ids = [str(i) for i in ids]
    seqs = [str(s).upper() for s in seqs]
    if len(ids) != len(seqs):
        raise DnalibError(f"got {len(ids)} ids but {len(seqs)} sequences")
    if len(set(ids)) != len(ids):
        raise DnalibError("sequence ids repeat: give every sequence its own id")
    all_ranks = [str(c) for c in labels.columns]
    ranks = all_ranks if ranks is None else [str(r) for r in ranks]
    unknown = [r for r in ranks if r not in all_ranks]
    if unknown or not ranks:
        raise DnalibError(f"rank(s) {', '.join(unknown) or '(none)'} not in the label table, whose ranks "
                          f"are {', '.join(all_ranks)}; choose among those (--ranks)")
    labels = labels.copy()
    labels.index = labels.index.astype(str)
    known = set(labels.index)
    present = set(ids)
    lacking = [i for i in ids if i not in known]
    unused = [i for i in labels.index if i not in present]
    if len(lacking) == len(ids):
        raise DnalibError(
            f"none of the {len(ids)} sequence ids is in the label table (sequence ids look like "
            f"{', '.join(_examples(ids, 3))}; table ids like {', '.join(_examples(labels.index, 3))}): "
            "the first word of each FASTA header must be the table's id")
    report: dict[str, Any] = {
        "n_sequences": len(ids), "n_label_rows": int(len(labels)),
        "sequences_without_labels": len(lacking), "sequences_without_labels_examples": _examples(lacking),
        "labels_without_sequences": len(unused), "labels_without_sequences_examples": _examples(unused),
    }
    keep = [i for i, x in enumerate(ids) if x in known]
    ids = [ids[i] for i in keep]
    seqs = [seqs[i] for i in keep]
    lab = labels.loc[ids, ranks].astype(object)

    # missing and placeholder labels: one rule (is_placeholder)
    placeholder: dict[str, int] = {}
    empty: dict[str, int] = {}
    for r in ranks:
        uniq = pd.unique(lab[r].to_numpy(dtype=object))
        text = lab[r].map(dict(zip(uniq, map(normalise_label, uniq), strict=True)))
        is_empty = (text == "").to_numpy()
        flags = {v: is_placeholder(v) for v in pd.unique(text.to_numpy(dtype=object))}
        is_ph = text.map(flags).to_numpy(dtype=bool) & ~is_empty
        empty[r], placeholder[r] = int(is_empty.sum()), int(is_ph.sum())
        lab[r] = np.where(is_empty | is_ph, None, text.to_numpy(dtype=object))
    report["empty_labels"] = empty
    report["placeholder_labels"] = placeholder
    report["sequences_with_ambiguous_bases"] = int(sum(bool(re.search("[^ACGT]", s)) for s in seqs))

    # identical sequences: one group, and labels that contradict each other are not a taxon
    group = pd.Series(seqs).groupby(pd.Series(seqs), sort=False).ngroup().to_numpy()
    report["identical_sequences"] = int(len(seqs) - len(np.unique(group)))
    conflicts: dict[str, int] = {}
    for r in ranks:
        col = pd.Series(lab[r].to_numpy(dtype=object))
        n_distinct = col.groupby(group).nunique().to_numpy()[group]  # missing labels not counted
        clash = n_distinct > 1
        conflicts[r] = int(clash.sum())
        if conflicting == "drop" and clash.any():
            values = lab[r].to_numpy(dtype=object).copy()
            values[clash] = None
            lab[r] = values
    report["conflicting_labels"] = conflicts

    # samples
    rng = np.random.default_rng(seed)
    out_seqs: list[str] = []
    src: list[int] = []
    starts: list[int] = []
    short: list[str] = []
    not_used = 0
    for i, s in enumerate(seqs):
        if tile is None:
            out_seqs.append(s)
            src.append(i)
            starts.append(0)
            continue
        pieces = fragment(s, int(tile))
        if not pieces:
            short.append(ids[i])
            continue
        chosen = np.arange(len(pieces))
        if max_tiles is not None and len(pieces) > max_tiles:
            chosen = np.sort(rng.choice(len(pieces), size=int(max_tiles), replace=False))
            not_used += len(pieces) - len(chosen)
        for j in chosen:
            out_seqs.append(pieces[j])
            src.append(i)
            starts.append(int(j) * int(tile))
    report["shorter_than_tile"] = len(short)
    report["shorter_than_tile_examples"] = _examples(short)
    report["tiles_not_used"] = int(not_used)
    if not out_seqs:
        raise DnalibError(f"no sequence is at least {tile} bp long (the longest has "
                          f"{max(map(len, seqs))} bp): use a smaller --tile, or none")
    src_arr = np.asarray(src)
    table = pd.DataFrame({"id": np.asarray(ids, dtype=object)[src_arr], "group": group[src_arr],
                          "start": starts})
    for r in ranks:
        table[r] = lab[r].to_numpy(dtype=object)[src_arr]
    report["n_used_sequences"] = int(len(np.unique(src_arr)))
    report["n_fragments"] = len(out_seqs)
    report["fragments_with_ambiguous_bases"] = int(sum(bool(re.search("[^ACGT]", s)) for s in out_seqs))
    settings = {"tile": tile, "max_tiles": max_tiles, "tile_seed": seed, "conflicting": conflicting,
                "ranks": list(ranks)}
    return LabelledFragments(out_seqs, table, list(ranks), report, settings)


def _raw_counts(path: Path) -> dict[str, int]:
    """Records whose sequence lines are lower case (any letter) or end with a stray ``;``."""
    from xopen import xopen

    lower = semi = 0
    rec_lower = rec_semi = False
    try:
        with xopen(path, "rb") as fh:
            for line in fh:
                if line.startswith(b">"):
                    lower += rec_lower
                    semi += rec_semi
                    rec_lower = rec_semi = False
                    continue
                body = line.rstrip(b"\r\n")
                rec_semi = rec_semi or body.endswith(b";")
                rec_lower = rec_lower or body != body.upper()
    except (OSError, EOFError):
        return {"lower_case": 0, "stray_semicolons": 0}  # the reader reports the damage
    return {"lower_case": int(lower + rec_lower), "stray_semicolons": int(semi + rec_semi)}


def load_labelled_sequences(
    sequences: str | os.PathLike[str],
    taxonomy: str | os.PathLike[str],
    *,
    lineage_ranks: Sequence[str] | None = None,
    **options: Any,
) -> LabelledFragments:
    """Read a FASTA file and its label table, and cut samples (:func:`labelled_fragments`).

    The FASTA may be DAIRYdb's mothur file as it is: a ``;`` at the end of a
    sequence line is removed (counted as ``stray_semicolons``); lower case is
    upper-cased (counted as ``lower_case``). A character that is not an IUPAC
    code is a one-line error naming the record.

    Parameters
    ----------
    sequences : str or path-like
        FASTA file (plain or compressed).
    taxonomy : str or path-like
        Label table (:func:`read_sequence_labels`).
    lineage_ranks : sequence of str, optional
        Ranks of plain lineages.
    **options
        :func:`labelled_fragments` keywords (``ranks``, ``tile``, ``max_tiles``,
        ``seed``, ``conflicting``).
    """
    from dnalib import io

    labels, info = read_sequence_labels(taxonomy, lineage_ranks=lineage_ranks)
    fasta = Path(sequences)
    if fasta.is_dir():
        raise DnalibError(f"--sequences {fasta} is a directory: give a FASTA file (--genomes takes "
                          "a directory of genomes)")
    if io.detect_format(fasta) != "fasta":
        raise DnalibError(f"--sequences {fasta}: not a FASTA file ('>' headers); convert FASTQ with "
                          "`seqkit fq2fa`")
    ids, seqs = [], []
    for rec in io.read_fasta(fasta, mothur=True):
        ids.append(rec.id)
        seqs.append(rec.sequence)
    frags = labelled_fragments(ids, seqs, labels, **options)
    frags.report = {**_raw_counts(fasta), **frags.report,
                    "label_table_layout": info["layout"], "label_columns_ignored": info["ignored_columns"]}
    return frags


# --------------------------------------------------------------------------- embed and classify


def embed_fragments(model: str, frags: LabelledFragments, **options: Any) -> tuple[np.ndarray, LabelledFragments]:
    """Embed the samples with any model; samples the model cannot read are left out and counted.

    A sample without ``min_bases`` unambiguous bases in a row (mostly ``N``)
    would get an all-zero k-mer row or only unknown tokens; it is dropped and
    counted as ``unembeddable`` in the returned samples' report.

    Parameters
    ----------
    model : str
        A name :func:`dnalib.embedders.from_name` takes.
    frags : LabelledFragments
    **options
        :func:`dnalib.embedders.from_name` options (``batch_size``,
        ``device``, ``progress``, ``pooling``, ``revision``,
        ``trust_remote_code``, ``precision``).

    Returns
    -------
    embeddings : numpy.ndarray
    frags : LabelledFragments
        The samples that were embedded (the input, when none was dropped).
    """
    from dnalib.embed import unembeddable
    from dnalib.embedders import from_name

    embedder = from_name(model, **options)
    bad = unembeddable(frags.sequences, embedder.min_bases)
    report = dict(frags.report, unembeddable=len(bad), min_bases=int(embedder.min_bases))
    if len(bad) == len(frags.sequences):
        raise DnalibError(f"no sample has {embedder.min_bases} unambiguous bases in a row: {model} "
                          "cannot embed any of them")
    if bad:
        keep = np.ones(len(frags.sequences), dtype=bool)
        keep[bad] = False
        frags = LabelledFragments([s for s, k in zip(frags.sequences, keep, strict=True) if k],
                                  frags.table[keep].reset_index(drop=True), frags.ranks, report,
                                  frags.settings)
    else:
        frags = LabelledFragments(frags.sequences, frags.table, frags.ranks, report, frags.settings)
    embedder.load()
    x = np.asarray(embedder.embed(frags.sequences))
    if x.ndim != 2 or len(x) != len(frags.sequences):
        raise DnalibError(f"{model} returned embeddings of shape {x.shape} for {len(frags.sequences)} "
                          "samples")
    if not np.isfinite(x).all():
        raise DnalibError(f"{model} gave NaN or infinite embeddings for "
                          f"{int((~np.isfinite(x).all(1)).sum())} samples: the model is damaged or "
                          "the precision too low (try --precision fp32)")
    return x, frags


def classify_by_rank(
    embeddings: Any,
    frags: LabelledFragments,
    ranks: Sequence[str] | None = None,
    *,
    n_splits: int = 5,
    seed: int = 0,
    min_per_taxon: int = 10,
    min_sequences: int = 2,
    classifiers: Sequence[str] | Mapping[str, Any] = ("knn", "rf"),
    knn_k: int = 3,
    rf_params: Mapping[str, Any] | None = None,
    n_jobs: int | None = None,
    folds: Any = None,
) -> dict[str, Any]:
    """The taxonomy-by-rank task on labelled samples, splits grouped by source sequence.

    Rank by rank, :func:`dnalib.evaluate.taxonomy_classification` with
    ``groups`` = the samples' source groups (``StratifiedGroupKFold``: every
    tile of a sequence, and every identical copy of it, on one side of every
    split). Before it, at each rank, taxa found in fewer than *min_sequences*
    source groups are set aside (a taxon of one sequence is never in a
    training part of a grouped split; counted as ``n_few_sequences``). A rank
    with fewer than two usable taxa is skipped with the reason.

    Parameters
    ----------
    embeddings
        ``(n_samples, dim)`` features of ``frags.sequences``; with *folds*, also
        a list of them, one per fold (a model trained on each split's
        training part alone).
    frags : LabelledFragments
    ranks : sequence of str, optional
        Default: ``frags.ranks``.
    n_splits, seed, min_per_taxon, classifiers, knn_k, rf_params, n_jobs
        As in :func:`dnalib.evaluate.taxonomy_classification` (*min_per_taxon*
        counts samples, i.e. fragments).
    min_sequences : int
        Fewest source groups a taxon needs.
    folds : sequence of int, optional
        The test fold of every sample (:func:`dnalib.evaluate.grouped_folds`
        of ``frags.table["group"]``): the same splits at every rank and for
        every model, so that per-split scores are paired.  Replaces
        *n_splits* and the per-rank ``StratifiedGroupKFold``.

    Returns
    -------
    dict
        ``taxonomy`` (one dict per rank and classifier: the task's columns
        without ``seconds``, plus ``n_missing`` and ``n_few_sequences``),
        ``skipped`` (``"taxonomy/RANK"`` -> reason), ``table`` (DataFrame
        ``task, setting, metric, value``), ``n_samples``, ``seconds``.
    """
    from dnalib.evaluate import CLASSIFIERS, taxonomy_classification, usable_labels

    ranks = list(frags.ranks if ranks is None else ranks)
    # arguments are checked here, so that a rank is skipped only for what its labels are
    for name, value, low in (("min_sequences", min_sequences, 1), ("n_splits", n_splits, 2),
                             ("min_per_taxon", min_per_taxon, 1), ("knn_k", knn_k, 1), ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
            raise DnalibError(f"{name} must be a whole number >= {low}; got {value!r}")
    if not isinstance(classifiers, Mapping):
        names = [classifiers] if isinstance(classifiers, str) else list(classifiers)
        unknown = [c for c in names if c not in CLASSIFIERS]
        if unknown or not names:
            raise DnalibError(f"classifiers must be among {', '.join(CLASSIFIERS)}; got {names}")
    xs = list(embeddings) if isinstance(embeddings, list | tuple) else [embeddings]
    for x in xs:
        x = np.asarray(x)
        if x.ndim != 2 or len(x) != len(frags.table):
            raise DnalibError(f"got {x.shape} embeddings for {len(frags.table)} samples")
    if folds is not None:
        folds = np.asarray(folds)
        if folds.shape != (len(frags.table),):
            raise DnalibError(f"got {folds.shape} folds for {len(frags.table)} samples")
        n_splits = int(folds.max()) + 1 if len(folds) else 0
        groups_per_fold = pd.Series(folds).groupby(frags.table["group"].to_numpy()).nunique()
        if (groups_per_fold > 1).any():
            raise DnalibError("folds put tiles of one source sequence in different folds: make them with "
                              "dnalib.evaluate.grouped_folds of the samples' groups")
    if min_per_taxon < n_splits:  # the folds given, when given, set how many there are
        raise DnalibError(f"min_per_taxon={min_per_taxon} is below n_splits={n_splits}: every kept taxon "
                          "needs a sample in each fold; raise --min-per-taxon or lower --splits")
    groups = frags.table["group"].to_numpy()
    rows: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    t0 = time.perf_counter()
    for rank in ranks:
        if rank not in frags.table.columns:
            raise DnalibError(f"rank {rank!r} is not among the samples' ranks {', '.join(frags.ranks)}")
        labels = frags.table[rank].to_numpy(dtype=object).copy()
        missing = pd.isna(labels)
        n_missing = int(missing.sum())
        per_taxon = pd.Series(groups[~missing]).groupby(labels[~missing]).nunique()
        few = per_taxon.index[per_taxon < min_sequences]
        few_mask = ~missing & pd.Series(labels).isin(few).to_numpy()
        labels[few_mask] = None
        usable = usable_labels(labels, min_per_taxon=min_per_taxon, placeholder_pattern=PLACEHOLDER_PATTERN)
        n_taxa = int(pd.Series(labels[usable]).nunique())
        if n_taxa < 2:
            skipped[f"taxonomy/{rank}"] = (
                f"{n_taxa} usable taxon(s) at {rank}, 2 needed: of {len(labels)} samples {n_missing} have "
                f"no label (empty, placeholder or conflicting), {int(few_mask.sum())} belong to taxa of "
                f"fewer than {min_sequences} sequences, {int((~usable).sum()) - n_missing - int(few_mask.sum())}"
                f" to taxa of fewer than {min_per_taxon} samples")
            continue
        frame = pd.DataFrame({rank: labels})
        try:
            with warnings.catch_warnings():
                # StratifiedGroupKFold warns when a taxon has fewer groups than folds; the counts say so
                warnings.filterwarnings("ignore", message=".*least populated class.*")
                table = taxonomy_classification(
                    xs if len(xs) > 1 else xs[0], frame, [rank], classifiers=classifiers, groups=groups,
                    min_per_taxon=min_per_taxon, placeholder_pattern=PLACEHOLDER_PATTERN, n_splits=n_splits,
                    seed=seed, knn_k=knn_k, rf_params=rf_params, n_jobs=n_jobs, folds=folds)
        except DnalibError as exc:
            skipped[f"taxonomy/{rank}"] = str(exc)
            continue
        for rec in table.drop(columns=["seconds"]).to_dict(orient="records"):
            rows.append({**rec, "n_missing": n_missing, "n_few_sequences": int(few_mask.sum())})
    table_rows = [{"task": "taxonomy", "setting": f"{r['rank']}/{r['classifier']}", "metric": m,
                   "value": r[m]} for r in rows for m in ("accuracy", "macro_f1")]
    return {"taxonomy": rows, "skipped": skipped, "n_samples": int(len(x)),
            "table": pd.DataFrame(table_rows, columns=["task", "setting", "metric", "value"]),
            "seconds": time.perf_counter() - t0}


def evaluate_sequences(
    model: str,
    sequences: str | os.PathLike[str],
    taxonomy: str | os.PathLike[str],
    *,
    ranks: Sequence[str] | None = None,
    tile: int | None = None,
    max_tiles: int | None = None,
    n_splits: int = 5,
    seed: int = 0,
    min_per_taxon: int = 10,
    min_sequences: int = 2,
    conflicting: str = "drop",
    lineage_ranks: Sequence[str] | None = None,
    n_jobs: int | None = None,
    **embed_options: Any,
) -> dict[str, Any]:
    """Score a model on a labelled marker-gene set: read, tile, embed, classify by rank.

    Parameters
    ----------
    model : str
        Any name :func:`dnalib.embedders.from_name` takes.
    sequences, taxonomy : str or path-like
        FASTA file and label table (:func:`load_labelled_sequences`).
    ranks, tile, max_tiles, seed, conflicting
        :func:`labelled_fragments`.
    n_splits, min_per_taxon, min_sequences, n_jobs
        :func:`classify_by_rank`.
    lineage_ranks
        Ranks of plain lineages (:func:`read_sequence_labels`).
    **embed_options
        :func:`embed_fragments` options.

    Returns
    -------
    dict
        ``embedder`` (identity), ``settings`` (every setting), ``inputs``
        (the counts of :func:`labelled_fragments` and :func:`embed_fragments`),
        ``n_samples``, ``n_sequences``, ``taxonomy``, ``skipped``, ``table``,
        ``seconds``.
    """
    from dnalib.embedders import from_name

    identity = from_name(model, **embed_options).identity
    t0 = time.perf_counter()
    frags = load_labelled_sequences(sequences, taxonomy, lineage_ranks=lineage_ranks, ranks=ranks,
                                    tile=tile, max_tiles=max_tiles, seed=seed, conflicting=conflicting)
    t1 = time.perf_counter()
    x, frags = embed_fragments(model, frags, **embed_options)
    t2 = time.perf_counter()
    result = classify_by_rank(x, frags, n_splits=n_splits, seed=seed, min_per_taxon=min_per_taxon,
                              min_sequences=min_sequences, n_jobs=n_jobs)
    if not result["taxonomy"]:
        reasons = "; ".join(f"{k}: {v}" for k, v in result["skipped"].items())
        raise DnalibError(f"no rank could be scored ({reasons})")
    settings = {**frags.settings, "n_splits": n_splits, "split": "StratifiedGroupKFold by source sequence "
                "(identical sequences in one group)", "split_seed": seed, "min_per_taxon": min_per_taxon,
                "min_sequences_per_taxon": min_sequences, "classifiers": ["knn", "rf"], "knn_k": 3,
                "rf_trees": 100, "lineage_ranks": None if lineage_ranks is None else list(lineage_ranks)}
    return {
        "embedder": identity,
        "settings": settings,
        "inputs": frags.report,
        "n_samples": result["n_samples"],
        "n_sequences": frags.report["n_used_sequences"],
        "taxonomy": result["taxonomy"],
        "skipped": result["skipped"],
        "table": result["table"],
        "seconds": {"load_and_tile": t1 - t0, "embed": t2 - t1, "evaluate": result["seconds"]},
    }
