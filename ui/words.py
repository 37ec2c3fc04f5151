"""Counts in words, singular for one: "1 iteration", "3 iterations" (the walk of 2026-12-03 read
"1 iterations" in the status line; "node(s)" and "run(s)" read as a form, not a sentence)."""

from __future__ import annotations

#: plurals that are not the word and an "s"
_PLURAL = {"leaf": "leaves", "child": "children"}


def plural(n: float, word: str) -> str:
    """``word`` as it goes after the count ``n`` ("node" for 1, "nodes" for 0 or 2)."""
    return word if n == 1 else _PLURAL.get(word, word + "s")


def count(n: float, word: str) -> str:
    """``n`` and ``word`` ("1 node", "2 nodes"); a float count is shown rounded (tokens)."""
    shown = n if isinstance(n, int) else round(n)
    return f"{shown} {plural(shown, word)}"
