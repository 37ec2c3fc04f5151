"""Peak memory and time per step of the rStar-Math PPM stage of ``canopy evolve``, with and
without gradient checkpointing, on a real round's PPM pairs.

The stage trains the round's policy backbone plus a value head on ``ppm_pairs.jsonl`` with the
official pairwise loss (``backend/train/ppm_trainer.py: fit``, LoRA, 4 pairs a step = 8
sequences, up to 2,048 tokens each). This bench trains on the longest pairs of such a file
(the stage's peak) for ``--steps`` steps, each setting in its own process, and prints both
peaks, seconds a step and the ratios (``bench/checkpointing_ab.py``), and the process's RSS
once the model is freed, before and after ``release_freed_memory`` (what ``canopy evolve``'s
next stage starts from).

    python bench/ppm_memory.py --pairs assets/evolve-300/round-1/ppm_pairs.jsonl --steps 3 --threads 2
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import checkpointing_ab


def one(pairs_file: Path, steps: int, threads: int | None, checkpointing: bool) -> dict:
    """Train in this process; what it measured."""
    import gc

    from backend.evolve.memory import peak_rss_mb, release_freed_memory, rss_mb
    from backend.evolve.models import LocalModels
    from backend.evolve.stages import read_pairs_with_problems
    from backend.reward.ppm import ProcessPreferenceModel
    from backend.train.ppm_trainer import LoRA, PPMTrainConfig, fit

    pairs = [p for _, p in read_pairs_with_problems(pairs_file)]
    config = PPMTrainConfig(epochs=1, lora=LoRA(), threads=threads, gradient_checkpointing=checkpointing)
    longest = lambda p: max(len(p.prefix + p.chosen), len(p.prefix + p.rejected))  # noqa: E731
    pairs = sorted(pairs, key=longest, reverse=True)[: steps * config.batch_size]
    t0 = time.monotonic()
    backbone, tokenizer = LocalModels(threads=threads).trainable(None)
    load_s = time.monotonic() - t0
    lengths = [len(tokenizer(p.prefix + side)["input_ids"]) for p in pairs for side in (p.chosen, p.rejected)]
    stamps: list[float] = []
    t1 = time.monotonic()
    losses = fit(ProcessPreferenceModel(backbone), tokenizer, pairs, config,
                 progress=lambda *_: stamps.append(time.monotonic()))
    times = [b - a for a, b in zip([t1, *stamps], stamps, strict=False)]
    peak = peak_rss_mb()
    del backbone  # what the next stage of ``canopy evolve`` inherits: freed, and then released
    gc.collect()
    after, released = rss_mb(), release_freed_memory() and rss_mb()
    return {"checkpointing": checkpointing, "load_s": round(load_s, 1),
            "tokens": [min(lengths), max(lengths)], "step_s": [round(t, 1) for t in times],
            "losses": [round(x, 4) for x in losses], "peak_rss_mb": peak,
            "rss_after_mb": after, "rss_after_release_mb": released}


def main() -> None:
    pairs = Path("assets/evolve-300/round-1/ppm_pairs.jsonl")
    checkpointing_ab.main(__doc__, __file__, "--pairs", pairs, one)


if __name__ == "__main__":
    main()
