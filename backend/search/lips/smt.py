"""sympy -> z3 nonlinear real arithmetic, with radicals encoded exactly.

The official prover sends SMT-LIB (via sympy's `smtlib_code`) to a portfolio of solvers
(z3, cvc5, Maple, Mathematica...). Canopy uses z3's nlsat (QF_NRA) alone, in-process. Terms z3
cannot express directly get auxiliary variables with exact definitions:

* `x^(p/q)` (sqrt, cube roots, ...) -> t with t >= 0 and t^q = x^p, plus the domain fact x >= 0
  (x > 0 for negative exponents), so t is exactly the real root;
* `x^(-n)` -> 1 / x^n with the domain fact x != 0.

A query is therefore about the points where every term of the goal is defined (the domain);
for the benchmark problems, whose variables are positive, that is all feasible points.
Variable exponents, |x|, exp, log, ... raise `Unsupported`. A timeout or "unknown" is reported
as such and never counts as a proof. Every query has a hard wall-clock limit (`hard_limit_s`):
it runs in a worker process (`z3worker.py`) that is killed when the limit passes.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import select
import subprocess
import sys
import threading
import time
import weakref
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

import sympy as sp

from backend.search.lips.problem import Constraint, Inequality

log = logging.getLogger(__name__)


class Unsupported(ValueError):
    """The expression uses something z3's real arithmetic cannot express; message says what."""


@dataclass(frozen=True)
class SmtResult:
    status: Literal["sat", "unsat", "unknown"]
    model: tuple[tuple[str, float], ...] | None  # a satisfying point when status == "sat"
    reason: str
    ms: float

    def point(self) -> dict[str, float]:
        return dict(self.model or ())


def _thread_context(z3):
    """This thread's own z3 context: z3's default context is not thread-safe, and a server runs
    several LIPS searches in threads at once (two of them building terms in the shared context
    corrupted each other's terms: "Value cannot be converted into a Z3 Boolean value")."""
    ctx = getattr(_local, "z3_context", None)
    if ctx is None:
        ctx = _local.z3_context = z3.Context()
    return ctx


class _Translator:
    """Builds z3 terms; collects auxiliary definitions and domain facts in `side`."""

    def __init__(self, names: tuple[str, ...]):
        import z3  # lazy: z3 is an optional heavy import

        self.z3 = z3
        self.ctx = _thread_context(z3)
        self.vars = {n: z3.Real(n, self.ctx) for n in names}
        self.side: list = []
        self.cache: dict[sp.Expr, object] = {}

    def num(self, r: sp.Rational):
        return self.z3.RealVal(Fraction(int(r.p), int(r.q)), self.ctx)

    def term(self, e: sp.Expr):
        if e in self.cache:
            return self.cache[e]
        t = self._term(e)
        self.cache[e] = t
        return t

    def _term(self, e: sp.Expr):
        if e.is_Symbol:
            if e.name not in self.vars:
                raise Unsupported(f"unknown variable {e.name}")
            return self.vars[e.name]
        if e.is_Rational:
            return self.num(e)
        if e.is_Add:
            return self.z3.Sum([self.term(a) for a in e.args])
        if e.is_Mul:
            return self.z3.Product([self.term(a) for a in e.args])
        if e.is_Pow:
            return self._pow(e.base, e.exp)
        if isinstance(e, sp.Abs):  # t >= 0 and t^2 = x^2 pins t = |x|
            t, x = self.z3.FreshReal("abs", self.ctx), self.term(e.args[0])
            self.side += [t >= 0, t * t == x * x]
            return t
        raise Unsupported(f"cannot encode {type(e).__name__}: {e}")

    def _ipow(self, base, n: int):
        out = base
        for _ in range(n - 1):
            out = out * base
        return out

    def _pow(self, b: sp.Expr, x: sp.Expr):
        if not x.is_Rational:
            raise Unsupported(f"variable or irrational exponent in {b}^({x})")
        base = self.term(b)
        if x.is_Integer:
            n = int(x)
            if n == 0:
                return self.z3.RealVal(1, self.ctx)
            if n > 0:
                return self._ipow(base, n)
            self.side.append(base != 0)
            return 1 / self._ipow(base, -n)
        p, q = int(x.p), int(x.q)
        root = self.z3.FreshReal("root", self.ctx)
        # t = b^(|p|/q): t >= 0, t^q = b^|p|, on the domain b >= 0 (b > 0 if p < 0)
        self.side += [root >= 0, self._ipow(root, q) == self._ipow(base, abs(p))]
        self.side.append(base > 0 if p < 0 else base >= 0)
        if p < 0:
            self.side.append(root > 0)
            return 1 / root
        return root

    def rel(self, e: sp.Expr, rel: str):
        t = self.term(e)
        return {">": t > 0, ">=": t >= 0, "==": t == 0, "!=": t != 0, "<": t < 0, "<=": t <= 0}[rel]


def _model_value(v) -> float:
    """z3 numeral (rational or algebraic) -> float."""
    if hasattr(v, "as_fraction"):
        f = v.as_fraction()
        return float(f.numerator) / float(f.denominator)
    approx = v.approx(20)
    f = approx.as_fraction()
    return float(f.numerator) / float(f.denominator)


# --- hard time limits -------------------------------------------------------------------------
#
# z3's `timeout` is soft: z3 polls it only at some points of its search (nlsat's algebraic-number
# and big-integer work is not interrupted), so one query can run far past it and stall the whole
# search. Every query therefore runs in a worker process (`z3worker.py`, one per thread) that is
# killed when the hard limit below passes; the answer is then "unknown", like a soft timeout.

WORKER = Path(__file__).with_name("z3worker.py")
INPROCESS = os.environ.get("CANOPY_Z3_INPROCESS", "") == "1"  # debugging: no worker, soft limit only
_local = threading.local()
_workers: weakref.WeakSet[_Worker] = weakref.WeakSet()  # live workers, for the exit hook


def hard_limit_s(timeout_s: float) -> float:
    """Wall seconds a query may take in all: z3's soft timeout plus grace for a loaded machine."""
    return 1.5 * timeout_s + 0.5


class _Worker:
    """One z3 worker process, owned by the thread (and process) that started it."""

    def __init__(self) -> None:
        self.owner = os.getpid()
        self.proc = subprocess.Popen(
            [sys.executable, str(WORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.buf = b""
        _workers.add(self)
        if self._line(30.0) is None:
            self.kill()
            raise RuntimeError("the z3 worker did not start")

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None and self.owner == os.getpid()

    def _line(self, limit_s: float) -> bytes | None:
        """The next answer line, or None when the limit passes or the worker dies."""
        deadline = time.monotonic() + limit_s
        fd = self.proc.stdout.fileno()  # type: ignore[union-attr]
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                return None
            chunk = os.read(fd, 1 << 16)
            if not chunk:  # the worker died (z3 crashed)
                return None
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line

    def ask(self, request: dict, limit_s: float) -> dict | None:
        """The worker's answer, or None after killing it (past the limit, or it died)."""
        try:
            self.proc.stdin.write((json.dumps(request) + "\n").encode())  # type: ignore[union-attr]
            self.proc.stdin.flush()  # type: ignore[union-attr]
        except (BrokenPipeError, OSError):
            self.kill()
            return None
        line = self._line(limit_s)
        if line is None:
            self.kill()
            return None
        return json.loads(line)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()  # SIGKILL to the process this object started, by its pid
        self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout):
            if f is not None:
                f.close()
        _workers.discard(self)

    def __del__(self) -> None:  # the owning thread ended (its thread-local is dropped)
        if self.owner == os.getpid():
            with contextlib.suppress(Exception):  # interpreter shutdown: the exit hook cleans up
                self.kill()


def _worker() -> _Worker:
    w: _Worker | None = getattr(_local, "worker", None)
    if w is None or not w.alive:
        if w is not None and w.owner == os.getpid():
            w.kill()
        w = _Worker()
        _local.worker = w
    return w


@atexit.register
def _stop_workers() -> None:
    for w in list(_workers):
        if w.owner == os.getpid():
            w.kill()


def _check_inprocess(z3, ctx, assertions: list, names: list[str], vars_: dict, timeout_ms: int) -> dict:
    s = z3.SolverFor("QF_NRA", ctx=ctx)
    if timeout_ms:
        s.set("timeout", timeout_ms)
    s.add(*assertions)
    res = s.check()
    if res == z3.sat:
        m = s.model()
        model = {n: _model_value(m.eval(vars_[n], model_completion=True)) for n in names}
        return {"status": "sat", "model": model, "reason": "z3 found a model"}
    if res == z3.unsat:
        return {"status": "unsat", "model": {}, "reason": "z3: no such point"}
    return {"status": "unknown", "model": {}, "reason": f"z3: {s.reason_unknown()}"}


def solve(variables: tuple[str, ...], facts: list[tuple[sp.Expr, str]], timeout_s: float = 3.0,
          *, soft_timeout: bool = True) -> SmtResult:
    """Satisfiability of the conjunction of `expr REL 0` facts over the reals (with domains).

    The query runs in a worker process killed after ``hard_limit_s(timeout_s)``: the call never
    takes longer than that (plus the translation and, after a kill, the worker's restart of
    ~0.3 s), whatever z3 does. ``soft_timeout=False``
    withholds z3's own timeout (tests: a z3 that ignores it).
    """
    t0 = time.perf_counter()
    try:
        tr = _Translator(variables)
        z3 = tr.z3
        terms = [tr.rel(e, r) for e, r in facts]
    except Unsupported as exc:
        return SmtResult("unknown", None, f"unsupported: {exc}", (time.perf_counter() - t0) * 1000)
    names = list(tr.vars)
    timeout_ms = max(1, int(timeout_s * 1000)) if soft_timeout else 0
    out: dict | None
    if INPROCESS:
        out = _check_inprocess(z3, tr.ctx, [*terms, *tr.side], names, tr.vars, timeout_ms)
    else:
        s = z3.SolverFor("QF_NRA", ctx=tr.ctx)
        s.add(*terms, *tr.side)
        request = {"smt2": s.to_smt2(), "vars": names, "timeout_ms": timeout_ms}
        worker = _worker()  # (re)starting it is not counted: the limit is on z3's work
        limit = hard_limit_s(timeout_s)
        out = worker.ask(request, limit)
        if out is None:
            ms = (time.perf_counter() - t0) * 1000
            log.info("z3 query killed after %.0f ms (hard limit %.1f s)", ms, limit)
            return SmtResult("unknown", None, f"z3: hard time limit {limit:.1f} s (worker killed)", ms)
    ms = (time.perf_counter() - t0) * 1000
    if out["status"] == "sat":
        return SmtResult("sat", tuple((n, float(out["model"][n])) for n in names), out["reason"], ms)
    return SmtResult(out["status"], None, out["reason"], ms)


def constraint_facts(problem: Inequality) -> list[tuple[sp.Expr, str]]:
    return [(c.expr, c.rel) for c in problem.constraints]


def find_counterexample(problem: Inequality, expr: sp.Expr, timeout_s: float = 3.0,
                        extra: tuple[Constraint, ...] = ()) -> SmtResult:
    """Look for a feasible point with expr < 0. unsat means expr >= 0 holds on the whole domain."""
    facts = constraint_facts(problem) + [(c.expr, c.rel) for c in extra] + [(expr, "<")]
    return solve(problem.variables, facts, timeout_s)
