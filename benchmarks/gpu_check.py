"""A prepared GPU check: the gpu profile's pretraining, contrastive training and embedding, measured.

On one GPU (sized for an H200: set-up, about 400 pretraining and 300
contrastive steps and the embedding pass in well under 8 minutes) it runs

1. a simulated community (the data; seconds);
2. ``dnalib.pretrain`` with the gpu profile's settings (bf16 autocast, fused
   AdamW) for ``--pretrain-steps`` steps;
3. ``dnalib.finetune`` from that MLM with the gpu profile's settings
   (``--contrastive-steps`` of weighted SimCLR, then as many of MI-Mix);
4. ``dnalib.embed.embed_sequences`` of ``--embed-sequences`` fragments with
   the fine-tuned encoder;

and records, per stage, steps/s, tokens/s, achieved model FLOP/s and MFU
(achieved / ``--peak-tflops``, 790 TFLOP/s bf16 dense by default), and the
peak GPU memory (``torch.cuda.max_memory_allocated``), plus the embedding
throughput, with commit, hardware and command, to ``--out`` (in ``results/``).
The first ``--skip`` steps of each stage are not timed.

FLOPs: pretraining counts the matrix products of the model
(:func:`dnalib.models.train_flops_per_step`); a contrastive step is estimated
as 6 x parameters x tokens (forward 2, backward 4 per parameter and token; the
encoder's parameters without the embedding tables, the projection head's;
attention scores not counted), tokens being every chunk of both views of
every pair.

On a machine without a GPU it runs on the CPU; ``--profile smoke`` is the
quick version a test runs (seconds).

    python benchmarks/gpu_check.py --out results/gpu_check_h200.json
    python benchmarks/gpu_check.py --profile smoke --out /tmp/gpu_check.json
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

#: Steps, untimed steps and embedded fragments per profile (see the module docstring).
DEFAULTS = {
    "gpu": dict(pretrain_steps=400, contrastive_steps=150, skip=10, embed_sequences=4000,
                n_genera=6, species_per_genus=4, genome_length=150_000),
    "cpu": dict(pretrain_steps=20, contrastive_steps=6, skip=2, embed_sequences=64,
                n_genera=3, species_per_genus=3, genome_length=40_000),
    "smoke": dict(pretrain_steps=6, contrastive_steps=3, skip=1, embed_sequences=16,
                  n_genera=3, species_per_genus=3, genome_length=20_000),
}


def _peak_memory(device: torch.device) -> int | None:
    return int(torch.cuda.max_memory_allocated(device)) if device.type == "cuda" else None


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def pretrain_stage(seqs: list[str], out: Path, profile: str, steps: int, skip: int,
                   device: torch.device, peak: float) -> dict:
    """Pretrain; throughput of the steps after *skip*."""
    from dnalib.pretrain import pretrain, pretrain_config
    from dnalib.training import PRETRAIN_INFO_FILE

    cfg = pretrain_config(profile, max_steps=steps, checkpoint_every=0, eval_every=0,
                          warmup_steps=min(pretrain_config(profile).warmup_steps, steps // 4 or 1))
    _reset_peak(device)
    t = time.perf_counter()
    res = pretrain(seqs, out, cfg, progress=False, device=str(device))
    wall = time.perf_counter() - t
    tokens_per_step = cfg.batch_size * cfg.tokens_per_fragment
    timed = res["history"][skip:]
    seconds = sum(tokens_per_step / r["tokens_per_s"] for r in timed)
    flops = sum(r["flops_per_s"] * tokens_per_step / r["tokens_per_s"] for r in timed)
    return {"steps": steps, "timed_steps": len(timed), "wall_seconds": wall,
            "batch_size": cfg.batch_size, "tokens_per_step": tokens_per_step,
            "steps_per_s": len(timed) / seconds, "tokens_per_s": len(timed) * tokens_per_step / seconds,
            "flops_per_s": flops / seconds, "mfu": flops / seconds / peak,
            "peak_memory_bytes": _peak_memory(device), "final_loss": res["history"][-1]["loss"],
            "bf16": _info(out, PRETRAIN_INFO_FILE)["bf16"]}


def _info(out: Path, name: str) -> dict:
    import json

    return json.loads((out / name).read_text())


def contrastive_stage(groups: list[list[str]], init: Path, out: Path, profile: str, steps: int,
                      skip: int, device: torch.device, peak: float) -> dict:
    """SimCLR then MI-Mix, *steps* each; throughput per phase of the steps after *skip*."""
    from dnalib.contrastive import finetune, finetune_config
    from dnalib.models import load_encoder
    from dnalib.tokenizers import encode_batch
    from dnalib.training import FINETUNE_INFO_FILE

    cfg = finetune_config(profile, phase_steps=(steps, steps), checkpoint_every=0,
                          warmup_steps=min(finetune_config(profile).warmup_steps, steps))
    _reset_peak(device)
    t = time.perf_counter()
    res = finetune(groups, out, init, cfg, progress=False, device=str(device))
    wall = time.perf_counter() - t
    info = _info(out, FINETUNE_INFO_FILE)
    chunk = info["chunk_length_used"]
    encoder, tok = load_encoder(out)
    tokens_per_chunk = encode_batch(tok, ["A" * chunk])[0].shape[1]
    tokens_per_step = cfg.batch_pairs * 2 * (cfg.fragment_length // chunk) * tokens_per_chunk
    tables = {id(p) for name, p in encoder.named_parameters() if "embeddings" in name}
    params = sum(p.numel() for p in encoder.parameters() if id(p) not in tables)
    params += encoder.config.hidden_size * (encoder.config.hidden_size + cfg.proj_dim)  # the head
    flops_per_step = 6 * params * tokens_per_step
    phases = {}
    for phase in cfg.curriculum:
        timed = [r["seconds"] for r in res["history"] if r["phase"] == phase][skip:]
        seconds = sum(timed)
        phases[phase] = {"timed_steps": len(timed), "steps_per_s": len(timed) / seconds,
                         "tokens_per_s": len(timed) * tokens_per_step / seconds,
                         "flops_per_s": len(timed) * flops_per_step / seconds,
                         "mfu": len(timed) * flops_per_step / seconds / peak}
    return {"steps_per_phase": steps, "wall_seconds": wall, "batch_pairs": cfg.batch_pairs,
            "fragment_length": cfg.fragment_length, "chunk_length": chunk,
            "tokens_per_step": tokens_per_step, "parameters_counted": params,
            "flops_per_step": flops_per_step, "phases": phases,
            "peak_memory_bytes": _peak_memory(device), "final_loss": res["history"][-1]["loss"],
            "bf16": info["bf16"]}


def embed_stage(model_dir: Path, fragments: list[str], device: torch.device) -> dict:
    """Embedding throughput of the fine-tuned encoder (after one untimed warm-up batch)."""
    from dnalib.inference import embed_sequences
    from dnalib.models import load_encoder

    encoder, tok = load_encoder(model_dir)
    encoder.to(device).eval()
    embed_sequences(encoder, tok, fragments[:8], device=str(device))
    _reset_peak(device)
    t = time.perf_counter()
    emb = embed_sequences(encoder, tok, fragments, device=str(device), batch_size=256)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - t
    assert emb.shape[0] == len(fragments) and np.isfinite(emb).all()
    bases = sum(len(f) for f in fragments)
    return {"sequences": len(fragments), "bases": bases, "seconds": seconds,
            "sequences_per_s": len(fragments) / seconds, "bases_per_s": bases / seconds,
            "peak_memory_bytes": _peak_memory(device)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="gpu", choices=sorted(DEFAULTS))
    parser.add_argument("--pretrain-steps", type=int, default=None)
    parser.add_argument("--contrastive-steps", type=int, default=None, help="steps of each phase")
    parser.add_argument("--skip", type=int, default=None, help="untimed steps at the start of each stage")
    parser.add_argument("--embed-sequences", type=int, default=None)
    parser.add_argument("--peak-tflops", type=float, default=790.0,
                        help="the GPU's dense bf16 peak, TFLOP/s (MFU's denominator)")
    parser.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    parser.add_argument("--out", required=True, help="record (JSON) to write")
    args = parser.parse_args(argv)
    d = {k: v if getattr(args, k, None) is None else getattr(args, k)
         for k, v in DEFAULTS[args.profile].items()}

    from dnalib import records
    from dnalib.contrastive import finetune_config
    from dnalib.pairs import genome_groups
    from dnalib.sequences import sample_fragments
    from dnalib.simulate import simulate_community

    t_start = time.perf_counter()
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    peak = args.peak_tflops * 1e12
    community = simulate_community(0, n_genera=d["n_genera"], species_per_genus=d["species_per_genus"],
                                   genome_length=d["genome_length"])
    train = {g: community.genomes[g] for g in community.train_ids}
    seqs = [c for contigs in train.values() for c in contigs]
    record: dict = {"benchmark": "gpu check", "profile": args.profile, "device": str(device),
                    "peak_tflops": args.peak_tflops, "settings": d,
                    "setup_seconds": time.perf_counter() - t_start}
    print(f"data: {len(train)} training genomes, {sum(map(len, seqs)):,} bp "
          f"({record['setup_seconds']:.1f} s)", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        record["pretrain"] = pretrain_stage(seqs, work / "mlm", args.profile, d["pretrain_steps"],
                                            d["skip"], device, peak)
        p = record["pretrain"]
        print(f"pretrain: {p['steps_per_s']:.2f} steps/s, {p['tokens_per_s']:,.0f} tokens/s, "
              f"MFU {p['mfu']:.1%}, peak memory {p['peak_memory_bytes']}", flush=True)
        record["contrastive"] = contrastive_stage(genome_groups(train), work / "mlm", work / "ft",
                                                  args.profile, d["contrastive_steps"], d["skip"],
                                                  device, peak)
        c = record["contrastive"]
        for phase, r in c["phases"].items():
            print(f"contrastive {phase}: {r['steps_per_s']:.2f} steps/s, {r['tokens_per_s']:,.0f} "
                  f"tokens/s, MFU {r['mfu']:.1%}", flush=True)
        print(f"contrastive peak memory {c['peak_memory_bytes']}", flush=True)
        length = finetune_config(args.profile).fragment_length
        rng = np.random.default_rng(0)
        fragments = [sample_fragments(community.genomes[g], length, 1, seed=rng)[0]
                     for g in rng.choice(community.ids, size=d["embed_sequences"])]
        record["embed"] = embed_stage(work / "ft", fragments, device)
        e = record["embed"]
        print(f"embed: {e['sequences_per_s']:,.1f} sequences/s, {e['bases_per_s']:,.0f} bp/s", flush=True)
    record.update({"seconds": time.perf_counter() - t_start,
                   "command": "python " + " ".join(shlex.quote(a) for a in
                                                   ["benchmarks/gpu_check.py", *(argv or sys.argv[1:])]),
                   "commit": records.commit(), "hardware": records.hardware(),
                   "torch_version": torch.__version__,
                   "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    records.write(args.out, record)
    print(f"total {record['seconds']:.0f} s; record: {args.out}")
    return record


if __name__ == "__main__":
    main()
