"""An exact soundness proof for Titu (Engel-form Cauchy-Schwarz) scaling steps.

z3 cannot prove ``Σ X_i²/Y_i >= (Σ X_i)²/Σ Y_i`` for the terms of a real goal in its budget
(MO-INT P1's ``Titu_variant2_right_4vars`` step: a timeout at 5 s, and SOS needs a 161-monomial
Gram matrix), so such steps stayed "unknown" and a proof through them never re-checked. The
Lagrange identity gives the certificate at once:

    Σ X_i²/Y_i - (Σ X_i)²/Σ Y_i  =  Σ_{i<j} (X_i Y_j - X_j Y_i)² / (Y_i Y_j Σ Y)

The library lemma is not trusted: from the step's instantiation we build X_i, Y_i and k for the
lemma's family, then check **exactly** (sympy: the numerator of claim - certificate expands to
0) that the step's own claim (the changed side moved the right way: ``filtering.
implication_claim``) equals k times the right-hand side, and by structure (``positivity``) that
k >= 0 and every Y_i >= 0. Then the claim is a sum of non-negative terms wherever the goal is
defined. Families: ``Titu_normal_*`` (X = u, Y = v), ``Titu_variant1_*`` and
``Titu_variant2_Req1_*`` (X = u, Y = u v), ``Titu_variant2_*`` (X = u^((r+1)/2), Y = u v).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable

import sympy as sp

from backend.search.lips.exprtools import differ_at_a_point, expansion_bound
from backend.search.lips.filtering import implication_claim
from backend.search.lips.positivity import is_nonneg
from backend.search.lips.problem import Goal, Inequality

MAX_TERMS = 20_000  # expansion bound of the identity's numerator (sympy's expand of more takes seconds)
_FAMILY = re.compile(r"^Titu_(normal|variant1|variant2_Req1|variant2)_(left|right)_(\d)vars$")


def _terms(family: str, b: dict[str, sp.Expr], n: int) -> tuple[list[sp.Expr], list[sp.Expr]] | None:
    """(X_i, Y_i) for the lemma family, or None when the instantiation lacks a variable."""
    try:
        u = [b[f"u{i}"] for i in range(1, n + 1)]
        v = [b[f"v{i}"] for i in range(1, n + 1)]
        if family == "normal":
            return u, v
        ys = [ui * vi for ui, vi in zip(u, v, strict=True)]
        if family == "variant2":
            r = b["r"]
            return [ui ** ((r + 1) / 2) for ui in u], ys
        return u, ys
    except KeyError:
        return None


def _has_root(e: sp.Expr) -> bool:
    return any(p.is_Pow and not p.exp.is_Integer for p in sp.preorder_traversal(e))


def lagrange_form(xs: list[sp.Expr], ys: list[sp.Expr]) -> sp.Expr:
    """Σ_{i<j} (X_i Y_j - X_j Y_i)² / (Y_i Y_j Σ Y): equals Σ X²/Y - (Σ X)²/Σ Y."""
    total = sp.Add(*ys)
    return sp.Add(*[(xs[i] * ys[j] - xs[j] * ys[i]) ** 2 / (ys[i] * ys[j] * total)
                    for i, j in itertools.combinations(range(len(xs)), 2)])


def titu_certificate(problem: Inequality, old: Goal, new: Goal, lemma: str,
                     instantiation: tuple[tuple[str, sp.Expr], ...]) -> str | None:
    """How the step old -> new is proved sound by the Lagrange identity, or None (not a Titu
    lemma, a side condition not shown by structure, or the identity does not hold exactly)."""
    m = _FAMILY.match(lemma or "")
    claim = implication_claim(old, new)
    if m is None or claim is None:
        return None
    b = dict(instantiation)
    terms = _terms(m.group(1), b, int(m.group(3)))
    if terms is None:
        return None
    xs, ys = terms
    k = b.get("k", sp.Integer(1))
    signs = {problem.symbols[n]: problem.sign_of(n) for n in problem.variables}
    if not is_nonneg(k, signs) or not all(is_nonneg(y, signs) for y in ys):
        return None
    if not all(is_nonneg(x, signs) for x in xs if _has_root(x)):
        return None  # a square of a root of a negative number would not be >= 0
    cert = k * lagrange_form(xs, ys)
    if differ_at_a_point(claim, cert):
        return None
    num = sp.numer(sp.together(claim - cert))
    if expansion_bound(num) > MAX_TERMS or sp.expand(num) != 0:
        return None
    return f"Lagrange identity: claim = k*Σ(X_i*Y_j - X_j*Y_i)^2/(Y_i*Y_j*ΣY), k and Y_i >= 0 ({lemma})"


def certifier(problem: Inequality, old: Goal, new: Goal, kind: str,
              justification: dict) -> Callable[[], str | None] | None:
    """``check_step``'s ``implied_by`` for a node: the Titu certificate of a scaling step."""
    if kind != "scale" or not _FAMILY.match(justification.get("lemma") or ""):
        return None
    inst = justification.get("instantiation", ())
    return lambda: titu_certificate(problem, old, new, justification["lemma"], inst)
