"""Text -> sympy for inequality expressions, by a parser that cannot run code or compute for long.

Problem text arrives from the web page, the CLI and LLM rewrites. sympy's `parse_expr` evaluates
Python (an attribute chain such as `f.__globals__` reached `os`), and evaluating `9^9^9^9` or
`(a+b)^100000` froze the whole server, so this module reads the text itself: a tokenizer and a
recursive-descent parser over a fixed grammar, with every limit in `Limits` checked on the whole
parse tree before any sympy object is built; the build then re-checks each power on the actual
sympy values. Nothing here calls eval, sympify on a string, parse_expr or the `ast` module.

Grammar (`**` is read as `^`):
    expr    := term (('+' | '-') term)*
    term    := unary (('*' | '/') unary | power)*       a bare `power` is implicit multiplication:
                                                        `2a`, `2(a+b)`, `(a+b)(a-b)`, `a b`
    unary   := ('+' | '-') unary | power
    power   := primary ('^' unary)?                     right-associative: 2^3^2 = 2^9
    primary := NUMBER | NAME | FUNCTION '(' expr (',' expr)* ')' | '(' expr ')'
NUMBER is `12`, `0.25` or `.5` (decimals become exact rationals); NAME is a variable of the
problem (`[A-Za-z][A-Za-z0-9_]*`, no `__`); FUNCTION is one of `FUNCTIONS`.

Modules: limits.py (`Limits`, the power check), tokenizer.py (vocabulary and tokens), this one
(parse tree with its bounds, `parse_plain`), sympy_build.py (tree -> sympy). latex.py's
`latex_to_plain` translates a LaTeX subset (\\frac, \\sqrt, \\sqrt[n], \\cdot, \\left( ...) into this
grammar, so LaTeX input meets the same limits.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from fractions import Fraction

import sympy as sp

from backend.search.lips.limits import LIMITS, ExprParseError, Limits, _bits, _short, _show, check_power
from backend.search.lips.sympy_build import _build
from backend.search.lips.tokenizer import FUNCTIONS, Token, _check_nesting, check_text, tokenize

_E_NAME = re.compile(r"[eE]\d+")  # `1e5` with a space: `e5` would be a name


# -- parse tree -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    """A parse-tree node with the bounds the limits are checked on.

    kind: "num" (value), "var" (name), "add"/"mul" (args with ops "+"/"-" or "*"/"/"), "neg",
    "pow" (args base, exponent), "call" (name, args). `value` is the exact rational value when the
    node is a rational constant; `degree` and `terms` bound the total degree and the number of
    monomials after expansion; `names` are the variables it uses.
    """

    kind: str
    args: tuple[Node, ...] = ()
    ops: tuple[str, ...] = ()
    name: str = ""
    value: Fraction | None = None
    names: frozenset[str] = frozenset()
    degree: Fraction = Fraction(0)
    terms: int = 1

    @property
    def const(self) -> bool:
        return not self.names


class _Parser:
    """Recursive descent over the token list; `depth` counts parentheses, signs and powers."""

    def __init__(self, tokens: list[Token], text: str, symbols: Mapping[str, sp.Symbol], where: str,
                 limits: Limits) -> None:
        self.tokens, self.text, self.symbols, self.where, self.limits = tokens, text, symbols, where, limits
        self.extrema_args = 0  # Max/Min arguments so far (Limits.max_extrema_args)
        self.i = 0
        self.depth = 0

    # helpers
    def peek(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def fail(self, why: str) -> ExprParseError:
        return ExprParseError(f"{self.where}: cannot parse {_show(self.text)}: {why}")

    def expect(self, op: str) -> None:
        tok = self.take()
        if tok.text != op:
            got = repr(tok.text) if tok.kind != "end" else "the end"
            raise self.fail(f"expected {op!r} at position {tok.pos}, got {got}")

    def enter(self) -> None:
        self.depth += 1
        if self.depth > self.limits.max_depth:
            raise ExprParseError(f"{self.where}: expression nested deeper than {self.limits.max_depth} "
                                 f"(the limit max_depth)")

    # grammar
    def parse(self) -> Node:
        node = self.expr()
        if self.peek().kind != "end":
            tok = self.peek()
            raise self.fail(f"unexpected {tok.text!r} at position {tok.pos}")
        return node

    def expr(self) -> Node:
        args, ops = [self.term()], ["+"]
        while self.peek().text in ("+", "-"):
            ops.append(self.take().text)
            args.append(self.term())
        return args[0] if len(args) == 1 else _checked(_add(args, ops), self)

    def term(self) -> Node:
        args, ops = [self.unary()], ["*"]
        while True:
            tok = self.peek()
            if tok.text in ("*", "/"):
                ops.append(self.take().text)
                args.append(self.unary())
            elif tok.kind == "name" or tok.text == "(":
                ops.append("*")
                args.append(self.power())
            elif tok.kind == "num":
                raise self.fail(f"a number cannot follow an expression without an operator "
                                f"(position {tok.pos})")
            else:
                break
        return args[0] if len(args) == 1 else _checked(_mul(args, ops), self)

    def unary(self) -> Node:
        if self.peek().text not in ("+", "-"):
            return self.power()
        sign = self.take().text
        self.enter()
        inner = self.unary()
        self.depth -= 1
        return inner if sign == "+" else _neg(inner)

    def power(self) -> Node:
        base = self.primary()
        if self.peek().text != "^":
            return base
        self.take()
        self.enter()
        exponent = self.unary()
        self.depth -= 1
        return _checked(_pow(base, exponent, self), self)

    def primary(self) -> Node:
        tok = self.take()
        if tok.kind == "num":
            value = Fraction(tok.text)
            return Node("num", value=value)
        if tok.kind == "name":
            return self.name(tok)
        if tok.text == "(":
            self.enter()
            inner = self.expr()
            self.expect(")")
            self.depth -= 1
            return inner
        got = repr(tok.text) if tok.kind != "end" else "the end"
        raise self.fail(f"expected a number, a name or '(' at position {tok.pos}, got {got}")

    def name(self, tok: Token) -> Node:
        if tok.text in self.symbols:
            return Node("var", name=tok.text, names=frozenset((tok.text,)), degree=Fraction(1))
        if tok.text in FUNCTIONS:
            return self.call(tok.text)
        known = ", ".join(sorted(self.symbols)) or "none"
        hint = " (scientific notation is not supported: write 10^k)" if _E_NAME.fullmatch(tok.text) else ""
        raise ExprParseError(f"{self.where}: unknown name {tok.text!r} in {_show(self.text)} "
                             f"(variables: {known}){hint}")

    def call(self, fname: str) -> Node:
        if self.peek().text != "(":
            raise self.fail(f"function {fname!r} needs parentheses: {fname}(x)")
        self.take()
        self.enter()
        args = [self.expr()]
        while self.peek().text == ",":
            self.take()
            args.append(self.expr())
        self.expect(")")
        self.depth -= 1
        lo, hi, _ = FUNCTIONS[fname]
        if not lo <= len(args) <= hi:
            count = lo if lo == hi else f"{lo} to {hi}"
            raise self.fail(f"{fname} takes {count} argument(s), got {len(args)}")
        if fname in ("Max", "Min"):
            self.extrema_args += len(args)
            if self.extrema_args > self.limits.max_extrema_args:
                raise self.fail(f"more than {self.limits.max_extrema_args} arguments of Max and Min in one "
                                "expression (the limit max_extrema_args)")
        return _checked(_call(fname, args, self), self)


# -- bounds on parse-tree nodes ----------------------------------------------------------------


def _add(args: list[Node], ops: list[str]) -> Node:
    value = None
    if all(a.value is not None for a in args):
        value = sum((a.value if op == "+" else -a.value for a, op in zip(args, ops, strict=True)),
                    Fraction(0))
    return Node("add", tuple(args), tuple(ops), value=value, names=_names(args),
                degree=max(a.degree for a in args), terms=sum(a.terms for a in args))


def _mul(args: list[Node], ops: list[str]) -> Node:
    """Division counts like multiplication for degree and terms: cancelling denominators expands them."""
    value = None
    pairs = list(zip(args, ops, strict=True))
    if all(a.value is not None for a in args) and all(a.value for a, op in pairs if op == "/"):
        value = Fraction(1)
        for a, op in zip(args, ops, strict=True):
            value = value * a.value if op == "*" else value / a.value
    return Node("mul", tuple(args), tuple(ops), value=value, names=_names(args),
                degree=sum((a.degree for a in args), Fraction(0)), terms=math.prod(a.terms for a in args))


def _neg(x: Node) -> Node:
    return Node("neg", (x,), value=None if x.value is None else -x.value, names=x.names, degree=x.degree,
                terms=x.terms)


def _names(args: list[Node]) -> frozenset[str]:
    return frozenset().union(*(a.names for a in args))


def _monomials(node: Node, cap: int) -> int:
    """Monomials a polynomial of this degree in this many variables can have, at most (capped)."""
    n, d = len(node.names), math.ceil(node.degree)
    return min(math.comb(n + d, n), cap) if d <= 4 * cap else cap


def _pow(base: Node, exponent: Node, p: _Parser) -> Node:
    e = exponent.value
    if e is None:  # symbolic or irrational exponent: checked again on the sympy value
        return Node("pow", (base, exponent), names=base.names | exponent.names, degree=base.degree)
    check_power(base.value, e, p.where, p.limits)
    if base.value == 0 and e < 0:
        raise ExprParseError(f"{p.where}: division by zero (0 to a negative power) in {_show(p.text)}")
    value = base.value**e.numerator if base.value is not None and e.denominator == 1 else None
    n = abs(e.numerator)
    terms = math.comb(n + base.terms - 1, n) if e.denominator == 1 else 1
    return Node("pow", (base, exponent), value=value, names=base.names, degree=base.degree * abs(e),
                terms=terms)


def _call(fname: str, args: list[Node], p: _Parser) -> Node:
    if fname in ("sqrt", "cbrt"):
        exponent = Node("num", value=Fraction(1, 2 if fname == "sqrt" else 3))
        return Node("call", tuple(args), name=fname, names=args[0].names,
                    degree=_pow(args[0], exponent, p).degree)
    return Node("call", tuple(args), name=fname, names=_names(args), degree=max(a.degree for a in args))


def _checked(node: Node, p: _Parser) -> Node:
    """Degree, monomial-count and number-size limits on each node as it is made."""
    lim = p.limits
    if node.terms > lim.max_terms:
        node = replace(node, terms=min(node.terms, _monomials(node, lim.max_terms + 1)))
    if node.degree > lim.max_degree:
        raise ExprParseError(f"{p.where}: degree {_short(node.degree)} too high (the limit max_degree is "
                             f"{lim.max_degree})")
    if node.terms > lim.max_terms:
        raise ExprParseError(f"{p.where}: expression too large: expanding it gives up to "
                             f"{_short(Fraction(node.terms))} terms (the limit max_terms is {lim.max_terms})")
    if node.value is not None and _bits(node.value) > lim.max_bits:
        raise ExprParseError(f"{p.where}: number too large (more than {lim.max_bits} bits, the limit "
                             f"max_bits)")
    return node


_RELATIONS = re.compile(r"[<>=!≤≥]+")


def extrema_args(texts: list[str], limits: Limits = LIMITS) -> int:
    """Arguments of the Max/Min calls in ``texts`` together (text that does not tokenize counts 0:
    its own parse says why). A problem's parts meet ``max_extrema_args`` together, before any is
    built: sympy compares a Max's arguments pairwise, so 64 constraints of 16 each still froze."""
    total = 0
    for text in (side for whole in texts for side in _RELATIONS.split(whole)):  # "a <= Max(b, c)": each side
        try:
            tokens = tokenize(text, "expression", limits)
        except ExprParseError:
            continue
        depth, open_at = 0, []  # depths where a Max/Min call's parenthesis opened
        for before, tok in zip([None, *tokens], tokens, strict=False):
            if tok.text == "(":
                depth += 1
                if before is not None and before.text in ("Max", "Min"):
                    open_at.append(depth)
                    total += 1
            elif tok.text == ")":
                if open_at and open_at[-1] == depth:
                    open_at.pop()
                depth -= 1
            elif tok.text == "," and open_at and open_at[-1] == depth:
                total += 1
    return total


def parse_plain(text: str, symbols: Mapping[str, sp.Symbol], *, where: str = "expression",
                limits: Limits = LIMITS) -> sp.Expr:
    """Plain syntax -> sympy over `symbols` and `FUNCTIONS` only, within `limits`."""
    check_text(text, where, limits)
    tokens = tokenize(text, where, limits)
    if len(tokens) == 1:
        raise ExprParseError(f"{where}: empty expression")
    _check_nesting(tokens, text, where, limits)
    parser = _Parser(tokens, text, symbols, where, limits)
    tree = parser.parse()
    expr = _build(tree, parser)
    if expr.has(sp.zoo, sp.oo, -sp.oo, sp.nan):
        raise ExprParseError(f"{where}: {_show(text)} divides by zero or is undefined")
    if not isinstance(expr, sp.Expr):
        raise ExprParseError(f"{where}: {_show(text)} is not an arithmetic expression")
    if _has_non_real_number(expr):
        raise ExprParseError(f"{where}: {_show(text)} has a value that is not real (a root or log of a "
                             "negative number): an inequality compares real values")
    return expr


def _has_non_real_number(expr: sp.Expr) -> bool:
    """Whether a constant part of ``expr`` is not real (``sqrt(-2)``, ``(-8)^(1/3)``, ``log(-1)``):
    such a goal has no order, and the provers' exact arithmetic assumes real coefficients."""
    return any(
        sub.is_number and sub.is_extended_real is False
        for sub in sp.preorder_traversal(expr)
        if isinstance(sub, sp.Expr)
    )
