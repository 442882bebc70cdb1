"""Embedding sequences with any model: in memory, or streamed from a file to disk.

The model is a name :func:`dnalib.embedders.from_name` knows: a k-mer baseline
(``"tnf"``, ``"kmer6"``), a spectrum-map directory, a model directory (dnalib's
or any that ``AutoModel`` loads, whatever its tokenizer) or a Hugging Face
model id (:mod:`dnalib.hub` lists published ones); a model that ships its own
code loads only with ``trust_remote_code=True`` (``--trust-remote-code``).
:func:`embed_with` embeds a list of sequences; :func:`embed_file` streams a
FASTA/FASTQ file to ``PREFIX.npy`` + ``PREFIX.ids.txt`` and resumes an
interrupted run; :func:`load_embeddings` reads them back. How a transformer
embeds (chunks, batches, pooling, bf16) is :mod:`dnalib.inference`.

``precision`` (``--precision``) is ``"auto"`` (bf16 on a CPU with bf16 matrix
units and on recent GPUs, else fp32: :func:`dnalib.inference.choose_inference_precision`),
``"fp32"`` or ``"bf16"``; it is part of the embedder's identity, so a run
started in one precision is not resumed in another.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dnalib.embedders import describe_identity, from_name
from dnalib.errors import DnalibError, InputFormatError


def describe_embedder(model: str, *, device: str | None = None, pooling: str | None = None,
                      revision: str | None = None, trust_remote_code: bool = False,
                      precision: str | None = None) -> dict[str, Any]:
    """What decides the rows :func:`load_embedder` computes: the model's identity and settings.

    Parameters
    ----------
    model : str
        A name :func:`dnalib.embedders.from_name` takes.
    device : str, optional
        Where a model runs.
    pooling, revision, trust_remote_code, precision
        As in :func:`load_embedder`.

    Returns
    -------
    dict
        ``Embedder.identity`` (:mod:`dnalib.embedders`): for a baseline
        ``{"baseline": name, "settings": ...}``; for a spectrum map its
        directory, sha256, precision and ``min_bases``; for a directory with a
        dnalib k-mer or character tokenizer and mean pooling ``{"model_dir":
        path, "sha256": fingerprint, "precision": ..., "min_bases": ...}``; for
        any other directory the same plus ``pooling``, ``revision`` (None) and
        ``trust_remote_code``; for a hub id ``{"model": id, "revision": asked,
        "commit": resolved, "pooling": ..., "trust_remote_code": ...,
        "precision": ..., "min_bases": 1}``. ``precision`` is ``"float32"``,
        ``"bf16"`` or ``"fp16"``.
    """
    return from_name(model, device=device, pooling=pooling, revision=revision,
                     trust_remote_code=trust_remote_code, precision=precision).identity


def min_bases(identity: dict[str, Any]) -> int:
    """Unambiguous bases in a row that a record needs to be embedded (from :func:`describe_embedder`)."""
    return int(identity.get("min_bases") or identity.get("settings", {}).get("k") or 1)


def unembeddable(seqs: Sequence[str], k: int) -> list[int]:
    """Indices of sequences with no run of *k* unambiguous bases (A, C, G, T).

    Such a record is shorter than *k* or mostly ambiguous (``N``): a k-mer
    spectrum of it is all zero and a k-mer model sees only unknown tokens.

    Parameters
    ----------
    seqs : sequence of str
        Upper-case DNA sequences.
    k : int
        The k-mer length (1 for a character model).

    Returns
    -------
    list of int
    """
    run = re.compile(f"[ACGT]{{{max(int(k), 1)}}}")
    return [i for i, s in enumerate(seqs) if not run.search(s)]


def unembeddable_warning(n_bad: int, n_total: int, examples: Sequence[str], k: int,
                         source: str = "the input") -> str:
    """One-line warning for records too short or too ambiguous to embed.

    Parameters
    ----------
    n_bad, n_total : int
        How many records cannot be embedded, out of how many.
    examples : sequence of str
        Labels of the first few (e.g. quoted record ids).
    k : int
        The unambiguous bases in a row a record needs (:func:`min_bases`).
    source : str
        Where the records come from, for the message.

    Returns
    -------
    str
    """
    shown = ", ".join(examples[:3]) + (", ..." if n_bad > 3 else "")
    return (f"{n_bad} of {n_total} records in {source} ({shown}) have no {k} unambiguous bases in a "
            f"row (shorter than {k} bp or mostly N): their embeddings carry no sequence information "
            f"(k-mer baselines give all-zero rows); drop those records (e.g. `seqkit seq -m {k}`) "
            "or ignore their rows")


def load_embedder(
    model: str,
    *,
    batch_size: int = 64,
    device: str | None = None,
    progress: bool = False,
    pooling: str | None = None,
    revision: str | None = None,
    trust_remote_code: bool = False,
    precision: str | None = None,
) -> Callable[[Sequence[str]], np.ndarray]:
    """Load a baseline or a model once; return a function that embeds sequences.

    Parameters
    ----------
    model : str
        ``"tnf"`` (256 tetranucleotide frequencies, L2-normalised, the
        DNABERT-S baseline), ``"kmer6"`` (canonical 6-mer spectrum,
        L2-normalised), a spectrum-map directory, a model directory
        (``dnalib pretrain`` / ``dnalib finetune`` output, or any directory that
        ``AutoModel`` and ``AutoTokenizer`` load, whatever its tokenizer:
        character, k-mer, BPE) or a Hugging Face model id such as
        ``zhihan1996/DNABERT-S`` (see :mod:`dnalib.hub`; downloaded once into
        the Hugging Face cache). :func:`dnalib.embedders.from_name` picks the kind.
    batch_size, device, progress
        As in :func:`dnalib.inference.embed_sequences` (ignored for spectra).
    pooling : str, optional
        ``"mean"`` or ``"cls"``; default: the catalogue's pooling for a
        catalogued model (:func:`dnalib.hub.lookup`), else ``"mean"``.
    revision : str, optional
        Hub revision; a commit hash pins the download (hub ids only).
    trust_remote_code : bool
        Allow a model's own Python code to run (DNABERT-2/-S, Nucleotide
        Transformer v2, HyenaDNA, Caduceus need it); without it such a model
        is refused with a one-line error.
    precision : str, optional
        ``"auto"``, ``"fp32"`` or ``"bf16"`` (transformers;
        :func:`dnalib.inference.choose_inference_precision`); None:
        :data:`dnalib.inference.DEFAULT_PRECISION`.

    Returns
    -------
    callable
        ``f(seqs) -> (len(seqs), dim)`` float32 array; the model stays loaded
        between calls (what :func:`embed_file` uses block after block).

    Raises
    ------
    ~dnalib.errors.DnalibError
        An unknown name, a model that cannot be loaded (see
        :func:`dnalib.models.check_model_dir`, :func:`dnalib.models.resolve_model`), custom
        code without *trust_remote_code*, an unusable device or precision, or a batch size
        below 1.
    """
    embedder = from_name(model, batch_size=batch_size, device=device, progress=progress,
                         pooling=pooling, revision=revision, trust_remote_code=trust_remote_code,
                         precision=precision)
    embedder.load()
    return embedder.embed


def embed_with(
    model: str,
    seqs: Sequence[str],
    *,
    batch_size: int = 64,
    device: str | None = None,
    progress: bool = False,
    pooling: str | None = None,
    revision: str | None = None,
    trust_remote_code: bool = False,
    precision: str | None = None,
) -> np.ndarray:
    """Embed sequences with a baseline, a spectrum map or a transformer (any name :func:`load_embedder` takes).

    Records with no *k* unambiguous bases in a row (see :func:`unembeddable`)
    are embedded anyway, with one ``UserWarning`` saying how many there are.

    Parameters
    ----------
    model : str
        ``"tnf"``, ``"kmer6"``, a spectrum-map or model directory or a Hugging
        Face model id (see :func:`load_embedder`).
    seqs : sequence of str
        DNA sequences.
    batch_size, device, progress
        As in :func:`dnalib.inference.embed_sequences` (ignored for spectra).
    pooling, revision, trust_remote_code, precision
        As in :func:`load_embedder`.

    Returns
    -------
    numpy.ndarray
        ``(len(seqs), dim)`` float32 embeddings.
    """
    seqs = list(seqs)
    if not seqs:
        raise DnalibError("no sequences to embed")
    embedder = from_name(model, batch_size=batch_size, device=device, progress=progress,
                         pooling=pooling, revision=revision, trust_remote_code=trust_remote_code,
                         precision=precision)
    k = embedder.min_bases
    bad = unembeddable(seqs, k)
    if bad:
        warnings.warn(unembeddable_warning(len(bad), len(seqs), [f"sequence {i}" for i in bad], k),
                      UserWarning, stacklevel=2)
    return embedder.embed(seqs)


def _output_paths(out: str | os.PathLike[str]) -> tuple[Path, Path]:
    """``(PREFIX.npy, PREFIX.ids.txt)`` for an output prefix (a trailing ``.npy`` is dropped)."""
    out = Path(out)
    if out.suffix == ".npy":
        out = out.with_suffix("")
    if out.is_dir():
        raise DnalibError(f"{out} is a directory: give an output prefix such as {out / 'embeddings'}")
    return out.with_name(out.name + ".npy"), out.with_name(out.name + ".ids.txt")


def _resume_state(raw: Path, ids_part: Path) -> tuple[list[str], int]:
    """Ids and row count already written by an interrupted run, trimmed to what both files hold."""
    ids = ids_part.read_text().split("\n") if ids_part.exists() else []
    complete = ids[:-1]  # the text after the last newline was not finished
    return complete, raw.stat().st_size if raw.exists() else 0


#: Version of the record :func:`embed_file` keeps next to its ``.part`` files.
RUN_RECORD_FORMAT = 1


def file_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 of a file's bytes (read in 1 MiB pieces).

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    str
        The hex digest.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def resume_mismatch(before: dict[str, Any], now: dict[str, Any]) -> str | None:
    """What differs between the run record of an interrupted embed run and the run asked for now.

    Parameters
    ----------
    before, now : dict
        Run records (``format``, ``embedder`` from :func:`describe_embedder`,
        ``input`` with the input file's ``path``, ``bytes`` and ``sha256``).

    Returns
    -------
    str or None
        A phrase naming the first difference, or None when they match.
    """
    if before.get("format") != now["format"]:
        return f"it was written in run-record format {before.get('format')!r}, not {now['format']}"
    old, new = before.get("embedder") or {}, now["embedder"]
    if old != new:
        if old.get("precision") and old.get("sha256") == new.get("sha256") \
                and old.get("precision") != new.get("precision"):
            return (f"it was embedded in {old['precision']}, this run would use {new['precision']} "
                    "(pass the --device and --precision of the interrupted run)")
        return f"it was written by {describe_identity(old)}, not {describe_identity(new)}"
    old_in, new_in = before.get("input") or {}, now["input"]
    if (old_in.get("sha256"), old_in.get("bytes")) != (new_in["sha256"], new_in["bytes"]):
        same_path = old_in.get("path") == new_in["path"]
        return (f"it was written for input {old_in.get('path')} ({old_in.get('bytes')} bytes, sha256 "
                f"{str(old_in.get('sha256'))[:12]}) and "
                + ("that file has changed since" if same_path else f"--input {new_in['path']} differs")
                + f" ({new_in['bytes']} bytes, sha256 {new_in['sha256'][:12]})")
    return None


def _discard(*paths: Path) -> None:
    for p in paths:
        p.unlink(missing_ok=True)


def embed_file(
    model: str,
    path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    block_size: int = 2048,
    batch_size: int = 64,
    device: str | None = None,
    resume: bool = False,
    progress: bool = True,
    pooling: str | None = None,
    revision: str | None = None,
    trust_remote_code: bool = False,
    precision: str | None = None,
) -> dict[str, Any]:
    """Stream a FASTA/FASTQ file through a model and write the embeddings with their ids.

    Records are read and embedded *block_size* at a time, and each block's
    rows are appended to disk before the next block is read, so memory stays
    flat however large the file is. The result is ``PREFIX.npy`` (float32,
    ``(n, dim)``, row *i* = record *i* in file order; open it with
    ``numpy.load(..., mmap_mode="r")``) and ``PREFIX.ids.txt`` (record ids,
    one per line, same order). Both appear only when the whole file is done;
    until then the rows live in ``PREFIX.npy.part`` / ``PREFIX.ids.txt.part``
    and an interrupted run continues with ``resume=True`` (``--resume``)
    without embedding anything twice. Embeddings do not depend on
    *block_size* or on whether the run was resumed.

    ``PREFIX.part.json`` records what produces the ``.part`` files: the
    model (the sha256 of its config, weights and tokenizer, and the precision;
    for a hub model its id, revision and resolved commit; the pooling when it
    is not dnalib's default) or the baseline and its settings, and the input
    file (path, size, sha256).
    A resumed run must match it, so rows of two models or two inputs never
    end up in one matrix. A run stopped by bad input removes its ``.part``
    files: nothing is left that a later run would continue.

    Records with no *k* unambiguous bases in a row (shorter than *k* or
    mostly ``N``, see :func:`unembeddable`) are embedded anyway and counted in
    one ``UserWarning`` at the end.

    Parameters
    ----------
    model : str
        ``"tnf"``, ``"kmer6"``, a model directory or a Hugging Face model id
        (see :func:`load_embedder`).
    path : str or path-like
        FASTA or FASTQ, plain or compressed.
    out : str or path-like
        Output prefix (``results/emb`` writes ``results/emb.npy`` and
        ``results/emb.ids.txt``).
    block_size : int
        Records held in memory at once.
    batch_size, device
        As in :func:`dnalib.inference.embed_sequences`.
    resume : bool
        Continue an interrupted run with the same *out*, model and input.
    progress : bool
        Show a progress bar (records).
    pooling, revision, trust_remote_code, precision
        As in :func:`load_embedder`.

    Returns
    -------
    dict
        ``embeddings`` and ``ids`` (the two paths), ``n``, ``dim``,
        ``resumed_from`` (records found done), ``unembeddable`` (how many
        records had too few unambiguous bases), ``seconds``.
    """
    import time

    from tqdm.auto import tqdm

    from dnalib import __version__
    from dnalib.io import read_sequences, write_text_atomically

    if block_size < 1:
        raise DnalibError(f"block_size must be positive; got {block_size}")
    npy, ids_path = _output_paths(out)
    raw = npy.with_name(npy.name + ".part")
    ids_part = ids_path.with_name(ids_path.name + ".part")
    record_path = npy.with_suffix(".part.json")
    from dnalib.rundir import refuse_alias

    for written in (npy, ids_path, raw, ids_part, record_path):
        refuse_alias(written, [path])
    records = read_sequences(path)  # a missing file fails here, before any model is loaded
    options = {"pooling": pooling, "revision": revision, "trust_remote_code": trust_remote_code,
               "precision": precision}
    identity = describe_embedder(model, device=device, **options)
    source = Path(path)
    run_record = {
        "format": RUN_RECORD_FORMAT,
        "embedder": identity,
        "input": {"path": str(source.resolve()), "bytes": source.stat().st_size,
                  "sha256": file_sha256(source)},
        "dnalib": __version__,
    }
    leftovers = [f.name for f in (raw, ids_part) if f.exists()]
    done_ids: list[str] = []
    done_bytes = 0
    if leftovers:
        if not resume:
            raise DnalibError(
                f"an interrupted run left {' / '.join(leftovers)} in {raw.parent}: continue it "
                "with resume=True (--resume), or delete those files to start again"
            )
        try:
            before = json.loads(record_path.read_text())
        except FileNotFoundError:
            before = None
        except (OSError, ValueError):
            before = {}
        why = ("nothing records which model and input wrote them (no readable "
               f"{record_path.name})" if not isinstance(before, dict) or not before
               else resume_mismatch(before, run_record))
        if why:
            raise DnalibError(
                f"cannot resume {raw.name}: {why}; resume with the same --model, --input and "
                f"--device, or delete {', '.join([*leftovers, record_path.name])} in {raw.parent} "
                "to start again"
            )
        done_ids, done_bytes = _resume_state(raw, ids_part)
    npy.parent.mkdir(parents=True, exist_ok=True)
    fresh = not leftovers
    if fresh:  # recorded before any row is written; also proves --out is writable
        write_text_atomically(record_path, json.dumps(run_record, indent=2) + "\n")
    try:
        embedder = load_embedder(model, batch_size=batch_size, device=device, **options)
    except BaseException:
        if fresh:
            _discard(record_path)
        raise
    k = min_bases(identity)
    dim: int | None = None
    if done_ids or done_bytes:
        # A block's rows are written before its ids: keep the records both files hold in full.
        dim = embedder(["ACGT" * 64]).shape[1]
        keep = min(done_bytes // (4 * dim), len(done_ids))
        if raw.exists():
            os.truncate(raw, keep * 4 * dim)
        done_ids = done_ids[:keep]
        ids_part.write_text("".join(i + "\n" for i in done_ids))
    t0 = time.perf_counter()
    n = 0
    bad_ids: list[str] = []
    n_bad = 0
    bar = tqdm(disable=not progress, desc="embed", unit="seq")
    try:
        with open(raw, "ab") as fraw, open(ids_part, "a") as fids:
            block_ids: list[str] = []
            block_seqs: list[str] = []

            def flush_block() -> None:
                nonlocal dim, n_bad
                emb = np.ascontiguousarray(embedder(block_seqs), dtype=np.float32)
                _refuse_non_finite(emb, block_ids, model)
                if dim is None:
                    dim = emb.shape[1]
                skipped = unembeddable(block_seqs, k)
                n_bad += len(skipped)
                bad_ids.extend(block_ids[i] for i in skipped[:3 - len(bad_ids)])
                try:
                    fraw.write(emb.tobytes())
                    fraw.flush()
                    fids.write("".join(i + "\n" for i in block_ids))
                    fids.flush()
                except OSError as exc:
                    raise DnalibError(
                        f"cannot write {raw} / {ids_part.name} ({exc.strerror or exc}): the rows "
                        "written before are kept; free some space (or fix the directory) and run "
                        "the same command with --resume") from None
                bar.update(len(block_ids))
                block_ids.clear()
                block_seqs.clear()

            for rec in records:
                if n < len(done_ids):
                    if rec.id != done_ids[n]:
                        raise DnalibError(
                            f"cannot resume: record {n + 1} of {path} is {rec.id!r} but the interrupted "
                            f"run wrote {done_ids[n]!r} there; the input changed, so delete {raw} and "
                            f"{ids_part} and start again"
                        )
                    n += 1
                    bar.update(1)
                    continue
                block_ids.append(rec.id)
                block_seqs.append(rec.sequence)
                n += 1
                if len(block_ids) == block_size:
                    flush_block()
            if block_ids:
                flush_block()
    except (InputFormatError, _NonFiniteRows):
        # Bad input: no later run can finish from these rows (a fixed input is a different file);
        # a model that gives NaN gives it again.
        _discard(raw, ids_part, record_path)
        raise
    finally:
        bar.close()
    if n == 0:
        _discard(raw, ids_part, record_path)
        raise DnalibError(f"{path} holds no sequences")
    assert dim is not None  # set by the resume probe or by the first block written
    if raw.stat().st_size != n * 4 * dim:
        raise DnalibError(
            f"{raw} holds {raw.stat().st_size} bytes, not {n} rows of {dim} float32: it was "
            "written by another model or run; delete it and start again"
        )
    # the earlier ids go first: a stop between the two renames leaves a .npy without ids, which
    # load_embeddings refuses, never new rows beside old ids
    ids_path.unlink(missing_ok=True)
    _write_npy(raw, npy, n, dim, ids_part, model)
    os.replace(ids_part, ids_path)
    _discard(raw, record_path)
    if n_bad:
        warnings.warn(unembeddable_warning(n_bad, n - len(done_ids), [repr(i) for i in bad_ids], k,
                                           str(path)), UserWarning, stacklevel=2)
    return {"embeddings": str(npy), "ids": str(ids_path), "n": n, "dim": int(dim),
            "resumed_from": len(done_ids), "unembeddable": n_bad,
            "seconds": time.perf_counter() - t0}


class _NonFiniteRows(DnalibError):
    """A model gave an embedding with NaN or infinite values (nothing is written)."""


def _refuse_non_finite(emb: np.ndarray, ids: Sequence[str], model: Any) -> None:
    finite = np.isfinite(emb).all(axis=1)
    if not finite.all():
        first = int(np.flatnonzero(~finite)[0])
        raise _NonFiniteRows(
            f"{int((~finite).sum())} embedding(s) are not finite (NaN or inf), the first of record "
            f"{ids[first]!r}: the model {model} is damaged or diverged in training; nothing was "
            "written; check it (or retrain it) and run again")


def _write_npy(raw: Path, npy: Path, n: int, dim: int, ids_part: Path, model: Any) -> None:
    """Copy the rows of *raw* into *npy* through a temporary file, checking each row is finite.

    Written with ordinary writes, never through a memory map: a full disk is
    an ``OSError`` here (one line naming the file), not a SIGBUS, and the
    temporary file is removed whatever goes wrong.
    """
    from dnalib.rundir import fault_point

    tmp = npy.with_name(npy.name + f".tmp-{os.getpid()}")
    chunk = max(1, (1 << 24) // (4 * dim))
    try:
        with open(raw, "rb") as src, open(tmp, "wb") as dest:
            np.lib.format.write_array_header_1_0(
                dest, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)),
                       "fortran_order": False, "shape": (n, dim)})
            ids: list[str] | None = None
            for start in range(0, n, chunk):
                block = np.frombuffer(src.read(min(chunk, n - start) * 4 * dim), dtype=np.float32)
                block = block.reshape(-1, dim)
                if not np.isfinite(block).all():
                    ids = ids if ids is not None else ids_part.read_text().splitlines()
                    _refuse_non_finite(block, ids[start:start + len(block)], model)
                dest.write(block.tobytes())
            dest.flush()
            os.fsync(dest.fileno())
        fault_point("embed-npy")
        os.replace(tmp, npy)
    except OSError as exc:
        why = exc.strerror or str(exc)
        raise DnalibError(f"cannot write {npy} ({why}): no partial file was left; free some space "
                          "(or fix the directory) and run the same command with --resume") from None
    finally:
        tmp.unlink(missing_ok=True)


def load_embeddings(out: str | os.PathLike[str], *, mmap: bool = True) -> tuple[list[str], np.ndarray]:
    """Read what :func:`embed_file` wrote: ``(ids, embeddings)``.

    Parameters
    ----------
    out : str or path-like
        The output prefix given to :func:`embed_file` (or its ``.npy`` path).
    mmap : bool
        Memory-map the array instead of reading it into memory.

    Returns
    -------
    tuple
        The ids (list of str) and the ``(n, dim)`` float32 array.
    """
    npy, ids_path = _output_paths(out)
    for f in (npy, ids_path):
        if not f.exists():
            raise DnalibError(f"{f} does not exist: run embed_file / `dnalib embed` with this prefix first")
    ids = ids_path.read_text().splitlines()
    emb = np.load(npy, mmap_mode="r" if mmap else None)
    if emb.ndim != 2 or emb.shape[0] != len(ids):
        raise DnalibError(f"{npy} has shape {emb.shape} but {ids_path} lists {len(ids)} ids: "
                          "the two files do not belong together")
    for start in range(0, len(ids), 65536):
        block = np.asarray(emb[start:start + 65536])
        if not np.isfinite(block).all():
            bad = start + int(np.flatnonzero(~np.isfinite(block).all(axis=1))[0])
            raise DnalibError(f"{npy} row {bad} ({ids[bad]!r}) is not finite (NaN or inf): the "
                              "embeddings are damaged; embed again with a working model")
    return ids, emb


__all__ = ["describe_embedder", "embed_file", "embed_with", "file_sha256", "load_embedder",
           "load_embeddings", "min_bases", "resume_mismatch", "unembeddable", "unembeddable_warning"]
