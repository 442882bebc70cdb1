"""Throughput of k-mer spectra and k-mer ids against pure-Python references.

Data (seeded): 2,000 random 1 kbp sequences and one random 5 Mbp genome.
Figures: k=4 and k=6 spectra (``dnalib.kmers.kmer_spectrum``, one call for all
sequences) and overlapping 6-mer ids, each with the pure-Python reference
measured in the same run (``collections.Counter`` over ``seq[i:i+k]``;
``seq[i:i+k]`` + dict lookup for ids).  ``kmer_ids_k6_*`` is the batched call
(``dnalib.sequences.batch_kmer_ids``: all sequences at once, ids concatenated
with offsets), ``kmer_ids_k6_*_per_call`` one ``dnalib.sequences.kmer_ids``
call per sequence (what a loop over sequences costs).  References are timed on
a subset and scaled to Mbp/s.  Every timing is the best of a few repeats.

Single-threaded: the NumPy code paths used here do not multi-thread, and BLAS /
OpenMP threads are pinned to 1 below for good measure.

Run: ``python benchmarks/bench_kmers.py``; prints the processor and then one
``name: value`` per line.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402

import numpy as np  # noqa: E402

from dnalib.kmers import kmer_spectrum, reference_kmer_spectrum  # noqa: E402
from dnalib.profiles import cpu_model, cpu_vector_isa  # noqa: E402
from dnalib.records import best_time, random_dna  # noqa: E402
from dnalib.sequences import batch_kmer_ids, kmer_ids, reference_kmer_ids  # noqa: E402


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Run the benchmark, print and return the figures."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n-1kbp", type=int, default=2000, help="number of 1 kbp sequences")
    p.add_argument("--genome-bp", type=int, default=5_000_000, help="length of the long sequence")
    p.add_argument("--repeats", type=int, default=7, help="timings per figure (the best is kept)")
    args = p.parse_args(argv)
    rng = np.random.default_rng(0)
    short = [random_dna(rng, 1000) for _ in range(args.n_1kbp)]
    genome = random_dna(rng, args.genome_bp)
    datasets = {
        "1kbp": (short, short[:100]),  # (data, subset for the reference)
        "5Mbp": ([genome], [genome[:200_000]]),
    }
    figures: dict[str, float] = {}

    def record(name: str, fast_s: float, fast_bp: int, ref_s: float, ref_bp: int) -> None:
        fast = fast_bp / fast_s / 1e6
        ref = ref_bp / ref_s / 1e6
        figures[f"{name}_Mbp_per_s"] = fast
        figures[f"reference_{name}_Mbp_per_s"] = ref
        figures[f"{name}_speedup"] = fast / ref

    reps = args.repeats
    for label, (data, subset) in datasets.items():
        n_bp = sum(map(len, data))
        sub_bp = sum(map(len, subset))
        for k in (4, 6):
            fast_s = best_time(lambda d=data, k=k: kmer_spectrum(d, k), repeats=reps)
            ref_s = best_time(lambda s=subset, k=k: reference_kmer_spectrum(s, k))
            record(f"spectrum_k{k}_{label}", fast_s, n_bp, ref_s, sub_bp)
        ref_s = best_time(lambda s=subset: [reference_kmer_ids(x, 6) for x in s])
        fast_s = best_time(lambda d=data: batch_kmer_ids(d, 6), repeats=reps)
        record(f"kmer_ids_k6_{label}", fast_s, n_bp, ref_s, sub_bp)
        if len(data) > 1:
            call_s = best_time(lambda d=data: [kmer_ids(s, 6) for s in d], repeats=reps)
            figures[f"kmer_ids_k6_{label}_per_call_Mbp_per_s"] = n_bp / call_s / 1e6
            figures[f"kmer_ids_k6_{label}_per_call_speedup"] = (n_bp / call_s) / (sub_bp / ref_s)

    print(f"processor: {cpu_model()} ({cpu_vector_isa()})")
    for name, value in figures.items():
        print(f"{name}: {value:.1f}")
    return figures


if __name__ == "__main__":
    main()
