"""Mutated FASTA/FASTQ bytes never give a traceback or a partial output (property-based).

Hypothesis starts from tiny valid files, inserts, deletes and replaces bytes
(header markers, line ends, lower case, ambiguity codes, illegal characters,
non-ASCII), optionally gzips and truncates the result, and feeds it to the
reader API (:func:`dnalib.io.read_sequences`), ``dnalib inspect`` and
``dnalib embed --model kmer6``. Each must either fail cleanly (a
:class:`~dnalib.errors.DnalibError`; one ``dnalib: error:`` line and no output
files) or give exactly what a simple reference parser reads from the
repaired input (leading white space dropped, CRLF made LF, blank lines
dropped, white space around FASTA sequence lines dropped, upper case).
"""

from __future__ import annotations

import gzip
import tempfile
from pathlib import Path

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is in the dev extras")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from dnalib.cli import main  # noqa: E402
from dnalib.errors import DnalibError  # noqa: E402
from dnalib.io import IUPAC_NUCLEOTIDES, read_sequences  # noqa: E402
from dnalib.kmers import kmer_spectrum  # noqa: E402

SEEDS = [
    b">r1 first\nACGTACGTAC\nGGTTAA\n>r2\nacgtnnACGT\n",
    b">a\nACGTRYACGT\n\n>b desc\nTTTTGGGGCCCCAAAA\n",
    b"@q1\nACGTACGT\n+\nIIIIIIII\n@q2\nGGCCAATT\n+q2\n!!!!####\n",
]
NOISE = list(b">@+\n\r \tACGTNacgtnX-.;U\x00\xff") + [0xC3]


def reference_parse(data: bytes) -> list[tuple[str, str]] | None:
    """(id, sequence) of a repaired FASTA/FASTQ text, or None where it is not valid."""
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return None
    text = text.lstrip().replace("\r\n", "\n")  # leading white space and CRLF are repaired
    lines = [line for line in text.split("\n") if line.strip() != ""]
    if not lines:
        return None
    records: list[tuple[str, str]] = []
    if lines[0].startswith(">"):
        for line in lines:
            if line.startswith(">"):
                records.append((line[1:], ""))
            elif not records:
                return None
            else:
                records[-1] = (records[-1][0], records[-1][1] + line.strip())  # dnaio strips
    elif lines[0].startswith("@"):
        if len(lines) % 4:
            return None
        for i in range(0, len(lines), 4):
            head, seq, plus, qual = lines[i:i + 4]
            if not head.startswith("@") or not plus.startswith("+") or len(seq) != len(qual):
                return None
            records.append((head[1:], seq))
    else:
        return None
    out, seen = [], set()
    for header, seq in records:
        parts = header.split(maxsplit=1)
        seq = seq.upper()
        if not parts or parts[0] in seen or not seq or set(seq) - set(IUPAC_NUCLEOTIDES):
            return None
        seen.add(parts[0])
        out.append((parts[0], seq))
    return out


@st.composite
def mutated_files(draw) -> tuple[bytes, bool]:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 3))):
        pos = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["insert", "delete", "replace"]))
        byte = draw(st.sampled_from(NOISE))
        if kind == "insert":
            data.insert(pos, byte)
        elif data and pos < len(data):
            if kind == "delete":
                del data[pos]
            else:
                data[pos] = byte
    compressed = draw(st.booleans())
    if compressed:
        blob = gzip.compress(bytes(data), mtime=0)
        cut = draw(st.sampled_from([len(blob), len(blob), len(blob) - 4, len(blob) // 2]))
        return blob[:cut], True
    return bytes(data), False


def _one_error_line(err: str) -> bool:
    lines = err.strip().splitlines()
    return len(lines) == 1 and lines[0].startswith("dnalib: error: ") and "Traceback" not in err


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_files())
def test_mutated_input_fails_cleanly_or_parses_like_the_repaired_file(case):
    data, compressed = case
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        path = work / ("in.fa.gz" if compressed else "in.fa")
        path.write_bytes(data)
        plain = gzip.decompress(data) if compressed and _complete_gzip(data) else data
        expected = reference_parse(plain) if not compressed or _complete_gzip(data) else None

        # the reader API
        try:
            got = [(r.id, r.sequence) for r in read_sequences(path)]
        except DnalibError:
            got = None
        if got is not None:
            assert got == expected, (data, got, expected)

        # dnalib inspect
        import contextlib
        import io

        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            status = main(["inspect", str(path)])
        assert status == (0 if got is not None else 1), err.getvalue()
        if status:
            assert _one_error_line(err.getvalue()), err.getvalue()

        # dnalib embed --model kmer6
        out = work / "out" / "emb"
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            status = main(["embed", "--model", "kmer6", "--input", str(path), "--out", str(out),
                           "--block-size", "1", "--no-progress"])
        left = sorted(p.name for p in (work / "out").glob("*")) if (work / "out").exists() else []
        if got is None:
            assert status == 1 and _one_error_line(err.getvalue()), err.getvalue()
            assert left == [], left  # nothing that looks resumable or complete
        else:
            assert status == 0, err.getvalue()
            assert left == ["emb.ids.txt", "emb.npy"], left
            assert (work / "out" / "emb.ids.txt").read_text().split() == [i for i, _ in got]
            emb = np.load(work / "out" / "emb.npy")
            want = kmer_spectrum([s for _, s in got], 6, canonical=True, normalize="l2")
            np.testing.assert_allclose(emb, want, rtol=1e-6)


def _complete_gzip(blob: bytes) -> bool:
    try:
        gzip.decompress(blob)
    except (EOFError, OSError):
        return False
    return True
