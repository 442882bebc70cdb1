"""Benchmark records: write them with their provenance, find them, summarise them one way.

A record is a JSON file under ``results/`` written by a script in
``benchmarks/``: its rows (one per method, seed, ...), the command, the
commit and the hardware that produced it. Chapters read records with
:func:`find` and :func:`load` and summarise rows with :func:`summarise`, so
every page that shows the same record shows the same numbers.

One statistics convention: a spread over seeds is the *sample* standard
deviation (``ddof=1``), the usual estimate from a few runs; with one run it
is undefined (NaN), not zero.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from dnalib.io import write_text_atomically

#: Degrees of freedom subtracted in every spread over seeds (the sample standard deviation).
DDOF = 1


def repository_root() -> Path:
    """The root of the dnalib checkout (where ``results/`` and ``benchmarks/`` are)."""
    return Path(__file__).resolve().parent.parent


def results_dir() -> Path:
    """``results/`` of the checkout (``$DNALIB_RESULTS`` wins when set)."""
    given = os.environ.get("DNALIB_RESULTS")
    if given:
        return Path(given)
    candidates = [repository_root() / "results", Path.cwd() / "results", Path.cwd().parent / "results"]
    return next((c for c in candidates if c.is_dir()), candidates[0])


def commit() -> str:
    """The checkout's git commit, with ``-dirty`` when tracked files changed (``unknown`` outside git)."""
    root = repository_root()
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def hardware() -> dict[str, Any]:
    """The machine a record was measured on: processor, cores, threads, versions, GPU."""
    import torch

    from dnalib.profiles import cpu_model, cpu_vector_isa

    info = {"machine": platform.machine(), "processor": cpu_model(), "vector_isa": cpu_vector_isa(),
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(), "torch": torch.__version__}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


#: A path inside a string: absolute, or starting with ./ or ../, at the start or after a space,
#: ``=``, a quote or an opening parenthesis (``--out /x``, ``--out=/x``, ``DNALIB_CACHE=/tmp/c``).
_PATH_RE = re.compile(r"""(?:^|(?<=[\s='"(]))((?:/|\.\.?/)[^\s'"(),;]*)""")


def portable_path(path: str, *, cwd: str | os.PathLike[str] | None = None) -> str:
    """*path* as a reader of a record can rerun it, on any machine.

    A path under the data mirror or the dataset cache becomes the registered
    dataset's name (``/data/mirror/genomes-kmcp15`` -> ``kmcp15``, which
    ``dnalib data get kmcp15`` finds), a path in the checkout becomes
    relative to the repository root (``/home/me/dnalib/runs/ablation`` ->
    ``runs/ablation``), a temporary one ``$TMPDIR/...`` and one in the home
    folder ``~/...``; anything else is kept. A relative path is taken
    relative to *cwd* (default: the working directory); one that leaves
    none of those places is kept as written.

    Parameters
    ----------
    path : str
    cwd : str or path-like, optional

    Returns
    -------
    str
    """
    from dnalib import datasets

    given = Path(path).expanduser()
    full = Path(os.path.abspath(Path(cwd or os.getcwd()) / given))
    real = full.resolve()

    def under(base: Path) -> str | None:
        for b in {Path(os.path.abspath(base)), Path(base).resolve()}:
            for f in (full, real):
                if f == b or b in f.parents:
                    return f.relative_to(b).as_posix()
        return None

    mirrors = [Path(m) for m in (os.environ.get(datasets.MIRROR_ENV),) if m]
    mirrors += [repository_root().parent / "shared" / "data", datasets.cache_root()]
    for info in datasets.list_datasets():
        for base in mirrors:
            rest = under(base / info.directory)
            if rest is not None:
                return info.name if rest == "." else f"{info.name}/{rest}"
    for base, shown in ((repository_root(), None), (Path(tempfile.gettempdir()), "$TMPDIR"),
                        (Path.home(), "~")):
        rest = under(base)
        if rest is not None:
            if shown is None:
                return rest
            return shown if rest == "." else f"{shown}/{rest}"
    return path


def portable(value: Any, *, cwd: str | os.PathLike[str] | None = None) -> Any:
    """*value* (a record, or any JSON value) with every path in its strings made portable.

    Paths are found in any string, commands and notes included
    (``--out /x``, ``--trained=/x``, ``DNALIB_CACHE=/tmp/c``), and rewritten
    by :func:`portable_path`; :func:`write` applies this to every record.

    Parameters
    ----------
    value
        A mapping, sequence, string or anything else (kept).
    cwd : str or path-like, optional
        What relative paths are relative to (default: the working directory).

    Returns
    -------
    The same structure with portable paths.
    """
    if isinstance(value, str):
        return _PATH_RE.sub(lambda m: portable_path(m.group(1), cwd=cwd), value)
    if isinstance(value, Mapping):
        return {k: portable(v, cwd=cwd) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [portable(v, cwd=cwd) for v in value]
    return value


def write(path: str | os.PathLike[str], record: Mapping[str, Any]) -> Path:
    """Write *record* as indented JSON, atomically (a reader never sees half a record).

    Paths in the record (its command, settings, notes) are written as a
    reader can rerun them (:func:`portable`): relative to the repository,
    registered dataset names, no machine's absolute paths.

    Parameters
    ----------
    path : str or path-like
    record : mapping

    Returns
    -------
    pathlib.Path
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(record, indent=2, default=_json_default)
    write_text_atomically(path, json.dumps(portable(json.loads(text)), indent=2) + "\n")
    return path


def _json_default(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def find(name: str, profile: str | None = None, *, root: str | os.PathLike[str] | None = None
         ) -> Path | None:
    """The record ``NAME_PROFILE.json``, falling back to the ``cpu`` profile's; None if neither exists.

    Parameters
    ----------
    name : str
        E.g. ``"contrastive_ablation"``.
    profile : str, optional
        Default: the current profile.
    root : str or path-like, optional
        Default: :func:`results_dir`.

    Returns
    -------
    pathlib.Path or None
    """
    from dnalib.profiles import current_profile

    base = Path(root) if root is not None else results_dir()
    for p in dict.fromkeys([current_profile(profile), "cpu"]):
        path = base / f"{name}_{p}.json"
        if path.exists():
            return path
    return None


def load(name: str, profile: str | None = None, *, root: str | os.PathLike[str] | None = None
         ) -> dict[str, Any] | None:
    """The record :func:`find` finds, read (with its ``path``), or None when there is none."""
    path = find(name, profile, root=root)
    if path is None:
        return None
    record = json.loads(path.read_text())
    record["path"] = str(path)
    return record


def provenance(record: Mapping[str, Any]) -> list[str]:
    """Lines saying where a record came from: date, processor, and each command with its commit."""
    hw = record.get("hardware", {})
    lines = [f"recorded {record.get('date', '?')} on {hw.get('processor', '?')}, "
             f"{hw.get('cpu_count', '?')} CPUs"]
    runs = record.get("invocations") or [
        {k: record.get(k, "?") for k in ("date", "commit", "command")}]
    lines += [f"  {r.get('date', '?')} at {str(r.get('commit', '?'))[:12]}: {r.get('command', '?')}"
              for r in runs]
    return lines


def best_time(fn: Any, repeats: int = 5) -> float:
    """Best wall time in seconds of *repeats* calls of *fn* (after one warm-up call).

    The minimum, not the mean: on a shared machine the fastest run is the one
    least disturbed by other work.
    """
    import time

    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def random_dna(rng: Any, n: int) -> str:
    """*n* uniformly random bases (A, C, G, T) from a NumPy generator: benchmark input."""
    import numpy as np

    return np.frombuffer(b"ACGT", dtype=np.uint8)[rng.integers(0, 4, n)].tobytes().decode()


def summarise(rows: Iterable[Mapping[str, Any]], *, by: str = "method", value: str = "ari") -> Any:
    """Mean, spread and count of *value* per *by*, in first-seen order.

    Parameters
    ----------
    rows : iterable of mapping
        E.g. a record's ``rows``.
    by, value : str
        Column to group by and column to summarise.

    Returns
    -------
    pandas.DataFrame
        Indexed by *by*, columns ``mean``, ``std`` (sample standard
        deviation, :data:`DDOF`) and ``n``.
    """
    import pandas as pd

    frame = pd.DataFrame(list(rows))
    grouped = frame.groupby(by, sort=False)[value]
    return pd.DataFrame({"mean": grouped.mean(), "std": grouped.std(ddof=DDOF),
                         "n": grouped.count()})


def summary_dict(rows: Iterable[Mapping[str, Any]], *, by: str = "method",
                 values: Iterable[str] = ("ari", "nmi")) -> dict[str, dict[str, float]]:
    """:func:`summarise` of several values as plain JSON (``{group: {"ari_mean": ..., ...}}``)."""
    rows = list(rows)
    out: dict[str, dict[str, float]] = {}
    for v in values:
        table = summarise(rows, by=by, value=v)
        for group, r in table.iterrows():
            entry = out.setdefault(str(group), {})
            entry[f"{v}_mean"] = float(r["mean"])
            entry[f"{v}_std"] = float(r["std"])
            entry["n"] = int(r["n"])
    return out


def paired_tables(record: Mapping[str, Any]) -> tuple[Any, Any]:
    """The two tables of a ``bench_real_genomes`` record: methods, and paired comparisons.

    Methods trained with several seeds (``spectrum_map/0``, ``spectrum_map/1``,
    ...) are pooled under their name: the mean ARI over the seeds, the lowest
    and highest, the number of seeds and the mean number of species binned at
    F1 >= 0.5, one column group per set of species. The further draws of
    kmcp15 fragments (sets ``kmcp15@1`` ...) are left to :func:`draws_table`.

    Parameters
    ----------
    record : mapping
        A record with ``sets`` (``benchmarks/bench_real_genomes.py``).

    Returns
    -------
    tuple of pandas.DataFrame
        ``(methods, comparisons)``; a comparison row holds the set, ``a - b``,
        the number of models on each side, the difference, its interval, the
        share of halves won and the number of species.
    """
    import pandas as pd

    main = {s: v for s, v in record["sets"].items() if "@" not in s}
    rows = [{"set": s, "method": name.split("/")[0], "ari": m["ari"], "binned": m["f1_ge_0.5"]}
            for s, v in main.items() for name, m in v["methods"].items()]
    frame = pd.DataFrame(rows)
    methods = frame.groupby(["method", "set"], sort=False).agg(
        ARI=("ari", "mean"), lowest=("ari", "min"), highest=("ari", "max"), seeds=("ari", "size"),
        binned=("binned", "mean")).unstack("set")
    methods = methods.reindex(list(dict.fromkeys(frame["method"])))
    methods.columns = methods.columns.swaplevel(0, 1)
    methods = methods[[c for s in main for c in methods.columns if c[0] == s]]
    comparisons = pd.DataFrame([
        {"set": s, "a − b": f"{c['a']} − {c['b']}",
         "models": f"{len(c.get('runs_a') or [c['a']])} vs {len(c.get('runs_b') or [c['b']])}",
         "difference": c["difference"],
         "95% interval": f"[{c['interval'][0]:+.3f}, {c['interval'][1]:+.3f}]",
         "wins": c["wins"], "species": c["n_species"]}
        for s, v in main.items() for c in v["comparisons"]])
    return methods, comparisons


def draws_table(record: Mapping[str, Any]) -> Any:
    """Each method on kmcp15 over independent draws of fragments (``--kmcp15-draws``).

    Parameters
    ----------
    record : mapping
        A ``bench_real_genomes`` record with ``over_draws``.

    Returns
    -------
    pandas.DataFrame
        One row per method (seeds pooled): mean ARI and mean number of species
        binned at F1 >= 0.5 over the draws, the number binned in each draw, and
        the mean, lowest and highest per-draw difference in species binned
        from the 6-mer spectrum.

    Raises
    ------
    ~dnalib.errors.DnalibError
        When the record scored one draw only.
    """
    import pandas as pd

    from dnalib.errors import DnalibError

    over = record.get("over_draws")
    if not over:
        raise DnalibError("the record scored kmcp15 on one draw of fragments: run "
                          "benchmarks/bench_real_genomes.py with --kmcp15-draws 5")
    rows = []
    for method, entry in over["methods"].items():
        row = {"method": method, "ARI": entry["ari"], "binned": entry["binned"],
               "binned per draw": " ".join(f"{v:.3g}" for v in entry["binned_per_draw"])}
        gaps = entry.get("binned_minus_kmer6")
        if gaps is not None:
            row.update({"ARI − 6-mer": entry["ari_minus_kmer6"], "binned − 6-mer": sum(gaps) / len(gaps),
                        "lowest": min(gaps), "highest": max(gaps)})
        rows.append(row)
    return pd.DataFrame(rows).set_index("method")
