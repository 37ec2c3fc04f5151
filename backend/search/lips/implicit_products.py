"""Implicit products of variables in problem text: `ab` -> a*b when a and b are variables.

A name that is declared, or stated about as itself in a constraint (`xy > 0`), stays a variable;
after `/` or `^` a product is parenthesised (`1/ab` = 1/(a*b)).
"""

from __future__ import annotations

import re

from backend.search.lips.reading import (
    _REL_SPLIT,
    _WORD,
    _after_dot,
    _is_variable_name,
    _names_in,
    _relation_groups,
    _split_top_commas,
)


def _bare_names(constraint: str) -> set[str]:
    """Names a constraint states something about as themselves: `xy` in 'xy > 0', `a`, `b` in 'a, b > 0'.

    An equation states a value, not a name: in 'abc = 1' (the classic condition) `abc` is a*b*c
    wherever a, b and c are variables."""
    out = set()
    for group in _relation_groups(constraint):  # "a, b, c > 0, abc = 1": two statements
        pieces = _REL_SPLIT.split(group)
        if all(rel in ("=", "==") for rel in pieces[1::2]):
            continue
        for operand in pieces[0::2]:
            out |= {n for n in _split_top_commas(operand) if _is_variable_name(n)}
    return out


def _implicit_products(declared: set[str], bodies: list[str]) -> dict[str, str]:
    """Multi-letter names that are not variables but whose letters all are: `ab` -> 'a*b'.

    The known single letters are the declared ones and every single letter the text uses; a
    name that is declared (or stated about as itself in a constraint) stays a variable.
    """
    used = [n for body in bodies for n in _names_in(body)]
    letters = {n for n in (*declared, *used) if len(n) == 1}
    products = {}
    for name in dict.fromkeys(used):
        if len(name) > 1 and name not in declared and name.isalpha() and set(name) <= letters:
            products[name] = "*".join(name)
    return products


def _apply_products(body: str, products: dict[str, str]) -> str:
    """Replace each product name by its factors; after '/' or '^' in parentheses (1/ab = 1/(a*b))."""
    if not products:
        return body

    def sub(m: re.Match[str]) -> str:
        name = m.group(0)
        if name not in products or _after_dot(body, m.start()):
            return name
        j = m.start() - 1
        while j >= 0 and body[j] in " \t":
            j -= 1
        return f"({products[name]})" if j >= 0 and body[j] in "/^" else products[name]

    return _WORD.sub(sub, body)
