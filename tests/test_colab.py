"""The set-up cell of every chapter: there, right, a no-op where dnalib is installed, and an
install without --upgrade where it is not (the real install: tests/test_install.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from dnalib import colab
from dnalib.classroom import student_notebook
from dnalib.errors import DnalibError

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_every_chapter_starts_with_the_set_up_cell_for_the_launch_buttons_branch():
    assert colab.write_setup_cells(ROOT / "notebooks", ROOT / "_config.yml", check=True) == []
    url, ref = colab.repository_of(ROOT / "_config.yml")
    assert colab.install_source(url, ref) == (
        "git+https://github.com/dnalib-book/species-aware-dna-embeddings.git@main")
    for path in CHAPTERS:
        nb = nbformat.read(path, as_version=4)
        first = next(c for c in nb.cells if c.cell_type == "code")
        assert first.id == colab.SETUP_CELL_ID
        assert "hide-cell" in first.metadata["tags"], "collapsed on the site"
        assert first.metadata["cellView"] == "form", "collapsed on Colab"
        assert first.outputs == []


@pytest.mark.parametrize("chapter", CHAPTERS[:1], ids=lambda p: p.stem)
def test_student_copies_keep_the_set_up_cell(chapter):
    student = student_notebook(nbformat.read(chapter, as_version=4))
    first = next(c for c in student.cells if c.cell_type == "code")
    assert first.id == colab.SETUP_CELL_ID and "hide-cell" in first.metadata["tags"]


def _run_cell(monkeypatch, *, installed: bool) -> list[list[str]]:
    """Execute the set-up cell's code with pip replaced by a recorder."""
    import importlib.util

    calls: list[list[str]] = []
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: (real_find_spec(name, *a) if installed or name != "dnalib"
                                          else None))
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: calls.append(cmd))
    monkeypatch.delenv("DNALIB_INSTALL_SOURCE", raising=False)
    exec(compile(colab.setup_cell_source("https://github.com/o/r", "main"), "setup", "exec"), {})
    return calls


def test_the_cell_does_nothing_where_dnalib_is_installed(monkeypatch):
    assert _run_cell(monkeypatch, installed=True) == []


def test_the_cell_installs_without_upgrading_what_is_installed(monkeypatch):
    calls = _run_cell(monkeypatch, installed=False)
    assert calls == [[sys.executable, "-m", "pip", "install", "--quiet",
                      "dnalib @ git+https://github.com/o/r.git@main"]]
    assert not any(a.startswith(("-U", "--upgrade", "--force")) for a in calls[0])


def test_writing_the_cell_keeps_the_other_cells_byte_for_byte(tmp_path):
    (tmp_path / "_config.yml").write_text(
        "repository:\n  url: https://github.com/o/r\n  branch: teach\n")
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    src = (ROOT / "notebooks" / CHAPTERS[0].name).read_text()
    raw = json.loads(src)
    raw["cells"] = [c for c in raw["cells"] if c.get("id") != colab.SETUP_CELL_ID]
    (nbs / "a.ipynb").write_text(json.dumps(raw, indent=1, ensure_ascii=False) + "\n")
    assert colab.write_setup_cells(nbs, tmp_path / "_config.yml", check=True)
    assert colab.write_setup_cells(nbs, tmp_path / "_config.yml") == ["a.ipynb"]
    assert colab.write_setup_cells(nbs, tmp_path / "_config.yml", check=True) == []
    new = json.loads((nbs / "a.ipynb").read_text())
    assert [c for c in new["cells"] if c.get("id") != colab.SETUP_CELL_ID] == raw["cells"]
    assert "r.git@teach" in "".join(next(c for c in new["cells"]
                                         if c.get("id") == colab.SETUP_CELL_ID)["source"])
    # a second write replaces the cell instead of adding one
    (tmp_path / "_config.yml").write_text("repository:\n  url: https://github.com/o/r\n")
    colab.write_setup_cells(nbs, tmp_path / "_config.yml")
    new = json.loads((nbs / "a.ipynb").read_text())
    assert sum(c.get("id") == colab.SETUP_CELL_ID for c in new["cells"]) == 1


@pytest.mark.parametrize("url, ref", [("git@github.com:o/r", "main"), ("https://github.com/o/r", "a b"),
                                      ("https://github.com/o/r; rm -rf /", "main")])
def test_bad_repository_settings_are_one_line_errors(url, ref):
    with pytest.raises(DnalibError, match="_config.yml"):
        colab.install_source(url, ref)


def test_the_command_checks_and_reports(tmp_path, capsys):
    assert colab.main([str(ROOT / "notebooks"), "--check"]) == 0
    assert colab.main([str(tmp_path / "none")]) == 1
    assert "error:" in capsys.readouterr().err
