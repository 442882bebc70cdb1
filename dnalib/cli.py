"""The ``dnalib`` command line.

::

    dnalib simulate --seed 0 --out community/     write the synthetic community as a labelled genome set
    dnalib data list                              the registered public datasets
    dnalib data get kmcp15                        download / verify a dataset, print its local path
    dnalib inspect PATH                           validate FASTA/FASTQ or a labelled genome set, summarise it
    dnalib pretrain --data DIR --out MODEL        masked-language-model pretraining (resumable, torchrun-ready)
    dnalib finetune --init MODEL --data DIR --out M   contrastive curriculum (SimCLR, then MI-Mix)
    dnalib evaluate --model tnf --genomes DIR --out results.json   clustering, few-shot, binning, taxonomy
    dnalib embed --model MODEL --input reads.fa --out emb   streamed: emb.npy + emb.ids.txt

Bad input never ends in a traceback: every :class:`~dnalib.errors.DnalibError`
is printed as one line ``dnalib: error: ...`` and the exit status is 1 (2 for a
wrong command line, as argparse does).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from dnalib import __version__
from dnalib.errors import DnalibError


def _cmd_simulate(args: argparse.Namespace) -> int:
    from dnalib.simulate import simulate_community

    out = Path(args.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not args.force:
        raise DnalibError(
            f"{out} already exists and is not an empty directory: choose another --out "
            "or pass --force to overwrite the community files in it"
        )
    community = simulate_community(
        args.seed,
        n_genera=args.genera,
        species_per_genus=args.species_per_genus,
        strains_per_species=args.strains_per_species,
        genome_length=args.genome_length,
        contigs_per_genome=args.contigs,
        eval_fraction=args.eval_fraction,
    )
    path = community.write(out, gzip=args.gzip)
    n_species = community.taxonomy["species"].nunique()
    n_genera = community.taxonomy["genus"].nunique()
    print(
        f"wrote {len(community.ids)} genomes ({n_species} species, {n_genera} genera; "
        f"{len(community.train_ids)} train / {len(community.eval_ids)} eval) to {path}"
    )
    return 0


def _cmd_data_list(args: argparse.Namespace) -> int:
    from dnalib.datasets import format_datasets

    print(format_datasets())
    return 0


def _cmd_data_get(args: argparse.Namespace) -> int:
    from dnalib.datasets import get

    path = get(
        args.name,
        mirror=args.mirror,
        cache_dir=args.cache_dir,
        progress=not args.quiet,
        allow_unverified=args.allow_unverified,
    )
    print(path)
    return 0


def _cmd_inspect(args: argparse.Namespace) -> int:
    from dnalib.io import format_summary, inspect_path

    print(format_summary(inspect_path(args.path)))
    return 0


def _cmd_embed(args: argparse.Namespace) -> int:
    from dnalib.embed import embed_file

    info = embed_file(args.model, args.input, args.out, block_size=args.block_size,
                      batch_size=args.batch_size, device=args.device, resume=args.resume,
                      progress=not args.no_progress)
    print(f"{info['n']} embeddings of dimension {info['dim']} -> {info['embeddings']} "
          f"(ids: {info['ids']}) in {info['seconds']:.1f} s"
          + (f"; {info['resumed_from']} were done before" if info["resumed_from"] else ""))
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    import json
    import time
    import warnings

    import numpy as np
    import pandas as pd

    from dnalib import io
    from dnalib.embed import embed_with
    from dnalib.evaluate import TASKS, evaluate_embeddings
    from dnalib.sequences import sample_fragments
    from dnalib.training import atomic_write_text

    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    bad = [t for t in tasks if t not in TASKS]
    if bad or not tasks:
        raise DnalibError(f"--tasks must be a comma-separated subset of {','.join(TASKS)}; got {args.tasks!r}")
    if args.fragment_length < 1 or args.per_genome < 1:
        raise DnalibError("--fragment-length and --per-genome must be positive")
    out = Path(args.out)
    if out.exists() and out.is_dir():
        raise DnalibError(f"--out {out} is a directory: give a file name such as results.json")
    t0 = time.perf_counter()
    gs = io.load_genome_set(args.genomes, args.taxonomy)
    frags, rows, short = [], [], {}
    for i, gid in enumerate(gs.ids):
        contigs = gs.genomes[gid]
        with warnings.catch_warnings():  # the shortfall is reported once, below
            warnings.simplefilter("ignore", UserWarning)
            got = sample_fragments(contigs, args.fragment_length, args.per_genome,
                                   seed=np.random.default_rng([args.seed, i]), allow_fewer=True)
        if len(got) < args.per_genome:
            short[gid] = len(got)
        frags += got
        rows += [gid] * len(got)
    if not frags:
        raise DnalibError(
            f"no genome in {args.genomes} is at least {args.fragment_length} bp long: "
            "use a smaller --fragment-length"
        )
    table = gs.taxonomy.loc[rows].reset_index()
    if short:
        print(f"dnalib: note: {len(short)} genome(s) gave fewer than {args.per_genome} fragments of "
              f"{args.fragment_length} bp: {short}", file=sys.stderr)
    t1 = time.perf_counter()
    emb = embed_with(args.model, frags, batch_size=args.batch_size, device=args.device,
                     progress=not args.no_progress)
    t2 = time.perf_counter()
    result = evaluate_embeddings(emb, table, tasks=tasks, lengths=[len(f) for f in frags],
                                 seeds=range(args.seeds))
    t3 = time.perf_counter()
    summary = result.pop("table")
    record = {
        "model": args.model,
        "genomes": str(args.genomes),
        "settings": {"fragment_length": args.fragment_length, "per_genome": args.per_genome,
                     "fragment_seed": args.seed, "tasks": tasks,
                     "genomes_with_fewer_fragments": short},
        "n_genomes": len(gs.ids),
        **result,
        "seconds": {"load_and_fragment": t1 - t0, "embed": t2 - t1, "evaluate": t3 - t2},
        "dnalib": __version__,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, json.dumps(record, indent=2, default=lambda o: o.item()
                                       if isinstance(o, np.generic) else str(o)) + "\n")
    with pd.option_context("display.width", 120):
        print(summary.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    for task, why in result["skipped"].items():
        print(f"skipped {task}: {why}")
    print(f"{len(frags)} fragments of {len(gs.ids)} genomes; wrote {out}")
    return 0


def _training_output(args: argparse.Namespace) -> Path:
    """The --out directory of a training command; never silently overwrites a run.

    A non-empty directory needs --resume (continue) or --force (start over:
    its checkpoints and log are removed, other files are left alone).
    """
    out = Path(args.out)
    if out.exists() and any(out.iterdir()) and not args.resume and not args.force:
        raise DnalibError(
            f"{out} is not empty: pass --resume to continue that run, --force to start over in it, "
            "or choose another --out"
        )
    if args.force and not args.resume:
        import shutil

        shutil.rmtree(out / "checkpoints", ignore_errors=True)
        (out / "log.jsonl").unlink(missing_ok=True)
    return out


def _cmd_pretrain(args: argparse.Namespace) -> int:
    import shlex

    from dnalib.pretrain import load_training_sequences, pretrain, pretrain_config

    overrides = {
        name: value
        for name, value in (
            ("tokenizer", args.tokenizer), ("k", args.k), ("fragment_length", args.fragment_length),
            ("position", args.position), ("batch_size", args.batch_size),
            ("grad_accum", args.grad_accum), ("max_steps", args.steps), ("lr", args.lr),
            ("embedding_lr_mult", args.embedding_lr_mult),
            ("seed", args.seed), ("checkpoint_every", args.checkpoint_every),
            ("eval_every", args.eval_every), ("bf16", args.bf16),
        )
        if value is not None
    }
    cfg = pretrain_config(args.profile, **overrides)
    out = _training_output(args)
    train = load_training_sequences(args.data, split="train")
    held_out = None
    if Path(args.data).is_dir() and (Path(args.data) / "split.tsv").exists():
        held_out = load_training_sequences(args.data, split="eval")
    result = pretrain(
        train, out, cfg, eval_sequences=held_out, resume=args.resume,
        progress=not args.no_progress, device=args.device,
        data_description=str(Path(args.data).resolve()),
        command="dnalib " + " ".join(shlex.quote(a) for a in args.argv),
    )
    final = result["final"] or {}
    if int(os.environ.get("RANK", 0)) == 0:
        print(
            f"pretrained {cfg.max_steps} steps: eval loss {final.get('eval_loss', float('nan')):.4f}, "
            f"masked-token accuracy {final.get('eval_accuracy', float('nan')):.3f}, "
            f"{result['tokens_per_s']:.0f} tokens/s; model in {out}"
        )
    return 0


def _cmd_finetune(args: argparse.Namespace) -> int:
    import shlex

    from dnalib.contrastive import contig_groups, finetune, finetune_config, genome_groups

    overrides: dict = {}
    if args.curriculum:
        overrides["curriculum"] = tuple(p.strip() for p in args.curriculum.split(",") if p.strip())
        if not args.steps:  # each phase keeps its steps in the profile's curriculum (i-Mix: MI-Mix's)
            profile_cfg = finetune_config(args.profile, label_free=args.label_free)
            steps_of = dict(zip(profile_cfg.curriculum, profile_cfg.phase_steps, strict=True))
            overrides["phase_steps"] = tuple(
                steps_of.get("mimix" if p == "imix" else p, profile_cfg.phase_steps[-1])
                for p in overrides["curriculum"])
    if args.steps:
        steps = [int(x) for x in args.steps.split(",")]
        n = len(overrides.get("curriculum",
                              finetune_config(args.profile, label_free=args.label_free).curriculum))
        overrides["phase_steps"] = tuple(steps if len(steps) == n else steps[:1] * n)
    for name, value in (("fragment_length", args.fragment_length), ("chunk_length", args.chunk_length),
                        ("batch_pairs", args.batch_pairs),
                        ("lr", args.lr), ("seed", args.seed), ("bf16", args.bf16),
                        ("checkpoint_every", args.checkpoint_every),
                        ("data_offset", args.data_offset)):
        if value is not None:
            overrides[name] = value
    if args.init == "scratch" and not args.label_free:
        raise DnalibError("--init scratch trains a fresh encoder on an unlabelled sample: add --label-free "
                          "(or pass a `dnalib pretrain` output directory as --init)")
    cfg = finetune_config(args.profile, label_free=args.label_free, **overrides)
    init = args.init
    if init == "scratch":
        from dnalib.contrastive import scratch_encoder

        init, tokenizer = scratch_encoder(cfg.profile, seed=cfg.seed)
    else:
        tokenizer = None
    out = _training_output(args)
    from dnalib.pretrain import load_training_sequences

    data = Path(args.data)
    if args.label_free:
        groups = contig_groups(load_training_sequences(data, split=None), 2 * cfg.fragment_length)
    elif data.is_dir():
        from dnalib import io

        gs = io.load_genome_set(data)
        ids = gs.ids
        split = data / "split.tsv"
        if split.exists():
            import pandas as pd

            table = pd.read_csv(split, sep="\t", dtype=str).set_index("id")["split"]
            ids = [i for i in ids if table.get(i) == "train"]
        groups = genome_groups({i: gs.genomes[i] for i in ids})
    else:
        raise DnalibError(
            f"{data} is a sequence file: pass a labelled genome set directory, or --label-free to "
            "use two fragments of the same contig as positives"
        )
    result = finetune(groups, out, init, cfg, tokenizer=tokenizer, resume=args.resume,
                      stop_after=args.stop_after,
                      progress=not args.no_progress, device=args.device,
                      data_description=str(data.resolve()) + (" (label-free)" if args.label_free else ""),
                      command="dnalib " + " ".join(shlex.quote(a) for a in args.argv))
    if int(os.environ.get("RANK", 0)) == 0:
        last = result["history"][-1] if result["history"] else {}
        done = last.get("step", 0)
        paused = (f"; paused after step {done} of {cfg.max_steps}: the same command with --resume "
                  "(instead of --stop-after) continues it") if done < cfg.max_steps else ""
        print(f"fine-tuned {'+'.join(cfg.curriculum)} for {done} steps in "
              f"{result['seconds']:.0f} s (final loss {last.get('loss', float('nan')):.3f}); "
              f"encoder in {out}, projection head in {out / 'head.safetensors'}{paused}")
    return 0


def _add_model_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True,
                   help="tnf, kmer6 (baselines) or a model directory (dnalib pretrain/finetune output)")


def _add_embedding_args(p: argparse.ArgumentParser) -> None:
    """How the commands that embed (evaluate, embed) run the model."""
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", default=None)
    p.add_argument("--no-progress", action="store_true")


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``dnalib`` command."""
    parser = argparse.ArgumentParser(
        prog="dnalib",
        description="Species-aware DNA embeddings: data, baselines, training and evaluation.",
    )
    parser.add_argument("--version", action="version", version=f"dnalib {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("simulate", help="write the synthetic community as a labelled genome set")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", required=True, help="output directory (FASTA files + taxonomy.tsv)")
    p.add_argument("--genera", type=int, default=8, help="number of genera (default 8)")
    p.add_argument("--species-per-genus", type=int, default=5, help="default 5")
    p.add_argument("--strains-per-species", type=int, default=1, help="default 1")
    p.add_argument("--genome-length", type=int, default=100_000, help="bp (default 100000)")
    p.add_argument("--contigs", type=int, default=1, help="contigs per genome (default 1)")
    p.add_argument("--eval-fraction", type=float, default=0.4,
                   help="fraction of each genus's species held out for evaluation (default 0.4)")
    p.add_argument("--gzip", action="store_true", help="write .fa.gz files")
    p.add_argument("--force", action="store_true", help="write into a non-empty directory")
    p.set_defaults(func=_cmd_simulate)

    p = sub.add_parser("data", help="the registry of public datasets")
    data_sub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    q = data_sub.add_parser("list", help="list the registered datasets")
    q.set_defaults(func=_cmd_data_list)
    q = data_sub.add_parser("get", help="download (or take from the mirror), verify, print the path")
    q.add_argument("name", help="dataset name, see `dnalib data list`")
    q.add_argument("--mirror", help="local mirror directory (default: $DNALIB_DATA_MIRROR)")
    q.add_argument("--cache-dir", help="cache directory (default: $DNALIB_CACHE or the OS cache)")
    q.add_argument("--quiet", action="store_true", help="no progress bar")
    q.add_argument("--allow-unverified", action="store_true",
                   help="accept a dataset that has no published checksum")
    q.set_defaults(func=_cmd_data_get)

    p = sub.add_parser("pretrain", help="masked-language-model pretraining of a k-mer RoBERTa")
    p.add_argument("--profile", choices=["smoke", "cpu", "gpu"], default=None,
                   help="model size and schedule (default: $DNALIB_PROFILE or cpu)")
    p.add_argument("--data", required=True,
                   help="genome set directory (its train split if split.tsv exists) or FASTA/FASTQ")
    p.add_argument("--out", required=True, help="output model directory")
    p.add_argument("--tokenizer", choices=["kmer", "nonoverlap", "char"], default=None,
                   help="overlapping k-mers (default), non-overlapping k-mers or characters")
    p.add_argument("--k", type=int, default=None, help="k-mer length (profile default)")
    p.add_argument("--fragment-length", type=int, default=None, help="bp per fragment (200)")
    p.add_argument("--position", choices=["absolute", "rotary"], default=None,
                   help="absolute (RoBERTa) or rotary (relative) positions")
    p.add_argument("--batch-size", type=int, default=None, help="fragments per optimizer step")
    p.add_argument("--grad-accum", type=int, default=None, help="micro-batches per step")
    p.add_argument("--steps", type=int, default=None, help="optimizer steps")
    p.add_argument("--lr", type=float, default=None, help="peak learning rate")
    p.add_argument("--embedding-lr-mult", type=float, default=None,
                   help="learning-rate multiple of the token embeddings; 0 freezes them "
                        "(default: 0 for the PCA start, else 1)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--checkpoint-every", type=int, default=None, help="steps between checkpoints")
    p.add_argument("--eval-every", type=int, default=None, help="steps between evaluations")
    p.add_argument("--bf16", choices=["auto", "on", "off"], default=None)
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda if available)")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint")
    p.add_argument("--force", action="store_true", help="start over in a non-empty --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_pretrain)

    p = sub.add_parser("finetune", help="contrastive fine-tuning: weighted SimCLR, then MI-Mix")
    p.add_argument("--profile", choices=["smoke", "cpu", "gpu"], default=None)
    p.add_argument("--init", required=True,
                   help="model directory written by `dnalib pretrain` (or `dnalib finetune`), or "
                        "'scratch' with --label-free: a fresh 4-mer encoder trained on the sample alone")
    p.add_argument("--data", required=True,
                   help="labelled genome set (train split if split.tsv) or, with --label-free, "
                        "any genome set or FASTA/FASTQ of contigs")
    p.add_argument("--out", required=True, help="output model directory")
    p.add_argument("--curriculum", default=None,
                   help="phases, comma-separated: simclr, mimix, imix (default simclr,mimix)")
    p.add_argument("--steps", default=None, help="steps per phase, e.g. 150,150 (or one number)")
    p.add_argument("--label-free", action="store_true",
                   help="positives are two fragments of the same contig (no labels used)")
    p.add_argument("--fragment-length", type=int, default=None, help="bp per view")
    p.add_argument("--chunk-length", type=int, default=None,
                   help="bp the encoder reads at once; views are read in chunks (a divisor of "
                        "the fragment length; 0: whole views)")
    p.add_argument("--batch-pairs", type=int, default=None, help="positive pairs per step")
    p.add_argument("--lr", type=float, default=None, help="encoder learning rate")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--checkpoint-every", type=int, default=None)
    p.add_argument("--data-offset", type=int, default=None,
                   help="steps of pairs already seen: a run continuing another (phase 2 from a "
                        "phase-1 output) passes that run's steps to draw new pairs")
    p.add_argument("--bf16", choices=["auto", "on", "off"], default=None)
    p.add_argument("--device", default=None)
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint")
    p.add_argument("--stop-after", type=int, default=None,
                   help="pause after this many steps (e.g. the phase-1 steps) with a checkpoint; "
                        "--resume with the same settings continues the run as if uninterrupted")
    p.add_argument("--force", action="store_true", help="start over in a non-empty --out")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_cmd_finetune)

    p = sub.add_parser("evaluate", help="score a model or baseline on a labelled genome set "
                                        "(clustering, few-shot, binning, taxonomy)")
    _add_model_arg(p)
    p.add_argument("--genomes", required=True,
                   help="directory of FASTA files named by genome id (gzipped or not) + taxonomy.tsv")
    p.add_argument("--taxonomy", default=None,
                   help="label table with an id column and rank columns incl. species "
                        "(default: GENOMES/taxonomy.tsv)")
    p.add_argument("--fragment-length", type=int, default=10_000, help="bp per fragment (10000)")
    p.add_argument("--per-genome", type=int, default=100, help="fragments per genome (100)")
    p.add_argument("--tasks", default="clustering,fewshot,binning,taxonomy",
                   help="comma-separated subset of clustering,fewshot,binning,taxonomy")
    p.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 for KMeans and few-shot (5)")
    p.add_argument("--seed", type=int, default=0, help="seed of the fragment positions")
    p.add_argument("--out", required=True, help="JSON file for the results")
    _add_embedding_args(p)
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("embed", help="embed every record of a FASTA/FASTQ file (streamed) and write "
                                     "PREFIX.npy + PREFIX.ids.txt")
    _add_model_arg(p)
    p.add_argument("--input", required=True, help="FASTA or FASTQ file, plain or compressed")
    p.add_argument("--out", required=True, help="output prefix: writes OUT.npy and OUT.ids.txt")
    p.add_argument("--block-size", type=int, default=2048, help="records held in memory at once (2048)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run with the same --out")
    _add_embedding_args(p)
    p.set_defaults(func=_cmd_embed)

    p = sub.add_parser("inspect", help="validate FASTA/FASTQ or a labelled genome set and summarise it")
    p.add_argument("path", help="a FASTA/FASTQ file (plain or .gz) or a genome-set directory")
    p.set_defaults(func=_cmd_inspect)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv
    try:
        return args.func(args)
    except DnalibError as exc:
        message = " ".join(str(exc).split())
        print(f"dnalib: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("dnalib: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
