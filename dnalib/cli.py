"""The ``dnalib`` command line.

::

    dnalib simulate --seed 0 --out community/     write the synthetic community as a labelled genome set
    dnalib data list                              the registered public datasets
    dnalib data get kmcp15                        download / verify a dataset, print its local path
    dnalib inspect PATH                           validate FASTA/FASTQ or a labelled genome set, summarise it
    dnalib pretrain --data DIR --out MODEL        masked-language-model pretraining (resumable, torchrun-ready)
    dnalib finetune --init MODEL --data DIR --out M   contrastive curriculum (SimCLR, then MI-Mix)
    dnalib spectrum-map --data DIR --out MAP      a learned linear map of the 5-mer spectrum (seconds;
                                                  --hidden 512: nonlinear, --augment-errors longread10)
    dnalib evaluate --model tnf --genomes DIR --out results.json   clustering, few-shot, binning, taxonomy
    dnalib evaluate --model kmer6 --genomes DIR --fragment-length 1000 --errors longread10 --out r.json
                                                  short fragments with 10% long-read-like errors
    dnalib evaluate --model tnf --sequences 16S.fa --taxonomy tax.txt --tile 200 --out r.json   by rank
    dnalib embed --model MODEL --input reads.fa --out emb   streamed: emb.npy + emb.ids.txt
    dnalib models list                            published encoders --model also takes (hub ids)

Bad input never ends in a traceback: every expected failure (a
:class:`~dnalib.errors.DnalibError`, an operating-system error such as a full
disk or an unwritable ``--out``, running out of memory) is printed as one line
``dnalib: error: ...`` saying what was wrong and how to fix it, and the exit
status is 1; a wrong command line (a bad option value included) exits 2, as
argparse does. Outputs are checked to be writable before any work starts.
``dnalib --debug ...`` (or ``DNALIB_DEBUG=1``) shows the traceback instead.
Warnings are one line each, ``dnalib: warning: ...``.
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import math
import os
import sys
import tempfile
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from dnalib import __version__
from dnalib.errors import DnalibError
from dnalib.profiles import PROFILES

#: Chunks per forward pass when --batch-size is not given.
DEFAULT_BATCH_SIZE = 64

# --------------------------------------------------------------------------- option types


def _int_at_least(text: str, low: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number; give {what}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"{value} is too small; give {what}")
    return value


def positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1."""
    return _int_at_least(text, 1, "a whole number of at least 1")


def nonnegative_int(text: str) -> int:
    """argparse type: a whole number of at least 0 (0 usually means 'never' or 'none')."""
    return _int_at_least(text, 0, "a whole number of at least 0")


def pair_count(text: str) -> int:
    """argparse type: a whole number of at least 2 (a contrastive batch needs negatives)."""
    return _int_at_least(text, 2, "a whole number of at least 2 (each pair needs negatives)")


def _float_where(text: str, ok: Callable[[float], bool], what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number; give {what}") from None
    if not math.isfinite(value) or not ok(value):
        raise argparse.ArgumentTypeError(f"{value} is out of range; give {what}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number above 0."""
    return _float_where(text, lambda v: v > 0, "a number above 0")


def nonnegative_float(text: str) -> float:
    """argparse type: a finite number of at least 0."""
    return _float_where(text, lambda v: v >= 0, "a number of at least 0")


def fraction(text: str) -> float:
    """argparse type: a number from 0 up to (not including) 1."""
    return _float_where(text, lambda v: 0 <= v < 1, "a number from 0 up to (not including) 1")


def step_counts(text: str) -> list[int]:
    """argparse type: comma-separated positive step counts, e.g. ``150,150``."""
    try:
        steps = [int(p) for p in text.split(",")]
    except ValueError:
        steps = []
    if not steps or min(steps) < 1:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a list of step counts: give one whole number of at least 1 per "
            "phase, e.g. 150,150 (or one number)")
    return steps


def per_phase(values: Sequence[int], phases: Sequence[str], option: str) -> tuple[int, ...]:
    """One value per phase: *values* as given when there is one per phase, one value for all.

    Any other length is an error naming the phases (never truncated or
    padded silently).
    """
    if len(values) == len(phases):
        return tuple(values)
    if len(values) == 1:
        return tuple(values) * len(phases)
    raise DnalibError(
        f"{option} {','.join(map(str, values))} gives {len(values)} values for the "
        f"{len(phases)} phase(s) of the curriculum {','.join(phases)}: give one value per phase "
        "or one value for all")


def device_name(text: str) -> str:
    """argparse type: a torch device this machine has (cpu, cuda, cuda:N, mps)."""
    from dnalib.training import check_device

    try:
        check_device(text)
    except DnalibError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix(f"device {text!r}: ")) from None
    return text


# --------------------------------------------------------------------------- outputs and errors


def writable_directory(path: str | os.PathLike[str], option: str = "--out") -> Path:
    """Make sure files can be written in *path* (created if missing), before any work starts.

    Parameters
    ----------
    path : str or path-like
        The output directory.
    option : str
        The option that named it, for the message.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ~dnalib.errors.DnalibError
        When *path* is a file or cannot be created or written in.
    """
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise DnalibError(f"{option} {out} is a file, not a directory: choose a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        raise DnalibError(
            f"{option} {out}: cannot create files there ({exc.strerror or exc}): choose a "
            "directory you can write to"
        ) from None
    return out


def writable_file(path: str | os.PathLike[str], option: str = "--out") -> Path:
    """Make sure a file can be written at *path* (its directory is created if missing).

    Parameters
    ----------
    path : str or path-like
        The output file (or output prefix).
    option : str
        The option that named it, for the message.

    Returns
    -------
    pathlib.Path
    """
    out = Path(path)
    if out.is_dir():
        raise DnalibError(f"{option} {out} is a directory: give a file name inside it")
    writable_directory(out.parent, option=f"{option} {out}: its directory")
    if out.exists() and not os.access(out, os.W_OK):
        raise DnalibError(f"{option} {out} exists and is read-only: choose another name")
    return out


def os_error_message(exc: OSError) -> str:
    """One line for an operating-system error: what failed, on which file, what to do."""
    what = exc.strerror or str(exc) or type(exc).__name__
    where = f" {exc.filename}" if exc.filename else ""
    hints = {
        errno.ENOSPC: "free some disk space or write elsewhere",
        errno.EDQUOT: "free some disk space or write elsewhere",
        errno.EACCES: "check the permissions or choose another path",
        errno.EPERM: "check the permissions or choose another path",
        errno.EROFS: "the file system is read-only: choose another path",
        errno.ENOENT: "check the path",
    }
    return f"cannot access{where}: {what}; {hints.get(exc.errno, 'check the path and try again')}"


def error_message(exc: BaseException) -> str | None:
    """The one-line message for an expected failure, or None for a bug (shown as a traceback)."""
    if isinstance(exc, DnalibError):
        return " ".join(str(exc).split())
    if isinstance(exc, OSError):
        return os_error_message(exc)
    if type(exc).__name__ == "OutOfMemoryError" or isinstance(exc, MemoryError):
        return ("out of memory: lower --batch-size (or --block-size), or use a device with more "
                "memory")
    return None


def _one_line_warning(message: Any, category: type[Warning], filename: str, lineno: int,
                      file: Any = None, line: str | None = None) -> None:
    print(f"dnalib: warning: {' '.join(str(message).split())}", file=sys.stderr)


def _note_ignored_options(args: argparse.Namespace) -> None:
    """Say so when --batch-size / --device / ... were given for a kind of model that has no use for them."""
    from dnalib.embedders import kind_of

    kind = kind_of(args.model)
    given = [(name, opt) for name, opt, value in (
        ("batch_size", "--batch-size", args.batch_size), ("device", "--device", args.device),
        ("pooling", "--pooling", args.pooling), ("revision", "--revision", args.revision),
        ("trust_remote_code", "--trust-remote-code", args.trust_remote_code or None)) if value is not None]
    ignored = [opt for name, opt in given if name not in kind.uses]
    if ignored:
        print(f"dnalib: note: {' and '.join(ignored)} {'has' if len(ignored) == 1 else 'have'} no "
              f"effect on {args.model}, a {kind.kind} (k-mer counting on the CPU)", file=sys.stderr)


def _batch_size(args: argparse.Namespace) -> int:
    return DEFAULT_BATCH_SIZE if args.batch_size is None else args.batch_size


def _model_options(args: argparse.Namespace) -> dict[str, Any]:
    """--pooling, --revision, --trust-remote-code and --precision as keyword arguments of dnalib.embed."""
    return {"pooling": args.pooling, "revision": args.revision,
            "trust_remote_code": args.trust_remote_code, "precision": args.precision}



def _refuse_input_as_output(out: str | os.PathLike[str], *inputs: str | None) -> None:
    """Refuse an output file that is one of the inputs or a file inside an input directory
    (a genome set's label table, a genome, a model's files), through symlinks."""
    from dnalib.rundir import refuse_alias

    paths: list[str | os.PathLike[str]] = []
    for given in inputs:
        if given is None or not os.path.lexists(given):
            continue
        paths.append(given)
        if os.path.isdir(given):
            paths += [p for p in Path(given).iterdir() if p.is_file()]
    refuse_alias(out, paths)


def _cmd_simulate(args: argparse.Namespace) -> int:
    import shutil

    from dnalib import rundir
    from dnalib.simulate import simulate_community

    out = Path(args.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        if not args.force:
            raise DnalibError(
                f"{out} already exists and is not an empty directory: choose another --out "
                "or pass --force to replace the community dnalib wrote there"
            )
        # --force replaces only a community dnalib simulate wrote, and only when nothing else is there
        rundir.check_output(out, force=True, kind="genome set")
        foreign = rundir.foreign_entries(out)
        if foreign:
            raise DnalibError(f"--out {out} also holds files dnalib did not write ({', '.join(foreign[:5])}): "
                              "--force replaces a whole simulated community; move them away first "
                              "or choose another --out")
    writable_directory(out.parent if out.exists() else out)
    community = simulate_community(
        args.seed,
        n_genera=args.genera,
        species_per_genus=args.species_per_genus,
        strains_per_species=args.strains_per_species,
        genome_length=args.genome_length,
        contigs_per_genome=args.contigs,
        eval_fraction=args.eval_fraction,
    )
    # written completely beside --out, then swapped in: a failure leaves the old community whole
    staging = out.parent / f".{out.name}.staging-{os.getpid()}"
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    try:
        shutil.rmtree(staging, ignore_errors=True)
        community.write(staging, gzip=args.gzip)
        rundir.own(staging, sorted(p.name for p in staging.iterdir()), kind="genome set")
        rundir.fault_point("simulate-swap")
        if out.exists() and any(out.iterdir()):
            os.replace(out, old)
        try:
            os.replace(staging, out)
        except OSError:
            if old.exists():
                os.replace(old, out)  # put the old community back
            raise
        shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        raise DnalibError(f"cannot write the community to {out} ({exc.strerror or exc}): "
                          f"{'the community there is unchanged' if out.exists() else 'nothing was written'}; "
                          "free some space or choose another --out") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    path = out
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


def _cmd_artifacts_get(args: argparse.Namespace) -> int:
    from dnalib import artifacts
    from dnalib.profiles import current_profile

    profile = current_profile(args.profile)
    print(artifacts.get(args.name, profile, progress=not args.quiet, train=args.train))
    return 0


def _cmd_models_list(args: argparse.Namespace) -> int:
    from dnalib.hub import format_models

    print(format_models())
    return 0


def _cmd_inspect(args: argparse.Namespace) -> int:
    from dnalib.io import format_summary, inspect_path

    print(format_summary(inspect_path(args.path)))
    return 0


def _cmd_embed(args: argparse.Namespace) -> int:
    from dnalib.embed import embed_file

    _note_ignored_options(args)
    _refuse_input_as_output(args.out, args.input, args.model)
    for suffix in (".npy", ".ids.txt"):
        _refuse_input_as_output(str(args.out).removesuffix(".npy") + suffix, args.input, args.model)
    writable_file(args.out)
    info = embed_file(args.model, args.input, args.out, block_size=args.block_size,
                      batch_size=_batch_size(args), device=args.device, resume=args.resume,
                      progress=not args.no_progress, **_model_options(args))
    print(f"{info['n']} embeddings of dimension {info['dim']} -> {info['embeddings']} "
          f"(ids: {info['ids']}) in {info['seconds']:.1f} s"
          + (f"; {info['resumed_from']} were done before" if info["resumed_from"] else ""))
    return 0


#: Column names read as taxonomic ranks when a label table also holds other columns.
STANDARD_RANKS = ("domain", "superkingdom", "kingdom", "phylum", "class", "order", "family",
                  "genus", "species", "subspecies", "strain")


def _evaluation_ranks(columns: list[str], asked: str | None) -> list[str]:
    """The label-table columns ``dnalib evaluate`` scores as ranks.

    ``--ranks a,b,c`` names them. Otherwise, when the table has species and at
    least one other standard rank name, the columns that are not ranks
    (``organism``, ``gc``, ``n_seqs``, ...) are left out, with a note; a table
    of other names is used whole.
    """
    if asked:
        ranks = [r.strip() for r in asked.split(",") if r.strip()]
        unknown = [r for r in ranks if r not in columns]
        if unknown or "species" not in ranks:
            raise DnalibError(f"--ranks {asked}: the label table has columns {', '.join(columns)}; "
                              "name some of them, species included")
        return ranks
    known = [c for c in columns if c.lower() in STANDARD_RANKS]
    if "species" in known and len(known) >= 2 and len(known) < len(columns):
        other = [c for c in columns if c not in known]
        print(f"dnalib: note: scoring the ranks {', '.join(known)}; the label table's other columns "
              f"({', '.join(other)}) are not ranks (choose with --ranks)", file=sys.stderr)
        return known
    return columns


def _write_evaluation(out: Path, record: dict[str, Any], summary: Any, skipped: dict[str, str],
                      header: str | None = None) -> None:
    """Write an evaluation record (JSON, atomically) and print its table (under *header*) and
    skipped tasks."""
    import json

    import numpy as np
    import pandas as pd

    from dnalib import io

    io.write_text_atomically(out, json.dumps(record, indent=2, default=lambda o: o.item()
                                       if isinstance(o, np.generic) else str(o)) + "\n")
    if header:
        print(header)
    with pd.option_context("display.width", 120):
        print(summary.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    for task, why in skipped.items():
        print(f"skipped {task}: {why}")


def _cmd_evaluate(args: argparse.Namespace) -> int:
    import time
    import warnings

    from dnalib import io
    from dnalib.embed import describe_embedder, embed_with
    from dnalib.evaluate import TASKS, evaluate_embeddings
    from dnalib.seqerrors import apply_errors, error_model

    if args.sequences is not None:
        return _evaluate_sequences(args)
    only = [opt for opt, value in (("--tile", args.tile), ("--max-tiles", args.max_tiles),
                                   ("--splits", args.splits), ("--min-per-taxon", args.min_per_taxon),
                                   ("--min-sequences", args.min_sequences),
                                   ("--conflicting", args.conflicting)) if value is not None]
    if only:
        raise DnalibError(f"{', '.join(only)} only apply to --sequences; a genome set (--genomes) is "
                          "cut with --fragment-length and --per-genome")
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    bad = [t for t in tasks if t not in TASKS]
    if bad or not tasks:
        raise DnalibError(f"--tasks must be a comma-separated subset of {','.join(TASKS)}; got {args.tasks!r}")
    if args.fragment_length < 1 or args.per_genome < 1:
        raise DnalibError("--fragment-length and --per-genome must be positive")
    errors = error_model(args.errors)  # a bad spec fails now, in one line
    out = Path(args.out)
    if out.is_dir():
        raise DnalibError(f"--out {out} is a directory: give a file name such as results.json")
    _refuse_input_as_output(out, args.genomes, args.taxonomy, args.model)
    writable_file(out)  # checked now, not after all the work
    _note_ignored_options(args)
    identity = describe_embedder(args.model, device=args.device, **_model_options(args))
    t0 = time.perf_counter()
    gs = io.load_genome_set(args.genomes, args.taxonomy)
    ranks = _evaluation_ranks(gs.ranks, args.ranks)
    if ranks != gs.ranks:  # the same genomes, fewer label columns: no second read of the FASTA files
        gs = dataclasses.replace(gs, taxonomy=gs.taxonomy[ranks])
    with warnings.catch_warnings():  # the shortfall is reported once, below
        warnings.simplefilter("ignore", UserWarning)
        frags, cut = gs.fragments(args.fragment_length, args.per_genome, seed=args.seed,
                                  allow_fewer=True)
    frags = apply_errors(frags, errors, seed=args.seed)  # each fragment its own errors
    counts = cut["id"].value_counts()
    short = {gid: int(counts.get(gid, 0)) for gid in gs.ids if counts.get(gid, 0) < args.per_genome}
    if not frags:
        raise DnalibError(
            f"no genome in {args.genomes} is at least {args.fragment_length} bp long: "
            "use a smaller --fragment-length"
        )
    table = cut[["id", *gs.ranks]]
    if short:
        print(f"dnalib: note: {len(short)} genome(s) gave fewer than {args.per_genome} fragments of "
              f"{args.fragment_length} bp: {short}", file=sys.stderr)
    t1 = time.perf_counter()
    emb = embed_with(args.model, frags, batch_size=_batch_size(args), device=args.device,
                     progress=not args.no_progress, **_model_options(args))
    t2 = time.perf_counter()
    result = evaluate_embeddings(emb, table, tasks=tasks, lengths=[len(f) for f in frags],
                                 seeds=range(args.seeds))
    t3 = time.perf_counter()
    summary = result.pop("table")
    if result.get("missing_species_labels"):
        print(f"dnalib: note: {result['missing_species_labels']} fragment(s) have a missing species "
              "label (empty or a placeholder such as 'unknown') and were left out of every task",
              file=sys.stderr)
    record = {
        "model": args.model,
        "revision": identity.get("commit") or args.revision,
        "embedder": identity,
        "genomes": str(args.genomes),
        "settings": {"fragment_length": args.fragment_length, "per_genome": args.per_genome,
                     "fragment_seed": args.seed, "errors": errors.describe(), "tasks": tasks,
                     "genomes_with_fewer_fragments": short},
        "n_genomes": len(gs.ids),
        **result,
        "seconds": {"load_and_fragment": t1 - t0, "embed": t2 - t1, "evaluate": t3 - t2},
        "dnalib": __version__,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    _write_evaluation(out, record, summary, result["skipped"],
                      header=f"{args.fragment_length} bp fragments, {args.per_genome} per genome; "
                             f"errors: {errors.summary()}")
    print(f"{len(frags)} fragments of {len(gs.ids)} genomes; wrote {out}")
    return 0


#: Options of ``dnalib evaluate --genomes`` that a ``--sequences`` run has no use for.
_GENOME_ONLY_OPTIONS = ("--fragment-length", "--per-genome", "--tasks", "--seeds", "--errors")


def _evaluate_sequences(args: argparse.Namespace) -> int:
    """``dnalib evaluate --sequences FASTA --taxonomy TABLE``: taxonomy by rank on labelled sequences."""
    import json
    import time

    from dnalib.markers import evaluate_sequences

    used = [o for o in _GENOME_ONLY_OPTIONS
            if any(a == o or a.startswith(o + "=") for a in getattr(args, "argv", []))]
    if used:
        raise DnalibError(f"{', '.join(used)} only apply to --genomes; with --sequences use --tile, "
                          "--max-tiles, --splits, --seed")
    if args.taxonomy is None:
        raise DnalibError("--sequences needs --taxonomy: a table with one label row per sequence "
                          "(id + rank columns, or id + lineage)")
    out = Path(args.out)
    if out.is_dir():
        raise DnalibError(f"--out {out} is a directory: give a file name such as results.json")
    _refuse_input_as_output(out, args.sequences, args.taxonomy, args.model)
    writable_file(out)
    _note_ignored_options(args)
    ranks = [r.strip() for r in args.ranks.split(",") if r.strip()] if args.ranks else None
    result = evaluate_sequences(
        args.model, args.sequences, args.taxonomy, ranks=ranks, tile=args.tile,
        max_tiles=args.max_tiles, n_splits=args.splits or 5, seed=args.seed,
        min_per_taxon=args.min_per_taxon or 10, min_sequences=args.min_sequences or 2,
        conflicting=args.conflicting or "drop", batch_size=_batch_size(args), device=args.device,
        progress=not args.no_progress, **_model_options(args))
    summary = result.pop("table")
    record = {
        "model": args.model,
        "revision": result["embedder"].get("commit") or args.revision,
        "sequences": str(args.sequences),
        "taxonomy_table": str(args.taxonomy),
        **result,
        "dnalib": __version__,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    _write_evaluation(out, record, summary, result["skipped"])
    rep = result["inputs"]
    dropped = {k: rep[k] for k in ("sequences_without_labels", "labels_without_sequences",
                                   "shorter_than_tile", "identical_sequences", "unembeddable",
                                   "stray_semicolons", "lower_case", "sequences_with_ambiguous_bases")
               if rep.get(k)}
    for key in ("conflicting_labels", "placeholder_labels", "empty_labels"):
        if any(rep[key].values()):
            dropped[key] = {r: n for r, n in rep[key].items() if n}
    if dropped:
        print(f"inputs: {json.dumps(dropped)} (all counts in {out}, 'inputs')")
    print(f"{result['n_samples']} samples of {result['n_sequences']} sequences; wrote {out}")
    return 0


def _training_output(args: argparse.Namespace, *, resumable: bool = True,
                     inputs: Sequence[str | None] = ()) -> Path:
    """The --out directory of a training command; never silently overwrites a run or a user's files.

    A directory dnalib did not write (no run marker) must be empty; one of
    dnalib's runs needs --resume (continue) or --force (start over: only the
    files the marker lists are removed, see :mod:`dnalib.rundir`). The
    directory is locked for this process, so a second run on it fails now,
    and it may not be (or hold) one of the command's *inputs*.
    """
    from dnalib import rundir

    out = Path(args.out)
    rundir.refuse_alias(out, inputs, directory=True)
    main_process = int(os.environ.get("RANK", 0)) == 0  # under torchrun the main process writes
    if main_process:
        try:
            rundir.check_output(out, resume=args.resume, force=args.force)
        except DnalibError as exc:
            if resumable:
                raise
            raise DnalibError(str(exc).replace("pass --resume to continue it, ", "pass ")) from None
    out = writable_directory(out)
    if main_process:
        rundir.lock(out)
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
    out = _training_output(args, inputs=[args.data])
    if Path(args.data).is_file():  # a FASTA/FASTQ file: every record, no held-out part
        train, held_out, where = load_training_sequences(args.data), None, str(Path(args.data).resolve())
    else:  # a genome set: its training split; the genomes of its other splits are the held-out part
        genomes, where = _genome_set_or_dataset(args.data)
        train_set = genomes.split(args.split)
        rest = [g for g in genomes.ids if g not in train_set.genomes]
        train = [c for contigs in train_set.genomes.values() for c in contigs]
        held_out = [c for g in rest for c in genomes.genomes[g]] or None
        where += f" ({args.split} split)"
    result = pretrain(
        train, out, cfg, eval_sequences=held_out, resume=args.resume,
        progress=not args.no_progress, device=args.device,
        data_description=where,
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

    from dnalib.contrastive import finetune, finetune_config
    from dnalib.pairs import contig_groups, species_groups
    from dnalib.seqerrors import augment_setting

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
        phases = overrides.get("curriculum",
                               finetune_config(args.profile, label_free=args.label_free).curriculum)
        overrides["phase_steps"] = per_phase(args.steps, phases, "--steps")
    for name, value in (("fragment_length", args.fragment_length), ("chunk_length", args.chunk_length),
                        ("batch_pairs", args.batch_pairs),
                        ("lr", args.lr), ("seed", args.seed), ("bf16", args.bf16),
                        ("checkpoint_every", args.checkpoint_every),
                        ("data_offset", args.data_offset),
                        ("augment_errors", augment_setting(args.augment_errors))):
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
    out = _training_output(args, inputs=[args.data, None if args.init == "scratch" else args.init])
    from dnalib.pretrain import load_training_sequences

    data = Path(args.data)
    if args.label_free:
        groups = contig_groups(load_training_sequences(data, split=None), 2 * cfg.fragment_length)
        where = str(data.resolve()) + " (label-free)"
    elif data.is_file():
        raise DnalibError(
            f"{data} is a sequence file: pass a labelled genome set directory, or --label-free to "
            "use two fragments of the same contig as positives"
        )
    else:  # positives: two fragments of one species (of one label at --rank)
        genomes, where = _genome_set_or_dataset(args.data)
        groups = species_groups(genomes.split(args.split), args.rank)
        where += f" ({args.split} split, one group per {args.rank})"
    result = finetune(groups, out, init, cfg, tokenizer=tokenizer, resume=args.resume,
                      stop_after=args.stop_after,
                      progress=not args.no_progress, device=args.device,
                      data_description=where,
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


def _cmd_spectrum_map(args: argparse.Namespace) -> int:
    import shlex

    from dnalib.pairs import species_groups
    from dnalib.seqerrors import augment_setting
    from dnalib.spectrum_map import SpectrumMapConfig, train_spectrum_map

    overrides = {name: value for name, value in (
        ("k", args.k), ("dim", args.dim), ("fragment_length", args.fragment_length),
        ("batch_pairs", args.batch_pairs), ("steps", args.steps), ("lr", args.lr),
        ("temperature", args.temperature), ("hidden", args.hidden), ("seed", args.seed),
        ("augment_errors", augment_setting(args.augment_errors))) if value is not None}
    cfg = SpectrumMapConfig(**overrides)
    cfg.validate()
    args.resume = False  # a minute's run: no checkpoints to resume from
    out = _training_output(args, resumable=False, inputs=[args.data])
    genomes, where = _genome_set_or_dataset(args.data)
    train = genomes.split(args.split)
    result = train_spectrum_map(species_groups(train, args.rank), out, cfg,
                                progress=not args.no_progress,
                                data_description=f"{where} ({args.split} split, one group per {args.rank})",
                                command="dnalib " + " ".join(shlex.quote(a) for a in args.argv))
    last = result["history"][-1]
    extra = (f"; nonlinear, {cfg.hidden} hidden units" if cfg.hidden else "") + \
        (f"; views with {cfg.augment_errors} errors" if cfg.augment_errors else "")
    print(f"trained a {cfg.k}-mer spectrum map ({cfg.dim} dimensions{extra}) on {len(train.ids)} "
          f"genomes for {cfg.steps} steps in {result['seconds']:.0f} s (final loss "
          f"{last['loss']:.3f}); saved in {out}")
    return 0


def _genome_set_or_dataset(data: str) -> tuple[Any, str]:
    """A labelled genome set from a directory, or a registered dataset of layout genome_set."""
    from dnalib import datasets, io

    if Path(data).exists():
        return io.load_genome_set(data), str(Path(data).resolve())
    if data in {d.name for d in datasets.list_datasets()}:
        return datasets.load_dataset(data, progress=False), f"dataset {data}"
    raise DnalibError(f"--data {data}: no such directory, and not a registered dataset "
                      f"(see 'dnalib data list')")


def _add_model_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True,
                   help="tnf, kmer6 (baselines), a model directory (dnalib pretrain/finetune output "
                        "or any AutoModel directory) or a Hugging Face model id (dnalib models list)")
    p.add_argument("--pooling", choices=["mean", "cls"], default=None,
                   help="mean of the last hidden layer over the sequence tokens (default) or its "
                        "first ([CLS]) token")
    p.add_argument("--revision", default=None,
                   help="hub commit to download (pins a hub id; recorded in the results)")
    p.add_argument("--trust-remote-code", action="store_true",
                   help="allow a model's own Python code (auto_map) to run: needed by DNABERT-2/-S, "
                        "NT-v2, HyenaDNA, Caduceus; read that code first")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"], default=None,
                   help="arithmetic of a transformer: auto (default) is bf16 on a CPU with AMX or "
                        "AVX-512 BF16 and on GPUs from compute capability 8.0 (fp16 below), else "
                        "fp32; recorded with the results")


def _add_embedding_args(p: argparse.ArgumentParser) -> None:
    """How the commands that embed (evaluate, embed) run the model."""
    p.add_argument("--batch-size", type=positive_int, default=None,
                   help=f"chunks per forward pass of a model ({DEFAULT_BATCH_SIZE}; no effect on "
                        "the tnf / kmer6 baselines)")
    p.add_argument("--device", type=device_name, default=None,
                   help="cpu, cuda, cuda:N, mps (default cpu; a model only)")
    p.add_argument("--no-progress", action="store_true")


class CommandParser(argparse.ArgumentParser):
    """The parser of one ``dnalib`` command: also takes ``--debug`` after the command name."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                          help="show the full traceback of an error (also: DNALIB_DEBUG=1)")


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``dnalib`` command."""
    parser = argparse.ArgumentParser(
        prog="dnalib",
        description="Species-aware DNA embeddings: data, baselines, training and evaluation.",
    )
    parser.add_argument("--version", action="version", version=f"dnalib {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of an error (also: DNALIB_DEBUG=1)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True,
                                parser_class=CommandParser)

    p = sub.add_parser("simulate", help="write the synthetic community as a labelled genome set")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="random seed (default 0)")
    p.add_argument("--out", required=True, help="output directory (FASTA files + taxonomy.tsv)")
    p.add_argument("--genera", type=positive_int, default=8, help="number of genera (default 8)")
    p.add_argument("--species-per-genus", type=positive_int, default=5, help="default 5")
    p.add_argument("--strains-per-species", type=positive_int, default=1, help="default 1")
    p.add_argument("--genome-length", type=positive_int, default=100_000, help="bp (default 100000)")
    p.add_argument("--contigs", type=positive_int, default=1, help="contigs per genome (default 1)")
    p.add_argument("--eval-fraction", type=fraction, default=0.4,
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

    p = sub.add_parser("artifacts", help="the book's named models (shipped, cached or trained)")
    art_sub = p.add_subparsers(dest="artifacts_command", metavar="ACTION", required=True)
    q = art_sub.add_parser("get", help="print the directory of a named model (copied from dnalib's "
                                       "shipped weights or the cache; --train trains it if needed)")
    q.add_argument("name", choices=["mlm", "simclr", "curriculum", "curriculum_aug10", "spectrum_map",
                                   "spectrum_map_refit", "spectrum_map_aug10"])
    q.add_argument("--profile", choices=PROFILES, default=None,
                   help="whose recipe (default $DNALIB_PROFILE or cpu; hour: trained on real genomes, shipped)")
    q.add_argument("--train", action="store_true", help="train it when it is neither cached nor shipped")
    q.add_argument("--quiet", action="store_true", help="no progress bars")
    q.set_defaults(func=_cmd_artifacts_get)

    p = sub.add_parser("pretrain", help="masked-language-model pretraining of a k-mer RoBERTa")
    p.add_argument("--profile", choices=PROFILES, default=None,
                   help="model size and schedule (default: $DNALIB_PROFILE or cpu)")
    p.add_argument("--data", required=True,
                   help="genome set directory, registered dataset (e.g. genomes_real) or FASTA/FASTQ")
    p.add_argument("--split", default="train",
                   help="a genome set's split to train on (default train); its other genomes are "
                        "the held-out evaluation (a set without splits is used whole)")
    p.add_argument("--out", required=True, help="output model directory")
    p.add_argument("--tokenizer", choices=["kmer", "nonoverlap", "char"], default=None,
                   help="overlapping k-mers (default), non-overlapping k-mers or characters")
    p.add_argument("--k", type=positive_int, default=None, help="k-mer length (profile default)")
    p.add_argument("--fragment-length", type=positive_int, default=None, help="bp per fragment (200)")
    p.add_argument("--position", choices=["absolute", "rotary"], default=None,
                   help="absolute (RoBERTa) or rotary (relative) positions")
    p.add_argument("--batch-size", type=positive_int, default=None, help="fragments per optimizer step")
    p.add_argument("--grad-accum", type=positive_int, default=None, help="micro-batches per step")
    p.add_argument("--steps", type=positive_int, default=None, help="optimizer steps")
    p.add_argument("--lr", type=positive_float, default=None, help="peak learning rate")
    p.add_argument("--embedding-lr-mult", type=nonnegative_float, default=None,
                   help="learning-rate multiple of the token embeddings; 0 freezes them "
                        "(default: 0 for the PCA start, else 1)")
    p.add_argument("--seed", type=nonnegative_int, default=None)
    p.add_argument("--checkpoint-every", type=nonnegative_int, default=None,
                   help="steps between checkpoints (0: only the final model)")
    p.add_argument("--eval-every", type=nonnegative_int, default=None,
                   help="steps between evaluations (0: only at the end)")
    p.add_argument("--bf16", choices=["auto", "on", "off"], default=None)
    p.add_argument("--device", type=device_name, default=None, help="cpu, cuda, ... (default: cuda if available)")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint")
    p.add_argument("--force", action="store_true", help="start over in a non-empty --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_pretrain)

    p = sub.add_parser("finetune", help="contrastive fine-tuning: weighted SimCLR, then MI-Mix")
    p.add_argument("--profile", choices=PROFILES, default=None)
    p.add_argument("--init", required=True,
                   help="model directory written by `dnalib pretrain` (or `dnalib finetune`), or "
                        "'scratch' with --label-free: a fresh 4-mer encoder trained on the sample alone")
    p.add_argument("--data", required=True,
                   help="labelled genome set directory or registered dataset (e.g. genomes_real) or, "
                        "with --label-free, any genome set or FASTA/FASTQ of contigs")
    p.add_argument("--split", default="train",
                   help="the split to train on (default train; a set without splits is used whole)")
    p.add_argument("--rank", default="species",
                   help="positives are two fragments with one label at this rank (default species)")
    p.add_argument("--out", required=True, help="output model directory")
    p.add_argument("--curriculum", default=None,
                   help="phases, comma-separated: simclr, mimix, imix (default simclr,mimix)")
    p.add_argument("--steps", type=step_counts, default=None, help="steps per phase, e.g. 150,150 (or one number)")
    p.add_argument("--label-free", action="store_true",
                   help="positives are two fragments of the same contig (no labels used)")
    p.add_argument("--fragment-length", type=positive_int, default=None, help="bp per view")
    p.add_argument("--chunk-length", type=nonnegative_int, default=None,
                   help="bp the encoder reads at once; views are read in chunks (a divisor of "
                        "the fragment length; 0: whole views)")
    p.add_argument("--batch-pairs", type=pair_count, default=None, help="positive pairs per step")
    p.add_argument("--lr", type=nonnegative_float, default=None, help="encoder learning rate")
    p.add_argument("--augment-errors", default=None, metavar="SPEC",
                   help="sequencing errors given to each view of a positive pair, independently, "
                        "every step (a preset such as longread10 or a total rate such as 0.1); "
                        "default none")
    p.add_argument("--seed", type=nonnegative_int, default=None)
    p.add_argument("--checkpoint-every", type=nonnegative_int, default=None,
                   help="steps between checkpoints (0: only the final model)")
    p.add_argument("--data-offset", type=nonnegative_int, default=None,
                   help="steps of pairs already seen: a run continuing another (phase 2 from a "
                        "phase-1 output) passes that run's steps to draw new pairs")
    p.add_argument("--bf16", choices=["auto", "on", "off"], default=None)
    p.add_argument("--device", type=device_name, default=None)
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint")
    p.add_argument("--stop-after", type=positive_int, default=None,
                   help="pause after this many steps (e.g. the phase-1 steps) with a checkpoint; "
                        "--resume with the same settings continues the run as if uninterrupted")
    p.add_argument("--force", action="store_true", help="start over in a non-empty --out")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_cmd_finetune)

    p = sub.add_parser("spectrum-map", help="train a linear map (or, with --hidden, a shallow "
                                            "network) of the k-mer spectrum with the contrastive "
                                            "loss (seconds; the transformer's rival)")
    p.add_argument("--data", required=True,
                   help="labelled genome set directory, or a registered dataset (e.g. genomes_real)")
    p.add_argument("--split", default="train",
                   help="the split to train on (default train; a set without splits is used whole)")
    p.add_argument("--rank", default="species", help="positives share a label at this rank (species)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--k", type=positive_int, default=None, help="k-mer length (5)")
    p.add_argument("--dim", type=positive_int, default=None, help="embedding dimension (256)")
    p.add_argument("--fragment-length", type=positive_int, default=None, help="bp per view (10000)")
    p.add_argument("--batch-pairs", type=pair_count, default=None, help="positive pairs per step (48)")
    p.add_argument("--steps", type=positive_int, default=None, help="optimiser steps")
    p.add_argument("--lr", type=positive_float, default=None, help="learning rate (0.001)")
    p.add_argument("--temperature", type=positive_float, default=None, help="loss temperature")
    p.add_argument("--hidden", type=nonnegative_int, default=None,
                   help="units of one hidden layer (sigmoid) before the output map: the nonlinear "
                        "spectrum model; 0: the linear map (default)")
    p.add_argument("--augment-errors", default=None, metavar="SPEC",
                   help="sequencing errors given to each training view, independently (a preset "
                        "such as longread10 or a total rate such as 0.1); default none")
    p.add_argument("--seed", type=nonnegative_int, default=None)
    p.add_argument("--force", action="store_true", help="start over in a non-empty --out")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_cmd_spectrum_map)

    p = sub.add_parser("evaluate", help="score a model or baseline on a labelled genome set "
                                        "(clustering, few-shot, binning, taxonomy) or on labelled "
                                        "marker-gene sequences (taxonomy by rank)")
    _add_model_arg(p)
    given = p.add_mutually_exclusive_group(required=True)
    given.add_argument("--genomes",
                       help="directory of FASTA files named by genome id (gzipped or not) + taxonomy.tsv")
    given.add_argument("--sequences",
                       help="FASTA file of labelled sequences (16S, ITS, ...; DAIRYdb's mothur file as "
                            "it is), one label row per sequence in --taxonomy: taxonomy by rank")
    p.add_argument("--taxonomy", default=None,
                   help="label table with an id column and rank columns incl. species "
                        "(default: GENOMES/taxonomy.tsv); with --sequences: id + rank columns, or "
                        "id + a lineage 'k__X;p__Y;...' or 'Kingdom;Phylum;...;' (mothur, no header)")
    p.add_argument("--ranks", default=None,
                   help="comma-separated label-table columns to score as ranks, species included "
                        "(default: the standard rank names when the table has other columns too); "
                        "with --sequences: any ranks (default: all)")
    p.add_argument("--tile", type=positive_int, default=None,
                   help="--sequences: cut each sequence into adjacent tiles of this many bp (the "
                        "incomplete last one dropped; shorter sequences are left out and counted); "
                        "default: whole sequences")
    p.add_argument("--max-tiles", type=positive_int, default=None,
                   help="--sequences: at most this many tiles per sequence, chosen at random (--seed)")
    p.add_argument("--splits", type=pair_count, default=None,
                   help="--sequences: folds of the grouped, stratified cross-validation (5)")
    p.add_argument("--min-per-taxon", type=positive_int, default=None,
                   help="--sequences: taxa with fewer samples are dropped per rank (10)")
    p.add_argument("--min-sequences", type=positive_int, default=None,
                   help="--sequences: taxa found in fewer source sequences are dropped per rank (2)")
    p.add_argument("--conflicting", choices=["drop", "keep"], default=None,
                   help="--sequences: identical sequences whose labels differ at a rank: drop that "
                        "label (default) or keep it")
    p.add_argument("--fragment-length", type=positive_int, default=10_000, help="bp per fragment (10000)")
    p.add_argument("--per-genome", type=positive_int, default=100, help="fragments per genome (100)")
    p.add_argument("--errors", default=None, metavar="SPEC",
                   help="sequencing errors applied to every fragment after it is cut (seeded by "
                        "--seed): a preset (clean, illumina, longread5, longread10) or a total "
                        "rate such as 0.1 (20%% substitutions, 40%% insertions, 40%% deletions); "
                        "default clean")
    p.add_argument("--tasks", default="clustering,fewshot,binning,taxonomy",
                   help="comma-separated subset of clustering,fewshot,binning,taxonomy")
    p.add_argument("--seeds", type=positive_int, default=5, help="seeds 0..N-1 for KMeans and few-shot (5)")
    p.add_argument("--seed", type=nonnegative_int, default=0,
                   help="seed of the fragment positions (--sequences: of the tiles and the splits)")
    p.add_argument("--out", required=True, help="JSON file for the results")
    _add_embedding_args(p)
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("embed", help="embed every record of a FASTA/FASTQ file (streamed) and write "
                                     "PREFIX.npy + PREFIX.ids.txt")
    _add_model_arg(p)
    p.add_argument("--input", required=True, help="FASTA or FASTQ file, plain or compressed")
    p.add_argument("--out", required=True, help="output prefix: writes OUT.npy and OUT.ids.txt")
    p.add_argument("--block-size", type=positive_int, default=2048, help="records held in memory at once (2048)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run with the same --out")
    _add_embedding_args(p)
    p.set_defaults(func=_cmd_embed)

    p = sub.add_parser("models", help="published encoders that --model takes by hub id")
    models_sub = p.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    q = models_sub.add_parser("list", help="id, tokenizer, context, licence, pooling (nothing downloaded)")
    q.set_defaults(func=_cmd_models_list)

    p = sub.add_parser("inspect", help="validate FASTA/FASTQ or a labelled genome set and summarise it")
    p.add_argument("path", help="a FASTA/FASTQ file (plain or .gz) or a genome-set directory")
    p.set_defaults(func=_cmd_inspect)
    return parser


def debug_requested(args: argparse.Namespace) -> bool:
    """True for ``--debug`` or ``DNALIB_DEBUG`` set to anything but empty or 0."""
    return bool(getattr(args, "debug", False)) or os.environ.get("DNALIB_DEBUG", "").strip() not in ("", "0")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status.

    Expected failures (see :func:`error_message`) print one line
    ``dnalib: error: ...`` and return 1; anything else is a bug and keeps its
    traceback. With ``--debug`` / ``DNALIB_DEBUG=1`` every error is raised.
    """
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warning
            return args.func(args)
    except KeyboardInterrupt:
        print("dnalib: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        message = error_message(exc)
        if message is None or debug_requested(args):
            raise
        print(f"dnalib: error: {message}", file=sys.stderr)
        return 1
    finally:
        from dnalib.rundir import unlock_all

        unlock_all()  # the --out locks of this command (a process's own end releases them too)


if __name__ == "__main__":
    sys.exit(main())
