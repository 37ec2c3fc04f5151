"""The polynomial an SOS certificate must cover: a goal `lhs <= rhs` as p >= 0 (`sos.py` step 1).

rhs - lhs over one denominator that is positive (by structure, or a one-variable factor without
real roots); a non-homogeneous p is made homogeneous with an equality constraint (a+b+c = 3:
lower-degree terms times ((a+b+c)/3)^k, equal on the constraints; official
`utils.make_homogeneous`); variables known >= 0 are written as squares (x = y^2), so a global
certificate for p(y^2) covers the non-negative orthant.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import sympy as sp

from backend.search.lips.exprtools import EXPAND_BOUND, expansion_bound
from backend.search.lips.positivity import is_nonneg
from backend.search.lips.problem import Goal, Inequality

NO_HOMOGENISING = "no equality constraint to homogenise with"


def homogenise(problem: Inequality, p: sp.Expr, syms: list[sp.Symbol]) -> sp.Expr | None:
    """p itself when homogeneous, else p with each lower-degree term times delta^k where delta = 1
    is a homogeneous equality constraint (a+b+c = 3 -> delta = (a+b+c)/3): equal to p on the
    constraints (official `utils.make_homogeneous`); None when no constraint fits."""
    poly = sp.Poly(p, *syms)
    degs = {sum(m) for m in poly.monoms()}
    if len(degs) <= 1:
        return p
    top = max(degs)
    for con in problem.equalities:
        ex = sp.expand(con.expr)
        if not ex.is_polynomial(*syms):
            continue
        const = ex.subs({s: 0 for s in syms})
        head = sp.Poly(ex - const, *syms)
        hdeg = {sum(m) for m in head.monoms()}
        if const == 0 or len(hdeg) != 1:
            continue
        m = hdeg.pop()
        delta = head.as_expr() / (-const)
        if any((top - sum(mon)) % m for mon in poly.monoms()):
            continue
        return sp.expand(sp.Add(*[c * sp.Mul(*[s**e for s, e in zip(syms, mon, strict=True)])
                                  * delta ** ((top - sum(mon)) // m)
                                  for mon, c in zip(poly.monoms(), poly.coeffs(), strict=True)]))
    return None


def _positive(f: sp.Expr, signs: dict) -> bool:
    """f > 0 everywhere it matters: by structure, or an even power, or a one-variable polynomial
    with a positive leading coefficient and no real root (a^2 - 4a + 9)."""
    if is_nonneg(f, signs, strict=True):
        return True
    if f.is_Pow and f.exp.is_Integer and f.exp > 0:
        return _positive(f.base, signs)
    if len(f.free_symbols) == 1:
        x = next(iter(f.free_symbols))
        poly = sp.Poly(f, x)
        return poly.LC() > 0 and poly.count_roots() == 0 if f.is_polynomial(x) else False
    return False


def goal_numerator(problem: Inequality, goal: Goal) -> sp.Expr | str:
    """rhs - lhs over one denominator that is positive: its numerator, expanded (or why not)."""
    syms = problem.symbol_list
    signs = {s: problem.sign_of(s.name) for s in syms}
    num, den = sp.fraction(sp.together(goal.rhs - goal.lhs))
    if not (num.is_polynomial(*syms) and den.is_polynomial(*syms)):
        return "not a rational function (radicals, powers with variable exponents)"
    if den.free_symbols and not all(_positive(f, signs) for f in sp.Mul.make_args(sp.factor(den))):
        return "denominator not positive by structure"
    if den.is_number and den < 0:
        num = -num
    if expansion_bound(num) > EXPAND_BOUND:  # no time check reaches inside expand (P19: 24 s)
        return f"numerator too large to expand (up to {expansion_bound(num)} terms)"
    p = sp.expand(num)
    if p.is_number:
        return "constant"
    if not rational_coefficients(p, syms):
        return IRRATIONAL
    return p


#: why the SOS provers decline a polynomial with sqrt(2), e, … among its coefficients
IRRATIONAL = "irrational coefficients: the exact certificate check works over the rationals"


def rational_coefficients(p: sp.Expr, gens: Sequence[sp.Symbol]) -> bool:
    """Whether ``p`` is a polynomial in ``gens`` with rational coefficients only (a goal may hold
    ``sqrt(2)*a*b*c``: z3 and the scaling lemmas handle it, an exact Gram matrix does not)."""
    return all(c.is_Rational for c in sp.Poly(p, *gens).coeffs())


def squares(problem: Inequality) -> dict[sp.Symbol, sp.Expr]:
    """x -> x_sq^2 for every variable known >= 0 (a global certificate then covers the orthant)."""
    return {s: sp.Symbol(f"{s.name}_sq", real=True) ** 2 for s in problem.symbol_list
            if problem.sign_of(s.name) != "real"}


def polynomial_form(problem: Inequality, goal: Goal,
                    max_basis: int | None = None) -> tuple[sp.Poly, str] | str:
    """The polynomial whose global non-negativity proves the goal, or why there is none."""
    syms = problem.symbol_list
    p = goal_numerator(problem, goal)
    if isinstance(p, str):
        return p
    sq = squares(problem)
    if max_basis is not None:  # before the slow steps: the Gram matrix's size at least
        pp = sp.Poly(p, *syms)
        half = pp.total_degree() if sq else pp.total_degree() // 2
        homog = bool(problem.equalities) or len({sum(m) for m in pp.monoms()}) == 1
        size = math.comb(len(syms) - 1 + half, half) if homog else math.comb(len(syms) + half, half)
        if size > 2 * max_basis:  # Newton pruning rarely removes more than half
            return f"Gram matrix of about {size} > {max_basis}"
    how = []
    if problem.equalities:
        h = homogenise(problem, p, syms)
        if h is None:
            return NO_HOMOGENISING
        if h != p:
            how.append("homogenised with the equality constraint")
        p = h
    if sq:
        p = sp.expand(p.xreplace(sq))
        how.append(f"{', '.join(s.name for s in sq)} >= 0 written as squares")
    ys = sorted(p.free_symbols, key=str)
    if not rational_coefficients(p, ys):  # homogenising with `a*b = sqrt(2)` brings one in
        return IRRATIONAL
    return sp.Poly(p, *ys), "; ".join(how)
