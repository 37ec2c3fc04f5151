"""A PPM trained in its top layers over cached states of the frozen rest
(backend/train/ppm_top_layers.py), on a three-layer tiny Qwen2: it must score exactly as the
whole backbone does, and training must move only its own copy."""

from __future__ import annotations

import pytest

from backend.train.ppm_pairs import PPMPair
from tests.train.tiny import tiny_model_and_tokenizer

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("accelerate")

from backend.reward.ppm import ProcessPreferenceModel, head_values  # noqa: E402
from backend.train.ppm_top_layers import (  # noqa: E402
    CachedPair,
    TopLayersPPM,
    bottom_states,
    cached_values,
    fit_top_layers,
)
from backend.train.ppm_trainer import LoRA, PPMTrainConfig  # noqa: E402

TEXTS = ["find x plan isolate x step one", "Let x be the number", "print(x) # Step 1: add one and isolate x",
         "guess"]


@pytest.mark.parametrize("top", [1, 2, 3])
def test_the_top_layers_over_cached_states_score_exactly_as_the_whole_backbone(top):
    backbone, tokenizer = tiny_model_and_tokenizer(seed=3, layers=3)
    whole = ProcessPreferenceModel(backbone)
    torch.nn.init.normal_(whole.v_head.summary.weight)  # a head that is not flat at zero
    expected = head_values(whole, tokenizer, TEXTS)

    states = bottom_states(backbone, tokenizer, TEXTS, top, batch_size=3)  # padded batches
    assert [s.shape[0] for s in states] == [len(tokenizer(t)["input_ids"]) for t in TEXTS]
    model = TopLayersPPM(backbone, top)
    model.v_head.load_state_dict(whole.v_head.state_dict())
    got = cached_values(model, states, batch_size=2)
    assert got == pytest.approx(expected, abs=1e-5)
    assert len(set(round(v, 4) for v in got)) == len(TEXTS)  # the texts really differ


def test_training_the_top_layers_ranks_the_chosen_texts_first_and_leaves_the_source_alone():
    backbone, tokenizer = tiny_model_and_tokenizer(seed=1, layers=3)
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    states = bottom_states(backbone, tokenizer, TEXTS, 2)
    pairs = [CachedPair(0, 3, 1.0), CachedPair(2, 1, 0.5)]
    model = TopLayersPPM(backbone, 2, dropout=0.0)
    first = cached_values(model, states)
    losses = fit_top_layers(model, states, pairs, PPMTrainConfig(epochs=8, lr=1e-2, batch_size=2))
    after = cached_values(model, states)
    assert losses[-1] < losses[0]
    assert after[0] > after[3] and after[2] > after[1]
    assert after != pytest.approx(first)
    assert all(torch.equal(v, backbone.state_dict()[k]) for k, v in before.items())


def test_lora_on_the_top_layers_trains_and_merges_into_a_plain_decoder():
    backbone, tokenizer = tiny_model_and_tokenizer(seed=2, layers=3)
    states = bottom_states(backbone, tokenizer, TEXTS, 1)
    model = TopLayersPPM(backbone, 1, dropout=0.0)
    config = PPMTrainConfig(epochs=8, lr=3e-2, batch_size=2, lora=LoRA(r=4, alpha=8, dropout=0.0))
    fit_top_layers(model, states, [CachedPair(0, 3, 1.0), CachedPair(2, 1, 1.0)], config)
    assert type(model.backbone).__name__ == "Qwen2Model"  # adapters merged away
    values = cached_values(model, states)
    assert values[0] > values[3] and values[2] > values[1]


def test_with_checkpointing_the_adapters_of_every_layer_learn_though_the_cached_inputs_carry_no_grad():
    """The whole backbone over cached embeddings (bench --top-layers 24 --gradient-checkpointing):
    a checkpointed block whose input needs no grad must still pass gradients to its LoRA weights
    (the non-reentrant checkpoint does; a reentrant one would train the head alone, silently)."""
    backbone, tokenizer = tiny_model_and_tokenizer(seed=2, layers=3)
    states = bottom_states(backbone, tokenizer, TEXTS, 3)  # the embeddings: no layer below
    assert not any(s.requires_grad for s in states)
    model = TopLayersPPM(backbone, 3, dropout=0.0)
    before = [layer.self_attn.q_proj.weight.detach().clone() for layer in model.backbone.layers]
    config = PPMTrainConfig(epochs=4, lr=3e-2, batch_size=2, gradient_checkpointing=True,
                            lora=LoRA(r=4, alpha=8, dropout=0.0))
    fit_top_layers(model, states, [CachedPair(0, 3, 1.0), CachedPair(2, 1, 1.0)], config)
    after = [layer.self_attn.q_proj.weight for layer in model.backbone.layers]
    assert all(not torch.allclose(a, b) for a, b in zip(after, before, strict=True))  # merged, moved


def test_impossible_splits_are_refused():
    backbone, tokenizer = tiny_model_and_tokenizer(layers=2)
    with pytest.raises(ValueError, match=r"top_layers must be in 1\.\.2"):
        TopLayersPPM(backbone, 3)
    with pytest.raises(ValueError, match=r"top_layers must be in 1\.\.2"):
        bottom_states(backbone, tokenizer, TEXTS, 0)
    model = TopLayersPPM(backbone, 1)
    with pytest.raises(ValueError, match="unset"):
        fit_top_layers(model, [torch.zeros(2, 16)] * 2, [CachedPair(0, 1, 1.0)],
                       PPMTrainConfig(lora=LoRA(top_layers=1)))
    with pytest.raises(ValueError, match="no PPM pairs"):
        fit_top_layers(model, [], [])


def test_pairs_as_the_bench_builds_them_are_indices_of_distinct_texts():
    # CachedPair is how text pairs are reused: one cached state per distinct text
    pairs = [PPMPair("a ", "b", "c", 1.0, 1, 1, 1, 2), PPMPair("a ", "b", "d", 1.0, 1, 1, 1, 2)]
    from backend.train.ppm_top_layers import index_pairs

    texts, cached = index_pairs(pairs)
    assert texts == ["a b", "a c", "a d"]
    assert cached == [CachedPair(0, 1, pairs[0].weight), CachedPair(0, 2, pairs[1].weight)]


def test_cached_states_are_reused_only_for_the_backbone_that_made_them(tmp_path):
    # the cache once keyed on the texts alone: a PPM over the fine-tuned policy would have trained
    # on the base model's states, silently
    from backend.train.ppm_top_layers import load_states, states_source

    base, policy = tmp_path / "base.gguf", tmp_path / "policy"
    base.write_bytes(b"base weights")
    policy.mkdir()
    (policy / "model.safetensors").write_bytes(b"policy weights")
    cache, texts, made = tmp_path / "states.safetensors", ["a b", "a c"], []

    def make(value: float):
        def run():
            made.append(value)
            return [torch.full((2, 3), value), torch.full((1, 3), value)]
        return run

    first = load_states(cache, texts, make(1.0), source=states_source(base, 4, 768))
    again = load_states(cache, texts, make(9.0), source=states_source(base, 4, 768))
    assert made == [1.0] and torch.equal(again[0], first[0])  # same backbone: read back, not made
    other = load_states(cache, texts, make(2.0), source=states_source(policy, 4, 768))
    assert made == [1.0, 2.0] and float(other[0][0, 0]) == 2.0
    load_states(cache, texts, make(3.0), source=states_source(policy, 2, 768))  # other split: made
    (policy / "model.safetensors").write_bytes(b"retrained policy weights")  # same path, new weights
    load_states(cache, texts, make(4.0), source=states_source(policy, 2, 768))
    assert made == [1.0, 2.0, 3.0, 4.0]
