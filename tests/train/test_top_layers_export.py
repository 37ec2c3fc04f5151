"""A trained top-layers PPM as a LoRA the llama.cpp engine applies (backend/train/
top_layers_export.py): on the tiny Qwen2, the exported A/B must rebuild each trained weight
exactly, at the layer's index in the whole model, and what LoRA cannot carry is refused."""

from __future__ import annotations

import pytest

from tests.train.tiny import tiny_model_and_tokenizer

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

from backend.train.ppm_top_layers import (  # noqa: E402
    CachedPair,
    TopLayersPPM,
    bottom_states,
    fit_top_layers,
)
from backend.train.ppm_trainer import LoRA, PPMTrainConfig  # noqa: E402
from backend.train.top_layers_export import lora_tensors, low_rank  # noqa: E402

TEXTS = ["find x plan isolate x step one", "Let x be the number", "print(x) # Step 1: add one", "guess"]


def _trained(top: int = 2, layers: int = 3, rank: int = 2) -> tuple[TopLayersPPM, object]:
    backbone, tokenizer = tiny_model_and_tokenizer(seed=4, layers=layers)
    states = bottom_states(backbone, tokenizer, TEXTS, top)
    model = TopLayersPPM(backbone, top, dropout=0.0)
    config = PPMTrainConfig(epochs=6, lr=3e-2, batch_size=2, lora=LoRA(r=rank, alpha=2 * rank, dropout=0.0))
    fit_top_layers(model, states, [CachedPair(0, 3, 1.0), CachedPair(2, 1, 1.0)], config)
    return model, backbone


def test_the_exported_lora_rebuilds_every_trained_weight_at_its_layer_in_the_whole_model():
    model, backbone = _trained(top=2, layers=3, rank=2)
    tensors, residual = lora_tensors(model, backbone, rank=2)
    assert residual < 1e-5
    layers = {int(key.split(".")[4]) for key in tensors}
    assert layers == {1, 2}  # the top two of three, named as in the whole model
    linear = [n for n, m in model.backbone.layers[0].named_modules() if isinstance(m, torch.nn.Linear)]
    assert len(tensors) == 2 * 2 * len(linear)  # A and B of every linear weight of both layers
    whole = backbone.model.layers
    for i, layer in enumerate(model.backbone.layers):
        for name in linear:
            stem = f"base_model.model.model.layers.{1 + i}.{name}"
            a, b = tensors[f"{stem}.lora_A.weight"], tensors[f"{stem}.lora_B.weight"]
            assert a.shape[0] == b.shape[1] == 2
            trained = layer.get_submodule(name).weight
            base = whole[1 + i].get_submodule(name).weight
            assert torch.allclose(base + b @ a, trained, atol=1e-6)
            assert not torch.allclose(trained, base)  # it did train


def test_a_change_lora_cannot_carry_is_refused():
    model, backbone = _trained(top=1, layers=2, rank=2)
    with torch.no_grad():
        model.backbone.norm.weight.mul_(1.5)
    with pytest.raises(ValueError, match="final norm changed"):
        lora_tensors(model, backbone, rank=2)

    model, backbone = _trained(top=1, layers=2, rank=2)
    with torch.no_grad():
        model.backbone.layers[0].self_attn.q_proj.bias.add_(0.1)
    with pytest.raises(ValueError, match=r"layer 1: self_attn\.q_proj\.bias changed"):
        lora_tensors(model, backbone, rank=2)

    model, backbone = _trained(top=1, layers=2, rank=2)
    with pytest.raises(ValueError, match="rank above 1"):  # a rank-2 change is no rank-1 LoRA
        lora_tensors(model, backbone, rank=1)

    untouched = TopLayersPPM(backbone, 1)
    with pytest.raises(ValueError, match="nothing to export"):
        lora_tensors(untouched, backbone, rank=2)


def test_low_rank_factors_are_exact_for_a_low_rank_change_and_say_so_otherwise():
    gen = torch.Generator().manual_seed(0)
    delta = torch.randn(12, 3, generator=gen) @ torch.randn(3, 9, generator=gen)
    a, b, residual = low_rank(delta, 3)
    assert a.shape == (3, 9) and b.shape == (12, 3)
    assert torch.allclose(b @ a, delta, atol=1e-5) and residual < 1e-6
    _a, _b, cut = low_rank(delta, 1)
    assert cut > 0.1  # dropping real directions shows in the residual
