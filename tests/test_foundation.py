"""Repository-level checks: lock vs conda environment, stripped notebooks, config pins."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _lock_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements-lock.txt").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, version = line.partition("==")
        assert sep, f"requirements-lock.txt: {line!r} is not an exact pin (name==version)"
        pins[name.lower().replace("_", "-")] = version
    return pins


def _environment_pins() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    pins = {}
    for entry in pip_section:
        if entry.startswith("-e"):
            continue
        name, sep, version = entry.partition("==")
        assert sep, f"environment.yml: {entry!r} is not an exact pin"
        pins[name.lower().replace("_", "-")] = version
    return pins


def test_lock_and_environment_yml_agree():
    lock, env = _lock_pins(), _environment_pins()
    only_lock = sorted(set(lock) - set(env))
    only_env = sorted(set(env) - set(lock))
    differ = sorted(n for n in set(lock) & set(env) if lock[n] != env[n])
    assert not (only_lock or only_env or differ), (
        f"environment.yml and requirements-lock.txt disagree: only in lock {only_lock}, "
        f"only in environment.yml {only_env}, different versions {differ}; "
        "run `python .ci/sync-environment.py`"
    )


def test_environment_yml_is_what_binder_builds_from_the_lock():
    """Binder (repo2docker) reads environment.yml; nothing here can run conda or reach conda-forge,
    so the file is checked instead: it is exactly what .ci/sync-environment.py writes from the
    lock (the same pins, in the same order), conda itself installs only Python (the lock's minor
    version, in the form repo2docker reads) and pip, from conda-forge alone, and the pip section
    ends with the local ``-e .`` (repo2docker then copies the repository before it builds the
    environment, and the chapters import the package)."""
    import importlib.util
    import tomllib

    from packaging.specifiers import SpecifierSet

    spec = importlib.util.spec_from_file_location("sync_environment", ROOT / ".ci" / "sync-environment.py")
    sync = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sync)
    text = (ROOT / "environment.yml").read_text()
    assert text == sync.render((ROOT / "requirements-lock.txt").read_text()), (
        "environment.yml is not what the lock gives: run `python .ci/sync-environment.py`")

    env = yaml.safe_load(text)
    assert env["channels"] == ["conda-forge"], "conda-forge only (the defaults channel needs a licence)"
    deps = env["dependencies"]
    conda = [d for d in deps if isinstance(d, str)]
    pip_sections = [d["pip"] for d in deps if isinstance(d, dict)]
    assert len(pip_sections) == 1 and deps[-1] == {"pip": pip_sections[0]}
    python = [d for d in conda if re.fullmatch(r"python\s*=+\s*[\d.]+", d)]  # repo2docker's pattern
    assert sorted(conda) == sorted(python + ["pip"]) and len(python) == 1, (
        f"conda should install only python and pip (every other package comes from the lock "
        f"through pip, once); got {conda}")
    version = python[0].split("=")[-1]
    lock_python = re.search(r"\(Python (\d+\.\d+)", (ROOT / "requirements-lock.txt").read_text())
    assert lock_python and lock_python.group(1) == version, "environment.yml and the lock name other Pythons"
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert f"{version}.0" in SpecifierSet(requires)
    pip = pip_sections[0]
    assert pip[-1] == "-e ." and pip.count("-e .") == 1
    assert all("==" in entry for entry in pip[:-1])


def test_critical_pins():
    lock = _lock_pins()
    assert lock["torch"] == "2.13.0"
    major = int(lock["jupyter-book"].split(".")[0])
    assert major == 1, "Jupyter Book 2 ignores _config.yml; the lock must hold jupyter-book 1.x"
    for needed in ("myst-nb", "sphinx-exercise", "sphinx-togglebutton", "sphinxcontrib-bibtex",
                   "jupyterlab", "jupyterlab-myst", "ipywidgets", "plotly", "umap-learn", "pytest",
                   "ruff"):
        assert needed in lock, f"{needed} missing from requirements-lock.txt"
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert "jupyter-book>=1.0.4.post1,<2" in pyproject


def test_pyproject_declares_ranges_the_lock_satisfies():
    """pyproject.toml declares ranges (a Colab runtime keeps its own torch, numpy, ... when they
    are in range); every exact pin of the lock lies in them, and torch, transformers and numpy
    have an upper bound (their next major version may break dnalib)."""
    import tomllib

    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lock = {k.lower().replace("_", "-"): v for k, v in _lock_pins().items()}
    requirements = [Requirement(r) for r in project["dependencies"]]
    for extra in project["optional-dependencies"].values():
        requirements += [Requirement(r) for r in extra]
    outside = [f"{r} (lock: {lock.get(r.name.lower())})" for r in requirements
               if r.name.lower() not in lock or lock[r.name.lower()] not in r.specifier]
    assert not outside, f"lock pins outside pyproject.toml's ranges: {outside}"
    core = {r.name.lower(): r for r in (Requirement(d) for d in project["dependencies"])}
    for name in ("torch", "transformers", "numpy"):
        spec = core[name].specifier
        assert not any(s.operator == "==" for s in spec), f"{name} is pinned exactly in pyproject.toml"
        assert any(s.operator == "<" for s in spec), f"{name} has no upper bound in pyproject.toml"
        assert any(s.operator == ">=" for s in spec), f"{name} has no lower bound in pyproject.toml"


def _committed_notebooks() -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files", "*.ipynb"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        out = []
    files = [ROOT / f for f in out]
    # Also check notebooks not yet committed, so the test fails before the commit does.
    files += [p for p in (ROOT / "notebooks").glob("*.ipynb") if p not in files]
    return [f for f in files if f.exists()]


def test_notebooks_are_stripped():
    notebooks = _committed_notebooks()
    assert notebooks, "no chapter notebooks found under notebooks/"
    dirty = []
    for path in notebooks:
        nb = json.loads(path.read_text())
        for i, cell in enumerate(nb["cells"]):
            if cell["cell_type"] != "code":
                continue
            if cell.get("outputs") or cell.get("execution_count") is not None:
                dirty.append(f"{path.relative_to(ROOT)} cell {i}")
    assert not dirty, (
        "notebooks must be committed without outputs or execution counts "
        f"(run `jupyter nbconvert --clear-output --inplace`): {dirty[:10]}"
    )


def test_toc_files_exist():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [c["file"] for c in part["chapters"]]
    missing = [f for f in files
               if not any((ROOT / f).with_suffix(s).exists() for s in (".md", ".ipynb"))]
    assert not missing, f"_toc.yml lists files that do not exist: {missing}"


def test_config_is_strict():
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert cfg["execute"]["raise_on_error"] is True
    assert cfg["execute"]["execute_notebooks"] in {"cache", "force"}
    assert "mystnb.unknown_mime_type" in cfg["sphinx"]["config"]["suppress_warnings"]
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"BOOK_FLAGS\s*:=\s*-W -n --keep-going", makefile)


def test_readme_names_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    assert "make book" in readme and "make test" in readme
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci


def test_workflow_builds_what_the_readme_builds():
    wf = yaml.safe_load((ROOT / ".github" / "workflows" / "book.yml").read_text())
    steps = [s.get("run", "") for s in wf["jobs"]["build"]["steps"]]
    assert any(s.strip() == "make book" for s in steps)
    uploads = [s for s in wf["jobs"]["build"]["steps"]
               if str(s.get("uses", "")).startswith("actions/upload-pages-artifact")]
    assert uploads and uploads[0]["with"]["path"] == "_build/html"


def test_every_public_function_is_exported_and_documented():
    """autodoc documents only __all__: a public function missing there breaks API links."""
    import importlib
    import inspect

    problems = []
    for path in sorted((ROOT / "dnalib").glob("*.py")):
        if path.stem.startswith("_"):
            continue
        mod = importlib.import_module(f"dnalib.{path.stem}")
        public = [n for n, o in vars(mod).items()
                  if not n.startswith("_") and (inspect.isfunction(o) or inspect.isclass(o))
                  and getattr(o, "__module__", "") == mod.__name__]
        exported = getattr(mod, "__all__", public)
        problems += [f"{mod.__name__}.{n} not in __all__" for n in public if n not in exported]
        problems += [f"{mod.__name__}.{n} has no docstring" for n in public
                     if not inspect.getdoc(getattr(mod, n))]
    api = (ROOT / "book" / "api.md").read_text()
    problems += [f"dnalib.{p.stem} missing from book/api.md" for p in (ROOT / "dnalib").glob("*.py")
                 if not p.stem.startswith("_") and f"automodule:: dnalib.{p.stem}" not in api]
    assert not problems, problems
