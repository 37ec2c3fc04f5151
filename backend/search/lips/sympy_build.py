"""A parse tree that passed the limits -> sympy, each power checked again on the sympy values.

sympy may simplify an exponent to a number (`sqrt(10^400)` is `10^200`) or turn exp(c*log(y))
into y^c, so the checks of limits.py run again here on what sympy actually builds.
"""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING

import sympy as sp

from backend.search.lips.limits import ExprParseError, _show, check_power
from backend.search.lips.tokenizer import FUNCTIONS

if TYPE_CHECKING:
    from backend.search.lips.grammar import Node, _Parser


def _build(node: Node, p: _Parser) -> sp.Expr:
    """sympy objects from a tree that passed the limits; powers are checked again on sympy values."""
    if node.kind == "num":
        return sp.Rational(node.value.numerator, node.value.denominator)  # type: ignore[union-attr]
    if node.kind == "var":
        return p.symbols[node.name]
    args = [_build(a, p) for a in node.args]
    if node.kind in ("add", "mul"):
        return _fold(args, node.ops, p)
    if node.kind == "neg":
        return -args[0]
    if node.kind == "pow":
        return _sympy_pow(args[0], args[1], p)
    if node.name in ("sqrt", "cbrt"):
        return _sympy_pow(args[0], sp.Rational(1, 2 if node.name == "sqrt" else 3), p)
    if node.name == "exp":
        return _sympy_exp(args[0], p)
    return FUNCTIONS[node.name][2](*args)


def _fold(args: list[sp.Expr], ops: tuple[str, ...], p: _Parser) -> sp.Expr:
    """Left to right with sympy's binary operators, as Python evaluates `2*(a+b)/c - d`.

    The binary forms matter: `2*(a+b)` distributes the number, which n-ary `sp.Mul` does not, and
    the lemma matcher sees the shapes the former `parse_expr` produced.
    """
    if set(ops) <= {"+", "-"}:  # n-ary: the same canonical sum, without re-flattening it per term
        return sp.Add(*(a if op == "+" else -a for a, op in zip(args, ops, strict=True)))
    out = args[0]
    for a, op in zip(args[1:], ops[1:], strict=True):
        if op == "+":
            out = out + a
        elif op == "-":
            out = out - a
        elif op == "*":
            out = out * a
        else:
            _sympy_pow(a, sp.Integer(-1), p)  # refuses a zero divisor
            out = out / a
    return out


def _sympy_pow(base: sp.Expr, exponent: sp.Expr, p: _Parser) -> sp.Expr:
    """base^exponent after checking every rational in the exponent against the base.

    The exponent is checked on its sympy value because sympy may have simplified it to a number
    (`sqrt(10^400)` is `10^200`), and its rational parts one by one because `expand` splits
    `2^(a + 10^300)` into `2^a * 2^(10^300)`.
    """
    if base == sp.E:
        return _sympy_exp(exponent, p)
    rational_base = Fraction(int(base.p), int(base.q)) if base.is_Rational else None
    parts = [exponent] if exponent.is_Rational else list(exponent.atoms(sp.Rational))
    for r in parts:
        check_power(rational_base, Fraction(int(r.p), int(r.q)), p.where, p.limits)
    if base == 0 and exponent.is_Rational and exponent < 0:
        raise ExprParseError(f"{p.where}: division by zero in {_show(p.text)}")
    return sp.Pow(base, exponent)


def _sympy_exp(x: sp.Expr, p: _Parser) -> sp.Expr:
    """exp(x), refusing what sympy would turn into a power the limits never saw.

    sympy rewrites exp(c*log(y)) as y^c: with c = 10^300 and y = 2 it computes the number, and
    with y a variable it builds powers past max_exponent and max_degree.
    """
    for lg in x.atoms(sp.log):
        y = lg.args[0]
        if y.free_symbols:
            raise ExprParseError(f"{p.where}: exp of a log of an expression with variables is not supported "
                                 f"(write the power) in {_show(p.text)}")
        rational = Fraction(int(y.p), int(y.q)) if y.is_Rational else None
        for r in x.atoms(sp.Rational):
            check_power(rational, Fraction(int(r.p), int(r.q)), p.where, p.limits)
    return sp.exp(x)
