"""Expression helpers for the lemma matcher: cheap equality tests, factor views, clean roots.

Kept apart from `matching.py` so the matcher reads as the four rules (sum, product, power,
variable). Everything here is a pure function of sympy expressions, memoised where the matcher
asks the same question many times.
"""

from __future__ import annotations

import math
import random
from functools import lru_cache

import sympy as sp

from backend.search.lips.lemmas import PATTERN_PREFIX


def same(x: sp.Expr, y: sp.Expr, numeric: bool = True) -> bool:
    """Equality as the matcher needs it: structural, small expansions, else (optionally) numeric.

    Like the official `sympy_equal` (random point, then `powsimp(...).equals`), this is a
    heuristic; nothing downstream relies on it for soundness: the counterexample filter compares
    the goal's actual old and new sides, not the lemma's instantiated input.
    """
    if x == y:
        return True
    d = x - y
    if d == 0:
        return True
    if d.is_Number or x.free_symbols != y.free_symbols:
        return False
    if differ_at_a_point(x, y):  # decides most pairs before any sympy expand (issue 18 profile)
        return False
    if op_count(d) <= 12 and sp.expand(d) == 0:
        return True
    return numeric and numerically_same(x, y, trials=2)


def numerically_same(x: sp.Expr, y: sp.Expr, trials: int = 3, seed: int = 0) -> bool:
    """Equal (to 1e-10 relative) at a few random positive points, by a plain float evaluator."""
    syms = tuple(sorted(x.free_symbols | y.free_symbols, key=str))
    for t in range(trials):
        point = _point(syms, seed + t)
        vx, vy = fast_eval(x, point), fast_eval(y, point)
        if vx is None or vy is None or abs(vx - vy) > 1e-10 * (1 + abs(vx) + abs(vy)):
            return False
    return True


def differ_at_a_point(x: sp.Expr, y: sp.Expr) -> bool:
    """x and y are defined and clearly different at one random positive point, so no
    expansion can make them equal (undefined values decide nothing)."""
    point = _point(tuple(sorted(x.free_symbols | y.free_symbols, key=str)), 0)
    vx, vy = fast_eval(x, point), fast_eval(y, point)
    if vx is None or vy is None or not all(map(math.isfinite, (vx.real, vx.imag, vy.real, vy.imag))):
        return False
    return abs(vx - vy) > 1e-6 * (1 + abs(vx) + abs(vy))


@lru_cache(maxsize=1024)
def _point(syms: tuple, seed: int) -> dict:
    rng = random.Random(seed * 7919 + len(syms))
    return {s: rng.uniform(0.4, 3.1) for s in syms}


def fast_eval(e: sp.Expr, values: dict) -> complex | None:
    """Float (complex) value of e, walking the tree directly: ~100x cheaper than evalf.

    None when undefined (0 division, overflow, unknown function). Numbers are converted once
    (``_number``): sympy's ``complex(Rational)`` goes through ``evalf`` and was a quarter of a
    whole search's time (MO-INT P19, cProfile: 200k calls, 7 s of 30 s).
    """
    try:
        return _fe(e, values)
    except (ZeroDivisionError, OverflowError, KeyError, TypeError, ValueError):
        return None


@lru_cache(maxsize=65536)
def _number(e: sp.Expr) -> complex:
    if e.is_Integer:
        return complex(int(e))
    if e.is_Rational:
        return complex(int(e.p) / int(e.q))
    return complex(e.evalf())


def _fe(e: sp.Expr, v: dict) -> complex:
    if e.is_Symbol:
        return complex(v[e])
    if e.is_Number:
        return _number(e)
    if e.is_Add:
        return sum((_fe(a, v) for a in e.args), 0j)
    if e.is_Mul:
        out = 1 + 0j
        for a in e.args:
            out *= _fe(a, v)
        return out
    if e.is_Pow:
        base = _fe(e.base, v)
        if e.exp.is_Integer:
            return base ** int(e.exp)
        ex = _fe(e.exp, v)
        if ex.imag == 0 and float(ex.real).is_integer():
            return base ** int(ex.real)
        return base ** ex
    if isinstance(e, sp.Abs):
        return complex(abs(_fe(e.args[0], v)))
    if e.is_number:
        return _number(e)
    raise TypeError(f"fast_eval: unsupported {e.func}")


@lru_cache(maxsize=65536)
def op_count(e: sp.Expr) -> int:
    return int(sp.count_ops(e))


@lru_cache(maxsize=65536)
def pattern_syms(e: sp.Expr) -> frozenset:
    return frozenset(s for s in e.free_symbols if s.name.startswith(PATTERN_PREFIX))


def _frac_pows(e: sp.Expr) -> int:
    """Number of powers with a non-integer exponent (sqrt, cube roots...)."""
    return sum(1 for p in sp.preorder_traversal(e) if p.is_Pow and not p.exp.is_Integer)


def _neg_pows(e: sp.Expr) -> int:
    return sum(1 for p in sp.preorder_traversal(e) if p.is_Pow and p.exp.is_negative)


@lru_cache(maxsize=16384)
def mul_views(e: sp.Expr, split_powers: bool, max_pool: int) -> tuple[tuple[sp.Expr, tuple], ...]:
    """(coefficient, factors) readings of e: as is, powers split, common factor pulled out."""
    views = []
    c, facs = e.as_coeff_mul()
    views.append((c, facs))
    if split_powers:
        split: list = []
        for f in facs:
            if f.is_Pow and f.exp.is_Integer and 2 <= abs(int(f.exp)) <= 4:
                split += [f.base ** int(sp.sign(f.exp))] * abs(int(f.exp))
            else:
                split.append(f)
        if len(split) != len(facs) and len(split) <= max_pool:
            views.append((c, tuple(split)))
    if e.is_Add:
        cont, prim = e.as_content_primitive()
        if cont != 1:
            views.append((cont, (prim,)))
        ft = sp.factor_terms(e)
        if ft.is_Mul and ft != e:
            c2, f2 = ft.as_coeff_mul()
            if (c2, f2) not in views:
                views.append((c2, f2))
    return tuple(views)


@lru_cache(maxsize=16384)
def clean_root(e: sp.Expr, n: sp.Rational) -> sp.Expr | None:
    """e^(1/n) when it is clean (no new radicals): 4a^2 -> 2a for n=2, 1/(ab) -> ab for n=-1.
    Memoised: the matcher asks for the same roots of a side's terms for every lemma."""
    if not n.is_Integer and _frac_pows(e) == 0:
        return None  # a sqrt pattern needs a radical in the side
    if e.is_Number:
        r = e ** (1 / n)
        return r if r.is_Rational else None
    for r in (e ** (1 / n), sp.powdenest(sp.expand_power_base(e ** (1 / n), force=True), force=True)):
        if r.has(sp.zoo, sp.nan, sp.Abs) or _frac_pows(r) > _frac_pows(e) or _neg_pows(r) > _neg_pows(e):
            continue  # e.g. no `v := 1/a` from matching 1/v against a
        if n < 0 and _neg_pows(r) > 0:
            continue  # 1/(...) matches a reciprocal, not a^3/(b+c) read as 1/((b+c)/a^3)
        return r
    return None


#: past this bound an expansion is not attempted where no time check reaches (P19: 564,921)
EXPAND_BOUND = 20000
BOUND_CAP = 10**9  # expansion_bound saturates here (k, n <= 10^9 and 64 keep comb() cheap)


def expansion_bound(e: sp.Expr) -> int:
    """An upper bound on the number of terms of ``sp.expand(e)``, from the tree alone (sums add,
    products multiply, u^n of k terms gives at most C(k + n - 1, n)), saturated at
    ``BOUND_CAP``: says, before sympy starts, that an expansion would take seconds (MO-INT P19's
    common numerator: 455 terms, 4.9 s). Saturating matters: the exact bound of nested powers
    is an integer so large that computing it ran a 120 s search past its limit by minutes."""
    if e.is_Add:
        return min(BOUND_CAP, sum(expansion_bound(a) for a in e.args))
    if e.is_Mul:
        out = 1
        for a in e.args:
            out = min(BOUND_CAP, out * expansion_bound(a))
        return out
    if e.is_Pow and e.exp.is_Integer and e.exp > 0:
        k, n = expansion_bound(e.base), int(e.exp)
        if k <= 1:
            return 1
        if n > 64:
            return BOUND_CAP
        return min(BOUND_CAP, math.comb(k + n - 1, n))
    return 1
