"""Associative-commutative matching of a lemma input `k * CORE + l` against a whole goal side.

The official LIPS matcher (`egg_matching/src/lib.rs`) puts the side into an e-graph saturated
with commutativity, associativity, `x <=> x + 0`, `x <=> x * 1`, `sqrt x <=> x^(1/2)` and
`x^2 <=> x * x`, then e-matches the lemma input at the ROOT of the side. Canopy gets the same
effect without an e-graph by matching over sympy's canonical (flattened, sorted) Add/Mul:

* Add and Mul: the associative-commutative rules in `acrules.py` (a mixin of `Matcher`).
* Pow: `base^n` also matches through n-th roots (`u^2` vs `4*a^2` gives u = 2a; `1/(i*u*v+j)`
  vs `1/(a*b)` gives u*v = a*b); exponent variables bind numbers only.

Sub-results are memoised per (sub-pattern, sub-expression, relevant bindings) and the whole
enumeration is bounded by a step budget. Every returned match is re-instantiated and compared
with the side, so heuristics can miss matches but do not return a wrong one.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import sympy as sp

from backend.search.lips.acrules import ACRules
from backend.search.lips.deadline import POLL_EVERY, poll
from backend.search.lips.exprtools import (
    _point,
    clean_root,
    fast_eval,
    numerically_same,
    pattern_syms,
    same,
)
from backend.search.lips.lemmas import (
    ADDITIVE_ABSORBERS,
    EXPONENT_VARS,
    MULTIPLICATIVE_ABSORBERS,
    Lemma,
    var_name,
)

__all__ = ["Binding", "MatchConfig", "Matcher", "exponent_vars", "fast_eval", "match_lemma_side",
           "numerically_same", "same"]

log = logging.getLogger(__name__)

Binding = dict[sp.Symbol, sp.Expr]


@dataclass(frozen=True)
class MatchConfig:
    max_steps: int = 20000  # matcher steps per (lemma, side)
    max_pool: int = 7  # most factors one Mul match distributes (2^7 groups per pattern factor)
    split_powers: bool = True  # a^2 -> a, a (needed for AM_GM_cubic with u = v = a)
    limit: int = 128  # matches kept per lemma, as the official --scale_limit
    max_sub_results: int = 256  # bindings kept per sub-pattern; stops cross-product blow-ups
    max_inner_absorbed: int = 1  # non-numeric factors an inner coefficient (i, i1..) may take
    max_add_group: int = 3  # terms a bare variable may take in an absorber-free sum (v1 := b + c)


class _OutOfBudget(Exception):
    pass


class Matcher(ACRules):
    """Enumerate bindings of pattern symbols W_<var> such that pattern(binding) == expression."""

    def __init__(self, wilds: tuple[sp.Symbol, ...], config: MatchConfig = MatchConfig(),
                 numeric: frozenset = frozenset()):
        """`numeric`: variables that must bind numbers (those used in exponents, see below)."""
        self.wild = frozenset(wilds)
        self.add_abs = frozenset(w for w in wilds if var_name(w) in ADDITIVE_ABSORBERS)
        self.mul_abs = frozenset(w for w in wilds if var_name(w) in MULTIPLICATIVE_ABSORBERS)
        self.exp_vars = frozenset(w for w in wilds if var_name(w) in EXPONENT_VARS) | numeric
        self.config = config
        self.steps = 0
        self.memo: dict = {}

    def all_matches(self, pattern: sp.Expr, expr: sp.Expr,
                    key: Callable[[Binding], object] | None = None) -> list[Binding]:
        """Distinct bindings (distinct by `key`, default the binding), at most `config.limit`."""
        self.steps = 0
        self.memo = {}
        out: list[Binding] = []
        seen: set = set()
        try:
            for b in self.match(pattern, expr, {}):
                k = key(b) if key else tuple(sorted(((w.name, v) for w, v in b.items()), key=lambda t: t[0]))
                if k not in seen:
                    seen.add(k)
                    out.append(b)
                    if len(out) >= self.config.limit:
                        break
        except _OutOfBudget:
            log.debug("match budget (%d steps) used up for %s", self.config.max_steps, pattern)
        return out

    def _tick(self) -> None:
        self.steps += 1
        if self.steps > self.config.max_steps:
            raise _OutOfBudget
        if self.steps % POLL_EVERY == 0:
            poll()  # a search past its time limit stops here, not after 20,000 steps

    def _unbound(self, p: sp.Expr, b: Binding) -> set[sp.Symbol]:
        return {s for s in pattern_syms(p) if s in self.wild and s not in b}

    def match(self, p: sp.Expr, e: sp.Expr, b: Binding) -> Iterator[Binding]:
        """All extensions of `b` matching p to e; sub-results are memoised per relevant binding."""
        rel = tuple(sorted(((w.name, b[w]) for w in pattern_syms(p) if w in b), key=lambda t: t[0]))
        key = (p, e, rel)
        exts = self.memo.get(key)
        if exts is None:
            exts = []
            for r in self._match(p, e, b):
                self._tick()
                exts.append({w: v for w, v in r.items() if w not in b})
                if len(exts) >= self.config.max_sub_results:
                    break
            self.memo[key] = exts
        for ext in exts:
            yield {**b, **ext}

    def _match(self, p: sp.Expr, e: sp.Expr, b: Binding) -> Iterator[Binding]:
        self._tick()
        unbound = self._unbound(p, b)
        if not unbound:
            if same(p.xreplace(b), e, numeric=False):
                yield b
            return
        if p in self.wild:
            yield from self._bind(p, e, b)
        elif e.is_Number and unbound <= (self.exp_vars | self.mul_abs | self.add_abs):
            yield from self._solve(p, e, b, unbound)
        elif p.is_Add:
            yield from self._match_add(p, e, b)
        elif p.is_Mul:
            yield from self._match_mul(p, e, b)
        elif p.is_Pow:
            yield from self._match_pow(p, e, b)
        elif type(p) is type(e) and len(p.args) == len(e.args):
            yield from self._match_seq(list(p.args), list(e.args), b)

    def _bind(self, w: sp.Symbol, e: sp.Expr, b: Binding) -> Iterator[Binding]:
        if w in self.exp_vars and not e.is_Rational:
            return
        if w not in self.add_abs and e == 0:
            return  # official filter: only k, l and the j's may be zero
        if e.has(sp.zoo, sp.nan, sp.oo):
            return
        yield {**b, w: e}

    def _solve(self, p: sp.Expr, e: sp.Expr, b: Binding, unbound: set[sp.Symbol]) -> Iterator[Binding]:
        """Numeric target, one unknown exponent/absorber: solve p(w) = e (e.g. 1/r = 1/2 -> r = 2)."""
        if len(unbound) != 1:
            return
        (w,) = unbound
        try:
            sols = sp.solve(sp.Eq(p.xreplace(b), e), w, dict=False)
        except (NotImplementedError, ValueError, TypeError):
            return
        for s in sols:
            if s.is_real and (s.is_Rational or w not in self.exp_vars):
                yield from self._bind(w, s, b)

    def _match_seq(self, ps: list, es: list, b: Binding) -> Iterator[Binding]:
        if not ps:
            yield b
            return
        for b2 in self.match(ps[0], es[0], b):
            yield from self._match_seq(ps[1:], es[1:], b2)

    def _bind_absorbers(self, absorbers: list, value: sp.Expr, unit: sp.Expr,
                        b: Binding) -> Iterator[Binding]:
        """The first absorber takes `value` (the rest of the sum/product), the others 0 or 1."""
        b2 = dict(b)
        for i, a in enumerate(absorbers):
            v = value if i == 0 else unit
            if (a in self.exp_vars and not v.is_Rational) or v.has(sp.zoo, sp.nan, sp.oo):
                return
            b2[a] = v
        yield b2

    # ---- powers -------------------------------------------------------------------------
    def _match_pow(self, p: sp.Expr, e: sp.Expr, b: Binding) -> Iterator[Binding]:
        pb, pe = p.base, p.exp
        cands: list[tuple[sp.Expr, sp.Expr]] = []
        if e.is_Pow:
            cands.append((e.base, e.exp))
        n = pe.xreplace(b) if not self._unbound(pe, b) else None
        if n is not None and n.is_Rational and n != 0:
            root = self._root(e, n)
            if root is not None:
                cands.append((root, n))
        seen = set()
        for base, ex in cands:
            if (base, ex) in seen:
                continue
            seen.add((base, ex))
            for b2 in self.match(pe, ex, b):
                yield from self.match(pb, base, b2)

    def _root(self, e: sp.Expr, n: sp.Rational) -> sp.Expr | None:
        return clean_root(e, n)


def exponent_vars(lemma: Lemma) -> frozenset:
    """Lemma variables used inside an exponent, e.g. the weights i1, i2 of weighted AM-GM.

    They must bind numbers: `u^i1` with i1 := 1/(b+c) is a variable power, which the official
    prover discards (`has_var_power`) and no solver handles.
    """
    out = set()
    for e in (lemma.input, lemma.output):
        for node in sp.preorder_traversal(e):
            if node.is_Pow:
                out |= pattern_syms(node.exp)
    return frozenset(out)


def match_lemma_side(lemma: Lemma, side: sp.Expr, config: MatchConfig = MatchConfig()
                     ) -> list[tuple[Binding, sp.Expr]]:
    """(binding, instantiated output) with lemma.input(binding) == side, one per distinct output.

    The official code keeps the first 128 raw e-matches per lemma; here the cap counts distinct
    outputs, so the 3! orderings of u, v, w that give the same new goal use one slot, not six.
    """
    matcher = Matcher(lemma.wilds, config, exponent_vars(lemma))
    needed = lemma.output.free_symbols | lemma.input.free_symbols
    point = _point(tuple(sorted(side.free_symbols, key=str)), 1)

    def key(b: Binding) -> object:
        """The output's value at one generic point (12 digits): instantiating it in sympy for
        every binding was 40% of the matching (issue 18); distinct outputs that agree there would
        be equal functions. The exact output where the value is undefined."""
        if not needed <= set(b):
            return None
        values = {w: fast_eval(v, point) for w, v in b.items()}
        if all(x is not None for x in values.values()):
            out = fast_eval(lemma.output, values)
            if out is not None and math.isfinite(out.real) and math.isfinite(out.imag):
                return f"{out.real:.12g} {out.imag:.12g}"
        return lemma.output.xreplace(b)

    result = []
    for b in matcher.all_matches(lemma.input, side, key):
        if not needed <= set(b):
            continue
        if not same(lemma.input.xreplace(b), side):
            log.debug("dropping inexact match of %s on %s", lemma.name, side)
            continue
        result.append((b, lemma.output.xreplace(b)))
    return result
