"""Small fixes to the HTML pages of the book (a local Sphinx extension).

- Every ``<script>`` is emitted once. sphinx-thebe registers its inline
  configuration (``const THEBE_JS_URL = ...``) each time Sphinx reads sources,
  and Jupyter Book's build makes that happen twice: the second copy is a
  JavaScript error on every page ("Identifier 'THEBE_JS_URL' has already been
  declared"), found by ``tests/test_site_in_browser.py``. Sphinx does not
  catch the repeat because one copy has filename ``None`` and the other ``""``.
"""

from __future__ import annotations

from typing import Any


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


def setup(app: Any) -> dict[str, Any]:
    app.connect("html-page-context", dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
