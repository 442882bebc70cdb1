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
``{cite}``, ...) become readable names (a citation ``(Author et al., Year)``,
with the chapter's references in a last cell). ``make student``
(:func:`write_student_notebooks`) writes a copy of every chapter to
``student/``, outputs dropped, all at once: the copies are written to a staging
folder first and moved in only when every one of them was written, and files in
the folder that ``make student`` did not write are never touched.

The Colab copies (:func:`colab_notebook`) are these student copies made for
Colab, with a note at the top and links to the other chapters' Colab copies
and to the repository on GitHub. ``make colab`` (:func:`write_colab_notebooks`)
writes them to ``colab/``, which is committed: Colab opens notebooks from
GitHub, and the site's Colab button opens a chapter's copy.

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

__all__ = ["SOLUTION_TAG", "ANSWER_TAG", "CHECK_TAG", "MANIFEST", "COLAB_DIR", "COLAB_NOTE_ID",
           "REFERENCES_CELL_ID", "exercise_labels", "plain_markdown", "student_notebook",
           "write_student_notebooks", "colab_url", "colab_notebook", "write_colab_notebooks",
           "solution_texts", "checked_exercises", "notebook_verdicts", "grade", "main"]

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
#: The folder of the Colab copies, beside the chapters' folder (``make colab``). They are
#: committed, so that Colab can open them from GitHub.
COLAB_DIR = "colab"
#: The id of the note at the top of every Colab copy (it marks a file as one).
COLAB_NOTE_ID = "dnalib-colab-note"
#: The id of the last cell of a student or Colab copy, which lists the works the chapter cites.
REFERENCES_CELL_ID = "dnalib-references"
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


def _bibliography(bib: Path | None, *, strict: bool = False) -> dict[str, tuple[str, str]]:
    """The entries of a BibTeX file, by key: their author-year label (``Zhou et al., 2025``) and
    the whole reference as Markdown.

    Without the file, or without pybtex (the book extras bring it), there are none, unless
    *strict*, where that is an error.
    """
    if bib is None or not bib.is_file():
        if strict:
            raise DnalibError(f"no bibliography {bib}: the copies need book/references.bib")
        return {}
    try:
        from pybtex.backends.markdown import Backend
        from pybtex.database import parse_file
        from pybtex.style.formatting.plain import Style
    except ImportError:  # without pybtex citations keep their keys
        if strict:
            raise DnalibError("pybtex is not installed (it comes with the lock's book packages): "
                              "run make env, or pip install pybtex") from None
        return {}
    try:
        entries = parse_file(str(bib)).entries
        formatted = {e.key: " ".join(e.text.render(Backend()).split())
                     for e in Style().format_entries(entries.values())}
    except Exception as exc:  # a damaged bibliography only costs the author-year labels
        if strict:
            raise DnalibError(f"{bib} cannot be read ({type(exc).__name__}: {exc}): fix it") from None
        return {}
    out = {}
    for key, entry in entries.items():
        people = entry.persons.get("author", [])
        names = [" ".join(p.prelast_names + p.last_names).replace("{", "").replace("}", "") for p in people]
        who = (names[0] if len(names) == 1 else f"{names[0]} and {names[1]}" if len(names) == 2
               else f"{names[0]} et al." if names else key)
        year = entry.fields.get("year", "")
        out[key] = (f"{who}, {year}" if year else who, formatted.get(key, ""))
    return out


def _references(bib: Path | None) -> dict[str, str]:
    """Author-year labels (``Zhou et al., 2025``) of the entries of a BibTeX file, by key."""
    return {key: label for key, (label, _) in _bibliography(bib).items()}


_CITE_ROLES = ("cite", "cite:p", "cite:t", "cite:ps", "cite:ts", "cite:alp", "cite:label")


def _cited(texts: list[str]) -> list[str]:
    """The keys cited in Markdown *texts*, in order of their first citation (not in code)."""
    keys: list[str] = []
    for text in texts:
        for m in _SPANS.finditer(text):
            if m.group("name") in _CITE_ROLES:
                keys += [k.strip() for k in m.group("body").split(",") if k.strip() and k.strip() not in keys]
    return keys


def _role(match: re.Match, refs: dict[str, str], links: Any = None) -> str:
    name, body = match.group("name"), match.group("body")
    explicit = re.fullmatch(r"(?s)(.*?)\s*<([^<>]+)>", body)
    text, target = (explicit.group(1), explicit.group(2)) if explicit else (body, body)
    if name in _CITE_ROLES:
        keys = [k.strip() for k in body.split(",") if k.strip()]
        if name.startswith("cite:t"):  # narrative: Zhou et al. (2025)
            return "; ".join(re.sub(r"^(.*), (\S+)$", r"\1 (\2)", refs[k]) if k in refs else k
                             for k in keys)
        return "(" + "; ".join(refs.get(k, k) for k in keys) + ")"
    if name in _CODE_ROLES:
        if not explicit:
            text = target.lstrip("~.")
            if body.startswith("~"):
                text = text.rsplit(".", 1)[-1]
        call = "()" if name.split(":")[-1] in ("func", "meth") and not text.endswith(")") else ""
        return f"`{text}{call}`"
    if name in ("math", "eq"):
        return f"${text}$"
    url = links(name, target) if links is not None and name in ("doc", "download") else None
    if name == "doc":
        shown = text if explicit else f"*{Path(target).name.replace('_', ' ')}*"
        return f"[{shown}]({url})" if url else shown
    if name in ("download", "file", "samp", "code", "kbd", "command", "program"):
        return f"[`{text}`]({url})" if url else f"`{text}`"
    return text


def plain_markdown(text: str, refs: dict[str, str] | None = None, *, links: Any = None) -> str:
    """*text* (MyST Markdown) as plain Markdown that any notebook viewer renders.

    Admonitions (``{note}``, ``{tip}``, ``{admonition}``, ...) become quotes with
    a bold title; ``{math}`` blocks become ``$$`` display maths; any other
    directive keeps its body; directive options (``:label:``, ``:class:``)
    are dropped. Roles become readable text: a function's role its name as
    code with parentheses, a module's or class's its name as code, a page's its
    title (a link where *links* gives one), a citation's ``(Author et al.,
    Year)`` (from *refs*, else the key), a glossary term's its text, a file to
    download its path as code (a link where *links* gives one). MyST targets
    (``(label)=``) and comments (``% ...``) are removed.

    Parameters
    ----------
    text : str
        The Markdown source of a cell (or of part of one).
    refs : dict, optional
        Citation labels by BibTeX key.
    links : callable, optional
        ``links(role, target)``, the URL of the target of a ``{doc}`` or
        ``{download}`` role (its path as the role writes it), or None for
        none: then the role's text stays plain.

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
        inner = plain_markdown("\n".join(body), refs, links=links).strip("\n")
        if name in _ADMONITIONS:
            title = arg if name == "admonition" and arg else (arg or name.capitalize())
            if name == "seealso" and not arg:
                title = "See also"
            quoted = [f"> {ln}" if ln else ">" for ln in inner.split("\n")]
            out += [f"> **{plain_markdown(title, refs, links=links)}**", ">", *quoted]
        elif name == "math":
            out += ["$$", inner, "$$"]
        elif name in ("code", "code-block", "code-cell", "sourcecode"):
            out += [f"```{arg}", "\n".join(body), "```"]
        else:
            out += ([f"**{plain_markdown(arg, refs, links=links)}**", ""] if arg else []) + inner.split("\n")
        last = end + 1
    out += lines[last:]
    text = "\n".join(ln for ln in out
                     if not re.fullmatch(r"\s*\([\w:.-]+\)=\s*", ln) and not re.match(r"%( |$)", ln))
    # Roles, but not inside fenced code or code spans (scanned left to right, so a role's own
    # backticks are never taken for a code span).
    return _SPANS.sub(lambda m: _role(m, refs, links) if m.group("name") else m.group(0), text)


def _answer_cell(number: int, label: str) -> Any:
    import nbformat

    cell = nbformat.v4.new_code_cell(f"# Exercise {number} ({label}): your answer here\n")
    cell.metadata["tags"] = [ANSWER_TAG]
    return cell


def _exercise_cell(number: int, title: str, body: list[str], md: Any) -> Any:
    import nbformat

    while body and (_OPTION.match(body[0]) or not body[0].strip()):
        body = body[1:]
    heading = f"### Exercise {number}" + (f" ({md(title)})" if title else "")
    text = md("\n".join(body)).strip("\n")
    return nbformat.v4.new_markdown_cell(f"{heading}\n\n{text}".rstrip("\n"))


def _text_cell(lines: list[str], md: Any) -> list[Any]:
    """A plain Markdown cell of *lines* (none when they are blank)."""
    import nbformat

    text = md(re.sub(r"\n{3,}", "\n\n", "\n".join(lines))).strip("\n")
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
    With *references*, the copy ends with the chapter's references.

    Parameters
    ----------
    nb : nbformat.NotebookNode
        The chapter (solution) notebook; it is not modified.
    references : str or Path, optional
        The book's BibTeX file: citations become ``(Author et al., Year)``
        instead of their keys, and a last cell lists the works the chapter
        cites.

    Returns
    -------
    nbformat.NotebookNode

    Raises
    ------
    DnalibError
        If a directive is not closed, or a solution-start has no solution-end.
    """
    bibliography = _bibliography(Path(references) if references else None)
    return _plain_copy(nb, bibliography)


def _reference_cells(cited: list[str], bibliography: dict[str, tuple[str, str]]) -> list[Any]:
    """A last Markdown cell listing the *cited* works (none when none of them is known)."""
    import nbformat

    keys = [k for k in cited if bibliography.get(k, ("", ""))[1]]
    if not keys:
        return []
    items = [f"- **{bibliography[k][0]}.** {bibliography[k][1]}" for k in keys]
    cell = nbformat.v4.new_markdown_cell("#### References\n\n" + "\n".join(items))
    cell.id = REFERENCES_CELL_ID
    return [cell]


def _plain_copy(nb: Any, bibliography: dict[str, tuple[str, str]], links: Any = None) -> Any:
    """The student copy of *nb* (see :func:`student_notebook`); *links* as in :func:`plain_markdown`."""
    refs = {key: label for key, (label, _) in bibliography.items()}
    cited: list[str] = []  # what the copy cites (not what only the solutions cite)

    def md(text: str) -> str:
        cited.extend(k for k in _cited([text]) if k not in cited)
        return plain_markdown(text, refs, links=links)

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
            cell.source = md(cell.source)
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
            made += _text_cell(pending, md)
            pending = []
            number += 1
            made += [_exercise_cell(number, arg, lines[start + 1:end], md),
                     _answer_cell(number, label or arg)]
            made += [_clear(c) for c in checks.pop(label or arg, [])]
        made += _text_cell(pending + lines[last:], md)
        base = str(cell.get("id") or "cell")[:50]
        for k, new in enumerate(made):
            if new.cell_type == "markdown" or ANSWER_TAG in new.metadata.get("tags", []):
                new.id = f"{base}-{k}"
        cells += made
    cells += _reference_cells(cited, bibliography)
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


def colab_url(repository: str, branch: str, path: str) -> str:
    """The address that opens the notebook *path* of a GitHub repository in Colab.

    Parameters
    ----------
    repository : str
        ``https://github.com/OWNER/NAME`` (``.git`` optional).
    branch : str
        The branch (or tag, or commit) to open.
    path : str
        The notebook's path in the repository, with ``/`` between folders.

    Returns
    -------
    str
        ``https://colab.research.google.com/github/OWNER/NAME/blob/BRANCH/PATH``.

    Raises
    ------
    DnalibError
        If *repository* is not on GitHub (Colab opens notebooks from GitHub only).
    """
    m = re.fullmatch(r"https://github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?/?", repository)
    if not m:
        raise DnalibError(f"repository {repository!r} is not https://github.com/OWNER/NAME: Colab "
                          "opens notebooks from GitHub only (fix _config.yml)")
    return f"https://colab.research.google.com/github/{m.group(1)}/{m.group(2)}/blob/{branch}/{path}"


def _repository_links(root: Path, chapters: str, colab: str, repository: str, branch: str) -> Any:
    """``links(role, target)`` for the Colab copies (see :func:`plain_markdown`): a page of the
    book as its file on GitHub, another chapter as its Colab copy, a file to download on GitHub."""
    import posixpath

    base = f"{repository.rstrip('/').removesuffix('.git')}/blob/{branch}/"

    def links(role: str, target: str) -> str | None:
        target = target.strip()
        if not target or "://" in target:
            return None
        path = target.lstrip("/") if target.startswith("/") else posixpath.normpath(
            posixpath.join(chapters, target))
        if path == ".." or path.startswith("../"):
            return None
        if role != "doc":
            return base + path if (root / path).is_file() else None
        name = posixpath.basename(path)
        if posixpath.dirname(path) == chapters and (root / chapters / f"{name}.ipynb").is_file():
            return colab_url(repository, branch, f"{colab}/{name}.ipynb")
        found = next((path + suffix for suffix in ("", ".md", ".ipynb")
                      if (root / (path + suffix)).is_file()), None)
        return base + found if found else None

    return links


_COLAB_NOTE = """\
> **The Colab copy of this chapter** of *{title}*: plain Markdown, and the exercises \
without their solutions (the book has those). Run all cells (Runtime → Run all): the first \
code cell installs the book's package. Answer each exercise in the cell marked "your answer \
here"; the check cell after it says whether your answer is right. To keep your work, save a \
copy (File → Save a copy in Drive)."""


def colab_notebook(nb: Any, chapter: str | Path, *, out: str | Path | None = None) -> Any:
    """The Colab copy of a chapter: its student copy, made for Colab.

    Colab renders plain Markdown only, so the copy is the student copy of
    :func:`student_notebook` (exercises without solutions, an answer and a
    check cell after each, admonitions as quotes, citations as ``(Author et
    al., Year)`` with the chapter's references at the end), with a note under
    the chapter's title saying what it is, and links where the site has them:
    another chapter opens its Colab copy, a page of the book or a file to
    download opens on GitHub (the ``repository`` of ``_config.yml``). The
    first code cell is the set-up cell (:func:`dnalib.colab.setup_cell`) for
    that repository and branch: on Colab it installs the book's package.

    Parameters
    ----------
    nb : nbformat.NotebookNode
        The chapter; it is not modified.
    chapter : str or Path
        The chapter's file. The parent of its folder is the book's root, with
        ``_config.yml`` and ``book/references.bib``.
    out : str or Path, optional
        The folder of the Colab copies, inside the book's root (default:
        :data:`COLAB_DIR` there).

    Returns
    -------
    nbformat.NotebookNode

    Raises
    ------
    DnalibError
        If a directive is not closed, the configuration or the bibliography
        cannot be read (pybtex is needed), or *out* lies outside the book's root.
    """
    import nbformat
    import yaml

    from dnalib.colab import SETUP_TAGS, repository_of, setup_cell

    chapters = Path(chapter).parent
    root = chapters.parent
    out = Path(out) if out is not None else root / COLAB_DIR
    try:
        colab = out.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        raise DnalibError(f"the Colab copies' folder {out} is not inside the repository {root}: "
                          "Colab opens them from GitHub") from None
    repository, branch = repository_of(root / "_config.yml")
    title = (yaml.safe_load((root / "_config.yml").read_text()) or {}).get("title") or "the book"
    links = _repository_links(root, chapters.resolve().relative_to(root.resolve()).as_posix(), colab,
                              repository, branch)
    copied = _plain_copy(nb, _bibliography(root / "book" / "references.bib", strict=True), links)
    note = nbformat.v4.new_markdown_cell(_COLAB_NOTE.format(title=title))
    note.id = COLAB_NOTE_ID
    first = next((i for i, c in enumerate(copied.cells) if c.cell_type == "markdown"), -1)
    copied.cells.insert(first + 1, note)
    # The set-up cell installs the package from the repository and branch Colab opens the copy
    # from (the chapter's own cell, written by python -m dnalib.colab, is the same where that is
    # current).
    code = next((i for i, c in enumerate(copied.cells) if c.cell_type == "code"), len(copied.cells))
    if code < len(copied.cells) and SETUP_TAGS[1] in copied.cells[code].metadata.get("tags", []):
        del copied.cells[code]
    copied.cells.insert(code, setup_cell(repository, branch))
    return copied


def _is_colab_copy(path: Path) -> bool:
    """Whether *path* is a notebook that :func:`write_colab_notebooks` wrote (it has the note)."""
    try:
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError, AttributeError):
        return False
    return any(isinstance(c, dict) and c.get("id") == COLAB_NOTE_ID for c in cells)


def write_colab_notebooks(src: str | Path = "notebooks", out: str | Path | None = None, *,
                          check: bool = False) -> list[str]:
    """Write (or with *check*, only check) the Colab copy of every chapter (``make colab``).

    The copies (:func:`colab_notebook`) are committed to the repository, so
    that Colab can open them from GitHub: write them again whenever a chapter
    changes (``tests/test_colab_copies.py`` fails while one is out of date).
    Every copy is made in memory first; a copy that did not change is not
    rewritten. A file in *out* that is not a Colab copy is never replaced,
    and a copy whose chapter is gone is reported, not removed.

    Parameters
    ----------
    src : str or Path
        Folder of chapter notebooks; its parent is the book's root.
    out : str or Path, optional
        Folder of the Colab copies (default: :data:`COLAB_DIR` beside *src*).
    check : bool
        Only compare the copies with what would be written.

    Returns
    -------
    list of str
        With *check*: one line per copy that is missing, out of date or left
        from a chapter that is gone (none when all are current). Otherwise: the
        names of the copies written.

    Raises
    ------
    DnalibError
        If a chapter cannot be read or converted, or *out* holds a file of a
        chapter's name that is not a Colab copy.
    """
    import nbformat

    src = Path(src)
    if not src.is_dir():
        raise DnalibError(f"{src} is not a folder: give the folder of the chapter notebooks")
    out = Path(out) if out is not None else src.parent / COLAB_DIR
    if _same_or_nested(src, out):
        raise DnalibError(f"the output folder {out} is the chapters' folder {src} or inside it (or "
                          "holds it): choose another output folder")
    if out.exists() and not out.is_dir():
        raise DnalibError(f"{out} is a file, not a folder: choose another output folder")
    notebooks = sorted(src.glob("*.ipynb"))
    if not notebooks:
        raise DnalibError(f"no notebooks in {src}: give the folder of the chapter notebooks")
    texts = {}
    for path in notebooks:
        try:
            nb = nbformat.read(path, as_version=4)
        except Exception as exc:  # truncated JSON, not a notebook, unreadable
            raise DnalibError(f"{path} is not a readable notebook ({_why(exc)}): restore it (git "
                              "checkout) and run again") from None
        try:
            text = nbformat.writes(colab_notebook(nb, path, out=out))
        except DnalibError as exc:
            raise DnalibError(f"{path}: {exc}") from None
        texts[path.name] = text if text.endswith("\n") else text + "\n"
    existing = {p.name: p for p in out.glob("*.ipynb")} if out.is_dir() else {}
    if check:
        problems = []
        for name, text in texts.items():
            if name not in existing:
                problems.append(f"{out / name}: missing (make colab)")
            elif existing[name].read_text(encoding="utf-8") != text:
                problems.append(f"{out / name}: out of date with {src / name} (make colab)")
        problems += [f"{path}: its chapter {src / name} is gone (git rm it)"
                     for name, path in sorted(existing.items())
                     if name not in texts and _is_colab_copy(path)]
        return problems
    foreign = [str(existing[n]) for n in texts if n in existing and not _is_colab_copy(existing[n])]
    if foreign:
        raise DnalibError(f"{', '.join(foreign)}: not written by make colab; nothing was written: "
                          "move them away or choose another output folder")
    written: list[str] = []
    for name, text in texts.items():
        target = out / name
        if name in existing and existing[name].read_text(encoding="utf-8") == text:
            continue
        tmp = None
        try:
            out.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=out)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, target)
            tmp = None
        except OSError as exc:
            done = f" (written before it: {', '.join(written)})" if written else ""
            raise DnalibError(f"cannot write {target} ({exc.strerror or exc}){done}: free some "
                              "space or fix the folder's permissions, and run again") from None
        finally:
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)
        written.append(name)
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


def _colab_main(args: list[str]) -> int:
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m dnalib.classroom colab",
                                     description="Write the Colab copies of the chapters (plain "
                                                 "Markdown, no solutions), or check them.")
    parser.add_argument("src", nargs="?", default="notebooks", help="the chapters (default: notebooks)")
    parser.add_argument("out", nargs="?", default=None,
                        help=f"the Colab copies (default: {COLAB_DIR} beside SRC)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 when a copy is missing or out of date")
    ns = parser.parse_args(args)
    out = ns.out or str(Path(ns.src).parent / COLAB_DIR)
    try:
        lines = write_colab_notebooks(ns.src, ns.out, check=ns.check)
    except DnalibError as exc:
        print(f"dnalib: error: {exc}", file=sys.stderr)
        return 1
    if ns.check:
        for line in lines:
            print(line)
        print(f"{len(lines)} Colab cop{'y' if len(lines) == 1 else 'ies'} to write again (make colab)"
              if lines else f"the Colab copies in {out}/ are up to date")
        return 1 if lines else 0
    print(f"wrote {len(lines)} Colab cop{'y' if len(lines) == 1 else 'ies'} to {out}/"
          + (f": {', '.join(lines)}" if lines else " (all were up to date)"))
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m dnalib.classroom [SRC] [OUT]`` (what ``make student`` runs),
    ``python -m dnalib.classroom colab [SRC] [OUT] [--check]`` (``make colab``), or
    ``python -m dnalib.classroom grade SUBMISSIONS [--chapters DIR] [--execute] [--csv FILE]``."""
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["grade"]:
        return _grade_main(args[1:])
    if args[:1] == ["colab"]:
        return _colab_main(args[1:])
    if len(args) > 2 or any(a in ("-h", "--help") for a in args):
        print("usage: python -m dnalib.classroom [SRC=notebooks] [OUT=student]\n"
              "       python -m dnalib.classroom colab [SRC=notebooks] [OUT=colab] [--check]\n"
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
