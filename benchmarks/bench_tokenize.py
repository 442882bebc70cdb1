"""Throughput of k-mer tokenization: the NumPy fast path, the HF tokenizers, pure Python.

Data (seeded): 2,000 random 1 kbp sequences and one random 5 Mbp genome.
Figures, for k = 6:

- ``kmer_k6_*``: overlapping 6-mer token ids with
  ``dnalib.tokenizers.encode_kmer_batch`` (one call for the whole batch:
  ``input_ids`` with ``[CLS]``/``[SEP]`` and ``attention_mask``, int32 by
  default; ``kmer_k6_int64_*`` the same with int64 arrays);
- ``batch_kmer_ids_k6_*``: the raw ids of ``dnalib.sequences.batch_kmer_ids``;
- ``nonoverlap_k6_*``: non-overlapping 6-mer token ids (tail as single bases);
- ``hf_kmer_k6_*`` / ``hf_nonoverlap_k6_*``: the Hugging Face fast tokenizers
  of the same schemes (``tokenizer(batch)["input_ids"]``), for comparison;
- ``reference_*``: pure Python measured in the same run (``seq[i:i+k]`` slices
  plus a dict lookup, per sequence), and ``*_speedup`` = fast / reference.

References and HF tokenizers are timed on a subset and scaled to Mbp/s; every
timing is the best of a few repeats.  Single-threaded: ``RAYON_NUM_THREADS=1``
and ``TOKENIZERS_PARALLELISM=false`` are set before ``tokenizers`` is imported
(the Rust tokenizer would otherwise encode a batch on all cores), and BLAS /
OpenMP threads are pinned to 1.

Run: ``python benchmarks/bench_tokenize.py``; prints one ``name: value`` per line.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


import numpy as np  # noqa: E402

from dnalib.records import best_time, random_dna  # noqa: E402
from dnalib.sequences import batch_kmer_ids, kmer_strings  # noqa: E402
from dnalib.tokenizers import NUM_SPECIAL, encode_kmer_batch, make_tokenizer  # noqa: E402

K = 6




def _reference_overlapping(seqs: list[str], vocab: dict[str, int], k: int) -> list[list[int]]:
    """Pure Python: every window ``seq[i:i+k]`` looked up in a dict ([UNK] = 1)."""
    out = []
    for seq in seqs:
        s = seq.upper()
        out.append([2] + [vocab.get(s[i : i + k], 1) for i in range(len(s) - k + 1)] + [3])
    return out


def _reference_nonoverlapping(seqs: list[str], vocab: dict[str, int], k: int) -> list[list[int]]:
    """Pure Python: ``seq[i:i+k]`` for i = 0, k, 2k, ..., tail as single bases."""
    out = []
    for seq in seqs:
        s = seq.upper()
        n = len(s) // k * k
        ids = [vocab.get(s[i : i + k], 1) for i in range(0, n, k)]
        ids += [vocab.get(c, 1) for c in s[n:]]
        out.append([2] + ids + [3])
    return out


def main() -> dict[str, float]:
    """Run the benchmark, print and return the figures."""
    rng = np.random.default_rng(0)
    short = [random_dna(rng, 1000) for _ in range(2000)]
    genome = random_dna(rng, 5_000_000)
    datasets = {
        # (data, subset for the pure-Python reference, subset for the HF tokenizers)
        "1kbp": (short, short[:200], short[:20]),
        "5Mbp": ([genome], [genome[:500_000]], [genome[:20_000]]),
    }
    vocab = {s: NUM_SPECIAL + i for i, s in enumerate(kmer_strings(K))}
    vocab.update({b: NUM_SPECIAL + 4**K + i for i, b in enumerate("ACGTN")})
    hf_kmer = make_tokenizer("kmer", K, model_max_length=10**9)
    hf_non = make_tokenizer("nonoverlap", K, model_max_length=10**9)
    figures: dict[str, float] = {}

    def mbps(n_bp: int, seconds: float) -> float:
        return n_bp / seconds / 1e6

    for label, (data, ref_sub, hf_sub) in datasets.items():
        n_bp = sum(map(len, data))
        ref_bp = sum(map(len, ref_sub))
        hf_bp = sum(map(len, hf_sub))
        fast = {
            "kmer": mbps(n_bp, best_time(lambda d=data: encode_kmer_batch(d, K))),
            "nonoverlap": mbps(
                n_bp, best_time(lambda d=data: encode_kmer_batch(d, K, overlapping=False))
            ),
        }
        figures[f"kmer_k{K}_int64_{label}_Mbp_per_s"] = mbps(
            n_bp, best_time(lambda d=data: encode_kmer_batch(d, K, dtype=np.int64))
        )
        figures[f"batch_kmer_ids_k{K}_{label}_Mbp_per_s"] = mbps(
            n_bp, best_time(lambda d=data: batch_kmer_ids(d, K))
        )
        ref = {
            "kmer": mbps(
                ref_bp, best_time(lambda s=ref_sub: _reference_overlapping(s, vocab, K), 3)
            ),
            "nonoverlap": mbps(
                ref_bp, best_time(lambda s=ref_sub: _reference_nonoverlapping(s, vocab, K), 3)
            ),
        }
        hf = {
            "kmer": mbps(hf_bp, best_time(lambda s=hf_sub: hf_kmer(s)["input_ids"], 2)),
            "nonoverlap": mbps(hf_bp, best_time(lambda s=hf_sub: hf_non(s)["input_ids"], 2)),
        }
        for scheme in ("kmer", "nonoverlap"):
            name = f"{scheme}_k{K}_{label}"
            figures[f"{name}_Mbp_per_s"] = fast[scheme]
            figures[f"hf_{name}_Mbp_per_s"] = hf[scheme]
            figures[f"reference_{name}_Mbp_per_s"] = ref[scheme]
            figures[f"{name}_speedup"] = fast[scheme] / ref[scheme]
            figures[f"hf_{name}_speedup"] = hf[scheme] / ref[scheme]

    for name, value in figures.items():
        print(f"{name}: {value:.3g}")
    return figures


if __name__ == "__main__":
    main()
