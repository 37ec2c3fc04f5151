"""The associative-commutative rules of the lemma matcher (`matching.py`): sums and products.

* Add: every non-absorber pattern term takes one side term (or, for `k*(u + v)`-shaped terms,
  a block of as many terms as the inner sum has); what is left goes to the absorber `l`/`j`
  (possibly 0).
* Mul: every non-absorber pattern factor takes a group of the side's factors (a bare variable
  or a collapsible sum like `i1*u + j1` may take several, so `u := c*a` is found); the rest and
  the numeric coefficient go to the absorber `k`/`i` (possibly 1). Integer powers of atoms may be
  split (`a^2*b` -> a, a, b) so `u*v*w` finds u = v = a, w = b.

`ACRules` is a mixin of `Matcher`: it uses the matcher's `match`, `_bind`, `_bind_absorbers`,
`_unbound`, its absorber sets and its config.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import combinations

import sympy as sp

from backend.search.lips.exprtools import mul_views, op_count
from backend.search.lips.lemmas import var_name

Binding = dict[sp.Symbol, sp.Expr]


class ACRules:
    """Sums and products matched modulo associativity and commutativity (see the module doc)."""

    # ---- sums ---------------------------------------------------------------------------
    def _group_sizes(self, pt: sp.Expr, grouping: bool = False) -> tuple[int, ...]:
        """A `k*(u + v + w)`-shaped pattern term may take a block of side terms; a bare variable
        in a sum without absorber (`u1 + v1` inside a denominator) may take a few terms."""
        if grouping and pt in self.wild:
            return tuple(range(1, self.config.max_add_group + 1))
        if pt.is_Mul:
            adds = [f for f in pt.args if f.is_Add]
            rest = [f for f in pt.args if not f.is_Add]
            if len(adds) == 1 and all(f.is_Number or f in self.mul_abs for f in rest):
                n = sum(1 for t in adds[0].args if t not in self.add_abs)
                return (1, n) if n > 1 else (1,)
        return (1,)

    def _match_add(self, p: sp.Expr, e: sp.Expr, b: Binding) -> Iterator[Binding]:
        terms = [t for t in sp.Add.make_args(p) if self._unbound(t, b) or t.xreplace(b) != 0]
        absorbers = [t for t in terms if t in self.add_abs and t not in b]
        others = sorted((t for t in terms if t not in absorbers),
                        key=lambda t: (bool(self._unbound(t, b)), -op_count(t)))
        e_terms = list(sp.Add.make_args(e)) if e != 0 else []
        grouping = not absorbers and len(e_terms) > len(others)
        if len(e_terms) < len(others) or (not absorbers and len(e_terms) > sum(
                max(self._group_sizes(t, grouping)) for t in others)):
            return
        yield from self._assign_add(others, absorbers, e_terms, tuple(range(len(e_terms))), b, grouping)

    def _assign_add(self, others: list, absorbers: list, e_terms: list, remaining: tuple,
                    b: Binding, grouping: bool = False) -> Iterator[Binding]:
        if not others:
            leftover = sp.Add(*[e_terms[j] for j in remaining])
            if absorbers:
                yield from self._bind_absorbers(absorbers, leftover, sp.S.Zero, b)
            elif not remaining:
                yield b
            return
        pt = others[0]
        for size in self._group_sizes(pt, grouping):
            if size > len(remaining) - (len(others) - 1):
                continue
            for combo in combinations(remaining, size):
                group = sp.Add(*[e_terms[j] for j in combo])
                left = tuple(j for j in remaining if j not in combo)
                for b2 in self.match(pt, group, b):
                    yield from self._assign_add(others[1:], absorbers, e_terms, left, b2, grouping)

    # ---- products -----------------------------------------------------------------------
    def _match_mul(self, p: sp.Expr, e: sp.Expr, b: Binding) -> Iterator[Binding]:
        p_coeff, p_facs = p.as_coeff_mul()
        p_facs = tuple(f for f in p_facs if self._unbound(f, b) or f.xreplace(b) != 1)
        absorbers = [f for f in p_facs if f in self.mul_abs and f not in b]
        others = sorted((f for f in p_facs if f not in absorbers),
                        key=lambda f: (bool(self._unbound(f, b)), f in self.wild, -op_count(f)))
        for c, facs in mul_views(e, self.config.split_powers, self.config.max_pool):
            coeff = c / p_coeff
            pool = list(facs) + ([coeff] if coeff != 1 else [])
            if len(pool) > self.config.max_pool or len(pool) < len(others) - 1:
                continue  # one bare variable may still become 1
            yield from self._assign_mul(others, absorbers, pool, tuple(range(len(pool))), b, len(others) < 2)

    def _groups(self, pf: sp.Expr, pool: list, remaining: tuple, b: Binding) -> Iterator[tuple]:
        """Index groups of `pool` that pattern factor `pf` may take (several only if it can absorb)."""
        multi = (pf in self.wild or pf.is_Add or not self._unbound(pf, b)
                 or (pf.is_Pow and pf.base in self.wild and pf.exp.is_Number))  # u1^2 <- b^2*c^2
        sizes = range(1, len(remaining) + 1) if multi else (1,)
        seen = set()
        for size in sizes:
            for combo in combinations(remaining, size):
                items = [pool[j] for j in combo]
                if all(not x.free_symbols for x in items) and (pf in self.wild) and len(remaining) > 1:
                    continue  # a bare variable gets a non-constant part of a product
                key = (tuple(sorted(map(hash, items))),
                       tuple(sorted(hash(pool[j]) for j in remaining if j not in combo)))
                if key not in seen:
                    seen.add(key)
                    yield combo

    def _assign_mul(self, others: list, absorbers: list, pool: list, remaining: tuple,
                    b: Binding, used_one: bool) -> Iterator[Binding]:
        """Give each pattern factor a group of pool factors; `used_one`: no more `x := 1`."""
        if not others:
            leftover = sp.Mul(*[pool[j] for j in remaining])
            inner = [a for a in absorbers if var_name(a) != "k"]
            if inner and sum(1 for j in remaining if pool[j].free_symbols) > self.config.max_inner_absorbed:
                return  # i1 := a is seen in the scripts, i1 := a*b/c only as noise
            if absorbers:
                yield from self._bind_absorbers(absorbers, leftover, sp.S.One, b)
            elif not remaining:
                yield b
            return
        pf = others[0]
        for combo in self._groups(pf, pool, remaining, b):
            group = sp.Mul(*[pool[j] for j in combo])
            left = tuple(j for j in remaining if j not in combo)
            for b2 in self.match(pf, group, b):
                yield from self._assign_mul(others[1:], absorbers, pool, left, b2, used_one)
        if not used_one and pf in self.wild and pf not in b:
            # e-graph rule x <=> x * 1: one bare variable may be 1 (AM-GM on a^2 + 1, Holder's u1 := 1)
            for b2 in self._bind(pf, sp.S.One, b):
                yield from self._assign_mul(others[1:], absorbers, pool, remaining, b2, True)
