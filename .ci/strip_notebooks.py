"""Strip outputs, execution counts and volatile metadata from notebooks, in place.

Usage: python .ci/strip_notebooks.py notebooks/*.ipynb   (the pre-commit hook runs it)
Exits 1 when it changed a file, so a commit with unstripped notebooks stops once.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

KEEP_NOTEBOOK_METADATA = ("kernelspec", "language_info")


def strip(path: Path) -> bool:
    """Strip one notebook; return True if the file changed."""
    text = path.read_text()
    nb = json.loads(text)
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        cell.get("metadata", {}).pop("execution", None)
        cell.get("metadata", {}).pop("collapsed", None)
    meta = nb.get("metadata", {})
    nb["metadata"] = {k: meta[k] for k in KEEP_NOTEBOOK_METADATA if k in meta}
    if "language_info" in nb["metadata"]:
        nb["metadata"]["language_info"] = {"name": nb["metadata"]["language_info"].get("name",
                                                                                      "python")}
    new = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
    if new != text:
        path.write_text(new)
        return True
    return False


def main(argv: list[str]) -> int:
    changed = [p for p in map(Path, argv) if p.suffix == ".ipynb" and strip(p)]
    for p in changed:
        print(f"stripped {p}")
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
