"""The Colab copies (``colab/``, ``make colab``): current with their chapters, plain Markdown
without solutions, opened by the site's Colab button and linked from the README.

Colab cannot load the MyST extension, so the chapters themselves would show there as raw MyST
with the solutions in plain sight. The copies are committed (Colab opens notebooks from GitHub):
a chapter edited without ``make colab`` fails :func:`test_every_colab_copy_is_current`.
"""

from __future__ import annotations

import json
import re
import runpy
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest
import yaml

from dnalib import classroom, colab
from dnalib.classroom import (
    ANSWER_TAG,
    CHECK_TAG,
    COLAB_DIR,
    COLAB_NOTE_ID,
    REFERENCES_CELL_ID,
    checked_exercises,
    colab_notebook,
    colab_url,
    exercise_labels,
    plain_markdown,
    solution_texts,
    student_notebook,
    write_colab_notebooks,
)
from dnalib.errors import DnalibError

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "notebooks").glob("*.ipynb"))
COPIES = ROOT / COLAB_DIR
REPOSITORY, BRANCH = colab.repository_of(ROOT / "_config.yml")

#: Text that only shows where MyST is not rendered (Colab renders none of it).
RAW_MYST = (":label:", ":class:", ":name:", "{func}`", "{mod}`", "{class}`", "{meth}`", "{doc}`",
            "{cite", "{term}`", "{download}`", "{ref}`", "{numref}`", "{glue", "```{", ":::{", "````")
_ROLE = re.compile(r"\{[a-z][\w:-]*\}`")
_TARGET = re.compile(r"^\s*\([\w:.-]+\)=\s*$", re.M)


def _copy(chapter: Path):
    return nbformat.read(COPIES / chapter.name, as_version=4)


def test_every_colab_copy_is_current():
    """Each committed copy is exactly what `make colab` writes from its chapter today."""
    assert sorted(p.name for p in COPIES.glob("*.ipynb")) == [p.name for p in CHAPTERS]
    problems = write_colab_notebooks(ROOT / "notebooks", COPIES, check=True)
    assert problems == [], "\n".join(problems) + "\nrun `make colab` and commit colab/"
    for chapter in CHAPTERS[:1]:  # the same, made by hand
        made = nbformat.writes(colab_notebook(nbformat.read(chapter, as_version=4), chapter))
        assert (COPIES / chapter.name).read_text(encoding="utf-8") == made + "\n"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_no_colab_copy_shows_raw_myst_or_a_solution(chapter):
    nb = nbformat.read(chapter, as_version=4)
    copy = _copy(chapter)
    for cell in copy.cells:
        if cell.cell_type != "markdown":
            continue
        raw = [r for r in RAW_MYST if r in cell.source]
        assert not raw and not _ROLE.search(cell.source) and not _TARGET.search(cell.source), (
            f"{chapter.name}: raw MyST {raw} in\n{cell.source[:400]}")

    def lines(text):
        return [ln.strip() for ln in text.splitlines() if len(ln.strip()) > 12
                and not ln.strip().startswith((":", "```", "#"))]

    # A line may appear in a solution and in the chapter's own text or code; the copy may keep
    # it only as often as it appears outside the solutions.
    solutions = solution_texts(nb)
    total = Counter(lines("\n".join(c.source for c in nb.cells)))
    in_solutions = Counter(ln for sol in solutions for ln in lines(sol))
    in_copy = Counter(lines("\n".join(c.source for c in copy.cells)))
    leaked = [ln for ln in in_solutions if in_copy[ln] > total[ln] - in_solutions[ln]]
    assert not leaked, f"{chapter.name}: solution lines in the Colab copy: {leaked[:3]}"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_a_colab_copy_is_the_student_copy_with_a_note_and_links(chapter, tmp_path):
    """Exercise, answer cell, check cell in order; the same code as the student copy, the
    set-up cell first; outputs stripped (the pre-commit hook changes nothing)."""
    nb = nbformat.read(chapter, as_version=4)
    copy = _copy(chapter)
    student = student_notebook(nb, references=ROOT / "book" / "references.bib")
    code = [(c.source, c.metadata.get("tags", [])) for c in copy.cells if c.cell_type == "code"]
    assert code == [(c.source, c.metadata.get("tags", [])) for c in student.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in copy.cells if c.cell_type == "code")
    first = next(c for c in copy.cells if c.cell_type == "code")
    assert colab.setup_cell_problems(copy, REPOSITORY, BRANCH) == []
    assert first.metadata["cellView"] == "form" and first.id == colab.SETUP_CELL_ID
    assert [c.id for c in copy.cells if c.cell_type == "markdown"][1] == COLAB_NOTE_ID
    starts = [i for i, c in enumerate(copy.cells) if c.source.startswith("### Exercise ")]
    labels, checked = exercise_labels(nb), checked_exercises(nb)
    assert len(starts) == len(labels) >= 3
    for n, (i, label) in enumerate(zip(starts, labels, strict=True), start=1):
        assert copy.cells[i].source.startswith(f"### Exercise {n} (")
        assert ANSWER_TAG in copy.cells[i + 1].metadata.get("tags", [])
        if label in checked:
            assert CHECK_TAG in copy.cells[i + 2].metadata.get("tags", [])
            assert f'exercise="{label}"' in copy.cells[i + 2].source
    strip = runpy.run_path(str(ROOT / ".ci" / "strip_notebooks.py"))["strip"]
    text = (COPIES / chapter.name).read_text(encoding="utf-8")
    scratch = tmp_path / chapter.name
    scratch.write_text(text, encoding="utf-8")
    assert strip(scratch) is False, "the pre-commit hook would change the committed copy"


def test_citations_read_as_author_and_year_with_the_references_at_the_end():
    copy = _copy(ROOT / "notebooks" / "02_kmer_baselines.ipynb")
    text = "\n".join(c.source for c in copy.cells)
    assert "(the protocol of DNABERT-S (Zhou et al., 2025))" in text
    assert "(Refahi et al., 2025; Refahi et al., 2023)" in text
    last = copy.cells[-1]
    assert last.id == REFERENCES_CELL_ID and last.source.startswith("#### References")
    assert "- **Zhou et al., 2025.** Zhihan Zhou" in last.source
    assert "*Communications Biology*" in last.source
    assert "zhou2025dnaberts" not in text


def test_links_open_the_other_copies_and_the_repository():
    chapter8 = "\n".join(c.source for c in _copy(ROOT / "notebooks" / "08_benchmarks.ipynb").cells)
    assert f"[chapter 9]({colab_url(REPOSITORY, BRANCH, 'colab/09_real_genomes.ipynb')})" in chapter8
    chapter6 = "\n".join(c.source for c in _copy(ROOT / "notebooks" / "06_mimix_curriculum.ipynb").cells)
    assert f"[the set-up page]({REPOSITORY}/blob/{BRANCH}/book/setup.md)" in chapter6
    assert (f"[`benchmarks/bench_contrastive.py`]({REPOSITORY}/blob/{BRANCH}/"
            "benchmarks/bench_contrastive.py)") in chapter6
    for url in re.findall(r"\]\((https://[^)\s]+)\)", chapter6 + chapter8):
        if url.startswith(f"{REPOSITORY}/blob/{BRANCH}/"):
            assert (ROOT / url.split(f"/blob/{BRANCH}/", 1)[1]).is_file(), url
        elif url.startswith("https://colab.research.google.com/"):
            assert (ROOT / url.split(f"/blob/{BRANCH}/", 1)[1]).is_file(), url


def test_plain_markdown_links_and_narrative_citations():
    refs = {"zhou2025dnaberts": "Zhou et al., 2025"}

    def links(role, target):
        return {"../book/setup": "https://x/setup.md", "a.py": "https://x/a.py"}.get(target)

    text = plain_markdown("{doc}`the set-up page <../book/setup>`, {doc}`other`, "
                          "{download}`a.py`, {download}`b.py`, {cite:t}`zhou2025dnaberts`, "
                          "{cite:t}`nokey`", refs, links=links)
    assert text == ("[the set-up page](https://x/setup.md), *other*, [`a.py`](https://x/a.py), "
                    "`b.py`, Zhou et al. (2025), nokey")


def test_a_reference_cited_only_in_a_solution_is_not_listed(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# T\n\nText {cite}`zhou2025dnaberts`.\n\n"
                                              "```{exercise} E\n:label: ex-e\nDo.\n```\n\n"
                                              "````{solution} ex-e\nAs {cite}`chen2020simclr`.\n````")]
    copy = student_notebook(nb, references=ROOT / "book" / "references.bib")
    assert copy.cells[-1].id == REFERENCES_CELL_ID
    assert "Zhou et al., 2025" in copy.cells[-1].source and "Chen" not in copy.cells[-1].source


def _book(tmp_path: Path) -> Path:
    """A throwaway book root: _config.yml, the bibliography and two chapters."""
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "references.bib").write_bytes((ROOT / "book" / "references.bib").read_bytes())
    (tmp_path / "_config.yml").write_text("title: T\nrepository:\n  url: https://github.com/o/r\n"
                                          "  branch: teach\n")
    (tmp_path / "notebooks").mkdir()
    for chapter in CHAPTERS[:2]:
        (tmp_path / "notebooks" / chapter.name).write_bytes(chapter.read_bytes())
    return tmp_path


def test_make_colab_writes_checks_and_never_replaces_a_foreign_file(tmp_path, capsys):
    root = _book(tmp_path)
    src, out = root / "notebooks", root / "colab"
    assert classroom.main(["colab", str(src), "--check"]) == 1
    assert "missing" in capsys.readouterr().out
    assert write_colab_notebooks(src) == [c.name for c in CHAPTERS[:2]]
    assert write_colab_notebooks(src, check=True) == []
    mtime = (out / CHAPTERS[0].name).stat().st_mtime_ns
    assert write_colab_notebooks(src) == [], "an unchanged copy is not rewritten"
    assert (out / CHAPTERS[0].name).stat().st_mtime_ns == mtime
    copy = nbformat.read(out / CHAPTERS[0].name, as_version=4)
    assert "github.com/o/r.git@teach" in next(c for c in copy.cells if c.cell_type == "code").source
    # A chapter edited without `make colab`: the check names it, `make colab` mends it.
    raw = json.loads((src / CHAPTERS[0].name).read_text())
    raw["cells"][0]["source"] = ["# A new title\n"] + raw["cells"][0]["source"][1:]
    (src / CHAPTERS[0].name).write_text(json.dumps(raw, indent=1))
    problems = write_colab_notebooks(src, check=True)
    assert len(problems) == 1 and "out of date" in problems[0] and CHAPTERS[0].name in problems[0]
    assert classroom.main(["colab", str(src)]) == 0
    assert "# A new title" in (out / CHAPTERS[0].name).read_text()
    # A chapter that is gone: its copy is reported, not removed.
    (src / CHAPTERS[1].name).unlink()
    assert any("is gone" in p for p in write_colab_notebooks(src, check=True))
    assert (out / CHAPTERS[1].name).exists()
    # A file of a chapter's name that make colab did not write is never replaced.
    (src / CHAPTERS[1].name).write_bytes(CHAPTERS[1].read_bytes())
    (out / CHAPTERS[1].name).write_text("my own notes")
    capsys.readouterr()
    assert classroom.main(["colab", str(src)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("dnalib: error:") and "not written by make colab" in err and err.count("\n") == 1
    assert (out / CHAPTERS[1].name).read_text() == "my own notes"


def test_bad_colab_invocations_are_one_line_errors(tmp_path, capsys):
    root = _book(tmp_path)
    for args, says in (([str(root / "nowhere")], "is not a folder"),
                       ([str(root / "notebooks"), str(root / "notebooks" / "x")], "chapters' folder"),
                       ([str(root / "book")], "no notebooks")):
        assert classroom.main(["colab", *args]) == 1
        err = capsys.readouterr().err
        assert says in err and err.count("\n") == 1, err
    (root / "book" / "references.bib").unlink()
    assert classroom.main(["colab", str(root / "notebooks")]) == 1
    assert "references.bib" in capsys.readouterr().err
    with pytest.raises(DnalibError, match="GitHub only"):
        colab_url("https://gitlab.com/o/r", "main", "colab/a.ipynb")
    assert colab_url("https://github.com/o/r.git", "main", "colab/a.ipynb") == (
        "https://colab.research.google.com/github/o/r/blob/main/colab/a.ipynb")


# -- where students find the copies: the site's Colab button, the README, the set-up page ---------

def _launch_buttons(pagename: str, source: Path) -> list[dict]:
    """The launch buttons of a page, as sphinx-book-theme makes them from the real _config.yml
    and as book/_ext/dnalib_site.py then changes them."""
    launch = pytest.importorskip("sphinx_book_theme.header_buttons.launch")
    from jupyter_book.config import yaml_to_sphinx

    site = runpy.run_path(str(ROOT / "book" / "_ext" / "dnalib_site.py"))
    theme = yaml_to_sphinx(yaml.safe_load((ROOT / "_config.yml").read_text()))[0]["html_theme_options"]
    app = SimpleNamespace(config={"html_theme_options": theme}, srcdir=str(ROOT), outdir="/nonexistent",
                          env=SimpleNamespace(doc2path=lambda name: str(source),
                                              metadata={pagename: {"kernelspec": {"name": "python3"}}}))
    owner, repo = REPOSITORY.rstrip("/").split("/")[-2:]
    context = {"pagename": pagename, "sourcename": source.name, "header_buttons": [],
               "github_url": "https://github.com", "github_user": owner, "github_repo": repo}
    launch.add_launch_buttons(app, pagename, "page.html", context, None)
    site["colab_copies"](app, pagename, "page.html", context, None)
    return [b for g in context["header_buttons"] if g.get("label") == "launch-buttons" for b in g["buttons"]]


@pytest.mark.parametrize("chapter", [CHAPTERS[0], CHAPTERS[-1]], ids=lambda p: p.stem)
def test_the_sites_colab_button_opens_the_colab_copy(chapter):
    buttons = {b["text"]: b["url"] for b in _launch_buttons(f"notebooks/{chapter.stem}", chapter)}
    assert buttons["Colab"] == colab_url(REPOSITORY, BRANCH, f"{COLAB_DIR}/{chapter.name}")
    assert buttons["Binder"].endswith(f"urlpath=lab/tree/notebooks/{chapter.name}"), "Binder unchanged"


def test_a_page_without_a_colab_copy_has_no_colab_button():
    page = ROOT / "book" / "instructors.ipynb"
    buttons = [b["text"] for b in _launch_buttons("book/instructors", page)]
    assert "Colab" not in buttons and "Binder" in buttons


def test_the_colab_copies_are_not_pages_of_the_site():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert COLAB_DIR in config["exclude_patterns"]
    assert COLAB_DIR not in (ROOT / "_toc.yml").read_text()


def test_the_readme_and_the_set_up_page_link_the_colab_copies():
    readme = (ROOT / "README.md").read_text()
    setup = (ROOT / "book" / "setup.md").read_text()
    prefix = colab_url(REPOSITORY, BRANCH, f"{COLAB_DIR}/")
    for page, text in (("README.md", readme), ("book/setup.md", setup)):
        urls = re.findall(r"https://colab\.research\.google\.com/[^)\s>`]+", text)
        assert urls, f"{page} links no Colab copy"
        for url in urls:
            assert url.startswith(prefix) and (COPIES / url.removeprefix(prefix)).is_file(), (page, url)
    linked = set(re.findall(re.escape(prefix) + r"([\w.-]+\.ipynb)", readme))
    assert linked == {c.name for c in CHAPTERS}, "the README links every chapter's Colab copy"
