"""Train an artifact's recipe and write the copy dnalib ships (``dnalib/weights/<name>``).

Today one artifact ships: ``spectrum_map``, the learned linear map of the 5-mer
spectrum trained on the genomes_real training species (needs the data mirror,
``DNALIB_DATA_MIRROR``; under a minute on 2 CPU cores)::

    python benchmarks/ship_weights.py spectrum_map

It trains the recipe afresh (``dnalib.artifacts.get(name, force=True)``), then
copies the model files, the training log, the training record (command,
settings, data fingerprint, versions, date) and the recipe into
``dnalib/weights/<name>/`` with a ``SHA256SUMS`` of the model files, which
:func:`dnalib.artifacts.get` checks before using them. Training again on another
processor gives weights equal up to floating-point rounding, not bit for bit.
"""

from __future__ import annotations

import argparse
import shutil

from dnalib import artifacts
from dnalib.datasets import sha256_file

#: Files of a trained artifact that ship (the rest, checkpoints, stays in the cache).
SHIPPED = ("config.json", "model.safetensors", "dnalib_spectrum_map.json", "log.jsonl",
           artifacts.RECIPE_FILE)
#: Files whose sha256 the shipped copy records.
CHECKED = ("config.json", "model.safetensors")


def main(argv: list[str] | None = None) -> None:
    """Train and write the shipped copy."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("name", choices=["spectrum_map"])
    args = p.parse_args(argv)
    trained = artifacts.get(args.name, force=True, progress=False)
    target = artifacts.shipped_path(args.name)
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for name in SHIPPED:
        shutil.copy2(trained / name, target / name)
    (target / artifacts.SUMS_FILE).write_text(
        "".join(f"{sha256_file(target / name)}  {name}\n" for name in CHECKED))
    size = sum(f.stat().st_size for f in target.iterdir())
    print(f"shipped {args.name}: {size / 1e6:.1f} MB in {target}")


if __name__ == "__main__":
    main()
