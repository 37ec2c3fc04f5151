"""Peak memory and time per step of CPL's Step-APO on the embedded model (``canopy evolve
--algo cpl``'s stage 4): TRL's DPOTrainer with the Step-APO loss (``StepAPOTrainer``), a full
fine-tune in float32 (AdamW state for every weight) against a reference computed once.

The pairs are real in shape, not in content: the XML search's own prompt (2 demonstrations, a
gsm8k-train question, rendered with the model's chat template), a plan step as the chosen
completion and another as the rejected one, Q values +0.5 / −0.5. The losses it prints mean
nothing; it measures time and memory only.

    python bench/cpl_apo.py --steps 2 [--threads 2] [--lora-rank 16]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BUDGET_MB = 12 * 1024


class _Chat:
    """What ``policy_prefix`` needs of an engine: its chat template."""

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer

    def chat_prompt(self, messages, *, add_generation_prompt: bool = True) -> str:
        return self.tokenizer.apply_chat_template(
            list(messages), tokenize=False, add_generation_prompt=add_generation_prompt
        )


def pairs(tokenizer, count: int) -> list:
    from backend.problems import load_problems
    from backend.search.cpl import policy_prefix
    from backend.search.registry import make_config
    from backend.train.step_apo import StepPair

    cfg = make_config("cpl", step_format="xml")
    out = []
    for i, problem in enumerate(load_problems("gsm8k-train", count)):
        prompt = policy_prefix(problem.question, _Chat(tokenizer), cfg)
        chosen = "<plan>\n<step>\nPlan 1: Find how many items each part of the question gives.\n</step>"
        rejected = "<plan>\n<step>\nPlan 1: Guess the answer from the largest number.\n</step>"
        out.append(StepPair(prompt, chosen, rejected, 0.5, -0.5, False, 2 * i, 2 * i + 1))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--max-length", type=int, default=2048)
    parser.add_argument("--lora-rank", type=int, default=None, help="LoRA instead of a full fine-tune")
    args = parser.parse_args()

    from backend.evolve.memory import PeakRSS
    from backend.evolve.models import LocalModels
    from backend.train.step_apo_trainer import StepAPOConfig, train_step_apo

    with PeakRSS(every_s=0.05) as peak:
        t0 = time.monotonic()
        model, tokenizer = LocalModels(threads=args.threads).trainable(None)
        load_s = time.monotonic() - t0
        data = pairs(tokenizer, args.steps)
        lengths = [len(tokenizer(p.prompt + p.chosen)["input_ids"]) for p in data]
        stamps: list[float] = []
        config = StepAPOConfig(max_steps=args.steps, max_length=args.max_length, threads=args.threads,
                               lora_rank=args.lora_rank)
        t1 = time.monotonic()
        _, losses, _ = train_step_apo(model, tokenizer, data, config,
                                   progress=lambda *_: stamps.append(time.monotonic()))
    steps = [b - a for a, b in zip([t1, *stamps], stamps, strict=False)]
    later = steps[1:] or steps
    how = f"LoRA r={args.lora_rank}" if args.lora_rank else "full fine-tune"
    print(f"model load: {load_s:.1f} s; tokens per pair (prompt + chosen): {min(lengths)}-{max(lengths)}; "
          f"{how}, float32, "
          f"reference precomputed once")
    print(f"steps: {len(steps)}; first {steps[0]:.1f} s (reference log-probs included); "
          f"later mean {sum(later) / len(later):.1f} s/step; losses {[round(x, 3) for x in losses]}")
    print(f"peak RSS {peak.peak_mb:.0f} MB = {peak.peak_mb / BUDGET_MB:.2f} of the 12 GB budget "
          f"(start {peak.start_mb:.0f} MB)")


if __name__ == "__main__":
    main()
