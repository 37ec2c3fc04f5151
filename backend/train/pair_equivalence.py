"""Whether a PPM pair's two steps are two ways of writing the same computation.

The official pair filter keeps a chosen / rejected pair when the texts are at least 20 edits
apart (``ppm_pairs.keep``); renamed variables count as edits, so two steps that compute the same
thing can make a pair whose "winner" was decided by later rollouts, not by the step
(docs/PPM.md, "Are the pairs worth learning?"). Here each side's code runs after its prefix in
the sandbox (the caller's ``run``, e.g. ``backend.verify.sandbox.run_code``) and the pair is
*equivalent* when both sides leave the same new values (names ignored, numbers to 9 significant
digits) and print the same output. Nothing is evaluated in this process."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

MARK = "__canopy_values__"
#: defines ``__canopy_values()``: the program's own names and their values as text (numbers to
#: 9 significant digits), skipping modules, functions and names that start with "_"
PROBE = """
def __canopy_values():
    out = {}
    for name, value in list(globals().items()):
        if name.startswith("_") or callable(value) or type(value).__name__ == "module":
            continue
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[name] = format(value, ".9g")
        else:
            out[name] = repr(value)[:200]
    return out
"""


def code_of(text: str) -> str:
    """The Python in a prefix or a step (the problem text and the step markers dropped)."""
    body = text.split("<code>", 1)[1] if "<code>" in text else text
    for marker in ("<end_of_step>", "<end_of_code>"):
        body = body.replace(marker, "")
    return body


def program(prefix: str, step: str) -> str:
    """The prefix, then the step, printing what the step printed and the values it made or changed."""
    return "\n".join([
        PROBE, code_of(prefix) if "<code>" in prefix else "", "__before = __canopy_values()",
        f"print({MARK + 'start'!r})", code_of(step),
        "import json as __json",
        "__after = __canopy_values()",
        f"print({MARK!r} + __json.dumps(sorted(v for k, v in __after.items() if __before.get(k) != v)))",
    ])


def effect(prefix: str, step: str, run) -> tuple[str, str] | None:
    """(printed output, new values) of ``step`` after ``prefix``; None when it fails."""
    res = run(program(prefix, step))
    start = MARK + "start\n"
    if not res.ok or start not in res.stdout:
        return None
    printed, _, values = res.stdout.split(start, 1)[1].rpartition(MARK)
    return printed.strip(), values.strip()


def equivalent(prefix: str, chosen: str, rejected: str, run) -> bool:
    """Both steps run and leave the same values and output."""
    one = effect(prefix, chosen, run)
    return one is not None and one == effect(prefix, rejected, run)


def drop_equivalent(pairs: Sequence[tuple[str, Any]], run: Callable) -> tuple[list[tuple[str, Any]], int]:
    """``(problem id, pair)`` items without the equivalent pairs, and how many were dropped
    (a pair with a side that does not run on its own is kept: nothing shows it is noise)."""
    kept = [(pid, p) for pid, p in pairs if not equivalent(p.prefix, p.chosen, p.rejected, run)]
    return kept, len(pairs) - len(kept)
