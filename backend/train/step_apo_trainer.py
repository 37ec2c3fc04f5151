"""Step-APO training through TRL's ``DPOTrainer``, with CPL's loss in place of DPO's.

CPL trains its policy with Step-APO after SFT (official ``apo/LLaMA-Factory-0.8.3``, loss type
``sigmoid_a_1.0``, ``my_scripts/policy_model_round1_apo.yaml``: β 0.3, α 1, lr 1e-6, 3 epochs):
the DPO objective on step pairs with the Q gap as a margin (``step_apo.step_apo_loss``).

:class:`StepAPOTrainer` subclasses TRL 1.x's ``DPOTrainer`` (``trl/trainer/dpo_trainer.py``):
TRL tokenises the pairs (prompt, chosen, rejected; EOS appended to both completions), pads
them, computes the sequence log-probabilities of the policy with its fused LM head, and the
frozen reference's (``precompute_ref_log_probs``: once, before training, from the model as
handed in, i.e. the SFT policy; or a ``ref_model``; with PEFT adapters, the model with the
adapters off). Only the loss is ours: ``compute_loss`` takes the batch's Q values (two extra
columns that the collator carries) and returns ``step_apo_loss(...).mean()``. TRL's own
``_compute_loss`` builds DPO's loss types and its metrics in one method with no hook for a
margin, so it is not called; the log-probabilities come from the same TRL calls it makes.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import transformers
from trl import DPOConfig, DPOTrainer
from trl.trainer.dpo_trainer import DataCollatorForPreference

from backend.train.checkpoints import save_arguments, train_resuming
from backend.train.ppm_trainer import LossProgress, torch_threads
from backend.train.step_apo import ALPHA, BETA, StepPair, step_apo_loss

_Q = ("q_chosen", "q_rejected")


@dataclass(frozen=True)
class StepAPOConfig:
    """Official defaults (β 0.3, α 1, lr 1e-6, 3 epochs); a full fine-tune against a frozen copy."""

    beta: float = BETA
    alpha: float = ALPHA
    lr: float = 1e-6
    epochs: int = 3
    batch_size: int = 1
    grad_accum: int = 1
    max_length: int = 2048  # tokens of prompt + step (the SFT's default; longer pairs keep their start)
    seed: int = 0
    max_steps: int | None = None
    threads: int | None = None
    #: None: the official full fine-tune; r: PEFT LoRA adapters (alpha 2r, every linear layer),
    #: merged afterwards; the reference is then the model with the adapters off (the same weights)
    lora_rank: int | None = None

    def about(self) -> dict[str, Any]:
        return {"trainer": "trl.DPOTrainer (StepAPOTrainer: the Step-APO loss)", **asdict(self)}


@dataclass
class QCollator(DataCollatorForPreference):
    """TRL's preference collator, plus each pair's Q values as two float tensors."""

    def torch_call(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        out = super().torch_call(examples)
        for key in _Q:
            out[key] = torch.tensor([float(e[key]) for e in examples], dtype=torch.float32)
        return out


class StepAPOTrainer(DPOTrainer):
    """``DPOTrainer`` whose loss is Step-APO's (module docstring); ``alpha`` weighs the Q gap."""

    def __init__(self, *args: Any, alpha: float = ALPHA, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.alpha = alpha

    def _set_signature_columns_if_needed(self) -> None:
        super()._set_signature_columns_if_needed()
        if self._signature_columns is not None:  # keep the Q columns for the collator
            self._signature_columns = [*self._signature_columns, *_Q]

    def compute_ref_log_probs(self, model: Any, inputs: dict[str, Any]) -> Any:
        return super().compute_ref_log_probs(model, {k: v for k, v in inputs.items() if k not in _Q})

    def sequence_logps(self, model: Any, inputs: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """Summed completion log-probs of (chosen, rejected), as TRL's own loss computes them."""
        keys = {"completion_mask", "ref_chosen_logps", "ref_rejected_logps", *_Q}
        kwargs = {k: v for k, v in inputs.items() if k not in keys}
        mask = inputs["completion_mask"]
        labels = inputs["input_ids"].masked_fill(mask == 0, -100)
        per_token = model(**kwargs, use_cache=False, labels=labels, fused_lm_head=True).log_probs
        logps = per_token[:, -(mask.size(1) - 1) :].sum(dim=1)
        return logps.chunk(2, dim=0)

    def compute_loss(
        self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None
    ) -> Any:
        chosen, rejected = self.sequence_logps(model, inputs)
        if "ref_chosen_logps" in inputs:
            ref_chosen, ref_rejected = inputs["ref_chosen_logps"], inputs["ref_rejected_logps"]
        else:
            ref_chosen, ref_rejected = self.compute_ref_log_probs(self.ref_model or self.model, inputs)
        losses = step_apo_loss(
            chosen, rejected, ref_chosen.to(chosen.device), ref_rejected.to(chosen.device),
            inputs["q_chosen"].to(chosen.device), inputs["q_rejected"].to(chosen.device),
            beta=self.beta, alpha=self.alpha, label_smoothing=self.label_smoothing,
        )
        loss = losses.mean()
        return (loss, {"losses": losses}) if return_outputs else loss


def apo_arguments(config: StepAPOConfig, output_dir: str, save_every: int | None = None) -> DPOConfig:
    """TRL's ``DPOConfig`` for Step-APO; a checkpoint every ``save_every`` steps (None: none)."""
    cuda = torch.cuda.is_available()
    return DPOConfig(
        output_dir=output_dir,
        beta=config.beta,
        learning_rate=config.lr,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps or -1,
        per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum,
        max_length=config.max_length,
        precompute_ref_log_probs=True,  # the frozen reference: the model as handed in, scored once
        seed=config.seed,
        bf16=cuda and torch.cuda.is_bf16_supported(),
        use_cpu=not cuda,
        logging_steps=1,
        **save_arguments(save_every),
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
    )


def make_trainer(model: Any, tokenizer: Any, pairs: Sequence[StepPair], config: StepAPOConfig,
                 output_dir: str, callbacks: Sequence[Any] = (),
                 save_every: int | None = None) -> StepAPOTrainer:
    """The trainer over ``pairs`` (prompt, chosen, rejected and their Q values)."""
    import datasets

    rows = [{"prompt": p.prompt, "chosen": p.chosen, "rejected": p.rejected,
             "q_chosen": p.q_chosen, "q_rejected": p.q_rejected} for p in pairs]
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if all(len(tokenizer(p.prompt)["input_ids"]) >= config.max_length for p in pairs):
        raise ValueError(f"every Step-APO prompt fills max_length={config.max_length} tokens: raise it")
    collator = QCollator(pad_token_id=tokenizer.pad_token_id, max_length=config.max_length)
    peft = None
    if config.lora_rank:
        from backend.train.ppm_trainer import LoRA
        from backend.train.sft import lora_config

        peft = lora_config(LoRA(r=config.lora_rank, alpha=2 * config.lora_rank))
    return StepAPOTrainer(
        model=model, args=apo_arguments(config, output_dir, save_every),
        train_dataset=datasets.Dataset.from_list(rows),
        processing_class=tokenizer, data_collator=collator, callbacks=list(callbacks), alpha=config.alpha,
        peft_config=peft,
    )


def pairs_within_budget(pairs: Sequence[StepPair], config: StepAPOConfig) -> list[StepPair]:
    """The pairs ``config.max_steps`` optimiser steps can reach: a seeded sample of
    ``max_steps × batch_size × grad_accum`` of them, in their order, or all when that is
    not fewer. TRL scores the frozen reference on every pair of the dataset before step 1
    (``precompute_ref_log_probs``), so a capped run over the whole set would spend most of
    its time on pairs it never trains on (measured: 108 pairs, 4 steps, 21 s a pair)."""
    pairs = list(pairs)
    if config.max_steps is None:
        return pairs
    n = config.max_steps * config.batch_size * config.grad_accum
    if n >= len(pairs):
        return pairs
    import random

    keep = sorted(random.Random(config.seed).sample(range(len(pairs)), n))
    return [pairs[i] for i in keep]


def train_step_apo(
    model: Any, tokenizer: Any, pairs: Sequence[StepPair], config: StepAPOConfig | None = None, *,
    progress: Callable[[int, int, float], None] | None = None,
    checkpoints: str | Path | None = None,
    save_every: int = 10,
) -> tuple[Any, list[float], float]:
    """Train ``model`` on ``pairs``; (the trained model, with LoRA adapters merged in; every
    optimiser step's loss; seconds). With ``config.max_steps``, only the pairs those steps
    reach are used (``pairs_within_budget``). ``checkpoints``: a folder to save to every
    ``save_every`` steps and to resume from when called again after a kill
    (``backend/train/checkpoints.py``); the caller removes it once the policy is saved."""
    if not pairs:
        raise ValueError("no Step-APO pairs to train on")
    config = config or StepAPOConfig()
    pairs = pairs_within_budget(pairs, config)
    transformers.set_seed(config.seed)
    log = LossProgress(progress)
    t0 = time.monotonic()
    with torch_threads(config.threads), contextlib.ExitStack() as stack:
        scratch = stack.enter_context(tempfile.TemporaryDirectory(prefix="canopy-apo-"))
        output_dir = str(checkpoints) if checkpoints is not None else scratch
        trainer = make_trainer(model, tokenizer, pairs, config, output_dir, [log],
                               save_every if checkpoints is not None else None)
        trainer.remove_callback(transformers.PrinterCallback)
        losses = train_resuming(trainer, checkpoints)
        trained = trainer.model.merge_and_unload() if config.lora_rank else trainer.model
    trained.eval()
    return trained, losses, round(time.monotonic() - t0, 2)
