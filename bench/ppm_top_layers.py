"""Does a PPM with a fine-tuned top of the backbone rank held-out steps better than step length?

The frozen embedded model's states rank held-out pairs no better than "prefer the longer step"
(docs/PPM.md). The paper fine-tunes the backbone. This bench trains the top N decoder layers
(LoRA, or all their weights with ``--lora-rank 0``) plus the value head with the official loss,
over cached states of the frozen layers below (``backend/train/ppm_top_layers.py``: the same
scores as the whole model, several times cheaper a step on a CPU), on the pairs of the
committed truth-mode searches of GSM8K *train* problems, and measures held-out pairwise
accuracy by k-fold cross-validation *by problem* (no problem's pairs on both sides; every
pair is held out once), next to "prefer the longer step" on the same pairs.

    python -m bench.ppm_top_layers --top-layers 4 --folds 5 --epochs 2 --lr 1e-4
    python -m bench.ppm_top_layers --top-layers 2 --lora-rank 0 --lr 7e-6   # the paper's full fine-tune
    python -m bench.ppm_top_layers --drop-equivalent   # without pairs of two equal computations
    python -m bench.ppm_top_layers --backbone runs/evo-300/round-1/policy \
        --sft runs/evo-300/round-1/sft.jsonl          # on round 1's policy, as the paper starts its PPM
    python -m bench.ppm_top_layers --top-layers 24 --gradient-checkpointing   # the whole backbone (LoRA)
    python -m bench.ppm_top_layers --reference-pairs runs/reference-pairs.jsonl   # more training pairs,
        # labelled by the worked solutions (bench/reference_pairs.py); held out: the Q pairs as ever,
        # and a second measure, the held-out fold's own reference pairs (never trained on)
    python -m bench.ppm_top_layers --reference-pairs runs/reference-pairs.jsonl --reference-measure-only
        # the control: trained on the Q pairs alone, measured on both

Nothing is saved but the cached states (``--states``, reused by later runs with the same
texts and split): it answers a question, it does not ship a PPM.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: every committed truth-mode search of GSM8K train: the base model's (ppm-data, evolve-300 round 1)
#: and round 1's policy's (300-399, and evolve-300 round 2 on 0-299); a PPM scores step texts,
#: whichever policy wrote them
TREES = [
    ROOT / "assets" / "ppm-data" / "trees",
    ROOT / "assets" / "evolve-300" / "round-1" / "trees",
    ROOT / "assets" / "evolve-300" / "round-1-policy-searches" / "trees",
    ROOT / "assets" / "evolve-300" / "round-2" / "trees",
]


def fold_of(problem_id: str, folds: int) -> int:
    """A problem's fold: a hash of its id (independent of which trees a run reads)."""
    return int.from_bytes(hashlib.sha256(problem_id.encode()).digest()[4:8], "big") % folds


def longer(pairs) -> float:
    """The baseline: prefer the longer step (ties count half)."""
    from backend.train.ppm_pairs import longer_step_accuracy

    return longer_step_accuracy(pairs)


def clustered_se(hits: list[float], clusters: list[str]) -> float:
    """The standard error of a mean of 0/1 outcomes whose clusters (a problem's pairs) are correlated."""
    n = len(hits)
    mean = sum(hits) / n
    residual: dict[str, float] = {}
    for h, c in zip(hits, clusters, strict=True):
        residual[c] = residual.get(c, 0.0) + h - mean
    return math.sqrt(sum(r * r for r in residual.values())) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top-layers", type=int, default=4)
    parser.add_argument("--lora-rank", type=int, default=16, help="0: train the top layers' weights in full")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--max-length", type=int, default=768)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--only-folds", type=int, nargs="*", default=None, help="run these folds only")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--trees", type=Path, nargs="*", default=TREES)
    parser.add_argument("--drop-equivalent", action="store_true",
                        help="leave out pairs whose two steps compute the same thing (run in the sandbox; "
                             "backend/train/pair_equivalence.py), in training and held out")
    parser.add_argument("--backbone", default=None,
                        help="the model under the PPM: a .gguf, an HF folder (a merged evolve policy: "
                             "RUN/round-1/policy) or id; default the embedded model")
    parser.add_argument("--sft", type=Path, nargs="*", default=[],
                        help="SFT data the backbone was fine-tuned on (RUN/round-1/sft.jsonl): those "
                             "problems' pairs train but are never held out (their right steps are "
                             "text the backbone has seen)")
    parser.add_argument("--gradient-checkpointing", action="store_true",
                        help="recompute the trained layers' activations in the backward pass: needed "
                             "for many layers (all 24: an estimated 10 GB of activations at batch 4 without)")
    parser.add_argument("--reference-pairs", type=Path, default=None,
                        help="also train on these pairs labelled by the reference solutions "
                             "(bench/reference_pairs.py): only those of problems outside the held-out "
                             "fold; the held-out pairs stay the official Q pairs")
    parser.add_argument("--reference-measure-only", action="store_true",
                        help="with --reference-pairs: train on the Q pairs alone and use the reference "
                             "pairs only to measure (the control: does training on them help their measure?)")
    parser.add_argument("--states", type=Path, default=None,
                        help="cache file of the frozen layers' states "
                             "(default: /tmp/canopy-ppm-states-N.safetensors)")
    args = parser.parse_args()

    import torch

    from backend.reward.ppm import load_backbone
    from backend.train.build_ppm import collect_pairs
    from backend.train.ppm_top_layers import (
        TopLayersPPM,
        bottom_states,
        cached_values,
        fit_top_layers,
        index_pairs,
        load_states,
        states_source,
    )
    from backend.train.ppm_trainer import LoRA, PPMTrainConfig

    torch.set_num_threads(args.threads)
    found = collect_pairs(sorted(f for folder in args.trees for f in folder.glob("*.jsonl.gz")))
    problems = sorted({pid for pid, _ in found})
    used = [True] * len(found)  # the cache holds every pair's texts: a filter only skips pairs
    if args.drop_equivalent:
        from backend.train.pair_equivalence import equivalent
        from backend.verify.sandbox import run_code

        used = [not equivalent(p.prefix, p.chosen, p.rejected, run_code) for _, p in found]
        print(f"left out {used.count(False)} pairs whose steps compute the same thing")
    official = len(found)
    if args.reference_pairs:
        from backend.train.ppm_pairs import PPMPair

        rows = [json.loads(line) for line in args.reference_pairs.read_text().splitlines() if line.strip()]
        found += [(row.pop("problem"), PPMPair(**row)) for row in rows]
        used += [True] * len(rows)
        print(f"{len(rows)} reference-labelled pairs of "
              f"{len({pid for pid, _ in found[official:]})} problems: trained on outside the held-out fold")
    #: only the official Q pairs are ever held out: they are the measure, whatever trains
    measured = [i < official for i in range(len(found))]
    pairs = [p for _, p in found]
    texts, cached = index_pairs(pairs)
    folds = [fold_of(pid, args.folds) for pid, _ in found]
    seen = {json.loads(line)["problem_id"].replace("/", "_")
            for path in args.sft for line in path.read_text().splitlines() if line.strip()}
    holdable = [pid.replace("/", "_") not in seen for pid, _ in found]
    if args.sft:
        print(f"{holdable[:official].count(False)} Q pairs of {len(seen)} problems in the backbone's "
              "SFT data: trained on, never held out")
    #: pairs of problems outside the backbone's SFT data: the held-out fold's reference pairs among
    #: them are a second, larger measure (never trained on either)
    unseen = holdable
    holdable = [h and m for h, m in zip(holdable, measured, strict=True)]
    sizes = [sum(u and h for f, u, h in zip(folds, used, holdable, strict=True) if f == k)
             for k in range(args.folds)]
    print(f"{sum(used[:official])} Q pairs from {len(problems)} problems, {len(texts)} distinct texts; "
          f"{args.folds} folds of {sizes} pairs")

    from backend.engines.embedded import resolve_model

    model_path = resolve_model(args.backbone)
    print(f"backbone: {model_path}")
    backbone, tokenizer = load_backbone(model_path)
    backbone.eval()
    t0 = time.monotonic()
    states_path = args.states or Path(f"/tmp/canopy-ppm-states-{args.top_layers}.safetensors")

    def make():
        def progress(done: int, total: int) -> None:
            print(f"  frozen layers: {done}/{total} texts  {time.monotonic() - t0:.0f} s", flush=True)

        return bottom_states(backbone, tokenizer, texts, args.top_layers, max_length=args.max_length,
                             progress=progress)

    states = load_states(states_path, texts, make,
                         source=states_source(model_path, args.top_layers, args.max_length))
    tokens = sum(s.shape[0] for s in states)
    print(f"states: {len(states)} texts, {tokens} tokens ({time.monotonic() - t0:.0f} s)")

    lora = LoRA(r=args.lora_rank, alpha=2 * args.lora_rank) if args.lora_rank > 0 else None
    config = PPMTrainConfig(epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, seed=args.seed,
                            lora=lora, threads=args.threads,
                            # a few layers fit without (as measured in docs/PPM.md)
                            gradient_checkpointing=args.gradient_checkpointing)
    right = {"ppm": 0.0, "longer": 0.0, "train": 0.0}
    counted = trained = 0
    for k in args.only_folds if args.only_folds is not None else range(args.folds):
        rows = list(zip(folds, used, holdable, strict=True))
        train = [c for c, (f, u, h), m in zip(cached, rows, measured, strict=True)
                 if u and (f != k or (not h and m)) and (m or not args.reference_measure_only)]
        held = [i for i, (f, u, h) in enumerate(rows) if f == k and u and h]
        held_reference = [i for i, (f, m, n) in enumerate(zip(folds, measured, unseen, strict=True))
                          if f == k and n and not m]
        if not held:
            continue
        torch.manual_seed(args.seed)
        model = TopLayersPPM(backbone, args.top_layers)
        t1 = time.monotonic()

        def progress(step: int, total: int, loss: float, t1=t1) -> None:
            if step % 20 == 0 or step == total:
                print(f"  step {step}/{total}  loss {loss:.4f}  {time.monotonic() - t1:.0f} s", flush=True)

        losses = fit_top_layers(model, states, train, config, progress=progress)
        values = cached_values(model, states)
        hits = sum(values[cached[i].chosen] > values[cached[i].rejected] for i in held)
        fit_hits = sum(values[c.chosen] > values[c.rejected] for c in train)
        base = longer([pairs[i] for i in held]) * len(held)
        if held_reference:
            wins = [float(values[cached[i].chosen] > values[cached[i].rejected]) for i in held_reference]
            ref_hits = int(sum(wins))
            ref_base = longer([pairs[i] for i in held_reference])
            by_problem = [found[i][0] for i in held_reference]
            se_ref = clustered_se(wins, by_problem)
            print(f"fold {k}: held-out reference pairs {ref_hits}/{len(held_reference)} = "
                  f"{ref_hits / len(held_reference):.3f} (longer {ref_base:.3f}) from "
                  f"{len(set(by_problem))} problems; one SE ±{se_ref:.3f} "
                  "counting a problem's pairs as one cluster", flush=True)
        right["ppm"] += hits
        right["longer"] += base
        right["train"] += fit_hits
        counted += len(held)
        trained += len(train)
        print(f"fold {k}: held-out {hits}/{len(held)} = {hits / len(held):.3f} "
              f"(longer {base / len(held):.3f}); "
              f"train {fit_hits / len(train):.3f}; loss {losses[0]:.3f} -> {losses[-1]:.3f}; "
              f"{len(losses)} steps in {time.monotonic() - t1:.0f} s", flush=True)
    se = 0.5 / math.sqrt(max(counted, 1))
    print(f"held-out pairwise accuracy: PPM {right['ppm'] / counted:.3f}, prefer-longer "
          f"{right['longer'] / counted:.3f} over {counted} pairs (one SE ±{se:.3f}); "
          f"train fit {right['train'] / trained:.3f}")


if __name__ == "__main__":
    main()
