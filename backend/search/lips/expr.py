"""Safe text <-> sympy conversion for inequality expressions (plain, Lean 4 and LaTeX syntax).

LIPS (arXiv 2502.13834) keeps goals as strings in Lean syntax and re-parses them with sympy at
every step. Canopy keeps sympy expressions and converts only at the edges: problem files, Lean
reference scripts, and (later) LLM answers. Because `sympy.parse_expr` evaluates Python code,
every string is first tokenised and checked against a whitelist of names and characters, so an
LLM answer such as `__import__('os')` is rejected with a message instead of being executed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from tokenize import TokenError

import sympy as sp
from sympy.parsing.sympy_parser import (
    convert_xor,
    implicit_multiplication_application,
    parse_expr,
    standard_transformations,
)

_TRANSFORMS = (*standard_transformations, implicit_multiplication_application, convert_xor)

# Functions a goal may contain. sqrt/cbrt are what the lemma library and benchmarks use; the
# rest appear in hand-written problems and make the parse fail loudly later (z3 can't use them).
_FUNCTIONS: dict[str, object] = {
    "sqrt": sp.sqrt,
    "cbrt": lambda x: sp.Pow(x, sp.Rational(1, 3)),
    "Abs": sp.Abs,
    "abs": sp.Abs,
    "exp": sp.exp,
    "log": sp.log,
    "Max": sp.Max,
    "Min": sp.Min,
}
_ALLOWED_CHARS = re.compile(r"^[A-Za-z0-9_ \t+\-*/^().,]*$")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class ExprParseError(ValueError):
    """A piece of text that is not a valid expression; the message names the text and the reason."""


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
    """Parse plain/Lean syntax into sympy using only `symbols` and whitelisted functions.

    `where` names the part of the input (e.g. "constraint 2") so errors say which part failed.
    """
    src = lean_to_plain(text).strip()
    if not src:
        raise ExprParseError(f"{where}: empty expression")
    if "**" not in src and "^" not in src and re.search(r"[<>=!]", src):
        raise ExprParseError(f"{where}: relation symbol inside an expression: {text!r}")
    if not _ALLOWED_CHARS.match(src):
        bad = sorted({ch for ch in src if not _ALLOWED_CHARS.match(ch)})
        raise ExprParseError(f"{where}: unsupported character(s) {bad} in {text!r}")
    for name in _IDENT.findall(src):
        if name not in symbols and name not in _FUNCTIONS:
            known = ", ".join(sorted(symbols)) or "none"
            raise ExprParseError(f"{where}: unknown name {name!r} in {text!r} (variables: {known})")
    local = {**_FUNCTIONS, **symbols}
    try:
        expr = parse_expr(src, local_dict=local, global_dict={"Integer": sp.Integer, "Rational": sp.Rational,
                                                               "Float": sp.Float, "Symbol": sp.Symbol},
                          transformations=_TRANSFORMS, evaluate=True)
    except (SyntaxError, TypeError, ValueError, AttributeError, ZeroDivisionError, TokenError) as exc:
        raise ExprParseError(f"{where}: cannot parse {text!r}: {type(exc).__name__}: {exc}") from exc
    if not isinstance(expr, sp.Expr):
        raise ExprParseError(f"{where}: {text!r} is not an arithmetic expression")
    return _rationalise(expr)


def _rationalise(expr: sp.Expr) -> sp.Expr:
    """Turn decimal literals into exact rationals: solvers and equality tests need exact numbers."""
    floats = expr.atoms(sp.Float)
    if not floats:
        return expr
    return expr.xreplace({f: sp.Rational(str(f)) for f in floats})


def parse_latex_expression(text: str, symbols: Mapping[str, sp.Symbol]) -> sp.Expr | sp.Rel:
    """LaTeX -> sympy via latex2sympy2_extended (a math-verify dependency), renamed onto `symbols`."""
    from latex2sympy2_extended import latex2sympy  # lazy: pulls antlr

    try:
        raw = latex2sympy(text)
    except Exception as exc:  # the antlr parser raises many unrelated exception types
        raise ExprParseError(f"latex: cannot parse {text!r}: {type(exc).__name__}: {exc}") from exc
    mapping = {}
    for s in raw.free_symbols:
        if s.name not in symbols:
            raise ExprParseError(f"latex: unknown name {s.name!r} in {text!r}")
        mapping[s] = symbols[s.name]
    return raw.xreplace(mapping)


def to_plain(expr: sp.Expr) -> str:
    """Plain-syntax string that `parse_expression` reads back to the same expression."""
    return sp.sstr(expr, order="none").replace("**", "^")


def to_lean(expr: sp.Expr) -> str:
    """Lean-like string (`^`, `sqrt (x)`), as the official LIPS prints goals."""
    s = to_plain(expr)
    return s.replace("sqrt(", "sqrt (")

