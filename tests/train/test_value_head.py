"""CPL's value head: its loss and targets by hand, its data from a truth-mode tree, and that a
trained, saved head scores as tanh of its output (with the tiny Qwen2 of tiny.py)."""

from __future__ import annotations

import math

import pytest

from backend.reward import make_reward
from backend.search.cpl import CPLSearch
from backend.search.cpl_format import value_chunks
from backend.search.registry import make_config
from backend.tree import Tree
from tests.search.test_cpl import PA, PB, PROBLEM, engine
from tests.train.tiny import tiny_model_and_tokenizer

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from backend.reward.ppm import ProcessPreferenceModel  # noqa: E402
from backend.train.ppm_trainer import PPMTrainConfig  # noqa: E402
from backend.train.value_head import (  # noqa: E402
    CPLValue,
    ValueCollator,
    ValueExample,
    fit_value_head,
    save_value_head,
    token_values,
    value_examples,
    value_loss,
)


def test_value_loss_by_hand():
    values = torch.tensor([[0.5, 2.0, -1.0, 3.0]])
    targets = torch.tensor([[0.0, 1.0, -1.0, 0.0]])
    scored = torch.tensor([[0, 1, 1, 0]])
    want = ((math.tanh(2.0) - 1) ** 2 + (math.tanh(-1.0) + 1) ** 2) / (2 + 1e-3)
    assert value_loss(values, targets, scored).item() == pytest.approx(want, rel=1e-6)


def test_the_collator_puts_each_q_on_its_chunks_last_token_and_scores_nothing_else():
    _, tok = tiny_model_and_tokenizer()
    tok.eos_token = "<|endoftext|>"
    ex = ValueExample(("find x\n", "plan one\n", "step two good\n"), (0.5, -1.0))
    batch = ValueCollator(tok)([ex])
    lengths = [len(tok(c, add_special_tokens=False)["input_ids"]) for c in ex.chunks]
    ends = [sum(lengths[: i + 1]) - 1 for i in range(1, 3)]
    assert batch["input_ids"].shape[1] == sum(lengths) + 1  # EOS appended, not scored
    assert batch["scored"][0].nonzero().flatten().tolist() == ends
    assert batch["targets"][0, ends].tolist() == [0.5, -1.0]
    assert batch["input_ids"][0, -1].item() == tok.eos_token_id


def truth_tree():
    cfg = make_config("cpl", rollouts=3)
    s = CPLSearch(PROBLEM, engine=engine(), config=cfg, reward=make_reward("truth", "10"))
    s.run()
    return Tree.from_events(s.log.events)


def test_value_examples_are_the_answered_paths_with_each_steps_q():
    tree = truth_tree()
    found = value_examples(tree)
    by = {n.text: n for n in tree.nodes.values()}
    pb = "Plan 1: Subtract the eaten apples from the total."
    sol10 = "1. 3 * 4 = 12 apples.\n2. 12 - 2 = 10.\nThe final answer is \\boxed{10}."
    ex = next(e for e in found if pb in e.chunks[1] and "boxed{10}" in e.chunks[-1])
    assert list(ex.chunks) == value_chunks(PROBLEM, [pb], sol10)
    kid = next(tree.nodes[k] for k in by[PB].children if tree.nodes[k].answer == "10")
    assert ex.qs == (by[PB].q, kid.q) and kid.q == 1.0
    # the invalid leaves (BAD, NOBOX) and the unanswered plan give no example; PA's paths do
    assert all("guess" not in c for e in found for c in e.chunks)
    assert any("Count the apples" in e.chunks[1] for e in found) == (by[PA].n > 0)


def test_a_trained_head_saved_and_loaded_scores_tanh_of_its_value(tmp_path):
    model, tok = tiny_model_and_tokenizer()
    tok.eos_token = "<|endoftext|>"
    vm = ProcessPreferenceModel(model)
    examples = [
        ValueExample(("find x\n", "plan one\n"), (0.9,)),
        ValueExample(("find x\n", "bad guess\n"), (-0.9,)),
    ]
    batch = ValueCollator(tok)(examples)
    values = token_values(vm, batch["input_ids"], batch["attention_mask"])
    before = value_loss(values, batch["targets"], batch["scored"])
    losses = fit_value_head(vm, tok, examples, PPMTrainConfig(epochs=20, lr=1e-2, batch_size=2, threads=1))
    assert len(losses) == 20 and losses[-1] < before.item() and losses[-1] < losses[0]
    save_value_head(vm, tok, tmp_path / "v")
    head = CPLValue.load(tmp_path / "v")
    text = "find x\nplan one\n"
    ids = torch.tensor([tok(text, add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        raw = token_values(head.model, ids, torch.ones_like(ids))[0, -1].item()
    assert head.score_steps([text]) == [pytest.approx(math.tanh(raw), abs=1e-5)]
    assert head.score_steps([text])[0] > head.score_steps(["find x\nbad guess\n"])[0]


def test_runspec_hands_each_algorithm_only_its_own_kind_of_scorer(tmp_path):
    import json

    from backend.runspec import RunSpec, step_scorer_for

    for name, kind in (("value", "canopy-cpl-value"), ("ppm", "canopy-ppm")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "canopy_ppm.json").write_text(json.dumps({"format": kind}))
    with pytest.raises(ValueError, match="CPL takes a canopy-cpl-value directory and rStar-Math a PPM"):
        step_scorer_for(RunSpec(PROBLEM, algorithm="rstar", ppm=str(tmp_path / "value")), engine())
    with pytest.raises(ValueError, match="CPL takes a canopy-cpl-value directory and rStar-Math a PPM"):
        step_scorer_for(RunSpec(PROBLEM, algorithm="cpl", ppm=str(tmp_path / "ppm")), engine())
    # CPL has no default value head: "default" gives none and says nothing
    assert step_scorer_for(RunSpec(PROBLEM, algorithm="cpl"), engine()) == (None, None)
