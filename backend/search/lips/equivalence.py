"""Accept or reject a rewrite of a goal, and the deterministic sympy rewrites (LIPS rewriter).

An LLM rewrite turns the goal's `lhs - rhs` into another expression. The official
`NeSyCore/rewriter.py` accepts it when it is equal at a random point and
`powsimp(a, force=True).equals(powsimp(b, force=True))`; when the rewrite used an equality
hypothesis it asks a solver instead. Canopy does the same in order:

1. only the problem's variables may appear ("no new variables" in the prompt);
2. equal at feasible sample points (equality constraints imposed only when allowed), else
   rejected with the point;
3. `powsimp(..., force=True).equals(...)`: force assumes positive variables, so it is used only
   when every variable is known > 0 or >= 0; then `simplify(a - b) == 0`;
4. z3 proves a == b on the domain (under the constraints when allowed).

Deterministic fallbacks (`sym_rewrites`) mirror the `sym_*` methods of the official rewriter:
simplify, expand, factor, together, and cancelling provably positive denominators or factors
(which multiplies the difference by a positive quantity: same truth value, not equal).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Literal

import sympy as sp

from backend.search.lips.deadline import poll
from backend.search.lips.exprtools import EXPAND_BOUND, expansion_bound
from backend.search.lips.numeric import Sampler, evaluate
from backend.search.lips.positivity import is_nonneg
from backend.search.lips.problem import Goal, Inequality
from backend.search.lips.smt import solve

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EquivalenceResult:
    accepted: bool
    reason: str
    method: str  # "variables", "points", "powsimp", "simplify", "z3", "unknown"
    ms: float
    point: tuple[tuple[str, float], ...] | None = None


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000


def _sample(problem: Inequality, n: int, use_constraints: bool, seed: int) -> list[dict[str, float]]:
    if use_constraints:
        return Sampler(problem, seed).points(n)
    free = problem.__class__(problem.variables, tuple(c for c in problem.constraints if c.rel != "=="),
                             problem.goal)
    return Sampler(free, seed).points(n)


def check_equal(problem: Inequality, a: sp.Expr, b: sp.Expr, *, use_constraints: bool = False,
                n_points: int = 8, z3_timeout_s: float = 3.0, seed: int = 0) -> EquivalenceResult:
    """Is a == b for all (feasible, if use_constraints) values of the problem's variables?"""
    t0 = time.perf_counter()
    a, b = sp.sympify(a, strict=True), sp.sympify(b, strict=True)  # strict: never parses a string
    extra = (a.free_symbols | b.free_symbols) - set(problem.symbol_list)
    if extra:
        return EquivalenceResult(False, f"new variables {sorted(map(str, extra))}", "variables", _ms(t0))
    for p in _sample(problem, n_points, use_constraints, seed):
        va, vb = evaluate(a, p, problem.variables), evaluate(b, p, problem.variables)
        if va is None or vb is None:
            continue
        if abs(va - vb) > 1e-9 * (1 + abs(va) + abs(vb)):
            return EquivalenceResult(False, f"differ at a sample point ({va:.6g} vs {vb:.6g})", "points",
                                     _ms(t0), tuple(sorted(p.items())))
    positive = all(problem.sign_of(n) != "real" for n in problem.variables)
    if not use_constraints:
        if positive and sp.powsimp(a, force=True).equals(sp.powsimp(b, force=True)):
            return EquivalenceResult(True, "powsimp(force).equals (variables >= 0)", "powsimp", _ms(t0))
        if sp.count_ops(a - b) <= 300 and sp.simplify(a - b) == 0:
            return EquivalenceResult(True, "simplify(a - b) == 0", "simplify", _ms(t0))
    facts = [(c.expr, c.rel) for c in problem.constraints if use_constraints or c.rel != "=="]
    r = solve(problem.variables, [*facts, (a - b, "!=")], z3_timeout_s)
    if r.status == "unsat":
        return EquivalenceResult(True, "z3: no point where they differ", "z3", _ms(t0))
    if r.status == "sat":
        return EquivalenceResult(False, "z3 found a point where they differ", "z3", _ms(t0), r.model)
    return EquivalenceResult(False, f"not shown equal ({r.reason})", "unknown", _ms(t0))


def check_rewrite(problem: Inequality, old: Goal, new: Goal, *, use_constraints: bool = False,
                  z3_timeout_s: float = 3.0) -> EquivalenceResult:
    """A rewrite keeps the goal when lhs - rhs is unchanged (as the official `llm_*` tactics)."""
    return check_equal(problem, old.lhs - old.rhs, new.lhs - new.rhs,
                       use_constraints=use_constraints, z3_timeout_s=z3_timeout_s)


@dataclass(frozen=True)
class RewriteCandidate:
    name: str  # the RewritingLib entry it stands in for (simplify, mul_expand, factor, ...)
    new: Goal
    relation: Literal["equal", "positive_multiple"]
    note: str = ""


HEAVY_OPS = 150  # larger goals get no sympy simplify / factor rewrite (both can run for minutes)
#: ... nor do goals whose distinct denominators' degrees sum above this (MO-INT P19's homogenised
#: goal, 89 operations, four cubic denominators: simplify ran 15 s past a 30 s limit, factor 6 s)
HEAVY_DENOMINATOR_DEGREE = 6


def heavy(d: sp.Expr) -> bool:
    """sympy's simplify / factor of d may run for many seconds, beyond any time check (also
    when d has a variable power: MO-INT P20's ``a^a b^b c^c d^d`` goals ran 6 s past 120 s)."""
    from backend.search.lips.filtering import _variable_power, denominator_degree

    return sp.count_ops(d) > HEAVY_OPS or denominator_degree(d) > HEAVY_DENOMINATOR_DEGREE \
        or _variable_power(d)


def _signs(problem: Inequality) -> dict:
    return {problem.symbols[n]: problem.sign_of(n) for n in problem.variables}


def _drop_positive_factors(expr: sp.Expr, signs: dict) -> tuple[sp.Expr, list[sp.Expr]]:
    """expr = (kept) * (dropped) with every dropped factor provably > 0."""
    kept, dropped = [], []
    for f in sp.Mul.make_args(expr):
        (dropped if is_nonneg(f, signs, strict=True) else kept).append(f)
    return sp.Mul(*kept), dropped


def sym_rewrites(problem: Inequality, goal: Goal, max_ops: int = 400) -> list[RewriteCandidate]:
    """Deterministic rewrites of `lhs - rhs <= 0`; each new goal is in Lean's side form."""
    d = goal.lhs - goal.rhs
    if sp.count_ops(d) > max_ops:
        return []
    out: list[RewriteCandidate] = []
    forms = {"simplify": lambda: sp.simplify(d), "mul_expand": lambda: sp.expand(d),
             "factor": lambda: sp.factor(d), "frac_together": lambda: sp.together(d)}
    too_heavy = heavy(d)
    if too_heavy:  # no time limit reaches inside sympy: MO-INT P19 sat here for minutes
        forms = {k: v for k, v in forms.items() if k not in ("simplify", "factor")}
    if expansion_bound(d) > EXPAND_BOUND:  # MO-INT P19 at 120 s: 18 s past its limit in this expand
        forms.pop("mul_expand")
    for name, fn in forms.items():
        poll()  # a search past its time limit stops between sympy forms
        e = fn()
        if e != d:
            out.append(RewriteCandidate(name, Goal.from_difference(e), "equal"))
    signs = _signs(problem)
    num, den = sp.fraction(sp.together(d))
    poll()
    if den != 1 and is_nonneg(den, signs, strict=True) and expansion_bound(num) <= EXPAND_BOUND:
        out.append(RewriteCandidate("cancel_denom", Goal.from_difference(sp.expand(num)), "positive_multiple",
                                    f"multiplied by the positive denominator {den}"))
    kept, dropped = _drop_positive_factors(num if too_heavy else sp.factor(num), signs)
    if dropped and kept != num:
        out.append(RewriteCandidate("cancel_factor", Goal.from_difference(kept), "positive_multiple",
                                    f"divided by positive factors {dropped} and {den}"))
    seen, uniq = set(), []
    for c in out:
        if c.new.key() not in seen and c.new.key() != goal.key():
            seen.add(c.new.key())
            uniq.append(c)
    return uniq


def main() -> None:
    """`python -m backend.search.lips.equivalence mo-int`: check the scripts' own rewrites A = B."""
    import collections
    import sys

    from backend.search.lips.expr import ExprParseError
    from backend.search.lips.problem import parse_constraint
    from backend.search.lips.problems import load_inequalities
    from backend.search.lips.replay import _REWRITE, split_equation

    logging.basicConfig(level=logging.WARNING)
    tally: collections.Counter = collections.Counter()
    for p in load_inequalities(sys.argv[1] if len(sys.argv) > 1 else "mo-int"):
        prob = p
        for line in p.reference_proof:
            if line.startswith("intro_by_homogeneous"):
                for c in parse_constraint(line[len("intro_by_homogeneous"):], p.symbols):
                    prob = prob.with_constraint(c)
            m = _REWRITE.match(line)
            if not m or line.startswith("llm_cancel_power"):
                continue
            try:
                a, b = (prob.parse(x) for x in split_equation(m.group(2)))
            except (ExprParseError, ValueError):
                tally["unparsed"] += 1
                continue
            r = check_equal(prob, a, b)
            if not r.accepted and prob.equalities:
                r = check_equal(prob, a, b, use_constraints=True)
                tally["needed the constraints"] += r.accepted
            tally[f"{'accepted' if r.accepted else 'rejected'} by {r.method}"] += 1
    print(dict(tally))


if __name__ == "__main__":
    main()
