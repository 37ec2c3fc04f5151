"""Symbolic score of a goal: the LIPS filter that picks which candidates the LLM ranks.

Read from the official `NeSyCore/ranker.py` (`Ranker.cal_complexity`) and `utils.py`, with the
default `--focus_ops dm` (every weight 1):

    score = ops + decoupling + homogeneity            (lower is better, then int())
    ops          count_ops(lhs) + count_ops(rhs)       (`cal_calculating`; with all weights 1
                                                        the visual count equals count_ops)
    decoupling   per side, over its top-level terms t: max + min of `cal_decoupling(t)`, which
                 sums len(free_symbols) over the nodes of each level, top down, stopping once
                 every node has <= 1 symbol or after depth 3
    homogeneity  1000 if lhs - rhs is not homogeneous (`get_degree` = inf), else
                 30 * sum over sides of (max - min) / (|max| + 1) of `cal_homogeneous(t)`
                 (symbol 1, constant 0, x^e -> e, product -> sum, sum -> max, depth <= 3)

A goal whose score cannot be computed (unsupported function) gets 10000, as in the official
`rank_by_complexity`. Difference: the official code re-parses Lean strings without evaluation;
Canopy scores sympy's evaluated form, so e.g. `a - b` is `a + (-1)*b` here too (sympy's count_ops
still counts it as one SUB), but regrouped sums can score slightly differently.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from typing import TypeVar

import sympy as sp

from backend.search.lips.problem import Goal

T = TypeVar("T")
NON_HOMOGENEOUS = 1000
UNSCORABLE = 10000


class _Unsupported(ValueError):
    pass


@lru_cache(maxsize=65536)
def get_degree(e: sp.Expr) -> sp.Expr | float:
    """Total degree if e is homogeneous, else math.inf (official `utils.get_degree`). Memoised:
    an expansion's candidates share most sub-terms (issue 18: 4 of P3's 30 s went here)."""
    if e.is_Symbol:
        return sp.Integer(1)
    if e.is_Number:
        return sp.Integer(0)
    if e.is_Mul:
        degs = [get_degree(a) for a in e.args]
        return math.inf if any(d == math.inf for d in degs) else sp.Add(*degs)
    if e.is_Pow:
        if not e.exp.free_symbols:
            d = get_degree(e.base)
            return math.inf if d == math.inf else d * e.exp
        return math.inf
    if e.is_Add:  # each term's degree once (it was computed twice per term: 2^depth calls)
        degs = set()
        for a in e.args:
            d = get_degree(a)
            if d == math.inf:
                return math.inf
            degs.add(sp.nsimplify(d))
        return degs.pop() if len(degs) == 1 else math.inf
    raise _Unsupported(f"unsupported function {e.func}")


def cal_decoupling(e: sp.Expr, max_depth: int = 3) -> int:
    """Level-by-level count of free symbols, stopping when all nodes have <= 1 (official)."""
    args, score, depth = [e], 0, 0
    while args:
        score += sum(len(a.free_symbols) for a in args)
        if all(len(a.free_symbols) <= 1 for a in args):
            break
        depth += 1
        args = [x for a in args for x in a.args]
        if depth > max_depth:
            break
    return score


def cal_homogeneous(e: sp.Expr, max_depth: int = 3) -> sp.Expr:
    """First-layer degree estimate (official): x^e -> e regardless of the base."""
    if max_depth == 0:
        return sp.Integer(1)
    if not e.free_symbols:
        return sp.Integer(0)
    if e.is_Symbol:
        return sp.Integer(1)
    if e.is_Pow:
        return e.exp
    if e.is_Mul:
        return sp.Add(*[cal_homogeneous(a, max_depth - 1) for a in e.args])
    if e.is_Add:
        return sp.Max(*[cal_homogeneous(a, max_depth - 1) for a in e.args])
    raise _Unsupported(f"unsupported function {e.func}")


def _terms(side: sp.Expr) -> list[sp.Expr]:
    return list(side.args) if side.is_Add else [side]


def score_parts(goal: Goal) -> dict[str, float]:
    """The three components, for display; raises _Unsupported for exotic functions."""
    lhs, rhs = goal.lhs, goal.rhs
    ops = int(sp.count_ops(lhs)) + int(sp.count_ops(rhs))
    dl = [cal_decoupling(t) for t in _terms(lhs)]
    dr = [cal_decoupling(t) for t in _terms(rhs)]
    decoupling = max(dl) + min(dl) + max(dr) + min(dr)
    if get_degree(lhs - rhs) == math.inf:
        homogeneity = float(NON_HOMOGENEOUS)
    else:
        total = 0.0
        for side in (lhs, rhs):
            hs = [cal_homogeneous(t) for t in _terms(side)]
            hi, lo = sp.Max(*hs), sp.Min(*hs)
            total += float((hi - lo) / (abs(hi) + 1))
        homogeneity = 30.0 * total
    return {"ops": ops, "decoupling": decoupling, "homogeneity": homogeneity}


def symbolic_score(goal: Goal) -> int:
    """Lower is better; 10000 when the official code would fail to score it."""
    try:
        parts = score_parts(goal)
    except (_Unsupported, TypeError, ValueError):
        return UNSCORABLE
    return int(parts["ops"] + parts["decoupling"] + parts["homogeneity"])


def top_k(items: Sequence[T], scores: Sequence[int], k: int = 10) -> list[T]:
    """The k best (lowest) items, keeping every item tied with the k-th (official `num_candidates`)."""
    if not items:
        return []
    order = sorted(range(len(items)), key=lambda i: scores[i])
    cutoff = scores[order[min(k, len(order)) - 1]]
    return [items[i] for i in order if scores[i] <= cutoff]
