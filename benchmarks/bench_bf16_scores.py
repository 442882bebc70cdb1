"""Do bf16 embeddings score like float32 ones? Every shipped model, unseen real species, same fragments.

``--precision auto`` embeds in bf16 on a CPU with bf16 matrix units (Intel
AMX, AVX-512 BF16) only if this holds: for every shipped model, the species
clustering ARI (KMeans, DNABERT-S protocol, mean over seeds 0-4) of its bf16
embeddings is within ``--tolerance`` (0.005) of its float32 ARI, on the 60
validation species of ``genomes_real`` (20 x 10 kbp fragments per genome) and
on kmcp15 (100 x 10 kbp per genome). The fragments are cut once and both
precisions embed the same ones.

Models: the shipped transformers (``dnalib/weights/hour``: mlm, simclr,
curriculum, and the two trained with long-read errors, curriculum_aug10 and
curriculum_plus_aug10) in fp32 and bf16. The shipped spectrum maps and the k-mer
baselines have no bf16 path (they always run in float32), so their scores do
not move; they are listed as such. The record also keeps the seconds each
embedding took, the largest absolute difference of the rows and the smallest
cosine between a bf16 row and its float32 row.

Run (about 30 min on 2 cores of an AMX Xeon)::

    python benchmarks/bench_bf16_scores.py --out results/bf16_scores_cpu.json
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import numpy as np

from dnalib import artifacts, records

#: The shipped transformers (profile hour) the comparison covers: every artifact that is not a map.
MODELS = tuple(name for name in artifacts.NAMES if name not in artifacts.MAPS)


def _sets(val_per_genome: int, names: list[str]) -> dict[str, tuple[list[str], np.ndarray]]:
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


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Embed every shipped transformer in fp32 and bf16, score both, record the differences."""
    from dnalib.embed import embed_with
    from dnalib.evaluate import clustering_scores
    from dnalib.inference import cpu_bf16_units

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--profile", default="hour", help="profile of the shipped transformers")
    p.add_argument("--sets", nargs="+", default=["validation", "kmcp15"], choices=["validation", "kmcp15"])
    p.add_argument("--val-per-genome", type=int, default=20)
    p.add_argument("--tolerance", type=float, default=0.005)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    record: dict[str, Any] = {
        "benchmark": "bf16 against float32 embeddings: clustering ARI of every shipped model",
        "command": "python benchmarks/bench_bf16_scores.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "commit": records.commit(), "hardware": records.hardware(), "bf16_units": cpu_bf16_units(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "complete": False,
        "settings": {"fragment_length": 10_000, "val_per_genome": args.val_per_genome,
                     "kmcp15_per_genome": 100, "fragment_seed": 0, "kmeans_seeds": [0, 1, 2, 3, 4],
                     "tolerance": args.tolerance, "profile": args.profile},
        "no_bf16_path": ["tnf", "kmer6", *artifacts.MAPS],
        "sets": {}}
    sets = _sets(args.val_per_genome, args.sets)
    for name in args.models:
        directory = str(artifacts.get(name, args.profile, progress=False))
        for set_name, (frags, species) in sets.items():
            rows: dict[str, np.ndarray] = {}
            entry: dict[str, Any] = {}
            for precision in ("fp32", "bf16"):
                t0 = time.perf_counter()
                rows[precision] = embed_with(directory, frags, precision=precision)
                seconds = time.perf_counter() - t0
                c = clustering_scores(rows[precision], species)
                entry[precision] = {"ari": c["ari"], "ari_std": c["ari_std"], "nmi": c["nmi"],
                                    "seconds_embed": seconds}
            a, b = rows["fp32"], rows["bf16"]
            cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
            entry.update(ari_difference=entry["bf16"]["ari"] - entry["fp32"]["ari"],
                         max_abs_difference=float(np.abs(a - b).max()), min_cosine=float(cos.min()),
                         speedup=entry["fp32"]["seconds_embed"] / entry["bf16"]["seconds_embed"])
            entry["within_tolerance"] = abs(entry["ari_difference"]) <= args.tolerance
            s = record["sets"].setdefault(set_name, {"n_species": int(len(np.unique(species))),
                                                     "n_fragments": len(frags), "models": {}})
            s["models"][f"{args.profile}/{name}"] = entry
            print(f"{set_name:10s} {name:10s} ARI fp32 {entry['fp32']['ari']:.4f} bf16 "
                  f"{entry['bf16']['ari']:.4f} ({entry['ari_difference']:+.4f}); min cosine "
                  f"{entry['min_cosine']:.6f}; {entry['fp32']['seconds_embed']:.0f} s vs "
                  f"{entry['bf16']['seconds_embed']:.0f} s ({entry['speedup']:.2f}x)", flush=True)
            records.write(args.out, record)
    record["all_within_tolerance"] = all(m["within_tolerance"] for s in record["sets"].values()
                                         for m in s["models"].values())
    record["complete"] = True
    record["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    records.write(args.out, record)
    print(f"all within {args.tolerance}: {record['all_within_tolerance']}")
    return record


if __name__ == "__main__":
    main()
