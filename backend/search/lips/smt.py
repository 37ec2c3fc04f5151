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
as such and never counts as a proof.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from fractions import Fraction
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


class _Translator:
    """Builds z3 terms; collects auxiliary definitions and domain facts in `side`."""

    def __init__(self, names: tuple[str, ...]):
        import z3  # lazy: z3 is an optional heavy import

        self.z3 = z3
        self.vars = {n: z3.Real(n) for n in names}
        self.side: list = []
        self.cache: dict[sp.Expr, object] = {}

    def num(self, r: sp.Rational):
        return self.z3.RealVal(Fraction(int(r.p), int(r.q)))

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
            t, x = self.z3.FreshReal("abs"), self.term(e.args[0])
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
                return self.z3.RealVal(1)
            if n > 0:
                return self._ipow(base, n)
            self.side.append(base != 0)
            return 1 / self._ipow(base, -n)
        p, q = int(x.p), int(x.q)
        root = self.z3.FreshReal("root")
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


def solve(variables: tuple[str, ...], facts: list[tuple[sp.Expr, str]], timeout_s: float = 3.0) -> SmtResult:
    """Satisfiability of the conjunction of `expr REL 0` facts over the reals (with domains)."""
    t0 = time.perf_counter()
    try:
        tr = _Translator(variables)
        z3 = tr.z3
        terms = [tr.rel(e, r) for e, r in facts]
    except Unsupported as exc:
        return SmtResult("unknown", None, f"unsupported: {exc}", (time.perf_counter() - t0) * 1000)
    s = z3.SolverFor("QF_NRA")
    s.set("timeout", max(1, int(timeout_s * 1000)))
    s.add(*terms, *tr.side)
    res = s.check()
    ms = (time.perf_counter() - t0) * 1000
    if res == z3.sat:
        m = s.model()
        model = tuple((n, _model_value(m.eval(v, model_completion=True))) for n, v in tr.vars.items())
        return SmtResult("sat", model, "z3 found a model", ms)
    if res == z3.unsat:
        return SmtResult("unsat", None, "z3: no such point", ms)
    return SmtResult("unknown", None, f"z3: {s.reason_unknown()}", ms)


def constraint_facts(problem: Inequality) -> list[tuple[sp.Expr, str]]:
    return [(c.expr, c.rel) for c in problem.constraints]


def find_counterexample(problem: Inequality, expr: sp.Expr, timeout_s: float = 3.0,
                        extra: tuple[Constraint, ...] = ()) -> SmtResult:
    """Look for a feasible point with expr < 0. unsat means expr >= 0 holds on the whole domain."""
    facts = constraint_facts(problem) + [(c.expr, c.rel) for c in extra] + [(expr, "<")]
    return solve(problem.variables, facts, timeout_s)
