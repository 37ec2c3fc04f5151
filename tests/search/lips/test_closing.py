"""Closing checkers: true goals close and say which checker did it; false ones never close."""

import pytest

from backend.search.lips import positivity as positivity_module
from backend.search.lips.closing import CloseConfig, close_goal
from backend.search.lips.numeric import evaluate, feasible
from backend.search.lips.positivity import is_nonneg, positivity
from backend.search.lips.problem import parse_problem
from backend.search.lips.problems import load_inequalities
from backend.search.lips.univariate import eliminate_linear


def test_two_variable_am_gm_is_proved():
    p = parse_problem("a, b > 0; prove (a + b)/2 >= sqrt(a*b)")
    r = close_goal(p, p.goal)
    assert r.proved and r.method == "z3"
    q = parse_problem("a, b real; prove a^2 + b^2 >= 2*a*b")
    r = close_goal(q, q.goal)
    assert r.proved and r.method == "positivity"  # (a - b)^2 >= 0 after factoring
    assert [a.method for a in r.attempts] == ["points", "positivity"]


def test_univariate_after_eliminating_the_constraint():
    p = parse_problem("a, b > 0; a + b = 1; prove 1/a + 1/b >= 4")
    red, d = eliminate_linear(p, p.goal.rhs - p.goal.lhs)
    assert red.variables == ("a",) and len(d.free_symbols) == 1
    r = close_goal(p, p.goal, config=CloseConfig(z3_timeout_s=0.01))
    assert r.proved and r.method == "univariate"


def test_positivity_rules():
    p = parse_problem("a > 0; b >= 0; c real; prove 0 <= a")
    a, b, c = (p.symbols[n] for n in "abc")
    signs = {a: "pos", b: "nonneg", c: "real"}
    assert is_nonneg(a * b + c**2 + (a - c) ** 4, signs)
    assert not is_nonneg(a - b, signs)
    assert is_nonneg(1 / (a + b), signs) and not is_nonneg(1 / b, signs)


def test_easy_set_is_proved():
    for p in load_inequalities("ineq-easy"):
        r = close_goal(p, p.goal)
        assert r.proved, (p.id, r.attempts)


@pytest.mark.parametrize("config", [CloseConfig(), CloseConfig(n_points=0, minimise_starts=0)])
def test_false_inequalities_are_never_proved(config):
    for p in load_inequalities("ineq-false"):
        r = close_goal(p, p.goal, config=config)
        assert r.status != "proved", p.id
        if r.status == "refuted":
            point = dict(r.counterexample)
            assert feasible(p, point, tol=1e-6), p.id
            assert evaluate(p.goal.rhs - p.goal.lhs, point, p.variables) < 0, p.id


def test_false_set_is_refuted_and_mostly_true_at_random():
    for p in load_inequalities("ineq-false"):
        assert float(dict(p.meta)["holds_at_random_points"]) >= 0.8
        assert close_goal(p, p.goal).status == "refuted", p.id


@pytest.mark.slow
def test_mo_int_closing_census():
    """How many MO-INT theorems the checkers close outright (no scaling): 4 with z3 at 5 s."""
    proved = [p.id for p in load_inequalities("mo-int") if close_goal(p, p.goal).proved]
    assert {"mo-int-P5", "mo-int-P7", "mo-int-P9", "mo-int-P16"} <= set(proved)


def test_positivity_gives_up_at_once_on_a_goal_negative_in_the_sign_orthant():
    # 1 - ab >= 0 holds only thanks to a + b = 2: no form of it can be non-negative by the signs
    # alone, so the float pre-test answers before any sympy form is built
    p = parse_problem("a, b > 0; a + b = 2; prove a*b <= 1")
    r = positivity(p, p.goal)
    assert r.status == "unknown" and r.detail == "negative at a point of the sign orthant"
    q = parse_problem("a, b > 0; prove 2*a*b/(a + b) <= (a + b)/2")  # proved by a factored numerator
    assert positivity(q, q.goal).status == "proved"


def test_positivity_does_not_factor_a_large_numerator(monkeypatch):
    # AM-GM of degree 9: true on the orthant (the float pre-test cannot skip it), 55 terms expanded
    # (MO-INT P1 and P19 spent 5.7-7.2 s of a pop factoring such numerators)
    p = parse_problem("a, b, c > 0; prove 19683*a^3*b^3*c^3 <= (a + b + c)^9")

    def no_factor(*args, **kwargs):
        raise AssertionError("sympy factor called")

    monkeypatch.setattr(positivity_module.sp, "factor", no_factor)
    assert positivity(p, p.goal).status == "unknown"


def test_a_checker_that_raises_is_recorded_and_the_next_one_still_closes(monkeypatch, caplog):
    """A prover's bug on an unforeseen goal (sympy on a shape it was not written for) costs that
    checker, not the whole search: the attempt says why and z3 still proves the goal."""
    import backend.search.lips.closing as closing

    def broken(*_a, **_k):
        raise AttributeError("'Mul' object has no attribute 'p'")

    monkeypatch.setattr(closing, "refute_by_points", broken)  # the first checker
    p = parse_problem("a,b > 0; prove a^2+b^2 >= 2*a*b")
    r = close_goal(p, p.goal)
    assert r.status == "proved" and r.method != "points"
    failed = r.attempts[0]
    assert failed.method == "points" and failed.status == "unknown" and "internal error" in failed.detail
    assert "AttributeError" in failed.detail and "points checker failed" in caplog.text


def test_the_searchs_stop_still_ends_the_closing(monkeypatch):
    import backend.search.lips.closing as closing
    from backend.search.base import Stopped

    def stop(*_a, **_k):
        raise Stopped("time limit")

    monkeypatch.setattr(closing, "refute_by_points", stop)
    p = parse_problem("a,b > 0; prove a^2+b^2 >= 2*a*b")
    with pytest.raises(Stopped):
        close_goal(p, p.goal)
