"""Satisfiability of `expr REL 0` facts over the reals: the z3 queries of the closers and filters.

The official prover sends SMT-LIB (via sympy's `smtlib_code`) to a portfolio of solvers
(z3, cvc5, Maple, Mathematica...). Canopy uses z3's nlsat (QF_NRA) alone. The terms are built
by `z3terms.py` (radicals encoded exactly, with their domain facts), so a query is about the
points where every term of the goal is defined (for the benchmark problems, whose variables
are positive, that is all feasible points). Each query runs in a worker process
(`z3process.py`) killed when its hard wall-clock limit (`hard_limit_s`) passes. A timeout,
"unknown" or an unsupported term is reported as such and never counts as a proof.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Literal

import sympy as sp

from backend.search.lips.problem import Constraint, Inequality
from backend.search.lips.z3process import INPROCESS, Worker, hard_limit_s, thread_worker
from backend.search.lips.z3terms import Translator, Unsupported, model_value

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SmtResult:
    status: Literal["sat", "unsat", "unknown"]
    model: tuple[tuple[str, float], ...] | None  # a satisfying point when status == "sat"
    reason: str
    ms: float

    def point(self) -> dict[str, float]:
        return dict(self.model or ())


def _check_inprocess(z3, ctx, assertions: list, names: list[str], vars_: dict, timeout_ms: int) -> dict:
    s = z3.SolverFor("QF_NRA", ctx=ctx)
    if timeout_ms:
        s.set("timeout", timeout_ms)
    s.add(*assertions)
    res = s.check()
    if res == z3.sat:
        m = s.model()
        model = {n: model_value(m.eval(vars_[n], model_completion=True)) for n in names}
        return {"status": "sat", "model": model, "reason": "z3 found a model"}
    if res == z3.unsat:
        return {"status": "unsat", "model": {}, "reason": "z3: no such point"}
    return {"status": "unknown", "model": {}, "reason": f"z3: {s.reason_unknown()}"}


class Pending:
    """A query handed to a worker (or already answered); ``result()`` waits for the answer, at
    most until the query's hard limit, counted from when it was sent."""

    def __init__(self, names: list[str], t0: float, *, worker: Worker | None = None, limit: float = 0.0,
                 out: dict | None = None, done: SmtResult | None = None) -> None:
        self.names, self.t0, self.worker, self.limit = names, t0, worker, limit
        self.sent = time.perf_counter()
        self._out, self._done = out, done

    def ready(self, wait_s: float = 0.0) -> bool:
        """The answer has come (waiting at most ``wait_s`` for it)."""
        return self._done is not None or self.worker is None or self.worker.ready(wait_s)

    def result(self) -> SmtResult:
        if self._done is None:
            out = self._out
            if self.worker is not None:
                out = self.worker.receive(max(0.0, self.limit - (time.perf_counter() - self.sent)))
            self._done = self._read(out)
        return self._done

    def _read(self, out: dict | None) -> SmtResult:
        ms = (time.perf_counter() - self.t0) * 1000
        if out is None:
            log.info("z3 query killed after %.0f ms (hard limit %.1f s)", ms, self.limit)
            return SmtResult("unknown", None, f"z3: hard time limit {self.limit:.1f} s (worker killed)", ms)
        if out["status"] == "sat":
            return SmtResult("sat", tuple((n, float(out["model"][n])) for n in self.names), out["reason"], ms)
        return SmtResult(out["status"], None, out["reason"], ms)


def submit(variables: tuple[str, ...], facts: list[tuple[sp.Expr, str]], timeout_s: float = 3.0,
           *, soft_timeout: bool = True, slot: int = 0) -> Pending:
    """Send a query to this thread's worker ``slot`` and return at once: queries on different
    slots run at the same time (``solve`` = ``submit(...).result()``)."""
    t0 = time.perf_counter()
    try:
        tr = Translator(variables)
        z3 = tr.z3
        terms = [tr.rel(e, r) for e, r in facts]
    except Unsupported as exc:
        ms = (time.perf_counter() - t0) * 1000
        return Pending([], t0, done=SmtResult("unknown", None, f"unsupported: {exc}", ms))
    names = list(tr.vars)
    timeout_ms = max(1, int(timeout_s * 1000)) if soft_timeout else 0
    if INPROCESS:
        out = _check_inprocess(z3, tr.ctx, [*terms, *tr.side], names, tr.vars, timeout_ms)
        return Pending(names, t0, out=out)
    s = z3.SolverFor("QF_NRA", ctx=tr.ctx)
    s.add(*terms, *tr.side)
    request = {"smt2": s.to_smt2(), "vars": names, "timeout_ms": timeout_ms}
    worker = thread_worker(slot)  # (re)starting it is not counted: the limit is on z3's work
    sent = worker.send(request)
    return Pending(names, t0, worker=worker if sent else None, limit=hard_limit_s(timeout_s))


def solve(variables: tuple[str, ...], facts: list[tuple[sp.Expr, str]], timeout_s: float = 3.0,
          *, soft_timeout: bool = True) -> SmtResult:
    """Satisfiability of the conjunction of `expr REL 0` facts over the reals (with domains).

    The query runs in a worker process killed after ``hard_limit_s(timeout_s)``: the call never
    takes longer than that (plus the translation and, after a kill, the worker's restart of
    ~0.3 s), whatever z3 does. ``soft_timeout=False`` withholds z3's own timeout (tests: a z3
    that ignores it).
    """
    return submit(variables, facts, timeout_s, soft_timeout=soft_timeout).result()


def constraint_facts(problem: Inequality) -> list[tuple[sp.Expr, str]]:
    return [(c.expr, c.rel) for c in problem.constraints]


def find_counterexample(problem: Inequality, expr: sp.Expr, timeout_s: float = 3.0,
                        extra: tuple[Constraint, ...] = ()) -> SmtResult:
    """Look for a feasible point with expr < 0. unsat means expr >= 0 holds on the whole domain."""
    return submit_counterexample(problem, expr, timeout_s, extra).result()


def submit_counterexample(problem: Inequality, expr: sp.Expr, timeout_s: float = 3.0,
                          extra: tuple[Constraint, ...] = (), slot: int = 0) -> Pending:
    """``find_counterexample`` sent to worker ``slot``, answered later (``Pending.result``)."""
    facts = constraint_facts(problem) + [(c.expr, c.rel) for c in extra] + [(expr, "<")]
    return submit(problem.variables, facts, timeout_s, slot=slot)
