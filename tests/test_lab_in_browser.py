"""Chapter 1 as students meet it: in JupyterLab, in a real browser, run through the UI.

``make lab DIR=<a temporary folder>`` starts JupyterLab (the README's command, so
``--allow-root`` is tested where CI runs as root) on a folder holding chapter 1
(the instructors' copy, MyST rendered by jupyterlab-myst), its student copy
(``make student``'s plain Markdown) and a small notebook with the explorer of
chapter 7 (:class:`dnalib.viz.Explorer`) on random embeddings. Headless Chromium
(Debian's ``chromium`` package, driven by Playwright with ``executable_path``;
never a downloaded browser) opens each notebook and runs all its cells through
JupyterLab's own "run all" command, in the smoke profile. Asserted:

- no raw MyST is visible (``:label:``, ``:class:``, ``{func}`` ...), the exercises
  have titles, and the instructors' copy keeps its solutions collapsed; every
  other chapter is opened too (not run) and checked for the same;
- no cell ends in an error, no check prints anything but its verdict;
- the chapter's figures are drawn, and plotly figures (the explorer's, and one shown
  as a cell's output) are drawn as SVG;
- the explorer's projection buttons sit in one row, and clicking one changes
  the figure;
- an empty answer's check says "No answer yet"; in the student copy a wrong
  answer says "Not quite" and a right one "Correct".

Screenshots of the exercises (both copies) and of the explorer are saved in
``_build/ci/lab/``. Without a browser the test is skipped, unless
``DNALIB_REQUIRE_BROWSER=1`` (set by ``.ci/run``), where it fails.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from dnalib.classroom import write_student_notebooks

ROOT = Path(__file__).resolve().parent.parent
ARTEFACTS = ROOT / "_build" / "ci" / "lab"
CHAPTER = ROOT / "notebooks" / "01_dna_as_data.ipynb"
pytestmark = pytest.mark.slow

#: Text that only shows when MyST is not rendered.
RAW_MYST = (":label:", ":class:", "{func}`", "{mod}`", "{doc}`", "{cite", "{term}`", "{class}`",
            "````", ":::{", "```{")

EXPLORER = """\
import numpy as np
import pandas as pd
from dnalib import viz

rng = np.random.default_rng(0)
n = 60
meta = pd.DataFrame({"genus": np.repeat(["A", "B", "C"], n // 3),
                     "species": [f"s{i % 6}" for i in range(n)]})
emb = {"TNF": rng.normal(size=(n, 8)) + np.repeat(np.eye(8)[:3] * 4, n // 3, axis=0)}
explorer = viz.Explorer(emb, meta, ranks=["genus", "species"])
explorer.widget
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """Base URL of `make lab DIR=...` on a folder with chapter 1, its student copy and the
    explorer; the server and everything it started are stopped afterwards."""
    tmp = tmp_path_factory.mktemp("lab")
    work, home = tmp / "work", tmp / "home"
    (work / "chapters").mkdir(parents=True)
    for chapter in sorted(CHAPTER.parent.glob("*.ipynb")):
        shutil.copy(chapter, work / "chapters" / chapter.name)
    write_student_notebooks(work / "chapters", work / "student")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(EXPLORER), nbformat.v4.new_code_cell("explorer.figure")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, work / "explorer.ipynb")
    settings = home / "settings"
    for plugin, value in (("notebook-extension/tracker", {"windowingMode": "none"}),
                          ("apputils-extension/notification", {"fetchNews": "false",
                                                               "checkForUpdates": False})):
        path = settings / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))
    port = _free_port()
    flags = (f"--no-browser --port={port} --ServerApp.ip=127.0.0.1 --IdentityProvider.token= "
             f"--ServerApp.password= --ServerApp.disable_check_xsrf=True "
             f"--LabApp.expose_app_in_browser=True --LabApp.user_settings_dir={settings} "
             f"--LabApp.workspaces_dir={home / 'workspaces'}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    env.update(DNALIB_PROFILE="smoke", JUPYTER_CONFIG_DIR=str(home / "config"),
               JUPYTER_RUNTIME_DIR=str(home / "runtime"), JUPYTER_DATA_DIR=str(home / "data"),
               PYTHONUNBUFFERED="1")
    log = open(tmp / "lab.log", "w")  # noqa: SIM115 - open while the server runs
    proc = subprocess.Popen(["make", "-C", str(ROOT), "lab", f"DIR={work}", f"LAB_FLAGS={flags}"],
                            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 600  # make may first set up .venv
        while True:
            if proc.poll() is not None:
                pytest.fail(f"make lab exited with {proc.returncode}:\n{(tmp / 'lab.log').read_text()[-3000:]}")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("JupyterLab did not start in 10 minutes:\n"
                                + (tmp / "lab.log").read_text()[-3000:])
                time.sleep(0.5)
        yield f"http://127.0.0.1:{port}", tmp
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        log.close()


def _open(browser, base: str, path: str, *, kernel: bool = True):
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # ?reset: a fresh workspace (not the tabs the previous test left open)
    page.goto(f"{base}/lab/tree/{path}?reset", timeout=120_000)
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget "
                           "&& window.jupyterapp.shell.currentWidget.sessionContext", timeout=120_000)
    if kernel:
        page.wait_for_function("() => { const s = window.jupyterapp.shell.currentWidget.sessionContext;"
                               " return s.session && s.session.kernel && "
                               "s.session.kernel.connectionStatus === 'connected'; }",
                               timeout=180_000)
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    return page, errors


_IDLE = """() => {
  const w = window.jupyterapp.shell.currentWidget;
  const k = w.sessionContext.session && w.sessionContext.session.kernel;
  const busy = Array.from(document.querySelectorAll('.jp-InputPrompt')).some(p => p.textContent.includes('*'));
  return k && k.status === 'idle' && !busy;
}"""


def _run(page, command: str = "notebook:run-all-cells", timeout: float = 400) -> None:
    """Run JupyterLab's *command* and wait until the kernel is idle and no cell is queued (a
    screenshot of the page is saved when it does not happen in *timeout* seconds)."""
    # Started, not awaited: the command's promise can wait on a dialog that no one answers.
    page.evaluate(f"() => {{ window.jupyterapp.commands.execute('{command}'); }}")
    page.wait_for_timeout(1000)
    try:
        page.wait_for_function(_IDLE, timeout=timeout * 1000, polling=500)
    except Exception:
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTEFACTS / "timeout.png"))
        raise
    page.wait_for_timeout(1500)


def _cells(page) -> list[dict]:
    """Each cell: its type, source, rendered text and outputs (mime types and text)."""
    cells = page.evaluate("""() => {
      const nb = window.jupyterapp.shell.currentWidget.content;
      return nb.widgets.map(c => ({
        type: c.model.type,
        source: c.model.sharedModel.getSource(),
        tags: c.model.getMetadata('tags') || [],
        text: c.model.type === 'markdown' ? c.node.innerText : '',
        outputs: c.model.type === 'code' ? Array.from({length: c.model.outputs.length},
          (_, i) => c.model.outputs.get(i).toJSON()) : [],
        plotly: Array.from(c.node.querySelectorAll('.js-plotly-plot')).map(p => p.querySelectorAll('svg.main-svg').length),
      }));
    }""")
    for cell in cells:
        cell["text"] = cell["text"].replace("\xa0", " ").replace("¶", "")
    return cells


def _problems(cells: list[dict]) -> list[str]:
    problems = []
    for i, c in enumerate(cells):
        raw = [r for r in RAW_MYST if r in c["text"]]
        if raw:
            problems.append(f"cell {i}: raw MyST {raw} in {c['text'][:200]!r}")
        for out in c["outputs"]:
            if out["output_type"] == "error":
                problems.append(f"cell {i}: {out['ename']}: {out['evalue']}")
            if "exercise-check" in c["tags"] and out["output_type"] == "stream":
                problems.append(f"cell {i}: a check printed {out['text'][:200]!r}")
    return problems


def _check_text(cell: dict) -> str:
    return " ".join(json.dumps(o.get("data", {})) for o in cell["outputs"])


def _shot(page, locator, name: str) -> Path:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    locator.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    path = ARTEFACTS / name
    locator.screenshot(path=str(path))
    return path


def test_chapter_1_in_the_lab_renders_runs_and_checks(browser, lab):
    base, _ = lab
    page, errors = _open(browser, base, "chapters/01_dna_as_data.ipynb")
    try:
        _run(page)
        cells = _cells(page)
        assert not _problems(cells), "\n".join(_problems(cells))
        text = "\n".join(c["text"] for c in cells)
        assert "Exercise 1 (GC and the phylogeny)" in text and "Exercise 3 (How many fragments fit?)" in text
        assert "Running this notebook" in text and "the set-up page" in text
        assert "Solution to Exercise 1" in text
        assert "The spread of the genus means" not in text, "a solution is not collapsed"
        figures = [o for c in cells for o in c["outputs"] if "image/png" in o.get("data", {})]
        assert len(figures) >= 3, "the chapter's figures are missing"
        checks = [c for c in cells if "exercise-check" in c["tags"]]
        assert checks and all("No answer yet" in _check_text(c) for c in checks)
        exercises = page.locator(".jp-MarkdownCell", has_text="Exercise 1 (GC and the phylogeny)")
        _shot(page, exercises.first, "chapter1_instructor_exercises.png")
        assert not errors, errors
    finally:
        page.close()


def test_the_student_copy_in_the_lab_checks_empty_wrong_and_right_answers(browser, lab):
    base, _ = lab
    page, errors = _open(browser, base, "student/01_dna_as_data.ipynb")
    try:
        _run(page)
        cells = _cells(page)
        assert not _problems(cells), "\n".join(_problems(cells))
        headings = [c["text"].splitlines()[0] for c in cells if c["source"].startswith("### Exercise")]
        assert headings == ["Exercise 1 (GC and the phylogeny)", "Exercise 2 (Cleaning policies)",
                            "Exercise 3 (How many fragments fit?)",
                            "Exercise 4 (Long-read errors (open-ended))"]
        assert "dnalib.sequences.sample_fragments()" in "".join(c["text"] for c in cells)
        i = next(k for k, c in enumerate(cells) if 'exercise="ex-01-clean"' in c["source"])
        assert "No answer yet" in _check_text(cells[i])
        assert "student-answer" in cells[i - 1]["tags"] and "Cleaning policies" in cells[i - 2]["text"]
        _shot(page, page.locator(".jp-MarkdownCell", has_text="Exercise 2 (Cleaning policies)").first,
              "chapter1_student_exercise.png")
        check = page.locator(".jp-Notebook .jp-Cell").nth(i)
        _shot(page, check, "chapter1_student_check_empty.png")
        for answer, says in (("2", "Not quite: 2 is too small"), ("3", "Correct")):
            page.evaluate("""([i, answer]) => {
              const nb = window.jupyterapp.shell.currentWidget.content;
              const cell = nb.widgets[i].model.sharedModel;
              cell.setSource(cell.getSource().replace(/^answer = .*$/m, 'answer = ' + answer));
              nb.activeCellIndex = i;
            }""", [i, answer])
            _run(page, "notebook:run-cell")
            assert says in _check_text(_cells(page)[i])
            _shot(page, check, f"chapter1_student_check_{'wrong' if answer == '2' else 'right'}.png")
        start = page.locator(".jp-MarkdownCell", has_text="Exercise 2 (Cleaning policies)").first
        start.scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTEFACTS / "chapter1_student_checked.png"))
        assert not errors, errors
    finally:
        page.close()


def test_the_explorer_buttons_sit_in_one_row_and_change_the_figure(browser, lab):
    base, _ = lab
    page, errors = _open(browser, base, "explorer.ipynb")
    try:
        _run(page, timeout=300)
        cells = _cells(page)
        assert not _problems(cells), _problems(cells)
        plots = [n for c in cells for n in c["plotly"]]
        assert len(plots) == 2 and all(n > 0 for n in plots), f"plotly figures without SVG: {plots}"
        page.wait_for_selector(".widget-toggle-buttons .widget-toggle-button", timeout=60_000)
        buttons = page.locator(".widget-toggle-buttons").first.locator(".widget-toggle-button")
        tops = {round(buttons.nth(k).bounding_box()["y"]) for k in range(buttons.count())}
        assert buttons.count() == 3 and len(tops) == 1, f"the projection buttons wrap: rows at {tops}"
        # What the figure draws: its title and the first x coordinates plotly computed.
        first_x = """() => { const gd = document.querySelector('.widget-output .js-plotly-plot');
                             if (!gd || !gd._fullData || !gd._fullData.length) return null;
                             return [(gd._fullLayout.title || {}).text,
                                     Array.from(gd._fullData[0].x || []).slice(0, 5)]; }"""
        page.wait_for_function(first_x, timeout=60_000)
        before = page.evaluate(first_x)
        buttons.nth(1).click()  # t-SNE
        page.wait_for_function(f"(before) => {{ const x = ({first_x})(); "
                               "return x && JSON.stringify(x) !== JSON.stringify(before); }",
                               arg=before, timeout=120_000)
        _shot(page, page.locator(".jp-OutputArea").first, "explorer.png")
        assert not errors, errors
    finally:
        page.close()


def test_every_chapter_renders_without_raw_myst(browser, lab):
    """Opened, not run: every Markdown cell of every chapter (MyST, through jupyterlab-myst) shows
    no raw MyST, and the exercises have titles. (The student copies are plain Markdown, checked
    without a browser in tests/test_classroom.py; chapter 1's is run above.)"""
    base, _ = lab
    problems = []
    for chapter in sorted(CHAPTER.parent.glob("*.ipynb")):
        for folder in ("chapters",):
            page, errors = _open(browser, base, f"{folder}/{chapter.name}", kernel=False)
            try:
                page.wait_for_function("() => window.jupyterapp.shell.currentWidget.content.widgets.length > 0",
                                       timeout=60_000)
                page.wait_for_timeout(2000)
                cells = _cells(page)
                text = "\n".join(c["text"] for c in cells)
                problems += [f"{folder}/{chapter.name}: {p}" for p in _problems(cells) + errors]
                if "Exercise 1 (" not in text:
                    problems.append(f"{folder}/{chapter.name}: no titled exercise")
                # one kernel at a time: shut this one down before the next notebook
                page.evaluate("""async () => { const r = await fetch('/api/sessions');
                  for (const s of await r.json()) await fetch('/api/sessions/' + s.id, {method: 'DELETE'}); }""")
            finally:
                page.close()
    assert not problems, "\n".join(problems)
