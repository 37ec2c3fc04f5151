"""sympy -> z3 terms for nonlinear real arithmetic, with radicals encoded exactly (`smt.py`).

Terms z3 cannot express directly get auxiliary variables with exact definitions, collected in
`Translator.side`: `x^(p/q)` -> t with t >= 0, t^q = x^p and the domain fact x >= 0 (x > 0 for
negative exponents); `x^(-n)` -> 1 / x^n with x != 0; `|x|` -> t >= 0, t^2 = x^2; `Max`/`Min`
-> exact if-then-else chains. Variable exponents, exp, log, ... raise `Unsupported`. Each thread
builds terms in its own z3 context.
"""

from __future__ import annotations

import threading
from fractions import Fraction

import sympy as sp

_local = threading.local()


class Unsupported(ValueError):
    """The expression uses something z3's real arithmetic cannot express; message says what."""


def _thread_context(z3):
    """This thread's own z3 context: z3's default context is not thread-safe, and a server runs
    several LIPS searches in threads at once (two of them building terms in the shared context
    corrupted each other's terms: "Value cannot be converted into a Z3 Boolean value")."""
    ctx = getattr(_local, "z3_context", None)
    if ctx is None:
        ctx = _local.z3_context = z3.Context()
    return ctx


class Translator:
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
        if isinstance(e, (sp.Max, sp.Min)):  # exact: a chain of if-then-else over the arguments
            args = [self.term(a) for a in e.args]
            bigger = isinstance(e, sp.Max)
            out = args[0]
            for a in args[1:]:
                out = self.z3.If(a >= out, a, out) if bigger else self.z3.If(a <= out, a, out)
            return out
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


def model_value(v) -> float:
    """z3 numeral (rational or algebraic) -> float."""
    if hasattr(v, "as_fraction"):
        f = v.as_fraction()
        return float(f.numerator) / float(f.denominator)
    approx = v.approx(20)
    f = approx.as_fraction()
    return float(f.numerator) / float(f.denominator)
