"""Step-APO through TRL's DPOTrainer (``StepAPOTrainer``): on a batch, its loss is
``step_apo_loss`` of the policy's and the frozen reference's sequence log-probabilities (with
the Q margin), and one optimiser step changes the model (tiny Qwen2 of tiny.py)."""

from __future__ import annotations

import copy

import pytest

from backend.train.step_apo import StepPair, sequence_logps, step_apo_loss
from tests.train.tiny import tiny_model_and_tokenizer

torch = pytest.importorskip("torch")
pytest.importorskip("trl")
pytest.importorskip("datasets")

from backend.train.step_apo_trainer import StepAPOConfig, make_trainer, train_step_apo  # noqa: E402

PAIRS = [
    StepPair("find x plan\n", "isolate x", "guess bad", 0.8, -0.6, False, 1, 2),
    StepPair("Let x be\n", "add one", "guess", 0.5, -1.0, False, 3, 4),
]


def model_and_tokenizer():
    model, tok = tiny_model_and_tokenizer()
    tok.eos_token = "<|endoftext|>"
    return model, tok


def expected_loss(model, ref, tok, alpha):
    eos = tok.eos_token  # TRL appends EOS to both completions
    prompts = [p.prompt for p in PAIRS]
    chosen, rejected = [p.chosen + eos for p in PAIRS], [p.rejected + eos for p in PAIRS]
    with torch.no_grad():  # on the CPU: the Trainer may have moved ``model`` to a GPU
        logps = [sequence_logps(m, tok, prompts, c).cpu() for m in (model, ref) for c in (chosen, rejected)]
    q_w = torch.tensor([p.q_chosen for p in PAIRS])
    q_l = torch.tensor([p.q_rejected for p in PAIRS])
    return step_apo_loss(*logps, q_w, q_l, beta=0.3, alpha=alpha).mean().item()


@pytest.mark.parametrize("alpha", [1.0, 0.0])
def test_the_trainers_loss_is_step_apo_on_the_same_batch(tmp_path, alpha):
    model, tok = model_and_tokenizer()
    with torch.no_grad():  # move the policy off the reference so the log-ratios are not zero
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    ref = copy.deepcopy(model)
    trainer = make_trainer(model, tok, PAIRS, StepAPOConfig(batch_size=2, alpha=alpha), str(tmp_path))
    batch = next(iter(trainer.get_train_dataloader()))
    assert set(batch) >= {"q_chosen", "q_rejected", "ref_chosen_logps", "ref_rejected_logps"}
    with torch.no_grad():
        got = trainer.compute_loss(trainer.model, batch).item()
    # on a GPU TRL computes the reference log-probs under bfloat16 autocast: its rounding, not more
    bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    assert got == pytest.approx(expected_loss(model, ref, tok, alpha), rel=2e-3 if bf16 else 1e-4)


@pytest.mark.parametrize("lora_rank", [None, 4])
def test_one_step_apo_step_changes_the_model(tmp_path, lora_rank):
    model, tok = model_and_tokenizer()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    config = StepAPOConfig(batch_size=2, max_steps=1, lr=1e-3, threads=1, lora_rank=lora_rank)
    model, losses, _ = train_step_apo(model, tok, PAIRS, config)
    assert len(losses) == 1
    # at the first step the policy is the reference: h = 0, so the loss is -log σ(α (Q_l - Q_w))
    margin = torch.tensor([p.q_rejected - p.q_chosen for p in PAIRS])
    assert losses[0] == pytest.approx(torch.nn.functional.softplus(-margin).mean().item(), rel=1e-3)
    assert set(model.state_dict()) == set(before)  # LoRA adapters merged: a plain causal LM again
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k].to(v.device))]
    assert changed, "one Step-APO step left every weight as it was"


class Killed(Exception):
    """Stands for the process being killed mid-training (raised from the progress hook)."""


@pytest.mark.parametrize("lora_rank", [None, 4])
def test_a_step_apo_run_killed_mid_way_resumes_from_its_checkpoint_to_the_same_model(tmp_path, lora_rank):
    """Four steps with a checkpoint every two: killed at step 3 and called again with the same
    folder, the run does steps 3-4 only (the frozen reference is still the model handed in)
    and ends with the uninterrupted run's weights and losses."""
    config = StepAPOConfig(batch_size=1, max_steps=4, lr=1e-3, threads=1, lora_rank=lora_rank)
    whole, whole_losses, _ = train_step_apo(*model_and_tokenizer(), PAIRS * 2, config)

    def kill_at_3(step, steps, loss):
        if step == 3:
            raise Killed

    folder = tmp_path / "policy-apo.checkpoints"
    with pytest.raises(Killed):
        train_step_apo(*model_and_tokenizer(), PAIRS * 2, config, progress=kill_at_3, checkpoints=folder,
                       save_every=2)
    steps = []
    resumed, losses, _ = train_step_apo(*model_and_tokenizer(), PAIRS * 2, config, checkpoints=folder,
                                        save_every=2, progress=lambda step, *_: steps.append(step))
    assert steps == [3, 4] and losses == pytest.approx(whole_losses)
    want = whole.state_dict()
    assert all(torch.allclose(v, want[k], atol=1e-6) for k, v in resumed.state_dict().items())


def test_a_step_capped_run_scores_the_reference_only_on_the_pairs_its_steps_reach():
    from backend.train.step_apo_trainer import pairs_within_budget

    many = [StepPair(f"p{i}\n", f"c{i}", f"r{i}", 0.5, -0.5, False, i, i + 1) for i in range(10)]
    capped = pairs_within_budget(many, StepAPOConfig(max_steps=2, batch_size=1, grad_accum=2, seed=3))
    assert len(capped) == 4 and len(set(capped)) == 4
    assert capped == [p for p in many if p in capped]  # in their order
    assert capped == pairs_within_budget(many, StepAPOConfig(max_steps=2, grad_accum=2, seed=3))  # seeded
    assert capped != pairs_within_budget(many, StepAPOConfig(max_steps=2, grad_accum=2, seed=4))
    assert pairs_within_budget(many, StepAPOConfig()) == many  # no cap: every pair (epochs)
    assert pairs_within_budget(many, StepAPOConfig(max_steps=20)) == many  # the cap reaches them all


def test_a_capped_trainer_precomputes_the_reference_on_the_reached_pairs_only(monkeypatch):
    from backend.train import step_apo_trainer as sat

    model, tok = model_and_tokenizer()
    many = [StepPair(f"Let x be {i}\n", "add one", "guess", 0.5, -1.0, False, i, i + 1) for i in range(6)]
    rows = []
    original = sat.StepAPOTrainer.compute_ref_log_probs

    def counting(self, m, inputs):
        rows.append(int(inputs["input_ids"].shape[0]))
        return original(self, m, inputs)

    monkeypatch.setattr(sat.StepAPOTrainer, "compute_ref_log_probs", counting)
    _, losses, _ = train_step_apo(model, tok, many, StepAPOConfig(max_steps=2, lr=1e-3, threads=1))
    assert len(losses) == 2
    assert sum(rows) == 2 * 2  # 2 pairs reached, chosen + rejected each: not all 6 pairs
