"""The ``dnalib`` command line.

::

    dnalib simulate --seed 0 --out community/     write the synthetic community as a labelled genome set
    dnalib data list                              the registered public datasets
    dnalib data get kmcp15                        download / verify a dataset, print its local path
    dnalib inspect PATH                           validate FASTA/FASTQ or a labelled genome set, summarise it

Bad input never ends in a traceback: every :class:`~dnalib.errors.DnalibError`
is printed as one line ``dnalib: error: ...`` and the exit status is 1 (2 for a
wrong command line, as argparse does).
"""

from __future__ import annotations

import argparse
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

    p = sub.add_parser("inspect", help="validate FASTA/FASTQ or a labelled genome set and summarise it")
    p.add_argument("path", help="a FASTA/FASTQ file (plain or .gz) or a genome-set directory")
    p.set_defaults(func=_cmd_inspect)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
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
