"""Peak memory and time per step of CPL's value-head training, with and without gradient
checkpointing, on a real round's value examples.

``canopy evolve --algo cpl`` trains the value head on every answered path of the round's
plan trees (``value.jsonl``: question, plan steps, solution, each step's Q; up to 1,024
tokens, 4 paths a step). Round 2 of ``assets/cpl-r20`` (700 paths) peaked at 12.4 GB in that
stage on this CPU: over the issue's 12 GB budget. This bench trains the embedded model's head
for ``--steps`` steps on the longest paths of such a file (its peak), each setting in its own process (a
process's peak RSS is its own), and prints both peaks, seconds a step and the ratios.

    python bench/cpl_value.py --values assets/cpl-r20/round-2/value.jsonl --steps 3 --threads 2
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import checkpointing_ab


def one(values: Path, steps: int, threads: int | None, checkpointing: bool) -> dict:
    """Train in this process; what it measured."""
    from backend.evolve.memory import peak_rss_mb
    from backend.evolve.models import LocalModels
    from backend.reward.ppm import ProcessPreferenceModel
    from backend.train.ppm_trainer import LoRA, PPMTrainConfig
    from backend.train.value_head import VALUE_TRAIN, ValueExample, fit_value_head

    rows = [json.loads(line) for line in values.read_text().splitlines() if line.strip()]
    batch = PPMTrainConfig().batch_size
    rows.sort(key=lambda r: -sum(len(c) for c in r["chunks"]))  # the longest paths: the stage's peak
    examples = [ValueExample(tuple(r["chunks"]), tuple(r["qs"])) for r in rows[: steps * batch]]
    t0 = time.monotonic()
    backbone, tokenizer = LocalModels(threads=threads).trainable(None)
    load_s = time.monotonic() - t0
    lengths = [len(tokenizer("".join(e.chunks))["input_ids"]) for e in examples]
    opts = {**VALUE_TRAIN, "epochs": 1, "lora": LoRA(), "threads": threads,
            "gradient_checkpointing": checkpointing}
    stamps: list[float] = []
    t1 = time.monotonic()
    losses = fit_value_head(ProcessPreferenceModel(backbone), tokenizer, examples, PPMTrainConfig(**opts),
                            progress=lambda *_: stamps.append(time.monotonic()))
    times = [b - a for a, b in zip([t1, *stamps], stamps, strict=False)]
    return {"checkpointing": checkpointing, "load_s": round(load_s, 1),
            "tokens": [min(lengths), max(lengths)], "step_s": [round(t, 1) for t in times],
            "losses": [round(x, 4) for x in losses], "peak_rss_mb": peak_rss_mb()}


def main() -> None:
    checkpointing_ab.main(__doc__, __file__, "--values", Path("assets/cpl-r20/round-2/value.jsonl"), one)


if __name__ == "__main__":
    main()
