"""Closing checkers: decide whether a goal `lhs <= rhs` is proved, refuted, or still open.

LIPS closes small goals with Lean automation (positivity, nlinarith) and, at the end, SOS and
SMT on the initial and best goals; with `by_axiom` on it trusts the external solver. Canopy has
no Lean, so every "proved" names the checker that proved it, and only sound ones may prove:

* `positivity`   rhs - lhs (also as one fraction, its numerator expanded or factored) is
                 non-negative by structure: non-negative numbers, variables known >= 0, even
                 powers, roots, sums and products of such (like Lean's `positivity`; this also
                 covers explicit sums of squares);
* `univariate`   one variable left (after solving linear equality constraints for a variable):
                 sympy's exact rational-function sign analysis on the feasible interval;
* `z3`           nlsat finds no feasible point with rhs - lhs < 0 (see `smt.py` for domains);
* `sos`          an exact sum-of-squares certificate (`sos.py`; floating-point SDP, then the Gram
                 matrix rounded to rationals and checked PSD exactly), when cvxpy is installed.

Refuting checkers: sampled feasible points, then scipy Nelder-Mead minimisation of rhs - lhs
(`numeric.py`), and a z3 model. A numeric method never proves anything, and a timeout or
"unknown" is reported as unknown, so a false inequality can never come back proved.
SOS needs cvxpy (the optional `sos` extra); without it that checker is skipped.
"""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass, replace
from typing import Literal

import sympy as sp

from backend.search.lips.numeric import PointCache, Sampler, evaluate, feasible, minimise
from backend.search.lips.problem import Constraint, Goal, Inequality
from backend.search.lips.smt import find_counterexample

log = logging.getLogger(__name__)

Status = Literal["proved", "refuted", "unknown"]


@dataclass(frozen=True)
class CloseConfig:
    n_points: int = 24  # random feasible points tried before any solver
    z3_timeout_s: float = 5.0  # the official smt_timeout is 2 s per solver; we run z3 alone
    minimise_starts: int = 6  # Nelder-Mead starts (0 disables the optimiser)
    max_ops: int = 400  # skip symbolic work on larger expressions (sympy can take minutes)
    tol: float = 1e-9  # relative slack for "violated" at a float point
    sos_timeout_s: float = 10.0  # SOS certificate (needs cvxpy; 0 disables it), after z3


@dataclass(frozen=True)
class Attempt:
    method: str
    status: Status
    ms: float
    detail: str = ""
    point: tuple[tuple[str, float], ...] | None = None  # the counterexample when refuted


@dataclass(frozen=True)
class CloseResult:
    status: Status
    method: str  # the checker that decided (or "" when unknown)
    ms: float
    counterexample: tuple[tuple[str, float], ...] | None = None
    attempts: tuple[Attempt, ...] = ()

    @property
    def proved(self) -> bool:
        return self.status == "proved"


def _signs(problem: Inequality) -> dict[sp.Symbol, str]:
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
    """Try rhs - lhs >= 0 by structure, on a few algebraic forms."""
    t0 = time.perf_counter()
    signs = _signs(problem)
    d = goal.rhs - goal.lhs
    forms = [("as is", d)]
    if sp.count_ops(d) <= max_ops:
        num, den = sp.fraction(sp.together(d))
        forms.append(("fraction", (num, den)))
        if sp.count_ops(num) <= max_ops:
            forms.append(("expanded numerator", (sp.expand(num), den)))
            forms.append(("factored numerator", (sp.factor(num), den)))
    for name, form in forms:
        ok = is_nonneg(form, signs) if not isinstance(form, tuple) else \
            is_nonneg(form[0], signs) and is_nonneg(form[1], signs, strict=True)
        if ok:
            return Attempt("positivity", "proved", _ms(t0), name)
    return Attempt("positivity", "unknown", _ms(t0))


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
        return Attempt("univariate", "unknown", _ms(t0), f"{len(free)} variables")
    x = free[0]
    num, den = sp.fraction(sp.together(d))
    if not (num.is_polynomial(x) and den.is_polynomial(x)) or sp.degree(num, x) > 12:
        return Attempt("univariate", "unknown", _ms(t0), "not a low-degree rational function")
    domain = sp.Reals
    try:
        for c in project_constraints(red.constraints, x):
            rel = {">": sp.StrictGreaterThan, ">=": sp.GreaterThan, "==": sp.Eq, "!=": sp.Ne}[c.rel]
            domain = domain.intersect(sp.solveset(rel(c.expr, 0), x, sp.Reals))
        bad = sp.solveset(sp.StrictLessThan(num * den, 0), x, sp.Reals)
    except (NotImplementedError, ValueError, TypeError) as exc:
        return Attempt("univariate", "unknown", _ms(t0), f"sympy: {exc}")
    if domain.intersect(bad) is sp.EmptySet:
        return Attempt("univariate", "proved", _ms(t0), f"no x in {domain} with rhs < lhs")
    return Attempt("univariate", "unknown", _ms(t0), "sign analysis inconclusive")


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000


def violation(problem: Inequality, goal: Goal, point: dict[str, float], tol: float) -> bool:
    """The goal fails at a feasible point by more than rounding."""
    d = evaluate(goal.rhs - goal.lhs, point, problem.variables)
    if d is None or not feasible(problem, point):
        return False
    sides = [evaluate(s, point, problem.variables) or 0.0 for s in (goal.lhs, goal.rhs)]
    return d < -tol * (1 + abs(sides[0]) + abs(sides[1]))


def refute_by_points(problem: Inequality, goal: Goal, cache: PointCache, config: CloseConfig) -> Attempt:
    t0 = time.perf_counter()
    for p in cache.points:
        if violation(problem, goal, p, config.tol):
            return Attempt("points", "refuted", _ms(t0), "a cached feasible point violates the goal",
                           _freeze(p))
    return Attempt("points", "unknown", _ms(t0), f"{len(cache.points)} points")


def refute_by_minimising(problem: Inequality, goal: Goal, cache: PointCache, config: CloseConfig) -> Attempt:
    t0 = time.perf_counter()
    starts = cache.points[: config.minimise_starts]
    best = minimise(problem, goal.rhs - goal.lhs, starts) if starts else None
    if best is not None and violation(problem, goal, best[1], config.tol):
        return Attempt("minimise", "refuted", _ms(t0), f"rhs - lhs = {best[0]:.3g}", _freeze(best[1]))
    return Attempt("minimise", "unknown", _ms(t0), f"smallest rhs - lhs found: {best[0] if best else None}")


def prove_or_refute_z3(problem: Inequality, goal: Goal, config: CloseConfig) -> Attempt:
    r = find_counterexample(problem, goal.rhs - goal.lhs, config.z3_timeout_s)
    status: Status = {"unsat": "proved", "sat": "refuted", "unknown": "unknown"}[r.status]  # type: ignore[assignment]
    return Attempt("z3", status, r.ms, r.reason, r.model if r.status == "sat" else None)


def _freeze(p: dict[str, float]) -> tuple[tuple[str, float], ...]:
    return tuple(sorted((k, float(v)) for k, v in p.items()))


def seed_points(problem: Inequality, cache: PointCache, n: int, seed: int = 0) -> None:
    """Fill the cache with the equality case and random feasible points (once per problem)."""
    if len(cache.points) >= n:
        return
    sampler = Sampler(problem, seed)
    eq = sampler.equality_case()
    cache.extend(([eq] if eq else []) + sampler.points(n))


def close_goal(problem: Inequality, goal: Goal, cache: PointCache | None = None,
               config: CloseConfig = CloseConfig()) -> CloseResult:
    """Run the checkers in cost order; the first definite answer wins.

    Every attempt is recorded (method, status, ms) so the UI can show which checker closed what.
    """
    t0 = time.perf_counter()
    cache = cache if cache is not None else PointCache()
    seed_points(problem, cache, config.n_points)
    checks = [
        lambda: refute_by_points(problem, goal, cache, config),
        lambda: positivity(problem, goal, config.max_ops),
        lambda: univariate(problem, goal, config.max_ops),
        lambda: prove_or_refute_z3(problem, goal, config),
    ]
    if config.sos_timeout_s > 0:
        from backend.search.lips.sos import available, sos_close  # cvxpy: optional, heavy

        if available():
            checks.append(lambda: sos_close(problem, goal, config.sos_timeout_s))
    if config.minimise_starts > 0:
        checks.append(lambda: refute_by_minimising(problem, goal, cache, config))
    attempts: list[Attempt] = []
    for check in checks:
        a = check()
        attempts.append(a)
        if a.status != "unknown":
            if a.point:
                cache.add(dict(a.point))
            log.info("goal %s: %s by %s", goal, a.status, a.method)
            return CloseResult(a.status, a.method, _ms(t0), a.point, tuple(attempts))
    return CloseResult("unknown", "", _ms(t0), None, tuple(attempts))


def main() -> None:
    """`python -m backend.search.lips.closing ineq-easy`: status and checker per problem."""
    import collections
    import sys

    from backend.search.lips.problems import load_inequalities

    logging.basicConfig(level=logging.WARNING)
    tally: collections.Counter = collections.Counter()
    for p in load_inequalities(sys.argv[1] if len(sys.argv) > 1 else "ineq-easy"):
        r = close_goal(p, p.goal)
        tally[(r.status, r.method)] += 1
        print(f"{p.id}: {r.status} by {r.method or '-'} in {r.ms:.0f} ms")
    print(dict(tally))


if __name__ == "__main__":
    main()
