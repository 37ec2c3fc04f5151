"""Bounds on one expression: `Limits`, the error the parser raises, and the check on powers.

The parser (grammar.py) checks these on the whole parse tree before any sympy object is built, and
the build (sympy_build.py) checks each power again on the actual sympy values. `_show` and
`_short` cut the user's text and numbers for error messages.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
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
    #: arguments of all Max/Min calls together: sympy compares them pairwise when it builds them
    #: (64 arguments of (a+b)^k took ~4 s, one problem froze the server's interpreter)
    max_extrema_args: int = 16


LIMITS = Limits()


SHOW_CHARS = 80  # of the user's text quoted in one error message


def _show(text: str) -> str:
    """The text for an error message, cut so a long input is never echoed whole."""
    if len(text) <= SHOW_CHARS:
        return repr(text)
    return repr(text[:SHOW_CHARS - 3]) + f"... ({len(text)} characters)"


def _bits(q: Fraction) -> int:
    return max(abs(q.numerator).bit_length(), q.denominator.bit_length())


def _log2(q: Fraction) -> float:
    """log2 of the larger of |numerator| and denominator: the bits one factor of a power adds."""
    big = max(abs(q.numerator), q.denominator)
    return math.log2(big) if big > 1 else 0.0


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
