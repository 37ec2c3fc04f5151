"""The MCTS core on a toy policy: selection, backpropagation, terminals, budgets, events."""

from __future__ import annotations

import math

import pytest

from backend import events as ev
from backend.reward import TruthReward
from backend.search.mcts import MCTSConfig, MNode
from backend.search.selection import pick, puct_terms, selection_scores, uct_terms
from backend.tree import Tree
from tests.search.helpers import Toy, ToySearch

# root -> A (step), B (bad); A -> A1 "5", A2 "5", A3 (step); A3 -> A3a "7"
TREE = {
    "root": [Toy("A"), Toy("B", "bad")],
    "A": [Toy("A1", "answer", "5"), Toy("A2", "answer", "5"), Toy("A3")],
    "A3": [Toy("A3a", "answer", "7")],
}


def by_text(search):
    return {n.state["label"]: n for n in search.nodes.values()}


def test_backprop_matches_hand_computed_q_and_n():
    s = ToySearch(TREE, config=MCTSConfig(rollouts=5, children=3))
    s.run()
    n = by_text(s)
    # A1, A2 found together: 2 answers, both "5": vote (2*2 - 2 - 1)/2 = 0.5 each.
    # A3a "7" then: total 3, same 1: (2 - 3 - 1)/3 = -2/3.
    assert (n["A1"].n, n["A1"].q) == (1, 0.5)
    assert (n["A2"].n, n["A2"].q) == (1, 0.5)
    assert n["A3a"].n == 1 and n["A3a"].q == pytest.approx(-2 / 3)
    assert n["A3"].n == 1 and n["A3"].q == pytest.approx(-2 / 3)
    assert n["A"].n == 3 and n["A"].q == pytest.approx((0.5 + 0.5 - 2 / 3) / 3)
    assert s.root.n == 3 and s.root.q == pytest.approx(1 / 9)
    # the failing step B: negative reward on itself only, never backed up
    assert (n["B"].n, n["B"].q) == (1, -1.0)
    # one rollout exhausted the tree (every leaf terminal): the run ends early
    assert s.state.iteration == 1 and s.exhausted() == "tree"
    assert s.outcome().answer == "5" and s.outcome().votes == {"5": 2.0, "7": 1.0}


def test_backprop_events_carry_n_and_q_after_update():
    s = ToySearch(TREE, config=MCTSConfig(rollouts=1, children=3))
    s.run()
    bps = [e for e in s.log.events if isinstance(e, ev.Backprop)]
    last = bps[-1]
    assert last.reward == pytest.approx(-2 / 3, abs=1e-6)
    assert last.updated[0] == [0, 3, pytest.approx(1 / 9, abs=1e-6)]
    assert [row[0] for row in last.updated] == last.path


def test_uct_hand_made_statistics():
    parent = MNode(0, None, 0, "root", n=10)
    for i, (n, q) in enumerate([(0, 0.0), (3, 0.2), (5, 0.5)], 1):
        parent.children.append(MNode(i, parent, 1, "step", n=n, value_sum=q * n))
    rows = selection_scores(parent, 2.0, "uct")
    assert rows[0]["score"] == 0.0  # unvisited: Q and U are 0 (official), not infinity
    assert rows[1]["u_term"] == pytest.approx(2 * math.sqrt(math.log(10) / 3), abs=1e-6)
    assert rows[1]["score"] == pytest.approx(0.2 + 2 * math.sqrt(math.log(10) / 3), abs=1e-6)
    assert rows[2]["score"] == pytest.approx(0.5 + 2 * math.sqrt(math.log(10) / 5), abs=1e-6)
    assert pick(rows) == 1


def test_uct_unvisited_beats_a_bad_child_and_ties_go_first():
    assert uct_terms(0, 0, 0.0, 2.0) == (0.0, 0.0)
    assert uct_terms(2, 2, -0.9, 0.1) == (-0.9, pytest.approx(0.1 * math.sqrt(math.log(2) / 2)))
    rows = [{"score": -0.8}, {"score": 0.0}, {"score": 0.0}]
    assert pick(rows) == 1  # the first of the tied unvisited children
    assert pick([]) is None


def test_puct_uses_priors():
    q, u = puct_terms(9, 0, 0.0, 0.5, 1.5)
    assert (q, u) == (0.0, pytest.approx(1.5 * 0.5 * 3 / 1))
    parent = MNode(0, None, 0, "root", n=4)
    parent.children += [MNode(1, parent, 1, "step", prior=0.2), MNode(2, parent, 1, "step", prior=0.8)]
    rows = selection_scores(parent, 1.5, "puct")
    assert [r["prior"] for r in rows] == [0.2, 0.8] and pick(rows) == 1


def test_terminal_children_are_never_selected():
    s = ToySearch(TREE, config=MCTSConfig(rollouts=3, children=3))
    s.run()
    selected = {i for e in s.log.events if isinstance(e, ev.NodeSelected) for i in e.path}
    n = by_text(s)
    assert not selected & {n["B"].id, n["A1"].id, n["A2"].id, n["A3a"].id}
    for e in s.log.events:
        if isinstance(e, ev.NodeSelected):
            for level in e.children:
                assert {"id", "n", "q", "prior", "q_term", "u_term", "score"} <= set(level[0])


def test_failing_step_is_kept_marked_and_never_expanded():
    s = ToySearch(TREE, config=MCTSConfig(rollouts=3, children=3))
    s.run()
    b = by_text(s)["B"]
    assert b.terminal and b.reason == "error" and not b.expanded and not b.children
    tree = Tree.from_events(s.log.events)
    assert tree.nodes[b.id].status == "error" and tree.nodes[b.id].terminal
    assert not any(p == b.id for p in (n.parent for n in tree.nodes.values()))
    assert "B" not in [c["prompts"][0] for c in s.engine.calls]


def test_one_engine_call_per_expansion_with_n_children():
    s = ToySearch(TREE, config=MCTSConfig(rollouts=2, children=3))
    s.run()
    expanded = [n for n in s.nodes.values() if n.expanded]
    assert len(s.engine.calls) == len(expanded) == 3  # root, A, A3
    assert all(c["n"] == 3 and len(c["prompts"]) == 1 for c in s.engine.calls)


def test_too_deep_steps_end_the_path():
    chain = {"root": [Toy("s1")], "s1": [Toy("s2")], "s2": [Toy("s3")]}
    s = ToySearch(chain, config=MCTSConfig(rollouts=4, children=1, max_depth=2))
    s.run()
    n = by_text(s)
    assert n["s3"].terminal and n["s3"].reason == "too_deep" and n["s3"].q == -1.0
    assert not n["s3"].expanded
    assert s.outcome().answer is None
    assert s.finish().status == "exhausted"


def test_rollout_budget_and_step_api():
    deep = {"root": [Toy("a"), Toy("b")], "a": [Toy("a1", "answer", "1")], "b": [Toy("b1", "answer", "2")]}
    s = ToySearch(deep, config=MCTSConfig(rollouts=1, children=2))
    s.start()
    assert not s.done
    events = s.step()
    assert isinstance(events[-1], ev.IterationDone) and events[-1].iteration == 0
    assert s.done and s.exhausted() == "rollouts" and s.step() == []


def test_token_budget_stops_between_engine_calls():
    deep = {"root": [Toy("a")], "a": [Toy("b")], "b": [Toy("c")], "c": [Toy("d", "answer", "1")]}
    s = ToySearch(deep, config=MCTSConfig(rollouts=5, children=1, token_budget=2))
    fin = s.run()
    assert len(s.engine.calls) == 2 and fin.stats["budget"] == "tokens"


def test_request_stop_is_honoured_before_the_next_engine_call():
    deep = {"root": [Toy("a")], "a": [Toy("b")], "b": [Toy("c")], "c": [Toy("d", "answer", "1")]}
    s = ToySearch(deep, config=MCTSConfig(rollouts=5, children=1))
    s.log.subscribe(lambda e: s.request_stop() if isinstance(e, ev.NodeAdded) and e.text == "b" else None)
    fin = s.run()
    assert len(s.engine.calls) == 2 and fin.status == "stopped"
    assert isinstance(s.log.events[-2], ev.IterationDone)


def test_time_limit():
    s = ToySearch(TREE, config=MCTSConfig(rollouts=5, children=3, time_limit_s=1e-9))
    fin = s.run()
    assert fin.stats["budget"] == "time" and s.engine.calls == []


def test_events_replay_to_the_same_tree():
    s = ToySearch(TREE, config=MCTSConfig(rollouts=3, children=3))
    live = Tree()
    s.log.subscribe(live.apply)
    s.run()
    replay = Tree.from_events(s.log.events)
    assert {k: v.summary() for k, v in replay.nodes.items()} == {
        k: v.summary() for k, v in live.nodes.items()
    }
    for node in s.nodes.values():
        assert (replay.nodes[node.id].n, replay.nodes[node.id].q) == (node.n, pytest.approx(node.q, abs=1e-6))
    assert replay.finished is not None and replay.best_path() == s.outcome().best_path


def test_truth_reward_scores_plus_minus_one():
    s = ToySearch(TREE, config=MCTSConfig(rollouts=1, children=3), reward=TruthReward("7"))
    s.run()
    n = by_text(s)
    assert n["A1"].q == -1.0 and n["A3a"].q == 1.0
    started = s.log.events[0]
    assert isinstance(started, ev.RunStarted) and started.reward == "truth"


def test_reward_not_supported_is_refused():
    class NoTruth(ToySearch):
        rewards = ("vote",)

    with pytest.raises(ValueError, match="cannot use reward 'truth'"):
        NoTruth(TREE, reward=TruthReward("1"))


def test_config_bounds_are_checked():
    with pytest.raises(ValueError, match="rollouts must be at least 1"):
        MCTSConfig(rollouts=0)
    with pytest.raises(ValueError, match="selection must be one of"):
        MCTSConfig(selection="random")


def test_steering_prune_force_expand():
    wide = {
        "root": [Toy("a"), Toy("b")],
        "a": [Toy("a1", "answer", "1")],
        "b": [Toy("b1"), Toy("b2")],
        "b1": [Toy("b1x", "answer", "2")],
        "b2": [Toy("b2x", "answer", "3")],
    }
    s = ToySearch(wide, config=MCTSConfig(rollouts=3, children=2))
    s.start()
    s.step()  # root expanded; the first rollout goes down a
    n = by_text(s)
    s.steer("expand", n["b"].id)
    assert n["b"].expanded and len(n["b"].children) == 2
    s.steer("force", by_text(s)["b2"].id)
    s.step()
    last = [e for e in s.log.events if isinstance(e, ev.NodeSelected)][-1]
    assert last.path == [0, n["b"].id, by_text(s)["b2"].id]
    s.steer("prune", by_text(s)["b1"].id)
    assert s.done and s.exhausted() == "tree"  # a dead, b's children pruned or finished
    s.steer("expand", 999)
    note = s.log.events[-1]
    assert isinstance(note, ev.Note) and note.level == "warning" and "999" in note.message


def test_children_for_and_invalid_to_root_hooks():
    class Wide(ToySearch):
        invalid_to_root = True

        def children_for(self, node):
            return 2 if node.parent is None else 1

    wide = {"root": [Toy("A"), Toy("B", "bad"), Toy("C")], "A": [Toy("A1", "answer", "5"), Toy("A2")]}
    s = Wide(wide, config=MCTSConfig(rollouts=1, children=3))
    s.run()
    assert [c["n"] for c in s.engine.calls] == [2, 1]
    assert [k.state["label"] for k in s.root.children] == ["A", "B"]
    # B's -1 reached the root; A1's vote (0) too: N 2, W -1
    assert (s.root.n, s.root.value_sum) == (2, -1.0)
    plain = ToySearch(wide, config=MCTSConfig(rollouts=1, children=2))
    plain.run()
    assert [c["n"] for c in plain.engine.calls] == [2, 2, 2]
    assert (plain.root.n, plain.root.value_sum) == (1, 0.0)
