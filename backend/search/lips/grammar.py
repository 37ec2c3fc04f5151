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

`latex_to_plain` translates a LaTeX subset (\\frac, \\sqrt, \\sqrt[n], \\cdot, \\left( ...) into this
grammar, so LaTeX input meets the same limits.
"""

from __future__ import annotations

import builtins
import keyword
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from fractions import Fraction

import sympy as sp


class ExprParseError(ValueError):
    """A piece of text that is not a valid expression; the message names the text and the reason."""


@dataclass(frozen=True)
class Limits:
    """Bounds on what one expression may ask for; the shipped problems and lemmas stay well inside.

    Measured on every string the shipped sets, Lean files, lemma library and reference proofs
    parse (2,485 strings): at most 1,409 characters, 732 tokens, depth 26, 8 digits, exponent 20,
    root 32, degree 90, 5,456 estimated monomials.
    """

    max_chars: int = 2000  # text length
    max_tokens: int = 1500  # numbers, names and operators
    max_depth: int = 50  # nested parentheses, signs and powers
    max_digits: int = 100  # digits in one number literal
    max_name: int = 32  # characters in one name
    max_exponent: int = 64  # |n| in x^n when x is not a rational number
    max_root: int = 64  # q in x^(p/q)
    max_root_bits: int = 256  # size of a rational x in x^(p/q): sympy factors x to simplify the root
    max_bits: int = 4096  # size of a rational number a power may produce
    max_degree: int = 128  # total degree (division counts like multiplication)
    max_terms: int = 10_000  # monomials the expanded expression may have (an upper estimate)


LIMITS = Limits()


def _root(x: sp.Expr, q: int) -> sp.Expr:
    return x ** sp.Rational(1, q)


# name -> (min args, max args, builder). sqrt/cbrt are powers so they pass the power checks.
FUNCTIONS: dict[str, tuple[int, int, Callable[..., sp.Expr]]] = {
    "sqrt": (1, 1, lambda x: _root(x, 2)),
    "cbrt": (1, 1, lambda x: _root(x, 3)),
    "Abs": (1, 1, sp.Abs),
    "abs": (1, 1, sp.Abs),
    "exp": (1, 1, sp.exp),
    "log": (1, 2, sp.log),
    "Max": (1, 64, sp.Max),
    "Min": (1, 64, sp.Min),
}
FUNCTION_NAMES = frozenset(FUNCTIONS)
# Never variable names: Python keywords and builtins (`chr`, `getattr`, `exec`), and module names a
# lambdify-generated function looks up (`math`): as symbols they would shadow them there.
RESERVED = frozenset(
    {*keyword.kwlist, *keyword.softkwlist, *dir(builtins), "math", "mpmath", "numpy", "np", "sympy", "sp",
     "os", "sys", "subprocess", "Symbol", "Function", "sympify", "lambdify", "Integer", "Rational", "Float"}
) - FUNCTION_NAMES
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")

_ALLOWED = re.compile(r"[A-Za-z0-9_ \t+\-*/^().,]*")
_TOKEN = re.compile(r"[ \t]*(?:(?P<num>\d+(?:\.\d*)?|\.\d+)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
                    r"|(?P<op>\*\*|[-+*/^(),]))")
_SCIENTIFIC = re.compile(r"[eE][+-]?\d")
_E_NAME = re.compile(r"[eE]\d+")  # `1e5` with a space: `e5` would be a name
_PY_LITERAL = re.compile(r"[xXbBoO][0-9A-Fa-f]")  # after a `0`: 0x10, 0b1, 0o7 are Python literals


# -- tokens -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    kind: str  # "num", "name", "op" or "end"
    text: str
    pos: int


def check_text(text: str, where: str, limits: Limits = LIMITS) -> None:
    """Length, relation symbols and characters: the checks that need no tokenizing."""
    if len(text) > limits.max_chars:
        raise ExprParseError(f"{where}: expression too long ({len(text)} characters; the limit "
                             f"max_chars is {limits.max_chars})")
    if re.search(r"[<>=!]", text):
        raise ExprParseError(f"{where}: relation symbol inside an expression: {_show(text)}")
    if not _ALLOWED.fullmatch(text):
        bad = sorted({ch for ch in text if not _ALLOWED.fullmatch(ch)})[:10]
        raise ExprParseError(f"{where}: unsupported character(s) {bad} in {_show(text)}")


def tokenize(text: str, where: str, limits: Limits = LIMITS) -> list[Token]:
    """Numbers, names and operators; refuses long numbers and names, scientific notation, `__`."""
    out: list[Token] = []
    pos, end = 0, len(text.rstrip())
    while pos < end:
        m = _TOKEN.match(text, pos)
        if not m:
            near = text[pos:].strip()[:10]
            raise ExprParseError(f"{where}: cannot parse {_show(text)}: unexpected {near!r}")
        kind = m.lastgroup or "op"
        tok = Token(kind, m.group(kind), m.start(kind))
        _check_token(tok, text, where, limits)
        out.append(Token("op", "^", tok.pos) if tok.text == "**" else tok)
        if len(out) > limits.max_tokens:
            raise ExprParseError(f"{where}: too many tokens (the limit max_tokens is {limits.max_tokens})")
        pos = m.end()
    out.append(Token("end", "", len(text)))
    return out


def _check_token(tok: Token, text: str, where: str, limits: Limits) -> None:
    if tok.kind == "num":
        digits = len(tok.text) - ("." in tok.text)
        if digits > limits.max_digits:
            raise ExprParseError(f"{where}: number with {digits} digits (the limit max_digits is "
                                 f"{limits.max_digits})")
        after = tok.pos + len(tok.text)
        if tok.text == "0" and _PY_LITERAL.match(text, after):
            raise ExprParseError(f"{where}: Python-style number literals (0x.., 0b.., 0o..) are not "
                                 f"supported in {_show(text)}")
        if _SCIENTIFIC.match(text, after):
            raise ExprParseError(f"{where}: scientific notation is not supported (write 10^k) in "
                                 f"{_show(text)}")
    elif tok.kind == "name":
        if tok.text.startswith("_") or "__" in tok.text:
            raise ExprParseError(f"{where}: unknown name {tok.text[:40]!r} in {_show(text)} (a name starts "
                                 f"with a letter and has no '__')")
        if tok.text in RESERVED:
            raise ExprParseError(f"{where}: {tok.text!r} is a reserved word, not a variable name, in "
                                 f"{_show(text)}")
        if len(tok.text) > limits.max_name:
            raise ExprParseError(f"{where}: name longer than {limits.max_name} characters (max_name)")


def _check_nesting(tokens: list[Token], text: str, where: str, limits: Limits) -> None:
    """Balanced parentheses and their depth, in one pass before any recursion."""
    depth = 0
    for tok in tokens:
        depth += tok.text == "("
        depth -= tok.text == ")"
        if depth < 0:
            raise ExprParseError(f"{where}: cannot parse {_show(text)}: unbalanced ')'")
        if depth > limits.max_depth:
            raise ExprParseError(f"{where}: parentheses nested deeper than {limits.max_depth} "
                                 f"(the limit max_depth)")
    if depth:
        raise ExprParseError(f"{where}: cannot parse {_show(text)}: unclosed '('")


SHOW_CHARS = 80  # of the user's text quoted in one error message


def _show(text: str) -> str:
    """The text for an error message, cut so a long input is never echoed whole."""
    if len(text) <= SHOW_CHARS:
        return repr(text)
    return repr(text[:SHOW_CHARS - 3]) + f"... ({len(text)} characters)"


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
        return _checked(_call(fname, args, self), self)


# -- bounds on parse-tree nodes ----------------------------------------------------------------


def _bits(q: Fraction) -> int:
    return max(abs(q.numerator).bit_length(), q.denominator.bit_length())


def _log2(q: Fraction) -> float:
    """log2 of the larger of |numerator| and denominator: the bits one factor of a power adds."""
    big = max(abs(q.numerator), q.denominator)
    return math.log2(big) if big > 1 else 0.0


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


def check_power(base: Fraction | None, exponent: Fraction, where: str, limits: Limits = LIMITS) -> None:
    """Refuse a power whose evaluation could be large, before computing it.

    A rational base takes |exponent| <= `max_bits` and a result of at most `max_bits` bits
    (|exponent| * log2 of the base); any other base (a variable, sqrt(2), a sum) takes
    |exponent| <= `max_exponent`; a rational exponent p/q needs q <= `max_root`, and a rational
    base under a root at most `max_root_bits` bits (sympy's root of a 4,000-bit number: 0.3 s).
    """
    if exponent.denominator > limits.max_root:
        raise ExprParseError(f"{where}: exponent {_short(exponent)} has a root larger than {limits.max_root} "
                             f"(the limit max_root)")
    if base is not None and exponent.denominator > 1 and _log2(base) > limits.max_root_bits:
        raise ExprParseError(f"{where}: root of a number larger than {limits.max_root_bits} bits "
                             f"(the limit max_root_bits)")
    if base is not None:
        if abs(exponent) * _log2(base) >= limits.max_bits or abs(exponent) > limits.max_bits:
            raise ExprParseError(f"{where}: power too large: {_short(base)}^{_short(exponent)} would have "
                                 f"more than {limits.max_bits} bits (the limit max_bits)")
    elif abs(exponent) > limits.max_exponent:
        raise ExprParseError(f"{where}: exponent {_short(exponent)} too large (the limit max_exponent is "
                             f"{limits.max_exponent} for a power of an expression)")


def _short(q: Fraction | sp.Rational) -> str:
    s = str(q)
    return s if len(s) <= 30 else f"{s[:12]}...({len(s)} digits)"


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


# -- sympy build --------------------------------------------------------------------------------


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
    return expr


# -- LaTeX --------------------------------------------------------------------------------------

_LATEX_ALLOWED = re.compile(r"[A-Za-z0-9\s+\-*/^_(){}\[\].,=<>|\\$~!:;]*")
_LATEX_TOKEN = re.compile(r"\\[A-Za-z]+|\\.|\s+|.", re.DOTALL)
_LATEX_WORDS = {
    **dict.fromkeys(("\\cdot", "\\times", "\\ast"), "*"),
    "\\div": "/",
    **dict.fromkeys(("\\ge", "\\geq", "\\geqslant"), " >= "),
    **dict.fromkeys(("\\le", "\\leq", "\\leqslant"), " <= "),
    **dict.fromkeys(("\\ne", "\\neq"), " != "),
    "\\lt": " < ",
    "\\gt": " > ",
    **dict.fromkeys(("\\,", "\\;", "\\:", "\\!", "\\ ", "\\quad", "\\qquad", "\\displaystyle", "\\(", "\\)",
                     "\\[", "\\]", "\\big", "\\Big", "\\bigl", "\\bigr", "\\Bigl", "\\Bigr"), " "),
    "\\lvert": "Abs(",
    "\\rvert": ")",
}
_LATEX_FUNCTIONS = {"\\ln": "log", "\\log": "log", "\\exp": "exp", "\\max": "Max", "\\min": "Min"}
_FRACTIONS = ("\\frac", "\\dfrac", "\\tfrac")


class _Latex:
    """One pass over LaTeX tokens, emitting plain syntax; `depth` counts open groups."""

    def __init__(self, tokens: list[str], text: str, where: str, limits: Limits) -> None:
        self.tokens, self.text, self.where, self.limits = tokens, text, where, limits
        self.i = 0
        self.depth = 0

    def fail(self, why: str) -> ExprParseError:
        return ExprParseError(f"{self.where}: cannot read LaTeX {_show(self.text)}: {why}")

    def peek(self) -> str:
        while self.i < len(self.tokens) and self.tokens[self.i].isspace():
            self.i += 1
        return self.tokens[self.i] if self.i < len(self.tokens) else ""

    def take(self) -> str:
        tok = self.peek()
        if not tok:
            raise self.fail("ends too early")
        self.i += 1
        return tok

    def run(self) -> str:
        out = self.seq("")
        if self.peek():
            raise self.fail(f"unexpected {self.peek()!r}")
        return out

    def seq(self, close: str) -> str:
        parts = []
        while (tok := self.peek()) and tok != close:
            if tok in ("}", "]") and close == "":
                raise self.fail(f"unbalanced {tok!r}")
            parts.append(self.item())
        return "".join(parts)

    def group(self, close: str) -> str:
        """Everything up to `close`, one level deeper."""
        self.depth += 1
        if self.depth > self.limits.max_depth:
            raise ExprParseError(f"{self.where}: LaTeX nested deeper than {self.limits.max_depth} "
                                 f"(the limit max_depth)")
        inner = self.seq(close)
        if self.take() != close:
            raise self.fail(f"missing {close!r}")
        self.depth -= 1
        return inner

    def arg(self) -> str:
        """One argument: a `{...}` group or a single character (`\\frac12`, `x^2`)."""
        tok = self.take()
        if tok == "{":
            return f"({self.group('}')})"
        if len(tok) == 1 and tok.isalnum():
            return tok
        if tok in (*_FRACTIONS, "\\sqrt"):
            return f"({self.command(tok)})"
        raise self.fail(f"expected an argument, got {tok!r}")

    def item(self) -> str:
        tok = self.take()
        if tok.startswith("\\"):
            return self.command(tok)
        if tok.isalpha():
            return self.letter(tok)
        if tok == "{":
            return f"({self.group('}')})"
        if tok == "[":
            return f"({self.group(']')})"
        if tok == "(":
            return f"({self.group(')')})"
        if tok == "^":
            return f"^({self.arg()})"
        if tok in ("$", "~"):
            return " "
        if tok.isdigit() or tok in "+-*/=<>.,":
            return tok
        why = {"|": "write absolute values as \\left| x \\right|", "!": "factorials are not supported"}
        raise self.fail(why.get(tok, f"unexpected {tok!r}"))

    def letter(self, tok: str) -> str:
        """Letters are single-letter variables (`ab` is a*b); `x_1`, `x_{12}` become `x_1`, `x_12`."""
        if self.peek() != "_":
            return f" {tok} "
        self.take()
        sub = self.arg().strip("()")
        if not re.fullmatch(r"[A-Za-z0-9]+", sub):
            raise self.fail(f"subscript {sub!r} must be letters and digits")
        return f" {tok}_{sub} "

    def command(self, tok: str) -> str:
        if tok in _LATEX_WORDS:
            return _LATEX_WORDS[tok]
        if tok in _FRACTIONS:
            num, den = self.arg(), self.arg()
            return f"({num}/{den})"
        if tok == "\\sqrt":
            return self.sqrt()
        if tok in ("\\left", "\\right"):
            return self.delimiter(tok)
        if tok in _LATEX_FUNCTIONS:
            name = _LATEX_FUNCTIONS[tok]
            return f" {name}" if self.peek() in ("(", "\\left") else f" {name}({self.arg()})"
        raise self.fail(f"unsupported command {tok}")

    def sqrt(self) -> str:
        if self.peek() != "[":
            return f" sqrt({self.arg()})"
        self.take()
        index = self.group("]")
        return f"(({self.arg()})^(1/({index})))"

    def delimiter(self, tok: str) -> str:
        d = self.take()
        if d == "|":
            return " Abs(" if tok == "\\left" else ")"
        if d in ("(", "["):
            return "("
        if d in (")", "]"):
            return ")"
        if d == ".":
            return " "
        raise self.fail(f"unsupported delimiter {tok}{d}")


def latex_to_plain(text: str, *, where: str = "latex", limits: Limits = LIMITS) -> str:
    """A LaTeX subset -> plain syntax (relations kept as <=, >=, =, !=, <, >), no sympy involved.

    Supported: \\frac \\dfrac \\tfrac, \\sqrt{x}, \\sqrt[n]{x}, ^{...}, \\cdot \\times, \\left( \\right),
    \\left| \\right|, \\ln \\log \\exp \\max \\min, \\ge \\geq \\le \\leq \\ne, $ delimiters, spacing.
    Each letter is a variable (`ab` is a*b) unless subscripted (`x_1`).
    """
    if len(text) > limits.max_chars:
        raise ExprParseError(f"{where}: LaTeX too long ({len(text)} characters; the limit max_chars is "
                             f"{limits.max_chars})")
    if not _LATEX_ALLOWED.fullmatch(text):
        bad = sorted({ch for ch in text if not _LATEX_ALLOWED.fullmatch(ch)})[:10]
        raise ExprParseError(f"{where}: unsupported character(s) {bad} in {_show(text)}")
    reader = _Latex(_LATEX_TOKEN.findall(text), text, where, limits)
    out = reader.run()
    return re.sub(r"\s+", " ", out).strip()


def latex_limits(limits: Limits = LIMITS) -> Limits:
    """Limits for the plain text a LaTeX input becomes: translation adds characters and parentheses."""
    return replace(limits, max_chars=3 * limits.max_chars, max_tokens=2 * limits.max_tokens)
