"""Immediate, friendly feedback on exercises whose answer can be checked.

In a chapter, an auto-checked exercise ends with a cell such as::

    answer = ...                      # the student writes this
    exercises.check(answer, lambda: expected_value(), name="canonical 4-mers",
                    exercise="ex-02-canonical")

:func:`check` compares the answer with the expected value (numbers within a
tolerance, shapes, text, sets, sequences, arrays), shows a short message that
says what was right or what differs (as HTML in a notebook, plain text
elsewhere) and returns ``True`` or ``False``. It never raises on a wrong
answer: a student's notebook keeps running. ``...`` (an answer not written yet)
gets a reminder instead of a verdict.

The expected value is best given as a function of no arguments (a
``lambda``): :func:`check` calls it with its printed output, its warnings and
its log records captured, so that nothing the computation says (a warning such
as "returning 10") reaches the student; only the verdict and the hint do. A
computation that fails gives a message that says to run the chapter's cells
above first, not a traceback.

In a notebook the message is saved with the verdict in its output's metadata
(under :data:`OUTPUT_KEY`: the exercise label and ``"passed"``, ``"failed"``
or ``"not tried"``), which :func:`dnalib.classroom.grade` reads from a folder
of submitted notebooks.
"""

from __future__ import annotations

import contextlib
import html
import io
import logging
import math
import warnings
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["OUTPUT_KEY", "Feedback", "check", "compare", "status"]

#: Key of the verdict in the metadata of a check's notebook output.
OUTPUT_KEY = "dnalib-exercise"


@dataclass(frozen=True)
class Feedback:
    """The outcome of comparing an answer with the expected value.

    Attributes
    ----------
    correct : bool
        Whether the answer matches.
    message : str
        What was right, or what differs and how.
    """

    correct: bool
    message: str

    def __bool__(self) -> bool:
        return self.correct


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)


def _short(x: Any, limit: int = 80) -> str:
    text = repr(x)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def compare(answer: Any, expected: Any, *, rtol: float = 1e-6, atol: float = 0.0,
            ignore_case: bool = True, ordered: bool = True) -> Feedback:
    """Compare *answer* with *expected* and say how they differ.

    Parameters
    ----------
    answer
        What the student computed.
    expected
        The right value: a number, a bool, a string, a tuple (e.g. a shape), a
        sequence, a set, a mapping or a numpy array.
    rtol, atol : float
        Relative and absolute tolerance for numbers and float arrays.
    ignore_case : bool
        Compare strings without regard to case and surrounding spaces.
    ordered : bool
        For sequences: whether order matters (``False`` compares as multisets).

    Returns
    -------
    Feedback
    """
    if answer is Ellipsis:
        return Feedback(False, "No answer yet: replace the ... with your answer and run the cell again.")
    if isinstance(expected, bool) or isinstance(answer, bool):
        ok = bool(answer) == bool(expected) and isinstance(answer, (bool, np.bool_))
        if not isinstance(answer, (bool, np.bool_)):
            return Feedback(False, f"Expected True or False; got {_short(answer)}.")
        return Feedback(ok, "Correct." if ok else "Not quite: think about the opposite case.")
    if _is_number(expected):
        if not _is_number(answer):
            if isinstance(answer, np.ndarray) and answer.size == 1:
                answer = answer.item()
            else:
                return Feedback(False, f"Expected a number; got {type(answer).__name__} {_short(answer)}.")
        if math.isnan(float(answer)):
            return Feedback(False, "Your answer is NaN: check for a division by zero or empty input.")
        if math.isclose(float(answer), float(expected), rel_tol=rtol, abs_tol=atol):
            return Feedback(True, "Correct.")
        direction = "too large" if float(answer) > float(expected) else "too small"
        hint = ""
        if float(expected) != 0:
            ratio = float(answer) / float(expected)
            if math.isclose(ratio, round(ratio), rel_tol=1e-6) and round(ratio) not in (0, 1):
                hint = f" It is exactly {round(ratio)} times the expected value: counted twice?"
        return Feedback(False, f"Not quite: {_short(answer)} is {direction}.{hint}")
    if isinstance(expected, str):
        if not isinstance(answer, str):
            return Feedback(False, f"Expected text; got {type(answer).__name__} {_short(answer)}.")
        a, e = (answer.strip().lower(), expected.strip().lower()) if ignore_case else (answer, expected)
        return Feedback(a == e, "Correct." if a == e else f"Not quite: {_short(answer)}.")
    if isinstance(expected, np.ndarray) or isinstance(answer, np.ndarray):
        a, e = np.asarray(answer), np.asarray(expected)
        if a.shape != e.shape:
            return Feedback(False, f"Shape {a.shape} where {e.shape} was expected.")
        if np.issubdtype(e.dtype, np.number) and np.issubdtype(a.dtype, np.number):
            close = np.isclose(a, e, rtol=rtol, atol=atol)
        else:
            close = a == e
        if bool(np.all(close)):
            return Feedback(True, "Correct.")
        bad = np.argwhere(~close)
        return Feedback(False, f"{len(bad)} of {e.size} values differ, first at index "
                               f"{tuple(int(i) for i in bad[0])}.")
    if isinstance(expected, Set):
        try:
            a = set(answer)
        except TypeError:
            return Feedback(False, f"Expected a collection; got {_short(answer)}.")
        if a == set(expected):
            return Feedback(True, "Correct.")
        missing, extra = set(expected) - a, a - set(expected)
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing")
        if extra:
            parts.append(f"{len(extra)} that should not be there (e.g. {_short(sorted(map(str, extra))[0])})")
        return Feedback(False, "Not quite: " + ", ".join(parts) + ".")
    if isinstance(expected, Mapping):
        if not isinstance(answer, Mapping):
            return Feedback(False, f"Expected a mapping (dict); got {type(answer).__name__}.")
        missing = [k for k in expected if k not in answer]
        if missing:
            return Feedback(False, f"Key {_short(missing[0])} is missing.")
        for k in expected:
            sub = compare(answer[k], expected[k], rtol=rtol, atol=atol, ignore_case=ignore_case,
                          ordered=ordered)
            if not sub:
                return Feedback(False, f"At key {_short(k)}: {sub.message}")
        return Feedback(True, "Correct.")
    if isinstance(expected, Sequence):
        if isinstance(answer, str) or not isinstance(answer, (Sequence, np.ndarray)):
            return Feedback(False, f"Expected a sequence of {len(expected)} items; got {_short(answer)}.")
        answer = list(answer)
        if len(answer) != len(expected):
            return Feedback(False, f"{len(answer)} items where {len(expected)} were expected.")
        if not ordered:
            try:
                answer, expected = sorted(answer), sorted(expected)
            except TypeError:
                pass
        for i, (a, e) in enumerate(zip(answer, expected, strict=True)):
            sub = compare(a, e, rtol=rtol, atol=atol, ignore_case=ignore_case)
            if not sub:
                return Feedback(False, f"Item {i}: {sub.message}")
        return Feedback(True, "Correct.")
    ok = answer == expected
    return Feedback(bool(ok), "Correct." if ok else f"Not quite: {_short(answer)}.")


def _untried(answer: Any) -> bool:
    """``...``, or a dict / list / tuple whose every entry is still ``...``."""
    if answer is Ellipsis:
        return True
    if isinstance(answer, Mapping):
        return bool(answer) and all(_untried(v) for v in answer.values())
    if isinstance(answer, (list, tuple)):
        return bool(answer) and all(_untried(v) for v in answer)
    return False


def status(answer: Any, correct: bool) -> str:
    """The verdict a grade table shows: ``"passed"``, ``"failed"`` or ``"not tried"``
    (the answer, or every entry of it, still ``...``)."""
    if _untried(answer):
        return "not tried"
    return "passed" if correct else "failed"


def _quietly(expected: Any) -> tuple[Any, str | None]:
    """The value of *expected* (called when it is a function) with everything it prints, warns or
    logs captured; and a message instead of the value when it fails."""
    if not callable(expected):
        return expected, None
    sink = io.StringIO()
    root = logging.getLogger()
    handler = logging.StreamHandler(sink)
    old_handlers, old_last_resort = root.handlers[:], logging.lastResort
    root.handlers[:] = [handler]
    logging.lastResort = handler  # type: ignore[assignment]
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(sink), \
                contextlib.redirect_stderr(sink):
            warnings.simplefilter("ignore")
            return expected(), None
    except Exception as exc:  # the chapter's earlier cells were not run, or a name was changed
        return None, (f"The check could not compute the expected answer ({type(exc).__name__}): "
                      "run the chapter's cells above this one first, then this cell again.")
    finally:
        root.handlers[:] = old_handlers
        logging.lastResort = old_last_resort


def check(answer: Any, expected: Any, *, name: str | None = None, hint: str | None = None,
          display: bool = True, exercise: str | None = None, **options: Any) -> bool:
    """Check an exercise answer and show friendly feedback.

    Parameters
    ----------
    answer
        The student's answer (``...`` while not written yet).
    expected
        The right value (see :func:`compare` for what can be compared), or a
        function of no arguments that returns it: it is called with its output,
        warnings and log records captured, so nothing but the verdict is shown.
    name : str, optional
        The exercise, shown in the message.
    hint : str, optional
        Shown after a wrong answer (not while the answer is still ``...``).
    display : bool
        Show the message (HTML in a notebook, printed otherwise).
    exercise : str, optional
        The exercise's label (``ex-01-fragments``): saved with the verdict in
        the output's metadata in a notebook, for :func:`dnalib.classroom.grade`.
    **options
        Passed to :func:`compare` (``rtol``, ``atol``, ``ignore_case``, ``ordered``).

    Returns
    -------
    bool
        Whether the answer is right. A wrong answer never raises.
    """
    value, failure = _quietly(expected)
    fb = Feedback(False, failure) if failure else compare(answer, value, **options)
    if display:
        label = f"{name}: " if name else ""
        # The hint follows a wrong answer, not an empty one (nothing to correct yet).
        text = label + fb.message + (f" Hint: {hint}" if hint and not fb.correct and not failure
                                     and not _untried(answer) else "")
        try:
            from IPython import get_ipython
            from IPython.display import HTML
            from IPython.display import display as show

            in_notebook = get_ipython() is not None and type(get_ipython()).__name__ == "ZMQInteractiveShell"
        except ImportError:  # IPython is there with the book extras; plain Python works too
            in_notebook = False
        if in_notebook:
            untried = _untried(answer)
            colour = "#1a7f37" if fb.correct else ("#9a6700" if untried else "#cf222e")
            mark = "✔" if fb.correct else ("…" if untried else "✘")
            verdict = {"exercise": exercise or name or "", "status": status(answer, fb.correct)}
            show(HTML(f'<div style="border-left:4px solid {colour};padding:4px 10px;'
                      f'margin:4px 0"><b style="color:{colour}">{mark}</b> {html.escape(text)}</div>'),
                 metadata={OUTPUT_KEY: verdict})
        else:
            print(("[correct] " if fb.correct else "[try again] ") + text)
    return fb.correct
