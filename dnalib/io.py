"""Reading and writing DNA sequence files, labelled genome sets and 16S references.

Parsing goes through `dnaio <https://github.com/marcelm/dnaio>`_, the FASTA/FASTQ
library written and maintained by the cutadapt authors.  It was chosen because

- it is fast (the FASTQ parser is Cython; the FASTA reader reads a 4 Mbp genome in
  tens of milliseconds), and it streams: records are produced one at a time, so
  files larger than memory can be read;
- it opens plain and compressed files alike (gzip, bzip2, xz, zstd through
  ``xopen``, with the fast ISA-L gzip decoder when available);
- it is small, typed, actively maintained and widely used (cutadapt, many
  pipelines);
- it raises specific format errors (``FastaFormatError`` / ``FastqFormatError``
  carrying a line number) instead of silently returning garbage.

On top of dnaio this module adds what a teaching library needs: every problem
with an input file becomes a one-line :class:`~dnalib.errors.DnalibError` that
says what was wrong, where (file, record, line) and how to fix it, and nothing
is dropped silently.

Normalisation and validation rules (the same for every reader):

- Sequences are returned in upper case; lower case (soft-masked) input is
  accepted.  CRLF line ends and blank lines are accepted.
- Every character must be an IUPAC DNA nucleotide code: ``ACGT`` plus the
  ambiguity codes ``NRYSWKMBDHV`` (the alphabet of :mod:`dnalib.sequences`).
  Anything else (``X``, digits, ``*``, spaces inside a line, RNA ``U``,
  alignment gaps ``-`` and ``.``) is an error naming the file, the record and
  the line.  Gaps are rejected on purpose: the readers expect unaligned
  sequences, and silently dropping gap characters would change coordinates;
  degap an alignment first (e.g. ``seqkit seq -g``).  ``U`` is rejected rather
  than silently rewritten; convert RNA to DNA (``seqkit seq --rna2dna``).
- How ambiguity codes and runs of ``N`` are handled later (kept, replaced,
  split on) is a cleaning policy that belongs to :mod:`dnalib.sequences`
  (``clean``), not to the readers.
- Only the 16S (mothur) reader strips the stray ``;`` that DAIRYdb puts at the
  end of every sequence line.

Layouts understood here:

*Labelled genome set*
    a directory with one FASTA file per genome (``.fa``, ``.fna`` or
    ``.fasta``, optionally gzip-compressed ``.gz``) and a tab-separated
    ``taxonomy.tsv`` whose ``id`` column is the file name without its
    extension(s) and whose other columns are taxonomic ranks (e.g.
    ``superkingdom phylum class order family genus species``).  Other TSV files
    in the directory (such as ``genome_size.tsv``) are ignored.
*16S reference (mothur layout, as DAIRYdb ships it)*
    a FASTA file plus a taxonomy text file with lines
    ``ID<TAB>Kingdom;Phylum;Class;Order;Family;Genus;Species;``.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import tarfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import dnaio
import numpy as np
import pandas as pd
from xopen import xopen

from dnalib.errors import DataNotFoundError, DnalibError, InputFormatError
from dnalib.sequences import n50

__all__ = [
    "DAIRYDB_RANKS",
    "FASTA_SUFFIXES",
    "GENOME_RANKS",
    "IUPAC_NUCLEOTIDES",
    "GenomeSet",
    "SeqRecord",
    "detect_format",
    "format_summary",
    "inspect_path",
    "load_16s_archive",
    "load_16s_reference",
    "load_genome_set",
    "n50",
    "read_fasta",
    "read_fastq",
    "read_sequences",
    "read_split_table",
    "read_taxonomy",
    "sequence_stats",
    "write_fasta",
    "write_genome_set",
    "write_text_atomically",
]

#: Characters accepted in a sequence after upper-casing, the IUPAC DNA nucleotide codes.
IUPAC_NUCLEOTIDES = "ACGTNRYSWKMBDHV"
_IUPAC_BYTES = IUPAC_NUCLEOTIDES.encode("ascii")

#: File name endings recognised as FASTA files in a genome set (each optionally + ``.gz``).
FASTA_SUFFIXES: tuple[str, ...] = (".fa", ".fna", ".fasta")

#: Rank columns of the kmcp15 genome set (NCBI-style, as in its ``taxonomy.tsv``).
GENOME_RANKS: tuple[str, ...] = (
    "superkingdom",
    "phylum",
    "class",
    "order",
    "family",
    "genus",
    "species",
)

#: Rank names of the seven levels of a DAIRYdb (mothur) taxonomy string.
DAIRYDB_RANKS: tuple[str, ...] = (
    "kingdom",
    "phylum",
    "class",
    "order",
    "family",
    "genus",
    "species",
)

_TAXONOMY_FILE = "taxonomy.tsv"
_MAX_NAMES = 5

Opener = Callable[[], IO[bytes]]


# --------------------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class SeqRecord:
    """One FASTA or FASTQ record.

    Parameters
    ----------
    id : str
        The first word of the header line (what tools use as the identifier).
    description : str
        The whole header line without the leading ``>`` or ``@`` (includes the id).
    sequence : str
        The sequence, upper case, line breaks removed.
    quality : str or None
        FASTQ quality string (same length as ``sequence``); ``None`` for FASTA.
    """

    id: str
    description: str
    sequence: str
    quality: str | None = None

    def __len__(self) -> int:
        return len(self.sequence)


# --------------------------------------------------------------------------- helpers


def _shorten(text: str, width: int = 40) -> str:
    text = text.replace("\r", "").replace("\n", " ")
    return text if len(text) <= width else text[: width - 3] + "..."


def _name_list(names: Sequence[str], limit: int = _MAX_NAMES) -> str:
    """Return ``'a', 'b', ... and N more`` for an error message."""
    shown = ", ".join(repr(n) for n in list(names)[:limit])
    if len(names) > limit:
        shown += f" and {len(names) - limit} more"
    return shown


def _existing_file(path: str | os.PathLike[str]) -> Path:
    """*path* checked to be a regular file, which dnalib may open more than once.

    Reading an input takes more than one pass (its format is detected from
    its first bytes, a bad record is located by reading again, ``embed``
    hashes it for ``--resume``), so a pipe, ``-`` or a device such as
    ``/dev/stdin`` on a pipe is refused with one line rather than read twice
    (a hang, or the second pass seeing nothing).
    """
    p = Path(path)
    if str(path) == "-":
        raise InputFormatError("'-' (standard input) is not read: dnalib reads an input more than "
                               "once; save it to a file first (e.g. `cat > reads.fa`) and pass that")
    if p.exists() and not p.is_dir() and not p.is_file():
        raise InputFormatError(
            f"{p}: is a pipe or device, not a regular file: dnalib reads an input more than once "
            "(format detection, error location, checksums for --resume); save it to a file "
            "first and pass that")
    if not p.exists():
        raise DataNotFoundError(
            f"{p}: no such file; check the path (relative paths start at {Path.cwd()})"
        )
    if p.is_dir():
        raise InputFormatError(
            f"{p}: is a directory, not a sequence file; "
            "use load_genome_set() / 'dnalib inspect DIR' for a directory of genomes"
        )
    return p


def _file_opener(path: Path) -> Opener:
    def open_() -> IO[bytes]:
        # threads=0: decompress in this process, so errors surface as exceptions here.
        return xopen(path, "rb", threads=0)

    return open_


def _decode_error(source: str, exc: BaseException, what: str = "file") -> InputFormatError:
    """Turn a decompression / decoding failure into a one-line error."""
    if isinstance(exc, EOFError):
        reason = "the compressed data ends early (truncated or incompletely downloaded gzip file)"
        fix = "download or copy the file again"
    elif isinstance(exc, UnicodeDecodeError):
        reason = f"it contains bytes that are not text ({exc.reason})"
        fix = "check that it is an uncompressed or gzip-compressed text FASTA/FASTQ file"
    else:
        reason = f"it cannot be decompressed or read ({_shorten(str(exc), 80)})"
        fix = "check that the file is complete and that its extension matches its compression"
    return InputFormatError(f"{source}: cannot read this {what}: {reason}; {fix}")


def _locate(opener: Opener, record_index: int, fmt: str, needle: str | None = None) -> int | None:
    """Line number (1-based) of a record's header, or of *needle* inside that record.

    Only used after an error was found, so the second pass over the file costs
    nothing on the happy path.
    """
    if fmt == "fastq":  # dnaio reads four-line FASTQ only: header, sequence, '+', quality
        return 4 * record_index + (1 if needle is None else 2)
    try:
        with opener() as fh:
            seen = -1
            for lineno, line in enumerate(fh, start=1):
                if line.startswith(b">"):
                    seen += 1
                    if seen == record_index and needle is None:
                        return lineno
                    if seen > record_index:
                        return None
                elif seen == record_index and needle is not None:
                    if needle in line.decode("ascii", "replace").upper():
                        return lineno
    except Exception:  # best effort only: the caller already has an error to report
        return None
    return None


def _first_line_where(opener: Opener, predicate: Callable[[bytes], bool]) -> int | None:
    try:
        with opener() as fh:
            for lineno, line in enumerate(fh, start=1):
                if predicate(line):
                    return lineno
    except Exception:
        return None
    return None


def _not_utf8(line: bytes) -> bool:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _at_line(line: int | None) -> str:
    return f" (line {line})" if line is not None else ""


def detect_format(path: str | os.PathLike[str]) -> str:
    """Guess whether a (possibly gzip-compressed) file is FASTA or FASTQ from its content.

    Parameters
    ----------
    path : str or os.PathLike
        The file to look at.

    Returns
    -------
    str
        ``"fasta"`` or ``"fastq"``.

    Raises
    ------
    ~dnalib.errors.DataNotFoundError
        If the file does not exist.
    ~dnalib.errors.InputFormatError
        If the file is empty, unreadable, or starts with neither ``>`` nor ``@``.
    """
    p = _existing_file(path)
    return _detect(_file_opener(p), str(p))


def _detect(opener: Opener, source: str) -> str:
    try:
        with opener() as fh:
            head = fh.read(1 << 16)
    except (EOFError, OSError, zlib.error) as exc:
        raise _decode_error(source, exc) from exc
    stripped = head.lstrip()
    if not stripped:
        raise InputFormatError(
            f"{source}: the file is empty; expected FASTA ('>' headers) or FASTQ ('@' headers)"
        )
    first = stripped[:1]
    if first == b">":
        return "fasta"
    if first == b"@":
        return "fastq"
    first_line = stripped.split(b"\n", 1)[0].decode("utf-8", "replace")
    raise InputFormatError(
        f"{source}: not a FASTA or FASTQ file: it starts with {_shorten(first_line)!r} "
        "instead of a '>' (FASTA) or '@' (FASTQ) header line"
    )


# --------------------------------------------------------------------------- reading


class _LineEndCheck(io.RawIOBase):
    """Pass a binary stream through; a carriage return that does not end a line is an error.

    dnaio takes a lone ``\r`` for a line end, so ``>r1 fi\rrst`` would
    silently turn the header text ``rst`` into sequence (R, S, T are IUPAC
    codes). CRLF line ends pass.
    """

    def __init__(self, fh: IO[bytes], source: str) -> None:
        super().__init__()
        self._fh = fh
        self._source = source
        self._cr_pending = False  # the previous piece ended in \r
        self._line = 1

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self._fh.read(len(b))
        self._check(data)
        b[: len(data)] = data
        return len(data)

    def _check(self, data: bytes) -> None:
        lone = self._cr_pending and data[:1] not in (b"\n", b"")
        if not lone and b"\r" in data:
            ends_in_cr = data.endswith(b"\r")
            lone = data.count(b"\r") != data.count(b"\r\n") + ends_in_cr
        if lone:
            pos = data.find(b"\r")
            while 0 <= pos < len(data) - 1 and data[pos + 1 : pos + 2] == b"\n":
                pos = data.find(b"\r", pos + 1)
            line = self._line + data.count(b"\n", 0, max(pos, 0))
            raise InputFormatError(
                f"{self._source}{_at_line(line)}: a carriage return (\\r) in the middle of a line: "
                "the file is damaged or mixes line-end conventions; convert it to Unix line ends "
                "(e.g. dos2unix) and check that line"
            )
        self._cr_pending = data.endswith(b"\r")
        self._line += data.count(b"\n")


def _iter_records(
    opener: Opener,
    source: str,
    fmt: str,
    *,
    mothur: bool = False,
) -> Iterator[SeqRecord]:
    """Stream validated records from an opener; every failure becomes a DnalibError."""
    seen: dict[str, int] = {}
    index = -1
    try:
        with opener() as fh:
            raw = _LineEndCheck(fh, source)
            if fmt == "fasta":
                reader: Any = dnaio.FastaReader(raw, keep_linebreaks=mothur, _close_file=False)
            else:
                reader = dnaio.FastqReader(raw, _close_file=False)
            for index, rec in enumerate(reader):
                header = rec.name
                parts = header.split(maxsplit=1)
                if not parts:
                    line = _locate(opener, index, fmt)
                    raise InputFormatError(
                        f"{source}: record {index + 1}{_at_line(line)} has an empty header; "
                        "give every record a name after the '>'"
                    )
                rid = parts[0]
                if rid in seen:
                    line = _locate(opener, index, fmt)
                    raise InputFormatError(
                        f"{source}: duplicate record id {rid!r}{_at_line(line)}, first seen as "
                        f"record {seen[rid] + 1}; record ids must be unique: rename or remove one"
                    )
                seen[rid] = index
                seq = rec.sequence
                if mothur:
                    seq = seq.replace(";\n", "\n").removesuffix(";").replace("\n", "")
                if not seq:
                    line = _locate(opener, index, fmt)
                    raise InputFormatError(
                        f"{source}: record {rid!r}{_at_line(line)} has no sequence; "
                        "remove the empty record or add its sequence"
                    )
                seq = seq.upper()
                rest = seq.encode("ascii").translate(None, _IUPAC_BYTES)
                if rest:
                    bad = chr(rest[0])
                    pos = seq.index(bad)
                    line = _locate(opener, index, fmt, bad)
                    if bad in "-.":
                        hint = "alignment gaps are not accepted: degap the sequences first"
                    elif bad == "U":
                        hint = "RNA is not accepted: convert U to T first (seqkit seq --rna2dna)"
                    else:
                        hint = "fix or remove that record"
                    raise InputFormatError(
                        f"{source}: record {rid!r}{_at_line(line)}: character {bad!r} at "
                        f"position {pos + 1} is not an IUPAC nucleotide code "
                        f"({IUPAC_NUCLEOTIDES}); {hint}"
                    )
                yield SeqRecord(rid, header, seq, rec.qualities)
    except DnalibError:
        raise
    except dnaio.exceptions.FileFormatError as exc:
        raise _format_error(opener, source, fmt, exc, index) from exc
    except UnicodeDecodeError as exc:
        line = _first_line_where(opener, _not_utf8)
        raise InputFormatError(
            f"{source}{_at_line(line)}: not text: bytes that are not UTF-8/ASCII ({exc.reason}); "
            "sequence files must be plain ASCII text (plain or gzip-compressed)"
        ) from exc
    except (EOFError, OSError, zlib.error) as exc:
        raise _decode_error(source, exc) from exc
    except (ValueError, tarfile.TarError) as exc:
        raise InputFormatError(
            f"{source}: cannot parse as {fmt.upper()}: {_shorten(str(exc), 100)}"
        ) from exc
    if index < 0:
        kind = "FASTA records ('>' headers)" if fmt == "fasta" else "FASTQ records ('@' headers)"
        raise InputFormatError(f"{source}: the file is empty: it contains no {kind}")


def _format_error(
    opener: Opener, source: str, fmt: str, exc: dnaio.exceptions.FileFormatError, index: int
) -> InputFormatError:
    msg = _shorten(exc.message, 100)
    line = None if exc.line is None else exc.line + 1
    if "ASCII" in exc.message:
        line = _first_line_where(opener, lambda b: not b.isascii())
        return InputFormatError(
            f"{source}{_at_line(line)}: non-ASCII character in a header or sequence; "
            "sequence files must be plain ASCII text: fix or remove that line"
        )
    if fmt == "fasta" and "Expected '>'" in exc.message:
        return InputFormatError(
            f"{source}{_at_line(line)}: not a FASTA file: text before the first '>' header "
            f"({msg}); every FASTA record starts with a '>name' line (use read_sequences() for FASTQ)"
        )
    where = _at_line(line)
    if index >= 0:
        where += f" after record {index + 1}"
    return InputFormatError(f"{source}{where}: malformed {fmt.upper()}: {msg}")


def read_fasta(path: str | os.PathLike[str], *, mothur: bool = False) -> Iterator[SeqRecord]:
    """Stream the records of a FASTA file (plain or gzip/bz2/xz-compressed).

    Parameters
    ----------
    path : str or os.PathLike
        The FASTA file.
    mothur : bool
        Remove a ``;`` at the end of a sequence line (the stray one DAIRYdb's
        mothur files carry), as :func:`load_16s_reference` does; a ``;``
        anywhere else is still an error.

    Returns
    -------
    Iterator[SeqRecord]
        Records in file order, sequences upper case and validated.

    Raises
    ------
    ~dnalib.errors.DataNotFoundError
        If the file does not exist (raised immediately, not on first iteration).
    ~dnalib.errors.InputFormatError
        While iterating: not FASTA, truncated gzip, empty file, empty record,
        duplicate id or a character that is not an IUPAC nucleotide code.
    """
    p = _existing_file(path)
    return _iter_records(_file_opener(p), str(p), "fasta", mothur=bool(mothur))


def read_fastq(path: str | os.PathLike[str]) -> Iterator[SeqRecord]:
    """Stream the records of a FASTQ file (plain or compressed), with qualities.

    Parameters
    ----------
    path : str or os.PathLike
        The FASTQ file (four lines per record).

    Returns
    -------
    Iterator[SeqRecord]
        Records with ``quality`` set, sequences upper case and validated.

    Raises
    ------
    ~dnalib.errors.DataNotFoundError
        If the file does not exist.
    ~dnalib.errors.InputFormatError
        While iterating: malformed FASTQ (e.g. sequence and quality lengths
        differ), truncated gzip, empty file, duplicate id or illegal characters.
    """
    p = _existing_file(path)
    return _iter_records(_file_opener(p), str(p), "fastq")


def read_sequences(path: str | os.PathLike[str]) -> Iterator[SeqRecord]:
    """Stream a FASTA or FASTQ file, recognising the format from its content.

    Parameters
    ----------
    path : str or os.PathLike
        A FASTA or FASTQ file, plain or compressed.

    Returns
    -------
    Iterator[SeqRecord]
        The records (``quality`` is ``None`` for FASTA).

    Raises
    ------
    ~dnalib.errors.DataNotFoundError
        If the file does not exist.
    ~dnalib.errors.InputFormatError
        If the file is neither FASTA nor FASTQ, or any record is invalid.
    """
    p = _existing_file(path)
    opener = _file_opener(p)
    return _iter_records(opener, str(p), _detect(opener, str(p)))


def write_fasta(
    records: Mapping[str, str] | Iterable[SeqRecord],
    path: str | os.PathLike[str],
    *,
    line_width: int = 80,
    compress: bool | None = None,
) -> Path:
    """Write sequences to a FASTA file (gzip-compressed if the name ends in ``.gz``).

    Parameters
    ----------
    records : Mapping[str, str] or Iterable[SeqRecord]
        ``{id: sequence}`` or records (their ``description`` is written as header).
    path : str or os.PathLike
        Output file; parent directories are created.
    line_width : int, optional
        Sequence line width; ``0`` writes each sequence on one line. Default: ``80``.
    compress : bool, optional
        Force gzip on or off; by default decided by the ``.gz`` suffix.  The
        gzip header carries no file name or time stamp, so equal input gives
        equal bytes.

    Returns
    -------
    Path
        The written file.
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    if compress is None:
        compress = out.suffix == ".gz"
    items: Iterable[tuple[str, str]]
    if isinstance(records, Mapping):
        items = records.items()
    else:
        items = ((r.description or r.id, r.sequence) for r in records)
    with open(out, "wb") as fh:
        # No file name and no time stamp in the gzip header: equal input gives equal bytes.
        with (
            gzip.GzipFile(filename="", mode="wb", fileobj=fh, compresslevel=6, mtime=0)
            if compress
            else fh as raw
        ):
            for header, seq in items:
                data = seq.encode("ascii")
                if line_width and line_width > 0:
                    body = b"\n".join(
                        data[i : i + line_width] for i in range(0, len(data), line_width)
                    )
                else:
                    body = data
                raw.write(b">" + header.encode("ascii") + b"\n" + body + b"\n")
    return out


def read_split_table(path: str | os.PathLike[str]) -> pd.Series:
    """A genome set's ``split.tsv``: genome id -> split name, checked.

    Raises
    ------
    ~dnalib.errors.InputFormatError
        A file that is not UTF-8 text, is empty, lacks the ``id`` or
        ``split`` column, has an empty cell, or gives one genome two splits;
        the message names the file and what to fix.
    """
    path = Path(path)
    fix = "fix it (tab-separated, columns id and split, one row per genome) or delete it"
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputFormatError(f"{path}: not UTF-8 text (byte {exc.start}): {fix}") from None
    if not text.strip():
        raise InputFormatError(f"{path}: empty: {fix}")
    try:
        table = pd.read_csv(io.StringIO(text), sep="\t", dtype=str, keep_default_na=False)
    except (ValueError, pd.errors.ParserError) as exc:
        raise InputFormatError(f"{path}: not a table ({' '.join(str(exc).split())[:120]}): {fix}") from None
    lacking = [c for c in ("id", "split") if c not in table.columns]
    if lacking:
        raise InputFormatError(f"{path}: no {' and no '.join(repr(c) for c in lacking)} column (it has "
                               f"{', '.join(map(repr, table.columns[:5]))}): {fix}")
    table["id"], table["split"] = table["id"].str.strip(), table["split"].str.strip()
    blank = table.index[(table["id"] == "") | (table["split"] == "")]
    if len(blank):
        raise InputFormatError(f"{path}: row {int(blank[0]) + 2} has an empty id or split: {fix}")
    twice = table.groupby("id")["split"].nunique()
    if (twice > 1).any():
        raise InputFormatError(f"{path}: genome {twice.index[twice > 1][0]!r} is in two splits: {fix}")
    return table.drop_duplicates("id").set_index("id")["split"]


def write_text_atomically(path: str | os.PathLike[str], text: str, *, fsync: bool = False) -> Path:
    """Write a text file so that it is either complete or absent, never half-written.

    The text goes to a temporary file in the same directory, which then
    replaces *path* in one step (``os.replace``). A failure (a full disk)
    leaves no temporary file and is an ``OSError`` naming *path*.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write (its directory must exist).
    text : str
        The whole content.
    fsync : bool
        Flush the text to the disk before the rename, so that after a power
        cut the file is the old one or the new one, never empty (for files
        whose presence other files are trusted by: a run's checksums and
        ownership marker).

    Returns
    -------
    Path
        The written file.
    """
    out = Path(path)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w") as fh:
            fh.write(text)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, out)
    except OSError as exc:  # a failed write() names no file: name the one being written
        if exc.filename is None:
            raise OSError(exc.errno, exc.strerror or str(exc), str(out)) from None
        raise
    finally:
        tmp.unlink(missing_ok=True)
    return out


# --------------------------------------------------------------------------- taxonomy tables


def read_taxonomy(
    path: str | os.PathLike[str], *, require: Sequence[str] = ("species",)
) -> pd.DataFrame:
    """Read a tab-separated label table with an ``id`` column.

    Parameters
    ----------
    path : str or os.PathLike
        The TSV file, e.g. ``taxonomy.tsv`` with columns
        ``id superkingdom phylum class order family genus species``.
    require : Sequence[str], optional
        Columns that must be present besides ``id``. Default: ``("species",)``.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``id`` (string), one string column per rank in file order;
        empty cells are empty strings.

    Raises
    ------
    ~dnalib.errors.DataNotFoundError
        If the file does not exist.
    ~dnalib.errors.InputFormatError
        If the table is empty, malformed, lacks ``id`` or a required column,
        or repeats an id.
    """
    p = _existing_file(path)
    try:
        table = pd.read_csv(p, sep="\t", dtype=str, keep_default_na=False, na_filter=False)
    except pd.errors.EmptyDataError as exc:
        raise InputFormatError(
            f"{p}: the label table is empty; expected a tab-separated header line 'id<TAB>species...' and one row per genome"
        ) from exc
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise InputFormatError(
            f"{p}: cannot parse the tab-separated label table: {_shorten(str(exc), 120)}"
        ) from exc
    table.columns = [str(c).strip() for c in table.columns]
    if "id" not in table.columns:
        raise InputFormatError(
            f"{p}: the label table has no 'id' column (columns: {', '.join(table.columns) or 'none'}); "
            "the first line must be a tab-separated header starting with 'id'"
        )
    missing = [c for c in require if c not in table.columns]
    if missing:
        raise InputFormatError(
            f"{p}: the label table has no {', '.join(repr(c) for c in missing)} column "
            f"(columns: {', '.join(table.columns)}); add it to the header line"
        )
    table = table.apply(lambda col: col.str.strip())
    if table.empty:
        raise InputFormatError(
            f"{p}: the label table has a header but no rows; add one row per genome"
        )
    empty = table.index[table["id"] == ""]
    if len(empty):
        raise InputFormatError(
            f"{p}: line {int(empty[0]) + 2} has an empty id; fill in the id or remove the row"
        )
    dup = table["id"][table["id"].duplicated()]
    if len(dup):
        first = int(dup.index[0]) + 2
        raise InputFormatError(
            f"{p}: duplicate id {dup.iloc[0]!r} (line {first}); {dup.nunique()} id(s) repeat: "
            f"{_name_list(sorted(set(dup)))}; keep one row per id"
        )
    return table.set_index("id")


def _mismatch_error(
    label_file: str, seq_source: str, lacking: Sequence[str], unused: Sequence[str], what: str
) -> InputFormatError:
    parts = []
    if lacking:
        parts.append(f"{len(lacking)} {what}(s) have no label row ({_name_list(sorted(lacking))})")
    if unused:
        parts.append(f"{len(unused)} label row(s) have no sequences ({_name_list(sorted(unused))})")
    return InputFormatError(
        f"{label_file}: labels do not match {seq_source}: {' and '.join(parts)}; "
        "add the missing rows or remove the extra rows/files so that ids match exactly"
    )


# --------------------------------------------------------------------------- genome sets


@dataclass
class GenomeSet:
    """A labelled set of genomes: sequences per genome and a taxonomy table.

    Parameters
    ----------
    root : Path or None
        The directory it was loaded from (``None`` if built in memory).
    taxonomy : pandas.DataFrame
        Indexed by genome id, one string column per rank (file order).
    genomes : dict[str, list[str]]
        Genome id to its contig sequences (upper case), in taxonomy order.
    files : dict[str, Path]
        Genome id to its FASTA file (empty if built in memory).
    splits : dict[str, str]
        Genome id to its split (e.g. ``"train"``, ``"validation"``) when the
        set comes with a documented split (see :meth:`split`); empty otherwise.
    """

    root: Path | None
    taxonomy: pd.DataFrame
    genomes: dict[str, list[str]]
    files: dict[str, Path] = field(default_factory=dict)
    splits: dict[str, str] = field(default_factory=dict)

    @property
    def ids(self) -> list[str]:
        """Genome ids in taxonomy order."""
        return list(self.genomes)

    @property
    def ranks(self) -> list[str]:
        """Rank column names of the taxonomy, in file order."""
        return [str(c) for c in self.taxonomy.columns]

    def labels(self, rank: str = "species") -> list[str]:
        """Labels at *rank*, one per genome, aligned with :attr:`ids`.

        Parameters
        ----------
        rank : str, optional
            A column of the taxonomy table. Default: ``"species"``.

        Returns
        -------
        list of str
            The label of each genome ('' where the table cell is empty).

        Raises
        ------
        ~dnalib.errors.DnalibError
            If the taxonomy has no such rank.
        """
        if rank not in self.taxonomy.columns:
            raise DnalibError(
                f"unknown rank {rank!r}: this genome set has ranks {', '.join(self.ranks)}"
            )
        return [str(v) for v in self.taxonomy.loc[self.ids, rank]]

    def total_length(self, genome_id: str) -> int:
        """Total number of bases over all contigs of one genome.

        Parameters
        ----------
        genome_id : str
            A genome id.

        Returns
        -------
        int
            Sum of contig lengths.
        """
        try:
            contigs = self.genomes[genome_id]
        except KeyError:
            raise DnalibError(
                f"unknown genome id {genome_id!r}; known ids start with {_name_list(self.ids)}"
            ) from None
        return sum(len(c) for c in contigs)

    def subset(self, ids: Sequence[str]) -> GenomeSet:
        """The genome set of *ids* only (in the order given)."""
        unknown = [g for g in ids if g not in self.genomes]
        if unknown:
            raise DnalibError(f"unknown genome id(s) {unknown[:3]}; known ids start with "
                              f"{_name_list(self.ids)}")
        return GenomeSet(self.root, self.taxonomy.loc[list(ids)],
                         {g: self.genomes[g] for g in ids},
                         {g: self.files[g] for g in ids if g in self.files},
                         {g: self.splits[g] for g in ids if g in self.splits})

    def without(self, labels: Iterable[str], rank: str = "species") -> GenomeSet:
        """The genome set less every genome labelled one of *labels* at *rank*.

        ``load_genomes_real().without(KMCP15_GENERA, "genus")`` is every
        genomes_real genome whose genus kmcp15 does not have (the data of the
        refit spectrum map). Labels the set does not have remove nothing.

        Parameters
        ----------
        labels : iterable of str
            Labels to leave out.
        rank : str
            The rank they are labels of (a column of the taxonomy).

        Returns
        -------
        GenomeSet

        Raises
        ------
        ~dnalib.errors.DnalibError
            For an unknown rank, or when no genome would be left.
        """
        drop = {str(label) for label in labels}
        ids = [g for g, label in zip(self.ids, self.labels(rank), strict=True) if label not in drop]
        if not ids:
            raise DnalibError(f"leaving out {len(drop)} {rank} label(s) leaves no genome of the "
                              f"{len(self.ids)} in this set")
        return self.subset(ids)

    def split(self, name: str) -> GenomeSet:
        """The genomes of split *name* (e.g. ``"train"``).

        The split comes from :attr:`splits` when the set has one (the
        registered ``genomes_real`` corpus: ``train`` and ``validation``,
        species- and genus-disjoint, see
        :func:`dnalib.datasets.genus_disjoint_split`), else from the set's
        ``split.tsv`` (columns ``id`` and ``split``; a set written by
        :func:`dnalib.simulate.simulate_community` has one, ``train`` or
        ``eval``) so that evaluation species stay unseen in training. A set
        with neither is returned whole.

        Parameters
        ----------
        name : str

        Returns
        -------
        GenomeSet

        Raises
        ------
        ~dnalib.errors.DnalibError
            When no genome has that split.
        """
        if self.splits:
            ids = [g for g in self.ids if self.splits.get(g) == name]
            if not ids:
                raise DnalibError(f"no genome has split {name!r}; this set's splits are "
                                  f"{', '.join(sorted(set(self.splits.values())))}")
            return self.subset(ids)
        table_path = None if self.root is None else Path(self.root) / "split.tsv"
        if table_path is None or not table_path.exists():
            return self
        table = read_split_table(table_path)
        ids = [g for g in self.ids if table.get(g) == name]
        if not ids:
            raise DnalibError(f"{table_path}: no genome has split {name!r}")
        return self.subset(ids)

    def fragments(self, length: int, per_genome: int, *, ids: Sequence[str] | None = None,
                  seed: int = 0, allow_fewer: bool = False) -> tuple[list[str], pd.DataFrame]:
        """Random non-overlapping fragments of every genome, with one taxonomy row per fragment.

        The one way dnalib cuts a genome set (``dnalib evaluate``, the
        chapters, the benchmarks). Genome *i* of the set (its position in
        :attr:`ids`) draws its fragments from its own random stream,
        ``numpy.random.default_rng([seed, i])``, so a genome's fragments do
        not depend on which other genomes are cut or in which order.

        Parameters
        ----------
        length : int
            Fragment length in bp.
        per_genome : int
            Fragments per genome.
        ids : sequence of str, optional
            The genomes to cut (default: all, in :attr:`ids` order).
        seed : int
            Seed of the fragment positions.
        allow_fewer : bool
            Take what fits from a genome too short for *per_genome* fragments
            (how many each gave is in the table); default: an error.

        Returns
        -------
        fragments : list of str
            Genome by genome.
        table : pandas.DataFrame
            One row per fragment: ``id``, ``contig``, ``start`` and the rank
            columns of the taxonomy.
        """
        from dnalib.sequences import sample_fragments

        if length < 1 or per_genome < 1:
            raise DnalibError(f"length and per_genome must be positive; got {length} and {per_genome}")
        position = {gid: i for i, gid in enumerate(self.ids)}
        chosen = self.ids if ids is None else list(ids)
        unknown = [g for g in chosen if g not in position]
        if unknown:
            raise DnalibError(f"unknown genome id(s) {unknown[:3]}; known ids start with "
                              f"{_name_list(self.ids)}")
        seqs: list[str] = []
        parts: list[pd.DataFrame] = []
        for gid in chosen:
            frags, coords = sample_fragments(self.genomes[gid], length, per_genome,
                                             seed=np.random.default_rng([seed, position[gid]]),
                                             return_coords=True, allow_fewer=allow_fewer)
            seqs += frags
            part = pd.DataFrame({"id": [gid] * len(frags), "contig": coords[:, 0].astype(int),
                                 "start": coords[:, 1].astype(int)})
            parts.append(part.join(self.taxonomy, on="id"))
        columns = ["id", "contig", "start", *self.ranks]
        table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
        return seqs, table[columns]

    def __len__(self) -> int:
        return len(self.genomes)

    def __repr__(self) -> str:
        total = sum(self.total_length(i) for i in self.ids)
        return f"GenomeSet({len(self)} genomes, {total:,} bp, ranks={self.ranks}, root={self.root})"


def _genome_id(name: str) -> str | None:
    lower = name.lower()
    base = name[:-3] if lower.endswith(".gz") else name
    for suffix in FASTA_SUFFIXES:
        if base.lower().endswith(suffix):
            return base[: -len(suffix)]
    return None


def _genome_files(root: Path) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for entry in sorted(root.iterdir()):
        if not entry.is_file() or entry.name.startswith("."):
            continue
        gid = _genome_id(entry.name)
        if gid is None:
            continue
        if gid in files:
            raise InputFormatError(
                f"{root}: two FASTA files for genome {gid!r} ({files[gid].name} and {entry.name}); keep one"
            )
        files[gid] = entry
    return files


def load_genome_set(
    directory: str | os.PathLike[str],
    taxonomy: str | os.PathLike[str] | None = None,
    *,
    ranks: Sequence[str] | None = None,
) -> GenomeSet:
    """Load a labelled genome set: a directory of FASTA files plus ``taxonomy.tsv``.

    Parameters
    ----------
    directory : str or os.PathLike
        Directory with one FASTA file per genome (``.fa``, ``.fna``,
        ``.fasta``, each optionally ``.gz``).  The genome id is the file name
        without these extensions.
    taxonomy : str or os.PathLike, optional
        Label table; defaults to ``taxonomy.tsv`` inside *directory*.  It needs
        an ``id`` column and a ``species`` column; its other columns are ranks.
    ranks : sequence of str, optional
        Keep only these columns of the table, in this order, as the ranks
        (a table that also holds e.g. ``organism`` or ``gc`` columns); default:
        every column.

    Returns
    -------
    GenomeSet
        All genomes loaded eagerly (the 15-genome kmcp15 set, 54 Mbp, loads in
        well under two seconds), ordered as the rows of the label table.

    Raises
    ------
    ~dnalib.errors.DataNotFoundError
        If the directory or the label table does not exist.
    ~dnalib.errors.InputFormatError
        If there are no FASTA files, a file is invalid, or the labels and the
        files do not match (the message names the ids on both sides).
    """
    root = Path(directory)
    if not root.exists():
        raise DataNotFoundError(
            f"{root}: no such directory; a genome set is a directory of FASTA files plus {_TAXONOMY_FILE}"
        )
    if not root.is_dir():
        raise InputFormatError(
            f"{root}: is a file, not a directory; a genome set is a directory of FASTA files plus {_TAXONOMY_FILE} "
            "(use read_fasta() for a single file)"
        )
    files = _genome_files(root)
    if not files:
        raise InputFormatError(
            f"{root}: no FASTA files found (expected names ending in "
            f"{', '.join(FASTA_SUFFIXES)}, optionally followed by .gz)"
        )
    if taxonomy is None:
        tax_path = root / _TAXONOMY_FILE
        if not tax_path.exists():
            tsvs = sorted(p.name for p in root.glob("*.tsv"))
            found = f" (TSV files present: {', '.join(tsvs)})" if tsvs else ""
            raise DataNotFoundError(
                f"{root}: no {_TAXONOMY_FILE} label table{found}; add one with columns "
                "'id<TAB>...<TAB>species' or pass taxonomy=PATH"
            )
    else:
        tax_path = Path(taxonomy)
    table = read_taxonomy(tax_path, require=("species",) if ranks is None else tuple(ranks))
    if ranks is not None:
        table = table[list(ranks)]
    label_ids = [str(i) for i in table.index]
    lacking = [g for g in files if g not in table.index]
    unused = [g for g in label_ids if g not in files]
    if lacking or unused:
        raise _mismatch_error(
            str(tax_path), f"the FASTA files in {root}", lacking, unused, "genome"
        )
    genomes = {gid: [r.sequence for r in read_fasta(files[gid])] for gid in label_ids}
    return GenomeSet(
        root=root, taxonomy=table, genomes=genomes, files={g: files[g] for g in label_ids}
    )


_SAFE_ID = re.compile(r"^[A-Za-z0-9._+-]+$")


def write_genome_set(
    genomes: Mapping[str, Sequence[str] | str],
    taxonomy: pd.DataFrame,
    directory: str | os.PathLike[str],
    gzip: bool = False,
    *,
    line_width: int = 80,
) -> Path:
    """Write genomes and their labels in the labelled-genome-set layout.

    Parameters
    ----------
    genomes : Mapping[str, str | Sequence[str]]
        Genome id to one sequence or a list of contig sequences.  Contigs are
        named ``<id>_<k>`` (k from 1); a single sequence is named ``<id>``.
    taxonomy : pandas.DataFrame
        Labels, either indexed by genome id or with an ``id`` column; must
        have a ``species`` column and exactly the ids of *genomes*.
    directory : str or os.PathLike
        Output directory (created if needed).
    gzip : bool, optional
        Write ``<id>.fa.gz`` (deterministic bytes) instead of ``<id>.fa``. Default: ``False``.
    line_width : int, optional
        FASTA line width. Default: ``80``.

    Returns
    -------
    Path
        The directory, loadable with :func:`load_genome_set`.

    Raises
    ------
    ~dnalib.errors.InputFormatError
        If ids are not usable as file names, sequences contain non-IUPAC
        characters, or labels and genomes do not match.
    """
    out = Path(directory)
    table = taxonomy.copy()
    if "id" in table.columns:
        table = table.set_index("id")
    table.index = table.index.map(str)
    table.index.name = "id"
    if "species" not in table.columns:
        raise InputFormatError("write_genome_set: the taxonomy table has no 'species' column")
    bad_ids = [g for g in genomes if not _SAFE_ID.match(str(g))]
    if bad_ids:
        raise InputFormatError(
            f"write_genome_set: genome ids must be usable as file names (letters, digits, '._+-'): {_name_list(bad_ids)}"
        )
    lacking = [g for g in genomes if g not in table.index]
    unused = [g for g in table.index if g not in genomes]
    if lacking or unused:
        raise _mismatch_error(
            "write_genome_set taxonomy", "the genomes given", lacking, unused, "genome"
        )
    out.mkdir(parents=True, exist_ok=True)
    suffix = ".fa.gz" if gzip else ".fa"
    for gid, seqs in genomes.items():
        contigs = [seqs] if isinstance(seqs, str) else list(seqs)
        named: dict[str, str] = {}
        for k, seq in enumerate(contigs, start=1):
            name = gid if isinstance(seqs, str) else f"{gid}_{k}"
            upper = seq.upper()
            if not upper or upper.encode("ascii", "replace").translate(None, _IUPAC_BYTES):
                raise InputFormatError(
                    f"write_genome_set: contig {name!r} is empty or has characters that are not IUPAC nucleotide codes"
                )
            named[name] = upper
        write_fasta(named, out / f"{gid}{suffix}", line_width=line_width, compress=gzip)
    ordered = table.loc[list(genomes)]
    ordered.to_csv(out / _TAXONOMY_FILE, sep="\t", index=True, lineterminator="\n")
    return out


# --------------------------------------------------------------------------- 16S references


def _read_mothur_taxonomy(
    opener: Opener, source: str, ranks: Sequence[str]
) -> dict[str, list[str]]:
    try:
        with opener() as fh:
            data = fh.read()
    except (EOFError, OSError, zlib.error, tarfile.TarError) as exc:
        raise _decode_error(source, exc) from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputFormatError(
            f"{source} (line {line}): not UTF-8 text; save the taxonomy file as UTF-8"
        ) from exc
    out: dict[str, list[str]] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t", 1)
        if len(fields) != 2:
            raise InputFormatError(
                f"{source} (line {lineno}): expected 'ID<TAB>Kingdom;Phylum;...;Species;' but found no tab "
                f"in {_shorten(line)!r}"
            )
        rid, lineage = fields[0].strip(), fields[1].strip()
        levels = [x.strip() for x in lineage.removesuffix(";").split(";")]
        if len(levels) != len(ranks):
            raise InputFormatError(
                f"{source} (line {lineno}): id {rid!r} has {len(levels)} taxonomy levels, expected "
                f"{len(ranks)} ({';'.join(ranks)}); fix the lineage or pass matching ranks="
            )
        if rid in out:
            raise InputFormatError(
                f"{source} (line {lineno}): duplicate id {rid!r}; keep one line per id"
            )
        out[rid] = levels
    if not out:
        raise InputFormatError(
            f"{source}: the taxonomy file is empty; expected lines 'ID<TAB>Kingdom;...;Species;'"
        )
    return out


def _load_16s(
    fasta_opener: Opener,
    fasta_source: str,
    tax_opener: Opener,
    tax_source: str,
    ranks: Sequence[str],
) -> pd.DataFrame:
    lineages = _read_mothur_taxonomy(tax_opener, tax_source, ranks)
    ids: list[str] = []
    seqs: list[str] = []
    for rec in _iter_records(fasta_opener, fasta_source, "fasta", mothur=True):
        ids.append(rec.id)
        seqs.append(rec.sequence)
    lacking = [i for i in ids if i not in lineages]
    if lacking or len(lineages) != len(ids):
        present = set(ids)
        unused = [i for i in lineages if i not in present]
        raise _mismatch_error(tax_source, fasta_source, lacking, unused, "sequence")
    frame = pd.DataFrame({"id": ids, "sequence": seqs})
    levels = np.array([lineages[i] for i in ids], dtype=object).reshape(len(ids), len(ranks))
    for k, rank in enumerate(ranks):
        frame[rank] = levels[:, k].astype(str)
    return frame


def load_16s_reference(
    fasta: str | os.PathLike[str],
    taxonomy: str | os.PathLike[str],
    *,
    ranks: Sequence[str] = DAIRYDB_RANKS,
) -> pd.DataFrame:
    """Load a 16S reference in the mothur layout (FASTA + ``ID<TAB>K;P;C;O;F;G;S;``).

    The stray ``;`` at the end of each sequence line (a DAIRYdb quirk) is
    removed; IUPAC ambiguity codes are kept.

    Parameters
    ----------
    fasta : str or os.PathLike
        The sequences (plain or compressed FASTA).
    taxonomy : str or os.PathLike
        The taxonomy text file, one ``ID<TAB>lineage`` line per sequence.
    ranks : Sequence[str], optional
        Names of the lineage levels; each lineage must have this many. Default: ``DAIRYDB_RANKS``.

    Returns
    -------
    pandas.DataFrame
        Columns ``id``, ``sequence`` and one column per rank, in FASTA order.

    Raises
    ------
    ~dnalib.errors.DataNotFoundError
        If a file does not exist.
    ~dnalib.errors.InputFormatError
        If a file is malformed, or sequences and taxonomy ids do not match.
    """
    fa = _existing_file(fasta)
    tx = _existing_file(taxonomy)
    return _load_16s(_file_opener(fa), str(fa), _file_opener(tx), str(tx), ranks)


def _member_opener(archive: Path, member: str) -> Opener:
    def open_() -> IO[bytes]:
        tar = tarfile.open(archive, "r:*")
        fh = tar.extractfile(member)
        if fh is None:  # pragma: no cover - members are checked to be files
            raise InputFormatError(f"{archive}: member {member!r} is not a file")
        return _TarMember(tar, fh)

    return open_


class _TarMember(io.RawIOBase):
    """A tar member that closes its archive when closed (so openers stay leak-free)."""

    def __init__(self, tar: tarfile.TarFile, fh: IO[bytes]) -> None:
        self._tar = tar
        self._fh = fh

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self._fh.read(len(b))
        b[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._fh.close()
            self._tar.close()
        super().close()


def load_16s_archive(
    archive: str | os.PathLike[str],
    *,
    ranks: Sequence[str] = DAIRYDB_RANKS,
) -> pd.DataFrame:
    """Load a 16S reference straight from a mothur ``.tgz`` archive (e.g. DAIRYdb).

    The archive must hold exactly one FASTA member (``.fasta``, ``.fa``,
    ``.fna``) and one taxonomy member (``taxonomy.txt``, ``.tax`` or
    ``.taxonomy``).  Members are read in place; nothing is extracted to disk.

    Parameters
    ----------
    archive : str or os.PathLike
        The ``.tgz`` / ``.tar.gz`` / ``.tar`` file.
    ranks : Sequence[str], optional
        Names of the lineage levels. Default: ``DAIRYDB_RANKS``.

    Returns
    -------
    pandas.DataFrame
        Columns ``id``, ``sequence`` and one column per rank (see
        :func:`load_16s_reference`).

    Raises
    ------
    ~dnalib.errors.DataNotFoundError
        If the archive does not exist.
    ~dnalib.errors.InputFormatError
        If it is not a readable tar archive, lacks a member, or a member is malformed.
    """
    path = _existing_file(archive)
    try:
        with tarfile.open(path, "r:*") as tar:
            members = [m for m in tar.getmembers() if m.isfile()]
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise InputFormatError(
            f"{path}: not a readable tar archive ({_shorten(str(exc), 80)}); download or copy it again"
        ) from exc
    names = [m.name for m in members]
    fastas = [n for n in names if n.lower().endswith((".fasta", ".fa", ".fna"))]
    taxa = [n for n in names if n.lower().endswith(("taxonomy.txt", ".tax", ".taxonomy"))]
    if len(fastas) != 1 or len(taxa) != 1:
        raise InputFormatError(
            f"{path}: expected one FASTA member and one taxonomy member, found "
            f"{len(fastas)} FASTA and {len(taxa)} taxonomy among {_name_list(names)}"
        )
    return _load_16s(
        _member_opener(path, fastas[0]),
        f"{path}:{fastas[0]}",
        _member_opener(path, taxa[0]),
        f"{path}:{taxa[0]}",
        ranks,
    )


# --------------------------------------------------------------------------- statistics / inspect


class _Stats:
    """Accumulates length and base-composition statistics without per-base Python loops."""

    def __init__(self) -> None:
        self.lengths: list[int] = []
        self.acgt = np.zeros(4, dtype=np.int64)

    def add(self, seq: str) -> None:
        self.lengths.append(len(seq))
        self.acgt += (seq.count("A"), seq.count("C"), seq.count("G"), seq.count("T"))

    def summary(self) -> dict[str, Any]:
        total = int(sum(self.lengths))
        acgt = int(self.acgt.sum())
        return {
            "records": len(self.lengths),
            "total_length": total,
            "min_length": min(self.lengths) if self.lengths else 0,
            "max_length": max(self.lengths) if self.lengths else 0,
            "n50": n50(self.lengths),
            "gc_fraction": float(self.acgt[1] + self.acgt[2]) / acgt if acgt else float("nan"),
            "non_acgt": total - acgt,
        }


def sequence_stats(sequences: Iterable[str]) -> dict[str, Any]:
    """Length and composition statistics of upper-case sequences.

    Parameters
    ----------
    sequences : Iterable[str]
        Upper-case sequences.

    Returns
    -------
    dict
        ``records``, ``total_length``, ``min_length``, ``max_length``, ``n50``,
        ``gc_fraction`` (G+C over A+C+G+T only) and ``non_acgt`` (count of
        other characters such as N or ambiguity codes).
    """
    stats = _Stats()
    for seq in sequences:
        stats.add(seq)
    return stats.summary()


def inspect_path(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Validate a sequence file, 16S archive or genome-set directory and summarise it.

    Parameters
    ----------
    path : str or os.PathLike
        A FASTA/FASTQ file (plain or compressed), a mothur 16S ``.tgz``
        archive, or a labelled genome-set directory.

    Returns
    -------
    dict
        ``path``, ``kind`` (``"fasta"``, ``"fastq"``, ``"16s_archive"`` or
        ``"genome_set"``) and the statistics of :func:`sequence_stats`.  Genome
        sets add ``genomes``, ``labelled_genomes`` (genomes whose species label
        is not missing: :func:`dnalib.labels.missing_labels`), ``species``,
        ``genera`` (distinct labels that are not missing) and
        ``ranks``; 16S archives add ``species``, ``genera`` and ``ranks``.

    Raises
    ------
    ~dnalib.errors.DnalibError
        If the path does not exist or the input is invalid (the whole input
        is read and validated).
    """
    p = Path(path)
    if str(path) == "-" or (p.exists() and not p.is_dir() and not p.is_file()):
        _existing_file(path)  # a pipe or device: refused with its own message
    if not p.exists():
        raise DataNotFoundError(f"{p}: no such file or directory; check the path")
    summary: dict[str, Any] = {"path": str(p)}
    if p.is_dir():
        gs = load_genome_set(p)
        stats = _Stats()
        for contigs in gs.genomes.values():
            for contig in contigs:
                stats.add(contig)
        from dnalib.labels import missing_labels

        labels = gs.labels("species")
        species = [s for s, gone in zip(labels, missing_labels(labels), strict=True) if not gone]
        summary["kind"] = "genome_set"
        summary["genomes"] = len(gs)
        summary.update(stats.summary())
        summary["labelled_genomes"] = len(species)
        summary["species"] = len(set(species))
        if "genus" in gs.ranks:
            genera = gs.labels("genus")
            summary["genera"] = len({g for g, gone in zip(genera, missing_labels(genera), strict=True)
                                     if not gone})
        summary["ranks"] = gs.ranks
        if (p / "split.tsv").is_file():
            splits = read_split_table(p / "split.tsv")
            summary["splits"] = {str(k): int(v) for k, v in
                                 splits[splits.index.isin(gs.ids)].value_counts().sort_index().items()}
        return summary
    if p.name.lower().endswith((".tgz", ".tar.gz", ".tar")):
        frame = load_16s_archive(p)
        summary["kind"] = "16s_archive"
        summary.update(sequence_stats(frame["sequence"]))
        summary["species"] = int(frame["species"].nunique())
        summary["genera"] = int(frame["genus"].nunique())
        summary["ranks"] = list(DAIRYDB_RANKS)
        return summary
    fp = _existing_file(p)
    opener = _file_opener(fp)
    fmt = _detect(opener, str(fp))
    stats = _Stats()
    for rec in _iter_records(opener, str(fp), fmt):
        stats.add(rec.sequence)
    summary["kind"] = fmt
    summary.update(stats.summary())
    return summary


def format_summary(summary: Mapping[str, Any]) -> str:
    """Render an :func:`inspect_path` summary as aligned ``key: value`` lines.

    Parameters
    ----------
    summary : Mapping
        The dictionary returned by :func:`inspect_path`.

    Returns
    -------
    str
        Human-readable text (no trailing newline).
    """
    labels = {
        "path": "path",
        "kind": "kind",
        "genomes": "genomes",
        "records": "records",
        "total_length": "total length (bp)",
        "min_length": "shortest (bp)",
        "max_length": "longest (bp)",
        "n50": "N50 (bp)",
        "gc_fraction": "GC fraction (ACGT only)",
        "non_acgt": "non-ACGT characters",
        "labelled_genomes": "labelled genomes",
        "species": "distinct species",
        "genera": "distinct genera",
        "ranks": "ranks",
        "splits": "splits (split.tsv)",
    }
    rows: list[tuple[str, str]] = []
    for key, value in summary.items():
        label = labels.get(key, key.replace("_", " "))
        if key == "labelled_genomes" and "genomes" in summary:
            text = f"{value} / {summary['genomes']}"
        elif isinstance(value, float):
            text = f"{value:.4f}"
        elif isinstance(value, bool):
            text = str(value)
        elif isinstance(value, int):
            text = f"{value:,}"
        elif isinstance(value, Mapping):
            text = ", ".join(f"{k} {v}" for k, v in value.items())
        elif isinstance(value, list | tuple):
            text = " ".join(str(v) for v in value)
        else:
            text = str(value)
        rows.append((label, text))
    width = max(len(k) for k, _ in rows) if rows else 0
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)
