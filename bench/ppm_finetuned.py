"""Does fine-tuning the backbone make a PPM rank held-out steps better than chance?

The frozen embedded model's last-token state with a linear head ranked held-out pairs at
chance (docs/PPM.md). The paper trains the backbone too. This bench trains the paper's PPM
(``backend/reward/ppm.py``: backbone + head, the official loss, through the transformers
Trainer) on the pairs of the committed training searches (``assets/ppm-data/trees``, GSM8K
*train* problems only), with LoRA on this CPU, on the same 80 / 20 split *by problem* as
``canopy build-ppm`` (``build_ppm.heldout``), and prints the pairwise accuracy on the
held-out problems' pairs before and after training, with a binomial standard error.

    python -m bench.ppm_finetuned --epochs 2 --lr 1e-4 --lora-rank 16 --threads 2
    python -m bench.ppm_finetuned --top-layers 4 --trees assets/ppm-data/trees RUN/round-1/trees
    python -m bench.ppm_finetuned --top-layers 4 --drop-equivalent   # without renamed-equal pairs
    python -m bench.ppm_finetuned --top-layers 4 --bf16   # bfloat16 autocast (AVX512-BF16 / AMX CPUs)

Nothing is saved: it answers a question, it does not ship a PPM.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TREES = ROOT / "assets" / "ppm-data" / "trees"


def accuracy(model, tokenizer, pairs) -> float:
    """Share of pairs whose chosen text the PPM values above the rejected one."""
    from backend.reward.ppm import head_values

    chosen = head_values(model, tokenizer, [p.prefix + p.chosen for p in pairs])
    rejected = head_values(model, tokenizer, [p.prefix + p.rejected for p in pairs])
    return sum(c > r for c, r in zip(chosen, rejected, strict=True)) / len(pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--lora-rank", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--max-length", type=int, default=768)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--top-layers", type=int, default=None,
                        help="LoRA on the last N decoder layers only (a CPU's backward pass stops there)")
    parser.add_argument("--drop-equivalent", action="store_true",
                        help="train without the pairs whose two steps compute the same values "
                             "(bench/ppm_pair_equivalence.py); held-out accuracy is printed on all "
                             "held-out pairs and on the others alone")
    parser.add_argument("--bf16", action="store_true",
                        help="bfloat16 autocast (float32 master weights); faster on AVX512-BF16/AMX CPUs")
    parser.add_argument("--trees", type=Path, nargs="*", default=[TREES],
                        help="folders of truth-mode search trees (default: the committed ones); an "
                             "evolve round's RUN/round-N/trees adds its searches' pairs")
    args = parser.parse_args()

    import torch

    from backend.reward.ppm import ProcessPreferenceModel, load_backbone
    from backend.train.build_ppm import collect_pairs, heldout
    from backend.train.ppm_trainer import LoRA, PPMTrainConfig, fit

    torch.set_num_threads(args.threads)
    found = collect_pairs(sorted(f for folder in args.trees for f in folder.glob("*.jsonl.gz")))
    train = [p for pid, p in found if not heldout(pid)]
    held = [p for pid, p in found if heldout(pid)]
    problems = {pid for pid, _ in found}
    print(f"{len(found)} pairs from {len(problems)} problems: {len(train)} train, {len(held)} held out")
    distinct_held = held
    if args.drop_equivalent:
        from backend.verify.sandbox import run_code
        from bench.ppm_pair_equivalence import equivalent

        def distinct(pairs):
            return [p for p in pairs if not equivalent(p.prefix, p.chosen, p.rejected, run_code)]

        train, distinct_held = distinct(train), distinct(held)
        print(f"without equivalent pairs: {len(train)} train, {len(distinct_held)} held out")

    from backend.train.ppm_pairs import longer_step_accuracy

    print(f"held-out 'prefer the longer step': {longer_step_accuracy(held):.3f}")
    backbone, tokenizer = load_backbone(None)
    torch.manual_seed(args.seed)
    model = ProcessPreferenceModel(backbone)
    se = 0.5 / math.sqrt(len(held))
    print(f"held-out accuracy before training: {accuracy(model, tokenizer, held):.3f} (one SE ±{se:.3f})")

    config = PPMTrainConfig(
        epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, seed=args.seed,
        max_length=args.max_length,
        lora=LoRA(r=args.lora_rank, alpha=2 * args.lora_rank, top_layers=args.top_layers),
        threads=args.threads, bf16=args.bf16 or None,
    )
    t0 = time.monotonic()

    def progress(step: int, total: int, loss: float) -> None:
        print(f"  step {step}/{total}  loss {loss:.4f}  {time.monotonic() - t0:.0f} s", flush=True)

    losses = fit(model, tokenizer, train, config, progress=progress)
    print(f"trained {len(losses)} steps in {time.monotonic() - t0:.0f} s; last loss {losses[-1]:.4f}")
    print(f"train accuracy after:    {accuracy(model, tokenizer, train):.3f} ({len(train)} pairs)")
    after = accuracy(model, tokenizer, held)
    print(f"held-out accuracy after: {after:.3f} ({len(held)} pairs, one SE ±{se:.3f})")
    if args.drop_equivalent:
        print(f"  on the {len(distinct_held)} held-out pairs that differ: "
              f"{accuracy(model, tokenizer, distinct_held):.3f}")


if __name__ == "__main__":
    main()
