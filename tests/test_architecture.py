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


# --------------------------------------------------------------------------- import circles


def dnalib_imports(module: str, source: str, modules: set[str]) -> set[str]:
    """The dnalib modules *module* imports, anywhere in the file (module level or inside functions).

    Counts ``import dnalib.x``, ``from dnalib.x import y``, ``from dnalib import x`` and relative
    imports. ``dnalib`` is the package's ``__init__``: ``import dnalib`` and ``from dnalib import
    Name`` (a name, not a module) import it.
    """
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets = [(a.name, None) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # from . import x / from .x import y, inside the package
                base = f"dnalib.{base}" if base else "dnalib"
            targets = [(base, a.name) for a in node.names]
        else:
            continue
        for name, member in targets:
            parts = name.split(".")
            if parts[0] != "dnalib":
                continue
            if len(parts) > 1:
                found.add(parts[1])
            elif member in modules:
                found.add(member)
            else:
                found.add("dnalib")
    found.discard(module)
    return found & (modules | {"dnalib"})


def import_graph(sources: dict[str, str]) -> dict[str, set[str]]:
    """Module -> the dnalib modules it imports, for ``{module name: source}``."""
    modules = set(sources)
    return {m: dnalib_imports(m, src, modules) for m, src in sources.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as ``[a, b, ..., a]``, or None (depth-first search, in sorted order)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        path.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                return path[path.index(n):] + [n]
            if n not in state and (cycle := visit(n)):
                return cycle
        path.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (cycle := visit(m)):
            return cycle
    return None


def _dnalib_sources() -> dict[str, str]:
    out = {p.stem: p.read_text() for p in sorted((ROOT / "dnalib").glob("*.py"))}
    out["dnalib"] = out.pop("__init__")
    return out


def test_no_import_circle_between_dnalib_modules():
    """Module-level and function-level imports alike: a hidden circle is still a circle."""
    graph = import_graph(_dnalib_sources())
    cycle = find_cycle(graph)
    assert cycle is None, ("import circle between dnalib modules: " + " -> ".join(cycle)
                           + " (move what both need into a module below them)")


def test_the_checker_finds_import_circles():
    sources = {
        "low": "import numpy\n",
        "a": "from dnalib.low import x\n\ndef f():\n    from dnalib import b\n",
        "b": "import dnalib.c as c\n",
        "c": "def g():\n    from .a import f\n",
        "dnalib": "from dnalib.low import x\n",
    }
    graph = import_graph(sources)
    assert graph == {"low": set(), "a": {"low", "b"}, "b": {"c"}, "c": {"a"}, "dnalib": {"low"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    del sources["c"]
    assert find_cycle(import_graph(sources)) is None
    # a name that is not a module (from dnalib import DnalibError) is no edge
    assert dnalib_imports("x", "from dnalib import DnalibError, errors\n", {"errors", "x"}) == {
        "dnalib", "errors"}


def test_each_info_file_name_is_written_once():
    """The file a finished run writes last is named in dnalib.training only; the rest import it."""
    names = {"dnalib_pretrain.json", "dnalib_finetune.json", "dnalib_spectrum_map.json"}
    found = []
    for label, source in _sources():
        if label == "dnalib/training.py" or label.startswith("notebooks/"):
            continue
        found += [f"{label}:{node.lineno}: {node.value!r}" for node in ast.walk(ast.parse(source))
                  if isinstance(node, ast.Constant) and node.value in names]
    assert not found, ("info-file names spelled out again (import them from dnalib.training):\n"
                       + "\n".join(found))
