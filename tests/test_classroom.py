"""Student notebooks: no solution leaks, a place to work after every exercise,
and each student copy still runs up to its first exercise."""

from __future__ import annotations

import ast
import os
import re
import subprocess
from pathlib import Path

import nbformat
import pytest

from dnalib.classroom import (
    ANSWER_TAG,
    exercise_labels,
    plain_markdown,
    solution_texts,
    student_notebook,
    write_student_notebooks,
)
from dnalib.errors import DnalibError

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "notebooks").glob("*.ipynb"))

SECRET = "the_secret_answer = 6 * 7"


def _nb(*cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells)
    return nb


def _md(text):
    return nbformat.v4.new_markdown_cell(text)


def _code(text, tags=()):
    cell = nbformat.v4.new_code_cell(text)
    if tags:
        cell.metadata["tags"] = list(tags)
    cell.outputs = [nbformat.v4.new_output("stream", text="42\n")]
    cell.execution_count = 3
    return cell


def test_solutions_of_every_form_are_removed_and_answer_cells_added():
    nb = _nb(
        _md("# Chapter\n\nText."),
        _code("x = 1"),
        _md("## Exercises\n\n````{exercise} First\n:label: ex-a\n\nCompute it.\n````\n\n"
            "````{solution} ex-a\n:class: dropdown\n\n```python\n" + SECRET + "\n```\n\nBecause.\n````\n\n"
            ":::{exercise} Second\n:label: ex-b\nAgain.\n:::\n\n:::{solution} ex-b\nSECOND SECRET\n:::"),
        _code("print('solution code')  # SOLUTION CELL", tags=["solution"]),
        _md("```{solution-start} ex-b\n```"),
        _code("gated = 'GATED SECRET'"),
        _md("```{solution-end}\n```"),
        _md("Closing words."),
    )
    student = student_notebook(nb)
    text = "\n".join(c.source for c in student.cells)
    for secret in (SECRET, "SECOND SECRET", "SOLUTION CELL", "GATED SECRET", "{solution"):
        assert secret not in text
    assert "Compute it." in text and "Again." in text and "Closing words." in text
    answers = [c for c in student.cells if ANSWER_TAG in c.metadata.get("tags", [])]
    assert [c.source.splitlines()[0] for c in answers] == [
        "# Exercise 1 (ex-a): your answer here", "# Exercise 2 (ex-b): your answer here"]
    headings = [c.source.splitlines()[0] for c in student.cells if c.source.startswith("### ")]
    assert headings == ["### Exercise 1 (First)", "### Exercise 2 (Second)"]
    code = [c for c in student.cells if c.cell_type == "code" and c not in answers]
    assert [c.source for c in code] == ["x = 1"] and code[0].outputs == []
    assert exercise_labels(nb) == ["ex-a", "ex-b"]
    assert len(solution_texts(nb)) == 4
    assert nb.cells[1].outputs, "the chapter itself is not modified"


def test_malformed_directives_are_reported():
    with pytest.raises(DnalibError, match="unclosed {solution}"):
        student_notebook(_nb(_md("````{solution} ex\nno end")))
    with pytest.raises(DnalibError, match="solution-start"):
        student_notebook(_nb(_md("```{solution-start} ex\n```"), _code("y = 2")))
    with pytest.raises(DnalibError, match="no notebooks"):
        write_student_notebooks(ROOT / "tests", ROOT / "nowhere")


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory):
    """The README's command, `make student`, into a temporary folder."""
    out = tmp_path_factory.mktemp("student")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    result = subprocess.run(["make", "-C", str(ROOT), "student", f"STUDENT_DIR={out}"],
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return out


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_every_chapter_has_exercises_and_no_solution_leaks(chapter, student_dir):
    nb = nbformat.read(chapter, as_version=4)
    labels = exercise_labels(nb)
    assert len(labels) >= 3, f"{chapter.name}: {len(labels)} exercises (at least 3)"
    solutions = solution_texts(nb)
    assert len(solutions) >= len(labels), f"{chapter.name}: an exercise has no solution"
    student = nbformat.read(student_dir / chapter.name, as_version=4)
    text = "\n".join(c.source for c in student.cells)
    assert "{solution" not in text
    # A line may appear in a solution and in the chapter's own code; the student
    # copy may keep it only as often as it appears outside the solutions.
    from collections import Counter

    def lines(t):
        return [ln.strip() for ln in t.splitlines() if len(ln.strip()) > 12
                and not ln.strip().startswith((":", "```", "#"))]

    total = Counter(lines("\n".join(c.source for c in nb.cells)))
    in_solutions = Counter(ln for sol in solutions for ln in lines(sol))
    in_student = Counter(lines(text))
    leaked = [ln for ln in in_solutions if in_student[ln] > total[ln] - in_solutions[ln]]
    assert not leaked, f"{chapter.name}: solution text in the student copy: {leaked[:2]}"
    answers = [c for c in student.cells if ANSWER_TAG in c.metadata.get("tags", [])]
    assert len(answers) == len(labels)


#: Chapters whose student copy is executed in the smoke profile. The others spend most of their
#: time before the first exercise on work that does not shrink with the profile (chapter 2: random
#: forests on 31k DAIRYdb fragments; 7: projections of the real genomes; 8: the kmcp15 evaluation;
#: 9: the real-genome scores and the label-free training),
#: minutes each on 2 cores; for them the test checks that the copy's code before its first exercise is
#: the chapter's own code, which the strict book build (tests/test_book_build.py) executes.
SMOKE_EXECUTED = ("01_dna_as_data", "03_tokenization", "04_mlm_pretraining",
                  "05_contrastive_simclr", "06_mimix_curriculum")


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_student_copy_runs_up_to_the_first_exercise(chapter, student_dir, tmp_path, monkeypatch):
    """The code before the first answer cell is the chapter's code before its first exercise;
    chapters of SMOKE_EXECUTED execute it with the smoke profile (the kernel inherits the
    environment; smoke models are cached apart from cpu ones)."""
    from nbclient import NotebookClient

    nb = nbformat.read(student_dir / chapter.name, as_version=4)
    first = next(i for i, c in enumerate(nb.cells) if ANSWER_TAG in c.metadata.get("tags", []))
    assert any(c.cell_type == "code" for c in nb.cells[:first])
    nb.cells = nb.cells[:first]
    source = nbformat.read(chapter, as_version=4)
    first_ex = next(i for i, c in enumerate(source.cells)
                    if c.cell_type == "markdown" and exercise_labels(_nb(c)))
    assert [c.source for c in nb.cells if c.cell_type == "code"] == [
        c.source for c in source.cells[:first_ex] if c.cell_type == "code"]
    if chapter.stem not in SMOKE_EXECUTED:
        return
    monkeypatch.setenv("DNALIB_PROFILE", "smoke")
    client = NotebookClient(nb, timeout=900, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT / "notebooks")}})
    client.execute()


# -- grading -----------------------------------------------------------------------------------

def test_every_chapter_checks_exercises_and_student_copies_keep_the_checks(student_dir):
    from dnalib.classroom import checked_exercises

    for chapter in CHAPTERS:
        nb = nbformat.read(chapter, as_version=4)
        checked = checked_exercises(nb)
        assert checked, f"{chapter.name}: no exercise is checked automatically"
        assert set(checked) <= set(exercise_labels(nb)), f"{chapter.name}: {checked}"
        # in the student copy, in the order of the exercises
        labels = exercise_labels(nb)
        assert checked_exercises(nbformat.read(student_dir / chapter.name, as_version=4)) == sorted(
            checked, key=labels.index)


def test_verdicts_are_read_from_saved_outputs():
    from dnalib.classroom import CHECK_TAG, notebook_verdicts
    from dnalib.exercises import OUTPUT_KEY

    def check_cell(label, status=None):
        cell = _code(f'exercises.check(answer, 4, exercise="{label}")', tags=[CHECK_TAG])
        cell.outputs = []
        if status:
            cell.outputs = [nbformat.v4.new_output(
                "display_data", data={"text/plain": "x"},
                metadata={OUTPUT_KEY: {"exercise": label, "status": status}})]
        return cell

    nb = _nb(_md("# C"), check_cell("ex-a", "passed"), check_cell("ex-b", "failed"), check_cell("ex-c"),
             _code('exercises.check(1, 1, exercise="ex-untagged")'))
    assert notebook_verdicts(nb) == {"ex-a": "passed", "ex-b": "failed", "ex-c": "not tried"}


def test_grading_a_missing_folder_is_a_one_line_error(tmp_path, capsys):
    from dnalib.classroom import main

    assert main(["grade", str(tmp_path / "nobody")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("dnalib: error: no student folders") and err.count("\n") == 1


def _answer(nb, label, line):
    """Put *line* in place of the first `... = ...` line of the check cell of *label*."""
    cell = next(c for c in nb.cells if f'exercise="{label}"' in c.source)
    lines = cell.source.split("\n")
    i = next(k for k, ln in enumerate(lines) if "= ..." in ln or ": ...," in ln)
    lines[i] = line
    cell.source = "\n".join(lines)


@pytest.mark.slow
def test_make_grade_tabulates_a_folder_of_submitted_student_copies(student_dir, tmp_path, monkeypatch):
    """Three students: alice runs chapters 1 and 3 (one right, one wrong, one right, one left),
    bob runs chapter 1 (one right), carol hands in chapter 1 without running it."""
    from nbclient import NotebookClient

    ch1, ch3 = "01_dna_as_data.ipynb", "03_tokenization.ipynb"
    subs = tmp_path / "submissions"
    plan = {
        "alice": {ch1: {"ex-01-fragments": "answer = len(sequences.sample_fragments("
                        "community.genomes[community.ids[0]], 10_000, 10**6, seed=0, allow_fewer=True))",
                        "ex-01-clean": "answer = 99"},
                  ch3: {"ex-03-count": 'my_counts = {"overlapping 4-mers": 199, '
                        '"non-overlapping 4-mers": 52, "characters": 202}'}},
        "bob": {ch1: {"ex-01-clean": "answer = 3"}},
        "carol": {ch1: None},
    }
    monkeypatch.setenv("DNALIB_PROFILE", "smoke")
    for student, chapters in plan.items():
        (subs / student).mkdir(parents=True)
        for name, answers in chapters.items():
            nb = nbformat.read(student_dir / name, as_version=4)
            if answers is not None:
                for label, line in answers.items():
                    _answer(nb, label, line)
                NotebookClient(nb, timeout=900, kernel_name="python3", allow_errors=True,
                               resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
            nbformat.write(nb, subs / student / f"{student}-{name}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    result = subprocess.run(["make", "-s", "-C", str(ROOT), "grade", f"SUBMISSIONS={subs}"],
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    header = lines[0].split()
    rows = {ln.split()[0]: ln for ln in lines[2:]}
    assert header[:4] == ["ex-01-fragments", "ex-01-clean", "ex-02-canonical", "ex-03-count"]
    assert header[-1] == "passed" and len(header) == 13 + 1  # thirteen checked exercises in all
    assert set(rows) == {"alice", "bob", "carol"}
    cells = {s: [w for w in row.split()[1:-1] if w != "tried"] for s, row in rows.items()}
    assert cells["alice"][:4] == ["passed", "failed", "not", "passed"]
    assert cells["bob"][:2] == ["not", "passed"]
    assert set(cells["carol"]) == {"not"}
    assert [row.split()[-1] for row in (rows["alice"], rows["bob"], rows["carol"])] == ["2", "1", "0"]


# -- student copies as students meet them: plain Markdown, exercise by exercise ------------------

_RAW_MYST = re.compile(r"\{[a-z][\w:-]*\}`|^\s*:(label|class|name|nonumber):|^\s*(`{3,}|:{3,})\{", re.M)


def test_plain_markdown_renders_without_myst():
    refs = {"zhou2025dnaberts": "Zhou et al. 2025", "a2020": "A 2020"}
    text = plain_markdown(
        "(sec-x)=\n% a comment\nSee {func}`dnalib.sequences.clean`, {func}`~dnalib.io.read_fasta`,\n"
        "{mod}`dnalib.kmers`, {class}`dnalib.viz.Explorer`, {doc}`the set-up page <../book/setup>`,\n"
        "{term}`k-mer <K-mer>`, {cite}`zhou2025dnaberts` and {cite:p}`zhou2025dnaberts,a2020`,\n"
        "{download}`bench.py <../benchmarks/bench.py>`, $4^k$ and `{func}` in code.\n\n"
        "```{admonition} Running this notebook\n:class: tip\n\nIn JupyterLab: `make lab`.\n```\n\n"
        ":::{note}\nA note with {mod}`dnalib.io`.\n:::\n\n```python\nx = 1  # {func}`kept`\n```",
        refs)
    assert "`dnalib.sequences.clean()`" in text and "`read_fasta()`" in text
    assert "`dnalib.kmers`" in text and "`dnalib.viz.Explorer`" in text
    assert "the set-up page" in text and "k-mer," in text and "`bench.py`" in text
    assert "(Zhou et al. 2025)" in text and "(Zhou et al. 2025; A 2020)" in text
    assert "> **Running this notebook**" in text and "> In JupyterLab: `make lab`." in text
    assert "> **Note**" in text and "> A note with `dnalib.io`." in text
    assert "`{func}` in code" in text and "x = 1  # {func}`kept`" in text and "$4^k$" in text
    assert "(sec-x)=" not in text and "% a comment" not in text
    assert not _RAW_MYST.search(text.replace("`{func}`", "").replace("{func}`kept`", ""))


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_student_copies_are_plain_markdown_exercise_answer_check_in_order(chapter, student_dir):
    """Each exercise: a titled plain-Markdown cell, then its answer cell, then its check cell(s)."""
    from dnalib.classroom import CHECK_TAG, checked_exercises

    nb = nbformat.read(chapter, as_version=4)
    labels = exercise_labels(nb)
    checked = checked_exercises(nb)
    student = nbformat.read(student_dir / chapter.name, as_version=4)
    for cell in student.cells:
        if cell.cell_type == "markdown":
            assert not _RAW_MYST.search(cell.source), f"{chapter.name}: raw MyST in\n{cell.source[:400]}"
    cells = student.cells
    starts = [i for i, c in enumerate(cells)
              if c.cell_type == "markdown" and c.source.startswith("### Exercise ")]
    assert len(starts) == len(labels)
    titles = [t.strip() for md in nb.cells if md.cell_type == "markdown"
              for t in re.findall(r"^(?:`{3,}|:{3,})\{exercise\}(.*)$", md.source, re.M)]
    for n, (i, label, title) in enumerate(zip(starts, labels, titles, strict=True), start=1):
        assert cells[i].source.splitlines()[0] == f"### Exercise {n} ({plain_markdown(title)})"
        answer = cells[i + 1]
        assert ANSWER_TAG in answer.metadata.get("tags", []) and f"({label})" in answer.source
        if label in checked:
            check = cells[i + 2]
            assert CHECK_TAG in check.metadata.get("tags", []) and f'exercise="{label}"' in check.source
            assert check.outputs == []
    tagged = [c for c in cells if CHECK_TAG in c.metadata.get("tags", [])]
    assert len(tagged) == len(checked)


# -- checks never leak ---------------------------------------------------------------------------

def _top_level_calls(tree: ast.Module) -> list[str]:
    """Calls a check cell makes outside the functions and lambdas it hands to check()."""
    calls = []

    class Visitor(ast.NodeVisitor):
        def visit_FunctionDef(self, node):  # noqa: N802 - ast's names
            pass

        def visit_Lambda(self, node):  # noqa: N802
            pass

        def visit_Call(self, node):  # noqa: N802
            calls.append(ast.unparse(node.func))
            self.generic_visit(node)

    Visitor().visit(tree)
    return calls


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_check_cells_compute_the_expected_value_only_inside_check(chapter):
    """Anything a check cell computes may print or warn (and so show the answer): all of it is a
    function handed to exercises.check, which captures what it says. The cell itself only assigns
    the empty answer and calls check."""
    from dnalib.classroom import CHECK_TAG

    for cell in nbformat.read(chapter, as_version=4).cells:
        if CHECK_TAG not in cell.metadata.get("tags", []):
            continue
        tree = ast.parse(cell.source)
        assert _top_level_calls(tree) == ["exercises.check"], cell.source
        call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call))
        expected = call.args[1]
        assert isinstance(expected, (ast.Lambda, ast.Name)), "give check() a function: " + cell.source
        if isinstance(expected, ast.Name):
            assert any(isinstance(n, ast.FunctionDef) and n.name == expected.id for n in tree.body)


LEAK_PROBE = '''\
import dnalib.exercises as _exercises_probe
_expected_seen, _depth = [], [0]
_compare_probe = _exercises_probe.compare
def _recording_compare(answer, expected, **options):  # compare() calls itself for each key
    if not _depth[0]:
        _expected_seen.append(expected)
    _depth[0] += 1
    try:
        return _compare_probe(answer, expected, **options)
    finally:
        _depth[0] -= 1
_exercises_probe.compare = _recording_compare
'''


def _leaked(expected, text: str) -> list[str]:
    """The ways *expected* is written that occur in *text*."""
    values = list(expected.values()) if isinstance(expected, dict) else [expected]
    forms = {repr(expected)}
    for v in values:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            forms |= {repr(v), f"{v:g}", f"{v:.2f}", f"{v:.3f}"} if isinstance(v, float) else {str(v)}
    return [f for f in forms if re.search(rf"(?<![\w.]){re.escape(f)}(?![\w])", text)]


@pytest.mark.slow
@pytest.mark.parametrize("chapter", [c for c in CHAPTERS if c.stem in SMOKE_EXECUTED],
                         ids=lambda p: p.stem)
def test_every_check_on_an_empty_answer_says_no_answer_yet_and_nothing_else(chapter, student_dir,
                                                                            monkeypatch):
    """The student copy run whole (smoke profile), every answer still `...`: each check cell shows
    one output, the verdict "No answer yet", and nothing of the expected value."""
    import json as _json

    from nbclient import NotebookClient

    from dnalib.classroom import CHECK_TAG
    from dnalib.exercises import OUTPUT_KEY

    nb = nbformat.read(student_dir / chapter.name, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(LEAK_PROBE))
    nb.cells.append(nbformat.v4.new_code_cell(
        "import json; print(json.dumps([x.item() if hasattr(x, 'item') else x for x in "
        "_expected_seen], default=str))"))
    monkeypatch.setenv("DNALIB_PROFILE", "smoke")
    NotebookClient(nb, timeout=900, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    seen = _json.loads(nb.cells[-1].outputs[0]["text"])
    checks = [c for c in nb.cells if CHECK_TAG in c.metadata.get("tags", [])]
    assert len(seen) == len(checks) > 0
    for cell, expected in zip(checks, seen, strict=True):
        assert len(cell.outputs) == 1, f"{chapter.name}: a check said more than its verdict: {cell.outputs}"
        out = cell.outputs[0]
        assert out["output_type"] == "display_data"
        assert out["metadata"][OUTPUT_KEY]["status"] == "not tried"
        # what the student reads: the HTML's text (its style attributes hold numbers of their own)
        text = re.sub(r"<[^>]*>", " ", out["data"].get("text/html", "")) + " " + out["data"]["text/plain"]
        assert "No answer yet" in text
        assert not _leaked(expected, text), f"{chapter.name}: the check shows {_leaked(expected, text)}"


# -- faults: outputs that are inputs, damaged notebooks, half-written folders --------------------

def _chapters_copy(tmp_path, n=2):
    src = tmp_path / "chapters"
    src.mkdir()
    for path in CHAPTERS[:n]:
        (src / path.name).write_bytes(path.read_bytes())
    return src


def _snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_the_output_may_not_be_the_chapters_folder(tmp_path, capsys):
    from dnalib.classroom import main

    src = _chapters_copy(tmp_path)
    before = _snapshot(src)
    (tmp_path / "link").symlink_to(src)
    for out in (src, tmp_path / "link", src / "student", tmp_path, src / ".." / "chapters"):
        assert main([str(src), str(out)]) == 1, out
        err = capsys.readouterr().err
        assert err.startswith("dnalib: error: the output folder") and err.count("\n") == 1, err
    assert main([str(tmp_path / "link"), str(src)]) == 1
    assert _snapshot(src) == before and not (src / "student").exists()


def test_a_damaged_chapter_is_a_one_line_error_and_nothing_is_written(tmp_path, capsys):
    from dnalib.classroom import main

    src = _chapters_copy(tmp_path)
    path = sorted(src.glob("*.ipynb"))[1]
    path.write_bytes(path.read_bytes()[:5000])  # truncated
    assert main([str(src), str(tmp_path / "student")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"dnalib: error: {path} is not a readable notebook") and err.count("\n") == 1
    assert not (tmp_path / "student").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["chapters"], "no staging folder is left behind"


def test_rewriting_student_copies_keeps_foreign_files_and_refuses_changed_copies(tmp_path, capsys):
    from dnalib.classroom import MANIFEST, main

    src, out = _chapters_copy(tmp_path), tmp_path / "student"
    assert main([str(src), str(out)]) == 0
    first = _snapshot(out)
    assert set(first) == {Path(MANIFEST)} | {Path(p.name) for p in src.glob("*.ipynb")}
    (out / "notes.txt").write_text("mine")
    (out / ".ipynb_checkpoints").mkdir()
    (out / ".ipynb_checkpoints" / "x.ipynb").write_text("{}")
    assert main([str(src), str(out)]) == 0, capsys.readouterr().err
    assert (out / "notes.txt").read_text() == "mine" and (out / ".ipynb_checkpoints" / "x.ipynb").exists()
    # a copy a student worked in is never replaced
    work = sorted(out.glob("*.ipynb"))[0]
    work.write_text(work.read_text().replace("your answer here", "my answer: 42"))
    assert main([str(src), str(out)]) == 1
    err = capsys.readouterr().err
    assert "were changed since make student wrote them" in err and str(work) in err
    assert "my answer: 42" in work.read_text()
    # nor a notebook make student did not write
    work.unlink()
    (out / MANIFEST).unlink()
    (out / work.name).write_text("{}")
    assert main([str(src), str(out)]) == 1
    assert "were not written by make student" in capsys.readouterr().err
    assert (out / work.name).read_text() == "{}"
    # a chapter that is gone: its unchanged copy goes too
    for path in out.glob("*.ipynb"):
        path.unlink()
    assert main([str(src), str(out)]) == 0
    sorted(src.glob("*.ipynb"))[1].unlink()
    assert main([str(src), str(out)]) == 0
    assert sorted(p.name for p in out.glob("*.ipynb")) == [work.name]


@pytest.mark.parametrize("fault", ["write", "move"])
def test_a_failure_midway_leaves_the_student_folder_as_it_was(tmp_path, capsys, monkeypatch, fault):
    """Disk full while writing the copies, or a failure while moving them in: the folder keeps
    its old copies, whole, and no staging folder is left behind."""
    import errno

    from dnalib import classroom

    src, out = _chapters_copy(tmp_path), tmp_path / "student"
    assert classroom.main([str(src), str(out)]) == 0
    (out / "notes.txt").write_text("mine")
    before = _snapshot(out)
    for path in src.glob("*.ipynb"):  # new chapter text, so that a half-written folder would show
        path.write_text(path.read_text().replace("DNA", "RNA"))
    calls = []
    if fault == "write":
        real = Path.write_text

        def failing(self, *a, **k):
            calls.append(self)
            if len(calls) == 2:
                raise OSError(errno.ENOSPC, "No space left on device")
            return real(self, *a, **k)

        monkeypatch.setattr(Path, "write_text", failing)
    else:
        real_replace = os.replace

        def failing_replace(a, b):
            calls.append(b)
            if len(calls) == 4:
                raise OSError(errno.EIO, "Input/output error")
            return real_replace(a, b)

        monkeypatch.setattr(classroom.os, "replace", failing_replace)
    assert classroom.main([str(src), str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("dnalib: error: cannot") and err.count("\n") == 1, err
    monkeypatch.undo()
    assert _snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chapters", "student"]


# -- grading under faults ------------------------------------------------------------------------

def _submission(folder, name, verdicts):
    from dnalib.classroom import CHECK_TAG
    from dnalib.exercises import OUTPUT_KEY

    cells = []
    for label, status in verdicts.items():
        cell = nbformat.v4.new_code_cell(f'exercises.check(answer, 4, exercise="{label}")')
        cell.metadata["tags"] = [CHECK_TAG]
        cell.outputs = [nbformat.v4.new_output("display_data", data={"text/plain": "x"},
                                               metadata={OUTPUT_KEY: {"exercise": label, "status": status}})]
        cells.append(cell)
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(_nb(*cells), folder / name)


def test_a_damaged_submission_is_one_row_saying_what_was_wrong(tmp_path, capsys):
    from dnalib.classroom import PROBLEMS, grade, main

    subs = tmp_path / "subs"
    _submission(subs / "alice", "a.ipynb", {"ex-a": "passed", "ex-b": "failed"})
    _submission(subs / "bob", "a.ipynb", {"ex-a": "passed"})
    (subs / "bob" / "b.ipynb").write_text('{"cells": [{"cell_type": "co')  # truncated
    (subs / "carol").mkdir()
    (subs / "carol" / "a.ipynb").write_bytes(b"\x00\xff binary")
    table = grade(subs)
    assert list(table.index) == ["alice", "bob", "carol"]
    assert table.loc["bob", "ex-a"] == "passed" and table.loc["bob", "passed"] == 1
    assert table.loc["alice", PROBLEMS] == "" or table.loc["alice", PROBLEMS] != table.loc["alice", PROBLEMS]
    assert table.loc["bob", PROBLEMS].startswith("b.ipynb: not a readable notebook")
    assert table.loc["carol", PROBLEMS].startswith("a.ipynb: not a readable notebook")
    assert set(table.loc["carol", ["ex-a", "ex-b"]]) == {"not tried"}
    assert main(["grade", str(subs), "--csv", str(tmp_path / "grades.csv")]) == 0
    out = capsys.readouterr().out
    assert "not a readable notebook" in out
    assert "b.ipynb: not a readable notebook" in (tmp_path / "grades.csv").read_text()


def test_a_damaged_chapter_or_an_unwritable_csv_is_a_one_line_error(tmp_path, capsys, monkeypatch):
    import errno

    from dnalib import classroom

    subs = tmp_path / "subs"
    _submission(subs / "alice", "a.ipynb", {"ex-a": "passed"})
    chapters = _chapters_copy(tmp_path, n=1)
    (chapters / "09_broken.ipynb").write_text('{"cells": [')
    assert classroom.main(["grade", str(subs), "--chapters", str(chapters)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("dnalib: error: chapter") and "09_broken.ipynb" in err and err.count("\n") == 1
    for csv, says in ((tmp_path / "no" / "such" / "g.csv", "does not exist"),
                      (tmp_path, "is a folder"), (subs / "alice" / "a.ipynb", "is one of the notebooks")):
        assert classroom.main(["grade", str(subs), "--csv", str(csv)]) == 1
        err = capsys.readouterr().err
        assert err.startswith("dnalib: error: --csv") and says in err and err.count("\n") == 1, err
    # a write that fails (disk full): one line, no partial or temporary file left
    monkeypatch.setattr(classroom.tempfile, "mkstemp",
                        lambda **kw: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space left on device")))
    assert classroom.main(["grade", str(subs), "--csv", str(tmp_path / "g.csv")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("dnalib: error: cannot write --csv") and "No space left" in err
    assert not list(tmp_path.glob("*g.csv*"))
    if os.getuid() != 0:  # root writes anywhere: the permission check runs for other users only
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        assert classroom.main(["grade", str(subs), "--csv", str(locked / "g.csv")]) == 1
        assert "permission denied" in capsys.readouterr().err


# -- make lab, and the chapters' own references ---------------------------------------------------

@pytest.mark.parametrize("args, folder", [([], "notebooks"), (["DIR=student"], "student")])
def test_make_lab_opens_the_chapters_or_the_student_copies_as_root_too(args, folder, tmp_path):
    """JupyterLab refuses root without --allow-root: make lab adds it for root, and only then."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    result = subprocess.run(["make", "-n", "-s", "-C", str(ROOT), "lab", *args],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    command = result.stdout.strip().splitlines()[-1].split()
    assert command[0].endswith("jupyter") and command[1] == "lab" and command[-1] == folder
    assert ("--allow-root" in command) == (os.getuid() == 0)


def test_make_lab_on_a_missing_folder_says_which_folders_there_are(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    result = subprocess.run(["make", "-s", "-C", str(ROOT), "lab", f"DIR={tmp_path / 'nowhere'}"],
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode != 0 and "DIR=notebooks (the chapters)" in result.stderr


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_a_chapter_sends_the_reader_to_the_section_that_holds_the_explorer(chapter):
    """"the explorer of section 7.6" once pointed at the section before the explorer's."""
    text = "\n".join(c.source for c in nbformat.read(chapter, as_version=4).cells
                     if c.cell_type == "markdown")
    headings = dict(re.findall(r"^##\s+(\d+\.\d+)\s+(.*)$", text, re.M))
    for number in re.findall(r"explorer of section (\d+\.\d+)", text):
        assert "explorer" in headings.get(number, "").lower(), (number, headings.get(number))
