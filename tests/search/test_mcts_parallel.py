"""Parallel rollouts: k walkers per step, virtual loss keeps them apart, leaves share one call."""

from __future__ import annotations

import pytest

from backend import events as ev
from backend.search.mcts import MCTSConfig, MNode
from backend.search.selection import pick, selection_scores
from backend.tree import Tree
from tests.search.helpers import Toy, ToyPolicy, ToySearch

# root -> A, B, C (steps); each step has one answer child
TREE = {
    "root": [Toy("A"), Toy("B"), Toy("C")],
    "A": [Toy("A1", "answer", "5")],
    "B": [Toy("B1", "answer", "5")],
    "C": [Toy("C1", "answer", "7")],
}


class ManyPolicy(ToyPolicy):
    """ToyPolicy plus ``propose_many``: one engine call for several leaves."""

    def propose_many(self, search, nodes, n, seed):
        search.generate([node.state["label"] for node in nodes], n=n, seed=seed, max_tokens=8)
        out = []
        for node in nodes:
            kids = self.tree.get(node.state["label"], [])[:n]
            out.append([self._spec(k) for k in kids])
        return out

    @staticmethod
    def _spec(k):
        from backend.search.mcts import NodeSpec

        return NodeSpec(kind="answer" if k.kind == "answer" else "step", text=k.label, tokens=1,
                        state={"toy": k, "label": k.label})


def search(parallel, rollouts=3, many=True):
    s = ToySearch(TREE, config=MCTSConfig(rollouts=rollouts, children=3, parallel=parallel))
    if many:
        s.policy = ManyPolicy(TREE)
    return s


def labels(s):
    return {n.state["label"]: n for n in s.nodes.values()}


def test_three_walkers_take_three_branches_and_share_one_call_for_their_leaves():
    s = search(parallel=3)
    s.start()
    s.step()  # one step = three rollouts
    calls = s.engine.calls
    assert [c["prompts"] for c in calls] == [["root"], ["A", "B", "C"]]  # the root, then 3 leaves at once
    n = labels(s)
    assert {k: n[k].n for k in ("A", "B", "C")} == {"A": 1, "B": 1, "C": 1}
    assert s.root.n == 3 and s.state.iteration == 3
    assert all(node.pending == 0 for node in s.nodes.values())  # every virtual loss undone
    done = [e.iteration for e in s.log.events if isinstance(e, ev.IterationDone)]
    assert done == [0, 1, 2]
    selected = {e.iteration: e.path for e in s.log.events if isinstance(e, ev.NodeSelected)}
    assert len({tuple(p[:2]) for p in selected.values()}) == 3  # three different first steps


def test_sequential_official_rollouts_revisit_instead():
    s = search(parallel=1, many=False)
    s.start()
    s.step()
    assert [c["prompts"] for c in s.engine.calls] == [["root"], ["A"]]  # one leaf per rollout


def test_parallel_run_replays_to_the_same_tree_and_respects_the_rollout_budget():
    s = search(parallel=2, rollouts=3)
    s.run()
    assert s.state.iteration == 3  # 2 then 1: never past the budget
    tree = Tree.from_events(s.log.events)
    for node in s.nodes.values():
        t = tree.nodes[node.id]
        assert (t.n, t.q) == (node.n, pytest.approx(node.q, abs=1e-6))
    assert s.outcome().answer == "5"


def test_without_propose_many_the_core_expands_each_leaf_in_turn():
    s = search(parallel=3, many=False)
    s.start()
    s.step()
    assert [c["prompts"] for c in s.engine.calls] == [["root"], ["A"], ["B"], ["C"]]


def test_virtual_loss_lowers_a_taken_childs_q_term_and_spread_skips_it():
    parent = MNode(0, None, 0, "root", n=4)
    a = MNode(1, parent, 1, "step", n=2, value_sum=1.0)
    b = MNode(2, parent, 1, "step", n=2, value_sum=0.0)
    parent.children += [a, b]
    plain = selection_scores(parent, 2.0, "uct")
    assert pick(plain) == 0  # a is better
    a.pending = 1
    rows = selection_scores(parent, 2.0, "uct", virtual_loss=1.0)
    assert rows[0]["q_term"] == pytest.approx((1.0 - 1.0) / 3, abs=1e-6)
    assert rows[0]["pending"] == 1 and "pending" not in rows[1]
    assert rows[0]["n"] == 2  # the reported N stays the real one
    assert pick(rows, spread=True) == 1
    b.pending = 1  # every child taken: the scores decide again
    rows = selection_scores(parent, 2.0, "uct", virtual_loss=1.0)
    assert pick(rows, spread=True) == pick(rows)
