"""Unknown-name errors with a suggestion, the same sentence for every registry.

Engines, algorithms, presets, config options and problem sets are all picked by name from a
command line or a form, so a typo gets one kind of answer everywhere:
``unknown engine 'llama'; did you mean 'llamacpp'? choices: llamacpp, openai, ...``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(name: str, choices: Iterable[str]) -> str | None:
    """The choice a mistyped ``name`` most likely meant, or None when nothing is close."""
    close = difflib.get_close_matches(name, list(choices), n=1)
    return close[0] if close else None


def unknown_name_error(
    kind: str, name: str, choices: Iterable[str], *, owner: str = "", sort: bool = True
) -> ValueError:
    """``unknown <kind> '<name>'[ for <owner>]; did you mean '<close>'? choices: a, b, ...``.

    ``sort=False`` keeps the choices in their given order (a config's fields read best in
    declaration order); no choices at all reads "choices: none".
    """
    names = sorted(choices) if sort else list(choices)
    close = closest(name, names)
    hint = f"; did you mean '{close}'?" if close else ";"
    where = f" for {owner}" if owner else ""
    return ValueError(f"unknown {kind} '{name}'{where}{hint} choices: {', '.join(names) or 'none'}")
