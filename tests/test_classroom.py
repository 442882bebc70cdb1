"""Student notebooks: no solution leaks, a place to work after every exercise,
and each student copy still runs up to its first exercise."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import nbformat
import pytest

from dnalib.classroom import (
    ANSWER_TAG,
    exercise_labels,
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
        "# Exercise ex-a: your answer here", "# Exercise ex-b: your answer here"]
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
        assert checked_exercises(nbformat.read(student_dir / chapter.name, as_version=4)) == checked


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
    assert err.startswith("error: no student folders") and err.count("\n") == 1


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
    assert header[-1] == "passed" and len(header) == 10 + 1  # ten checked exercises in all
    assert set(rows) == {"alice", "bob", "carol"}
    cells = {s: [w for w in row.split()[1:-1] if w != "tried"] for s, row in rows.items()}
    assert cells["alice"][:4] == ["passed", "failed", "not", "passed"]
    assert cells["bob"][:2] == ["not", "passed"]
    assert set(cells["carol"]) == {"not"}
    assert [row.split()[-1] for row in (rows["alice"], rows["bob"], rows["carol"])] == ["2", "1", "0"]
