"""The expression vocabulary (functions, reserved words, names) and the tokenizer with its checks.

Text is checked for length and characters, then cut into numbers, names and operators; long
numbers and names, scientific notation, Python literals, `__` and reserved words are refused here,
and parentheses are balanced and depth-checked before the parser (grammar.py) recurses.
"""

from __future__ import annotations

import builtins
import keyword
import re
from collections.abc import Callable
from dataclasses import dataclass

import sympy as sp

from backend.search.lips.limits import LIMITS, ExprParseError, Limits, _show


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
