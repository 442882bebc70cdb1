"""Errors that dnalib raises for bad input.

Every error a user can cause (a missing file, a malformed FASTA record, a label
table that does not match the sequences, ...) is a :class:`DnalibError` whose
message is one line saying *what* was wrong, *where* (file, record, line) and
*how to fix it*.  The command line prints that line and exits non-zero instead
of showing a traceback.
"""

from __future__ import annotations


class DnalibError(Exception):
    """Base class of every user-facing dnalib error (one-line message)."""


class InputFormatError(DnalibError, ValueError):
    """A file or a sequence is not in the expected format."""


class DataNotFoundError(DnalibError, FileNotFoundError):
    """A file, directory or dataset that was asked for does not exist."""


class ChecksumError(DnalibError):
    """A downloaded or mirrored file does not have the expected sha256."""
