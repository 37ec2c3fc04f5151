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

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from backend.search.base import Stopped
from backend.search.lips.attempt import Attempt, Status, ms_since
from backend.search.lips.numeric import PointCache, Sampler, evaluate, feasible, minimise
from backend.search.lips.positivity import positivity
from backend.search.lips.problem import Goal, Inequality
from backend.search.lips.smt import SmtResult, find_counterexample, submit_counterexample
from backend.search.lips.univariate import univariate

log = logging.getLogger(__name__)

QUICK_Z3_S = 0.2  # z3 answers most easy goals within this: SOS is not started beside it


@dataclass(frozen=True)
class CloseConfig:
    n_points: int = 24  # random feasible points tried before any solver
    z3_timeout_s: float = 5.0  # the official smt_timeout is 2 s per solver; we run z3 alone
    minimise_starts: int = 6  # Nelder-Mead starts (0 disables the optimiser)
    max_ops: int = 400  # skip symbolic work on larger expressions (sympy can take minutes)
    tol: float = 1e-9  # relative slack for "violated" at a float point
    sos_timeout_s: float = 10.0  # SOS certificate (needs cvxpy; 0 disables it), after z3

    def capped(self, z3_s: float | None = None, left_s: float | None = None) -> CloseConfig:
        """These budgets with z3 cut to ``z3_s``, and z3 and SOS cut to ``left_s`` (the time a
        run has left, so a check near its limit does not run a full 5 s z3 + 10 s SOS past it)."""
        z3 = min([self.z3_timeout_s] + [t for t in (z3_s, left_s) if t is not None])
        sos = self.sos_timeout_s
        if sos > 0 and left_s is not None:
            sos = min(sos, left_s)
        return replace(self, z3_timeout_s=z3, sos_timeout_s=sos)


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
            return Attempt("points", "refuted", ms_since(t0), "a cached feasible point violates the goal",
                           _freeze(p))
    return Attempt("points", "unknown", ms_since(t0), f"{len(cache.points)} points")


def refute_by_minimising(problem: Inequality, goal: Goal, cache: PointCache, config: CloseConfig) -> Attempt:
    t0 = time.perf_counter()
    starts = cache.points[: config.minimise_starts]
    best = minimise(problem, goal.rhs - goal.lhs, starts) if starts else None
    if best is not None and violation(problem, goal, best[1], config.tol):
        return Attempt("minimise", "refuted", ms_since(t0), f"rhs - lhs = {best[0]:.3g}", _freeze(best[1]))
    found = best[0] if best else None
    return Attempt("minimise", "unknown", ms_since(t0), f"smallest rhs - lhs found: {found}")


def prove_or_refute_z3(problem: Inequality, goal: Goal, config: CloseConfig) -> Attempt:
    return _z3_attempt(find_counterexample(problem, goal.rhs - goal.lhs, config.z3_timeout_s))


def _z3_attempt(r: SmtResult) -> Attempt:
    status: Status = {"unsat": "proved", "sat": "refuted", "unknown": "unknown"}[r.status]  # type: ignore[assignment]
    return Attempt("z3", status, r.ms, r.reason, r.model if r.status == "sat" else None)


def z3_then_sos(problem: Inequality, goal: Goal, config: CloseConfig) -> list[Attempt]:
    """z3, then SOS when z3 did not decide; but SOS runs here while z3 works in its worker
    process when z3 has not answered within ``QUICK_Z3_S`` (issue 18: on a hard goal the two
    took their budgets one after the other). The answer is the sequential one: z3's when it
    decides (the SOS attempt is then dropped), else SOS's."""
    sos_on = config.sos_timeout_s > 0
    if sos_on:
        from backend.search.lips.sos import available, sos_close  # cvxpy: optional, heavy

        sos_on = available()
    pending = submit_counterexample(problem, goal.rhs - goal.lhs, config.z3_timeout_s)
    sos = None
    if sos_on and not pending.ready(QUICK_Z3_S):
        sos = sos_close(problem, goal, config.sos_timeout_s)
    z3 = _z3_attempt(pending.result())
    if z3.status != "unknown" or not sos_on:
        return [z3]
    return [z3, sos if sos is not None else sos_close(problem, goal, config.sos_timeout_s)]


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
        ("points", lambda: [refute_by_points(problem, goal, cache, config)]),
        ("positivity", lambda: [positivity(problem, goal, config.max_ops)]),
        ("univariate", lambda: [univariate(problem, goal, config.max_ops)]),
        ("z3", lambda: z3_then_sos(problem, goal, config)),
    ]
    if config.minimise_starts > 0:
        checks.append(("minimise", lambda: [refute_by_minimising(problem, goal, cache, config)]))
    attempts: list[Attempt] = []
    for method, check in checks:
        for a in _guarded(method, check, goal):
            attempts.append(a)
            if a.status != "unknown":
                if a.point:
                    cache.add(dict(a.point))
                log.info("goal %s: %s by %s", goal, a.status, a.method)
                return CloseResult(a.status, a.method, ms_since(t0), a.point, tuple(attempts))
    return CloseResult("unknown", "", ms_since(t0), None, tuple(attempts))


def _guarded(method: str, check: Callable[[], list[Attempt]], goal: Goal) -> list[Attempt]:
    """``check()``, or, when a checker fails on a goal it was not written for, one "unknown"
    attempt that says so: one prover's fault (sympy on an unforeseen shape) must not end the
    whole search. The search's own stop (time limit, Stop) still propagates."""
    t0 = time.perf_counter()
    try:
        return check()
    except Stopped:
        raise
    except Exception as exc:  # recorded on the goal and logged with its traceback
        log.exception("goal %s: the %s checker failed", goal, method)
        why = f"internal error in the {method} checker ({type(exc).__name__}: {str(exc)[:200]})"
        return [Attempt(method, "unknown", ms_since(t0), why)]


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
