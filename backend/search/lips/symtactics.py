"""The symbolic-only tactics of LIPS: tangent line, equal value (n-1 EV), pqr method.

The official code lists them in `RewritingLib.json` as `sym_only` entries of type
`rewrite_with_inequation` and runs them on every expansion (`NeSyCore/rewriter.py:
sym_tangent_line, sym_equal_value, sym_pqr_method`); their Lean macros (`Math/Tactics.lean`)
close the side conditions with `closed_by_axiom`, i.e. they trust the external solver.
Canopy has no Lean and no axiom: each tactic here proves its side conditions with the closing
checkers (positivity, exact univariate analysis, z3; never a numeric method) and returns a new
goal only when every side condition is proved. `LipsSearch.recheck` derives the step again.

Goals are `lhs <= rhs`; `d = rhs - lhs` (goal: d >= 0), as the official code works on
`0 <= rhs - lhs`.

The tactics: `sumtactics.py` (tangent line, equal value, on separable goals: `separable.py`),
`pqr.py` (pqr / uvw), `cancel_power.py`; their step records: `symstep.py`.
"""

from __future__ import annotations

import sympy as sp

from backend.search.lips.cancel_power import cancel_power
from backend.search.lips.closing import CloseConfig
from backend.search.lips.deadline import poll
from backend.search.lips.numeric import PointCache
from backend.search.lips.pqr import pqr_method
from backend.search.lips.problem import Goal, Inequality
from backend.search.lips.sumtactics import equal_value, tangent_line
from backend.search.lips.symstep import SIDE, SymResult, refuse

TACTICS = ("sym_tangent_line", "sym_equal_value", "sym_pqr_method", "llm_cancel_power")

FUNCTIONS = {"sym_tangent_line": tangent_line, "sym_equal_value": equal_value, "sym_pqr_method": pqr_method,
             "llm_cancel_power": cancel_power}


def symbolic_steps(problem: Inequality, goal: Goal, cache: PointCache | None = None,
                   config: CloseConfig = SIDE) -> list[SymResult]:
    """Every symbolic tactic on one goal (the official rewriter runs them on every expansion)."""
    out = []
    for name, fn in FUNCTIONS.items():
        poll()  # a search past its time limit stops between tactics
        try:
            out.append(fn(problem, goal, cache, config))
        except (NotImplementedError, ValueError, TypeError, ZeroDivisionError, sp.PolynomialError) as exc:
            out.append(refuse(name, f"sympy: {type(exc).__name__}: {exc}"))
    return out


def rederive(problem: Inequality, old: Goal, new: Goal, tactic: str) -> tuple[bool, str]:
    """Re-check a symbolic step: the tactic, run again on `old`, proves its side conditions again
    and gives the same new goal."""
    fn = FUNCTIONS.get(tactic)
    if fn is None:
        return False, f"unknown tactic {tactic}"
    res = fn(problem, old, PointCache(), SIDE)
    if res.step is None:
        return False, f"{tactic} does not apply again: {res.reason}"
    if res.step.new.key() != new.key():
        return False, f"{tactic} gives another goal: {res.step.new}"
    return True, f"{tactic}: side conditions proved again"
