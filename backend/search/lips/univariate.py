"""The `univariate` closer and the linear elimination it (and the symbolic tactics) rely on.

Equality constraints linear in a variable are solved and substituted (`eliminate_linear`);
when one variable is left, sympy's exact sign analysis of the rational function on the
variable's feasible interval (`project_constraints`: Fourier-Motzkin on the linear
constraints) decides the goal.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import replace

import sympy as sp

from backend.search.lips.attempt import Attempt, ms_since
from backend.search.lips.problem import Constraint, Goal, Inequality


def _linear_solution(c: Constraint, v: sp.Symbol) -> sp.Expr | None:
    """v from `c.expr == 0` when c is linear in v with a numeric coefficient."""
    if not c.expr.has(v) or not c.expr.is_polynomial(v) or sp.degree(c.expr, v) != 1:
        return None
    coeff = c.expr.coeff(v, 1)
    if not coeff.is_Number or coeff == 0:
        return None
    return sp.expand(-(c.expr - coeff * v) / coeff)


def eliminate_linear(problem: Inequality, expr: sp.Expr) -> tuple[Inequality, sp.Expr]:
    """Solve equality constraints that are linear in a variable (c = 3 - a - b) and substitute.

    The solved variable's sign becomes a constraint on the others (3 - a - b > 0), so the
    reduced problem is equivalent. Repeats while such an equality exists.
    """
    progress = True
    while progress:
        progress = False
        # variables the expression does not use go first: a goal in c alone stays in c
        order = sorted(reversed(problem.variables), key=lambda n: problem.symbols[n] in expr.free_symbols)
        for c in problem.equalities:
            for name in order:
                v = problem.symbols[name]
                sol = _linear_solution(c, v)
                if sol is None:
                    continue
                cons = [Constraint(sp.expand(k.expr.xreplace({v: sol})), k.rel, k.text)
                        for k in problem.constraints if k is not c and k.expr != v]
                sign = problem.sign_of(name)
                if sign != "real":
                    rel = ">" if sign == "pos" else ">="
                    cons.append(Constraint(sol, rel, f"{name} = {sol} {rel} 0"))
                cons = [k for k in cons if not (k.expr.is_Number and k.holds(float(k.expr)))]
                variables = tuple(n for n in problem.variables if n != name)
                problem = replace(problem, variables=variables, constraints=tuple(cons))
                expr = expr.xreplace({v: sol})
                progress = True
                break
            if progress:
                break
    return problem, expr


def _linear(e: sp.Expr) -> bool:
    syms = sorted(e.free_symbols, key=str)
    return bool(syms) and e.is_polynomial(*syms) and sp.Poly(e, *syms).total_degree() <= 1


def project_constraints(constraints: tuple[Constraint, ...], x: sp.Symbol) -> list[Constraint]:
    """Constraints on x alone that every feasible point satisfies (a superset of the projection).

    Linear inequalities in other variables are eliminated exactly (Fourier-Motzkin: a > 0, b > 0,
    3 - a - b > 0 gives 0 < a < 3); other constraints on other variables are dropped, which only
    enlarges the domain, so a proof on it still covers every feasible point.
    """
    own = [c for c in constraints if not (c.expr.free_symbols - {x})]
    lin = [c for c in constraints if c.expr.free_symbols - {x} and c.rel in (">", ">=")
           and _linear(c.expr)]
    others = sorted({s for c in lin for s in c.expr.free_symbols} - {x}, key=str)
    for y in others:
        lower, upper, rest = [], [], []
        for c in lin:
            k = c.expr.coeff(y, 1)
            (lower if k > 0 else upper if k < 0 else rest).append((c, k))
        lin = [c for c, _ in rest]
        for (lc, lk), (uc, uk) in itertools.product(lower, upper):
            e = sp.expand(-uk * lc.expr + lk * uc.expr)  # y cancels; both multipliers > 0
            rel = ">" if ">" in (lc.rel, uc.rel) else ">="
            if e.free_symbols:
                lin.append(Constraint(e, rel))
            elif not Constraint(e, rel).holds(float(e), 0.0):
                lin.append(Constraint(e, rel))  # infeasible: keep the contradiction
        if len(lin) > 200:
            break
    return own + [c for c in lin if not (c.expr.free_symbols - {x})]


def univariate(problem: Inequality, goal: Goal, max_ops: int = 400) -> Attempt:
    """Exact sign analysis when (after linear elimination) one variable remains."""
    t0 = time.perf_counter()
    red, d = eliminate_linear(problem, goal.rhs - goal.lhs)
    free = sorted(d.free_symbols, key=str)
    if len(free) != 1 or sp.count_ops(d) > max_ops:
        return Attempt("univariate", "unknown", ms_since(t0), f"{len(free)} variables")
    x = free[0]
    num, den = sp.fraction(sp.together(d))
    if not (num.is_polynomial(x) and den.is_polynomial(x)) or sp.degree(num, x) > 12:
        return Attempt("univariate", "unknown", ms_since(t0), "not a low-degree rational function")
    domain = sp.Reals
    try:
        for c in project_constraints(red.constraints, x):
            rel = {">": sp.StrictGreaterThan, ">=": sp.GreaterThan, "==": sp.Eq, "!=": sp.Ne}[c.rel]
            domain = domain.intersect(sp.solveset(rel(c.expr, 0), x, sp.Reals))
        bad = sp.solveset(sp.StrictLessThan(num * den, 0), x, sp.Reals)
    except (NotImplementedError, ValueError, TypeError) as exc:
        return Attempt("univariate", "unknown", ms_since(t0), f"sympy: {exc}")
    if domain.intersect(bad) is sp.EmptySet:
        return Attempt("univariate", "proved", ms_since(t0), f"no x in {domain} with rhs < lhs")
    return Attempt("univariate", "unknown", ms_since(t0), "sign analysis inconclusive")
