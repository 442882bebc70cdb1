"""SCORPIO's question for our models: learned embeddings against k-mer frequencies on DAIRYdb, by rank.

Every DAIRYdb v1.2.4 16S sequence is cut into adjacent 200 bp tiles (the last,
incomplete one dropped; ``--max-tiles`` random tiles per sequence are kept, 2
as in chapter 2), a tile inherits its sequence's lineage, and every model
embeds the *same* tiles: TNF and 6-mer spectra (``tnf``; ``kmer6``, dnalib's
baseline: canonical 6-mers, L2-normalised; ``6mer_freq``, SCORPIO's and
chapter 2's features: all 4,096 6-mers as frequencies), the
shipped spectrum maps (``spectrum_map``, ``spectrum_map_refit``), chapter 4's
MLM (``chapter_mlm``: the cpu-profile ``mlm``, pretrained on synthetic genomes),
the shipped ``hour`` transformers (``mlm``: MLM pretrained on 200 bp chunks of
real genomes, SCORPIO's recipe at small scale; ``simclr`` and ``curriculum``:
contrastive) and an in-domain MLM (``indomain_mlm``: for every split, the
cpu-profile recipe pretrained from scratch on the DAIRYdb sequences of that
split's training folds, so no test tile's sequence is ever pretrained on).
KNN (k = 3) and a random forest (100 trees) classify phylum, order and genus
(:func:`dnalib.markers.classify_by_rank`: 3 stratified folds grouped by source
sequence, identical sequences in one group, the *same* folds at every rank and
for every model (:func:`dnalib.evaluate.grouped_folds`), taxa of < 10 tiles or
< 2 sequences set aside per rank). Every row has the mean and standard deviation
over the folds, and its accuracy minus that of 6-mer frequencies + random
forest (``6mer_freq``, SCORPIO's best row) at the same rank (the folds are the
same for every model, so the differences are paired, split by split);
``beyond_spread`` says whether the difference is larger than the two standard
deviations added and has one sign in every split.

Writes ``results/markers_cpu.json`` (command, commit, hardware, settings, the
input counts, one row per model x rank x classifier), after every model, so an
interrupted run keeps what it finished (``complete`` says whether all did).

Run (the full comparison; not for a shared CPU)::

    python benchmarks/bench_markers.py --out results/markers_cpu.json

A smoke run (200 sequences, 1 tile each, 3 folds, in-domain MLMs of 20 steps, every model; minutes)::

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
#: Chapter 4's MLM: the cpu-profile ``mlm`` artifact (trained on synthetic genomes, the chapter's recipe).
CHAPTER_MLM = "chapter_mlm"
#: An MLM pretrained, split by split, on the DAIRYdb sequences of the split's training folds.
INDOMAIN_MLM = "indomain_mlm"
MODELS = (FREQUENCIES, *BASELINES, *MAPS, CHAPTER_MLM, *TRANSFORMERS, INDOMAIN_MLM)
#: Optimizer steps of the in-domain MLM (the cpu profile's recipe otherwise; chapter 4 runs 300).
INDOMAIN_STEPS = 600
RANKS = ("phylum", "order", "genus")
REFERENCE = (FREQUENCIES, "rf")


def model_path(name: str, profile: str) -> str:
    """What ``--model`` is for *name*: a baseline name, a shipped map or transformer directory."""
    from dnalib import artifacts

    if name in BASELINES or name == FREQUENCIES:
        return name
    if name == INDOMAIN_MLM:
        return f"pretrained per split (cpu profile, {INDOMAIN_STEPS} steps, DAIRYdb training folds)"
    if name == CHAPTER_MLM:
        return str(artifacts.get("mlm", "cpu", progress=False))
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
                   if name not in (FREQUENCIES, INDOMAIN_MLM)])
    bad = set(unembeddable(frags.sequences, k))
    if not bad:
        return frags, 0
    keep = np.array([i not in bad for i in range(len(frags.sequences))])
    return LabelledFragments([s for s, ok in zip(frags.sequences, keep, strict=True) if ok],
                             frags.table[keep].reset_index(drop=True), frags.ranks, dict(frags.report),
                             frags.settings), len(bad)


def against_reference(rows: list[dict[str, Any]]) -> None:
    """Add each row's accuracy and macro-F1 minus those of 6-mer + random forest at its rank.

    The splits are the same for every model, so the differences are paired:
    ``accuracy_minus_6mer_rf_splits`` has one per split, ``paired_std`` their
    standard deviation, and ``beyond_spread`` says whether the mean difference
    is larger than the spread of the two models' accuracies added (the
    cautious reading) *and* has the same sign in every split.
    """
    ref = {r["rank"]: r for r in rows if (r["model"], r["classifier"]) == REFERENCE}
    for r in rows:
        base = ref.get(r["rank"])
        if base is None:
            continue
        diffs = [a - b for a, b in zip(r["accuracy_splits"], base["accuracy_splits"], strict=True)]
        r["accuracy_minus_6mer_rf"] = r["accuracy"] - base["accuracy"]
        r["accuracy_minus_6mer_rf_splits"] = diffs
        r["paired_std"] = float(np.std(diffs))
        r["macro_f1_minus_6mer_rf"] = r["macro_f1"] - base["macro_f1"]
        same_sign = all(d > 0 for d in diffs) or all(d < 0 for d in diffs)
        r["beyond_spread"] = bool(same_sign and abs(r["accuracy_minus_6mer_rf"])
                                  > r["accuracy_std"] + base["accuracy_std"])


def continued(out: str, record: dict[str, Any]) -> dict[str, Any] | None:
    """The record already at *out* when it was made with the same settings and tiles, else None.

    A run interrupted (or run model by model) keeps the rows of the models it
    finished: the folds depend only on the settings and the tiles, so rows of
    the same settings stay paired with the new ones.
    """
    import json

    path = Path(out)
    if not path.is_file():
        return None
    try:
        previous = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    def plain(value: Any) -> Any:
        return json.loads(json.dumps(value))

    same = all(previous.get(key) == plain(record[key]) for key in ("settings", "inputs", "n_samples"))
    if not same:
        print(f"{out} holds another run's settings or tiles: it is written anew", flush=True)
        return None
    return previous


def indomain_features(frags: Any, folds: np.ndarray, steps: int, seed: int, options: dict[str, Any],
                      work: Path) -> tuple[list[np.ndarray], dict[str, Any]]:
    """Per split j: an MLM pretrained on the sequences of the folds other than j, embedding every tile.

    The pretraining corpus of split *j* is the whole DAIRYdb sequences (not
    only the evaluated tiles) whose tiles are in the training folds of *j*;
    identical sequences share a group, hence a fold, so no test tile's
    sequence is pretrained on.  The recipe is the cpu profile's (chapter 4:
    200 bp fragments, 6-mer tokens, PCA init) with *steps* optimizer steps.
    """
    from dnalib import datasets
    from dnalib import pretrain as P
    from dnalib.markers import embed_fragments

    dairy = datasets.load_dairydb(progress=False).set_index("id")["sequence"]
    xs, info = [], {"steps": steps, "profile": "cpu", "seconds": [], "n_pretrain_sequences": [],
                    "final_eval_accuracy": []}
    ids = frags.table["id"].to_numpy()
    for j in range(int(folds.max()) + 1):
        train_ids = sorted(set(ids[folds != j]))
        test_ids = set(ids[folds == j])
        assert not test_ids & set(train_ids)
        seqs = dairy.loc[train_ids].tolist()
        cfg = P.pretrain_config("cpu", max_steps=steps, seed=seed, checkpoint_every=0)
        t0 = time.perf_counter()
        out = P.pretrain(seqs, work / f"split{j}", cfg, progress=False,
                         data_description=f"DAIRYdb v1.2.4 sequences of the training folds of split {j}")
        x, _ = embed_fragments(str(work / f"split{j}"), frags, **options)
        xs.append(x)
        info["seconds"].append(time.perf_counter() - t0)
        info["n_pretrain_sequences"].append(len(seqs))
        info["final_eval_accuracy"].append(out["final"].get("eval_accuracy"))
        print(f"  in-domain MLM of split {j}: {len(seqs)} sequences, {steps} steps, "
              f"{info['seconds'][-1]:.0f} s", flush=True)
    return xs, info


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Embed the DAIRYdb tiles with every model, classify by rank, write the record."""
    import tempfile

    from dnalib import kmers
    from dnalib.embedders import from_name
    from dnalib.evaluate import grouped_folds
    from dnalib.markers import classify_by_rank, embed_fragments

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--profile", default="hour", help="profile of the shipped transformers (hour)")
    p.add_argument("--max-tiles", type=int, default=2, help="tiles per sequence (2; 0: all)")
    p.add_argument("--splits", type=int, default=3, help="grouped stratified folds (3, at least 3)")
    p.add_argument("--indomain-steps", type=int, default=INDOMAIN_STEPS,
                   help=f"optimizer steps of each in-domain MLM ({INDOMAIN_STEPS})")
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
        n_sequences, args.max_tiles, args.splits, args.indomain_steps = 200, 1, 3, 20
    max_tiles = args.max_tiles or None
    command = "python benchmarks/bench_markers.py " + " ".join(sys.argv[1:] if argv is None else argv)
    options = {"precision": args.precision, "batch_size": args.batch_size}
    models = {name: model_path(name, args.profile) for name in args.models}
    if INDOMAIN_MLM in models:
        models[INDOMAIN_MLM] = models[INDOMAIN_MLM].replace(f"{INDOMAIN_STEPS} steps", f"{args.indomain_steps} steps")
    t0 = time.perf_counter()
    frags = dairydb_tiles(n_sequences, max_tiles, args.seed)
    frags, n_unembeddable = common_tiles(frags, models, options)
    # one set of folds for every rank and model (stratified by the finest rank, grouped by sequence)
    folds = grouped_folds(frags.table[RANKS[-1]], frags.table["group"], args.splits, args.seed)
    record: dict[str, Any] = {
        "benchmark": "DAIRYdb 200 bp tiles: learned embeddings against k-mer frequencies, by rank "
                     "(SCORPIO / MetaBERTa protocol, splits grouped by source sequence)",
        "command": command, "commit": records.commit(), "hardware": records.hardware(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "complete": False,
        "settings": {**frags.settings, "n_sequences": n_sequences, "n_splits": args.splits,
                     "split": "StratifiedGroupKFold by source sequence (identical sequences in one group), "
                              f"stratified by {RANKS[-1]}; the same folds at every rank and for every model",
                     "indomain_mlm_steps": args.indomain_steps,
                     "split_seed": args.seed, "min_per_taxon": 10, "min_sequences_per_taxon": 2,
                     "classifiers": ["knn", "rf"], "knn_k": 3, "rf_trees": 100,
                     "profile": args.profile, "precision": args.precision, "smoke": args.smoke,
                     "reference": "6mer_freq + rf"},
        "inputs": {**frags.report, "unembeddable_by_some_model": n_unembeddable},
        "n_samples": len(frags.sequences), "models": {}, "rows": [], "skipped": {},
        "seconds": {"tiles": time.perf_counter() - t0}}
    print(f"{len(frags.sequences)} tiles of {frags.report['n_used_sequences']} DAIRYdb sequences", flush=True)
    previous = continued(args.out, record)
    if previous is not None:
        kept = [m for m in previous["models"] if m in models]
        record["models"] = {m: previous["models"][m] for m in kept}
        record["rows"] = [r for r in previous["rows"] if r["model"] in kept]
        record["skipped"] = {k: v for k, v in previous["skipped"].items() if k.split("/")[0] in kept}
        record["runs"] = previous.get("runs", [{"command": previous["command"], "commit": previous["commit"],
                                                "date": previous["date"]}])
        record["runs"].append({"command": command, "commit": record["commit"], "date": record["date"]})
        print(f"continuing {args.out}: {', '.join(kept) or 'no model'} kept", flush=True)
    for name, path in models.items():
        if name in record["models"]:
            continue
        t1 = time.perf_counter()
        if name == FREQUENCIES:
            x, used = kmers.kmer_spectrum(frags.sequences, 6, normalize="l1"), frags
            identity = {"features": "kmer_spectrum", "settings": {"k": 6, "canonical": False,
                                                                  "normalize": "l1"}}
        elif name == INDOMAIN_MLM:
            with tempfile.TemporaryDirectory(prefix="dnalib-indomain-") as work:
                x, identity = indomain_features(frags, folds, args.indomain_steps, args.seed, options,
                                                Path(work))
            used = frags
        else:
            x, used = embed_fragments(path, frags, **options)
            identity = from_name(path, **options).identity
        if len(used.sequences) != len(frags.sequences):
            raise SystemExit(f"{name} dropped {used.report['unembeddable']} tiles the others embed")
        t2 = time.perf_counter()
        res = classify_by_rank(x, used, list(RANKS), n_splits=args.splits, seed=args.seed, n_jobs=args.jobs,
                               folds=folds)
        dim = int((x[0] if isinstance(x, list) else x).shape[1])
        record["models"][name] = {"model": path, "embedder": identity, "dim": dim,
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
