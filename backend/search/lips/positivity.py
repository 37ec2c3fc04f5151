"""The `positivity` closer: rhs - lhs >= 0 by structure, the way Lean's `positivity` argues.

Non-negative numbers, variables known >= 0, even powers, roots, sums and products of such
(which covers explicit sums of squares); tried on rhs - lhs as is, as one fraction, and with
its numerator expanded or factored. Sound by construction: it never looks at a point.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Iterator

import sympy as sp

from backend.search.lips.attempt import Attempt, ms_since
from backend.search.lips.deadline import poll
from backend.search.lips.exprtools import EXPAND_BOUND, expansion_bound, fast_eval
from backend.search.lips.problem import Goal, Inequality

#: larger expanded numerators are not factored (MO-INT P1, P19: 5.7-7.2 s of a pop in factor, for
#: numerators that do not factor into non-negative pieces)
FACTOR_TERMS = 40


def signs_of(problem: Inequality) -> dict[sp.Symbol, str]:
    """Each variable's known sign ("pos", "nonneg" or "real") from the constraints."""
    return {problem.symbols[n]: problem.sign_of(n) for n in problem.variables}


def is_nonneg(e: sp.Expr, signs: dict[sp.Symbol, str], strict: bool = False) -> bool:
    """Structural non-negativity (positivity when strict), the way Lean's `positivity` argues."""
    if e.is_Number:
        if not e.is_finite:  # nan / zoo / oo (a scaling can divide by zero): never a proof
            return False
        return bool(e > 0 if strict else e >= 0)
    if e.is_Symbol:
        s = signs.get(e, "real")
        return s == "pos" or (s == "nonneg" and not strict)
    if e.is_Add:
        terms = e.args
        if not all(is_nonneg(t, signs) for t in terms):
            return False
        return not strict or any(is_nonneg(t, signs, True) for t in terms)
    if e.is_Mul:
        return all(is_nonneg(f, signs, strict) for f in e.args)
    if e.is_Pow:
        b, x = e.base, e.exp
        if x.is_Integer and int(x) % 2 == 0 and not strict:
            return True
        if x.is_Integer and int(x) % 2 == 0 and strict:
            return is_nonneg(b, signs, True) or _nonzero_sum_of_squares(b)
        if x.is_Integer and int(x) < 0:
            return is_nonneg(b, signs, True)
        return is_nonneg(b, signs, strict)  # roots and positive powers keep the sign of b >= 0
    if isinstance(e, sp.Abs):
        return not strict
    return False


def _nonzero_sum_of_squares(b: sp.Expr) -> bool:
    return bool(b.is_Add and any(t.is_Number and t != 0 for t in b.args)
                and all((t.is_Number and t > 0) or (t.is_Pow and t.exp.is_even) for t in b.args))


def positivity(problem: Inequality, goal: Goal, max_ops: int = 400) -> Attempt:
    """Try rhs - lhs >= 0 by structure, on a few algebraic forms, each built only when the one
    before failed. Every form equals rhs - lhs and is judged with the variables' signs alone, so
    a point of the sign orthant where rhs - lhs < 0 means none can succeed: a few such points are
    tried first, in floats (issue 18: factoring a large numerator took 5.7 s of a popped MO-INT
    P1 goal that had no chance)."""
    t0 = time.perf_counter()
    signs = signs_of(problem)
    d = goal.rhs - goal.lhs
    if negative_in_sign_orthant(d, signs):
        return Attempt("positivity", "unknown", ms_since(t0), "negative at a point of the sign orthant")
    for name, form in _forms(d, max_ops):
        poll()  # each form costs a sympy together/expand/factor: stop between them
        ok = is_nonneg(form, signs) if not isinstance(form, tuple) else \
            is_nonneg(form[0], signs) and is_nonneg(form[1], signs, strict=True)
        if ok:
            return Attempt("positivity", "proved", ms_since(t0), name)
    return Attempt("positivity", "unknown", ms_since(t0))


def _forms(d: sp.Expr, max_ops: int) -> Iterator[tuple[str, sp.Expr | tuple[sp.Expr, sp.Expr]]]:
    yield "as is", d
    if sp.count_ops(d) > max_ops:
        return
    num, den = sp.fraction(sp.together(d))
    yield "fraction", (num, den)
    if sp.count_ops(num) <= max_ops and expansion_bound(num) <= EXPAND_BOUND:
        expanded = sp.expand(num)
        yield "expanded numerator", (expanded, den)
        if len(sp.Add.make_args(expanded)) <= FACTOR_TERMS:
            yield "factored numerator", (sp.factor(num), den)


def negative_in_sign_orthant(d: sp.Expr, signs: dict[sp.Symbol, str], tries: int = 8) -> bool:
    """d < 0 (clearly, in floats) at one of a few points that respect only the variables' signs:
    all variables 1/2, then log-uniform magnitudes in [0.05, 5] (a sign drawn for real ones), so
    small and large values both occur."""
    rng = random.Random(0)
    syms = sorted(d.free_symbols, key=str)
    for i in range(tries):
        point = {}
        for s in syms:
            v = 0.5 if i == 0 else math.exp(rng.uniform(math.log(0.05), math.log(5.0)))
            point[s] = -v if signs.get(s, "real") == "real" and rng.random() < 0.5 else v
        v = fast_eval(d, point)
        if v is not None and abs(v.imag) < 1e-12 * (1 + abs(v.real)) and v.real < -1e-9 * (1 + abs(v.real)):
            return True
    return False
