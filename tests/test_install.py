"""Installing the book's package the way a chapter's set-up cell does keeps the runtime's stack.

A Colab runtime already holds torch, transformers and numpy, in versions that are not the
lock's. This test builds such a runtime: a fresh virtual environment that sees the test
environment's packages (a folder of links to them, listed in a ``.pth`` file, as a runtime's
system packages) except transformers and numpy, and gets its *own* transformers 5.0.0 and
numpy 2.0.2, the lower bounds ``pyproject.toml`` declares (small wheels from PyPI). Then:

1. ``pip install --dry-run --report`` with an installed torch of *another* version in range
   (2.6.0, its metadata only: a torch build is never downloaded) lists dnalib alone: pip
   would keep that torch, and everything else.
2. The set-up cell itself runs (its code, unchanged, with ``DNALIB_INSTALL_SOURCE`` pointing
   at a copy of this checkout instead of GitHub): afterwards every distribution of the
   environment has the version it had, and dnalib is new. torch here is the test
   environment's own 2.13.0, standing for the runtime's.
3. Chapter 1 runs in the smoke profile in that environment, importing the installed dnalib
   with the environment's transformers 5.0.0 and numpy 2.0.2.

About two minutes (most of it chapter 1); needs PyPI for the two wheels and the build
backend (setuptools), cached by pip after the first run.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from dnalib import colab

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow

#: The runtime's own versions: the lower bounds of pyproject.toml's ranges.
RUNTIME = {"numpy": "2.0.2", "transformers": "5.0.0"}
#: A torch in range that is not the installed one (metadata only, for the dry run).
OTHER_TORCH = "2.6.0"

_VERSIONS = """
import json, importlib.metadata as md
seen = {}
for d in md.distributions():  # in sys.path order: the first of a name is the one imported
    seen.setdefault(d.metadata["Name"].lower().replace("_", "-"), d.version)
print(json.dumps(seen))
"""


def _run(cmd, **kw) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert result.returncode == 0, f"{cmd}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def _versions(python: Path, env: dict) -> dict[str, str]:
    return json.loads(_run([str(python), "-c", _VERSIONS], env=env).stdout)


@pytest.fixture(scope="module")
def runtime(tmp_path_factory):
    """A venv over the test environment's packages, with its own transformers and numpy."""
    tmp = tmp_path_factory.mktemp("runtime")
    base_python = getattr(sys, "_base_executable", sys.executable)
    _run([base_python, "-m", "venv", "--without-pip", str(tmp / "venv")])
    python = tmp / "venv" / "bin" / "python"
    own = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]
                    ).stdout.strip())
    farm = tmp / "system-packages"
    farm.mkdir()
    skip = ("dnalib", "__editable__", "numpy", "transformers")
    for sp in site.getsitepackages():
        for entry in Path(sp).iterdir():
            if entry.name.endswith(".pth") or entry.name.lower().startswith(skip):
                continue
            if not (farm / entry.name).exists():
                (farm / entry.name).symlink_to(entry)
    (own / "_system_packages.pth").write_text(f"{farm}\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    _run([str(python), "-m", "pip", "install", "--quiet",
          *(f"{name}=={v}" for name, v in RUNTIME.items())], env=env, timeout=900)
    source = tmp / "checkout"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "_build", "student", "*.egg-info", "__pycache__", ".pytest_cache",
        ".ruff_cache", "build", "_vendor"))
    return {"tmp": tmp, "python": python, "own": own, "env": env, "source": source}


def test_an_installed_torch_of_another_version_in_range_is_kept(runtime):
    python, own, env = runtime["python"], runtime["own"], runtime["env"]
    fake = own / f"torch-{OTHER_TORCH}.dist-info"
    fake.mkdir()
    try:
        (fake / "METADATA").write_text(f"Metadata-Version: 2.1\nName: torch\nVersion: {OTHER_TORCH}\n")
        (fake / "RECORD").write_text("")
        assert _versions(python, env)["torch"] == OTHER_TORCH
        report = runtime["tmp"] / "report.json"
        _run([str(python), "-m", "pip", "install", "--dry-run", "--quiet", "--report", str(report),
              f"dnalib @ {runtime['source'].as_uri()}"], env=env, timeout=900)
        installs = {i["metadata"]["name"].lower(): i["metadata"]["version"]
                    for i in json.loads(report.read_text())["install"]}
    finally:
        shutil.rmtree(fake)
    assert installs == {"dnalib": "0.1.0"}, f"pip would also install {installs}"


def test_the_set_up_cell_installs_dnalib_and_replaces_nothing_then_chapter_1_runs(runtime):
    python, env = runtime["python"], dict(runtime["env"])
    before = _versions(python, env)
    assert {k: before[k] for k in RUNTIME} == RUNTIME
    assert "dnalib" not in before
    cell = colab.setup_cell_source(*colab.repository_of(ROOT / "_config.yml"))
    env["DNALIB_INSTALL_SOURCE"] = runtime["source"].as_uri()
    _run([str(python), "-c", cell], env=env, cwd=runtime["tmp"], timeout=900)
    after = _versions(python, env)
    assert after.pop("dnalib") == "0.1.0"
    changed = {k: (before.get(k), v) for k, v in after.items() if before.get(k) != v}
    assert not changed, f"the install replaced or added {changed}"
    assert after["torch"] == before["torch"]

    # Chapter 1, smoke profile, in that environment (the kernel is this venv's python).
    nb = nbformat.read(ROOT / "notebooks" / "01_dna_as_data.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(
        "import dnalib, numpy, transformers\n"
        "print(dnalib.__file__, numpy.__version__, transformers.__version__)"))
    path = runtime["tmp"] / "01.ipynb"
    nbformat.write(nb, path)
    env.pop("DNALIB_INSTALL_SOURCE")
    env.update(DNALIB_PROFILE="smoke", DNALIB_CACHE=str(runtime["tmp"] / "cache"))
    code = ("import sys, nbformat; from nbclient import NotebookClient\n"
            "nb = nbformat.read(sys.argv[1], as_version=4)\n"
            "NotebookClient(nb, timeout=900, kernel_name='python3',"
            " resources={'metadata': {'path': sys.argv[2]}}).execute()\n"
            "print(nb.cells[-1].outputs[0]['text'])")
    out = _run([str(python), "-c", code, str(path), str(runtime["source"] / "notebooks")],
               env=env, cwd=runtime["tmp"], timeout=1200).stdout.split()
    assert out[-3].startswith(str(runtime["own"])), f"dnalib imported from {out[-3]}"
    assert out[-2:] == [RUNTIME["numpy"], RUNTIME["transformers"]]
