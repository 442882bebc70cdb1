"""SCORPIO's question for our models: learned embeddings against k-mer frequencies on DAIRYdb, by rank.

Every DAIRYdb v1.2.4 16S sequence is cut into adjacent 200 bp tiles (the last,
incomplete one dropped; ``--max-tiles`` random tiles per sequence are kept, 2
as in chapter 2), a tile inherits its sequence's lineage, and every model
embeds the *same* tiles: TNF and 6-mer spectra (``tnf``; ``kmer6``, dnalib's
baseline: canonical 6-mers, L2-normalised; ``6mer_freq``, SCORPIO's and
chapter 2's features: all 4,096 6-mers as frequencies), the
shipped spectrum maps (``spectrum_map``, ``spectrum_map_refit``) and the shipped
``hour`` transformers (``mlm``: MLM pretrained on 200 bp chunks of real genomes,
SCORPIO's recipe at small scale; ``simclr`` and ``curriculum``: contrastive).
KNN (k = 3) and a random forest (100 trees) classify phylum, order and genus
(:func:`dnalib.markers.classify_by_rank`: stratified k-fold grouped by source
sequence, identical sequences in one group, taxa of < 10 tiles or < 2
sequences set aside per rank). Every row has the mean and standard deviation
over the folds, and its accuracy minus that of 6-mer frequencies + random
forest (``6mer_freq``, SCORPIO's best row) at the same rank (the folds are the
same for every model); ``beyond_spread`` says whether the difference is larger
than the two standard deviations added.

Writes ``results/markers_cpu.json`` (command, commit, hardware, settings, the
input counts, one row per model x rank x classifier), after every model, so an
interrupted run keeps what it finished (``complete`` says whether all did).

Run (the full comparison; not for a shared CPU)::

    python benchmarks/bench_markers.py --out results/markers_cpu.json

A smoke run (200 sequences, 1 tile each, 3 folds, every model; about a minute)::

    python benchmarks/bench_markers.py --smoke --out /tmp/markers_smoke.json
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from dnalib import records

#: Models in the order of the table: baselines, spectrum maps, shipped transformers.
BASELINES = ("tnf", "kmer6")
#: SCORPIO's 6-mer frequencies (:func:`dnalib.kmers.kmer_spectrum`, k = 6, L1): features, not a model name.
FREQUENCIES = "6mer_freq"
MAPS = ("spectrum_map", "spectrum_map_refit")
TRANSFORMERS = ("mlm", "simclr", "curriculum")
MODELS = (FREQUENCIES, *BASELINES, *MAPS, *TRANSFORMERS)
RANKS = ("phylum", "order", "genus")
REFERENCE = (FREQUENCIES, "rf")


def model_path(name: str, profile: str) -> str:
    """What ``--model`` is for *name*: a baseline name, a shipped map or transformer directory."""
    from dnalib import artifacts

    if name in BASELINES or name == FREQUENCIES:
        return name
    if name in MAPS:
        return str(artifacts.get(name, progress=False))
    return str(artifacts.get(name, profile, progress=False))


def dairydb_tiles(n_sequences: int | None, max_tiles: int | None, seed: int) -> Any:
    """The DAIRYdb tiles every model embeds (:func:`dnalib.markers.labelled_fragments`)."""
    from dnalib import datasets, markers

    dairy = datasets.load_dairydb(progress=False)
    if n_sequences is not None and n_sequences < len(dairy):
        rows = np.sort(np.random.default_rng(seed).choice(len(dairy), n_sequences, replace=False))
        dairy = dairy.iloc[rows]
    labels = dairy.set_index("id")[list(RANKS)]
    return markers.labelled_fragments(dairy["id"].tolist(), dairy["sequence"].tolist(), labels,
                                      tile=200, max_tiles=max_tiles, seed=seed)


def common_tiles(frags: Any, models: dict[str, str], options: dict[str, Any]) -> tuple[Any, int]:
    """The tiles every model can embed (enough unambiguous bases in a row for the most demanding one)."""
    from dnalib.embed import unembeddable
    from dnalib.embedders import from_name
    from dnalib.markers import LabelledFragments

    k = max([6] + [from_name(path, **options).min_bases for name, path in models.items()
                   if name != FREQUENCIES])
    bad = set(unembeddable(frags.sequences, k))
    if not bad:
        return frags, 0
    keep = np.array([i not in bad for i in range(len(frags.sequences))])
    return LabelledFragments([s for s, ok in zip(frags.sequences, keep, strict=True) if ok],
                             frags.table[keep].reset_index(drop=True), frags.ranks, dict(frags.report),
                             frags.settings), len(bad)


def against_reference(rows: list[dict[str, Any]]) -> None:
    """Add each row's accuracy and macro-F1 minus those of 6-mer + random forest at its rank."""
    ref = {r["rank"]: r for r in rows if (r["model"], r["classifier"]) == REFERENCE}
    for r in rows:
        base = ref.get(r["rank"])
        if base is None:
            continue
        r["accuracy_minus_6mer_rf"] = r["accuracy"] - base["accuracy"]
        r["macro_f1_minus_6mer_rf"] = r["macro_f1"] - base["macro_f1"]
        r["beyond_spread"] = bool(abs(r["accuracy_minus_6mer_rf"]) > r["accuracy_std"] + base["accuracy_std"])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Embed the DAIRYdb tiles with every model, classify by rank, write the record."""
    from dnalib import kmers
    from dnalib.embedders import from_name
    from dnalib.markers import classify_by_rank, embed_fragments

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--profile", default="hour", help="profile of the shipped transformers (hour)")
    p.add_argument("--max-tiles", type=int, default=2, help="tiles per sequence (2; 0: all)")
    p.add_argument("--splits", type=int, default=5, help="grouped stratified folds (5, at least 3)")
    p.add_argument("--seed", type=int, default=0, help="seed of the tiles and the folds")
    p.add_argument("--jobs", type=int, default=2, help="parallel jobs of KNN and the random forest")
    p.add_argument("--precision", default="fp32", choices=["auto", "fp32", "bf16"],
                   help="arithmetic of the transformers (fp32: the same rows on every CPU)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--smoke", action="store_true",
                   help="200 sequences, 1 tile each, 3 folds: checks the pipeline in about a minute")
    p.add_argument("--out", default=str(records.results_dir() / "markers_cpu.json"))
    args = p.parse_args(argv)
    if args.splits < 3:
        p.error("--splits must be at least 3 (the issue asks for a spread over >= 3 splits)")
    n_sequences = None
    if args.smoke:
        if Path(args.out).resolve() == (records.results_dir() / "markers_cpu.json").resolve():
            p.error("--smoke does not write the record of the full run: give --out")
        n_sequences, args.max_tiles, args.splits = 200, 1, 3
    max_tiles = args.max_tiles or None
    command = "python benchmarks/bench_markers.py " + " ".join(sys.argv[1:] if argv is None else argv)
    options = {"precision": args.precision, "batch_size": args.batch_size}
    models = {name: model_path(name, args.profile) for name in args.models}
    t0 = time.perf_counter()
    frags = dairydb_tiles(n_sequences, max_tiles, args.seed)
    frags, n_unembeddable = common_tiles(frags, models, options)
    record: dict[str, Any] = {
        "benchmark": "DAIRYdb 200 bp tiles: learned embeddings against k-mer frequencies, by rank "
                     "(SCORPIO / MetaBERTa protocol, splits grouped by source sequence)",
        "command": command, "commit": records.commit(), "hardware": records.hardware(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "complete": False,
        "settings": {**frags.settings, "n_sequences": n_sequences, "n_splits": args.splits,
                     "split": "StratifiedGroupKFold by source sequence (identical sequences in one group)",
                     "split_seed": args.seed, "min_per_taxon": 10, "min_sequences_per_taxon": 2,
                     "classifiers": ["knn", "rf"], "knn_k": 3, "rf_trees": 100,
                     "profile": args.profile, "precision": args.precision, "smoke": args.smoke,
                     "reference": "6mer_freq + rf"},
        "inputs": {**frags.report, "unembeddable_by_some_model": n_unembeddable},
        "n_samples": len(frags.sequences), "models": {}, "rows": [], "skipped": {},
        "seconds": {"tiles": time.perf_counter() - t0}}
    print(f"{len(frags.sequences)} tiles of {frags.report['n_used_sequences']} DAIRYdb sequences", flush=True)
    for name, path in models.items():
        t1 = time.perf_counter()
        if name == FREQUENCIES:
            x, used = kmers.kmer_spectrum(frags.sequences, 6, normalize="l1"), frags
            identity = {"features": "kmer_spectrum", "settings": {"k": 6, "canonical": False,
                                                                  "normalize": "l1"}}
        else:
            x, used = embed_fragments(path, frags, **options)
            identity = from_name(path, **options).identity
        if len(used.sequences) != len(frags.sequences):
            raise SystemExit(f"{name} dropped {used.report['unembeddable']} tiles the others embed")
        t2 = time.perf_counter()
        res = classify_by_rank(x, used, list(RANKS), n_splits=args.splits, seed=args.seed, n_jobs=args.jobs)
        record["models"][name] = {"model": path, "embedder": identity, "dim": int(x.shape[1]),
                                  "embed_seconds": t2 - t1, "classify_seconds": res["seconds"]}
        record["rows"] += [{"model": name, **r} for r in res["taxonomy"]]
        record["skipped"].update({f"{name}/{k}": v for k, v in res["skipped"].items()})
        against_reference(record["rows"])
        records.write(args.out, record)
        done = {(r["rank"], r["classifier"]): r["accuracy"] for r in res["taxonomy"]}
        print(f"{name}: embedded in {t2 - t1:.0f} s, classified in {res['seconds']:.0f} s; accuracy "
              + ", ".join(f"{rank}/{clf} {acc:.3f}" for (rank, clf), acc in done.items()), flush=True)
    record["complete"] = True
    record["seconds"]["total"] = time.perf_counter() - t0
    records.write(args.out, record)
    print(f"wrote {args.out}")
    return record


if __name__ == "__main__":
    main()
