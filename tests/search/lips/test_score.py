"""The symbolic filter score (official ranker.cal_complexity), checked by hand."""

import sympy as sp

from backend.search.lips.problem import parse_problem
from backend.search.lips.score import (
    NON_HOMOGENEOUS,
    UNSCORABLE,
    cal_decoupling,
    cal_homogeneous,
    get_degree,
    score_parts,
    symbolic_score,
    top_k,
)


def goal(text):
    return parse_problem(text).goal


def test_am_gm_goal_by_hand():
    # 2ab <= a^2 + b^2: ops 2 (2*a*b) + 3 (a^2 + b^2);
    # decoupling lhs [2ab]: level 0 -> 2 symbols, level 1 (2, a, b) -> 2, so 4; max+min = 8;
    # rhs [a^2, b^2]: 1 each (one symbol: stop), max+min = 2; homogeneity 0 (all degree 2)
    g = goal("a, b real; prove a^2 + b^2 >= 2*a*b")
    assert score_parts(g) == {"ops": 5, "decoupling": 10, "homogeneity": 0.0}
    assert symbolic_score(g) == 15


def test_nesbitt_by_hand():
    # a/(b+c): levels {a,b,c}=3, {a, 1/(b+c)}=1+2, {b+c, -1}=2, {b, c}=2 -> 10 per term
    g = goal("a,b,c > 0; prove a/(b+c) + b/(c+a) + c/(a+b) >= 3/2")
    assert cal_decoupling(g.rhs.args[0]) == 10
    assert score_parts(g) == {"ops": 9, "decoupling": 20, "homogeneity": 0.0}


def test_homogeneity_terms():
    g = goal("a, b > 0; prove a + 1 <= a^2 + 2")
    assert get_degree(g.lhs - g.rhs) == float("inf")
    assert score_parts(g)["homogeneity"] == NON_HOMOGENEOUS
    # homogeneous but mixed term shapes: rhs terms a^3 (3) and a*b*c (3) vs lhs a^2*b/c -> 2 + 1 - 1 = 2
    h = goal("a,b,c > 0; prove a^2*b/c + a*b <= a^3 + a*b*c/c")
    assert cal_homogeneous(h.lhs.args[0]) in (2, 3)
    assert symbolic_score(goal("a > 0; prove 1 <= exp(a)")) == UNSCORABLE


def test_top_k_keeps_ties():
    items = list("abcdefghijkl")
    scores = [5, 3, 3, 9, 1, 7, 7, 7, 2, 8, 8, 8]
    assert top_k(items, scores, k=2) == ["e", "i"]
    assert top_k(items, scores, k=3) == ["e", "i", "b", "c"]  # b and c tie for third
    # sorted: 1 2 3 3 5 7 7 7 8 8 8 9; the 10th score (8) is shared by j, k, l: 11 kept, d (9) dropped
    assert top_k(items, scores, k=10)[-3:] == ["j", "k", "l"] and "d" not in top_k(items, scores, k=10)
    assert top_k([], [], k=10) == []


def test_get_degree_visits_each_subterm_once():
    # every Add used to compute each homogeneous term's degree twice: 2^depth calls on nested sums
    import backend.search.lips.score as score

    a, b = sp.symbols("a b", positive=True)
    e = a
    for _ in range(14):
        e = a**2 / (e + b) + b  # homogeneous of degree 1 at every level
    calls = 0
    inner = score.get_degree

    def counting(x):
        nonlocal calls
        calls += 1
        return inner(x)

    score.get_degree = counting
    try:
        assert score.get_degree(e) == 1
    finally:
        score.get_degree = inner
    assert calls < 300
