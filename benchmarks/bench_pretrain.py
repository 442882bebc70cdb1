"""Pretraining throughput: dnalib.pretrain against a plain Hugging Face Trainer.

Same model (the profile's RoBERTa k-mer config), same fragments, same batch,
same number of steps, in the same run:

- baseline: ``transformers.Trainer`` with ``DataCollatorForLanguageModeling``
  (15% random token masking, logits for every position, fp32);
- dnalib: :func:`dnalib.pretrain.pretrain` (span masking, logits only for the
  masked positions, bf16 autocast where the CPU supports it).

Also measures a dense fp32 matrix product (2048 x 2048) to express the
achieved model FLOP/s as a fraction of what the machine's matmul reaches.
Prints one ``name: value`` line per figure.

    python benchmarks/bench_pretrain.py [--profile cpu] [--steps 20]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import torch

from dnalib.tokenizers import encode_batch


def matmul_flops(n: int = 2048, repeats: int = 10, dtype: torch.dtype = torch.float32) -> float:
    """FLOP/s of a dense n x n matrix product (best of *repeats*)."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--skip", type=int, default=3, help="warm-up steps not timed")
    args = parser.parse_args()

    from transformers import (
        DataCollatorForLanguageModeling,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )
    from transformers.utils import logging as hf_logging

    from dnalib import pretrain as P
    from dnalib.models import model_config, new_mlm_model, train_flops_per_step
    from dnalib.simulate import default_community

    hf_logging.set_verbosity_error()
    torch.set_num_threads(os.cpu_count() or 1)
    community = default_community()
    seqs = [c for g in community.train_ids for c in community.genomes[g]]
    cfg = P.pretrain_config(args.profile, max_steps=args.steps, eval_every=0, checkpoint_every=0,
                            warmup_steps=2)
    tok = P.make_pretrain_tokenizer(cfg)
    T = cfg.tokens_per_fragment
    B = cfg.batch_size
    print(f"profile: {args.profile}")
    print(f"batch_fragments: {B}")
    print(f"tokens_per_fragment: {T}")

    fp32 = matmul_flops()
    print(f"matmul_fp32_GFLOP_per_s: {fp32 / 1e9:.1f}")

    # --- baseline: HF Trainer on the same fragments --------------------------------
    sampler = P.FragmentSampler(seqs, cfg.fragment_length, seed=cfg.seed)
    frags = [f for s in range(args.steps) for f in sampler.batch(s, B)]
    ids = encode_batch(tok, frags)[0]

    class Fragments(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return len(ids)

        def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
            return {"input_ids": torch.from_numpy(ids[i])}

    times: list[float] = []

    class Clock(TrainerCallback):
        def on_step_end(self, *a, **k):  # noqa: ANN002, ANN003
            times.append(time.perf_counter())

    model = new_mlm_model(model_config(tok, profile=args.profile, max_tokens=T), seed=cfg.seed)
    with tempfile.TemporaryDirectory() as tmp:
        targs = TrainingArguments(
            output_dir=tmp, per_device_train_batch_size=B, max_steps=args.steps,
            learning_rate=cfg.lr, warmup_steps=2, lr_scheduler_type="cosine",
            weight_decay=cfg.weight_decay, logging_strategy="no", save_strategy="no",
            report_to=[], use_cpu=not torch.cuda.is_available(), dataloader_num_workers=0,
            disable_tqdm=True, seed=cfg.seed,
        )
        collator = DataCollatorForLanguageModeling(tok, mlm=True, mlm_probability=cfg.mask_prob)
        Trainer(model=model, args=targs, train_dataset=Fragments(), data_collator=collator,
                callbacks=[Clock()]).train()
    base_dt = (times[-1] - times[args.skip - 1]) / (len(times) - args.skip)
    base_tok_s = B * T / base_dt
    masked = int(round(B * (T - 2) * cfg.mask_prob))
    base_flops = train_flops_per_step(model.config, B, T, B * T) / base_dt  # head on every token
    print(f"trainer_tokens_per_s: {base_tok_s:.0f}")
    print(f"trainer_GFLOP_per_s: {base_flops / 1e9:.1f}")

    # --- dnalib.pretrain ------------------------------------------------------------
    with tempfile.TemporaryDirectory() as tmp:
        res = P.pretrain(seqs, tmp, cfg, progress=False)
    hist = res["history"][args.skip:]
    step_s = np.array([B * T / h["tokens_per_s"] for h in hist])
    ours_tok_s = B * T / step_s.mean()
    ours_flops = np.mean([h["flops_per_s"] for h in hist])
    print(f"dnalib_tokens_per_s: {ours_tok_s:.0f}")
    print(f"dnalib_GFLOP_per_s: {ours_flops / 1e9:.1f}")
    print(f"dnalib_masked_tokens_per_step: {masked}")
    print(f"speedup: {ours_tok_s / base_tok_s:.2f}")
    print(f"dnalib_fraction_of_fp32_matmul: {ours_flops / fp32:.2f}")
    print(f"trainer_fraction_of_fp32_matmul: {base_flops / fp32:.2f}")


if __name__ == "__main__":
    main()
