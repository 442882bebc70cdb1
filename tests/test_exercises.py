"""dnalib.exercises: the checker says right from wrong, and how an answer is wrong."""

from __future__ import annotations

import numpy as np
import pytest

from dnalib.exercises import check, compare


@pytest.mark.parametrize("answer, expected", [
    (136, 136), (0.30000001, 0.3), (np.int64(4), 4), (np.array(2.0), 2.0),
    ("  Escherichia ", "escherichia"), ((240, 136), (240, 136)), ([1, 2, 3], [1, 2, 3]),
    ({"b", "a"}, {"a", "b"}), (np.arange(3) / 3, np.array([0, 1 / 3, 2 / 3])),
    ({"k": 4, "n": [1, 2]}, {"k": 4, "n": [1, 2]}), (True, True),
])
def test_right_answers_are_accepted(answer, expected):
    assert compare(answer, expected).correct


@pytest.mark.parametrize("answer, expected, says", [
    (272, 136, "2 times the expected value"),
    (100, 136, "too small"),
    ("136", 136, "Expected a number"),
    (float("nan"), 1.0, "NaN"),
    ((136, 240), (240, 136), "Item 0"),
    ([1, 2], [1, 2, 3], "2 items where 3"),
    (np.zeros((2, 3)), np.zeros((3, 2)), "Shape (2, 3) where (3, 2)"),
    (np.array([0.0, 1.0, 5.0]), np.array([0.0, 1.0, 2.0]), "1 of 3 values differ, first at index (2,)"),
    ({"a"}, {"a", "b"}, "1 missing"),
    ({"k": 3}, {"k": 4}, "At key 'k'"),
    ("yes", True, "True or False"),
    (..., 5, "No answer yet"),
])
def test_wrong_answers_say_what_differs(answer, expected, says):
    fb = compare(answer, expected)
    assert not fb.correct and says in fb.message, fb.message


def test_unordered_sequences_and_tolerances():
    assert compare([3, 1, 2], [1, 2, 3], ordered=False)
    assert not compare([3, 1, 2], [1, 2, 3])
    assert compare(0.52, 0.5, atol=0.05) and not compare(0.52, 0.5)


def test_check_prints_feedback_and_never_raises(capsys):
    assert check(136, 136, name="canonical 4-mers") is True
    assert check(272, 136, name="canonical 4-mers", hint="a k-mer and its reverse complement") is False
    out = capsys.readouterr().out
    assert "[correct] canonical 4-mers: Correct." in out
    assert "[try again] canonical 4-mers: Not quite" in out and "Hint: a k-mer" in out
    assert check(object(), 1) is False  # nonsense input: feedback, no exception


@pytest.mark.parametrize("answer, correct, verdict", [
    (..., False, "not tried"), ({"a": ..., "b": ...}, False, "not tried"), ([..., ...], False, "not tried"),
    ({"a": 1, "b": ...}, False, "failed"), (3, False, "failed"), (3, True, "passed"),
])
def test_status_tells_untried_from_wrong(answer, correct, verdict):
    from dnalib.exercises import status

    assert status(answer, correct) == verdict


def test_in_a_notebook_the_verdict_is_saved_in_the_output_metadata(monkeypatch):
    """What dnalib.classroom.grade reads: the display's metadata carries label and verdict."""
    import IPython
    import IPython.display

    from dnalib.exercises import OUTPUT_KEY

    class ZMQInteractiveShell:  # what check() takes for a notebook kernel
        pass

    shown = []
    monkeypatch.setattr(IPython, "get_ipython", lambda: ZMQInteractiveShell())
    monkeypatch.setattr(IPython.display, "display", lambda obj, metadata=None: shown.append(metadata))
    assert check(4, 4, name="n", exercise="ex-x") is True
    assert check(..., 4, exercise="ex-y") is False
    assert check(5, 4, exercise="ex-z") is False
    assert [m[OUTPUT_KEY] for m in shown] == [
        {"exercise": "ex-x", "status": "passed"}, {"exercise": "ex-y", "status": "not tried"},
        {"exercise": "ex-z", "status": "failed"}]


def test_a_function_for_the_expected_value_is_run_with_its_output_and_warnings_captured(capsys):
    """Chapter 1's check computed its value with a call that warns "returning 10": the warning
    (and any print or log line) is captured; only the verdict reaches the student."""
    import logging
    import warnings

    def expected():
        print("the answer is 10")
        warnings.warn("room for at most 10; returning 10", UserWarning, stacklevel=1)
        logging.getLogger("dnalib").warning("returning 10")
        return 10

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert check(..., expected, name="fragments", hint="divide by 10 kbp") is False
        assert check(10, expected, name="fragments") is True
        assert check(2, lambda: expected(), name="fragments", hint="think") is False
    captured = capsys.readouterr()
    assert "10" not in captured.out + captured.err, captured
    assert not caught
    assert "No answer yet" in captured.out and "Hint" not in captured.out.splitlines()[0]
    assert "Not quite: 2 is too small. Hint: think" in captured.out


def test_an_expected_value_that_cannot_be_computed_says_to_run_the_cells_above(capsys):
    assert check(3, lambda: community.ids, name="x") is False  # noqa: F821 - not defined on purpose
    out = capsys.readouterr().out
    assert "could not compute the expected answer (NameError)" in out
    assert "run the chapter's cells above" in out and "Traceback" not in out
