"""Training rStar-Math's PPM through ``transformers.Trainer``: the official ``RMTrainer`` shape.

Official code (github.com/microsoft/rStar, branch rStar-math): ``train/rm.py`` (``RMTrainer``,
a ``Trainer`` whose ``compute_loss`` is the weighted pairwise loss; ``PairwiseDataCollator``,
which stacks the chosen texts above the rejected ones) and ``train/train_RM.py`` with the
README's command: AdamW (``adamw_torch``), lr 7e-6, 2 epochs, the Trainer's linear schedule
with no warm-up and no weight decay, ``max_length`` 2048, bf16 on GPUs.

Why a ``Trainer`` subclass and not TRL's ``RewardTrainer`` (checked against TRL 1.x,
``trl/trainer/reward_trainer.py``): its ``compute_loss`` is the *mean* of
−log σ(r_c − r_r − margin), so the per-pair weight 1/(pos·neg) has no place (a margin shifts
the logit, it does not scale the term); it wants an ``AutoModelForSequenceClassification``
(``outputs.logits``, a bias-free ``score`` layer with no dropout and default init), not the
official dropout + near-zero-initialised linear head on the last hidden state; and its dataset
step appends EOS to every text, which would change what the search scores. Overriding
``compute_loss`` there would leave nothing of it, so this is what the official code does: a
plain ``Trainer`` with ``compute_loss`` overridden. The Trainer still brings the optimiser,
schedule, seeding, gradient accumulation and clipping, bf16, gradient checkpointing,
multi-GPU launch and callbacks (progress: :class:`LossProgress`).

LoRA (optional, through PEFT, the ``train`` extra): adapters on the backbone's linear layers
only; the value head sits outside the PEFT model and stays fully trained. After training the
adapters are merged, so a saved PPM is always a plain causal LM + head (what vLLM loads).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch
import transformers

from backend.reward.ppm import ProcessPreferenceModel, pad_id, pad_rows, ppm_loss, token_rows
from backend.train.checkpoints import drop_autocast


@dataclass(frozen=True)
class LoRA:
    """PEFT LoRA settings for the backbone (the head is trained in full)."""

    r: int = 16
    alpha: int = 32  # the usual 2·r
    dropout: float = 0.05
    target_modules: str | tuple[str, ...] = "all-linear"  # PEFT: every linear layer but the LM head
    #: adapters on the last N decoder layers only (None: all). On a CPU the backward pass then
    #: stops N layers below the head instead of at the embeddings (PEFT ``layers_to_transform``)
    top_layers: int | None = None

    def __post_init__(self) -> None:
        if self.r < 1 or self.alpha < 1:
            raise ValueError(f"LoRA rank and alpha must be ≥ 1, not r={self.r}, alpha={self.alpha}")
        if self.top_layers is not None and self.top_layers < 1:
            raise ValueError(f"top_layers must be ≥ 1 (or None for all), not {self.top_layers}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"LoRA dropout must be in [0, 1), not {self.dropout}")


@dataclass(frozen=True)
class PPMTrainConfig:
    """How a PPM is trained; the defaults are the official run's where it has one."""

    epochs: int = 2  # official
    lr: float = 7e-6  # official
    batch_size: int = 4  # pairs per device step (official: 16 per GPU × 8 GPUs × 4 accumulated)
    grad_accum: int = 1
    max_length: int | None = 2048  # official: longer texts keep their first 2048 tokens
    seed: int = 0
    scheduler: Literal["linear", "constant"] = "linear"  # official: the Trainer's default, linear decay
    weight_decay: float = 0.0  # official: the Trainer's default
    # official: on. Needed on this CPU too: the 0.5B's LoRA PPM peaked at 11.5 GB off, 4.8 GB
    # on, 1.3x a step (bench/ppm_memory.py; issue 20's budget is 12 GB)
    gradient_checkpointing: bool = True
    bf16: bool | None = None  # None: on a CUDA GPU that supports it (official: --bf16)
    lora: LoRA | None = None
    threads: int | None = None  # CPU torch threads; None: the cores this process may run on

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.grad_accum < 1:
            raise ValueError("epochs, batch_size and grad_accum must be ≥ 1")
        if not self.lr > 0:
            raise ValueError(f"the learning rate must be > 0, not {self.lr}")
        if self.max_length is not None and self.max_length < 2:
            raise ValueError(f"max_length must be ≥ 2 (or None), not {self.max_length}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be ≥ 1 (or None), not {self.threads}")

    def about(self) -> dict[str, Any]:
        """What the PPM's marker file records of its training."""
        return {"trainer": "transformers.Trainer (PPMTrainer)", **asdict(self)}


@dataclass
class PPMCollator:
    """``PPMPair``s -> one batch: the n chosen texts (prefix + chosen step) stacked above the n
    rejected ones, right-padded, plus each pair's weight 1/(pos·neg) (official
    ``PairwiseDataCollatorWithPadding``: "pos" rows, then "neg" rows, with the "factor")."""

    tokenizer: Any
    max_length: int | None = None

    def __call__(self, pairs: Sequence[Any]) -> dict[str, torch.Tensor]:
        texts = [p.prefix + p.chosen for p in pairs] + [p.prefix + p.rejected for p in pairs]
        ids, mask = pad_rows(token_rows(self.tokenizer, texts, self.max_length), pad_id(self.tokenizer))
        weights = torch.tensor([p.weight for p in pairs], dtype=torch.float32)
        return {"input_ids": ids, "attention_mask": mask, "weights": weights}


class PPMTrainer(transformers.Trainer):
    """``Trainer`` with the PPM's pairwise loss (official ``RMTrainer``)."""

    # compute_loss returns the batch's weighted sum, not a mean normalised over an accumulated
    # batch, so with gradient accumulation the Trainer divides it by the steps (as it did for
    # the official RMTrainer).
    loss_is_scaled_for_ga = False

    def compute_loss(
        self,
        model: torch.nn.Module,
        inputs: dict[str, torch.Tensor],
        return_outputs: bool = False,
        num_items_in_batch: Any = None,
    ) -> Any:
        # Overridden because the loss is not the model's: the model gives one value per text
        # (chosen rows first), the loss weighs each pair by 1 / (pos_count · neg_count).
        weights = inputs["weights"]
        values = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])
        chosen, rejected = values.split(len(weights))
        loss = ppm_loss(chosen, rejected, weights)
        return (loss, {"chosen": chosen, "rejected": rejected}) if return_outputs else loss


class LossProgress(transformers.TrainerCallback):
    """Keeps every step's loss and hands ``(step, steps, loss)`` to ``progress`` (the CLI's bar)."""

    def __init__(self, progress: Callable[[int, int, float], None] | None = None) -> None:
        self.progress = progress
        self.losses: list[float] = []

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any) -> None:
        if logs and "loss" in logs:  # logging_steps = 1: one entry per optimiser step
            self.losses.append(float(logs["loss"]))
            if self.progress:
                self.progress(state.global_step, state.max_steps, self.losses[-1])


class ListDataset(torch.utils.data.Dataset):
    """Items (pairs, value examples) as a Trainer's dataset, as they are: its collator makes
    each batch's tensors (the PPM's, the CPL value head's and the cached-states PPM's alike)."""

    def __init__(self, items: Sequence[Any]) -> None:
        self.items = list(items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> Any:
        return self.items[i]


def cpu_has_fast_bf16() -> bool:
    """Whether this CPU has a fast bfloat16 path (oneDNN's check: AVX-512 or AMX). Without one,
    torch emulates bfloat16 matmuls: measured 100x slower than float32 on a 2-core AVX2 EPYC."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch built without oneDNN
        return False


def use_bf16(wanted: bool | None) -> bool:
    """Whether the Trainer autocasts to bfloat16: ``wanted``, or where it is None, on a GPU
    that supports it. bf16 asked for on a device without it (a GPU without bfloat16, a CPU
    that would emulate it) is refused rather than silently run in float32 or 100x slower."""
    cuda = torch.cuda.is_available()
    supported = torch.cuda.is_bf16_supported() if cuda else cpu_has_fast_bf16()
    if wanted and not supported:
        where = "this GPU has no bfloat16" if cuda else (
            "this CPU has no fast bfloat16 (AVX-512 or AMX): emulated, a matmul runs 77-100x slower")
        raise ValueError(f"bf16 was asked for, but {where}: leave it off (--fp32)")
    if wanted is None:
        return cuda and supported
    return wanted


def training_arguments(config: PPMTrainConfig, output_dir: str) -> transformers.TrainingArguments:
    """The Trainer's settings for ``config``: every step's loss logged, nothing saved."""
    cuda = torch.cuda.is_available()
    bf16 = use_bf16(config.bf16)
    return transformers.TrainingArguments(
        output_dir=output_dir,
        num_train_epochs=config.epochs,
        learning_rate=config.lr,
        per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum,
        optim="adamw_torch",  # official (the Trainer's default is now the fused variant)
        lr_scheduler_type=config.scheduler,
        weight_decay=config.weight_decay,
        bf16=bf16,
        seed=config.seed,
        use_cpu=not cuda,
        logging_steps=1,  # every step's loss reaches LossProgress
        save_strategy="no",  # save_ppm writes the result; no Trainer checkpoints
        report_to="none",
        disable_tqdm=True,  # progress goes through LossProgress
        remove_unused_columns=False,  # the batch carries "weights", which forward() does not take
        label_names=[],
        dataloader_num_workers=0,
    )


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[int]:
    """CPU threads for the run, restored after. By default the cores this process may run on
    (``sched_getaffinity``, not ``cpu_count``: a container's share, 2 on the CI machines)."""
    if threads is None:
        threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield threads
    finally:
        torch.set_num_threads(before)


def checkpoint_activations(backbone: Any) -> None:
    """Recompute each decoder layer's activations in the backward pass (official:
    ``gradient_checkpointing`` with ``use_reentrant=False``). Done on the backbone here, not
    through ``TrainingArguments``, whose name for it changes between transformers releases."""
    enable = getattr(backbone, "activation_checkpointing_enable", None)
    if enable is not None:
        enable(activation_checkpointing_kwargs={"use_reentrant": False})
    else:
        backbone.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})


def add_lora(model: ProcessPreferenceModel, lora: LoRA, *, checkpointing: bool = False) -> None:
    """Wrap the backbone in PEFT LoRA adapters (its own weights frozen); the head stays trainable."""
    from backend._optional import require

    peft = require("peft", extra="train")
    targets = list(lora.target_modules) if isinstance(lora.target_modules, tuple) else lora.target_modules
    layers = None
    if lora.top_layers is not None:
        depth = model.backbone.config.num_hidden_layers
        layers = list(range(max(0, depth - lora.top_layers), depth))
        if targets == "all-linear":  # PEFT takes layers_to_transform with named modules only
            targets = sorted({name.rsplit(".", 1)[-1] for name, m in model.backbone.named_modules()
                              if isinstance(m, torch.nn.Linear) and "lm_head" not in name})
    settings = peft.LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=targets,
        layers_to_transform=layers,
    )
    model.backbone = peft.get_peft_model(model.backbone, settings)
    if checkpointing:
        model.backbone.enable_input_require_grads()  # checkpointed blocks need a grad-carrying input
    for p in model.v_head.parameters():
        p.requires_grad_(True)


def merge_lora(model: ProcessPreferenceModel) -> None:
    """Fold the adapters into the backbone's weights: a plain causal LM again."""
    if hasattr(model.backbone, "merge_and_unload"):
        model.backbone = model.backbone.merge_and_unload()


def fit(
    model: ProcessPreferenceModel,
    tokenizer: Any,
    pairs: Sequence[Any],
    config: PPMTrainConfig = PPMTrainConfig(),  # frozen: one shared default is safe
    *,
    progress: Callable[[int, int, float], None] | None = None,
    output_dir: str | None = None,
) -> list[float]:
    """Train ``model`` on ``PPMPair``s in place; the loss of every optimiser step.

    With ``config.lora`` the adapters are merged into the backbone afterwards. ``output_dir``
    is the Trainer's scratch directory (a temporary one by default; nothing is saved there)."""
    if not pairs:
        raise ValueError("no PPM pairs to train on")
    return train_in_place(
        model, config, PPMTrainer, ListDataset(pairs), PPMCollator(tokenizer, config.max_length),
        progress=progress, output_dir=output_dir, prefix="canopy-ppm-",
    )


def train_in_place(
    model: ProcessPreferenceModel,
    config: PPMTrainConfig,
    trainer_class: type[transformers.Trainer],
    dataset: Any,
    collator: Any,
    *,
    progress: Callable[[int, int, float], None] | None = None,
    output_dir: str | None = None,
    prefix: str = "canopy-head-",
) -> list[float]:
    """The one training loop of a head on a backbone (the PPM's pairs, CPL's value examples):
    seeded LoRA adapters (merged afterwards) or gradient checkpointing as ``config`` says,
    ``trainer_class`` (its own loss) over ``dataset`` with ``collator``, the thread count set;
    every optimiser step's loss."""
    transformers.set_seed(config.seed)  # LoRA's initial adapters, before the Trainer seeds again
    if config.lora is not None:
        add_lora(model, config.lora, checkpointing=config.gradient_checkpointing)
    if config.gradient_checkpointing:
        checkpoint_activations(model.backbone)
    log = LossProgress(progress)
    with torch_threads(config.threads), contextlib.ExitStack() as stack:
        scratch = output_dir or stack.enter_context(tempfile.TemporaryDirectory(prefix=prefix))
        trainer = trainer_class(
            model=model,
            args=training_arguments(config, scratch),
            train_dataset=dataset,
            data_collator=collator,
            callbacks=[log],
        )
        # disable_tqdm swaps the tqdm bar for a printer of every log line; LossProgress reports
        trainer.remove_callback(transformers.PrinterCallback)
        trainer.train()
        drop_autocast(trainer.model)
    if config.lora is not None:
        merge_lora(model)
    model.eval()
    return log.losses
