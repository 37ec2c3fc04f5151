"""Integration: LIPS with the real embedded model (LLM rewriting and ranking on a real run).

Marked ``model`` and ``slow``: the model writes ~15 rewrites of up to 160 tokens per expansion
(minutes on 2 cores). Skipped where llama-cpp-python or the embedded model is missing.
"""

from __future__ import annotations

import pytest

from backend import events as ev
from backend.tree import Tree

pytestmark = [pytest.mark.model, pytest.mark.slow, pytest.mark.timeout(1500)]


@pytest.fixture
def engine(embedded_engine):
    return embedded_engine


def test_model_run_proves_amgm_and_every_llm_rewrite_is_judged(engine):
    from backend.solve import solve

    res = solve(
        "a,b > 0; prove a^2+b^2 >= 2*a*b",
        algorithm="lips",
        engine=engine,
        config={
            "max_tokens": 96,
            "rewrite_prompts": 4,
            "max_iterations": 3,
            "min_proof_depth": 1,
            "max_candidates": 8,
            "time_limit_s": 1200,
        },
    )
    assert res.status == "proved"
    tree = Tree.from_events(res.events)
    llm = [n for n in tree.nodes.values() if n.meta.get("source") == "llm"]
    assert all(n.status in ("equivalent", "rejected") for n in llm)
    assert res.stats["engine_calls"] >= 1


def test_model_never_proves_a_false_inequality(engine):
    from backend.solve import solve

    res = solve(
        "a,b,c > 0; prove 301/100 <= a/b + b/c + c/a",
        algorithm="lips",
        engine=engine,
        config={"max_tokens": 96, "rewrite_prompts": 4, "max_iterations": 3},
    )
    assert res.status != "proved"
    assert not any(isinstance(e, ev.NodeVerified) and e.status == "proved" for e in res.events)
