"""Symbolic-only tactics (tangent line, equal value, pqr): where each applies and the goal it
gives, and where it must not apply."""

import sympy as sp

from backend.search.lips.cancel_power import cancel_power
from backend.search.lips.pqr import pqr_method
from backend.search.lips.problem import Goal, parse_problem
from backend.search.lips.separable import homogeneous_degree, separate
from backend.search.lips.sumtactics import equal_value, tangent_line
from backend.search.lips.symtactics import rederive

RECIP = "a,b,c > 0; a+b+c = 3; prove 1/(1+a^2) + 1/(1+b^2) + 1/(1+c^2) >= 3/2"
SCHUR = "a,b,c >= 0; prove a^3+b^3+c^3 + 3*a*b*c >= a*b*(a+b) + b*c*(b+c) + c*a*(c+a)"


def _same(x, y) -> bool:
    return sp.simplify(x - y) == 0


def _diff(g: Goal) -> sp.Expr:
    return g.rhs - g.lhs


def test_helpers():
    p = parse_problem(RECIP)
    a, b, c = p.symbol_list
    parts, c0 = separate(sp.sqrt(a + b - c) + a**2 - 1, [a, b, c], sp.Integer(3))
    assert parts[c] == sp.sqrt(3 - 2 * c) and parts[a] == a**2 and c0 == -1
    assert homogeneous_degree(a**2 + b * c) == 2 and homogeneous_degree(a**2 + b) is None


def test_tangent_line_applies_and_sums_to_the_constant():
    p = parse_problem(RECIP)
    a = p.symbols["a"]
    r = tangent_line(p, p.goal)
    assert r.applies, r.reason
    st = r.step
    assert st.instantiation["x0"] == "1" and _same(p.parse(st.instantiation["tangent"]), 1 - a / 2)
    assert st.new == Goal(sp.S.Zero, sp.S.Zero)  # 0 <= 0: 1/(1+x^2) >= 1 - x/2, summed, is 3/2
    assert st.checks[0].status == "proved" and st.checks[0].method in ("positivity", "univariate", "z3")
    assert rederive(p, p.goal, st.new, st.tactic)[0]
    assert not rederive(p, p.goal, Goal(sp.S.Zero, sp.S.One), st.tactic)[0]


def test_tangent_line_with_radicals_uses_the_sum_constraint():
    p = parse_problem("a,b,c > 0; a+b+c = 3; prove sqrt(a+1) + sqrt(b+1) + sqrt(c+1) <= 3*sqrt(2)")
    r = tangent_line(p, p.goal)
    assert r.applies, r.reason
    assert _diff(r.step.new) == 0  # sqrt(x+1) <= sqrt(2) + (x-1)/(2 sqrt 2), summed over x: 3 sqrt 2


def test_tangent_line_must_not_apply():
    # the tangent line lies above f here (the inequality is false): the claim is refuted, no step
    p = parse_problem("a,b,c > 0; a+b+c = 3; prove 1/(1+a^2) + 1/(1+b^2) + 1/(1+c^2) <= 3/2")
    r = tangent_line(p, p.goal)
    assert not r.applies and any(c.status == "refuted" for c in r.checks)
    # not the same function of each variable
    q = parse_problem("a,b,c > 0; a+b+c = 3; prove a^2 + 2*b^2 + c^2 >= 3")
    assert "not cyclic" in tangent_line(q, q.goal).reason
    # no sum constraint and not homogeneous
    s = parse_problem("a,b > 0; prove a^2 + b^2 + 1 >= a + b")
    assert not tangent_line(s, s.goal).applies


def test_equal_value_reduces_to_one_variable():
    p = parse_problem(RECIP)
    c = p.symbols["c"]
    r = equal_value(p, p.goal)
    assert r.applies, r.reason
    expected = 1 / (1 + c**2) + 2 / (1 + ((3 - c) / 2) ** 2) - sp.Rational(3, 2)
    assert _same(_diff(r.step.new), expected) and r.step.new.lhs == 0
    assert any("convex on [1, 3]" in k.claim for k in r.checks)
    assert rederive(p, p.goal, r.step.new, r.step.tactic)[0]


def test_equal_value_must_not_apply():
    # f = x^2 is convex everywhere: f'' has no zero (the official condition asks for exactly one)
    p = parse_problem("a,b,c > 0; a+b+c = 3; prove a^2+b^2+c^2 >= 3")
    r = equal_value(p, p.goal)
    assert not r.applies and "exactly one zero" in r.reason
    # constraints not cyclic: the variables need not share one interval
    q = parse_problem("a,b,c > 0; a <= 1; a+b+c = 3; prove 1/(1+a^2) + 1/(1+b^2) + 1/(1+c^2) >= 3/2")
    assert "not cyclic" in equal_value(q, q.goal).reason
    # no fixed sum
    s = parse_problem("a,b,c > 0; prove 1/(1+a^2) + 1/(1+b^2) + 1/(1+c^2) >= 3/2 - a - b - c")
    assert not equal_value(s, s.goal).applies


def test_pqr_convex_in_r_gives_the_two_equal_case():
    p = parse_problem(SCHUR)
    a, b = p.symbols["a"], p.symbols["b"]
    r = pqr_method(p, p.goal)
    assert r.applies, r.reason
    assert sp.expand(_diff(r.step.new) - a * (a - b) ** 2) == 0  # Schur at c = b: a(a-b)^2 >= 0
    assert any("case c = 0" in k.claim and k.status == "proved" for k in r.checks)
    assert rederive(p, p.goal, r.step.new, r.step.tactic)[0]


def test_pqr_homogenises_with_the_sum_constraint():
    p = parse_problem("a,b,c >= 0; a+b+c = 3; prove a^2*b^2*c^2 <= 1")
    a, b = p.symbols["a"], p.symbols["b"]
    r = pqr_method(p, p.goal)
    assert r.applies, r.reason
    assert sp.expand(_diff(r.step.new) - (((a + 2 * b) / 3) ** 6 - a**2 * b**4)) == 0


def test_pqr_concave_in_r_gives_the_discriminant():
    p = parse_problem("a,b,c >= 0; prove 2*a*b*c <= (a*b*c)^2 + 2")
    r = pqr_method(p, p.goal)
    assert r.applies, r.reason  # D = -r^2 + 2r - 2, A = -1 < 0, B^2 - 4AC = 4 - 8 = -4 <= 0
    assert _diff(r.step.new) == 4 and "concave" in r.step.note


def test_pqr_must_not_apply():
    cases = {
        "a,b,c > 0; prove a^2 + 2*b^2 + c^2 >= a*b + b*c": "not symmetric",
        "a,b,c > 0; prove 1/(a+b) + 1/(b+c) + 1/(c+a) >= 9/(2*(a+b+c))": "not a polynomial",
        "a,b > 0; prove a^2 + b^2 >= 2*a*b": "three variables",
        "a,b,c real; prove a^2+b^2+c^2 >= a*b+b*c+c*a": "non-negative",
        "a,b,c >= 0; a <= 1; " + SCHUR.split("; ", 1)[1]: "symmetric function of p and q",
    }
    for text, why in cases.items():
        p = parse_problem(text)
        r = pqr_method(p, p.goal)
        assert not r.applies and why in r.reason, (text, r.reason)


def test_cancel_power_squares_both_sides():
    p = parse_problem("a,b > 0; prove sqrt(a*b) <= (a+b)/2")
    a, b = p.symbols["a"], p.symbols["b"]
    r = cancel_power(p, p.goal)
    assert r.applies and r.step.instantiation == {"k": "2"}
    assert r.step.new.lhs == a * b and sp.expand(r.step.new.rhs - (a + b) ** 2 / 4) == 0
    assert rederive(p, p.goal, r.step.new, r.step.tactic)[0]


def test_cancel_power_must_not_apply():
    p = parse_problem("a,b > 0; prove a*b <= (a+b)^2/4")
    assert "no fractional power" in cancel_power(p, p.goal).reason
    q = parse_problem("a, b real; prove sqrt(a^2 + 1) <= b")  # even power, rhs may be negative
    assert "rhs >= 0" in cancel_power(q, q.goal).reason
