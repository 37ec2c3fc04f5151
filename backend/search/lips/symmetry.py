"""Variable permutations under which a problem's constraints are unchanged.

If a permutation s maps the constraint set onto itself, then a goal G and its renamed copy
s(G) are the same proof state: G holds at every feasible point iff s(G) does (s is a bijection
of the feasible set). The search drops such copies as duplicates, and the symbolic tactics use
the group to check a per-variable claim once for a whole orbit of variables.

The official prover dedupes only scaling outputs, by cyclic shifts of (a, b, c, ...), and only
when the theorem's conclusion is cyclic, without looking at the hypotheses
(`NeSyCore/scaler.py: instantiate`, `cycle_lemma_out`). Canopy uses every permutation that
fixes the hypotheses (cyclic shifts, swaps, the full symmetric group), whatever the goal.
"""

from __future__ import annotations

import itertools
from functools import lru_cache

import sympy as sp

from backend.search.lips.problem import Goal, Inequality

MAX_VARIABLES = 6  # 720 permutations; larger problems get no symmetry (dedupe by identity only)


def _constraint_set(problem: Inequality, mapping: dict | None = None) -> frozenset:
    out = set()
    for c in problem.constraints:
        e = c.expr if mapping is None else c.expr.xreplace(mapping)
        out.add((sp.expand(e) if e.is_polynomial() else e, c.rel))
    return frozenset(out)


@lru_cache(maxsize=64)
def constraint_symmetries(problem: Inequality) -> tuple[tuple[tuple[sp.Symbol, sp.Symbol], ...], ...]:
    """Every non-identity permutation of the variables that maps the constraints onto themselves,
    as tuples of (variable, image) pairs (hashable; `dict(p)` gives the mapping)."""
    syms = problem.symbol_list
    if not 2 <= len(syms) <= MAX_VARIABLES:
        return ()
    base = _constraint_set(problem)
    out = []
    for perm in itertools.permutations(syms):
        if list(perm) == syms:
            continue
        m = dict(zip(syms, perm, strict=True))
        if _constraint_set(problem, m) == base:
            out.append(tuple(m.items()))
    return tuple(out)


def cyclic_shifts(symbols: list[sp.Symbol]) -> list[dict[sp.Symbol, sp.Symbol]]:
    """a -> b -> c -> a and its powers (the official `cycle_mappings`)."""
    n = len(symbols)
    return [{symbols[i]: symbols[(i + d) % n] for i in range(n)} for d in range(1, n)]


def is_symmetry(problem: Inequality, mapping: dict) -> bool:
    """mapping (a permutation of some variables) fixes the constraint set."""
    full = {s: mapping.get(s, s) for s in problem.symbol_list}
    if all(k == v for k, v in full.items()):
        return True
    return tuple(full.items()) in set(constraint_symmetries(problem))


def renamed_keys(problem: Inequality, goal: Goal) -> list[sp.Expr]:
    """The dedupe keys of every copy of goal under the problem's symmetries (itself excluded)."""
    d = goal.key()
    return [d.xreplace(dict(p)) for p in constraint_symmetries(problem)]
