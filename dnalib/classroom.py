"""Student copies of the chapter notebooks: exercises kept, solutions removed.

The chapters are the solution notebooks. Solutions are written with
sphinx-exercise:

- a ``{solution}`` directive in a Markdown cell (a dropdown on the site),
  fenced with four or more backticks or with three or more colons (for example
  ``:::{solution} label`` ... ``:::``);
- solution *code* lives in code cells tagged ``solution`` (optionally between
  ``{solution-start}`` and ``{solution-end}`` Markdown cells).

:func:`student_notebook` removes all of that and leaves, after every exercise,
a code cell tagged ``student-answer`` where the student works. ``make student``
(:func:`write_student_notebooks`) writes a copy of every chapter to
``student/``; outputs are dropped too.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

from dnalib.errors import DnalibError

__all__ = ["SOLUTION_TAG", "ANSWER_TAG", "exercise_labels", "student_notebook",
           "write_student_notebooks", "solution_texts", "main"]

#: Cell tag of solution code cells (removed from student copies).
SOLUTION_TAG = "solution"
#: Cell tag of the placeholder cells added to student copies.
ANSWER_TAG = "student-answer"

_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|:{3,})\{(?P<name>[a-z-]+)\}(?P<arg>.*)$")
_LABEL = re.compile(r"^\s*:label:\s*(\S+)\s*$")


def _blocks(text: str) -> list[tuple[str, str, int, int, str]]:
    """Top-level directive blocks of a Markdown text: (name, arg, start, end, label)."""
    lines = text.split("\n")
    out = []
    i = 0
    while i < len(lines):
        m = _OPEN.match(lines[i])
        if not m:
            i += 1
            continue
        fence = m.group("fence")
        close = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        j = i + 1
        while j < len(lines) and not close.match(lines[j]):
            j += 1
        if j == len(lines):
            raise DnalibError(
                f"unclosed {{{m.group('name')}}} directive (opened with {fence!r} on line {i + 1}): "
                f"close it with a line of {fence!r}"
            )
        label = next((lm.group(1) for ln in lines[i + 1:j] if (lm := _LABEL.match(ln))), "")
        out.append((m.group("name"), m.group("arg").strip(), i, j, label))
        i = j + 1
    return out


def exercise_labels(nb: Any) -> list[str]:
    """Labels (or titles) of the ``{exercise}`` directives of a notebook, in order."""
    labels = []
    for _cell, _gated, blocks in _walk(nb)[0]:
        labels += [label or arg for name, arg, _, _, label in blocks if name == "exercise"]
    return labels


def _walk(nb: Any) -> tuple[list[tuple[Any, bool, list[tuple[str, str, int, int, str]]]], bool]:
    """Each cell with whether it lies between ``{solution-start}`` and
    ``{solution-end}`` (the state before the cell) and its directive blocks
    (Markdown cells only); plus whether a gate is still open at the end."""
    walked = []
    gated = False
    for cell in nb.cells:
        blocks = _blocks(cell.source) if cell.cell_type == "markdown" else []
        walked.append((cell, gated, blocks))
        for name, *_ in blocks:
            if name == "solution-start":
                gated = True
            elif name == "solution-end":
                gated = False
    return walked, gated


def _is_solution_code(cell: Any, gated: bool) -> bool:
    return cell.cell_type != "markdown" and (
        gated or SOLUTION_TAG in cell.get("metadata", {}).get("tags", []))


def solution_texts(nb: Any) -> list[str]:
    """Every piece of solution content of a notebook: the body of each
    ``{solution}`` directive and the source of each solution code cell."""
    texts = []
    for cell, gated, blocks in _walk(nb)[0]:
        if _is_solution_code(cell, gated):
            texts.append(cell.source)
        lines = cell.source.split("\n")
        texts += ["\n".join(lines[start + 1:end])
                  for name, _, start, end, _ in blocks if name == "solution"]
    return texts


def _placeholder(label: str) -> Any:
    import nbformat

    cell = nbformat.v4.new_code_cell(f"# Exercise {label}: your answer here\n")
    cell.metadata["tags"] = [ANSWER_TAG]
    return cell


def student_notebook(nb: Any) -> Any:
    """A student copy of a chapter notebook.

    Solution directives and solution code cells are removed, outputs and
    execution counts cleared, and a ``student-answer`` code cell is placed
    after each cell that states exercises (one per exercise).

    Parameters
    ----------
    nb : nbformat.NotebookNode
        The chapter (solution) notebook; it is not modified.

    Returns
    -------
    nbformat.NotebookNode

    Raises
    ------
    DnalibError
        If a directive is not closed, or a solution-start has no solution-end.
    """
    out = copy.deepcopy(nb)
    walked, open_gate = _walk(out)
    if open_gate:
        raise DnalibError("a {solution-start} has no matching {solution-end}")
    cells = []
    for cell, gated, blocks in walked:
        if cell.cell_type == "markdown":
            lines = cell.source.split("\n")
            keep = [True] * len(lines)
            for name, _, start, end, _ in blocks:
                if name in ("solution", "solution-start", "solution-end"):
                    keep[start:end + 1] = [False] * (end + 1 - start)
            text = "\n".join(ln for ln, k in zip(lines, keep, strict=True) if k)
            text = re.sub(r"\n{3,}", "\n\n", text).strip("\n")
            if not gated and text.strip():
                cell.source = text
                cells.append(cell)
            cells.extend(_placeholder(label or arg)
                         for name, arg, _, _, label in blocks if name == "exercise")
            continue
        if _is_solution_code(cell, gated):
            continue
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cells.append(cell)
    out.cells = cells
    out.metadata.pop("widgets", None)
    return out


def write_student_notebooks(src: str | Path = "notebooks", out: str | Path = "student") -> list[Path]:
    """Write a student copy of every ``*.ipynb`` in *src* to *out*.

    Parameters
    ----------
    src : str or Path
        Folder of chapter notebooks.
    out : str or Path
        Folder for the copies (created; existing copies are replaced).

    Returns
    -------
    list of Path
        The files written.
    """
    import nbformat

    src, out = Path(src), Path(out)
    notebooks = sorted(src.glob("*.ipynb"))
    if not notebooks:
        raise DnalibError(f"no notebooks in {src}: give the folder of the chapter notebooks")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        target = out / path.name
        nbformat.write(student_notebook(nb), target)
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    """``python -m dnalib.classroom [SRC] [OUT]``: what ``make student`` runs."""
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) > 2 or any(a in ("-h", "--help") for a in args):
        print("usage: python -m dnalib.classroom [SRC=notebooks] [OUT=student]")
        return 0 if args and args[0] in ("-h", "--help") else 2
    src = args[0] if args else "notebooks"
    out = args[1] if len(args) > 1 else "student"
    try:
        written = write_student_notebooks(src, out)
    except DnalibError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {len(written)} student notebooks to {out}/ (solutions removed; "
          f"answer cells tagged {ANSWER_TAG!r})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
