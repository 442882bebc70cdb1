"""The set-up cell at the top of every chapter: Colab (or any kernel without dnalib) installs it.

A reader who opens a chapter from the Colab launch button gets a runtime with
torch, transformers, numpy and friends but without ``dnalib``. The first code
cell of every chapter, written by :func:`write_setup_cells`, installs the
book's package there from the branch the launch buttons open (the
``repository`` section of ``_config.yml``), so the notebook and the package
come from the same commit of the same branch. pip runs without ``--upgrade``:
packages already installed in a version ``pyproject.toml`` admits (the
runtime's own torch, transformers, numpy, ...) are kept, and the kernel goes
on without a restart. Where ``dnalib`` is importable (``make lab``, Binder,
the book build, a student's ``.venv``) the cell does nothing.

The cell carries the ``hide-cell`` tag (collapsed on the site), Colab's form
view and JupyterLab's hidden-source flag; ``make student`` keeps it. The
environment variable ``DNALIB_INSTALL_SOURCE`` replaces the install source
(a ``file://`` URL of a checkout; tests use it).

``python -m dnalib.colab [NOTEBOOKS] [--check]`` writes (or checks) the cell
in every chapter.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from dnalib.errors import DnalibError

__all__ = ["SETUP_CELL_ID", "SETUP_TAGS", "install_source", "repository_of", "setup_cell",
           "setup_cell_source", "setup_cell_problems", "write_setup_cells", "main"]

#: The id of the set-up cell in every chapter notebook.
SETUP_CELL_ID = "dnalib-setup"
#: Cell tags of the set-up cell (Jupyter Book collapses ``hide-cell`` cells).
SETUP_TAGS = ("hide-cell", "dnalib-setup")

_TEMPLATE = '''\
# @title Set-up: installs the book's package on Colab (does nothing where dnalib is installed)
# On Colab, or any kernel without dnalib, this installs dnalib from the branch this notebook
# comes from. Packages already installed in a version dnalib supports (torch, transformers,
# numpy, ...) are kept, so no restart is needed. Locally (make lab, Binder, the book build)
# dnalib is installed already and this cell does nothing.
import importlib.util
import os
import subprocess
import sys

if importlib.util.find_spec("dnalib") is None:
    _source = os.environ.get("DNALIB_INSTALL_SOURCE",
                             "{source}")
    _loaded = {{m: sys.modules[m].__version__ for m in ("numpy", "torch", "transformers")
               if m in sys.modules}}
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", f"dnalib @ {{_source}}"],
                   check=True)
    importlib.invalidate_caches()
    from importlib.metadata import version

    if any(version(m) != v for m, v in _loaded.items()):
        print("pip replaced a package this kernel already uses: restart the runtime, run all again")
'''


def install_source(url: str, ref: str) -> str:
    """The pip source of the book's package: the git URL of *url* at branch or tag *ref*.

    Parameters
    ----------
    url : str
        The repository, ``https://github.com/OWNER/NAME`` (``.git`` optional).
    ref : str
        A branch, tag or commit.

    Returns
    -------
    str
        ``git+https://github.com/OWNER/NAME.git@REF``.
    """
    if not re.fullmatch(r"https://[\w.-]+/[\w.-]+/[\w.-]+?(\.git)?/?", url):
        raise DnalibError(f"repository url {url!r} is not https://HOST/OWNER/NAME: fix _config.yml")
    if not re.fullmatch(r"[\w./-]+", ref):
        raise DnalibError(f"branch {ref!r} is not a git ref: fix _config.yml")
    base = url.rstrip("/").removesuffix(".git")
    return f"git+{base}.git@{ref}"


def repository_of(config: str | Path = "_config.yml") -> tuple[str, str]:
    """The repository URL and branch that the book's launch buttons open (``_config.yml``).

    Returns
    -------
    tuple of str
        ``(url, branch)``; the branch defaults to ``main`` as in Jupyter Book.
    """
    import yaml

    path = Path(config)
    if not path.is_file():
        raise DnalibError(f"no {path}: give the book's _config.yml")
    repo = (yaml.safe_load(path.read_text()) or {}).get("repository") or {}
    if not repo.get("url"):
        raise DnalibError(f"{path} has no repository url: launch buttons need one")
    return str(repo["url"]), str(repo.get("branch") or "main")


def setup_cell_source(url: str, ref: str) -> str:
    """The code of the set-up cell for the repository *url* at *ref* (see :func:`install_source`)."""
    return _TEMPLATE.format(source=install_source(url, ref)).rstrip("\n")


def setup_cell(url: str, ref: str) -> Any:
    """The set-up cell: its code, tags, Colab's form view and a hidden source in JupyterLab."""
    import nbformat

    cell = nbformat.v4.new_code_cell(setup_cell_source(url, ref))
    cell.id = SETUP_CELL_ID
    cell.metadata = {"tags": list(SETUP_TAGS), "cellView": "form",
                     "jupyter": {"source_hidden": True}}
    return cell


def _first_code_index(nb: Any) -> int | None:
    return next((i for i, c in enumerate(nb.cells) if c.cell_type == "code"), None)


def setup_cell_problems(nb: Any, url: str, ref: str) -> list[str]:
    """What is wrong with a chapter's set-up cell (an empty list when it is right).

    The first code cell must be the set-up cell for *url* at *ref*, with its tags.
    """
    i = _first_code_index(nb)
    if i is None:
        return ["no code cell"]
    cell = nb.cells[i]
    problems = []
    if cell.source != setup_cell_source(url, ref):
        problems.append("the first code cell is not the set-up cell for "
                        f"{install_source(url, ref)} (run python -m dnalib.colab)")
    tags = cell.get("metadata", {}).get("tags", [])
    problems += [f"the set-up cell lacks the tag {t!r}" for t in SETUP_TAGS if t not in tags]
    return problems


def write_setup_cells(notebooks: str | Path = "notebooks", config: str | Path = "_config.yml",
                      *, check: bool = False) -> list[str]:
    """Write (or with *check*, only check) the set-up cell of every chapter in *notebooks*.

    A chapter whose first code cell carries the ``dnalib-setup`` tag has it
    replaced; any other gets the cell inserted before its first code cell.

    Returns
    -------
    list of str
        With *check*: one line per chapter whose cell is missing or stale.
        Otherwise: the chapters changed.
    """
    import json

    import nbformat

    url, ref = repository_of(config)
    paths = sorted(Path(notebooks).glob("*.ipynb"))
    if not paths:
        raise DnalibError(f"no notebooks in {notebooks}: give the folder of the chapter notebooks")
    out = []
    for path in paths:
        text = path.read_text()
        problems = setup_cell_problems(nbformat.reads(text, as_version=4), url, ref)
        if not problems:
            continue
        if check:
            out += [f"{path.name}: {p}" for p in problems]
            continue
        # Edit the JSON itself, keeping every other cell byte for byte (key order included), so
        # that the change merges cleanly with edits to the chapter's other cells.
        raw = json.loads(text)
        cells = raw["cells"]
        i = next((k for k, c in enumerate(cells) if c["cell_type"] == "code"), len(cells))
        if i < len(cells) and SETUP_TAGS[1] in cells[i].get("metadata", {}).get("tags", []):
            del cells[i]
        cell = dict(setup_cell(url, ref))
        cell["source"] = cell["source"].splitlines(keepends=True)
        cells.insert(i, json.loads(json.dumps(cell, sort_keys=True)))
        new_text = json.dumps(raw, indent=1, ensure_ascii=False) + "\n"
        nbformat.validate(nbformat.reads(new_text, as_version=4))
        path.write_text(new_text)
        out.append(path.name)
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m dnalib.colab [NOTEBOOKS=notebooks] [--check]``."""
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    check = "--check" in args
    args = [a for a in args if a != "--check"]
    if len(args) > 1 or any(a.startswith("-") for a in args):
        print("usage: python -m dnalib.colab [NOTEBOOKS=notebooks] [--check]", file=sys.stderr)
        return 2
    folder = Path(args[0] if args else "notebooks")
    try:
        lines = write_setup_cells(folder, folder.parent / "_config.yml", check=check)
    except DnalibError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if check:
        for line in lines:
            print(line)
        return 1 if lines else 0
    print(f"set-up cell written in {len(lines)} notebook(s)" + (f": {', '.join(lines)}" if lines else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
