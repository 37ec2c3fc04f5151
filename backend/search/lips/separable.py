"""The form the tangent line and equal value tactics need: d = rhs - lhs = f(x1) + ... + f(xn) + c0.

With a constraint x1 + ... + xn = S, a term in several variables may become a term in one
(official `make_independent`: `sqrt(a+b-c)` -> `sqrt(3-2c)`); the one-variable parts must be
the same function (the official cyclic check). Also the exact helpers those tactics share:
equality on the constraint surface and a variable's feasible interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import sympy as sp

from backend.search.lips.problem import Goal, Inequality
from backend.search.lips.score import get_degree
from backend.search.lips.symmetry import constraint_symmetries
from backend.search.lips.symstep import MAX_OPS
from backend.search.lips.univariate import eliminate_linear, project_constraints


def sum_value(problem: Inequality, vs: list[sp.Symbol]) -> sp.Expr | None:
    """S when an equality constraint says sum(vs) = S (k*(x1+...+xn) + m = 0, other variables absent)."""
    for c in problem.equalities:
        e = sp.expand(c.expr)
        syms = problem.symbol_list
        if not e.is_polynomial(*syms) or sp.Poly(e, *syms).total_degree() != 1:
            continue
        k = e.coeff(vs[0], 1)
        if k == 0 or any(e.coeff(v, 1) != k for v in vs):
            continue
        if any(e.coeff(s, 1) != 0 for s in syms if s not in vs):
            continue
        m = e.subs({s: 0 for s in syms})
        if m.is_Number:
            return sp.nsimplify(-m / k)
    return None


def homogeneous_degree(e: sp.Expr) -> sp.Expr | None:
    """The degree of a homogeneous expression, None when it is not homogeneous (official
    `utils.get_degree`, shared with the score)."""
    try:
        deg = get_degree(e)
    except ValueError:  # a function the degree does not cover (Abs, exp, ...)
        return None
    return None if deg == math.inf else deg


def separate(d: sp.Expr, vs: list[sp.Symbol], total: sp.Expr | None) -> tuple[dict, sp.Expr] | None:
    """d as sum_v f_v(v) + c0, using x1 + ... + xn = total to make a term depend on one variable
    (official `make_independent`: `sqrt(a + b - c)` -> `sqrt(3 - 2c)`). None when impossible."""
    parts: dict[sp.Symbol, sp.Expr] = {v: sp.S.Zero for v in vs}
    c0 = sp.S.Zero
    for t in sp.Add.make_args(d):
        fs = t.free_symbols & set(vs)
        if len(fs) > 1:
            if total is None:
                return None
            for v in vs:
                rest = sp.Add(*[u for u in vs if u != v])
                t2 = t.subs(rest, total - v)
                if len(t2.free_symbols & set(vs)) <= 1:
                    t, fs = t2, t2.free_symbols & set(vs)
                    break
            else:
                return None
        if not fs:
            c0 += t
        else:
            parts[next(iter(fs))] += t
    return parts, c0


def _same_function(parts: dict, vs: list[sp.Symbol]) -> bool:
    """f_v(v) is the same function for every variable (the official cyclic check)."""
    f0 = parts[vs[0]]
    for v in vs[1:]:
        diff = parts[v] - f0.xreplace({vs[0]: v})
        if diff != 0 and (sp.count_ops(diff) > MAX_OPS or sp.simplify(diff) != 0):
            return False
    return True


def equal_on_constraints(problem: Inequality, x: sp.Expr, y: sp.Expr) -> bool:
    """x == y at every feasible point, shown exactly: substitute the linear equality constraints
    and simplify the difference to 0."""
    diff = x - y
    if diff == 0 or sp.expand(diff) == 0:
        return True
    _, red = eliminate_linear(problem, diff)
    red = sp.expand(red)
    if red == 0:
        return True
    if sp.count_ops(red) > MAX_OPS:
        return False
    syms = sorted(red.free_symbols, key=str)
    for k in range(3):  # a cheap numeric look first: simplify is slow, and needless when it differs
        v = complex(red.evalf(subs={s: sp.Rational(3 + 2 * i + k, 7 + k) for i, s in enumerate(syms)}))
        if abs(v) > 1e-9:
            return False
    return sp.simplify(red) == 0


def orbit(problem: Inequality, v: sp.Symbol) -> set[sp.Symbol]:
    """Variables the problem's symmetries map v to (v included)."""
    return {v} | {dict(p)[v] for p in constraint_symmetries(problem)}


def variables_in(problem: Inequality, d: sp.Expr) -> list[sp.Symbol]:
    return [s for s in problem.symbol_list if s in d.free_symbols]


def interval_of(problem: Inequality, x: sp.Symbol) -> sp.Set:
    """The values x takes at feasible points (a superset: linear constraints are projected exactly)."""
    red, _ = eliminate_linear(problem, x)
    if x.name not in red.variables:
        return sp.Reals
    dom = sp.Reals
    for c in project_constraints(red.constraints, x):
        rel = {">": sp.StrictGreaterThan, ">=": sp.GreaterThan, "==": sp.Eq, "!=": sp.Ne}[c.rel]
        dom = dom.intersect(sp.solveset(rel(c.expr, 0), x, sp.Reals))
    return dom


@dataclass(frozen=True)
class Separable:
    """d = rhs - lhs = f(x1) + ... + f(xn) + c0 on the constraints (x = x1 is f's variable)."""

    d: sp.Expr
    vs: list[sp.Symbol]
    total: sp.Expr  # x1 + ... + xn = total
    real_sum: bool  # a constraint says so (else: the homogeneous normalisation)
    f: sp.Expr
    c0: sp.Expr

    @property
    def x(self) -> sp.Symbol:
        return self.vs[0]


def separable(problem: Inequality, goal: Goal, homogeneous_ok: bool) -> Separable | str:
    """The common form of the tangent line and equal value tactics, or why the goal lacks it."""
    d = goal.rhs - goal.lhs
    if sp.count_ops(d) > MAX_OPS:
        return "goal too large"
    vs = variables_in(problem, d)
    if len(vs) < 2:
        return "needs at least two variables"
    total = sum_value(problem, vs)
    real_sum = total is not None
    if not real_sum:
        if not homogeneous_ok:
            return "needs a constraint fixing the sum of the variables"
        if homogeneous_degree(sp.expand(d)) is None:
            return "no constraint fixes the sum of the variables and the goal is not homogeneous"
        total = sp.Integer(len(vs))  # official: a homogeneous goal may assume x1 + ... + xn = n
    sep = separate(d, vs, total)
    if sep is None:
        return "not a sum of one-variable terms"
    parts, c0 = sep
    if not _same_function(parts, vs):
        return "the one-variable terms differ between variables (not cyclic)"
    return Separable(d, vs, total, real_sum, parts[vs[0]], c0)
