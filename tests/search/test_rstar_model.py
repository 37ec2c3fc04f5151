"""Integration: rStar MCTS on the real embedded model (Qwen2.5-Coder-0.5B via llama.cpp).

Marked ``model``: it loads the real model (about a second) and generates for ~20-40 s on 2
cores. Skipped where llama-cpp-python or the embedded model is missing.
"""

from __future__ import annotations

import pytest

from backend import events as ev
from backend.tree import Tree

pytestmark = pytest.mark.model


@pytest.fixture
def engine(embedded_engine):
    return embedded_engine


def test_solve_easy_problem_builds_an_executed_backed_up_tree(engine):
    from backend.solve import solve

    res = solve(
        "A box holds 6 eggs. How many eggs are in 7 boxes?",
        algorithm="rstar",
        engine=engine,
        reference="42",
        config={"rollouts": 2, "children": 3, "max_depth": 6},
        seed=0,
    )
    tree = Tree.from_events(res.events)
    executed = [n for n in tree.nodes.values() if n.method == "python"]
    assert executed, "no step ran in the sandbox"
    assert any(n.status == "ok" for n in executed)
    assert all(n.status in ("ok", "error", "timeout") for n in executed)
    backprops = [e for e in res.events if isinstance(e, ev.Backprop)]
    assert backprops and any(n.n > 0 for n in tree.nodes.values())
    for e in backprops:  # the tree's N/Q are exactly what the backprop events carried
        for node_id, n, _ in e.updated:
            assert tree.nodes[int(node_id)].n >= n
    assert tree.finished is not None and tree.finished.status in ("solved", "exhausted")
    assert tree.finished.reference == "42" and tree.finished.correct in (True, False)
    assert res.stats["tokens"] > 0 and res.stats["gen_s"] > 0
    # the run's tree is what the events say, and the answer (if any) is on the best path
    if res.answer is not None:
        assert tree.nodes[res.best_path[-1]].answer == res.answer
