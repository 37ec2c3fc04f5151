"""CPL with a value head: the official one-leaf-per-iteration loop, the leaf's estimate backed
up before its expansion (numbers by hand), and the round-2 XML step format."""

from __future__ import annotations

import pytest

from backend import events as ev
from backend.engines.base import Completion
from backend.engines.scripted import Rule, ScriptedEngine
from backend.reward import make_reward
from backend.search.cpl import VALUE_FORMAT, CPLSearch
from backend.search.cpl_format import XML_STOPS, read_xml_step, value_chunks
from backend.search.registry import make_config
from backend.tree import Tree
from tests.search.test_cpl import PA, PB, PROBLEM, SOL10, engine


class FakeValue:
    """A value head's stand-in: a fixed value per path, every text it was asked recorded."""

    name = "value_head"
    format = VALUE_FORMAT

    def __init__(self) -> None:
        self.asked: list[str] = []

    def score_steps(self, texts):
        self.asked += texts
        out = []
        for t in texts:
            if "Subtract the eaten" in t:
                out.append(0.6)
            elif "Count the apples" in t:
                out.append(-0.4)
            else:
                out.append(0.2)
        return out


def test_each_iteration_values_one_leaf_backs_it_up_then_expands_it():
    head = FakeValue()
    s = CPLSearch(PROBLEM, engine=engine(), config=make_config("cpl", expansions=3),
                  reward=make_reward("truth", "10"), step_scorer=head)
    s.run()
    tree = Tree.from_events(s.log.events)
    by = {n.text: n for n in tree.nodes.values()}
    # iteration 0: the root (0.2), then its 4 children (BAD and NOBOX: −1 each to the root);
    # iteration 1: PB (likeliest prior) 0.6, then SOL10 +1 and SOL12 −1;
    # iteration 2: PA (unvisited: its exploration term wins) −0.4, then SOL10 +1, SOL12 −1, PA2
    q = (0.2 - 1 - 1 + 0.6 + 1 - 1 - 0.4 + 1 - 1) / 9
    assert tree.nodes[0].n == 9 and tree.nodes[0].q == pytest.approx(q, abs=1e-6)
    assert (by[PB].n, by[PB].q) == (3, pytest.approx(0.2, abs=1e-6))
    assert (by[PA].n, by[PA].q) == (3, pytest.approx(-0.4 / 3, abs=1e-6))
    assert by["Plan 2: Subtract the 2 eaten apples.<endstep>"].n == 0  # a new step gets no value
    assert s.state.iteration == 3 and s.expansions == 3  # one leaf per iteration
    # the head read each leaf as the official value data renders it
    assert head.asked[0] == value_chunks(PROBLEM, [])[0]
    pb_path = ["Plan 1: Subtract the eaten apples from the total."]
    assert head.asked[1] == "".join(value_chunks(PROBLEM, pb_path))
    assert len(head.asked) == 3
    # PB's estimate came before its children existed (backed up before the expansion)
    events = s.log.events
    scored = next(i for i, e in enumerate(events) if isinstance(e, ev.NodeScored) and e.id == by[PB].id)
    first_kid = next(i for i, e in enumerate(events) if isinstance(e, ev.NodeAdded) and e.parent == by[PB].id)
    assert events[scored].source == "value_head" and scored < first_kid


def chain_engine():
    """One candidate per step, a solution only after three plan steps (depth 4)."""
    steps = [f"Plan {k}: Work on part {k}.<endstep>" for k in (1, 2, 3)]
    return ScriptedEngine([
        Rule(lambda t: t.endswith(steps[2] + "\n"), [SOL10]),
        Rule(lambda t: t.endswith(steps[1] + "\n"), [steps[2]]),
        Rule(lambda t: t.endswith(steps[0] + "\n"), [steps[1]]),
        Rule(lambda t: t.endswith("<|im_start|>assistant\nPlans:\n"), [steps[0]]),
    ])


def test_with_a_head_each_rollout_buys_max_depth_leaves_so_a_small_budget_still_answers():
    # one leaf a rollout stopped this search after one leaf with no answer (a real evolve
    # round's held-out search answered nothing): a rollout is max_depth leaves now
    cfg = make_config("cpl", rollouts=1, children=1, root_children=1, max_depth=6)
    s = CPLSearch(PROBLEM, engine=chain_engine(), config=cfg, reward=make_reward("vote"),
                  step_scorer=FakeValue())
    assert s.leaf_budget() == 6
    fin = s.run()
    assert fin.answer == "10" and s.expansions == 4  # root, three plans: the 4th leaf answers
    notes = [e.message for e in s.log.events if isinstance(e, ev.Note)]
    assert any("budget 6 leaves (rollouts 1 × max_depth 6)" in m for m in notes)
    # the budget binds: two leaves (rollouts 1 × max_depth 2) stop before the solution
    short = CPLSearch(PROBLEM, engine=chain_engine(), reward=make_reward("vote"), step_scorer=FakeValue(),
                      config=make_config("cpl", rollouts=1, children=1, root_children=1, max_depth=2))
    assert short.run().answer is None and short.state.iteration == 2
    # without a head a rollout is one root-to-terminal walk, as before
    plain = CPLSearch(PROBLEM, engine=chain_engine(), config=cfg, reward=make_reward("vote"))
    assert plain.run().answer == "10" and plain.state.iteration == 1


def test_cpl_refuses_a_scorer_that_is_not_a_cpl_value_head():
    class PPMLike:
        name = "ppm"

        def score_steps(self, texts):
            return [0.0] * len(texts)

    with pytest.raises(ValueError, match="CPL takes a CPL value head"):
        CPLSearch(PROBLEM, engine=engine(), step_scorer=PPMLike())


# --- the round-2 XML format -------------------------------------------------------------------

X1 = "<plan>\n<step>\nPlan 1: Count the apples in the bags.\n</step>"
X2 = "<step>\nPlan 2: Subtract the 2 eaten apples.\n</step>"
XSOL = "</plan>\n<solution>\n1. 3 * 4 - 2 = 10.\nThe final answer is \\boxed{10}.\n</solution>"


def test_read_xml_step_cases():
    def read(text, stop):
        return read_xml_step(Completion(text.removesuffix(stop or ""), 5, None, "stop", stop))

    plan = read(X1, "</step>")
    assert plan.kind == "plan" and plan.context == X1 + "\n"  # official step_delim "</step>\n"
    sol = read(XSOL, "</solution>")
    assert (sol.kind, sol.answer) == ("solution", "10")
    cites = read("<step>\nPlan 3: use the result of Plan 1\n", "</step>")
    assert cites.kind == "plan"  # a later plan citing an earlier one is one plan (official)
    for text, stop, why in [
        ("<step>\nPlan 1: a\nPlan 2: b\n", "</step>", "several plan steps"),
        ("<step>\nPlan 1: a\n</step>\n<solution>\n\\boxed{1}", "</solution>", "in one step"),
        ("<solution>\n1. no answer here\n", "</solution>", "boxed"),
        ("just text\n", "</step>", "neither"),
        ("<step>\nPlan 1: cut", None, "did not end"),
    ]:
        step = read(text, stop)
        assert step.kind in ("invalid", "solution") and why in step.why, text


def test_an_xml_search_uses_the_xml_prompt_stops_and_context():
    eng = ScriptedEngine([
        Rule(lambda t: t.endswith(X2 + "\n"), [XSOL]),
        Rule(lambda t: t.endswith(X1 + "\n"), [X2]),
        Rule(lambda t: t.endswith(f"{PROBLEM}\n</question>\n<|im_end|>\n<|im_start|>assistant\n"), [X1]),
    ])
    s = CPLSearch(PROBLEM, engine=eng, config=make_config("cpl", rollouts=1, step_format="xml"))
    s.run()
    assert s.outcome().answer == "10"
    assert eng.calls[0]["stop"] == list(XML_STOPS)
    assert "<question>\nNatalia sold clips" in eng.calls[0]["prompts"][0]  # XML demonstrations
    assert eng.calls[-1]["prompts"][0].endswith(X1 + "\n" + X2 + "\n")
    assert make_config("cpl", "paper-round2").step_format == "xml"
