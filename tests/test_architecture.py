"""The import graph stays one-directional and no module uses another module's private names."""

from __future__ import annotations

import ast
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _sources() -> list[tuple[str, str]]:
    """(label, Python source) of every dnalib module, benchmark and notebook."""
    out = [(str(p.relative_to(ROOT)), p.read_text())
           for d in ("dnalib", "benchmarks") for p in sorted((ROOT / d).rglob("*.py"))]
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):  # all cells: imports and uses
        cells = ["".join(c["source"]) for c in json.loads(nb.read_text())["cells"]
                 if c["cell_type"] == "code"]
        lines = [ln for ln in "\n".join(cells).splitlines() if not ln.lstrip().startswith(("%", "!"))]
        out.append((f"notebooks/{nb.name}", "\n".join(lines)))
    return out


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_uses(label: str, source: str) -> list[str]:
    """``from dnalib.x import _y`` and ``alias._y`` where alias is an imported dnalib module."""
    own = label.replace("/", ".").removesuffix(".py")
    tree = ast.parse(source)
    aliases: dict[str, str] = {}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("dnalib"):
            for a in node.names:
                if _private(a.name) and node.module != own:
                    found.append(f"{label}: from {node.module} import {a.name}")
                elif node.module == "dnalib":
                    aliases[a.asname or a.name] = f"dnalib.{a.name}"
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("dnalib."):
                    aliases[a.asname or a.name] = a.name
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in aliases and _private(node.attr)
                and aliases[node.value.id] != own):
            found.append(f"{label}: {node.value.id}.{node.attr}")
    return found


def test_no_module_uses_another_modules_private_names():
    found = [use for label, src in _sources() for use in private_uses(label, src)]
    assert not found, "private names used across modules (make them public):\n" + "\n".join(found)


def test_the_checker_finds_private_uses():
    src = "from dnalib.pretrain import _x\nfrom dnalib import contrastive as C\nC._split(1)\n"
    assert len(private_uses("benchmarks/b.py", src)) == 2
    assert private_uses("dnalib/pretrain.py", "from dnalib.pretrain import _x\n") == []


def test_benchmarks_do_not_edit_sys_path():
    bad = [label for label, src in _sources()
           if label.startswith("benchmarks/") and "sys.path.insert" in src]
    assert not bad, f"benchmarks import shared helpers from dnalib, not through sys.path: {bad}"
