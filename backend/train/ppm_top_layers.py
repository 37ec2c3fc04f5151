"""A PPM whose backbone is trained in its top layers only, over cached states of the frozen rest.

Why: on a 2-core CPU every step of the paper's PPM training runs the whole backbone forward,
even when only the last few layers learn (``LoRA(top_layers=N)``), and that forward is most of
the cost. The layers below the trained ones never change, so their output for a text is the
same at every step and every epoch: compute it once (``bottom_states``), then train a model
made of the top N decoder layers, the final norm and the value head on those states
(``TopLayersPPM``). The scores are exactly those of the whole backbone with the same top
layers (tested), so a PPM found this way is the paper's PPM with its bottom layers frozen; it is
trained through the same ``transformers.Trainer`` loop and loss as ``ppm_trainer.fit``.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from backend.reward.ppm import HEAD_DROPOUT, ValueHead, pad_id, pad_rows, ppm_loss, token_rows
from backend.train.ppm_trainer import ListDataset, PPMTrainConfig, PPMTrainer, train_in_place


def decoder_of(backbone: Any) -> Any:
    """The decoder stack (``model.model`` of a causal LM) of a transformers model or PEFT wrapper."""
    return backbone.get_decoder() if hasattr(backbone, "get_decoder") else backbone.model


def split_layer(backbone: Any, top_layers: int) -> int:
    """The index of the first trained layer (the cached states are this layer's input)."""
    depth = backbone.config.num_hidden_layers
    if not 1 <= top_layers <= depth:
        raise ValueError(f"top_layers must be in 1..{depth} for this backbone, not {top_layers}")
    return depth - top_layers


@torch.no_grad()
def bottom_states(
    backbone: Any,
    tokenizer: Any,
    texts: Sequence[str],
    top_layers: int,
    *,
    max_length: int | None = None,
    batch_size: int = 8,
    progress: Callable[[int, int], None] | None = None,
) -> list[torch.Tensor]:
    """Each text's hidden states at the input of the first trained layer, ``[tokens, hidden]``
    (float32, on the CPU), through the frozen layers below it. Texts are run in batches of
    similar length so padding costs little."""
    split = split_layer(backbone, top_layers)
    decoder = decoder_of(backbone)
    device = next(backbone.parameters()).device
    rows = token_rows(tokenizer, texts, max_length)
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
    out: list[torch.Tensor | None] = [None] * len(rows)
    was_training = backbone.training
    backbone.eval()
    kept, norm = decoder.layers, decoder.norm
    # run only the frozen layers, and no final norm: the output is the first trained layer's input
    decoder.layers, decoder.norm = kept[:split], nn.Identity()
    try:
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            ids, mask = pad_rows([rows[i] for i in chunk], pad_id(tokenizer))
            states = decoder(input_ids=ids.to(device), attention_mask=mask.to(device)).last_hidden_state
            for j, i in enumerate(chunk):
                out[i] = states[j, : len(rows[i])].float().cpu()
            if progress:
                progress(min(start + batch_size, len(order)), len(order))
    finally:
        decoder.layers, decoder.norm = kept, norm
        backbone.train(was_training)
    return out  # type: ignore[return-value]


class TopLayersPPM(nn.Module):
    """The top ``top_layers`` decoder layers of ``backbone`` (copies), its final norm and a value
    head: a PPM over ``bottom_states``. ``backbone`` is the (sub)model LoRA wraps, as in
    ``ProcessPreferenceModel``, so ``train_in_place`` trains both kinds alike."""

    def __init__(self, source: Any, top_layers: int, dropout: float = HEAD_DROPOUT) -> None:
        super().__init__()
        split = split_layer(source, top_layers)
        config = copy.deepcopy(source.config)
        config.num_hidden_layers = top_layers
        if getattr(config, "layer_types", None):
            config.layer_types = list(config.layer_types[split:])
        full = decoder_of(source)
        top = type(full)(config)  # the same decoder class, top_layers deep
        top.embed_tokens = None  # never used: the inputs are cached states, not token ids
        for mine, theirs in zip(top.layers, full.layers[split:], strict=True):
            mine.load_state_dict(theirs.state_dict())
        top.norm.load_state_dict(full.norm.state_dict())
        top.to(device=next(source.parameters()).device, dtype=next(full.layers.parameters()).dtype)
        self.backbone = top
        self.split = split
        self.v_head = ValueHead(config.hidden_size, dropout).to(next(top.parameters()).device)

    @property
    def config(self) -> Any:
        return self.backbone.config

    def forward(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The value at each row's last real token (right padding), as ``ProcessPreferenceModel``."""
        hidden = self.backbone(inputs_embeds=inputs_embeds, attention_mask=attention_mask).last_hidden_state
        values = self.v_head(hidden)
        last = attention_mask.sum(-1, keepdim=True) - 1
        return values.gather(-1, last).squeeze(-1)


def pad_states(states: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ``[rows, tokens, hidden]`` and the attention mask."""
    width = max(s.shape[0] for s in states)
    batch = states[0].new_zeros((len(states), width, states[0].shape[1]))
    mask = torch.zeros((len(states), width), dtype=torch.long)
    for i, s in enumerate(states):
        batch[i, : s.shape[0]] = s
        mask[i, : s.shape[0]] = 1
    return batch, mask


@dataclass(frozen=True)
class CachedPair:
    """A PPM pair as indices into the cached states of its two texts, and its weight."""

    chosen: int
    rejected: int
    weight: float


@dataclass
class CachedPairCollator:
    """Chosen rows stacked above rejected ones (as ``PPMCollator``), from cached states."""

    states: Sequence[torch.Tensor]

    def __call__(self, pairs: Sequence[CachedPair]) -> dict[str, torch.Tensor]:
        rows = [self.states[p.chosen] for p in pairs] + [self.states[p.rejected] for p in pairs]
        batch, mask = pad_states(rows)
        weights = torch.tensor([p.weight for p in pairs], dtype=torch.float32)
        return {"inputs_embeds": batch, "attention_mask": mask, "weights": weights}


class CachedPPMTrainer(PPMTrainer):
    """``PPMTrainer``'s loss over cached states instead of token ids."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        weights = inputs["weights"]
        values = model(inputs_embeds=inputs["inputs_embeds"], attention_mask=inputs["attention_mask"])
        chosen, rejected = values.split(len(weights))
        loss = ppm_loss(chosen, rejected, weights)
        return (loss, {"chosen": chosen, "rejected": rejected}) if return_outputs else loss


def fit_top_layers(
    model: TopLayersPPM,
    states: Sequence[torch.Tensor],
    pairs: Sequence[CachedPair],
    config: PPMTrainConfig = PPMTrainConfig(),  # noqa: B008 (frozen: one shared default is safe)
    *,
    progress: Callable[[int, int, float], None] | None = None,
) -> list[float]:
    """Train ``model`` in place on ``pairs`` of cached ``states`` (``train_in_place``: the same
    Trainer, loss, LoRA and merge as the whole-backbone PPM); every optimiser step's loss."""
    if not pairs:
        raise ValueError("no PPM pairs to train on")
    if config.lora is not None and config.lora.top_layers is not None:
        raise ValueError("the model is the top layers already: leave LoRA's top_layers unset")
    return train_in_place(model, config, CachedPPMTrainer, ListDataset(pairs), CachedPairCollator(states),
                          progress=progress, prefix="canopy-ppm-top-")


@torch.no_grad()
def cached_values(model: TopLayersPPM, states: Sequence[torch.Tensor], batch_size: int = 8) -> list[float]:
    """The head's raw value of each cached text."""
    model.eval()
    device = next(model.parameters()).device
    out: list[float] = []
    for i in range(0, len(states), batch_size):
        batch, mask = pad_states(states[i : i + batch_size])
        out += model(batch.to(device), mask.to(device)).float().tolist()
    return out


def index_pairs(pairs: Sequence[Any]) -> tuple[list[str], list[CachedPair]]:
    """The distinct texts (prefix + step) of ``PPMPair``s, in first-seen order, and the pairs as
    indices into them: each text's states are computed once however many pairs share it."""
    index: dict[str, int] = {}
    cached = []
    for p in pairs:
        ids = [index.setdefault(text, len(index)) for text in (p.prefix + p.chosen, p.prefix + p.rejected)]
        cached.append(CachedPair(ids[0], ids[1], p.weight))
    return list(index), cached


def load_states(
    path: Path, texts: Sequence[str], make: Callable[[], list[torch.Tensor]], *, source: str
) -> list[torch.Tensor]:
    """Cached bottom states of ``texts`` from ``path`` (safetensors) when it holds exactly these
    texts from the same ``source`` (the backbone and settings that made them; a sha256 of both
    is stored with the states), else ``make()``'s, saved there: the frozen layers' pass is most
    of a run's setup and the same for every later run. Without ``source`` in the key, states of
    one backbone were silently reused for another."""
    from safetensors.torch import load_file, save_file

    key = hashlib.sha256("\0".join([source, *texts]).encode()).hexdigest()
    if path.is_file():
        saved = load_file(path)
        if saved.get("key") is not None and bytes(saved["key"].tolist()).decode() == key:
            return [saved[f"t{i}"] for i in range(len(texts))]
    states = make()
    tensors = {f"t{i}": s.contiguous() for i, s in enumerate(states)}
    tensors["key"] = torch.tensor(list(key.encode()), dtype=torch.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, path)
    return states


def states_source(model: str | Path | None, top_layers: int, max_length: int) -> str:
    """What made a states cache: the backbone file or folder (path, sizes and modification
    times: cheap, where a sha256 of a GB is not), the frozen layers and the cut."""
    where = Path(model) if model is not None else None
    if where is not None and where.exists():
        files = [where] if where.is_file() else sorted(f for f in where.iterdir() if f.is_file())
        seen = ";".join(f"{f.name}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files)
        ident = f"{where.resolve()}[{seen}]"
    else:
        ident = str(model)  # a hub id, or None for the embedded default: the name is what there is
    return f"{ident}|top={top_layers}|max_length={max_length}"
