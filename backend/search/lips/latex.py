"""A LaTeX subset -> the plain expression syntax of grammar.py, so LaTeX input meets the same limits.

\\frac, \\sqrt, \\sqrt[n], \\cdot, \\left( ... are translated as text, with no sympy involved.
"""

from __future__ import annotations

import re
from dataclasses import replace

from backend.search.lips.limits import LIMITS, ExprParseError, Limits, _show

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
