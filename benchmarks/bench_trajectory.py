"""Clustering along one contrastive run, checkpoint by checkpoint: SimCLR alone and the curriculum.

The ablation (``bench_contrastive.py``) scores each run once, at its end, on
the default community's 16 evaluation species. This benchmark asks how much
of a difference between two such scores is noise. For one seed it pretrains
the MLM exactly as the ablation does, trains the curriculum and SimCLR alone
(same steps, same learning-rate schedule; with one seed SimCLR's first phase
*is* the curriculum's phase 1, so SimCLR is scored only after it), keeps a
checkpoint every ``--every`` steps, and scores every checkpoint on

* ``eval``: clustering ARI on the book's 16 evaluation species (5 kbp
  fragments, 15 per species, KMeans over 5 seeds; the ablation's protocol);
* ``other``: the same on 16 *other* species never seen in training: the
  evaluation species of the training community's extra genera (not the
  book's, never trained on);
* ``heldout_loss``: the unmixed weighted-SimCLR loss of fixed positive pairs
  from those other species (DNABERT-S's validation loss; eval mode).

Prints one line per checkpoint and writes them, with the command, commit,
hardware and date, to ``--out``::

    python benchmarks/bench_trajectory.py --profile cpu --seed 2 \\
        --out results/contrastive_trajectory_cpu.json

On 2 AVX-512 cores about 25 minutes; on 2 older AVX2 cores about 70.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from dnalib import records
from dnalib.simulate import training_community
from dnalib.tokenizers import encode_batch


def heldout_pairs(groups, cfg, n_pairs: int, seed: int = 10_000) -> list[tuple[list[str], list[str]]]:
    """Fixed validation batches of *cfg*'s size: positive pairs of *groups*, drawn once."""
    from dnalib.pairs import PairSampler

    sampler = PairSampler(groups, cfg.fragment_length, seed=seed, sample_by=cfg.sample_by,
                          reverse_complement=cfg.reverse_complement)
    return [sampler.batch(i, cfg.batch_pairs) for i in range(max(1, n_pairs // cfg.batch_pairs))]


def heldout_loss(encoder, tok, path: Path, batches, cfg) -> float:
    """Mean unmixed weighted-SimCLR loss on *batches* of *encoder* with the head saved in *path*."""
    import torch
    from safetensors.torch import load_file

    from dnalib import contrastive as C

    head = C.ProjectionHead(encoder.config.hidden_size, cfg.proj_dim)
    head.load_state_dict(load_file(path / C.HEAD_FILE))
    chunk = cfg.chunk_length or cfg.fragment_length
    objective = C.ContrastiveObjective(encoder, head, tok, cfg.temperature,
                                       chunks=cfg.fragment_length // chunk).eval()
    losses = []
    with torch.no_grad():
        for view1, view2 in batches:
            ids1, att1 = encode_batch(tok, C.split_views(view1, chunk))
            ids2, att2 = encode_batch(tok, C.split_views(view2, chunk))
            losses.append(float(objective(*(torch.from_numpy(a) for a in (ids1, att1, ids2, att2)))))
    return float(np.mean(losses))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--every", type=int, default=15, help="steps between scored checkpoints")
    parser.add_argument("--heldout-pairs", type=int, default=48)
    parser.add_argument("--other-species", type=int, default=16)
    parser.add_argument("--training-genera", type=int, default=None,
                        help="genera of the training community (default: the book's 40; fewer "
                             "only for quick checks of the benchmark itself; at least 9)")
    parser.add_argument("--fragments-per-species", type=int, default=None)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)

    from transformers.utils import logging as hf_logging

    from dnalib import contrastive as C
    from dnalib import evaluate, inference, simulate
    from dnalib import pretrain as P
    from dnalib.models import load_encoder
    from dnalib.pairs import genome_groups

    hf_logging.set_verbosity_error()
    n_genera = args.training_genera or simulate.TRAINING_GENERA
    per_species = args.fragments_per_species or simulate.EVAL_FRAGMENTS_PER_GENOME
    community, trained_on = simulate.default_community(), training_community(n_genera)
    train = {g: trained_on.genomes[g] for g in trained_on.train_ids}
    book_eval = set(community.eval_ids)
    other = [g for g in trained_on.eval_ids if g not in book_eval][:args.other_species]
    if len(other) < 2:
        raise SystemExit(f"{n_genera} training genera hold {len(other)} other unseen species: "
                         "use at least 9 genera")
    sets = {"eval": community.fragments(n_per_genome=per_species),
            "other": trained_on.fragments(other, n_per_genome=per_species, seed=1)}
    base = C.finetune_config(args.profile, seed=args.seed, checkpoint_every=args.every,
                             keep_checkpoints=10**6)
    batches = heldout_pairs(genome_groups({g: trained_on.genomes[g] for g in other}), base,
                            args.heldout_pairs)
    commit, started = records.commit(), time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    command = (" ".join([Path(sys.executable).name, *sys.argv]) if argv is None
               else "bench_trajectory.py " + " ".join(argv))
    hardware = records.hardware()
    rows: list[dict] = []

    def write() -> None:
        if args.out:
            record = {"benchmark": "clustering along one contrastive run, checkpoint by checkpoint",
                      "command": command, "commit": commit, "date": started, "hardware": hardware,
                      "profile": args.profile, "seed": args.seed, "every": args.every,
                      "training_genera": n_genera, "other_species": other,
                      "heldout_pairs": len(batches) * base.batch_pairs,
                      "fragments_per_species": per_species, "rows": rows,
                      "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            records.write(args.out, record)

    with tempfile.TemporaryDirectory() as tmp:
        mlm = Path(tmp) / "mlm"
        P.pretrain([c for v in train.values() for c in v], mlm,
                   P.pretrain_config(args.profile, seed=args.seed, checkpoint_every=0, eval_every=0),
                   progress=False)
        groups = genome_groups(train)
        runs = {"curriculum": base,
                "SimCLR": dataclasses.replace(base, curriculum=("simclr",), phase_steps=(base.max_steps,))}
        for run, cfg in runs.items():
            out = Path(tmp) / run
            C.finetune(groups, out, mlm, cfg, progress=False)
            for ckpt in sorted((out / P.CHECKPOINT_DIR).glob("step-*")):
                step = int(ckpt.name.split("-")[1])
                if run == "SimCLR" and step <= base.phase_steps[0]:
                    continue  # the curriculum's phase 1, scored already
                model, tok = load_encoder(ckpt)
                row = {"run": run, "step": step, "phase": cfg.phase_at(step - 1)[0]}
                for name, (frags, table) in sets.items():
                    emb = inference.embed_sequences(model, tok, frags)
                    row[f"{name}_ari"] = evaluate.clustering_scores(emb, table["species"].to_numpy())["ari"]
                row["heldout_loss"] = heldout_loss(model, tok, ckpt, batches, cfg)
                rows.append(row)
                print(f"{run:>10} step {step:4d} ({row['phase']}): eval ARI {row['eval_ari']:.3f}  "
                      f"other ARI {row['other_ari']:.3f}  held-out loss {row['heldout_loss']:.3f}",
                      flush=True)
                write()
    write()
    if args.out:
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
