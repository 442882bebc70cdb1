"""Small fixes to the HTML pages of the book (a local Sphinx extension).

- Every ``<script>`` is emitted once. sphinx-thebe registers its inline
  configuration (``const THEBE_JS_URL = ...``) each time Sphinx reads sources,
  and Jupyter Book's build makes that happen twice: the second copy is a
  JavaScript error on every page ("Identifier 'THEBE_JS_URL' has already been
  declared"), found by ``tests/test_site_in_browser.py``. Sphinx does not
  catch the repeat because one copy has filename ``None`` and the other ``""``.
- The Colab launch button of a chapter opens its Colab copy. sphinx-book-theme
  points it at the page's own notebook (``notebooks/NN.ipynb``), which Colab
  shows as raw MyST (it cannot load an extension) with the solutions in plain
  sight; the copies in ``colab/`` (``make colab``, :mod:`dnalib.classroom`) are
  plain Markdown without solutions. A page without a Colab copy (the
  instructors' page) loses its Colab button.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

#: The folder of the Colab copies, at the book's root (dnalib.classroom.COLAB_DIR).
COLAB_DIR = "colab"
#: The folder of the chapters, whose pages have a Colab copy of the same name.
CHAPTERS_DIR = "notebooks"


def _key(script: Any) -> tuple:
    attrs = getattr(script, "attributes", {}) or {}
    # An inline script is registered once with filename None and once with ""
    # (Sphinx's registry and builder spell "no file" differently).
    return (getattr(script, "filename", str(script)) or "",
            tuple(sorted((k, str(v)) for k, v in attrs.items())))


def dedupe_scripts(app: Any, pagename: str, templatename: str, context: dict[str, Any],
                   doctree: Any) -> None:
    """Drop repeated entries from the page's ``script_files``, keeping the first."""
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple] = set()
    unique = []
    for script in scripts:
        key = _key(script)
        if key in seen:
            continue
        seen.add(key)
        unique.append(script)
    context["script_files"] = unique


def colab_copies(app: Any, pagename: str, templatename: str, context: dict[str, Any],
                 doctree: Any) -> None:
    """Point a chapter's Colab launch button at its Colab copy; drop the button elsewhere.

    Runs after sphinx-book-theme's ``add_launch_buttons`` (priority 501), which
    puts the button, ``{"text": "Colab", "url": ".../blob/BRANCH/PAGE.ipynb"}``,
    in the ``launch-buttons`` group of ``context["header_buttons"]``.
    """
    page = Path(pagename)
    copy = Path(app.srcdir) / COLAB_DIR / f"{page.name}.ipynb"
    has_copy = page.parent.as_posix() == CHAPTERS_DIR and copy.is_file()
    groups = context.get("header_buttons") or []
    for group in list(groups):
        if not isinstance(group, dict) or group.get("label") != "launch-buttons":
            continue
        buttons = group.get("buttons") or []
        for button in list(buttons):
            if button.get("text") != "Colab":
                continue
            if has_copy:
                button["url"] = re.sub(r"/blob/([^/]+)/.*$",
                                       lambda m: f"/blob/{m.group(1)}/{COLAB_DIR}/{copy.name}",
                                       button["url"])
                button["tooltip"] = "Open on Colab (the exercises without their solutions)"
            else:
                buttons.remove(button)
        if not buttons:
            groups.remove(group)


def setup(app: Any) -> dict[str, Any]:
    app.connect("html-page-context", dedupe_scripts, priority=900)
    app.connect("html-page-context", colab_copies, priority=502)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
