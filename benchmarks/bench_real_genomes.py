"""Species no model saw: k-mer spectra, the learned spectrum map and the transformers, paired over species.

Two sets of unseen species, 10 kbp fragments:

* ``validation``: the 60 validation species of ``genomes_real`` (88 genomes; no
  genus of them trained anything here), ``--val-per-genome`` fragments per
  genome (default 20);
* ``kmcp15``: the 15 kmcp15 genomes, 100 fragments per genome (the ``dnalib
  evaluate`` protocol); their genera are held out of the genomes_real training split.

Methods: TNF, the canonical 6-mer spectrum (the book's baseline), the same
spectrum as log ratios without learning (``kmer6-log``: what the map's input
transform alone gives), the learned spectrum map (``spectrum_map``, one model
per ``--seeds`` seed; seed 0 is the shipped recipe) and, with ``--models``,
the transformers of chapters 4 to 6 (``mlm``, ``simclr``, ``curriculum``:
trained on the synthetic community, ``dnalib.artifacts`` of ``--profile``).

Each set gets clustering ARI (KMeans, 5 seeds), binning (species at F1 >= 0.5)
and paired differences with half-sample intervals over species
(:func:`dnalib.evaluate.paired_clustering_difference`). The record is written
after every method (``complete`` false until the end)::

    python benchmarks/bench_real_genomes.py --profile cpu --models mlm simclr curriculum \\
        --out results/real_genomes_cpu.json
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from dnalib import records

#: Comparisons recorded when both sides were measured: (a, b) is "a minus b".
PAIRS = (("spectrum_map", "kmer6"), ("kmer6-log", "kmer6"), ("curriculum", "simclr"),
         ("curriculum", "kmer6"), ("mlm", "kmer6"))


def _sets(val_per_genome: int) -> dict[str, tuple[list[str], np.ndarray]]:
    from dnalib import datasets

    real = datasets.load_genomes_real(progress=False).split("validation")
    kmcp = datasets.load_kmcp15(progress=False)
    out = {}
    for name, gs, per in (("validation", real, val_per_genome), ("kmcp15", kmcp, 100)):
        frags, table = gs.fragments(10_000, per, seed=0, allow_fewer=True)
        out[name] = (frags, table["species"].to_numpy())
    return out


def _embedders(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
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
    train = load_genomes_real(progress=False).split("train")
    for seed in args.seeds:
        if seed == 0:
            where = artifacts.get("spectrum_map", progress=False)
        else:
            where = tmp / f"map-{seed}"
            train_spectrum_map(species_groups(train), where, SpectrumMapConfig(seed=seed),
                               progress=False)
        methods[f"spectrum_map/{seed}"] = SpectrumMap.from_pretrained(where).embed
    for name in args.models:
        directory = str(artifacts.get(name, args.profile, progress=False))
        methods[name] = lambda f, d=directory: embed_with(d, f)
    return methods


def main(argv: list[str] | None = None) -> None:
    """Embed, score, compare, record."""
    from dnalib.evaluate import binning_scores, clustering_scores, paired_clustering_difference

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--profile", default="cpu", help="profile of the transformer artifacts")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="spectrum map seeds")
    p.add_argument("--models", nargs="*", default=[], choices=["mlm", "simclr", "curriculum"])
    p.add_argument("--val-per-genome", type=int, default=20)
    p.add_argument("--draws", type=int, default=100, help="random halves per comparison")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    record: dict[str, Any] = {
        "benchmark": "unseen real species: k-mer spectra, the learned spectrum map, transformers",
        "command": "python benchmarks/bench_real_genomes.py " + " ".join(sys.argv[1:] if argv is None
                                                                           else argv),
        "commit": records.commit(), "hardware": records.hardware(), "profile": args.profile,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "complete": False,
        "settings": {"fragment_length": 10_000, "val_per_genome": args.val_per_genome,
                     "kmcp15_per_genome": 100, "fragment_seed": 0, "kmeans_seeds": [0, 1, 2, 3, 4],
                     "draws": args.draws, "level": 0.95},
        "sets": {}}
    sets = _sets(args.val_per_genome)
    with tempfile.TemporaryDirectory() as tmp:
        methods = _embedders(args, Path(tmp))
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
                for na in sides[0]:
                    for nb in sides[1]:
                        res = paired_clustering_difference(have[na], have[nb], species, draws=args.draws)
                        record["sets"][set_name]["comparisons"].append({"a": na, "b": nb, **res})
                        print(f"{set_name:10s} {na} - {nb}: {res['difference']:+.3f} "
                              f"[{res['interval'][0]:+.3f}, {res['interval'][1]:+.3f}], "
                              f"wins {res['wins']:.2f}", flush=True)
                records.write(args.out, record)
    record["complete"] = True
    record["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    records.write(args.out, record)


if __name__ == "__main__":
    main()
