"""Embedding throughput against a naive loop, and memory while streaming a large file.

Model: the ``cpu``-profile encoder architecture (what ``dnalib pretrain
--profile cpu`` trains: overlapping 6-mers, 200 bp per pass, 2 layers x 128),
randomly initialised: speed does not depend on the weights.

Figures (one ``name: value`` per line):

* ``embed_{1kbp,10kbp}_seq_per_s``: :func:`dnalib.embed.embed_sequences` on
  random sequences (every sequence is cut into 200 bp chunks, chunks of all
  sequences are sorted by length and batched, no gradients; on a CPU, small
  passes run in one thread per core).
* ``naive_{1kbp,10kbp}_seq_per_s``: the loop a reader would write first, in
  the same run: one sequence at a time, its chunks one at a time through the
  Hugging Face tokenizer and the model, float32, no length bucketing, mean of
  the chunk means (torch's default threads). ``*_speedup`` is the ratio.
* ``embed_{1kbp,10kbp}_max_abs_diff``: the largest difference between the two
  embeddings of a sequence (the benchmark fails above 1e-5: faster, not
  different).
* ``{embed,naive}_{1kbp,10kbp}_gflop_per_s``: the same two runs as arithmetic
  rate (the encoder's matrix products and attention per 200 bp chunk,
  :func:`dnalib.models.encoder_flops`),
  and ``gemm_gflop_per_s``: what the cores reach on the feed-forward products
  alone (16 chunks' tokens x h times h x f and back, one thread per core, as
  embedding runs its passes). ``embed_share_of_gemm`` is their ratio: how much
  faster an exact float32 path could still go at most.
* ``bf16_{1kbp,10kbp}_seq_per_s``: the same sequences through the bf16 path
  (weights cast to bfloat16 once by :func:`dnalib.inference.cast_bf16`, pooling in float32: what ``--precision bf16``
  and, on a CPU with AMX or AVX-512 BF16, ``auto`` run); ``bf16_*_vs_fp32`` is
  its ratio to ``embed_*_seq_per_s``; ``bf16_*_max_abs_diff`` and
  ``bf16_*_min_cosine`` compare its rows with the float32 ones (the scores
  check is ``benchmarks/bench_bf16_scores.py``); ``bf16_gemm_gflop_per_s`` is
  the feed-forward products' rate in bf16. The machine's speed drifts from
  minute to minute, so the ratio is taken round by round, each bf16 run right
  after its fp32 run: ``bf16_*_vs_fp32`` is the median of ``--repeats`` such
  ratios and ``*_vs_fp32_min`` / ``*_max`` their range. On a CPU without bf16 units the
  bench says so and skips them (``auto`` stays fp32 there).
* ``stream_rss_mb_at_{N}``: resident memory of a child process streaming a
  FASTA file of 100,000 reads (200 bp, one model pass each) through
  :func:`dnalib.embed.embed_file` (what ``dnalib embed`` runs), after N
  records; flat means bounded memory. ``stream_seq_per_s`` is that run's
  throughput.

The first lines name the processor and torch's thread count (timings on a
shared machine are only comparable as ratios within one run).

Run: ``python benchmarks/bench_embed.py [--stream N] [--profile gpu]`` (``--profile gpu``:
the same on the gpu profile's larger encoder, where bf16 gains more).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from dnalib.models import encoder_flops
from dnalib.profiles import cpu_model, cpu_vector_isa
from dnalib.records import random_dna


def _model(directory: Path, profile: str = "cpu"):
    from dnalib.models import model_config, new_mlm_model
    from dnalib.pretrain import pretrain_config
    from dnalib.tokenizers import make_tokenizer

    cfg = pretrain_config(profile)
    tok = make_tokenizer(cfg.tokenizer, k=cfg.k)
    model = new_mlm_model(model_config(tok, profile=profile, max_tokens=cfg.tokens_per_fragment), seed=0)
    model.base_model.save_pretrained(directory)
    tok.save_pretrained(directory)
    return model.base_model.eval(), tok


@torch.inference_mode()
def naive_embed(model, tok, seqs: list[str], chunk: int) -> np.ndarray:
    """One sequence at a time, one chunk at a time, float32, plain HF tokenizer."""
    out = []
    for s in seqs:
        means = []
        for a in range(0, len(s), chunk):
            enc = tok(s[a:a + chunk], return_tensors="pt")
            hidden = model(**enc).last_hidden_state[0, 1:-1]
            means.append(hidden.mean(0))
        out.append(torch.stack(means).mean(0).numpy())
    return np.stack(out)


def _gemm_rate(model, rows: int, repeats: int = 20, dtype=torch.float32) -> float:
    """FLOP/s of the encoder's feed-forward products alone, one thread per core in parallel."""
    from concurrent.futures import ThreadPoolExecutor

    c = model.config
    h, f = c.hidden_size, c.intermediate_size
    a, w1, w2 = (torch.randn(rows, h, dtype=dtype), torch.randn(f, h, dtype=dtype),
                 torch.randn(h, f, dtype=dtype))
    threads = torch.get_num_threads()

    def work(_: int) -> None:
        torch.set_num_threads(1)
        for _ in range(repeats):
            (a @ w1.T) @ w2.T

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, range(threads)))  # warm-up
        t0 = time.perf_counter()
        list(pool.map(work, range(threads)))
        seconds = time.perf_counter() - t0
    torch.set_num_threads(threads)
    return threads * repeats * 2 * 2 * rows * h * f / seconds


def _stream(model_dir: Path, n: int, workdir: Path, length: int) -> dict[str, float]:
    """Stream n random records through embed_file in a child; sample its RSS."""
    rng = np.random.default_rng(1)
    fa = workdir / "stream.fa"
    with open(fa, "w") as fh:
        for i in range(n):
            fh.write(f">read{i}\n{random_dna(rng, length)}\n")
    code = (
        "import sys, resource\n"
        "import dnalib.embed as E\n"
        "real = E.load_embedder\n"
        "seen = [0]\n"
        "marks = {int(x) for x in sys.argv[3].split(',')}\n"
        "def rss():\n"
        "    return int(open('/proc/self/statm').read().split()[1]) * resource.getpagesize() / 2**20\n"
        "def loader(m, **kw):\n"
        "    f = real(m, **kw)\n"
        "    def g(b):\n"
        "        r = f(b); seen[0] += len(b)\n"
        "        if seen[0] in marks: print(f'rss {seen[0]} {rss():.1f}', flush=True)\n"
        "        return r\n"
        "    return g\n"
        "E.load_embedder = loader\n"
        "import time; t = time.perf_counter()\n"
        "info = E.embed_file(sys.argv[1], sys.argv[2], sys.argv[4], block_size=2000, progress=False)\n"
        "print(f\"rate {info['n'] / (time.perf_counter() - t):.1f}\")\n"
    )
    marks = sorted({m for m in (2000, n // 10, n // 2, n) if m % 2000 == 0 and m > 0})
    res = subprocess.run([sys.executable, "-c", code, str(model_dir), str(fa),
                          ",".join(map(str, marks)), str(workdir / "stream")],
                         capture_output=True, text=True, check=True)
    figures = {}
    for line in res.stdout.splitlines():
        parts = line.split()
        if parts[0] == "rss":
            figures[f"stream_rss_mb_at_{parts[1]}"] = float(parts[2])
        elif parts[0] == "rate":
            figures["stream_seq_per_s"] = float(parts[1])
    emb = np.load(workdir / "stream.npy", mmap_mode="r")
    assert emb.shape[0] == n, emb.shape
    return figures


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Run the benchmark, print and return the figures."""
    import copy

    from dnalib.inference import cast_bf16, cpu_bf16_units, embed_sequences

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--profile", default="cpu",
                   help="whose encoder architecture (cpu: 2 x 128; gpu: the larger one; weights random)")
    p.add_argument("--stream", type=int, default=100_000, help="records streamed (0: skip)")
    p.add_argument("--stream-length", type=int, default=200, help="bp per streamed record")
    p.add_argument("--n-1kbp", type=int, default=256, help="1 kbp sequences embedded (0: skip)")
    p.add_argument("--n-10kbp", type=int, default=32, help="10 kbp sequences embedded (0: skip)")
    p.add_argument("--naive", type=int, default=0,
                   help="sequences timed with the naive loop (default: an eighth, at least 4)")
    p.add_argument("--repeats", type=int, default=5,
                   help="rounds of each method, alternated (the best time is kept; bf16 against fp32 "
                        "is the median of the rounds' ratios)")
    args = p.parse_args(argv)
    rng = np.random.default_rng(0)
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model, tok = _model(tmp / "model", args.profile)
        units = cpu_bf16_units()
        model16 = cast_bf16(copy.deepcopy(model)) if units else None
        chunk = 200
        for label, length, n in (("1kbp", 1000, args.n_1kbp), ("10kbp", 10_000, args.n_10kbp)):
            if n == 0:
                continue
            seqs = [random_dna(rng, length) for _ in range(n)]
            sub = seqs[: args.naive or max(4, n // 8)]
            # warm-up on the whole set: a call of many passes builds its trace on first use
            embed_sequences(model, tok, seqs, chunk_length=chunk)
            naive_embed(model, tok, sub[:1], chunk)
            if model16 is not None:
                embed_sequences(model16, tok, seqs, chunk_length=chunk)
            fast_s = slow_s = half_s = float("inf")
            ratios = []
            for _ in range(args.repeats):  # alternated, best of each: load from other programs
                t0 = time.perf_counter()
                fast = embed_sequences(model, tok, seqs, chunk_length=chunk)
                fast_round = time.perf_counter() - t0
                fast_s = min(fast_s, fast_round)
                if model16 is not None:  # right after the fp32 run: the pair sees the same machine
                    t0 = time.perf_counter()
                    half = embed_sequences(model16, tok, seqs, chunk_length=chunk)
                    half_round = time.perf_counter() - t0
                    half_s = min(half_s, half_round)
                    ratios.append(fast_round / half_round)
                t0 = time.perf_counter()
                slow = naive_embed(model, tok, sub, chunk)
                slow_s = min(slow_s, time.perf_counter() - t0)
            if model16 is not None:
                figures[f"bf16_{label}_seq_per_s"] = n / half_s
                figures[f"bf16_{label}_vs_fp32"] = float(np.median(ratios))
                figures[f"bf16_{label}_vs_fp32_min"] = min(ratios)
                figures[f"bf16_{label}_vs_fp32_max"] = max(ratios)
                figures[f"bf16_{label}_max_abs_diff"] = float(np.abs(half - fast).max())
                cos = (half * fast).sum(1) / (np.linalg.norm(half, axis=1) * np.linalg.norm(fast, axis=1))
                figures[f"bf16_{label}_min_cosine"] = float(cos.min())
            # Same numbers, not just faster: the naive loop is the reference.
            diff = float(np.abs(fast[: len(sub)] - slow).max())
            np.testing.assert_allclose(fast[: len(sub)], slow, rtol=1e-5, atol=1e-5)
            figures[f"embed_{label}_seq_per_s"] = n / fast_s
            figures[f"naive_{label}_seq_per_s"] = len(sub) / slow_s
            figures[f"embed_{label}_speedup"] = (n / fast_s) / (len(sub) / slow_s)
            figures[f"embed_{label}_max_abs_diff"] = diff
            tokens = len(tok(seqs[0][:chunk])["input_ids"])
            per_seq = -(-length // chunk) * encoder_flops(model.config, 1, tokens)
            figures[f"embed_{label}_gflop_per_s"] = per_seq * n / fast_s / 1e9
            figures[f"naive_{label}_gflop_per_s"] = per_seq * len(sub) / slow_s / 1e9
        if args.n_1kbp or args.n_10kbp:
            gemm = _gemm_rate(model, rows=16 * tokens) / 1e9
            figures["gemm_gflop_per_s"] = gemm
            best = max(v for k, v in figures.items() if k.startswith("embed_") and k.endswith("_gflop_per_s"))
            figures["embed_share_of_gemm"] = best / gemm
            if model16 is not None:
                figures["bf16_gemm_gflop_per_s"] = _gemm_rate(model, rows=16 * tokens,
                                                              dtype=torch.bfloat16) / 1e9
        if args.stream:
            figures.update(_stream(tmp / "model", args.stream, tmp, args.stream_length))
    print(f"processor: {cpu_model()} ({cpu_vector_isa()})")
    print(f"encoder: {args.profile} profile, {model.config.num_hidden_layers} x {model.config.hidden_size}")
    print(f"torch_threads: {torch.get_num_threads()}")
    print(f"bf16_units: {units or 'none'}" + ("" if units else
          " (no AMX or AVX-512 BF16 on this CPU: the bf16 path is not timed, and precision auto "
          "stays fp32 here)"))
    for name, value in figures.items():
        if name.endswith("_min_cosine"):
            print(f"{name}: {value:.6f}")
        elif name.endswith(("_diff", "_share_of_gemm", "_vs_fp32")):
            print(f"{name}: {value:.2g}" if not name.endswith("_vs_fp32") else f"{name}: {value:.2f}")
        else:
            print(f"{name}: {value:.1f}")
    return figures


if __name__ == "__main__":
    main()
