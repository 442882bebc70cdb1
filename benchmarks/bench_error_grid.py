"""Where does a model earn its cost? Fragment length x sequencing errors, on species no model saw.

The grid: fragment length (``--lengths``, default 1, 2, 5 and 10 kbp) x error
model (``--errors``, default ``clean``, ``longread5``, ``longread10``:
:mod:`dnalib.seqerrors`) on two sets of unseen species (``--sets``):

* ``validation``: the 60 validation species of ``genomes_real`` (88 genomes;
  no genus of them trained anything here), ``--per-genome`` fragments per
  genome (default 10);
* ``kmcp15``: the 15 kmcp15 genomes (their genera are held out of the
  genomes_real training split), ``--kmcp15-per-genome`` fragments per genome
  (default 30: fifteen species need more fragments each);
* any labelled genome-set directory (``--sets DIR``), with ``--per-genome``.

Each set is cut once per length (:meth:`dnalib.io.GenomeSet.fragments`,
fragment seed ``--seed``); every error cell then applies its model to those
fragments, each fragment its own errors seeded by the fragment seed
(:func:`dnalib.seqerrors.apply_errors`), exactly as ``dnalib evaluate
--fragment-length L --per-genome N --errors E --seed S`` does, so anyone can
score their model on a cell of the grid.

Models (``--models``, names or paths): ``tnf``, ``kmer6`` (the baseline every
other model is compared with, always scored), the shipped maps
(``spectrum_map``; ``spectrum_map_refit``, scored on kmcp15 and directories
only: the validation species are in its training data), the shipped hour
transformers (``hour/mlm``, ``hour/simclr``, ``hour/curriculum``; any
``PROFILE/NAME`` of :mod:`dnalib.artifacts` that is cached or shipped), or
any model directory (a spectrum map, an encoder: what ``dnalib evaluate
--model`` takes), named by its path.

For every cell and model: clustering ARI (KMeans, mean over ``--kmeans-seeds``
seeds), the paired difference ``model - kmer6`` with a half-sample interval
over species (:func:`dnalib.evaluate.paired_clustering_difference`, ``--draws``
random halves, each clustered with the same KMeans seeds; the 6-mer spectrum's
halves are clustered once per cell: :func:`dnalib.evaluate.clustering_halves`),
the row's own halves (``halves``, :func:`dnalib.evaluate.compact_halves`: any
two models of a cell pair up later, e.g. a transformer against the best
augmented map, :func:`dnalib.viz.grid_differences` with ``against``) and binning (:func:`dnalib.evaluate.binning_scores`: species
binned at F1 >= 0.5 and >= 0.9). Binning takes every fragment: the protocol's
2.5 kbp filter would leave nothing in the 1 and 2 kbp cells; a species needs
10 fragments to be binned. Transformers embed with ``--precision`` (default
``auto``: bf16 on CPUs with AMX / AVX-512 BF16 and on recent GPUs).

The record (``--out``, default ``results/error_grid_cpu.json``: command,
commit, hardware, settings, one row per cell and model, ``complete``) is
written after every row. Run again with the same settings and ``--out``, it
keeps the rows already there for the same model (same weights) and scores
only the missing ones, so more models, lengths or error models can be added
later; other settings are refused. A model named now whose weights (sha256)
were scored before under another name, not named now (a run directory since
shipped as an artifact), takes over those rows instead of being scored again. Rows of an older bench, without their
halves, are dropped (their models are scored again when named). ``--smoke`` is a quick check: 2 fragments
lengths, 2 error models, tnf and kmer6, few fragments and halves. Runs::

    python benchmarks/bench_error_grid.py --models tnf kmer6 spectrum_map spectrum_map_refit \\
        hour/simclr hour/curriculum runs/maps/map_aug10 runs/maps/map_h512
    python benchmarks/bench_error_grid.py --smoke --sets kmcp15 --out /tmp/grid.json
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from dnalib import records

#: The grid of the issue.
LENGTHS = (1_000, 2_000, 5_000, 10_000)
ERRORS = ("clean", "longread5", "longread10")
SETS = ("validation", "kmcp15")
MODELS = ("tnf", "kmer6", "spectrum_map", "hour/simclr", "hour/curriculum")
#: The model every other one is compared with.
BASELINE = "kmer6"
#: Models trained on the validation species: scored on the other sets only.
NOT_ON_VALIDATION = ("spectrum_map_refit",)
#: What ``--smoke`` changes (unless given).
SMOKE = {"lengths": [1_000, 2_000], "errors": ["clean", "longread10"], "models": ["tnf", "kmer6"],
         "per_genome": 4, "kmcp15_per_genome": 4, "draws": 10, "kmeans_seeds": 2}


def resolve_model(name: str) -> str:
    """What ``dnalib.embed.embed_with`` takes for a ``--models`` entry (a baseline, a path)."""
    from dnalib import artifacts
    from dnalib.embedders import BASELINES
    from dnalib.errors import DnalibError
    from dnalib.profiles import PROFILES

    if name in BASELINES:
        return name
    if name in artifacts.MAPS:
        return str(artifacts.get(name, progress=False, train=False))
    profile, _, artifact = name.partition("/")
    if profile in PROFILES and artifact in artifacts.NAMES:
        try:
            return str(artifacts.get(artifact, profile, progress=False, train=False))
        except DnalibError as exc:
            raise SystemExit(f"--models {name}: {exc}") from None
    if Path(name).is_dir():
        return name
    raise SystemExit(f"--models {name}: not a baseline ({', '.join(BASELINES)}), a shipped map "
                     f"({', '.join(artifacts.MAPS)}), PROFILE/NAME of an artifact (e.g. hour/curriculum) "
                     "or a model directory")


def load_set(name: str, args: argparse.Namespace) -> tuple[Any, int]:
    """The genome set called *name* and its fragments per genome."""
    from dnalib import datasets, io

    if name == "validation":
        return datasets.load_genomes_real(progress=False).split("validation"), args.per_genome
    if name == "kmcp15":
        return datasets.load_kmcp15(progress=False), args.kmcp15_per_genome
    if Path(name).is_dir():
        return io.load_genome_set(name), args.per_genome
    raise SystemExit(f"--sets {name}: give validation, kmcp15 or a labelled genome-set directory")


def settings_of(args: argparse.Namespace) -> dict[str, Any]:
    """The settings every row of a record shares (a record with others is not continued)."""
    return {"per_genome": args.per_genome, "kmcp15_per_genome": args.kmcp15_per_genome,
            "fragment_seed": args.seed, "kmeans_seeds": list(range(args.kmeans_seeds)),
            "draws": args.draws, "level": 0.95, "baseline": BASELINE, "precision": args.precision,
            "binning": "every fragment (no length filter); species with >= 10 fragments"}


def start_record(args: argparse.Namespace, argv: list[str]) -> dict[str, Any]:
    """A new record, or the one at ``--out`` when it holds a grid with the same settings."""
    import json

    command = "python benchmarks/bench_error_grid.py " + " ".join(argv)
    run = {"command": command, "commit": records.commit(), "hardware": records.hardware(),
           "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    out = Path(args.out)
    if out.exists():
        try:
            old = json.loads(out.read_text())
            same = old.get("settings") == settings_of(args) and isinstance(old.get("rows"), list)
        except (OSError, ValueError):
            old, same = None, False
        if not same:
            raise SystemExit(f"{out} is not a grid record with these settings ({settings_of(args)}): "
                             "use the same settings to continue it, or another --out")
        stale = [r for r in old["rows"] if "halves" not in r]
        if stale:  # written before rows kept their halves: no later comparison can use them
            print(f"{len(stale)} rows without their halves (an older bench) are dropped; "
                  "their models are scored again when asked for", flush=True)
            old["rows"] = [r for r in old["rows"] if "halves" in r]
        old["runs"] = [*old.get("runs", []), run]
        old.update(command=command, commit=run["commit"], hardware=run["hardware"], complete=False)
        return old
    return {"benchmark": "error grid: fragment length x sequencing errors on unseen real species",
            **run, "runs": [run], "settings": settings_of(args), "complete": False, "rows": []}


def adopt_rows(record: dict[str, Any], names: list[str], identity: dict[str, dict[str, Any]]
               ) -> dict[str, tuple[str, int]]:
    """Give rows scored under another name to a model asked for now with the same weights.

    A run directory scored once and later shipped as an artifact (``runs/x`` ->
    ``hour/x``) has the same weights (sha256) and so the same rows: they move
    to the name asked for now, embedder identity updated, rather than being
    scored again. Only rows of a name not asked for in this run move, and only
    into cells the new name has no row of. Returns ``{old name: (new name, rows)}``.
    """
    moved: dict[str, tuple[str, int]] = {}
    for name in names:
        sha = identity[name].get("sha256")
        if not sha:
            continue
        have = {cell_key(r)[:3] for r in record["rows"] if r["model"] == name}
        for row in record["rows"]:
            old = row["model"]
            if old in names or row["sha256"] != sha or cell_key(row)[:3] in have:
                continue
            row.update(model=name, embedder=identity[name])
            have.add(cell_key(row)[:3])
            moved[old] = (name, moved.get(old, (name, 0))[1] + 1)
    return moved


def cell_key(row: dict[str, Any]) -> tuple:
    """What identifies a row: set, length, errors, model and its weights."""
    return row["set"], row["length"], row["errors"], row["model"], row["sha256"]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Score every model on every cell of the grid; write the record after each row."""
    from dnalib.embed import describe_embedder, embed_with
    from dnalib.embedders import kind_of
    from dnalib.errors import DnalibError
    from dnalib.evaluate import (
        binning_scores,
        clustering_halves,
        clustering_scores,
        compact_halves,
        paired_difference,
    )
    from dnalib.seqerrors import apply_errors, error_model

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="+", default=None, help=f"names or paths (default {' '.join(MODELS)})")
    p.add_argument("--lengths", type=int, nargs="+", default=None, help="fragment lengths in bp")
    p.add_argument("--errors", nargs="+", default=None, help="error models: presets or total rates")
    p.add_argument("--sets", nargs="+", default=list(SETS), help="validation, kmcp15 or genome-set directories")
    p.add_argument("--per-genome", type=int, default=None, help="fragments per genome (10)")
    p.add_argument("--kmcp15-per-genome", type=int, default=None, help="fragments per kmcp15 genome (30)")
    p.add_argument("--seed", type=int, default=0, help="fragment seed (and seed of their errors)")
    p.add_argument("--draws", type=int, default=None, help="random halves per paired interval (30)")
    p.add_argument("--kmeans-seeds", type=int, default=None, help="KMeans seeds 0..N-1 (5)")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto",
                   help="arithmetic of the transformers (auto)")
    p.add_argument("--smoke", action="store_true", help="a quick check of the script (see above)")
    p.add_argument("--out", default=str(records.results_dir() / "error_grid_cpu.json"))
    args = p.parse_args(argv)
    argv = list(sys.argv[1:] if argv is None else argv)
    defaults = {"lengths": list(LENGTHS), "errors": list(ERRORS), "models": list(MODELS),
                "per_genome": 10, "kmcp15_per_genome": 30, "draws": 30, "kmeans_seeds": 5}
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, SMOKE[name] if args.smoke else value)
    if min(args.lengths) < 100 or min(args.per_genome, args.kmcp15_per_genome, args.kmeans_seeds) < 1:
        raise SystemExit("--lengths must be at least 100 bp; --per-genome, --kmcp15-per-genome and "
                         "--kmeans-seeds at least 1")
    try:
        errors = {spec: error_model(spec) for spec in args.errors}
    except DnalibError as exc:
        raise SystemExit(f"--errors: {exc}") from None
    # records name a directory as a reader can rerun it (records.portable_path): so do the rows
    label = lambda name: records.portable_path(name) if Path(name).is_dir() else name  # noqa: E731
    names = list(dict.fromkeys([BASELINE, *map(label, args.models)]))
    models = {label(name): resolve_model(name) for name in [BASELINE, *args.models]}
    sets = {label(name): load_set(name, args) for name in args.sets}  # all checked before any work
    record = start_record(args, argv)
    identity = {name: describe_embedder(model, precision=args.precision if kind_of(model).has_bf16
                                        else None) for name, model in models.items()}
    moved = adopt_rows(record, names, identity)
    for old, (name, n) in moved.items():
        print(f"{n} rows of {old} are {name}'s (the same weights, sha256): kept under the new name",
              flush=True)
    done = {cell_key(r) for r in record["rows"]}
    seeds = list(range(args.kmeans_seeds))
    record["grid"] = {"sets": list(sets), "lengths": args.lengths,
                      "errors": {spec: m.describe() for spec, m in errors.items()}, "models": names}
    for set_name, (genomes, per) in sets.items():
        for length in args.lengths:
            frags, table = genomes.fragments(length, per, seed=args.seed, allow_fewer=True)
            species = table["species"].astype(str).to_numpy()
            for spec, model in errors.items():
                noisy = apply_errors(frags, model, seed=args.seed)
                base: dict[str, Any] | None = None  # kmer6's halves, clustered once per cell
                halves = {"draws": args.draws, "seed": args.seed, "seeds": seeds}
                for name in names:
                    if set_name == "validation" and name in NOT_ON_VALIDATION:
                        continue
                    sha = identity[name].get("sha256") or identity[name].get("baseline")
                    if (set_name, length, spec, name, sha) in done:
                        continue
                    precision = args.precision if kind_of(models[name]).has_bf16 else None
                    t0 = time.perf_counter()
                    x = embed_with(models[name], noisy, precision=precision)
                    seconds = time.perf_counter() - t0
                    c = clustering_scores(x, species, seeds=seeds)
                    row: dict[str, Any] = {
                        "set": set_name, "length": length, "errors": spec, "model": name, "sha256": sha,
                        "embedder": identity[name], "n_species": int(len(np.unique(species))),
                        "n_fragments": len(noisy), "ari": c["ari"], "ari_std": c["ari_std"],
                        "nmi": c["nmi"], "seconds_embed": seconds}
                    try:
                        b = binning_scores(x, species)
                        row.update({"f1_ge_0.5": b["f1_ge_0.5"], "f1_ge_0.9": b["f1_ge_0.9"],
                                    "mean_f1": b["mean_f1"], "binned_species": b["n_species"]})
                    except DnalibError as exc:
                        row["binning_skipped"] = str(exc)
                    if base is None:
                        base = clustering_halves(x if name == BASELINE else embed_with(BASELINE, noisy),
                                                 species, **halves)
                    side = base if name == BASELINE else clustering_halves(x, species, **halves)
                    row["halves"] = compact_halves(side)
                    if name != BASELINE:
                        d = paired_difference(side, base)
                        row["vs_kmer6"] = {k: d[k] for k in ("difference", "interval", "spread", "wins",
                                                             "ari_b", "half", "draws", "level")}
                    # a model whose weights changed since: its old row of the cell is replaced
                    record["rows"] = [r for r in record["rows"] if cell_key(r)[:4] != cell_key(row)[:4]]
                    record["rows"].append(row)
                    done.add(cell_key(row))
                    vs = row.get("vs_kmer6")
                    shown = (f"  - kmer6 {vs['difference']:+.3f} [{vs['interval'][0]:+.3f}, "
                             f"{vs['interval'][1]:+.3f}]") if vs else ""
                    print(f"{set_name:10s} {length:6d} bp {spec:10s} {name:22s} ARI {row['ari']:.3f}"
                          f"{shown}  binned {row.get('f1_ge_0.5', '-')}  ({seconds:.0f} s)", flush=True)
                    records.write(args.out, record)
    wanted = {(s, length, e, n) for s in sets for length in args.lengths for e in args.errors
              for n in names if not (s == "validation" and n in NOT_ON_VALIDATION)}
    have = {(r["set"], r["length"], r["errors"], r["model"]) for r in record["rows"]}
    record["complete"] = wanted <= have
    record["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    records.write(args.out, record)
    return record


if __name__ == "__main__":
    main()
