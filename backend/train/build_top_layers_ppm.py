"""Build a head PPM whose top layers are fine-tuned too: ``canopy build-ppm --top-layers N``.

Why: the frozen embedded model's states rank held-out step pairs at chance (docs/PPM.md); the
paper fine-tunes the backbone with the head. On this CPU the affordable part of that is the
top N layers, as LoRA, trained over cached states of the frozen layers below
(``ppm_top_layers.py``), then shipped as a LoRA GGUF that the llama.cpp hidden-state context
applies (``top_layers_export.py``, ``backend/reward/ppm_head.py`` version 2), so the policy
and the PPM still share one loaded model.

The steps, as ``build_ppm.py``'s: the official pairs of truth-rewarded search trees of GSM8K
*train* problems; optionally without the pairs whose two steps compute the same thing
(``pair_equivalence.py``); an 80 / 20 split *by problem* (``build_ppm.heldout``) to measure
held-out pairwise accuracy next to "prefer the longer step" on the same pairs; the same gate
(``why_not_shipped``); then the shipped PPM trained on all pairs with the same settings, and
checked through llama.cpp: the scores the search will see must order the pairs as the
trained model does.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backend.train.build_ppm import (
    PPM_LOSS,
    BuildReport,
    build_record,
    collect_pairs,
    heldout,
    problem_key,
    why_not_shipped,
)

#: at most this many pairs are scored through llama.cpp to check the exported files (held-out first)
CHECK_PAIRS = 60
#: the share of those pairs llama.cpp must order as the trained model does (its 8-bit activations
#: move a state by ~2-3%: a pair whose two values are that close may flip, no more)
MIN_AGREEMENT = 0.9


@dataclass(frozen=True)
class TopLayersSettings:
    """How the top layers are trained (the defaults are the setting docs/PPM.md measured)."""

    top_layers: int = 4
    lora_rank: int = 16
    lr: float = 5e-4
    epochs: int = 4
    batch_size: int = 4
    seed: int = 0
    threads: int = 2
    max_length: int = 768
    drop_equivalent: bool = True

    def about(self) -> dict[str, Any]:
        return {"top_layers": self.top_layers, "lora_rank": self.lora_rank, "lora_alpha": 2 * self.lora_rank,
                "lr": self.lr, "epochs": self.epochs, "batch_size": self.batch_size, "seed": self.seed,
                "max_length": self.max_length, "drop_equivalent": self.drop_equivalent, "loss": PPM_LOSS}


def _accuracy(values: Sequence[float], pairs: Sequence[Any]) -> float:
    return sum(values[p.chosen] > values[p.rejected] for p in pairs) / len(pairs)


def build_top_layers_ppm(
    tree_paths: Sequence[Path],
    out_dir: str | Path,
    *,
    engine: Any,
    settings: TopLayersSettings = TopLayersSettings(),
    states_cache: Path | None = None,
    min_heldout_pairs: int = 30,
    min_heldout_accuracy: float = 0.6,
    force: bool = False,
    command: str | None = None,
    say: Callable[[str], None] = print,
) -> BuildReport:
    """Train, gate, export and check a top-layers head PPM from the trees in ``tree_paths``;
    ValueError (nothing saved) when it does not clear the gate, unless ``force``. ``command``
    (the command line that ran this) goes into the marker and the model card."""
    import torch

    from backend.engines.embedded import resolve_model
    from backend.reward.ppm import load_backbone
    from backend.reward.ppm_head import ADAPTER_FILE, HeadPPM, backbone_of, save_head
    from backend.reward.step_scorer import MARKER
    from backend.train.ppm_card import write_card
    from backend.train.ppm_pairs import longer_step_accuracy
    from backend.train.ppm_top_layers import (
        TopLayersPPM,
        bottom_states,
        cached_values,
        fit_top_layers,
        index_pairs,
        load_states,
        states_source,
    )
    from backend.train.ppm_trainer import LoRA, PPMTrainConfig, torch_threads
    from backend.train.top_layers_export import export_top_layers

    s = settings
    report = BuildReport()
    backbone_record = backbone_of(engine)  # refuses a non-llama.cpp engine before any work
    if getattr(engine, "lora", None) is not None:
        raise ValueError("the policy engine runs a LoRA adapter: a top-layers PPM is built over a plain "
                         "GGUF (load the merged policy.gguf instead)")
    t0 = time.monotonic()
    found = collect_pairs(sorted(tree_paths))
    if not found:
        raise ValueError(f"the {len(tree_paths)} tree file(s) gave no PPM pairs: search more problems")
    report.problems = sorted({problem_key(p) for p in tree_paths})
    report.searched = len(tree_paths)
    dropped = 0
    if s.drop_equivalent:
        from backend.train.pair_equivalence import equivalent
        from backend.verify.sandbox import run_code

        kept = [(pid, p) for pid, p in found if not equivalent(p.prefix, p.chosen, p.rejected, run_code)]
        dropped = len(found) - len(kept)
        found = kept
        say(f"left out {dropped} pairs whose two steps compute the same thing")
    pairs = [p for _, p in found]
    held = [heldout(pid) for pid, _ in found]
    report.pairs, report.heldout_pairs = len(pairs), sum(held)
    report.train_pairs = report.pairs - report.heldout_pairs
    report.heldout_problems = sorted({pid for pid, _ in found if heldout(pid)})
    sources = len({pid for pid, _ in found})
    say(f"{len(pairs)} pairs from {sources} problems ({report.heldout_pairs} held out)")
    report.seconds["pairs"] = round(time.monotonic() - t0, 1)

    t1 = time.monotonic()
    backbone, tokenizer = load_backbone(engine.info.model)
    backbone.eval()
    texts, cached = index_pairs(pairs)

    def make() -> list[Any]:
        def progress(done: int, total: int) -> None:
            say(f"frozen layers: {done}/{total} texts, {time.monotonic() - t1:.0f} s")

        with torch_threads(s.threads):
            return bottom_states(backbone, tokenizer, texts, s.top_layers, max_length=s.max_length,
                                 progress=progress)

    cache = states_cache or Path(tempfile.gettempdir()) / f"canopy-ppm-states-{s.top_layers}.safetensors"
    states = load_states(cache, texts, make,
                         source=states_source(engine.info.model, s.top_layers, s.max_length))
    report.seconds["states"] = round(time.monotonic() - t1, 1)
    lora = LoRA(r=s.lora_rank, alpha=2 * s.lora_rank)
    config = PPMTrainConfig(epochs=s.epochs, lr=s.lr, batch_size=s.batch_size, seed=s.seed, lora=lora,
                            threads=s.threads, gradient_checkpointing=False)  # a few layers fit

    def train(subset: Sequence[Any], what: str) -> tuple[TopLayersPPM, list[float]]:
        torch.manual_seed(s.seed)
        model = TopLayersPPM(backbone, s.top_layers)
        t = time.monotonic()

        def progress(step: int, total: int, loss: float) -> None:
            if step % 20 == 0 or step == total:
                say(f"{what}: step {step}/{total}, loss {loss:.4f}, {time.monotonic() - t:.0f} s")

        return model, fit_top_layers(model, states, subset, config, progress=progress)

    t2 = time.monotonic()
    train_part = [c for c, h in zip(cached, held, strict=True) if not h]
    held_part = [c for c, h in zip(cached, held, strict=True) if h]
    if held_part and train_part:
        model, _ = train(train_part, "held-out check")
        values = cached_values(model, states)
        report.heldout_accuracy = round(_accuracy(values, held_part), 4)
        report.heldout_longer_step = round(
            longer_step_accuracy([p for p, h in zip(pairs, held, strict=True) if h]), 4)
        say(f"held-out pairwise accuracy {report.heldout_accuracy:.3f} ({report.heldout_pairs} pairs; "
            f"'prefer the longer step' {report.heldout_longer_step:.3f})")
        del model
    report.seconds["heldout_check"] = round(time.monotonic() - t2, 1)
    weak = why_not_shipped(report, min_heldout_pairs, min_heldout_accuracy)
    if weak and not force:
        raise ValueError(f"not saved: {weak}; pass --force to study it")

    t3 = time.monotonic()
    model, losses = train(cached, "the PPM, on all pairs")
    values = cached_values(model, states)
    report.train_accuracy = round(_accuracy(values, cached), 4)
    report.final_loss = round(float(losses[-1]), 6)
    report.seconds["train"] = round(time.monotonic() - t3, 1)

    t4 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="canopy-ppm-top-") as tmp:
        embedded = engine.info.model == resolve_model(None)  # recorded as "embedded": portable
        files = export_top_layers(model, backbone, s.lora_rank, Path(tmp) / "ppm_lora.gguf",
                                  base=None if embedded else engine.info.model)
        about = build_record(
            report,
            backbone=backbone_record,
            trained_by="canopy build-ppm --top-layers (backend/train/build_top_layers_ppm.py)",
            search={},  # each folder's own settings: every tree's first event records them
            training={**s.about(), "adapted_weights": files.adapted_weights,
                      "lora_svd_residual": files.residual},
            tree_folders=sorted({str(Path(p).parent) for p in tree_paths}),
            equivalent_pairs_left_out=dropped,
        )
        if command:
            about["command"] = command
        save_head(out_dir, files.weight, files.bias, about, adapter=files.adapter_gguf)
    report.seconds["export"] = round(time.monotonic() - t4, 1)

    # the check: the files, scored the way the search scores, order pairs as the trained model does
    t5 = time.monotonic()
    check = (held_part + train_part)[:CHECK_PAIRS]
    ppm = HeadPPM.load(out_dir, engine)
    wanted = sorted({i for p in check for i in (p.chosen, p.rejected)})
    served = dict(zip(wanted, ppm.values([texts[i] for i in wanted]).tolist(), strict=True))
    agree = sum((served[p.chosen] > served[p.rejected]) == (values[p.chosen] > values[p.rejected])
                for p in check) / len(check)
    report.seconds["llamacpp_check"] = round(time.monotonic() - t5, 1)
    say(f"llama.cpp scores order {agree:.0%} of {len(check)} pairs as the trained model does")
    if agree < MIN_AGREEMENT and not force:
        (Path(out_dir) / MARKER).unlink(missing_ok=True)  # no longer a PPM a run would load
        raise ValueError(f"not saved: llama.cpp's scores order only {agree:.0%} of {len(check)} pairs as "
                         f"the trained model does (need {MIN_AGREEMENT:.0%}); the export is wrong")
    about["llamacpp_check"] = {"pairs": len(check), "same_order_as_trained": round(agree, 4)}
    about["seconds"] = report.seconds
    save_head(out_dir, files.weight, files.bias, about, adapter=Path(out_dir) / ADAPTER_FILE)
    write_card(out_dir)
    say(f"saved the PPM and its model card to {out_dir}")
    return report
