"""What dnalib may do to a directory: ownership, locking, checksums and aliasing of paths.

dnalib writes, replaces or deletes only files it can prove it wrote:

- **Ownership.** A directory a training run writes holds a marker,
  ``.dnalib-owned.json``, listing the top-level entries dnalib wrote there (the
  log, the checkpoints, the model files, the info file, ...). An entry is added
  to the marker *before* it is created, so the marker never misses one. A
  directory without the marker that is not empty is someone else's: dnalib
  refuses to write into it and names what is there (:func:`check_output`).
  Starting over (``--force``) removes only the entries the marker lists
  (:func:`remove_owned`); anything else stays.
- **Locking.** While a run is alive it holds an exclusive ``flock`` on the
  directory itself (nothing is written for it); a second run on the same
  directory fails at once with one line (:func:`lock`). The lock goes with the
  process, so a killed run never leaves a stale lock.
- **Checksums.** A finished model directory holds ``SHA256SUMS`` (the format
  of ``sha256sum``, so ``sha256sum -c SHA256SUMS`` checks it too), written
  last (:func:`write_sums`). Every loader checks it (:func:`verify_sums`); a
  run directory (with the marker) without it did not finish publishing and is
  refused. A listed file must be inside the directory.
- **Aliasing.** :func:`refuse_alias` refuses an output path that is one of a
  command's inputs, or inside or around an input directory, through symlinks.

This module depends on nothing else in dnalib but its errors.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from dnalib.errors import DnalibError
from dnalib.io import write_text_atomically

#: The marker of a directory a dnalib run wrote, a JSON file listing the entries it owns.
MARKER = ".dnalib-owned.json"
#: Checksums of a published model directory (``sha256  name`` lines), written last.
SUMS_FILE = "SHA256SUMS"

__all__ = ["MARKER", "SUMS_FILE", "check_output", "fault_point", "foreign_entries", "lock", "own", "owned", "read_marker",
           "refuse_alias", "release", "remove_owned", "sha256_file", "unlock_all", "verify_sums",
           "write_sums"]


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The sha256 (hex) of a file."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def fault_point(name: str) -> None:
    """Fault injection for tests: with ``DNALIB_FAULT=<name>`` an ``OSError`` (no space left on
    device) is raised here, as a full disk would at that point of a write."""
    if os.environ.get("DNALIB_FAULT") == name:
        raise OSError(errno.ENOSPC, f"No space left on device (injected at {name})")


# --------------------------------------------------------------------------- ownership


def read_marker(directory: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The ownership marker of *directory*, or None when dnalib did not write one there."""
    path = Path(directory) / MARKER
    if not path.is_file():
        return None
    try:
        marker = json.loads(path.read_text())
    except (OSError, ValueError):
        raise DnalibError(f"{path} is damaged (not the JSON dnalib writes): dnalib cannot tell which "
                          "files there are its own; move what you want to keep and delete the "
                          "directory, or choose another --out") from None
    if not isinstance(marker, dict) or not isinstance(marker.get("owned"), list):
        raise DnalibError(f"{path} is not a dnalib run marker: choose another --out")
    return marker


def owned(directory: str | os.PathLike[str]) -> list[str]:
    """The top-level entries of *directory* dnalib wrote (empty without a marker)."""
    marker = read_marker(directory)
    return [] if marker is None else [str(n) for n in marker["owned"]]


def own(directory: str | os.PathLike[str], names: Iterable[str], **fields: Any) -> None:
    """Record *names* (top-level entries) as dnalib's in *directory*'s marker, before writing them."""
    directory = Path(directory)
    marker = read_marker(directory) or {"written_by": "dnalib", "kind": "run", "owned": [MARKER]}
    for name in names:
        if "/" in name or name in ("", ".", ".."):
            raise ValueError(f"not a top-level entry name: {name!r}")
        if name not in marker["owned"]:
            marker["owned"].append(name)
    marker.update(fields)
    write_text_atomically(directory / MARKER, json.dumps(marker, indent=1) + "\n", fsync=True)


def _listing(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def foreign_entries(directory: str | os.PathLike[str]) -> list[str]:
    """The entries of *directory* that dnalib did not write (all of them without a marker)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    mine = set(owned(directory))
    return sorted(p.name for p in directory.iterdir() if p.name not in mine)


def check_output(directory: str | os.PathLike[str], *, resume: bool = False, force: bool = False,
                 option: str = "--out", kind: str = "run") -> None:
    """Check that a run may write to *directory*, before any work starts (writes nothing).

    A missing or empty directory is fine. A directory dnalib wrote (with its
    marker) needs *resume* (continue) or *force* (start over: only dnalib's
    entries are removed). A non-empty directory without the marker is
    refused, naming what is in it, even with *force*; with *resume* too
    unless it holds a checkpoint a resume can prove is its own (checked by
    :meth:`dnalib.training.Run.resume`). A directory dnalib wrote for
    another *kind* of output (a simulated genome set, not a training run) is
    refused too.
    """
    directory = Path(directory)
    if not directory.is_dir() or not any(directory.iterdir()):
        return
    marker = read_marker(directory)
    if marker is None:
        if resume and (directory / "checkpoints").is_dir():
            return  # a run of an older dnalib: the checkpoint itself is checked on resume
        there = sorted(p.name for p in directory.iterdir())
        raise DnalibError(
            f"{option} {directory} holds files dnalib did not write ({_listing(there)}): dnalib "
            "writes only into an empty directory or one of its own runs, and never deletes "
            "files it did not write; choose another " + option)
    if marker.get("kind", "run") != kind:
        raise DnalibError(f"{option} {directory} holds a dnalib {marker.get('kind')} output, not a "
                          f"{kind}: choose another {option}")
    if not resume and not force:
        raise DnalibError(f"{option} {directory} holds an earlier dnalib {kind}: pass --resume to "
                          "continue it, --force to start over in it (only dnalib's files are "
                          f"removed), or choose another {option}")


def remove_owned(directory: str | os.PathLike[str], *, keep: Iterable[str] = ()) -> list[str]:
    """Remove the entries of *directory* dnalib wrote (the checksums and info files first).

    Entries dnalib did not write stay. The marker itself stays (the
    directory is still dnalib's), and so do the names in *keep*.

    Returns
    -------
    list of str
        The entries that were removed.
    """
    directory = Path(directory)
    names = [n for n in owned(directory) if n != MARKER and n not in set(keep)]
    # unpublish first: without its checksums the directory is no finished model meanwhile
    names.sort(key=lambda n: (n != SUMS_FILE, not n.endswith(".json"), n))
    removed = []
    for name in names:
        path = directory / name
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.is_dir():
            shutil.rmtree(path)
        else:
            continue
        removed.append(name)
    return removed


# --------------------------------------------------------------------------- locking

#: Directories this process holds locked: resolved path -> open directory descriptor.
_LOCKS: dict[str, int] = {}


def lock(directory: str | os.PathLike[str], *, option: str = "--out") -> None:
    """Hold an exclusive lock on *directory* (existing) until :func:`release` or the process ends.

    Re-locking a directory this process holds is a no-op. Another process
    holding it is a :class:`~dnalib.errors.DnalibError`.
    """
    import fcntl

    key = os.path.realpath(directory)
    if key in _LOCKS:
        return
    fd = os.open(key, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise DnalibError(f"{option} {directory} is in use by another dnalib run that is still "
                              "running: wait for it to end, or choose another " + option) from None
        raise
    _LOCKS[key] = fd


def release(directory: str | os.PathLike[str]) -> None:
    """Release this process's lock on *directory* (if held)."""
    fd = _LOCKS.pop(os.path.realpath(directory), None)
    if fd is not None:
        os.close(fd)


def unlock_all() -> None:
    """Release every lock this process holds."""
    for key in list(_LOCKS):
        release(key)


# --------------------------------------------------------------------------- checksums


def write_sums(directory: str | os.PathLike[str], names: Iterable[str],
               *, to: str | os.PathLike[str] | None = None) -> Path:
    """Write ``SHA256SUMS`` of the files *names* of *directory* atomically (to *to* if given)."""
    directory = Path(directory)
    lines = [f"{sha256_file(directory / n)}  {n}\n" for n in sorted(set(names))]
    target = Path(to) if to is not None else directory / SUMS_FILE
    write_text_atomically(target, "".join(lines), fsync=True)
    return target


def verify_sums(directory: str | os.PathLike[str]) -> bool:
    """Check *directory* against its ``SHA256SUMS``; True when it has one, False when not.

    Raises
    ------
    ~dnalib.errors.DnalibError
        A dnalib run directory without checksums (it did not finish
        publishing), a checksum file that is not in ``sha256sum`` form or names
        a file outside the directory, a listed file missing or changed.
    """
    directory = Path(directory)
    sums = directory / SUMS_FILE
    if not sums.is_file():
        if (directory / MARKER).is_file():
            raise DnalibError(
                f"{directory} holds a dnalib run that did not finish publishing its model (no "
                f"{SUMS_FILE}): resume it with the same command and --resume, or start over with "
                "--force")
        return False
    try:
        text = sums.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise DnalibError(f"{sums} cannot be read ({exc}): copy the model directory again") from None
    root = directory.resolve()
    bad: list[str] = []
    entries = 0
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        digest, _, name = line.partition(" ")
        name = name.strip().lstrip("*")
        if len(digest) != 64 or not name:
            raise DnalibError(f"{sums} line {number} is not 'sha256  name': the checksum file is "
                              "damaged; copy the model directory again")
        target = (directory / name).resolve()
        if root not in target.parents:
            raise DnalibError(f"{sums} names {name!r}, which is outside {directory}: a model "
                              "directory must hold its own files; refusing to read it")
        entries += 1
        if not target.is_file() or sha256_file(target) != digest.lower():
            bad.append(name)
    if bad or not entries:
        raise DnalibError(
            f"{directory}: {_listing(bad) if bad else 'nothing'} "
            f"{'does' if len(bad) == 1 else 'do'} not match {SUMS_FILE} (damaged or changed since "
            "it was written): copy the model directory again or re-run the training command")
    return True


# --------------------------------------------------------------------------- aliasing


def refuse_alias(output: str | os.PathLike[str], inputs: Iterable[str | os.PathLike[str] | None],
                 *, option: str = "--out", directory: bool = False) -> None:
    """Refuse an output that is one of a command's inputs (files or directories, through symlinks).

    *output* is refused when it is the same path as an input once symlinks
    are resolved, or the same file (a hard link). An output *directory*
    (``directory=True``: a command that writes or replaces files in it) is
    refused too when an input lies inside it. An output that does not exist
    yet is resolved through its existing parents.
    """
    out = Path(os.path.realpath(output))
    try:
        out_stat: os.stat_result | None = os.stat(out)
    except OSError:
        out_stat = None
    for given in inputs:
        if given is None or str(given) in ("", "-") or not os.path.lexists(given):
            continue  # nothing there (or a dataset name, a hub id): nothing to overwrite
        src = Path(os.path.realpath(given))
        try:
            same_file = out_stat is not None and os.path.samestat(out_stat, os.stat(src))
        except OSError:
            same_file = False
        inside = directory and out in src.parents
        if out == src or same_file or inside:
            raise DnalibError(
                f"{option} {output} {'holds' if inside else 'is'} an input of this command ({given}): "
                f"an output may never overwrite an input; choose another {option}")
