"""Peak memory and time per training step of the policy fine-tuning ``canopy evolve`` runs.

The embedded model (Qwen2.5-Coder-0.5B-Instruct, through transformers in float32) fine-tuned
with LoRA by TRL's SFTTrainer (``backend/train/sft.py``) on real step-format examples: the
rStar search's own prompt (instructions, 2 worked examples, a gsm8k-train question) and a
worked solution in the step format as the completion. Prints the peak resident memory of the
whole process (load included) against the issue's 12 GB budget, and seconds per optimiser
step (the first step apart: it pays for allocations).

    python bench/evolve.py --steps 3 [--threads 2] [--max-length 1024] [--gradient-checkpointing] [--bf16]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BUDGET_MB = 12 * 1024


def examples(tokenizer_chat, count: int) -> list:
    from backend.evolve.sft_data import SFTExample, policy_prompt
    from backend.problems import load_problems
    from backend.search.rstar_format import load_prompt

    shots = load_prompt().examples
    out = []
    for i, problem in enumerate(load_problems("gsm8k-train", count)):
        prompt = policy_prompt(problem.question, tokenizer_chat, few_shot=2)
        out.append(SFTExample(problem.id, prompt, shots[i % len(shots)][1], "", 1.0, 1.0, 0))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--max-length", type=int, default=1024)
    parser.add_argument("--lora-rank", type=int, default=16)
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--bf16", action="store_true", help="bfloat16 autocast (float32 master weights)")
    args = parser.parse_args()

    from backend.evolve.memory import PeakRSS
    from backend.evolve.models import LocalModels
    from backend.train.ppm_trainer import LoRA
    from backend.train.sft import SFTTrainConfig, fine_tune

    with PeakRSS(every_s=0.05) as peak:
        t0 = time.monotonic()
        model, tokenizer = LocalModels(threads=args.threads).trainable(None)
        load_s = time.monotonic() - t0

        def chat(messages):
            return tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)

        data = examples(chat, args.steps)
        lengths = [len(tokenizer(e.prompt + e.completion)["input_ids"]) for e in data]
        stamps: list[float] = []
        config = SFTTrainConfig(
            max_steps=args.steps, grad_accum=1, batch_size=1, max_length=args.max_length,
            lora=LoRA(r=args.lora_rank, alpha=2 * args.lora_rank), threads=args.threads,
            gradient_checkpointing=args.gradient_checkpointing, bf16=args.bf16 or None,
        )
        t1 = time.monotonic()
        def stamp(*_: object) -> None:
            stamps.append(time.monotonic())

        _, result = fine_tune(model, tokenizer, data, config, progress=stamp)
    steps = [b - a for a, b in zip([t1, *stamps], stamps, strict=False)]
    later = steps[1:] or steps
    print(f"model load: {load_s:.1f} s; tokens per example: {min(lengths)}-{max(lengths)} "
          f"(max_length {args.max_length}); LoRA r={args.lora_rank}; "
          f"gradient checkpointing {'on' if args.gradient_checkpointing else 'off'}; "
          f"{'bfloat16 autocast' if args.bf16 else 'float32'}")
    print(f"steps: {len(steps)}; first {steps[0]:.1f} s; later mean {sum(later) / len(later):.1f} s/step; "
          f"losses {[round(x, 3) for x in result.losses]}")
    print(f"peak RSS {peak.peak_mb:.0f} MB = {peak.peak_mb / BUDGET_MB:.2f} of the 12 GB budget "
          f"(start {peak.start_mb:.0f} MB)")


if __name__ == "__main__":
    main()
