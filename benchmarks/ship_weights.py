"""Train an artifact's recipe and write the copy dnalib ships (``dnalib/weights/...``).

Two kinds of artifacts ship (both need the data mirror, ``DNALIB_DATA_MIRROR``):

* ``spectrum_map``, the learned linear map of the 5-mer spectrum trained on the
  genomes_real training species (under a minute on 2 CPU cores), in
  ``dnalib/weights/spectrum_map``::

      python benchmarks/ship_weights.py spectrum_map

  and ``spectrum_map_refit``, the same settings refit on every genomes_real species
  outside the kmcp15 genera (96 species), in ``dnalib/weights/spectrum_map_refit``,
  and ``spectrum_map_aug10``, ``spectrum_map`` trained with long-read errors
  (``augment_errors="longread10"``, about 80 s), in ``dnalib/weights/spectrum_map_aug10``::

      python benchmarks/ship_weights.py spectrum_map_refit spectrum_map_aug10

* the ``hour`` profile's transformers, trained on the same species (about an
  hour on 2 CPU cores: 66 minutes on 2 AMD EPYC cores), in
  ``dnalib/weights/hour/<name>``; ``--record`` writes what the training took::

      python benchmarks/ship_weights.py --profile hour mlm simclr curriculum \
          --record results/hour_training_cpu.json

  and ``curriculum_aug10``, the curriculum trained with long-read errors as one
  run from ``mlm`` (about 55 minutes).

Each artifact is trained afresh (``dnalib.artifacts.get(name, profile,
force=True)``; a later one starts from an earlier one of the same call), or,
with ``--from DIR``, taken from a finished run of its recipe trained elsewhere
(:func:`dnalib.artifacts.adopt` checks its settings, data and start first;
one line naming what differs otherwise)::

      dnalib finetune --profile hour --init dnalib/weights/hour/mlm --data genomes_real \
          --augment-errors longread10 --out runs/hour_aug10
      python benchmarks/ship_weights.py --profile hour curriculum_aug10 --from runs/hour_aug10

Then its model files, tokenizer, projection head, training log, training
record (command, settings, data fingerprint, versions, date) and recipe are
copied with a ``SHA256SUMS`` of the model files, which
:func:`dnalib.artifacts.get` checks before using them. Training again on another processor gives weights
equal up to floating-point rounding, not bit for bit.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from dnalib import artifacts, records
from dnalib.datasets import sha256_file
from dnalib.errors import DnalibError
from dnalib.profiles import current_profile
from dnalib.spectrum_map import INFO_FILE as MAP_INFO_FILE
from dnalib.training import RUN_INFO_FILES

#: Files of a trained artifact that ship (the rest, checkpoints, stays in the cache).
SHIPPED = ("config.json", "model.safetensors", MAP_INFO_FILE, "log.jsonl", artifacts.RECIPE_FILE)
#: More files of a transformer (those it has: a pretrained model has no projection head).
TRANSFORMER_EXTRA = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                     "head.safetensors", *RUN_INFO_FILES)
#: Files whose sha256 the shipped copy records.
CHECKED = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
           "special_tokens_map.json", "head.safetensors")


def main(argv: list[str] | None = None) -> None:
    """Train and write the shipped copy."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("names", nargs="+", choices=artifacts.NAMES,
                   help="artifacts to train and ship, in this order (a later one starts from an "
                        "earlier one trained here)")
    p.add_argument("--from", dest="source", default=None, metavar="DIR",
                   help="ship this finished run of the recipe instead of training (one artifact; "
                        "its settings, data and start are checked first)")
    p.add_argument("--profile", default=None,
                   help="profile of the transformer artifacts (hour: trained on genomes_real)")
    p.add_argument("--record", default=None,
                   help="also write a training record here (command, commit, hardware, and per "
                        "artifact its seconds, steps, final loss and size), e.g. "
                        "results/hour_training_cpu.json")
    args = p.parse_args(argv)
    profile = current_profile(args.profile)
    if profile not in artifacts.REAL_PROFILES and set(args.names) - set(artifacts.MAPS):
        raise SystemExit(f"only the {', '.join(artifacts.REAL_PROFILES)} profile's transformers "
                         f"ship (pass --profile hour); the others train in minutes")
    if args.source and len(args.names) != 1:
        raise SystemExit(f"--from {args.source} ships one artifact: name one, not {len(args.names)}")
    record = {"benchmark": "training of the shipped weights",
              "command": "python benchmarks/ship_weights.py " + " ".join(
                  sys.argv[1:] if argv is None else argv),
              "commit": records.commit(), "hardware": records.hardware(), "profile": profile,
              "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "artifacts": {}}
    for artifact in args.names:
        t0 = time.perf_counter()
        try:
            trained = (artifacts.adopt(artifact, args.source, profile) if args.source
                       else artifacts.get(artifact, profile, force=True, progress=False))
        except DnalibError as exc:
            raise SystemExit(f"{artifact}: {exc}") from None
        wall = time.perf_counter() - t0
        target = artifacts.shipped_path(artifact, profile)
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        files = [n for n in SHIPPED + TRANSFORMER_EXTRA if (trained / n).is_file()]
        for name in files:
            shutil.copy2(trained / name, target / name)
        portable_run_info(target, profile, start=artifacts.recipe(artifact, profile)["from"]
                          if args.source else None)
        (target / artifacts.SUMS_FILE).write_text("".join(
            f"{sha256_file(target / name)}  {name}\n" for name in files if name in CHECKED))
        size = sum(f.stat().st_size for f in target.iterdir())
        print(f"shipped {artifact}: {size / 1e6:.1f} MB in {target}", flush=True)
        if args.record:
            record["artifacts"][artifact] = {"size_mb": size / 1e6, "wall_seconds": wall,
                                             **_training_summary(target)}
            records.write(args.record, record)


def portable_run_info(directory: Path, profile: str, start: str | None = None) -> None:
    """Rewrite the training record in *directory* with paths a reader can rerun.

    A run that started from another artifact records that artifact's cache
    directory (``init``); the shipped copy names the artifact's shipped
    directory instead (``dnalib/weights/hour/mlm``), and every other path is
    made portable as records are (:func:`dnalib.records.portable`). A run
    trained elsewhere (``--from``) may name its start by any path: *start*,
    the artifact it was checked to start from, replaces its ``init``.
    """
    for name in (*RUN_INFO_FILES, MAP_INFO_FILE):
        path = directory / name
        if not path.is_file():
            continue
        text = path.read_text()
        for other in artifacts.NAMES:
            for prof in {profile, *artifacts.REAL_PROFILES}:
                text = text.replace(json.dumps(str(artifacts.path(other, prof)))[1:-1],
                                    json.dumps(str(artifacts.shipped_path(other, prof)))[1:-1])
        info = json.loads(text)
        if start and "init" in info:
            info["init"] = str(artifacts.shipped_path(start, profile))
        path.write_text(json.dumps(records.portable(info), indent=2) + "\n")


def _training_summary(directory: Path) -> dict:
    """Steps, final loss and provenance of the training run in *directory*, from its own record."""
    for name in (*RUN_INFO_FILES, MAP_INFO_FILE):
        if (directory / name).is_file():
            info = json.loads((directory / name).read_text())
            break
    else:
        return {}
    log = [json.loads(line) for line in (directory / "log.jsonl").read_text().splitlines() if line]
    last = log[-1] if log else {}
    return {"training_seconds": info.get("seconds"), "steps": last.get("step", len(log)),
            "final_loss": last.get("loss"), "trained_by": info.get("command"),
            "data": info.get("data"), "date": info.get("date")}


if __name__ == "__main__":
    main()
