"""The cancel_power symbolic-only tactic: lhs <= rhs from lhs^k <= rhs^k (official
`sym_cancel_power` and the Lean `power_k` lemma)."""

from __future__ import annotations

import sympy as sp

from backend.search.lips.closing import CloseConfig
from backend.search.lips.numeric import PointCache
from backend.search.lips.positivity import is_nonneg
from backend.search.lips.problem import Goal, Inequality
from backend.search.lips.symstep import SIDE, Check, SymResult, SymStep, refuse


def _exponents(side: sp.Expr) -> list[sp.Expr]:
    """The official `sym_cancel_power` reading: exponents of a product's (or a power's) factors."""
    if side.is_Mul:
        return [f.exp if f.is_Pow else sp.S.One for f in side.args if f.free_symbols]
    if side.is_Pow:
        return [side.exp]
    return []


def cancel_power(problem: Inequality, goal: Goal, cache: PointCache | None = None,
                 config: CloseConfig = SIDE) -> SymResult:
    """lhs <= rhs from lhs^k <= rhs^k, k the lcm of the sides' exponent denominators (official
    `sym_cancel_power` + the Lean `power_k` lemma). Sound when rhs >= 0 (x^k increases on
    [0, inf); lhs < 0 <= rhs is trivial) or k is odd."""
    tac = "llm_cancel_power"
    exps = _exponents(goal.lhs) + _exponents(goal.rhs)
    if not exps or not all(e.is_Rational for e in exps):
        return refuse(tac, "the sides are not products of rational powers")
    k = int(sp.ilcm(1, *[sp.fraction(e)[1] for e in exps]))
    if k == 1:
        return refuse(tac, "no fractional power to cancel")
    signs = {problem.symbols[v]: problem.sign_of(v) for v in problem.variables}
    if k % 2 == 0 and not is_nonneg(goal.rhs, signs):
        return refuse(tac, f"k = {k} is even and rhs >= 0 is not known")
    new = Goal(sp.powdenest(goal.lhs**k), sp.powdenest(goal.rhs**k))
    why = "odd power: x^k increases" if k % 2 else "rhs >= 0 by positivity: x^k increases on [0, inf)"
    checks = (Check(why, "exact", "positivity" if k % 2 == 0 else "-"),)
    note = f"both sides to the power {k}: the goal follows from {new}"
    return SymResult(tac, SymStep(tac, goal, new, {"k": str(k)}, checks, note), note, checks)
