"""The closing certificate of a readable LIPS proof (``readable.py``): what the last checker
established, as words and as formulas.

For z3 the certificate is its verdict; for positivity and univariate the factored difference;
for SOS the squares themselves (issue 15): the closing ``node_verified`` carries
``detail.certificate`` (``sos_cert.record``: strings printed from sympy objects by ``to_plain``
and ``sp.latex``, never re-parsed here), and the proof shows
"rhs − lhs = N / D" and "N = w₁ q₁² + w₂ q₂² + … ≥ 0" (with the homogenisation or the equality
multipliers in between when the certificate needed them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sympy as sp

from backend import events as ev
from backend.search.lips.expr import to_plain

#: past this many operations a goal is shown as text, not factored for the certificate
MAX_OPS = 300

CHECKER_WORDS = {
    "positivity": "rhs − lhs is nonnegative term by term under the constraints (a sum/product of "
    "nonnegative parts: squares, even powers, positive variables)",
    "z3": "z3 found no real point satisfying the constraints with lhs > rhs (the negation is "
    "unsatisfiable), so lhs ≤ rhs wherever the constraints hold",
    "sos": "rhs − lhs (cleared of a positive denominator) is a sum of squares with exact rational "
    "weights (an exact Gram matrix, checked positive semidefinite in exact arithmetic)",
    "univariate": "one variable: rhs − lhs keeps its sign on the whole feasible interval (sympy)",
}


@dataclass(frozen=True)
class Certificate:
    goal: str
    method: str  # the checker that closed the last goal
    words: str  # what that checker established, in words
    latex: str  # the certificate as a formula ("" when there is nothing to show)
    plain: str
    tried: list[tuple[str, str]]  # (checker, status) in the order they ran
    rechecked: str
    squares: list[str] | None = None  # SOS: the weighted squares, plain text (None: not an SOS proof)


def parse_goal_text(text: str, variables: list[str]) -> Any:
    """The goal as a LIPS Goal (safe grammar), or None."""
    from backend.search.lips.problem import make_symbols, parse_goal
    from backend.search.lips.reading import MAX_VARIABLES

    if len(variables) > MAX_VARIABLES:  # a stored run's root may name any number (50,000: 5 s a page)
        return None
    try:
        return parse_goal(text, make_symbols(variables))
    except ValueError:
        return None


def _difference(goal: Any) -> tuple[sp.Expr, sp.Expr] | None:
    """(factored numerator, denominator) of rhs - lhs, or None when too big to factor quickly."""
    d = goal.rhs - goal.lhs
    if sp.count_ops(d) > MAX_OPS:
        return None
    num, den = sp.fraction(sp.together(d))
    if sp.count_ops(num) > MAX_OPS:
        return None
    return sp.factor(num), den


# --- SOS: the squares, from the event's record -------------------------------------------------


def certificate_lines(rec: dict[str, Any] | None) -> list[str]:
    """The SOS record as plain lines (``canopy solve``, ``proof_text``); [] for no record."""
    if not rec or rec.get("kind") != "sos":
        return []
    num, den = rec.get("numerator", ""), rec.get("denominator", "1")
    lines = [f"rhs - lhs = {num}" if den == "1" else f"rhs - lhs = ({num}) / ({den}), with {den} > 0"]
    name = "N" if den != "1" else "rhs - lhs"
    poly = rec.get("polynomial", "")
    if not rec.get("same_as_numerator", True):
        lines.append(f"on the constraints {name} = {poly} ({rec.get('how') or 'homogenised'})")
    mults = rec.get("multipliers") or []
    lhs = poly + "".join(f" + ({m['multiplier']})*({m['constraint']})" for m in mults)
    squares = [s["plain"] for s in rec.get("squares") or []]
    total = " + ".join(squares) or f"a sum of {rec.get('count', 0)} weighted squares (too long to show)"
    lines.append(f"{lhs} = {total} >= 0")
    if mults:
        lines.append("where " + " and ".join(f"{m['constraint']} = 0" for m in mults)
                     + " (the equality constraints), so the polynomial is >= 0 on the constraints")
    checked = "checked exactly (sympy expand)" if rec.get("identity_checked") else "NOT re-checked"
    lines.append(f"identity {checked}; each term is a positive rational times variables known >= 0 "
                 "times a square")
    return lines


def certificate_latex(rec: dict[str, Any], variables: list[str]) -> list[str]:
    """The SOS record as LaTeX formulas, one per line of the argument (the page shows each as a
    display formula). Made here from the record's plain parts read with LIPS's safe grammar and
    printed by ``sp.latex``: an imported events file's own LaTeX never reaches the page. [] when
    a part does not read (the page then shows the plain lines, escaped)."""
    from backend.search.lips.expr import make_symbols, parse_expression

    symbols = make_symbols(variables)

    def tex(text: Any) -> str:
        return sp.latex(parse_expression(str(text), symbols))

    try:
        num, den = tex(rec.get("numerator", "")), tex(rec.get("denominator", "1"))
        poly = tex(rec.get("polynomial", ""))
        mults = [(tex(m.get("multiplier", "")), tex(m.get("constraint", "")))
                 for m in rec.get("multipliers") or []]
        squares = [(tex(q.get("factor", "1")), tex(q.get("square", ""))) for q in rec.get("squares") or []]
    except (ValueError, TypeError, AttributeError):
        return []
    rows = [f"\\text{{rhs}} - \\text{{lhs}} = {num}" if den == "1" else
            f"\\text{{rhs}} - \\text{{lhs}} = \\frac{{{num}}}{{{den}}}, \\quad {den} > 0"]
    if not rec.get("same_as_numerator", True):
        rows.append(f"{num} = {poly} \\quad \\text{{on the constraints}}")
    lhs = poly + "".join(f" + \\left({m}\\right)\\left({h}\\right)" for m, h in mults)
    if squares:
        terms = [("" if f == "1" else f + " ") + f"\\left({q}\\right)^{{2}}" for f, q in squares]
        rows.append(f"{lhs} = " + " + ".join(terms) + " \\ge 0")
    return rows


# --- the certificate of the closing check ------------------------------------------------------


def _readable_record(rec: Any) -> bool:
    """An SOS record shaped and sized as ``sos_cert.record`` writes one (at most ``MAX_SQUARES``
    squares, text within bounds). Any other (an imported file's: 2,000 squares took ~1 s to read
    and print, a 16 MB line ~2 min, on every render) is not read: the goal's own difference is shown."""
    from backend.search.lips.sos_cert import MAX_CHARS, MAX_SQUARES

    if not isinstance(rec, dict) or rec.get("kind") != "sos":
        return False
    parts = [rec.get("squares") or [], rec.get("multipliers") or []]
    if not all(isinstance(p, list) and len(p) <= MAX_SQUARES for p in parts):
        return False
    keys = (("plain", "factor", "square"), ("multiplier", "constraint"))
    for part, need in zip(parts, keys, strict=True):
        if not all(isinstance(x, dict) and all(isinstance(x.get(k), str) for k in need) for x in part):
            return False
    return len(json.dumps(rec, default=str)) <= 8 * MAX_CHARS


def closing_certificate(text: str, close: ev.NodeVerified, variables: list[str]) -> Certificate:
    """What the checker that closed the goal ``text`` established, from its ``node_verified``."""
    method = close.method
    detail = close.detail or {}
    attempts, chain = ([*v] if isinstance(v := detail.get(k), list) else [] for k in ("attempts", "chain"))
    tried = [(str(a.get("method")), str(a.get("status"))) for a in attempts[:50] if isinstance(a, dict)]
    rechecked = next((c.get("method", "") for c in chain if isinstance(c, dict) and c.get("close")), "")
    words = CHECKER_WORDS.get(method, f"closed by {method}")
    rec = detail.get("certificate")
    if _readable_record(rec):
        squares = [str(s.get("plain", "")) for s in rec.get("squares") or []]
        plain = "\n".join(certificate_lines(rec))
        latex = "\n".join(certificate_latex(rec, variables))  # one display formula per line
        return Certificate(text, method, words, latex, plain, tried, rechecked, squares)
    goal = parse_goal_text(text, variables)
    latex = plain = ""
    if goal is not None:
        lhs, rhs = sp.latex(goal.lhs), sp.latex(goal.rhs)
        if method == "z3":
            cons = ", ".join(variables)
            latex = f"\\neg\\exists\\, {cons}:\\ \\text{{constraints}} \\wedge {lhs} > {rhs}"
            plain = (
                f"no {', '.join(variables)} with the constraints and {to_plain(goal.lhs)} > "
                f"{to_plain(goal.rhs)} (z3: unsat)"
            )
        elif method in ("positivity", "sos", "univariate"):
            parts = _difference(goal)
            if parts is not None:
                num, den = parts
                frac = sp.latex(num) if den == 1 else f"\\frac{{{sp.latex(num)}}}{{{sp.latex(den)}}}"
                latex = f"{rhs} - ({lhs}) = {frac} \\ge 0"
                shown = to_plain(num) if den == 1 else f"({to_plain(num)}) / ({to_plain(den)})"
                plain = f"rhs - lhs = {shown} >= 0"
    return Certificate(text, method, words, latex, plain, tried, rechecked)
