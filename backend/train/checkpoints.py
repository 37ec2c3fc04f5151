"""Resumable Trainer runs: the evolve rounds' fine-tuning (SFT, Step-APO) takes an hour or more
on a 2-core CPU, and a run killed mid-way used to start again at step 1. With a checkpoint
folder the Trainer saves every few steps (the LoRA adapters, the optimiser and scheduler, the
RNG states, the step and the loss log), and a run called again with the same folder, model
and data resumes from the newest whole checkpoint and ends with the weights an uninterrupted
run would have (``tests/evolve/test_sft.py``). After any run the model is handed back
without the mixed-precision wrapper the Trainer put on it (``drop_autocast``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def save_arguments(save_every: int | None) -> dict[str, Any]:
    """The Trainer arguments for a checkpoint every ``save_every`` optimiser steps, the
    newest kept (None: nothing saved)."""
    if not save_every:
        return {"save_strategy": "no"}
    return {"save_strategy": "steps", "save_steps": save_every, "save_total_limit": 1}


def last_checkpoint(folder: str | Path | None) -> str | None:
    """The newest *whole* Trainer checkpoint in ``folder`` (None: none, or no folder). The
    Trainer writes ``trainer_state.json`` last and is not atomic, so a checkpoint killed while
    being written lacks it and is passed over (the one before it is still there: the oldest
    is rotated out only after the new one is written)."""
    if folder is None or not Path(folder).is_dir():
        return None
    whole = [(int(p.name.split("-", 1)[1]), p) for p in Path(folder).glob("checkpoint-*")
             if p.name.split("-", 1)[1].isdigit() and (p / "trainer_state.json").is_file()]
    return str(max(whole)[1]) if whole else None


def train_resuming(trainer: Any, folder: str | Path | None) -> list[float]:
    """``trainer.train()``, from ``folder``'s newest whole checkpoint when there is one, and the
    model handed back with its own forward (``drop_autocast``); returns every optimiser step's
    loss, those logged before the resume too (a checkpoint restores the Trainer's log history)."""
    trainer.train(resume_from_checkpoint=last_checkpoint(folder))
    drop_autocast(trainer.model)
    return [float(entry["loss"]) for entry in trainer.state.log_history if "loss" in entry]


def drop_autocast(model: Any) -> Any:
    """``model`` without the mixed-precision wrapper the Trainer's ``accelerate`` put on its
    ``forward`` (bf16 on a GPU): otherwise the trained model keeps running every later forward
    pass under bfloat16 autocast, so the model in memory scores and generates differently from
    the same weights saved and loaded (measured on an H200: PPM values 3e-3 apart). Returns
    the same object."""
    from accelerate.utils import extract_model_from_parallel

    return extract_model_from_parallel(model, keep_fp32_wrapper=False)
