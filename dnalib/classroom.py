"""Student copies of the chapter notebooks: exercises kept, solutions removed.

The chapters are the solution notebooks. Solutions are written with
sphinx-exercise:

- a ``{solution}`` directive in a Markdown cell (a dropdown on the site),
  fenced with four or more backticks or with three or more colons (for example
  ``:::{solution} label`` ... ``:::``);
- solution *code* lives in code cells tagged ``solution`` (optionally between
  ``{solution-start}`` and ``{solution-end}`` Markdown cells).

:func:`student_notebook` removes all of that. Student copies are plain
Markdown, so that they read the same in JupyterLab without the MyST extension,
in Colab (which cannot load one) and in any other notebook viewer: each exercise
becomes a Markdown cell headed with its number and title (``### Exercise 2
(Cleaning policies)``), followed by a code cell tagged ``student-answer`` where
the student works, then the exercise's check cell, exercise by exercise;
admonitions become quotes with a bold title, and roles (``{func}``, ``{doc}``,
``{cite}``, ...) become readable names. ``make student``
(:func:`write_student_notebooks`) writes a copy of every chapter to
``student/``, outputs dropped, all at once: the copies are written to a staging
folder first and moved in only when every one of them was written, and files in
the folder that ``make student`` did not write are never touched.

Exercises whose answer can be checked have a code cell tagged
``exercise-check`` that calls :func:`dnalib.exercises.check` with the
exercise's label; student copies keep it, right after the exercise's answer
cell. The chapters themselves (the instructors' copies) keep MyST: in
JupyterLab the ``jupyterlab-myst`` extension renders their exercises, with the
solutions in collapsed dropdowns. :func:`grade` reads a folder of
submitted (executed) student notebooks and tabulates, student by exercise,
``passed``, ``failed`` or ``not tried``: ``python -m dnalib.classroom grade
SUBMISSIONS`` (``make grade``) prints the table. A submission that cannot be
read (truncated, not a notebook) does not stop the grading: the student's row
says which file was damaged, in a ``problems`` column.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from dnalib.errors import DnalibError

__all__ = ["SOLUTION_TAG", "ANSWER_TAG", "CHECK_TAG", "MANIFEST", "exercise_labels", "plain_markdown",
           "student_notebook", "write_student_notebooks", "solution_texts", "checked_exercises", "notebook_verdicts",
           "grade", "main"]

#: Cell tag of solution code cells (removed from student copies).
SOLUTION_TAG = "solution"
#: Cell tag of the placeholder cells added to student copies.
ANSWER_TAG = "student-answer"
#: Cell tag of the cells that check an exercise's answer (kept in student copies).
CHECK_TAG = "exercise-check"
#: The values of a grade table's cells.
PASSED, FAILED, NOT_TRIED = "passed", "failed", "not tried"
#: The column of a grade table that names the submissions that could not be read.
PROBLEMS = "problems"
#: The record, in a folder of student copies, of the files ``make student`` wrote there (and their sha256).
MANIFEST = ".dnalib-student.json"

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


_ADMONITIONS = ("admonition", "note", "tip", "hint", "important", "warning", "caution", "attention",
                "danger", "error", "seealso")
_ROLE = re.compile(r"\{(?P<name>[a-z][\w:-]*)\}`(?P<body>[^`]*)`")
_SPANS = re.compile(r"```.*?```|" + _ROLE.pattern + r"|``[^`]+``|`[^`\n]+`", re.S)
_OPTION = re.compile(r"^\s*:[\w-]+:(\s.*)?$")
_CODE_ROLES = ("func", "meth", "mod", "class", "data", "attr", "exc", "obj", "py:func", "py:meth",
               "py:mod", "py:class", "py:data", "py:attr", "py:exc", "py:obj")


def _references(bib: Path | None) -> dict[str, str]:
    """Author-year labels (``Zhou et al. 2025``) of the entries of a BibTeX file, by key."""
    if bib is None or not bib.is_file():
        return {}
    try:
        from pybtex.database import parse_file
    except ImportError:  # the book extras bring pybtex; without it citations keep their keys
        return {}
    try:
        entries = parse_file(str(bib)).entries
    except Exception:  # a damaged bibliography only costs the author-year labels
        return {}
    labels = {}
    for key, entry in entries.items():
        people = entry.persons.get("author", [])
        names = [" ".join(p.prelast_names + p.last_names).replace("{", "").replace("}", "") for p in people]
        who = (names[0] if len(names) == 1 else f"{names[0]} and {names[1]}" if len(names) == 2
               else f"{names[0]} et al." if names else key)
        labels[key] = f"{who} {entry.fields.get('year', '')}".strip()
    return labels


def _role(match: re.Match, refs: dict[str, str]) -> str:
    name, body = match.group("name"), match.group("body")
    explicit = re.fullmatch(r"(?s)(.*?)\s*<([^<>]+)>", body)
    text, target = (explicit.group(1), explicit.group(2)) if explicit else (body, body)
    if name in ("cite", "cite:p", "cite:t", "cite:ps", "cite:ts", "cite:alp", "cite:label"):
        keys = [k.strip() for k in body.split(",") if k.strip()]
        cited = "; ".join(refs.get(k, k) for k in keys)
        return cited if name.startswith("cite:t") else f"({cited})"
    if name in _CODE_ROLES:
        if not explicit:
            text = target.lstrip("~.")
            if body.startswith("~"):
                text = text.rsplit(".", 1)[-1]
        call = "()" if name.split(":")[-1] in ("func", "meth") and not text.endswith(")") else ""
        return f"`{text}{call}`"
    if name in ("math", "eq"):
        return f"${text}$"
    if name == "doc" and not explicit:
        return f"*{Path(target).name.replace('_', ' ')}*"
    if name in ("download", "file", "samp", "code", "kbd", "command", "program"):
        return f"`{text}`"
    return text


def plain_markdown(text: str, refs: dict[str, str] | None = None) -> str:
    """*text* (MyST Markdown) as plain Markdown that any notebook viewer renders.

    Admonitions (``{note}``, ``{tip}``, ``{admonition}``, ...) become quotes with
    a bold title; ``{math}`` blocks become ``$$`` display maths; any other
    directive keeps its body; directive options (``:label:``, ``:class:``)
    are dropped. Roles become readable text: a function's role its name as
    code with parentheses, a module's or class's its name as code, a page's its
    title, a citation's ``(Author et al. Year)`` (from *refs*, else the key), a
    glossary term's its text. MyST targets (``(label)=``) and comments
    (``% ...``) are removed.

    Parameters
    ----------
    text : str
        The Markdown source of a cell (or of part of one).
    refs : dict, optional
        Citation labels by BibTeX key.

    Returns
    -------
    str
    """
    refs = refs or {}
    lines = text.split("\n")
    out: list[str] = []
    last = 0
    for name, arg, start, end, _label in _blocks(text):
        out += lines[last:start]
        body = lines[start + 1:end]
        while body and (_OPTION.match(body[0]) or not body[0].strip()):
            body = body[1:]
        inner = plain_markdown("\n".join(body), refs).strip("\n")
        if name in _ADMONITIONS:
            title = arg if name == "admonition" and arg else (arg or name.capitalize())
            if name == "seealso" and not arg:
                title = "See also"
            quoted = [f"> {ln}" if ln else ">" for ln in inner.split("\n")]
            out += [f"> **{plain_markdown(title, refs)}**", ">", *quoted]
        elif name == "math":
            out += ["$$", inner, "$$"]
        elif name in ("code", "code-block", "code-cell", "sourcecode"):
            out += [f"```{arg}", "\n".join(body), "```"]
        else:
            out += ([f"**{plain_markdown(arg, refs)}**", ""] if arg else []) + inner.split("\n")
        last = end + 1
    out += lines[last:]
    text = "\n".join(ln for ln in out
                     if not re.fullmatch(r"\s*\([\w:.-]+\)=\s*", ln) and not re.match(r"%( |$)", ln))
    # Roles, but not inside fenced code or code spans (scanned left to right, so a role's own
    # backticks are never taken for a code span).
    return _SPANS.sub(lambda m: _role(m, refs) if m.group("name") else m.group(0), text)


def _answer_cell(number: int, label: str) -> Any:
    import nbformat

    cell = nbformat.v4.new_code_cell(f"# Exercise {number} ({label}): your answer here\n")
    cell.metadata["tags"] = [ANSWER_TAG]
    return cell


def _exercise_cell(number: int, title: str, body: list[str], refs: dict[str, str]) -> Any:
    import nbformat

    while body and (_OPTION.match(body[0]) or not body[0].strip()):
        body = body[1:]
    heading = f"### Exercise {number}" + (f" ({plain_markdown(title, refs)})" if title else "")
    text = plain_markdown("\n".join(body), refs).strip("\n")
    return nbformat.v4.new_markdown_cell(f"{heading}\n\n{text}".rstrip("\n"))


def _text_cell(lines: list[str], refs: dict[str, str]) -> list[Any]:
    """A plain Markdown cell of *lines* (none when they are blank)."""
    import nbformat

    text = plain_markdown(re.sub(r"\n{3,}", "\n\n", "\n".join(lines)), refs).strip("\n")
    return [nbformat.v4.new_markdown_cell(text)] if text.strip() else []


def _clear(cell: Any) -> Any:
    if cell.cell_type == "code":
        cell.outputs = []
        cell.execution_count = None
    return cell


def student_notebook(nb: Any, *, references: str | Path | None = None) -> Any:
    """A student copy of a chapter notebook, in plain Markdown.

    Solution directives and solution code cells are removed, outputs and
    execution counts cleared, and every Markdown cell written as plain Markdown
    (:func:`plain_markdown`). Each exercise becomes its own Markdown cell,
    headed ``### Exercise N (title)`` (numbered in the order of the notebook, as
    on the site), followed by a ``student-answer`` code cell and then by the
    ``exercise-check`` cells that check it, wherever they stand in the chapter.

    Parameters
    ----------
    nb : nbformat.NotebookNode
        The chapter (solution) notebook; it is not modified.
    references : str or Path, optional
        The book's BibTeX file: citations become ``(Author et al. Year)``
        instead of their keys.

    Returns
    -------
    nbformat.NotebookNode

    Raises
    ------
    DnalibError
        If a directive is not closed, or a solution-start has no solution-end.
    """
    refs = _references(Path(references) if references else None)
    out = copy.deepcopy(nb)
    walked, open_gate = _walk(out)
    if open_gate:
        raise DnalibError("a {solution-start} has no matching {solution-end}")
    labels = set(exercise_labels(out))
    checks: dict[str, list[Any]] = {}
    for cell, *_ in walked:
        if cell.cell_type == "code" and CHECK_TAG in cell.get("metadata", {}).get("tags", []):
            checked = [m for m in _CHECKED.findall(cell.source) if m in labels]
            if checked:
                checks.setdefault(checked[0], []).append(cell)
    moved = {id(c) for cells in checks.values() for c in cells}
    cells: list[Any] = []
    number = 0
    for cell, gated, blocks in walked:
        if id(cell) in moved:
            continue
        if cell.cell_type != "markdown":
            if not _is_solution_code(cell, gated):
                cells.append(_clear(cell))
            continue
        if gated:
            continue
        if not any(name == "exercise" or name.startswith("solution") for name, *_ in blocks):
            cell.source = plain_markdown(cell.source, refs)
            cells.append(cell)
            continue
        lines = cell.source.split("\n")
        pending: list[str] = []  # Markdown between exercises, kept in its place
        made: list[Any] = []
        last = 0
        for name, arg, start, end, label in blocks:
            pending += lines[last:start]
            last = end + 1
            if name in ("solution", "solution-start", "solution-end"):
                continue
            if name != "exercise":
                pending += lines[start:end + 1]
                continue
            made += _text_cell(pending, refs)
            pending = []
            number += 1
            made += [_exercise_cell(number, arg, lines[start + 1:end], refs),
                     _answer_cell(number, label or arg)]
            made += [_clear(c) for c in checks.pop(label or arg, [])]
        made += _text_cell(pending + lines[last:], refs)
        base = str(cell.get("id") or "cell")[:50]
        for k, new in enumerate(made):
            if new.cell_type == "markdown" or ANSWER_TAG in new.metadata.get("tags", []):
                new.id = f"{base}-{k}"
        cells += made
    out.cells = cells
    out.metadata.pop("widgets", None)
    return out


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _same_or_nested(a: Path, b: Path) -> bool:
    a, b = a.resolve(), b.resolve()
    return a == b or a in b.parents or b in a.parents


def write_student_notebooks(src: str | Path = "notebooks", out: str | Path = "student") -> list[Path]:
    """Write a student copy of every ``*.ipynb`` in *src* to *out*, all or nothing.

    Every copy is made in memory first (a damaged chapter is an error before
    anything is written), then written to a staging folder beside *out*, and
    moved into *out* only when all were written. *out* records what it wrote
    (:data:`MANIFEST`, with each file's sha256): a later run replaces those
    copies, and removes those of chapters that are gone, but refuses to replace
    a copy that was changed since (a student's work) or a file it did not
    write; other files in *out* are never touched.

    Parameters
    ----------
    src : str or Path
        Folder of chapter notebooks.
    out : str or Path
        Folder for the copies (created). It may not be *src*, nor inside it,
        nor contain it (symbolic links are followed).

    Returns
    -------
    list of Path
        The files written.
    """
    import nbformat

    src, out = Path(src), Path(out)
    if not src.is_dir():
        raise DnalibError(f"{src} is not a folder: give the folder of the chapter notebooks")
    if _same_or_nested(src, out):
        raise DnalibError(f"the output folder {out} is the chapters' folder {src} or inside it (or "
                          "holds it): the student copies would replace the chapters; choose another "
                          "output folder")
    notebooks = sorted(src.glob("*.ipynb"))
    if not notebooks:
        raise DnalibError(f"no notebooks in {src}: give the folder of the chapter notebooks")
    bib = src.parent / "book" / "references.bib"
    copies = {}
    for path in notebooks:
        if path.resolve().parent == out.resolve() or out.resolve() in path.resolve().parents:
            raise DnalibError(f"{path} is a link into the output folder {out}: choose another output folder")
        try:
            nb = nbformat.read(path, as_version=4)
        except Exception as exc:  # truncated JSON, not a notebook, unreadable
            raise DnalibError(f"{path} is not a readable notebook ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else 'damaged'}): restore it "
                              "(git checkout) and run again") from None
        try:
            copies[path.name] = nbformat.writes(student_notebook(nb, references=bib))
        except DnalibError as exc:
            raise DnalibError(f"{path}: {exc}") from None
    if out.exists() and not out.is_dir():
        raise DnalibError(f"{out} is a file, not a folder: choose another output folder")
    record = out / MANIFEST
    try:
        owned = json.loads(record.read_text()) if record.is_file() else {}
        owned = {str(k): str(v) for k, v in dict(owned).items()}
    except (ValueError, TypeError, OSError):
        raise DnalibError(f"{record} is damaged: delete it, and check by hand that the copies in "
                          f"{out} may be replaced") from None
    foreign = [n for n in copies if (out / n).exists() and n not in owned]
    changed = [n for n in copies if n in owned and (out / n).is_file() and _sha256(out / n) != owned[n]]
    if foreign or changed:
        which = ", ".join(str(out / n) for n in foreign + changed)
        why = "were changed since make student wrote them" if changed and not foreign else \
            "were not written by make student" if not changed else \
            "were changed since, or not written by, make student"
        raise DnalibError(f"{which} {why}: nothing was written; move them away (they may hold a "
                          "student's work) or choose another output folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-", dir=out.parent))
    try:
        try:
            for name, text in copies.items():
                (staging / name).write_text(text, encoding="utf-8")
            manifest = {n: hashlib.sha256(t.encode("utf-8")).hexdigest() for n, t in copies.items()}
            (staging / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        except OSError as exc:
            raise DnalibError(f"cannot write the student copies next to {out} ({exc.strerror or exc}): "
                              f"nothing in {out} was changed; free some space or choose another "
                              "output folder") from None
        stale = [n for n in owned if n not in copies and (out / n).is_file()
                 and _sha256(out / n) == owned[n]]
        _move_in(staging, out, [*copies, MANIFEST], stale)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return [out / name for name in copies]


def _move_in(staging: Path, out: Path, names: list[str], stale: list[str]) -> None:
    """Move *names* from *staging* into *out* (a rename each; all or, on an error, none), then
    remove *stale* copies."""
    if not out.exists():
        try:
            os.rename(staging, out)  # the whole folder appears at once
            staging.mkdir()  # for the caller's clean-up
            return
        except OSError:
            out.mkdir(parents=True, exist_ok=True)
    backup = Path(tempfile.mkdtemp(prefix=f".{out.name}.previous-", dir=out.parent))
    saved, placed = [], []
    try:
        for name in names:
            if (out / name).exists():
                os.replace(out / name, backup / name)
                saved.append(name)
            os.replace(staging / name, out / name)
            placed.append(name)
    except OSError as exc:
        for name in placed:
            (out / name).unlink(missing_ok=True)
        for name in saved:
            os.replace(backup / name, out / name)
        shutil.rmtree(backup, ignore_errors=True)
        raise DnalibError(f"cannot move the student copies into {out} ({exc.strerror or exc}): "
                          f"{out} was left as it was") from None
    shutil.rmtree(backup, ignore_errors=True)
    for name in stale:
        (out / name).unlink(missing_ok=True)


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
        ``passed`` column counting each student's passed checks. Where a
        submitted notebook cannot be read (or, with *execute*, stops running),
        a ``problems`` column says which file and what was wrong; the
        student's other notebooks are graded all the same.

    Raises
    ------
    DnalibError
        If *submissions* holds no student folder, or a chapter cannot be read.
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
            try:
                chapter = nbformat.read(path, as_version=4)
            except Exception as exc:  # truncated JSON, not a notebook, unreadable
                raise DnalibError(f"chapter {path} is not a readable notebook ({_why(exc)}): restore "
                                  "it (git checkout) and grade again") from None
            columns += checked_exercises(chapter)
    rows, problems = {}, {}
    for student in students:
        row: dict[str, str] = {}
        bad = []
        for path in sorted(student.glob("*.ipynb")):
            try:
                nb = nbformat.read(path, as_version=4)
            except Exception as exc:  # one damaged submission: said in its student's row
                bad.append(f"{path.name}: not a readable notebook ({_why(exc)})")
                continue
            if execute:
                try:
                    _execute(nb, path, timeout)
                except Exception as exc:  # a dead kernel or a timeout: the verdicts saved so far
                    bad.append(f"{path.name}: stopped while running ({_why(exc)})")
            row.update(notebook_verdicts(nb))
        rows[student.name] = row
        problems[student.name] = "; ".join(bad)
        columns += [label for label in row if label not in columns]
    table = pd.DataFrame.from_dict(rows, orient="index").reindex(
        index=[s.name for s in students], columns=columns).fillna(NOT_TRIED)
    table.index.name = "student"
    table[PASSED] = (table == PASSED).sum(axis=1)
    if any(problems.values()):
        table[PROBLEMS] = pd.Series(problems)
    return table


def _why(exc: BaseException) -> str:
    """The first line of an exception's message, with its type."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:160]}" if text else type(exc).__name__


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
        csv = _csv_target(ns.csv, ns.submissions, ns.chapters) if ns.csv else None
        table = grade(ns.submissions, ns.chapters, execute=ns.execute)
        print(table.to_string())
        if csv is not None:
            _write_csv(table, csv)
    except DnalibError as exc:
        print(f"dnalib: error: {exc}", file=sys.stderr)
        return 1
    return 0


def _csv_target(csv: str, submissions: str, chapters: str | None) -> Path:
    """The --csv path, checked before any (long) grading: a file we can write that is no input."""
    path = Path(csv)
    resolved = path.resolve()
    for folder in (submissions, chapters):
        if folder is not None and Path(folder).resolve() in resolved.parents and resolved.suffix == ".ipynb":
            raise DnalibError(f"--csv {csv} is one of the notebooks in {folder}: give another file name")
    if path.is_dir():
        raise DnalibError(f"--csv {csv} is a folder: give a file name, e.g. {path / 'grades.csv'}")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise DnalibError(f"--csv {csv}: the folder {parent} does not exist; create it or give "
                          "another file name")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise DnalibError(f"--csv {csv} cannot be written (permission denied): give a file in a "
                          "folder you can write to")
    return path


def _write_csv(table: Any, path: Path) -> None:
    """Write *table* to *path* whole or not at all (a temporary file renamed into place)."""
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            table.to_csv(fh)
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise DnalibError(f"cannot write --csv {path} ({exc.strerror or exc}); the table is printed "
                          "above") from None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


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
        print(f"dnalib: error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {len(written)} student notebooks to {out}/ (solutions removed; "
          f"answer cells tagged {ANSWER_TAG!r})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
