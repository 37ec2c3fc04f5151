"""rStar-Math's process preference model (PPM): a causal LM with a scalar value head.

Official code (github.com/microsoft/rStar, branch rStar-math): ``train/rm.py``
(``ValueHead``, ``RewardModelWithValueHead``, ``RMTrainer.compute_loss``) and
``rstar_deepthink/llms/llms.py: rm_generate``.

- the head is dropout(0.1) then one linear layer from the last hidden state to a scalar,
  initialised near zero (weights N(5e-7, 1e-6), bias 1e-6) so training starts from a flat
  score; the score of a text is the head's value at its last real token;
- loss over a batch of pairs: Σ −log σ(s_chosen − s_rejected) · 1 / (pos_count · neg_count)
  (the pair's weight from ``backend/train/ppm_pairs.py``), the Bradley-Terry ranking loss;
- at search time a step's reward is tanh(value / 5) ∈ (−1, 1) ("PPM use 5 as the scale").

Training is a short plain torch loop (``train_ppm``): TRL's reward trainer has neither the
per-pair weight nor this head. torch and transformers are imported with this module, which
nothing imports at start-up (``pip install 'canopy-reasoning[hf]'``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

SCORE_SCALE = 5.0  # rm_generate: rewards / 5, then tanh
HEAD_DROPOUT = 0.1


class ValueHead(nn.Module):
    """Dropout + Linear(hidden, 1), initialised as the official head."""

    def __init__(self, hidden_size: int, dropout: float = HEAD_DROPOUT) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.summary = nn.Linear(hidden_size, 1)
        nn.init.normal_(self.summary.weight, mean=5e-7, std=1e-6)
        nn.init.constant_(self.summary.bias, 1e-6)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        out = self.dropout(hidden)
        return self.summary(out.to(self.summary.weight.dtype)).squeeze(-1)


class ProcessPreferenceModel(nn.Module):
    """``backbone`` (a transformers causal LM) + ``ValueHead`` on its last hidden layer."""

    def __init__(self, backbone: Any, dropout: float = HEAD_DROPOUT) -> None:
        super().__init__()
        self.backbone = backbone
        self.v_head = ValueHead(backbone.config.hidden_size, dropout)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The value at each text's last real token (right padding), one per row."""
        out = self.backbone(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True)
        values = self.v_head(out.hidden_states[-1])
        last = attention_mask.sum(-1, keepdim=True) - 1
        return values.gather(-1, last).squeeze(-1)


def encode(tokenizer: Any, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded input ids and attention mask."""
    rows = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    if any(not r for r in rows):
        raise ValueError("a PPM input is empty")
    width = max(len(r) for r in rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows])
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
    return ids, mask


def ppm_loss(chosen: torch.Tensor, rejected: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Σ −log σ(chosen − rejected) · weight (official ``RMTrainer.compute_loss``)."""
    return (-F.logsigmoid(chosen.float() - rejected.float()) * weights).sum()


@torch.no_grad()
def score(
    model: ProcessPreferenceModel, tokenizer: Any, texts: Sequence[str], batch_size: int = 8
) -> list[float]:
    """tanh(value / 5) of each text (prefix + step), in (−1, 1)."""
    model.eval()
    out: list[float] = []
    for i in range(0, len(texts), batch_size):
        ids, mask = encode(tokenizer, texts[i : i + batch_size])
        out += torch.tanh(model(ids, mask) / SCORE_SCALE).tolist()
    return out


def train_ppm(
    model: ProcessPreferenceModel,
    tokenizer: Any,
    pairs: Sequence[Any],
    *,
    epochs: int = 2,
    lr: float = 7e-6,
    batch_size: int = 4,
    seed: int = 0,
    progress: Callable[[int, int, float], None] | None = None,
) -> list[float]:
    """Train on ``PPMPair``s (prefix, chosen, rejected, weight); the loss of every batch.

    Defaults are the official 2 epochs at lr 7e-6 (AdamW); ``progress(step, steps, loss)``
    is called after each batch (the CLI draws a bar with it)."""
    if not pairs:
        raise ValueError("no PPM pairs to train on")
    torch.manual_seed(seed)  # the head's dropout: the same seed, the same run
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    steps = epochs * math.ceil(len(pairs) / batch_size)
    losses: list[float] = []
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(pairs), generator=gen).tolist()
        for i in range(0, len(order), batch_size):
            batch = [pairs[k] for k in order[i : i + batch_size]]
            texts = [p.prefix + p.chosen for p in batch] + [p.prefix + p.rejected for p in batch]
            ids, mask = encode(tokenizer, texts)
            values = model(ids, mask)
            n = len(batch)
            weights = torch.tensor([p.weight for p in batch])
            loss = ppm_loss(values[:n], values[n:], weights)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
            if progress:
                progress(len(losses), steps, losses[-1])
    model.eval()
    return losses


# --- files -------------------------------------------------------------------------------

MARKER = "canopy_ppm.json"
HEAD_FILE = "value_head.pt"


def load_backbone(base: str | None = None) -> tuple[Any, Any]:
    """(causal LM, tokenizer) to put a head on: an HF model id or directory, a ``.gguf`` file,
    or None for the embedded model (transformers dequantises its GGUF; the transformers
    engine keeps a converted copy so later loads are fast)."""
    from backend.engines.transformers import TransformersEngine

    engine = TransformersEngine.load(base, device="cpu" if not torch.cuda.is_available() else None)
    return engine.model, engine.tokenizer


def save_ppm(model: ProcessPreferenceModel, tokenizer: Any, directory: str | Path, **about: Any) -> Path:
    """The backbone and tokenizer (``save_pretrained``), the head's weights, and a marker
    file with ``about`` (base model, pairs, epochs...)."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    model.backbone.save_pretrained(out)
    tokenizer.save_pretrained(out)
    torch.save(model.v_head.state_dict(), out / HEAD_FILE)
    (out / MARKER).write_text(json.dumps({"format": "canopy-ppm", "version": 1, **about}, indent=2))
    return out


def load_ppm(directory: str | Path) -> tuple[ProcessPreferenceModel, Any]:
    """A PPM saved by ``save_ppm``, in eval mode; a directory that is not one says so."""
    import transformers

    where = Path(directory)
    if not (where / MARKER).is_file() or not (where / HEAD_FILE).is_file():
        raise ValueError(
            f"{where} is not a Canopy PPM directory (no {MARKER} / {HEAD_FILE}; see `canopy train-ppm`)"
        )
    backbone = transformers.AutoModelForCausalLM.from_pretrained(where)
    tokenizer = transformers.AutoTokenizer.from_pretrained(where)
    model = ProcessPreferenceModel(backbone)
    model.v_head.load_state_dict(torch.load(where / HEAD_FILE, weights_only=True))
    return model.eval(), tokenizer
