"""Text <-> sympy conversion for inequality expressions (plain, Lean 4 and LaTeX syntax).

LIPS (arXiv 2502.13834) keeps goals as strings in Lean syntax and re-parses them with sympy at
every step. Canopy keeps sympy expressions and converts only at the edges: problem files, Lean
reference scripts, the web page and LLM answers. The text is read by `grammar.py`, a parser of
its own that cannot execute code and refuses, before any sympy work, inputs that would take long
to evaluate (`9^9^9^9`, deep nesting, huge expansions); sympy's `parse_expr` is not used.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import sympy as sp

from backend.search.lips.grammar import parse_plain
from backend.search.lips.latex import latex_limits, latex_to_plain
from backend.search.lips.limits import LIMITS, ExprParseError
from backend.search.lips.tokenizer import FUNCTION_NAMES

__all__ = ["FUNCTION_NAMES", "ExprParseError", "lean_to_plain", "make_symbols", "parse_expression",
           "parse_latex_expression", "to_lean", "to_plain"]

_RELATION = re.compile(r"(<=|>=|!=|==|=|<|>)")
_RELATIONS = {"<=": sp.LessThan, ">=": sp.GreaterThan, "<": sp.StrictLessThan, ">": sp.StrictGreaterThan,
              "=": sp.Eq, "==": sp.Eq, "!=": sp.Ne}


def make_symbols(names: Iterable[str]) -> dict[str, sp.Symbol]:
    """One real symbol per name, with no sign assumptions.

    Sign facts live in the problem's constraints, not on the symbols: with `positive=True` sympy
    rewrites sqrt(a*b) into sqrt(a)*sqrt(b) on construction, which hides the `sqrt(u*v)` shape the
    AM-GM lemmas match (the official code parses with no assumptions for the same reason).
    """
    return {n: sp.Symbol(n, real=True) for n in names}


def lean_to_plain(text: str) -> str:
    """Lean 4 surface syntax -> plain syntax: `sqrt x` -> `sqrt(x)`, unicode relations -> ASCII."""
    t = text.replace("↑", "").replace("Real.sqrt", "sqrt").replace("√", "sqrt ")
    t = t.replace("≤", "<=").replace("≥", ">=").replace("≠", "!=").replace("·", "*")
    t = re.sub(r"\bsqrt\s+([A-Za-z0-9_]+)", r"sqrt(\1)", t)  # `sqrt 3` / `sqrt a`
    t = re.sub(r"\bsqrt\s+\(", "sqrt(", t)
    return t


def parse_expression(text: str, symbols: Mapping[str, sp.Symbol], *, where: str = "expression") -> sp.Expr:
    """Parse plain/Lean syntax into sympy using only `symbols` and `grammar.FUNCTIONS`.

    `where` names the part of the input (e.g. "constraint 2") so errors say which part failed.
    The length is checked before the Lean pre-pass so a huge input costs nothing.
    """
    if len(text) > LIMITS.max_chars:
        raise ExprParseError(f"{where}: expression too long ({len(text)} characters; the limit "
                             f"max_chars is {LIMITS.max_chars})")
    src = lean_to_plain(text).strip()
    if not src:
        raise ExprParseError(f"{where}: empty expression")
    return parse_plain(src, symbols, where=where)


def parse_latex_expression(text: str, symbols: Mapping[str, sp.Symbol]) -> sp.Expr | sp.Rel:
    """LaTeX -> sympy over `symbols`: translated to plain syntax, so the same limits apply.

    At most one relation; `a \\ge b` gives the unevaluated relation `a >= b`.
    """
    plain = latex_to_plain(text, where="latex")
    pieces = _RELATION.split(plain)
    limits = latex_limits()
    if len(pieces) == 1:
        return parse_plain(plain, symbols, where="latex", limits=limits)
    if len(pieces) != 3:
        raise ExprParseError(f"latex: expected at most one relation in {text[:80]!r}")
    lhs, op, rhs = pieces
    left = parse_plain(lhs.strip(), symbols, where="latex (left side)", limits=limits)
    right = parse_plain(rhs.strip(), symbols, where="latex (right side)", limits=limits)
    return _RELATIONS[op](left, right, evaluate=False)


def to_plain(expr: sp.Expr) -> str:
    """Plain-syntax string that `parse_expression` reads back to the same expression."""
    return sp.sstr(expr, order="none").replace("**", "^")


def to_lean(expr: sp.Expr) -> str:
    """Lean-like string (`^`, `sqrt (x)`), as the official LIPS prints goals."""
    s = to_plain(expr)
    return s.replace("sqrt(", "sqrt (")

