"""Integration: CPL's plan-space MCTS on the real embedded model (Qwen2.5-Coder-0.5B, llama.cpp).

Marked ``model`` and ``slow``: one rollout with 2 candidates per expansion generates for about
a minute on 2 cores. Skipped where llama-cpp-python or the embedded model is missing.
"""

from __future__ import annotations

import math

import pytest

from backend import events as ev
from backend.tree import Tree

pytestmark = [pytest.mark.model, pytest.mark.slow]


def test_one_rollout_builds_a_plan_tree_with_log_prob_priors(embedded_engine):
    from backend.solve import solve

    res = solve(
        "A box holds 6 eggs. How many eggs are in 7 boxes?",
        algorithm="cpl",
        engine=embedded_engine,
        reference="42",
        config={"rollouts": 1, "root_children": 2, "children": 2, "max_step_tokens": 200},
        seed=0,
    )
    tree = Tree.from_events(res.events)
    kids = [n for n in tree.nodes.values() if n.parent is not None]
    assert 0 < len(tree.nodes[0].children) <= 2 and kids
    # llama.cpp reports log-probs: every step has prior exp(mean log-prob) in (0, 1]
    for n in kids:
        assert n.meta["prior_source"] == "exp(mean token log-prob)"
        assert n.prior == pytest.approx(math.exp(n.meta["mean_logprob"]), rel=1e-3) and 0 < n.prior <= 1
    assert any(n.kind == "plan" and n.status == "ok" for n in kids), "the model wrote no 'Plan k:' step"
    selected = [e for e in res.events if isinstance(e, ev.NodeSelected)]
    assert selected and all(row["prior"] is not None for e in selected for row in e.children[0])
    # the rollout ended at a terminal whose value was backed up (a valid answer, or -1 to the root)
    backprops = [e for e in res.events if isinstance(e, ev.Backprop)]
    assert backprops and tree.nodes[0].n >= 1
    assert all(n.depth <= 7 for n in kids)  # max_depth 6, plus the too-deep terminal
    assert tree.finished is not None and tree.finished.reference == "42"
    assert res.stats["tokens"] > 0 and res.stats["iterations"] == 1
    if res.answer is not None:
        assert tree.nodes[res.best_path[-1]].answer == res.answer
