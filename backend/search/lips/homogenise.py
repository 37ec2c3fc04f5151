"""The official prover's first step: make a non-homogeneous goal homogeneous with an equality
constraint (``LIPS/prover.py: make_by_homogeneous``, ``NeSyCore/utils.py: make_homogeneous``).

With a constraint ``P = k`` (P homogeneous of degree m > 0, k a nonzero constant: ``a+b+c = 3``,
``abc = 1``), ``delta = P/k`` equals 1 on the feasible set; every sum in the goal (inner sums
first) has its lower-degree terms multiplied by ``delta^((top - d)/m)``, so the new goal equals
the old one on the constraints and is homogeneous. The official code then asks z3 whether
``constraints ∧ new <= 0  ⇒  old <= 0`` (unsat needed) and only then applies the Lean tactic
``make_homogeneous NEW ≤ 0``; the search does the same check with ``filtering.check_step``
(both sides change, so it is the full z3 implication) and makes the step a node.

Differences: the official code writes the new goal as ``E ≤ 0`` (E = lhs - rhs homogenised);
Canopy keeps the two sides, each term lifted to the goal's top degree, so the scaling lemmas
still see the sides. It uses the first equality constraint that fits, or failing that the first
inequality constraint that fits (as the official does; the z3 check decides whether the lifted
goal implies the old one); ``intro_by_homogeneous`` (a homogeneous goal with no equality: assume
``a + b + c = n``) is not done: Canopy's goals share the problem's constraints.
"""

from __future__ import annotations

import math

import sympy as sp

from backend.search.lips.problem import Goal, Inequality
from backend.search.lips.score import _Unsupported, get_degree


def _degree(e: sp.Expr) -> sp.Expr | float:
    try:
        return get_degree(e)
    except (_Unsupported, TypeError, ValueError):
        return math.inf


def delta_of(problem: Inequality) -> tuple[sp.Expr, sp.Expr, str] | None:
    """(delta, its degree, the constraint's text) for the first equality ``P = k`` that fits,
    else (as the official code) the first inequality ``P <= k`` / ``P >= k`` that fits: delta is
    then only <= 1 (or >= 1) on the feasible set, so the lifted goal may be stronger than the old
    one or not, which the step's z3 implication check decides (MO-INT P15: ``a^2 + b^2 + c^2 +
    (a+b+c)^2 <= 4`` lifts the 1s in ``(1 + ab)/(a+b)^2``; the homogeneous goal closes by z3)."""
    inequalities = [c for c in problem.constraints if c.rel in (">=", ">")]
    for con in list(problem.equalities) + inequalities:
        terms = sp.Add.make_args(sp.expand(con.expr))
        const = sp.Add(*[t for t in terms if not t.free_symbols])
        head = sp.Add(*[t for t in terms if t.free_symbols])
        if const == 0 or head == 0:
            continue
        m = _degree(head)
        if m == math.inf or not (m > 0):
            continue
        return head / (-const), m, str(con)
    return None


def _lift(e: sp.Expr, delta: sp.Expr, m: sp.Expr) -> sp.Expr:
    """Official ``make_homogeneous``: inner sums first, then each sum's lower terms times delta^k."""
    if e.is_Symbol or e.is_Number or not e.args:
        return e
    args = [_lift(a, delta, m) for a in e.args]
    if not e.is_Add:
        return e.func(*args)
    return _top(args, delta, m)


def _raise(t: sp.Expr, d: sp.Expr, top: sp.Expr, delta: sp.Expr, m: sp.Expr) -> sp.Expr:
    return t if d == top else t * delta ** sp.nsimplify((top - d) / m)


def _top(terms: list[sp.Expr], delta: sp.Expr, m: sp.Expr) -> sp.Expr:
    degs = [_degree(t) for t in terms]
    if any(d == math.inf for d in degs):
        return sp.Add(*terms)
    top = max(degs)
    return sp.Add(*[_raise(t, d, top, delta, m) for t, d in zip(terms, degs, strict=True)])


def make_homogeneous(problem: Inequality, goal: Goal) -> tuple[Goal, str] | None:
    """The homogenised goal and the constraint it used, or None: the goal is homogeneous
    already, no equality constraint fits, or the lifted goal is still not homogeneous."""
    if _degree(goal.diff) != math.inf:
        return None
    found = delta_of(problem)
    if found is None:
        return None
    delta, m, used = found
    left = list(sp.Add.make_args(_lift(goal.lhs, delta, m)))
    right = list(sp.Add.make_args(_lift(goal.rhs, delta, m)))
    degs = [_degree(t) for t in left + right]
    if any(d == math.inf for d in degs):
        return None
    top = max(degs)
    lifted = [_raise(t, d, top, delta, m) for t, d in zip(left + right, degs, strict=True)]
    new = Goal(sp.Add(*lifted[:len(left)]), sp.Add(*lifted[len(left):]))
    if _degree(new.diff) == math.inf or new.key() == goal.key():
        return None
    return new, used


def tactic_text(new: Goal) -> str:
    """The official tactic line: ``make_homogeneous E ≤ 0`` with E = lhs - rhs (Canopy's plain
    syntax; ``export.py`` turns it into Lean's)."""
    from backend.search.lips.expr import to_plain

    return f"make_homogeneous {to_plain(new.lhs - new.rhs)} <= 0"
