"""Fine-tuning the policy on its own correct trajectories: TRL's ``SFTTrainer`` with PEFT LoRA.

rStar-Math trains its policy with supervised fine-tuning on the best correct traces of each
round (official ``train/train_SFT.py``: a ``Trainer`` on prompt + response with the prompt's
tokens masked out of the loss, EOS appended to the response). Here TRL's ``SFTTrainer`` on
a prompt-completion dataset does the same: ``completion_only_loss`` masks the prompt (the
rStar search's own few-shot prompt, ``backend/evolve/sft_data.py``) and the EOS token is
appended to each completion. Differences from the official run, on purpose:

- LoRA adapters (PEFT) on every linear layer instead of a full fine-tune: the 0.5B model's
  full AdamW state would not fit the CPU's memory budget (docs/EVOLVE.md); afterwards the
  adapters are merged, so the saved policy is a plain causal LM;
- no new special tokens: the format's tags stay ordinary text, as the search's prompts and
  stop strings already treat them (the official adds them as special tokens);
- the CPU thread count is set for the run (``torch_threads``) and restored after.

The saved folder (``save_policy``: weights, tokenizer with its chat template, and
``canopy_policy.json``) loads as ``--engine transformers --model DIR``; for the llama.cpp
engine ``backend/evolve/gguf_export.py`` writes its GGUF.

With ``adapter_dir`` the LoRA adapters are also saved on their own, in 16 bits
(``save_adapter``: 17.6 MB at rank 16 on the 0.5B model, 8.8M parameters, against about 2 GB
merged), and the merged policy is made from those rounded values, so ``merge_adapter`` of the saved folder
over the same start model gives the same weights again: a round's policy can be carried to
another machine (or shipped) as its adapter.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import transformers

from backend.train.checkpoints import save_arguments, train_resuming
from backend.train.ppm_trainer import LoRA, LossProgress, checkpoint_activations, torch_threads, use_bf16

#: the marker file of a fine-tuned policy folder
POLICY_MARKER = "canopy_policy.json"


@dataclass(frozen=True)
class SFTTrainConfig:
    """How the policy is fine-tuned. The official run is a full fine-tune of a 7B model
    (2 epochs); LoRA on a small model takes a larger learning rate."""

    epochs: int = 2
    lr: float = 1e-4
    batch_size: int = 1
    grad_accum: int = 4
    max_length: int = 2048  # tokens of prompt + completion (official 2048); longer ones keep their start
    seed: int = 0
    lora: LoRA = field(default_factory=LoRA)
    gradient_checkpointing: bool = False
    threads: int | None = None  # CPU torch threads; None: the cores this process may run on
    max_steps: int | None = None  # stop after this many optimiser steps (smoke runs)
    #: bfloat16 autocast over float32 master weights. None: on a GPU that supports it (the
    #: paper's setting). True: on a CPU too: 1.3x faster per step on this AVX512-BF16 CPU, 22%
    #: less memory (bench/evolve.py --bf16); refused where bfloat16 is emulated (77-100x slower
    #: on an AVX2-only CPU, bench/bf16_matmul.py). False: float32.
    bf16: bool | None = None

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.grad_accum < 1:
            raise ValueError("epochs, batch_size and grad_accum must be ≥ 1")
        if not self.lr > 0:
            raise ValueError(f"the learning rate must be > 0, not {self.lr}")
        if self.max_length < 2:
            raise ValueError(f"max_length must be ≥ 2, not {self.max_length}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be ≥ 1 (or None), not {self.max_steps}")

    def about(self) -> dict[str, Any]:
        return {"trainer": "trl.SFTTrainer (completion-only loss, PEFT LoRA, merged)", **asdict(self)}


@dataclass
class SFTResult:
    """What one fine-tuning run did."""

    losses: list[float]
    examples: int
    seconds: float

    @property
    def steps(self) -> int:
        return len(self.losses)


def sft_arguments(config: SFTTrainConfig, output_dir: str, save_every: int | None = None) -> Any:
    """TRL's ``SFTConfig``: prompt masked out of the loss, every step's loss logged; a
    checkpoint (adapters, optimiser, RNG, step) every ``save_every`` steps, the newest kept,
    or nothing saved when None."""
    from trl import SFTConfig

    cuda = torch.cuda.is_available()
    return SFTConfig(
        output_dir=output_dir,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps or -1,
        learning_rate=config.lr,
        per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum,
        max_length=config.max_length,
        completion_only_loss=True,
        packing=False,
        optim="adamw_torch",
        seed=config.seed,
        bf16=use_bf16(config.bf16),
        use_cpu=not cuda,
        logging_steps=1,  # every step's loss reaches LossProgress
        **save_arguments(save_every),  # the checkpoints to resume from; save_policy writes the result
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
    )


def lora_config(lora: LoRA) -> Any:
    from backend._optional import require

    peft = require("peft", extra="hf")
    targets = list(lora.target_modules) if isinstance(lora.target_modules, tuple) else lora.target_modules
    return peft.LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=targets,
        task_type="CAUSAL_LM",
    )


def fine_tune(
    model: Any,
    tokenizer: Any,
    examples: Sequence[Any],
    config: SFTTrainConfig = SFTTrainConfig(),  # frozen: one shared default is safe
    *,
    progress: Callable[[int, int, float], None] | None = None,
    checkpoints: str | Path | None = None,
    save_every: int = 10,
    adapter_dir: str | Path | None = None,
) -> tuple[Any, SFTResult]:
    """Fine-tune ``model`` on ``SFTExample``s (``prompt`` / ``completion``) with LoRA; returns
    (the model with the adapters merged in, what the run did). ``progress(step, steps, loss)``
    is called after every optimiser step.

    ``checkpoints``: a folder for the Trainer's checkpoints, one every ``save_every`` steps
    (the LoRA adapters, the optimiser, the RNG states and the data position; the newest
    kept). A run killed mid-way and called again with the same folder, model and examples
    resumes from its last checkpoint instead of step 0: on this CPU an SFT round of a few
    hundred examples takes over an hour. The caller removes the folder once the policy is
    saved.

    ``adapter_dir``: the trained adapters are rounded to 16 bits, saved there
    (``save_adapter``) and merged from those values, so ``merge_adapter`` rebuilds the same
    policy from the folder."""
    from backend._optional import require

    require("trl", extra="hf")
    datasets = require("datasets", extra="hf")
    from trl import SFTTrainer

    if not examples:
        raise ValueError("no SFT examples to train on")
    rows = [{"prompt": e.prompt, "completion": e.completion} for e in examples]
    transformers.set_seed(config.seed)  # the adapters' initial values, before the Trainer seeds again
    if config.gradient_checkpointing:  # on the model, as ppm_trainer does (the argument's name moves)
        checkpoint_activations(model)
        model.enable_input_require_grads()  # LoRA freezes the embeddings; checkpointed blocks need a grad
    log = LossProgress(progress)
    t0 = time.monotonic()
    with torch_threads(config.threads), tempfile.TemporaryDirectory(prefix="canopy-sft-") as scratch:
        output_dir = str(checkpoints) if checkpoints is not None else scratch
        trainer = SFTTrainer(
            model=model,
            args=sft_arguments(config, output_dir, save_every if checkpoints is not None else None),
            train_dataset=datasets.Dataset.from_list(rows),
            processing_class=tokenizer,
            peft_config=lora_config(config.lora),
            callbacks=[log],
        )
        trainer.remove_callback(transformers.PrinterCallback)
        if len(trainer.train_dataset) == 0:  # TRL drops examples whose completion was cut off entirely
            raise ValueError(
                f"every SFT example's prompt fills max_length={config.max_length} tokens: raise it"
            )
        losses = train_resuming(trainer, checkpoints)
        if adapter_dir is not None:
            round_adapter(trainer.model)  # the merge below uses exactly what the adapter file holds
            save_adapter(trainer.model, adapter_dir)
        merged = trainer.model.merge_and_unload()
    merged.eval()
    return merged, SFTResult(losses, len(examples), round(time.monotonic() - t0, 2))


#: the saved adapter's dtype: float16 keeps 11 significant bits, and LoRA weights (around
#: 1e-3 after a round) stay far inside its range; bfloat16 would keep 8
ADAPTER_DTYPE = torch.float16
ADAPTER_FILE = "adapter_model.safetensors"


def round_adapter(peft_model: Any) -> None:
    """Round every LoRA weight of ``peft_model`` to ``ADAPTER_DTYPE`` in place, keeping its
    own dtype: what is merged is then what the 16-bit adapter file holds."""
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_" in name:
                param.copy_(param.to(ADAPTER_DTYPE).to(param.dtype))


def save_adapter(peft_model: Any, directory: str | Path) -> Path:
    """The PEFT adapter folder (``adapter_config.json`` + 16-bit safetensors), written beside
    the target and renamed, so a folder that exists is whole."""
    from safetensors.torch import load_file, save_file

    out = Path(directory)
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    peft_model.save_pretrained(partial, safe_serialization=True)
    weights = partial / ADAPTER_FILE
    tensors = {k: v.to(ADAPTER_DTYPE).contiguous() for k, v in load_file(str(weights)).items()}
    save_file(tensors, str(weights), metadata={"format": "pt"})
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(out)
    partial.replace(out)
    return out


def merge_adapter(model: Any, adapter_dir: str | Path) -> Any:
    """``model`` (the start model the adapter was trained on) with the saved adapter merged
    in: the policy ``fine_tune(..., adapter_dir=)`` returned, rebuilt in seconds."""
    from backend._optional import require

    peft = require("peft", extra="hf")
    folder = Path(adapter_dir)
    if not (folder / ADAPTER_FILE).is_file() or not (folder / "adapter_config.json").is_file():
        raise ValueError(f"{folder} is not a saved LoRA adapter (no {ADAPTER_FILE} / adapter_config.json)")
    merged = peft.PeftModel.from_pretrained(model, str(folder)).merge_and_unload()
    merged.eval()
    return merged


def save_policy(model: Any, tokenizer: Any, directory: str | Path, **about: Any) -> Path:
    """A folder ``--engine transformers --model DIR`` loads: weights, tokenizer (with its chat
    template) and ``canopy_policy.json`` (``about``: base model, data, settings, losses).
    Written beside the target and renamed, so a folder that exists is a whole policy."""
    out = Path(directory)
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    marker = {"format": "canopy-policy", "version": 1, **about}
    (partial / POLICY_MARKER).write_text(json.dumps(marker, indent=2))
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(out)
    partial.replace(out)
    return out


def read_policy_marker(directory: str | Path) -> dict[str, Any] | None:
    """A policy folder's marker, or None when ``directory`` is not one."""
    path = Path(directory) / POLICY_MARKER
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
