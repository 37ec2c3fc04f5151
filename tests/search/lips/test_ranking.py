"""LLM ranking: robust parsing of \\boxed{(i),...} and the symbolic fallback."""

from __future__ import annotations

from backend.search.lips.problem import parse_problem
from backend.search.lips.ranking import parse_ranking, rank, rank_prompt


def test_parse_variants():
    assert parse_ranking("so \\boxed{(2),(1),(3)}", 3) == [1, 0, 2]
    assert parse_ranking("\\boxed{2, 2, 9, 1}", 3) == [1, 0]  # duplicates and out-of-range dropped
    assert parse_ranking("ranking: (3) > (1)", 3) == [2, 0]
    assert parse_ranking("no idea", 3) is None
    assert parse_ranking("\\boxed{}", 3) is None


def test_rank_merges_llm_picks_with_symbolic_order():
    r = rank([5, 1, 3], "\\boxed{(3)}")
    assert r.source == "llm" and r.order == [2, 1, 0] and r.chosen == [2]


def test_rank_falls_back_to_symbolic():
    r = rank([5, 1, 3], "garbage")
    assert r.source == "symbolic" and r.order == [1, 2, 0] and "unusable" in r.reason
    assert rank([2, 1], None).order == [1, 0]


def test_prompt_lists_candidates():
    p = parse_problem("a,b > 0; prove a^2+b^2 >= 2*a*b")
    text = rank_prompt(p, p.goal, [p.goal, p.goal])
    assert "(1)" in text and "(2)" in text and "descending order" in text and "\\boxed{(1),(2),(3)}" in text
