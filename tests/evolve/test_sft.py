"""Policy fine-tuning (backend/train/sft.py) with the tiny Qwen2 of tests/train: one TRL
SFTTrainer step with LoRA changes the model, the prompt is not trained on, the merged policy
saves as a folder the transformers engine loads, and the run's memory stays small."""

from __future__ import annotations

import pytest

from backend.evolve.sft_data import SFTExample
from tests.train.tiny import tiny_model_and_tokenizer

pytest.importorskip("trl")
pytest.importorskip("peft")


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


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
    changed = [k for k in before if not torch.equal(before[k].to(after[k].device), after[k])]
    assert any("q_proj" in k for k in changed)  # LoRA's update folded into the attention weights

    out = save_policy(merged, tokenizer, tmp_path / "policy", base="tiny", losses=result.losses)
    assert read_policy_marker(out)["base"] == "tiny" and not (tmp_path / "policy.partial").exists()
    engine = TransformersEngine.load(str(out), device="cpu", threads=1)
    reloaded = engine.model.state_dict()
    assert all(torch.allclose(after[k].cpu(), reloaded[k]) for k in after)  # trained on a GPU too
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


class Killed(Exception):
    """Stands for the process being killed mid-training (raised from the progress hook)."""


def test_a_fine_tune_killed_mid_way_resumes_from_its_checkpoint_to_the_same_policy(tmp_path):
    """Four steps with a checkpoint every two: a run killed at step 3 and run again with the
    same folder starts at step 3 (not 1) and ends with the uninterrupted run's weights and
    its four losses."""
    import torch

    from backend.train.checkpoints import last_checkpoint
    from backend.train.sft import SFTTrainConfig, fine_tune

    config = SFTTrainConfig(max_steps=4, grad_accum=1, lr=1e-2, threads=1)
    whole, ran = fine_tune(*tiny(), examples(4), config)

    def kill_at_3(step, steps, loss):
        if step == 3:
            raise Killed

    folder = tmp_path / "policy.checkpoints"
    with pytest.raises(Killed):
        fine_tune(*tiny(), examples(4), config, progress=kill_at_3, checkpoints=folder, save_every=2)
    assert last_checkpoint(folder).endswith("checkpoint-2")
    steps_run = []
    resumed, result = fine_tune(*tiny(), examples(4), config, checkpoints=folder, save_every=2,
                                progress=lambda step, *_: steps_run.append(step))
    assert steps_run == [3, 4]  # steps 1-2 came from the checkpoint
    assert result.losses == pytest.approx(ran.losses)
    after, want = resumed.state_dict(), whole.state_dict()
    assert all(torch.allclose(after[k], want[k], atol=1e-6) for k in want)


def test_a_checkpoint_killed_while_being_written_is_passed_over(tmp_path):
    from backend.train.checkpoints import last_checkpoint

    assert last_checkpoint(tmp_path / "none") is None
    for step, whole in ((10, True), (20, False)):
        (tmp_path / f"checkpoint-{step}").mkdir()
        if whole:
            (tmp_path / f"checkpoint-{step}" / "trainer_state.json").write_text("{}", encoding="utf-8")
    assert last_checkpoint(tmp_path) == str(tmp_path / "checkpoint-10")


def test_the_saved_16_bit_adapter_rebuilds_the_same_policy(tmp_path):
    """A round's policy is carried (or shipped) as its adapter, 17.6 MB instead of ~2 GB:
    merging the saved folder over the start model gives the returned policy bit for bit."""
    import torch
    from safetensors.torch import load_file

    from backend.train.sft import ADAPTER_FILE, SFTTrainConfig, fine_tune, merge_adapter

    model, tokenizer = tiny()
    config = SFTTrainConfig(max_steps=2, grad_accum=1, lr=1e-2, threads=1)
    merged, _ = fine_tune(model, tokenizer, examples(), config, adapter_dir=tmp_path / "adapter")
    saved = load_file(str(tmp_path / "adapter" / ADAPTER_FILE))
    assert saved and all(t.dtype == torch.float16 for t in saved.values())
    assert any(t.abs().max() > 0 for k, t in saved.items() if "lora_B" in k), "B was trained"
    assert not (tmp_path / "adapter.partial").exists()

    fresh, _ = tiny()  # merged where the policy was trained (a GPU's merge rounds differently)
    rebuilt = merge_adapter(fresh.to(next(merged.parameters()).device), tmp_path / "adapter")
    want, got = merged.state_dict(), rebuilt.state_dict()
    assert want.keys() == got.keys()
    assert all(torch.equal(want[k], got[k]) for k in want)
    untouched, _ = tiny()
    assert any(not torch.equal(want[k].cpu(), v) for k, v in untouched.state_dict().items()), "it trained"


def test_a_folder_that_is_not_an_adapter_is_refused_with_the_reason(tmp_path):
    from backend.train.sft import merge_adapter

    model, _ = tiny()
    with pytest.raises(ValueError, match="not a saved LoRA adapter"):
        merge_adapter(model, tmp_path)


@pytest.mark.skipif(cuda_available(), reason="a CPU's setting: on a GPU the default is already bf16")
def test_bf16_on_a_cpu_autocasts_the_step_and_keeps_float32_weights(monkeypatch):
    """``bf16=True`` runs the forward pass in bfloat16 on a CPU too (the loss moves by
    bfloat16's rounding, not more) while the merged policy stays float32; None keeps a CPU in
    float32, as before the option existed."""
    import torch

    from backend.train.ppm_trainer import use_bf16
    from backend.train.sft import SFTTrainConfig, fine_tune

    # the tiny model's step is quick even on a CPU that emulates bfloat16
    monkeypatch.setattr("backend.train.ppm_trainer.cpu_has_fast_bf16", lambda: True)
    assert use_bf16(None) is torch.cuda.is_available() and use_bf16(False) is False
    losses = {}
    for bf16 in (None, True):
        model, tokenizer = tiny()
        config = SFTTrainConfig(max_steps=1, grad_accum=1, lr=1e-2, threads=1, bf16=bf16)
        merged, result = fine_tune(model, tokenizer, examples(), config)
        losses[bf16] = result.losses[0]
        assert {p.dtype for p in merged.parameters()} == {torch.float32}
    assert losses[True] != losses[None]  # the step ran in bfloat16
    assert losses[True] == pytest.approx(losses[None], rel=0.02)


def test_bf16_is_refused_on_a_cpu_that_would_emulate_it(monkeypatch):
    """A CPU without AVX-512 or AMX emulates bfloat16 (a matmul measured 100x slower than
    float32): asking for it there is an error that says so, never a silent crawl; float32 and
    the default are unaffected."""
    import torch

    from backend.train import ppm_trainer

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(ppm_trainer, "cpu_has_fast_bf16", lambda: False)
    with pytest.raises(ValueError, match="no fast bfloat16"):
        ppm_trainer.use_bf16(True)
    assert ppm_trainer.use_bf16(False) is False and ppm_trainer.use_bf16(None) is False
    monkeypatch.setattr(ppm_trainer, "cpu_has_fast_bf16", lambda: True)
    assert ppm_trainer.use_bf16(True) is True


def test_the_fast_bf16_check_agrees_with_the_cpu_flags():
    """oneDNN's check (AVX-512 or AMX) against /proc/cpuinfo, where the machine has one: a
    CPU with neither must not be taken for one with a fast bfloat16 path."""
    from pathlib import Path

    from backend.train.ppm_trainer import cpu_has_fast_bf16

    info = Path("/proc/cpuinfo")
    if not info.is_file():
        pytest.skip("no /proc/cpuinfo on this system")
    flags = set(info.read_text().split())
    if not flags & {"avx512f", "avx512_bf16", "amx_bf16"}:
        assert cpu_has_fast_bf16() is False
    elif flags & {"avx512_bf16", "amx_bf16"}:
        assert cpu_has_fast_bf16() is True
