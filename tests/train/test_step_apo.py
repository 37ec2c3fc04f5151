"""Step-APO: pairs read off a search tree as the official data script builds them, and the loss."""

from __future__ import annotations

import math

import pytest

from backend import events as ev
from backend.events import EventLog
from backend.train.pairs_io import write_pairs
from backend.train.step_apo import SOLUTION_WEIGHT, apo_prompt, step_pairs, step_text
from backend.tree import Tree
from tests.train.tiny import tiny_model_and_tokenizer

HEAD = "<question>\nFind x.\n</question>\n<plan>\n"


def events_of(rows) -> list[ev.Event]:
    """rows: (id, parent, kind, text, status, answer, q, reason)."""
    log = EventLog()
    log.emit(ev.RunStarted, run_id="r", algorithm="cpl", problem="Find x.")
    log.emit(ev.NodeAdded, id=0, parent=None, kind="root", text="Find x.")
    for nid, parent, kind, text, status, answer, q, reason in rows:
        log.emit(ev.NodeAdded, id=nid, parent=parent, kind=kind, text=text)
        detail = {"reason": reason} if reason else {}
        log.emit(ev.NodeVerified, id=nid, status=status, method="format", answer=answer, detail=detail)
        log.emit(ev.Backprop, iteration=1, path=[0, nid], reward=q, updated=[[nid, 1, q]])
    return log.events


def tree_of(rows) -> Tree:
    return Tree.from_events(events_of(rows))


ROWS = [
    (1, 0, "plan", "Plan 1: isolate x<endstep>", "ok", None, 0.5, None),
    (2, 0, "plan", "Plan 1: guess", "ok", None, -0.5, None),
    (3, 0, "plan", "Plan 1: square both sides", "ok", None, -0.2, None),
    (4, 0, "answer", "Detailed Implementation: x = 2.", "answered", "2", 1.0, None),  # root: no solutions
    (5, 0, "plan", "Plan 1: broken", "error", None, 0.9, "invalid"),  # invalid: never paired
    (6, 1, "answer", "Detailed Implementation: x = 2. \\boxed{2}<endsolution>", "answered", "2", 1.0, None),
    (7, 1, "answer", "Detailed Implementation: x = 3. \\boxed{3}<endsolution>", "answered", "3", -1.0, None),
    (8, 1, "plan", "Plan 2: check", "ok", None, 0.3, None),
    (9, 2, "plan", "Plan 2: try 1", "ok", None, 0.4, None),
    (10, 2, "answer", "Detailed Implementation: \\boxed{5}", "answered", "5", -1.0, None),
    (11, 3, "plan", "Plan 2: deeper", "ok", None, 0.5, "too_deep"),  # official TOO_MANY_STEPS
    (12, 3, "plan", "Plan 2: other", "ok", None, -0.5, None),
]


def test_pairs_follow_the_official_rules():
    pairs = step_pairs(tree_of(ROWS))
    got = {(p.chosen_id, p.rejected_id) for p in pairs}
    # root: every Q>0 plan against every Q<0 plan (the solution and the invalid step stay out);
    # under 1 a solution is among the children: only max-Q vs min-Q (both solutions);
    # under 2 max and min are of different kinds: none; under 3 one valid child: none
    assert got == {(1, 2), (1, 3), (6, 7)}
    by = {(p.chosen_id, p.rejected_id): p for p in pairs}
    root_pair, solution_pair = by[(1, 2)], by[(6, 7)]
    assert root_pair.prompt == HEAD + "<step>\n"
    assert (root_pair.chosen, root_pair.rejected) == ("isolate x", "guess")
    assert (root_pair.q_chosen, root_pair.q_rejected, root_pair.solution) == (0.5, -0.5, False)
    assert solution_pair.prompt == HEAD + "<step>\nisolate x</step>\n</plan>\n<solution>\n"
    assert solution_pair.chosen == "x = 2. \\boxed{2}"
    assert solution_pair.solution
    assert solution_pair.q_chosen == pytest.approx(1.0 * SOLUTION_WEIGHT)
    assert solution_pair.q_rejected == pytest.approx(-1.0 * SOLUTION_WEIGHT)


def test_no_pairs_unless_values_straddle_zero():
    rows = [
        (1, 0, "plan", "Plan 1: a", "ok", None, 0.5, None),
        (2, 0, "plan", "Plan 1: b", "ok", None, 0.1, None),
        (3, 0, "plan", "Plan 1: c", "ok", None, 0.0, None),
    ]
    assert step_pairs(tree_of(rows)) == []
    assert step_pairs(Tree()) == []


def test_prompts_nest_the_plan_steps_in_order():
    assert apo_prompt("Q", [], solution=False) == "<question>\nQ\n</question>\n<plan>\n<step>\n"
    assert apo_prompt("Q", ["a", "b"], solution=False) == (
        "<question>\nQ\n</question>\n<plan>\n<step>\na</step>\n<step>\nb</step>\n<step>\n"
    )
    assert apo_prompt("Q", ["a"], solution=True).endswith("<step>\na</step>\n</plan>\n<solution>\n")


def test_step_text_drops_labels_headers_and_end_tags():
    t = tree_of(ROWS)
    assert step_text(t.nodes[1]) == "isolate x"
    assert step_text(t.nodes[6]) == "x = 2. \\boxed{2}"


def test_pairs_are_written_as_json_lines(tmp_path):
    import json

    pairs = step_pairs(tree_of(ROWS))
    path = tmp_path / "pairs.jsonl"
    assert write_pairs(pairs, path) == 3
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert {r["chosen_id"] for r in rows} == {1, 6}
    assert set(rows[0]) == {
        "prompt",
        "chosen",
        "rejected",
        "q_chosen",
        "q_rejected",
        "solution",
        "chosen_id",
        "rejected_id",
    }


def test_canopy_pairs_writes_the_pairs_of_stored_runs(tmp_path, capsys):
    import json

    from backend.cli import main
    from backend.events import write_jsonl

    db, src, out = str(tmp_path / "h.sqlite"), tmp_path / "run.jsonl", tmp_path / "pairs.jsonl"
    write_jsonl(events_of(ROWS), src)
    assert main(["import", str(src), "--db", db]) == 0
    run_id = capsys.readouterr().out.strip().rsplit(" ", 1)[-1]
    assert main(["pairs", run_id, "--out", str(out), "--db", db]) == 0
    assert f"{run_id}: 3 pairs" in capsys.readouterr().out
    assert len([json.loads(line) for line in out.read_text().splitlines()]) == 3
    assert main(["pairs", "nope", "--out", str(out), "--db", db]) == 2
    assert "no stored run 'nope'" in capsys.readouterr().err


def test_a_cpl_search_in_training_data_mode_yields_pairs_of_siblings():
    from backend.search.registry import make_config
    from backend.solve import solve
    from tests.search.test_cpl import PROBLEM, engine

    cfg = make_config("cpl", rollouts=6)
    result = solve(PROBLEM, algorithm="cpl", engine=engine(), config=cfg, reward="truth", reference="10")
    tree = Tree.from_events(result.events)
    pairs = step_pairs(tree)
    assert pairs, "a truth-rewarded CPL tree with right and wrong answers gives pairs"
    for p in pairs:
        w, lose = tree.nodes[p.chosen_id], tree.nodes[p.rejected_id]
        assert w.parent == lose.parent and w.q > 0 > lose.q
        assert p.prompt.startswith(f"<question>\n{PROBLEM}\n</question>")
        if p.solution:
            assert "\\boxed{10}" in p.chosen and p.q_chosen == pytest.approx(w.q * SOLUTION_WEIGHT)


# --- the loss ---------------------------------------------------------------------------

torch = pytest.importorskip("torch")


def _loss(**kw):
    from backend.train.step_apo import step_apo_loss

    t = {k: torch.tensor(v, dtype=torch.float64) for k, v in kw.items() if isinstance(v, list)}
    opts = {k: v for k, v in kw.items() if not isinstance(v, list)}
    return step_apo_loss(t["pc"], t["pr"], t["rc"], t["rr"], t["qc"], t["qr"], **opts)


def test_with_alpha_zero_it_is_dpo():
    pc, pr, rc, rr = [-3.0, -1.0], [-4.0, -0.5], [-3.5, -1.2], [-3.0, -0.7]
    got = _loss(pc=pc, pr=pr, rc=rc, rr=rr, qc=[0.9, 0.2], qr=[-0.9, -0.4], alpha=0.0, beta=0.3)
    for k in range(2):
        h = (pc[k] - rc[k]) - (pr[k] - rr[k])
        assert got[k].item() == pytest.approx(math.log1p(math.exp(-0.3 * h)))


def test_the_value_gap_is_a_margin():
    zero = [0.0]
    loss = _loss(pc=zero, pr=zero, rc=zero, rr=zero, qc=[1.0], qr=[-1.0])  # alpha 1: z = -2
    assert loss.item() == pytest.approx(math.log1p(math.exp(2.0)))
    smaller_gap = _loss(pc=zero, pr=zero, rc=zero, rr=zero, qc=[0.2], qr=[-0.2])
    assert smaller_gap.item() < loss.item()  # a bigger gap asks for more separation
    smoothed = _loss(pc=zero, pr=zero, rc=zero, rr=zero, qc=[1.0], qr=[-1.0], label_smoothing=0.1)
    assert smoothed.item() == pytest.approx(
        0.9 * math.log1p(math.exp(2.0)) + 0.1 * math.log1p(math.exp(-2.0))
    )


def test_the_gradient_raises_the_chosen_and_lowers_the_rejected():
    from backend.train.step_apo import step_apo_loss

    pc = torch.tensor([-2.0], requires_grad=True)
    pr = torch.tensor([-2.0], requires_grad=True)
    zero = torch.zeros(1)
    step_apo_loss(pc, pr, zero, zero, torch.tensor([0.5]), torch.tensor([-0.5])).sum().backward()
    assert pc.grad.item() < 0 < pr.grad.item()


# --- log-probs of a real (tiny, randomly initialised) causal LM ---------------------------


def test_sequence_logps_scores_only_the_completion_and_ignores_padding():
    from backend.train.step_apo import sequence_logps

    model, tokenizer = tiny_model_and_tokenizer()
    prompts, completions = ["find x plan", "find x"], ["isolate x", "guess one step add"]
    with torch.no_grad():
        got = sequence_logps(model, tokenizer, prompts, completions)
        for k, (p, c) in enumerate(zip(prompts, completions, strict=True)):
            p_ids = tokenizer(p, add_special_tokens=False)["input_ids"]
            ids = torch.tensor([p_ids + tokenizer(c, add_special_tokens=False)["input_ids"]])
            logps = torch.log_softmax(model(input_ids=ids).logits[0, :-1], -1)
            want = sum(logps[t - 1, ids[0, t]].item() for t in range(len(p_ids), ids.shape[1]))
            assert got[k].item() == pytest.approx(want, abs=1e-4)


def test_a_few_optimiser_steps_on_the_loss_prefer_the_chosen_step():
    import copy

    from backend.train.step_apo import sequence_logps, step_apo_loss

    model, tokenizer = tiny_model_and_tokenizer()
    reference = copy.deepcopy(model)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    prompts, chosen, rejected = ["find x plan"], ["isolate x"], ["guess one"]
    q = torch.tensor([0.8]), torch.tensor([-0.6])
    with torch.no_grad():
        ref_c = sequence_logps(reference, tokenizer, prompts, chosen)
        ref_r = sequence_logps(reference, tokenizer, prompts, rejected)
    losses = []
    for _ in range(15):
        pc = sequence_logps(model, tokenizer, prompts, chosen)
        pr = sequence_logps(model, tokenizer, prompts, rejected)
        loss = step_apo_loss(pc, pr, ref_c, ref_r, *q).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] * 0.5
    with torch.no_grad():
        margin = (sequence_logps(model, tokenizer, prompts, chosen) - ref_c) - (
            sequence_logps(model, tokenizer, prompts, rejected) - ref_r
        )
    assert margin.item() > 0


def test_sequence_logps_builds_its_batch_on_the_models_device():
    """A GPU stand-in: a model whose weights are on the meta device (no data, any machine) and
    that refuses inputs from elsewhere, as a CUDA model refuses CPU tensors."""
    from types import SimpleNamespace

    from backend.train.step_apo import sequence_logps

    _, tokenizer = tiny_model_and_tokenizer()
    vocab = len(tokenizer)

    class OnMeta(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.empty(vocab, device="meta"))

        def forward(self, input_ids, attention_mask):
            assert input_ids.device == attention_mask.device == self.w.device, "not on the model device"
            return SimpleNamespace(logits=torch.zeros(*input_ids.shape, vocab, device="meta") + self.w)

    got = sequence_logps(OnMeta(), tokenizer, ["find x", "a"], ["isolate x", "b c"])
    assert got.device.type == "meta" and got.shape == (2,)
