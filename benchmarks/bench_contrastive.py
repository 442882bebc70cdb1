"""Contrastive ablation on the synthetic evaluation species, recorded in results/.

For every seed, trained on the training species of the training community
(``dnalib.simulate.training_genomes``: the default community's 8 genera and 32
more, 120 species) and evaluated on the default community's 16 evaluation
species, which are never seen in training:

1. pretrain an MLM with the profile's settings (``dnalib.pretrain``), seed s;
2. fine-tune it three ways with the same total number of steps and the same
   learning-rate schedule: weighted SimCLR only, MI-Mix only, and the
   curriculum (one run: SimCLR, then MI-Mix from the phase-1 weights, scored
   also when it pauses after phase 1, as ``curriculum after phase 1``);
   optionally i-Mix (mixing at the input only);
3. embed the evaluation fragments (5 kbp, 15 per species) with the MLM and
   every fine-tuned encoder, and score species clustering (KMeans, K = number
   of species, ARI / NMI averaged over 5 KMeans seeds), next to TNF and 6-mer
   spectra on the same fragments.

Prints one line per run and a summary (mean and standard deviation over the
seeds), and writes everything, with the command, commit, hardware and date, to
``--out`` (chapter 6 reads it)::

    python benchmarks/bench_contrastive.py --profile cpu --seeds 0 1 2 \\
        --out results/contrastive_ablation_cpu.json

The record is rewritten after every run, so an interrupted benchmark keeps its
rows; ``--resume`` continues it: the rows already in ``--out`` are kept and
only the missing runs of the seeds given are trained, for every method of the
record and of ``--methods`` (a seed's MLM is pretrained again,
deterministically, when one of its fine-tuning runs is missing). It
refuses a record made with other profile, pretraining, fine-tuning or data
settings. ``--rerun METHOD`` (with ``--resume``) drops the record's rows of
METHOD and trains them again, after a change to code that only METHOD runs
(the curriculum's schedule across phases, say). Each row names the commit
that produced it, and the record lists every invocation. ``--save-models DIR``
keeps every trained encoder (``DIR/SimCLR-0``, ``DIR/curriculum-0``,
``DIR/MLM_only-0``, ...), e.g. to score them on real genomes with
``benchmarks/bench_real_genomes.py --trained DIR``. ``--finetune-data real``
fine-tunes on the genomes_real training species instead (59 species, one group
of positives per species; the MLM still pretrains on the synthetic community)
and ``mixed`` on both (59 + 120 groups): what real training data buys the
contrastive stage at the same step budget. Their encoders are saved as
``DIR/<method>_real-<seed>`` / ``DIR/<method>_mixed-<seed>`` (the MLM is saved
by the synthetic run only). On 2 AVX-512 cores a seed takes about 12 minutes; on 2 older
AVX2 cores about 45.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from dnalib import records
from dnalib.simulate import training_community
from dnalib.training import plain  # a config as the JSON values records keep

#: What --save-models writes beside the encoders: the command, commit and settings that trained them.
TRAINED_BY = "trained_by.json"

METHODS = {
    "SimCLR": ("simclr",),
    "MI-Mix only": ("mimix",),
    "i-Mix only": ("imix",),
    "curriculum": ("simclr", "mimix"),
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=["SimCLR", "MI-Mix only", "curriculum"],
                        choices=list(METHODS))
    parser.add_argument("--out", default=None, help="JSON file to write (e.g. results/...json)")
    parser.add_argument("--training-genera", type=int, default=None,
                        help="genera of the training community (default: the book's 40; fewer "
                             "only for quick checks of the benchmark itself)")
    parser.add_argument("--fragments-per-species", type=int, default=None,
                        help="evaluation fragments per species (default: the book's 15)")
    parser.add_argument("--resume", action="store_true",
                        help="keep the rows already in --out and run only the missing ones")
    parser.add_argument("--rerun", nargs="+", default=[], choices=list(METHODS),
                        help="with --resume: drop the record's rows of these methods and train "
                             "them again (after a change to code only they run)")
    parser.add_argument("--finetune-data", choices=["synthetic", "real", "mixed"], default="synthetic",
                        help="what the contrastive runs train on: the synthetic training species "
                             "(default), the genomes_real training species, or both")
    parser.add_argument("--save-models", type=Path, default=None,
                        help="copy every trained encoder to DIR/<method>-<seed> (the MLM as "
                             "MLM_only-<seed>), e.g. for bench_real_genomes.py --trained DIR")
    args = parser.parse_args(argv)
    if args.resume and not args.out:
        parser.error("--resume needs --out (the record to continue)")
    if args.rerun and not args.resume:
        parser.error("--rerun needs --resume (it replaces rows of a record)")

    from transformers.utils import logging as hf_logging

    from dnalib import contrastive as C
    from dnalib import evaluate, inference, kmers, simulate
    from dnalib import pretrain as P
    from dnalib.models import load_encoder
    from dnalib.pairs import genome_groups, species_groups

    hf_logging.set_verbosity_error()
    base = C.finetune_config(args.profile)
    pretrain_settings = plain(P.pretrain_config(args.profile, checkpoint_every=0, eval_every=0))
    finetune_settings = plain(base)
    total = base.max_steps
    rows: list[dict] = []
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    commit = records.commit()  # the code that runs, even if HEAD moves during the benchmark
    seeds, methods = list(args.seeds), list(args.methods)
    n_genera = args.training_genera or simulate.TRAINING_GENERA
    per_species = args.fragments_per_species or simulate.EVAL_FRAGMENTS_PER_GENOME
    data_settings = {"training_genera": n_genera, "fragments_per_species": per_species}
    if args.finetune_data != "synthetic":  # (records made before the option have no such key)
        data_settings["finetune_data"] = args.finetune_data
    invocations: list[dict] = []
    if args.resume and Path(args.out).exists():
        rows, first_date, seeds, methods, invocations = resume_record(
            Path(args.out), {"profile": args.profile, "pretrain_config": pretrain_settings,
                             "finetune_config": finetune_settings, "data": data_settings},
            seeds, methods)
        dropped = {*args.rerun, *(phase1_name(m) for m in args.rerun)}
        n_before = len(rows)
        rows = [r for r in rows if r["method"] not in dropped]
        started = first_date or started
        print(f"resuming {args.out}: {len(rows)} rows kept"
              + (f", {n_before - len(rows)} of {', '.join(args.rerun)} dropped to be trained again"
                 if args.rerun else ""), flush=True)
    command = " ".join([Path(sys.executable).name, *sys.argv])
    invocations.append({"command": command, "commit": commit,
                        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    planned = 2 + len(seeds) * (1 + len(methods) + sum(len(METHODS[m]) > 1 for m in methods))

    def done(method: str, seed: int | None) -> bool:
        return recorded(rows, method, seed)

    community = simulate.default_community()
    trained_on = training_community(n_genera)
    train = {g: trained_on.genomes[g] for g in trained_on.train_ids}
    train_seqs = [c for v in train.values() for c in v]
    groups = genome_groups(train)
    if args.finetune_data != "synthetic":
        from dnalib.datasets import load_genomes_real

        real = species_groups(load_genomes_real(progress=False).split("train"))
        groups = real if args.finetune_data == "real" else real + groups
    frags, table = community.fragments(n_per_genome=per_species)
    labels = table["species"].to_numpy()

    def write() -> None:
        """Write the record so far (after every run: an interrupted benchmark keeps its rows)."""
        if not args.out:
            return
        record = {
            "benchmark": "contrastive ablation, synthetic evaluation species",
            "command": command,
            "commit": commit,
            "invocations": invocations,
            "date": started,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "complete": len(rows) == planned,
            "hardware": records.hardware(),
            "profile": args.profile,
            "seeds": seeds,
            "methods": methods,
            "data": data_settings,
            "pretrain_config": pretrain_settings,
            "finetune_config": finetune_settings,
            "training": {"genomes": len(train), "data": "dnalib.simulate.training_genomes()"
                         if n_genera == simulate.TRAINING_GENERA
                         else f"training split of simulate_community(DEFAULT_SEED, n_genera={n_genera})",
                         "finetune_data": args.finetune_data, "finetune_groups": len(groups)},
            "evaluation": {"fragments": len(frags), "species": int(len(set(labels))),
                           "fragment_length": len(frags[0]),
                           "protocol": "KMeans K=species, 5 seeds"},
            "rows": rows,
            "summary": records.summary_dict(rows),
        }
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        records.write(out, record)

    def score(method: str, seed: int | None, emb: np.ndarray, seconds: float) -> None:
        s = evaluate.clustering_scores(emb, labels)
        rows.append({"method": method, "seed": seed, "ari": s["ari"], "nmi": s["nmi"],
                     "train_seconds": round(seconds, 1), "commit": commit})
        print(f"{method:>12} seed {seed}: ARI {s['ari']:.3f} NMI {s['nmi']:.3f} "
              f"({seconds:.0f} s training)", flush=True)
        write()

    if not done("TNF", None):
        score("TNF", None, kmers.tnf(frags), 0.0)
    if not done("6-mer", None):
        score("6-mer", None, kmers.kmer_spectrum(frags, 6, canonical=True, normalize="l2"), 0.0)

    def embed_dir(path: Path) -> np.ndarray:
        return inference.embed_sequences(*load_encoder(path), frags)

    def save(path: Path, method: str, seed: int) -> None:
        """Copy a trained encoder to --save-models (without its resumable checkpoints)."""
        if args.save_models and not (method == "MLM only" and args.finetune_data != "synthetic"):
            # (the MLM pretrains on the synthetic community whatever --finetune-data: the
            # synthetic run saves it, so that folders of several runs combine without clashes)
            suffix = "" if args.finetune_data == "synthetic" else f"_{args.finetune_data}"
            target = args.save_models / f"{method}{suffix}-{seed}".replace(" ", "_")
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(path, target, ignore=shutil.ignore_patterns("checkpoint*"))

    if args.save_models:  # what trained the encoders saved there, once for the invocation
        records.write(args.save_models / TRAINED_BY, {
            "command": command, "commit": commit, "profile": args.profile,
            "data": data_settings, "finetune_config": finetune_settings,
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})

    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:  # this invocation's seeds; the record's `complete` counts them all
            todo = [m for m in methods if not done(m, seed)]
            if not todo and done("MLM only", seed):
                continue
            mlm = Path(tmp) / f"mlm-{seed}"
            t = time.perf_counter()
            P.pretrain(train_seqs, mlm, P.pretrain_config(args.profile, seed=seed, checkpoint_every=0,
                                                           eval_every=0), progress=False)
            mlm_seconds = time.perf_counter() - t
            save(mlm, "MLM only", seed)
            if not done("MLM only", seed):
                score("MLM only", seed, embed_dir(mlm), mlm_seconds)
            for method in todo:
                phases = METHODS[method]
                steps = base.phase_steps if len(phases) == len(base.phase_steps) else (total,)
                cfg = C.finetune_config(args.profile, curriculum=phases, phase_steps=tuple(steps),
                                        seed=seed, checkpoint_every=0)
                out = Path(tmp) / f"{method}-{seed}".replace(" ", "_")
                seconds = 0.0
                if len(phases) > 1:  # one run, paused after phase 1 to score it, then resumed
                    r = C.finetune(groups, out, mlm, cfg, stop_after=steps[0], progress=False)
                    seconds = r["seconds"]
                    if not done(phase1_name(method), seed):
                        score(phase1_name(method), seed, embed_dir(out), seconds)
                r = C.finetune(groups, out, mlm, cfg, resume=len(phases) > 1, progress=False)
                save(out, method, seed)
                score(method, seed, embed_dir(out), seconds + r["seconds"])

    write()
    summary = records.summary_dict(rows)
    tnf = summary["TNF"]["ari_mean"]
    print("\nmethod        ARI mean +- std (n)   ratio to TNF")
    for method, s in summary.items():
        print(f"{method:>12}  {s['ari_mean']:.3f} +- {s['ari_std']:.3f} ({s['n']})   "
              f"{s['ari_mean'] / tnf:.2f}x")
    if args.out:
        print(f"wrote {args.out}")


def phase1_name(method: str) -> str:
    """The row name of a multi-phase method's model at the end of its first phase."""
    return f"{method} after phase 1"


def recorded(rows: list[dict], method: str, seed: int | None) -> bool:
    """Whether *rows* hold a run of *method* with *seed*."""
    return any(r["method"] == method and r["seed"] == seed for r in rows)


def resume_record(path: Path, settings: dict, seeds: list[int], methods: list[str]
                  ) -> tuple[list[dict], str, list[int], list[str], list[dict]]:
    """Rows, start date, seeds, methods and invocations of a record to continue (see ``--resume``).

    *settings* (profile, pretraining, fine-tuning and data settings) must equal
    the record's; otherwise the benchmark stops with a message. Seeds and
    methods are the record's followed by the new ones.
    """
    old = json.loads(path.read_text())
    differ = [name for name, now in settings.items() if old.get(name) != now]
    if differ:
        raise SystemExit(f"{path} was recorded with other settings ({', '.join(differ)}): "
                         "write a new record (without --resume) or restore those settings")
    rows = [{"commit": old.get("commit", "unknown"), **r} for r in old["rows"]]
    seeds = list(dict.fromkeys([*old.get("seeds", []), *seeds]))
    methods = list(dict.fromkeys([*old.get("methods", []), *methods]))
    # Records from before invocations were listed name only their last command.
    invocations = old.get("invocations") or [{k: old.get(k) for k in ("command", "commit", "date")}]
    return rows, old.get("date", ""), seeds, methods, invocations


if __name__ == "__main__":
    main()
