"""Species no model saw: k-mer spectra, the learned spectrum map and the transformers, paired over species.

Two sets of unseen species, 10 kbp fragments:

* ``validation``: the 60 validation species of ``genomes_real`` (88 genomes; no
  genus of them trained anything here), ``--val-per-genome`` fragments per
  genome (default 20);
* ``kmcp15``: the 15 kmcp15 genomes, 100 fragments per genome (the ``dnalib
  evaluate`` protocol); their genera are held out of the genomes_real training split.
  ``--kmcp15-draws N`` scores them on N independent draws of fragments
  (``kmcp15`` is draw 0, ``kmcp15@1`` ... the others): a count of 15 species
  binned moves by one or two from one draw to the next, so the record adds
  each method's mean over the draws (``over_draws``).

Methods: TNF, the canonical 6-mer spectrum (the book's baseline), the same
spectrum as log ratios without learning (``kmer6-log``: what the map's input
transform alone gives), the learned spectrum map (``spectrum_map``: the
shipped recipe, 5-mers, one model per ``--seeds`` seed; seed 0 is the shipped
one), the same map on 6-mers (``spectrum_map_k6``: the rival the issue named,
same seeds), the map trained on the training species mixed with the 120
synthetic training species of the transformers' recipes (``spectrum_map_mixed``,
same seeds), the map refit on every genomes_real species outside the kmcp15
genera (``spectrum_map_refit``, same seeds, seed 0 shipped; scored on kmcp15
only: the validation species are in its training data) and, with ``--models``,
the transformers of ``--profile`` (``mlm``, ``simclr``, ``curriculum``,
``dnalib.artifacts``): chapters 4 to 6's for ``cpu`` (trained on the synthetic
community), an hour's training on the genomes_real training species for
``hour`` (the shipped weights).

With ``--trained DIR [DIR ...]``, the encoders ``benchmarks/bench_contrastive.py
--save-models DIR`` kept (``DIR/<method>-<seed>``: SimCLR, MI-Mix only,
curriculum, MLM only, one per training seed, trained on the synthetic
community with equal step budgets; ``SimCLR_real``, ``SimCLR_mixed`` with its
``--finetune-data``) are scored too, as ``ablation-<method>/<seed>``.

Each set gets clustering ARI (KMeans, 5 seeds), binning (species at F1 >= 0.5)
and paired differences with half-sample intervals over species
(:func:`dnalib.evaluate.paired_clustering_difference`, every half clustered
with 5 KMeans seeds like the whole set). A method trained with several seeds
is compared as one: its ARI is the mean over its seeds, on the whole set and on
every half. The record is written after every method and comparison
(``complete`` false until the end)::

    python benchmarks/bench_real_genomes.py --kmcp15-draws 5 --out results/real_genomes_cpu.json
    python benchmarks/bench_contrastive.py --profile cpu --seeds 0 1 2 \\
        --methods SimCLR curriculum --save-models runs/ablation --out runs/ablation.json
    python benchmarks/bench_real_genomes.py --seeds 0 --trained runs/ablation \\
        --sets validation --out results/real_genomes_transformers_cpu.json
    python benchmarks/bench_contrastive.py --profile cpu --seeds 0 1 2 --methods SimCLR "MI-Mix only" \\
        --save-models runs/ablation-mimix --out runs/ablation-mimix.json
    python benchmarks/bench_contrastive.py --profile cpu --seeds 0 1 --methods SimCLR \\
        --finetune-data real --save-models runs/ablation-real --out runs/ablation-real.json
    python benchmarks/bench_contrastive.py --profile cpu --seeds 0 1 --methods SimCLR \\
        --finetune-data mixed --save-models runs/ablation-mixed --out runs/ablation-mixed.json
    python benchmarks/bench_real_genomes.py --no-maps --trained runs/ablation-mimix runs/ablation-real \\
        runs/ablation-mixed --sets validation --out results/real_genomes_ablation_cpu.json
    python benchmarks/ship_weights.py --profile hour mlm simclr curriculum   # about an hour
    python benchmarks/bench_real_genomes.py --profile hour --models mlm simclr curriculum \\
        --out results/real_genomes_hour_cpu.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from dnalib import records

#: Comparisons recorded when both sides were measured: (a, b) is "a minus b"; a side is a
#: method, or all the seeds of one (``spectrum_map/0``, ``spectrum_map/1``, ... as one).
PAIRS = (("spectrum_map", "kmer6"), ("spectrum_map_k6", "kmer6"), ("kmer6-log", "kmer6"),
         ("spectrum_map_refit", "kmer6"), ("spectrum_map_refit", "spectrum_map"),
         ("spectrum_map_mixed", "spectrum_map"),
         ("curriculum", "simclr"),
         ("curriculum", "kmer6"), ("simclr", "kmer6"), ("mlm", "kmer6"),
         ("curriculum", "spectrum_map"), ("simclr", "spectrum_map"),
         ("ablation-curriculum", "ablation-SimCLR"), ("ablation-MI-Mix_only", "ablation-SimCLR"),
         ("ablation-curriculum", "kmer6"), ("ablation-SimCLR", "kmer6"),
         ("ablation-MLM_only", "kmer6"), ("spectrum_map", "ablation-curriculum"),
         ("ablation-SimCLR_real", "ablation-SimCLR"), ("ablation-SimCLR_mixed", "ablation-SimCLR"),
         ("ablation-SimCLR_mixed", "ablation-SimCLR_real"), ("ablation-SimCLR_real", "kmer6"))


def trained_models(directory: Path) -> dict[str, Path]:
    """``ablation-<method>/<seed>`` -> encoder directory, for every ``<method>-<seed>`` of *directory*."""
    found = {}
    for sub in sorted(Path(directory).iterdir()):
        method, _, seed = sub.name.rpartition("-")
        if sub.is_dir() and method and seed.isdigit() and (sub / "config.json").exists():
            found[f"ablation-{method}/{seed}"] = sub
    if not found:
        raise SystemExit(f"{directory} holds no <method>-<seed> encoder directories: write them with "
                         "benchmarks/bench_contrastive.py --save-models DIR")
    return found


def trained_from(directories: list[Path]) -> tuple[dict[str, Path], list[dict[str, Any] | None]]:
    """The encoders of every folder (:func:`trained_models`) and what trained each folder.

    Refuses a folder without encoders, or two folders with an encoder of the same name.
    """
    trained: dict[str, Path] = {}
    trained_by = []
    for directory in directories:
        found = trained_models(directory)
        if set(found) & set(trained):
            raise SystemExit(f"{directory} holds encoders of names another --trained folder has: "
                             f"{', '.join(sorted(set(found) & set(trained)))}")
        trained.update(found)
        made = Path(directory) / "trained_by.json"  # bench_contrastive.py --save-models writes it
        trained_by.append(json.loads(made.read_text()) if made.exists() else None)
    return trained, trained_by


#: Methods scored on kmcp15 only (trained on validation species).
KMCP15_ONLY = ("spectrum_map_refit",)


def _sets(val_per_genome: int, names: list[str] | tuple[str, ...] = ("validation", "kmcp15"),
          kmcp15_draws: int = 1) -> dict[str, tuple[list[str], np.ndarray]]:
    """Set name -> (fragments, species): ``validation``, ``kmcp15`` and ``kmcp15@<draw>``."""
    from dnalib import datasets

    out = {}
    for name in names:
        if name == "validation":
            gs = datasets.load_genomes_real(progress=False).split("validation")
            draws = [("validation", val_per_genome, 0)]
        else:
            gs = datasets.load_kmcp15(progress=False)
            draws = [("kmcp15" if d == 0 else f"kmcp15@{d}", 100, d) for d in range(kmcp15_draws)]
        for set_name, per, seed in draws:
            frags, table = gs.fragments(10_000, per, seed=seed, allow_fewer=True)
            out[set_name] = (frags, table["species"].to_numpy())
    return out


def over_draws(record: dict[str, Any]) -> dict[str, Any]:
    """Each method's mean ARI and species binned over the kmcp15 draws, and its binning vs the 6-mer's.

    A method trained with several seeds counts as one (the mean over its seeds
    in every draw). ``binned_minus_kmer6`` lists the per-draw differences in
    species binned at F1 >= 0.5.
    """
    draws = [s for s in record["sets"] if s == "kmcp15" or s.startswith("kmcp15@")]
    out: dict[str, Any] = {"draws": draws, "methods": {}}
    per_draw: dict[str, list[tuple[float, float]]] = {}
    for set_name in draws:
        grouped: dict[str, list[dict[str, Any]]] = {}
        for name, row in record["sets"][set_name]["methods"].items():
            grouped.setdefault(name.split("/")[0], []).append(row)
        for method, rows in grouped.items():
            per_draw.setdefault(method, []).append(
                (float(np.mean([r["ari"] for r in rows])), float(np.mean([r["f1_ge_0.5"] for r in rows]))))
    base = per_draw.get("kmer6")
    for method, values in per_draw.items():
        if len(values) != len(draws):
            continue
        entry = {"ari": float(np.mean([v[0] for v in values])),
                 "binned": float(np.mean([v[1] for v in values])), "binned_per_draw": [v[1] for v in values]}
        if base and len(base) == len(values):
            entry["binned_minus_kmer6"] = [v[1] - b[1] for v, b in zip(values, base, strict=True)]
            entry["ari_minus_kmer6"] = float(np.mean([v[0] - b[0] for v, b in zip(values, base, strict=True)]))
        out["methods"][method] = entry
    return out


def _embedders(args: argparse.Namespace, tmp: Path, trained: dict[str, Path]) -> dict[str, Any]:
    """name -> embedding function (spectrum maps trained here, one per seed)."""
    from dnalib import artifacts, kmers
    from dnalib.datasets import KMCP15_GENERA, load_genomes_real
    from dnalib.embed import embed_with
    from dnalib.pairs import genome_groups, species_groups
    from dnalib.simulate import training_genomes
    from dnalib.spectrum_map import SpectrumMap, SpectrumMapConfig, train_spectrum_map

    def log_ratio(frags: list[str]) -> np.ndarray:
        f = kmers.kmer_spectrum(frags, 6, canonical=True, normalize="l1")
        return np.log1p(f * f.shape[1])

    methods: dict[str, Any] = {"tnf": lambda f: embed_with("tnf", f),
                               "kmer6": lambda f: embed_with("kmer6", f), "kmer6-log": log_ratio}
    real = load_genomes_real(progress=False)
    groups = species_groups(real.split("train"))
    variants = {  # name -> (training groups, settings, shipped artifact of seed 0)
        "spectrum_map": (groups, {}, "spectrum_map"),
        "spectrum_map_k6": (groups, {"k": 6}, None),  # the rival on 6-mers
        "spectrum_map_mixed": (groups + genome_groups(training_genomes()), {}, None),
        "spectrum_map_refit": (species_groups(real.without(KMCP15_GENERA, "genus")), {},
                               "spectrum_map_refit")}
    for name, (data, settings, shipped) in variants.items() if args.maps else ():
        for seed in args.seeds:  # trained here (seconds), but the shipped copy of seed 0
            if seed == 0 and shipped:
                where = artifacts.get(shipped, progress=False)
            else:
                where = tmp / f"{name}-{seed}"
                train_spectrum_map(data, where, SpectrumMapConfig(seed=seed, **settings), progress=False)
            methods[f"{name}/{seed}"] = SpectrumMap.from_pretrained(where).embed
    for name in args.models:
        directory = str(artifacts.get(name, args.profile, progress=False))
        methods[name] = lambda f, d=directory: embed_with(d, f)
    for name, directory in trained.items():
        methods[name] = lambda f, d=str(directory): embed_with(d, f)
    return methods


def main(argv: list[str] | None = None) -> None:
    """Embed, score, compare, record."""
    from dnalib.cli import positive_int
    from dnalib.evaluate import binning_scores, clustering_scores, paired_clustering_difference

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--profile", default="cpu", help="profile of the transformer artifacts")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="spectrum map seeds")
    p.add_argument("--models", nargs="*", default=[], choices=["mlm", "simclr", "curriculum"])
    p.add_argument("--trained", type=Path, nargs="+", default=[],
                   help="folders of encoders kept by bench_contrastive.py --save-models "
                        "(DIR/<method>-<seed>)")
    p.add_argument("--sets", nargs="+", default=["validation", "kmcp15"],
                   choices=["validation", "kmcp15"])
    p.add_argument("--no-maps", dest="maps", action="store_false",
                   help="leave out the spectrum maps (their record is results/real_genomes_cpu.json): "
                        "spectra and transformers only")
    p.add_argument("--val-per-genome", type=int, default=20)
    p.add_argument("--kmcp15-draws", type=positive_int, default=1,
                   help="independent draws of kmcp15 fragments (fragment seeds 0 .. N-1)")
    p.add_argument("--draws", type=int, default=50,
                   help="random halves per comparison (each clustered with 5 KMeans seeds)")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    trained, trained_by = trained_from(args.trained)  # refuses a bad folder before any work
    record: dict[str, Any] = {
        "benchmark": "unseen real species: k-mer spectra, the learned spectrum map, transformers",
        "command": "python benchmarks/bench_real_genomes.py " + " ".join(sys.argv[1:] if argv is None
                                                                           else argv),
        "commit": records.commit(), "hardware": records.hardware(), "profile": args.profile,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "complete": False,
        "settings": {"fragment_length": 10_000, "val_per_genome": args.val_per_genome,
                     "kmcp15_per_genome": 100, "fragment_seed": 0,
                     "kmcp15_draws": args.kmcp15_draws, "kmeans_seeds": [0, 1, 2, 3, 4],
                     "draws": args.draws, "level": 0.95, "kmeans_seeds_per_half": 5,
                     "trained": [str(d) for d in args.trained]},
        "trained_by": trained_by,
        "sets": {}}
    sets = _sets(args.val_per_genome, args.sets, args.kmcp15_draws)
    with tempfile.TemporaryDirectory() as tmp:
        methods = _embedders(args, Path(tmp), trained)
        emb: dict[str, dict[str, np.ndarray]] = {s: {} for s in sets}
        for name, fn in methods.items():
            for set_name, (frags, species) in sets.items():
                if name.split("/")[0] in KMCP15_ONLY and not set_name.startswith("kmcp15"):
                    continue
                t0 = time.perf_counter()
                x = fn(frags)
                seconds = time.perf_counter() - t0
                emb[set_name][name] = x
                c = clustering_scores(x, species)
                b = binning_scores(x, species)
                entry = record["sets"].setdefault(set_name, {
                    "n_species": int(len(np.unique(species))), "n_fragments": len(frags),
                    "methods": {}, "comparisons": []})
                entry["methods"][name] = {"ari": c["ari"], "ari_std": c["ari_std"], "nmi": c["nmi"],
                                          "f1_ge_0.5": b["f1_ge_0.5"], "f1_ge_0.9": b["f1_ge_0.9"],
                                          "seconds_embed": seconds}
                print(f"{set_name:10s} {name:16s} ARI {c['ari']:.3f}  F1>=0.5 {b['f1_ge_0.5']:3d}  "
                      f"({seconds:.0f} s)", flush=True)
            records.write(args.out, record)
        for set_name, (_, species) in sets.items():
            if "@" in set_name:  # the other draws: scores and over_draws, no paired differences
                continue
            have = emb[set_name]
            for a, b in PAIRS:
                sides = [[n for n in have if n == side or n.startswith(side + "/")] for side in (a, b)]
                if not (sides[0] and sides[1]):
                    continue
                res = paired_clustering_difference([have[n] for n in sides[0]],
                                                   [have[n] for n in sides[1]], species, draws=args.draws)
                record["sets"][set_name]["comparisons"].append(
                    {"a": a, "b": b, "runs_a": sides[0], "runs_b": sides[1], **res})
                print(f"{set_name:10s} {a} - {b} ({len(sides[0])} vs {len(sides[1])} models): "
                      f"{res['difference']:+.3f} [{res['interval'][0]:+.3f}, {res['interval'][1]:+.3f}], "
                      f"wins {res['wins']:.2f}", flush=True)
                records.write(args.out, record)
    if args.kmcp15_draws > 1 and "kmcp15" in sets:
        record["over_draws"] = over_draws(record)
        for method, entry in record["over_draws"]["methods"].items():
            print(f"kmcp15 over {args.kmcp15_draws} draws {method:18s} ARI {entry['ari']:.3f}  "
                  f"binned {entry['binned']:.2f}", flush=True)
    record["complete"] = True
    record["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    records.write(args.out, record)


if __name__ == "__main__":
    main()
