"""Counterexample filter: false candidates are dropped with a real, feasible counterexample;
unsound steps are caught; only a proved implication passes."""

import sympy as sp

from backend.search.lips import filtering
from backend.search.lips.filtering import FilterConfig, check_step
from backend.search.lips.lemmas import lemma_by_name
from backend.search.lips.numeric import PointCache, evaluate, feasible
from backend.search.lips.problem import Goal, parse_problem
from backend.search.lips.scaling import apply_lemma


def test_false_candidate_dropped_with_feasible_counterexample():
    p = parse_problem("a,b,c > 0; a+b+c = 3; prove a^2+b^2+c^2 >= 3")
    a, b, c = p.symbol_list
    new = Goal(sp.Integer(3), a * b + b * c + c * a)  # stronger, but false (max of ab+bc+ca is 3)
    cache = PointCache()
    r = check_step(p, p.goal, new, cache)
    assert r.status == "counterexample" and r.kind == "new_goal_false" and not r.keep
    point = dict(r.counterexample)
    assert feasible(p, point)
    assert evaluate(new.rhs - new.lhs, point, p.variables) < 0
    assert cache.points[0] == point or point in cache.points  # remembered for later candidates


def test_false_candidate_found_by_z3_when_points_miss():
    p = parse_problem("a,b > 0; prove a*b <= a^2 + b^2")
    a, b = p.symbol_list
    new = Goal(a * b, 2 * a * b - (a - 2 * b) ** 2 / 1000)  # fails only near a = 2b
    r = check_step(p, p.goal, new, PointCache(), FilterConfig(n_points=0))
    assert r.status == "counterexample" and r.kind == "new_goal_false"
    point = dict(r.counterexample)
    assert evaluate(new.rhs - new.lhs, point, p.variables) < 0 and feasible(p, point)


def test_unsound_step_is_caught():
    p = parse_problem("a,b,c > 0; a+b+c = 3; prove a^2+b^2+c^2 >= 3")
    a, b, c = p.symbol_list
    weaker = Goal(sp.Integer(3), a**2 + b**2 + c**2 + 1)  # true, but does not imply the old goal
    r = check_step(p, p.goal, weaker)
    assert r.status == "counterexample" and r.kind == "step_unsound"


def test_sound_scaling_passes_and_timeouts_never_pass():
    p = parse_problem("a,b > 0; prove a*b <= a^2 + b^2")
    step = next(s for s in apply_lemma(p.goal, lemma_by_name("AM_GM_square_right_2vars")))
    r = check_step(p, step.old, step.new)
    assert r.status == "passed" and r.method in ("positivity", "z3") and r.new_goal_proved
    q = parse_problem("a > 0; prove 1 <= exp(a)")
    a = q.symbol_list[0]
    r = check_step(q, q.goal, Goal(sp.Integer(1), 1 + a))  # exp is outside z3's arithmetic
    assert r.status == "unknown" and r.keep and "unsupported" in r.detail


def test_claims_costly_to_factor_skip_positivity_and_go_to_z3():
    # MO-INT P19's homogenisation step: a claim over four cubic denominators spent 68 s in
    # sympy's factor before positivity gave up; such claims now go straight to z3
    import sympy as sp

    from backend.search.lips.filtering import _cheap_to_factor

    a, b, c, d = sp.symbols("a b c d", positive=True)
    big = sum(x / (y**3 + 4 * z**3) for x, y, z in ((a, b, c), (b, c, d), (c, d, a), (d, a, b)))
    assert not _cheap_to_factor(big)
    assert _cheap_to_factor((a + b) / 2 - sp.sqrt(a * b) + a / (b + c))
    # MO-INT P13: few operations and low-degree denominators, but a common numerator of
    # thousands of terms: the expand inside factor ran 15 s past a 120 s limit
    wide = (a + b + c + d) ** 8 / ((a + b) * (c + d)) + (a + b + c) ** 8 / ((a + c) * (b + d)) - 1
    assert not _cheap_to_factor(wide)


def test_a_claim_with_a_variable_power_is_not_factored():
    """MO-INT P20 (``a^a b^b c^c d^d``): sympy's factor of this step claim from its search ran
    for over five minutes inside one filter (gcds over the powers as generators), past the
    120 s limit; such claims go to z3 (which calls them unsupported: unknown, never passed)."""
    from backend.search.lips.filtering import _cheap_to_factor

    a, b, c, d = sp.symbols("a b c d", positive=True)
    inner = b ** (4 * b) * c ** (4 * c) * (a + 2 * b + 3 * c + 4 * d) ** 4 / 4 + sp.Rational(1, 4)
    claim = (d ** (4 * d) + 1) ** 2 * inner**2 / 4 - (d ** (4 * d) + 1) * inner / 2 + sp.Rational(1, 4)
    assert not _cheap_to_factor(claim)
    assert _cheap_to_factor((d**4 + 1) ** 2 / 4 - (d**4 + 1) / 2 + sp.Rational(1, 4))  # the same shape


def test_a_claim_negative_in_the_sign_orthant_goes_to_z3_without_sympy_factor(monkeypatch):
    # ab(a+b)/2 - ab >= 0 only because a + b = 2: positivity cannot show it, so the claim is not
    # factored (MO-INT P15: one such factor ran for minutes) and z3 proves the step
    p = parse_problem("a, b > 0; a + b = 2; prove a*b <= 1")
    a, b = p.symbols["a"], p.symbols["b"]

    def no_factor(*args, **kwargs):
        raise AssertionError("sympy factor called")

    monkeypatch.setattr(filtering.sp, "factor", no_factor)
    r = check_step(p, p.goal, Goal(a * b * (a + b) / 2, p.goal.rhs))
    assert (r.status, r.method) == ("passed", "z3")


def test_a_goal_too_deep_to_compile_is_undefined_at_a_point_not_a_crash(monkeypatch):
    """MO-INT P20 at 120 s: lambdify of one candidate raised RecursionError ("maximum recursion
    depth exceeded during compilation") through the filter and ended the whole eval."""
    from backend.search.lips import numeric

    def too_deep(*args, **kwargs):
        raise RecursionError("maximum recursion depth exceeded during compilation")

    monkeypatch.setattr(numeric, "compile_expr", too_deep)
    a = sp.Symbol("a")
    assert evaluate(a + 1, {"a": 1.0}) is None  # undefined decides nothing: points only refute
