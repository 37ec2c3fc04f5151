"""Counterexample filter for candidate goals (LIPS scaler `check_by_test` + `check_by_verify`).

A candidate step old -> new (a scaling or a rewrite) is kept only if
  1. the new goal is not FALSE: it holds at every cached test point (earlier counterexamples
     first, then the equality case and random feasible points), and z3 finds no feasible
     point violating it. This is the official filter: a false goal can never be proved.
  2. the step is SOUND: new implies old. The official code leaves this to Lean (the lemma is a
     theorem; side conditions such as k >= 0 are discharged by `positivity`). Canopy has no
     Lean, so it checks it: when one side is unchanged it suffices that the changed side moved
     the right way (left side grew, right side shrank) at every feasible point; otherwise the
     full implication is checked. Test points first, then z3.
Status: "counterexample" (with the point and whether it refutes the new goal or the step),
"passed" (z3 proved the implication and found no counterexample), or "unknown" (nothing
refuted, but the implication was not proved in time: never counted as a pass). Counterexamples
are added to the per-problem `PointCache`, as the official scaler extends `test_cases`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import sympy as sp

from backend.search.lips.closing import seed_points
from backend.search.lips.exprtools import BOUND_CAP, expansion_bound
from backend.search.lips.numeric import PointCache, evaluate, feasible
from backend.search.lips.positivity import is_nonneg, negative_in_sign_orthant
from backend.search.lips.problem import Goal, Inequality
from backend.search.lips.smt import Pending, SmtResult, submit

log = logging.getLogger(__name__)

FACTOR_OPS = 200  # larger implication claims skip the sympy positivity check and go to z3
FACTOR_TERMS = 2000  # ... as do claims whose common numerator may have more terms than this
FACTOR_DENOMINATOR_DEGREE = 4  # ... as do claims whose distinct denominators' degrees sum above this (8 let
# MO-INT P15 spend minutes in factor: denominators (a+b)^2, (a+c)^2, (b+c)^2 and their scaled forms)


def _cheap_to_factor(claim: sp.Expr) -> bool:
    """Whether ``factor(together(claim))`` is cheap: few operations and a common denominator of
    low degree (the sum of the distinct variable denominators' total degrees)."""
    if sp.count_ops(claim) > FACTOR_OPS or _variable_power(claim):
        return False
    return denominator_degree(claim) <= FACTOR_DENOMINATOR_DEGREE and together_bound(claim) <= FACTOR_TERMS


def together_bound(e: sp.Expr) -> int:
    """An upper bound on the terms of ``together(e)``'s numerator: the numerators' terms times
    every distinct denominator's (``exprtools.expansion_bound``). MO-INT P13: a claim under both
    caps above spent 15 s past its 120 s limit in the expand inside ``factor``."""
    parts = [sp.fraction(t) for t in sp.Add.make_args(e)]
    out = min(BOUND_CAP, sum(expansion_bound(n) for n, _ in parts))
    for d in {d for _, d in parts}:
        out = min(BOUND_CAP, out * expansion_bound(d))
    return out


def _variable_power(e: sp.Expr) -> bool:
    """A power with a variable exponent (``d^(4*d)``): sympy factors over such terms as extra
    generators, and its gcds then ran for minutes (MO-INT P20, > 5 min in one ``factor``);
    positivity cannot use them anyway, z3 decides."""
    return any(p.is_Pow and p.exp.free_symbols for p in sp.preorder_traversal(e))


def denominator_degree(expr: sp.Expr) -> float:
    """The sum of the total degrees of the distinct variable denominators of expr's terms (inf
    when one is not a polynomial): what makes sympy's factor/simplify of it slow."""
    dens = {sp.fraction(t)[1] for t in sp.Add.make_args(expr)}
    total = 0
    for d in dens:
        if not d.free_symbols:
            continue
        if not d.is_polynomial(*d.free_symbols):
            return float("inf")
        total += sp.Poly(d, *d.free_symbols).total_degree()
    return total


@dataclass(frozen=True)
class FilterConfig:
    n_points: int = 24  # random feasible points (plus the equality case and cached ones)
    implication_timeout_s: float = 3.0  # z3 budget for "new implies old"
    refute_timeout_s: float = 2.0  # z3 budget for "new goal has a counterexample" (official: 2 s)
    refute_new_goal: bool = True  # the official solver check; off = numeric test points only
    tol: float = 1e-9  # relative slack when comparing floats


@dataclass(frozen=True)
class FilterResult:
    status: Literal["counterexample", "passed", "unknown"]
    kind: Literal["new_goal_false", "step_unsound", ""]
    counterexample: tuple[tuple[str, float], ...] | None
    method: str  # "points", "z3", "positivity", or "" ; which check decided
    ms: float
    detail: str = ""
    new_goal_proved: bool = False  # z3 showed the new goal itself holds: the search can close it

    @property
    def keep(self) -> bool:
        return self.status != "counterexample"


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000


def implication_claim(old: Goal, new: Goal) -> sp.Expr | None:
    """An expression whose non-negativity makes `new => old`, when one side is unchanged."""
    if new.rhs == old.rhs:
        return new.lhs - old.lhs  # left side grew
    if new.lhs == old.lhs:
        return old.rhs - new.rhs  # right side shrank
    return None


def _fails(problem: Inequality, expr: sp.Expr, point: dict, tol: float) -> bool:
    """expr < 0 at point beyond rounding (undefined values do not count)."""
    v = evaluate(expr, point, problem.variables)
    return v is not None and v < -tol * (1 + abs(v) + max(abs(x) for x in point.values()))


def check_points(problem: Inequality, old: Goal, new: Goal, cache: PointCache,
                 tol: float) -> FilterResult | None:
    """Stage 1: cached points (counterexamples first), the equality case, random feasible points."""
    t0 = time.perf_counter()
    claim = implication_claim(old, new)
    for p in cache.points:
        if not feasible(problem, p):
            continue
        if _fails(problem, new.rhs - new.lhs, p, tol):
            return FilterResult("counterexample", "new_goal_false", _freeze(p), "points", _ms(t0),
                                "the new goal fails at a test point")
        old_fails = _fails(problem, old.rhs - old.lhs, p, tol)
        if (claim is not None and _fails(problem, claim, p, tol)) or old_fails:
            return FilterResult("counterexample", "step_unsound", _freeze(p), "points", _ms(t0),
                                "the step moves the changed side the wrong way at a test point")
    return None


def _freeze(p: dict) -> tuple[tuple[str, float], ...]:
    return tuple(sorted((k, float(v)) for k, v in p.items()))


def _submit(problem: Inequality, facts: list, timeout: float, slot: int) -> Pending:
    base = [(c.expr, c.rel) for c in problem.constraints]
    return submit(problem.variables, base + facts, timeout, slot=slot)


def _z3(problem: Inequality, facts: list, timeout: float) -> SmtResult:
    return _submit(problem, facts, timeout, 0).result()


def check_step(problem: Inequality, old: Goal, new: Goal, cache: PointCache | None = None,
               config: FilterConfig = FilterConfig(),
               implied_by: Callable[[], str | None] | None = None) -> FilterResult:
    """Filter one candidate step; see the module docstring for the stages. The two z3 questions
    (is the new goal false? does new imply old?) go to two worker processes at once (issue 18:
    they ran one after the other); the answer is the sequential one (a false new goal first).
    ``implied_by`` (after the test points) may prove new => old exactly instead of positivity
    and z3: it returns how, or None (``cauchy_cert.titu_certificate`` for Titu steps)."""
    t0 = time.perf_counter()
    cache = cache if cache is not None else PointCache()
    seed_points(problem, cache, config.n_points)
    by_points = check_points(problem, old, new, cache, config.tol)
    if by_points is not None:
        return by_points
    refuting = _submit(problem, [(new.rhs - new.lhs, "<")], config.refute_timeout_s, 0) \
        if config.refute_new_goal else None
    exact = implied_by() if implied_by is not None else None
    implied = None if exact else _implication(problem, old, new, config)  # positivity here, while z3 works
    new_proved = False
    if refuting is not None:
        r = refuting.result()
        if r.status == "sat":
            if isinstance(implied, Pending):
                implied.result()  # collected, so the worker holds no stale answer
            cache.add(r.point())
            return FilterResult("counterexample", "new_goal_false", r.model, "z3", _ms(t0),
                                "z3 found a feasible point where the new goal fails")
        new_proved = r.status == "unsat"
    if exact:
        return FilterResult("passed", "", None, "identity", _ms(t0), exact, new_proved)
    if not isinstance(implied, Pending):
        return FilterResult("passed", "", None, "positivity", _ms(t0), "changed side moved the right way",
                            new_proved)
    r = implied.result()
    if r.status == "sat":
        cache.add(r.point())
        return FilterResult("counterexample", "step_unsound", r.model, "z3", _ms(t0),
                            "z3 found a feasible point where the new goal does not imply the old", new_proved)
    if r.status == "unsat":
        return FilterResult("passed", "", None, "z3", _ms(t0), "z3 proved new => old", new_proved)
    return FilterResult("unknown", "", None, "z3", _ms(t0), f"implication not proved: {r.reason}", new_proved)


def check_new_goal(problem: Inequality, new: Goal, cache: PointCache | None = None,
                   config: FilterConfig = FilterConfig()) -> FilterResult:
    """Stage 1 alone, for a step whose soundness its tactic has proved (the symbolic tactics):
    the new goal must hold at the test points, and z3 must find no feasible point violating it.
    "passed" here means only "not refuted"; `new_goal_proved` says whether z3 showed it holds."""
    t0 = time.perf_counter()
    cache = cache if cache is not None else PointCache()
    seed_points(problem, cache, config.n_points)
    for p in cache.points:
        if feasible(problem, p) and _fails(problem, new.rhs - new.lhs, p, config.tol):
            return FilterResult("counterexample", "new_goal_false", _freeze(p), "points", _ms(t0),
                                "the new goal fails at a test point")
    if not config.refute_new_goal:
        return FilterResult("passed", "", None, "points", _ms(t0), "holds at the test points")
    r = _z3(problem, [(new.rhs - new.lhs, "<")], config.refute_timeout_s)
    if r.status == "sat":
        cache.add(r.point())
        return FilterResult("counterexample", "new_goal_false", r.model, "z3", _ms(t0),
                            "z3 found a feasible point where the new goal fails")
    return FilterResult("passed", "", None, "z3", _ms(t0), f"new goal not refuted ({r.reason})",
                        r.status == "unsat")


def _implication(problem: Inequality, old: Goal, new: Goal, config: FilterConfig) -> Pending | None:
    """None when positivity shows new => old (the changed side moved the right way), else the
    z3 query for a feasible point where new holds and old fails, sent to worker slot 1."""
    claim = implication_claim(old, new)
    signs = {problem.symbols[n]: problem.sign_of(n) for n in problem.variables}
    # sympy's factor of a large claim can take minutes (MO-INT P19's homogenisation step: 68 s
    # for a claim z3 settles in 3 s; MO-INT P15: over 200 s), so positivity tries only claims that
    # are cheap to factor and not negative at a point of the sign orthant (where no form can be
    # non-negative by the signs)
    small = claim is not None and _cheap_to_factor(claim) and not negative_in_sign_orthant(claim, signs)
    if claim is not None and (claim == 0 or (small and is_nonneg(sp.factor(sp.together(claim)), signs))):
        return None
    if claim is not None:
        return _submit(problem, [(claim, "<")], config.implication_timeout_s, 1)
    # both sides changed: is there a point where new holds and old fails?
    facts = [(new.rhs - new.lhs, ">="), (old.rhs - old.lhs, "<")]
    return _submit(problem, facts, config.implication_timeout_s, 1)


def main() -> None:
    """`python -m backend.search.lips.filtering ineq-easy 12`: filter every scaling candidate."""
    import collections
    import sys

    from backend.search.lips.problems import load_inequalities
    from backend.search.lips.scaling import scale_goal

    logging.basicConfig(level=logging.WARNING)
    limit = int(sys.argv[2]) if len(sys.argv) > 2 else None
    tally: collections.Counter = collections.Counter()
    n, cpu = 0, 0.0
    for p in load_inequalities(sys.argv[1] if len(sys.argv) > 1 else "ineq-easy")[:limit]:
        cache = PointCache()
        for step in scale_goal(p.goal).steps:
            t = time.process_time()
            r = check_step(p, step.old, step.new, cache)
            cpu += time.process_time() - t
            n += 1
            tally[f"{r.status}/{r.kind or '-'}/{r.method}"] += 1
    print(f"{n} candidates, {1000 * cpu / max(n, 1):.0f} ms CPU each: {dict(tally)}")


if __name__ == "__main__":
    main()
