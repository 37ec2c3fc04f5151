"""Policy fine-tuning (backend/train/sft.py) with the tiny Qwen2 of tests/train: one TRL
SFTTrainer step with LoRA changes the model, the prompt is not trained on, the merged policy
saves as a folder the transformers engine loads, and the run's memory stays small."""

from __future__ import annotations

import pytest

from backend.evolve.sft_data import SFTExample
from tests.train.tiny import tiny_model_and_tokenizer

pytest.importorskip("trl")
pytest.importorskip("peft")


def examples(k: int = 2) -> list[SFTExample]:
    return [
        SFTExample(f"toy/{i}", "find x plan isolate x", " step one add guess good", "1", 1.0, 1.0, 3)
        for i in range(k)
    ]


def tiny():
    model, tokenizer = tiny_model_and_tokenizer()
    tokenizer.eos_token = "<|endoftext|>"
    return model, tokenizer


def test_one_sft_step_changes_the_model_and_the_merged_policy_loads_in_the_engine(tmp_path):
    import torch

    from backend.engines.transformers import TransformersEngine
    from backend.evolve.memory import PeakRSS
    from backend.train.sft import SFTTrainConfig, fine_tune, read_policy_marker, save_policy

    model, tokenizer = tiny()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    seen = []
    config = SFTTrainConfig(max_steps=1, grad_accum=1, lr=1e-2, threads=1)
    with PeakRSS() as peak:
        merged, result = fine_tune(model, tokenizer, examples(), config, progress=lambda *a: seen.append(a))
    assert result.steps == 1 and seen[0][:2] == (1, 1) and result.losses[0] > 0
    assert peak.grew_mb < 400  # the tiny model's training: nothing big is loaded or copied
    after = merged.state_dict()
    assert set(after) == set(before)  # merged: a plain causal LM, no adapter weights left
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert any("q_proj" in k for k in changed)  # LoRA's update folded into the attention weights

    out = save_policy(merged, tokenizer, tmp_path / "policy", base="tiny", losses=result.losses)
    assert read_policy_marker(out)["base"] == "tiny" and not (tmp_path / "policy.partial").exists()
    engine = TransformersEngine.load(str(out), device="cpu", threads=1)
    reloaded = engine.model.state_dict()
    assert all(torch.allclose(after[k], reloaded[k]) for k in after)
    (completion,) = engine.generate(["find x plan"], n=1, max_tokens=3, temperature=0.0)[0]
    assert completion.tokens >= 1


def test_the_loss_is_the_completions_alone_with_eos_appended():
    """The first step's loss (LoRA starts as a no-op) equals the model's cross-entropy over
    the completion's tokens and EOS only, computed by hand: the prompt is not trained on."""
    import torch

    from backend.train.sft import SFTTrainConfig, fine_tune

    model, tokenizer = tiny()
    (example,) = examples(1)
    prompt = tokenizer(example.prompt)["input_ids"]
    full = tokenizer(example.prompt + example.completion + tokenizer.eos_token)["input_ids"]
    assert full[: len(prompt)] == prompt
    labels = [-100] * len(prompt) + full[len(prompt) :]
    with torch.no_grad():
        by_hand = model(input_ids=torch.tensor([full]), labels=torch.tensor([labels])).loss.item()
        whole = model(input_ids=torch.tensor([full]), labels=torch.tensor([full])).loss.item()
    _, result = fine_tune(model, tokenizer, [example], SFTTrainConfig(max_steps=1, grad_accum=1, threads=1))
    assert result.losses[0] == pytest.approx(by_hand, rel=1e-3)
    assert abs(by_hand - whole) > 1e-3  # the check can tell the two apart


def test_no_examples_is_refused():
    from backend.train.sft import fine_tune

    model, tokenizer = tiny()
    with pytest.raises(ValueError, match="no SFT examples"):
        fine_tune(model, tokenizer, [])
