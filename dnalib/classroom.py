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

Exercises whose answer can be checked end with a code cell tagged
``exercise-check`` that calls :func:`dnalib.exercises.check` with the
exercise's label; student copies keep it. :func:`grade` reads a folder of
submitted (executed) student notebooks and tabulates, student by exercise,
``passed``, ``failed`` or ``not tried``: ``python -m dnalib.classroom grade
SUBMISSIONS`` (``make grade``) prints the table.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

from dnalib.errors import DnalibError

__all__ = ["SOLUTION_TAG", "ANSWER_TAG", "CHECK_TAG", "exercise_labels", "student_notebook",
           "write_student_notebooks", "solution_texts", "checked_exercises", "notebook_verdicts",
           "grade", "main"]

#: Cell tag of solution code cells (removed from student copies).
SOLUTION_TAG = "solution"
#: Cell tag of the placeholder cells added to student copies.
ANSWER_TAG = "student-answer"
#: Cell tag of the cells that check an exercise's answer (kept in student copies).
CHECK_TAG = "exercise-check"
#: The values of a grade table's cells.
PASSED, FAILED, NOT_TRIED = "passed", "failed", "not tried"

_CHECKED = re.compile(r"""\bexercise\s*=\s*["']([^"']+)["']""")

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


def checked_exercises(nb: Any) -> list[str]:
    """Labels of the exercises a notebook checks automatically (its ``exercise-check`` cells)."""
    labels: list[str] = []
    for cell in nb.cells:
        if cell.cell_type == "code" and CHECK_TAG in cell.get("metadata", {}).get("tags", []):
            labels += [m for m in _CHECKED.findall(cell.source) if m not in labels]
    return labels


def notebook_verdicts(nb: Any) -> dict[str, str]:
    """The verdict of each checked exercise in a (submitted, executed) notebook.

    An exercise whose check cell has no saved verdict (not run, or the answer
    still ``...``) is ``"not tried"``; where a check ran more than once, the
    last verdict counts.
    """
    from dnalib.exercises import OUTPUT_KEY

    verdicts = dict.fromkeys(checked_exercises(nb), NOT_TRIED)
    for cell in nb.cells:
        if cell.cell_type != "code" or CHECK_TAG not in cell.get("metadata", {}).get("tags", []):
            continue
        for output in cell.get("outputs", []):
            verdict = output.get("metadata", {}).get(OUTPUT_KEY)
            if isinstance(verdict, dict) and verdict.get("exercise") in verdicts:
                verdicts[verdict["exercise"]] = str(verdict.get("status", NOT_TRIED))
    return verdicts


def _execute(nb: Any, path: Path, timeout: int) -> None:
    from nbclient import NotebookClient

    NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(path.parent)}}).execute()


def grade(submissions: str | Path, chapters: str | Path | None = None, *, execute: bool = False,
          timeout: int = 1800) -> Any:
    """The grade table of a folder of submitted student notebooks.

    Parameters
    ----------
    submissions : str or Path
        One sub-folder per student (its name is the student's), holding that
        student's notebooks (any of the chapters, any file names).
    chapters : str or Path, optional
        The chapter notebooks (``notebooks/``): every exercise they check gets
        a column, also where no student submitted the chapter. Default: the
        exercises checked in the submitted notebooks.
    execute : bool
        Run each notebook first (in its folder; a cell that raises does not
        stop it) instead of reading the verdicts saved in it.
    timeout : int
        Seconds a cell may run with *execute*.

    Returns
    -------
    pandas.DataFrame
        Students by exercise: ``passed``, ``failed`` or ``not tried``, and a
        ``passed`` column counting each student's passed checks.
    """
    import nbformat
    import pandas as pd

    folder = Path(submissions)
    students = sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    if not students:
        raise DnalibError(f"no student folders in {folder}: give a folder with one sub-folder "
                          "of notebooks per student")
    columns: list[str] = []
    if chapters is not None:
        paths = sorted(Path(chapters).glob("*.ipynb"))
        if not paths:
            raise DnalibError(f"no notebooks in {chapters}: give the folder of the chapter notebooks")
        for path in paths:
            columns += checked_exercises(nbformat.read(path, as_version=4))
    rows = {}
    for student in students:
        row: dict[str, str] = {}
        for path in sorted(student.glob("*.ipynb")):
            try:
                nb = nbformat.read(path, as_version=4)
            except Exception as exc:  # a damaged submission is reported, not fatal
                raise DnalibError(f"{path} is not a readable notebook ({exc})") from None
            if execute:
                _execute(nb, path, timeout)
            row.update(notebook_verdicts(nb))
        rows[student.name] = row
        columns += [label for label in row if label not in columns]
    table = pd.DataFrame.from_dict(rows, orient="index").reindex(columns=columns).fillna(NOT_TRIED)
    table.index.name = "student"
    table[PASSED] = (table == PASSED).sum(axis=1)
    return table


def _grade_main(args: list[str]) -> int:
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m dnalib.classroom grade",
                                     description="Tabulate the exercise checks of submitted "
                                                 "student notebooks (one folder per student).")
    parser.add_argument("submissions")
    parser.add_argument("--chapters", default=None,
                        help="chapter notebooks: a column for every exercise they check")
    parser.add_argument("--execute", action="store_true", help="run each notebook first")
    parser.add_argument("--csv", default=None, help="also write the table to this CSV file")
    ns = parser.parse_args(args)
    try:
        table = grade(ns.submissions, ns.chapters, execute=ns.execute)
    except DnalibError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(table.to_string())
    if ns.csv:
        table.to_csv(ns.csv)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m dnalib.classroom [SRC] [OUT]`` (what ``make student`` runs), or
    ``python -m dnalib.classroom grade SUBMISSIONS [--chapters DIR] [--execute] [--csv FILE]``."""
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["grade"]:
        return _grade_main(args[1:])
    if len(args) > 2 or any(a in ("-h", "--help") for a in args):
        print("usage: python -m dnalib.classroom [SRC=notebooks] [OUT=student]\n"
              "       python -m dnalib.classroom grade SUBMISSIONS [--chapters DIR] [--execute] "
              "[--csv FILE]")
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
