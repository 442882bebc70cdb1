"""Species no model saw: k-mer spectra, the learned spectrum map and the transformers, paired over species.

Two sets of unseen species, 10 kbp fragments:

* ``validation``: the 60 validation species of ``genomes_real`` (88 genomes; no
  genus of them trained anything here), ``--val-per-genome`` fragments per
  genome (default 20);
* ``kmcp15``: the 15 kmcp15 genomes, 100 fragments per genome (the ``dnalib
  evaluate`` protocol); their genera are held out of the genomes_real training split.

Methods: TNF, the canonical 6-mer spectrum (the book's baseline), the same
spectrum as log ratios without learning (``kmer6-log``: what the map's input
transform alone gives), the learned spectrum map (``spectrum_map``: the
shipped recipe, 5-mers, one model per ``--seeds`` seed; seed 0 is the shipped
one), the same map on 6-mers (``spectrum_map_k6``: the rival the issue named,
same seeds) and, with ``--models``,
the transformers of ``--profile`` (``mlm``, ``simclr``, ``curriculum``,
``dnalib.artifacts``): chapters 4 to 6's for ``cpu`` (trained on the synthetic
community), an hour's training on the genomes_real training species for
``hour`` (the shipped weights).

With ``--trained DIR``, the encoders ``benchmarks/bench_contrastive.py
--save-models DIR`` kept (``DIR/<method>-<seed>``: SimCLR, MI-Mix only,
curriculum, MLM only, one per training seed, trained on the synthetic
community with equal step budgets) are scored too, as ``ablation-<method>/<seed>``.

Each set gets clustering ARI (KMeans, 5 seeds), binning (species at F1 >= 0.5)
and paired differences with half-sample intervals over species
(:func:`dnalib.evaluate.paired_clustering_difference`, every half clustered
with 5 KMeans seeds like the whole set). A method trained with several seeds
is compared as one: its ARI is the mean over its seeds, on the whole set and on
every half. The record is written after every method and comparison
(``complete`` false until the end)::

    python benchmarks/bench_real_genomes.py --out results/real_genomes_cpu.json   # ~40 min
    python benchmarks/bench_contrastive.py --profile cpu --seeds 0 1 2 \\
        --methods SimCLR curriculum --save-models runs/ablation --out runs/ablation.json
    python benchmarks/bench_real_genomes.py --seeds 0 --trained runs/ablation \\
        --sets validation --out results/real_genomes_transformers_cpu.json
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
         ("curriculum", "simclr"),
         ("curriculum", "kmer6"), ("simclr", "kmer6"), ("mlm", "kmer6"),
         ("curriculum", "spectrum_map"), ("simclr", "spectrum_map"),
         ("ablation-curriculum", "ablation-SimCLR"), ("ablation-MI-Mix_only", "ablation-SimCLR"),
         ("ablation-curriculum", "kmer6"), ("ablation-SimCLR", "kmer6"),
         ("ablation-MLM_only", "kmer6"), ("spectrum_map", "ablation-curriculum"))


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


def _sets(val_per_genome: int, names: list[str] | tuple[str, ...] = ("validation", "kmcp15")
          ) -> dict[str, tuple[list[str], np.ndarray]]:
    from dnalib import datasets

    out = {}
    for name in names:
        if name == "validation":
            gs, per = datasets.load_genomes_real(progress=False).split("validation"), val_per_genome
        else:
            gs, per = datasets.load_kmcp15(progress=False), 100
        frags, table = gs.fragments(10_000, per, seed=0, allow_fewer=True)
        out[name] = (frags, table["species"].to_numpy())
    return out


def _embedders(args: argparse.Namespace, tmp: Path, trained: dict[str, Path]) -> dict[str, Any]:
    """name -> embedding function (spectrum maps trained here, one per seed)."""
    from dnalib import artifacts, kmers
    from dnalib.contrastive import species_groups
    from dnalib.datasets import load_genomes_real
    from dnalib.embed import embed_with
    from dnalib.spectrum_map import SpectrumMap, SpectrumMapConfig, train_spectrum_map

    def log_ratio(frags: list[str]) -> np.ndarray:
        f = kmers.kmer_spectrum(frags, 6, canonical=True, normalize="l1")
        return np.log1p(f * f.shape[1])

    methods: dict[str, Any] = {"tnf": lambda f: embed_with("tnf", f),
                               "kmer6": lambda f: embed_with("kmer6", f), "kmer6-log": log_ratio}
    groups = species_groups(load_genomes_real(progress=False).split("train"))
    for seed in args.seeds:
        if seed == 0:
            where = artifacts.get("spectrum_map", progress=False)
        else:
            where = tmp / f"map-{seed}"
            train_spectrum_map(groups, where, SpectrumMapConfig(seed=seed),
                               progress=False)
        methods[f"spectrum_map/{seed}"] = SpectrumMap.from_pretrained(where).embed
    for seed in args.seeds:  # the rival on 6-mers, trained here (seconds)
        where = tmp / f"map-k6-{seed}"
        train_spectrum_map(groups, where, SpectrumMapConfig(k=6, seed=seed),
                           progress=False)
        methods[f"spectrum_map_k6/{seed}"] = SpectrumMap.from_pretrained(where).embed
    for name in args.models:
        directory = str(artifacts.get(name, args.profile, progress=False))
        methods[name] = lambda f, d=directory: embed_with(d, f)
    for name, directory in trained.items():
        methods[name] = lambda f, d=str(directory): embed_with(d, f)
    return methods


def main(argv: list[str] | None = None) -> None:
    """Embed, score, compare, record."""
    from dnalib.evaluate import binning_scores, clustering_scores, paired_clustering_difference

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--profile", default="cpu", help="profile of the transformer artifacts")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="spectrum map seeds")
    p.add_argument("--models", nargs="*", default=[], choices=["mlm", "simclr", "curriculum"])
    p.add_argument("--trained", type=Path, default=None,
                   help="encoders kept by bench_contrastive.py --save-models (DIR/<method>-<seed>)")
    p.add_argument("--sets", nargs="+", default=["validation", "kmcp15"],
                   choices=["validation", "kmcp15"])
    p.add_argument("--val-per-genome", type=int, default=20)
    p.add_argument("--draws", type=int, default=50,
                   help="random halves per comparison (each clustered with 5 KMeans seeds)")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    trained, trained_by = {}, None
    if args.trained:
        trained = trained_models(args.trained)  # refuses a folder without encoders before any work
        made = args.trained / "trained_by.json"  # bench_contrastive.py --save-models writes it
        trained_by = json.loads(made.read_text()) if made.exists() else None
    record: dict[str, Any] = {
        "benchmark": "unseen real species: k-mer spectra, the learned spectrum map, transformers",
        "command": "python benchmarks/bench_real_genomes.py " + " ".join(sys.argv[1:] if argv is None
                                                                           else argv),
        "commit": records.commit(), "hardware": records.hardware(), "profile": args.profile,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "complete": False,
        "settings": {"fragment_length": 10_000, "val_per_genome": args.val_per_genome,
                     "kmcp15_per_genome": 100, "fragment_seed": 0, "kmeans_seeds": [0, 1, 2, 3, 4],
                     "draws": args.draws, "level": 0.95, "kmeans_seeds_per_half": 5,
                     "trained": str(args.trained) if args.trained else None},
        "trained_by": trained_by,
        "sets": {}}
    sets = _sets(args.val_per_genome, args.sets)
    with tempfile.TemporaryDirectory() as tmp:
        methods = _embedders(args, Path(tmp), trained)
        emb: dict[str, dict[str, np.ndarray]] = {s: {} for s in sets}
        for name, fn in methods.items():
            for set_name, (frags, species) in sets.items():
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
    record["complete"] = True
    record["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    records.write(args.out, record)


if __name__ == "__main__":
    main()
