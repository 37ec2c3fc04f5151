"""A trained ``TopLayersPPM`` as files llama.cpp scores with: a LoRA GGUF plus the value head.

Why: the PPM is trained in transformers over cached states of the frozen bottom layers
(``ppm_top_layers.py``), but the search scores on the llama.cpp engine that already holds the
embedded model (``backend/reward/ppm_head.py``). What the training changed is small: the
LoRA deltas of the top layers' linear weights (merged into them after training) and the
head. So each changed weight's delta W_trained − W_base is written as an exact low-rank
factorisation (an SVD truncated at the LoRA rank: a merged rank-r LoRA has rank ≤ r) in
PEFT's adapter layout at the layer's real index in the full model, and converted by
``backend/evolve/lora_gguf.py`` to llama.cpp's LoRA GGUF, which a hidden-state context applies
on top of the very model the policy runs. Anything else that changed (a norm, a bias) has no
LoRA form: refused, so the files never score differently from the model that was measured.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from backend.train.ppm_top_layers import TopLayersPPM, decoder_of

#: an SVD residual above this share of a delta's norm means it is not rank-r (not a merged LoRA)
MAX_RESIDUAL = 1e-3


@dataclass(frozen=True)
class TopLayersFiles:
    """What :func:`export_top_layers` wrote."""

    adapter_gguf: Path
    weight: list[float]
    bias: float
    adapted_weights: int
    rank: int
    residual: float  # the largest relative SVD residual over the adapted weights


def _linears(module: nn.Module) -> dict[str, nn.Linear]:
    return {name: m for name, m in module.named_modules() if isinstance(m, nn.Linear)}


def low_rank(delta: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor, float]:
    """(A [r, in], B [out, r], relative residual) with B @ A ≈ ``delta`` ([out, in])."""
    u, s, vh = torch.linalg.svd(delta.double(), full_matrices=False)
    r = min(rank, s.numel())
    root = s[:r].sqrt()
    total = float(s.norm()) or 1.0
    return (root[:, None] * vh[:r]).float(), (u[:, :r] * root).float(), float(s[r:].norm()) / total


def lora_tensors(model: TopLayersPPM, source: Any, rank: int) -> tuple[dict[str, torch.Tensor], float]:
    """PEFT-named LoRA A/B tensors of every top-layer linear weight that differs from
    ``source``'s, at its index in ``source`` (``base_model.model.model.layers.<i>...``), and the
    largest relative residual. ValueError when a norm, a bias or the final norm changed, or a
    delta is not of rank ≤ ``rank``."""
    full = decoder_of(source)
    out: dict[str, torch.Tensor] = {}
    worst = 0.0
    for i, (mine, theirs) in enumerate(zip(model.backbone.layers, full.layers[model.split :], strict=True)):
        index = model.split + i
        ours, base = mine.state_dict(), theirs.state_dict()
        linear = {f"{name}.weight" for name in _linears(mine)}
        for key, value in ours.items():
            if key in linear or torch.equal(value, base[key]):
                continue
            raise ValueError(f"layer {index}: {key} changed in training; llama.cpp's LoRA cannot carry it")
        for name in sorted(_linears(mine)):
            delta = ours[f"{name}.weight"].float() - base[f"{name}.weight"].float()
            if not torch.any(delta):
                continue
            a, b, residual = low_rank(delta, rank)
            if residual > MAX_RESIDUAL:
                raise ValueError(f"layer {index} {name}: the change has rank above {rank} "
                                 f"(residual {residual:.2e}); not a merged rank-{rank} LoRA")
            worst = max(worst, residual)
            stem = f"base_model.model.model.layers.{index}.{name}"
            out[f"{stem}.lora_A.weight"] = a.contiguous()
            out[f"{stem}.lora_B.weight"] = b.contiguous()
    if not torch.equal(model.backbone.norm.weight, full.norm.weight):
        raise ValueError("the final norm changed in training; llama.cpp's LoRA cannot carry it")
    if not out:
        raise ValueError("no top-layer weight changed: nothing to export (train with LoRA first)")
    return out, worst


def export_top_layers(
    model: TopLayersPPM, source: Any, rank: int, out: str | Path, base: str | None = None
) -> TopLayersFiles:
    """Write ``model``'s changes over ``source`` (the GGUF ``base`` as transformers loads it;
    None: the embedded model) as the LoRA GGUF ``out``, and return it with the head's weight
    and bias."""
    from safetensors.torch import save_file

    from backend.evolve.lora_gguf import export_lora_gguf

    tensors, residual = lora_tensors(model, source, rank)
    modules = sorted({key.split(".")[-3] for key in tensors})
    with tempfile.TemporaryDirectory(prefix="canopy-ppm-lora-") as tmp:
        folder = Path(tmp)
        # alpha = r: llama.cpp adds alpha / r · B A = the delta itself
        config = {"peft_type": "LORA", "r": rank, "lora_alpha": rank, "bias": "none",
                  "target_modules": modules, "use_dora": False, "use_rslora": False}
        (folder / "adapter_config.json").write_text(json.dumps(config), encoding="utf-8")
        save_file(tensors, str(folder / "adapter_model.safetensors"))
        written = export_lora_gguf(folder, out, base=base)
    head = model.v_head.summary
    return TopLayersFiles(
        adapter_gguf=written.path,
        weight=head.weight.detach().double().reshape(-1).tolist(),
        bias=float(head.bias.detach()),
        adapted_weights=len(tensors) // 2,
        rank=rank,
        residual=residual,
    )
