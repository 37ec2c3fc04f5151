"""Read the Lean 4 benchmark theorems of NeqLIPS (INT_MO.lean, Evan_chen.lean, 567_P*.lean).

Each theorem looks like
`theorem P1 {a b c : ℝ} (ha : a > 0) (h : a + b + c = 1) : LHS ≤ RHS := by` followed by an
indented reference proof script (`scale ...`, `llm_simplify A = B`, ...). We keep the script
lines verbatim: `backend.search.lips.replay` re-runs the `scale` steps with Canopy's lemma engine.
Parsing never raises for one bad theorem; the error is stored on that theorem and says which
binder or the conclusion failed and why.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from backend.search.lips.expr import make_symbols
from backend.search.lips.problem import (
    Inequality,
    parse_constraint,
    parse_goal,
)
from backend.search.lips.reading import ProblemParseError

log = logging.getLogger(__name__)

_THEOREM = re.compile(r"^theorem\s+(\S+)", re.MULTILINE)


@dataclass(frozen=True)
class LeanTheorem:
    """One theorem: its Lean text, the parsed problem (or the parse error), and its proof lines."""

    name: str
    file: str
    statement: str
    proof: tuple[str, ...]
    problem: Inequality | None
    error: str | None


def _balanced_groups(text: str) -> tuple[list[str], str]:
    """Leading `{...}`/`(...)` binder groups and the rest of the header after them."""
    groups, i = [], 0
    pairs = {"(": ")", "{": "}", "[": "]"}
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text) or text[i] not in pairs:
            return groups, text[i:]
        open_ch, close_ch, depth, j = text[i], pairs[text[i]], 0, i
        while j < len(text):
            depth += text[j] == open_ch
            depth -= text[j] == close_ch
            if depth == 0:
                break
            j += 1
        if depth != 0:
            raise ProblemParseError(f"unbalanced binder starting at {text[i:i + 40]!r}")
        groups.append(text[i:j + 1])
        i = j + 1


def _strip_parens(text: str) -> str:
    """'(x ≤ y)' -> 'x ≤ y' when the outer parentheses enclose everything."""
    t = text.strip()
    while t.startswith("(") and t.endswith(")"):
        depth = 0
        for k, ch in enumerate(t):
            depth += ch == "("
            depth -= ch == ")"
            if depth == 0 and k < len(t) - 1:
                return t
        t = t[1:-1].strip()
    return t


def parse_statement(name: str, header: str, *, source: str = "", proof: tuple[str, ...] = ()) -> Inequality:
    """`{a b : ℝ} (ha : a > 0) ... : CONCL` -> Inequality, or ProblemParseError naming the part."""
    groups, rest = _balanced_groups(header)
    if not rest.startswith(":"):
        raise ProblemParseError(f"{name}: expected ': conclusion' after the binders, got {rest[:40]!r}")
    names: list[str] = []
    hyps: list[tuple[str, str]] = []
    for g in groups:
        inner = g[1:-1]
        label, _, body = inner.partition(":")
        if g[0] == "{" or body.strip() == "ℝ":
            if body.strip() != "ℝ":
                raise ProblemParseError(f"{name}: binder {g!r} is not over ℝ")
            names += label.split()
        else:
            hyps.append((label.strip(), body.strip()))
    symbols = make_symbols(names)
    constraints = []
    for label, body in hyps:
        constraints += parse_constraint(body, symbols, where=f"{name} hypothesis ({label} : {body})")
    goal = parse_goal(_strip_parens(rest[1:]), symbols, where=f"{name} conclusion")
    return Inequality(tuple(names), tuple(constraints), goal, id=name, source=source,
                      statement=f"theorem {name} {header}".strip(), reference_proof=proof)


def _proof_lines(body: str) -> tuple[str, ...]:
    lines = []
    for raw in body.splitlines():
        line = raw.strip()
        if not line or line.startswith("--"):
            continue
        lines.append(line)
    return tuple(lines)


def parse_lean_text(text: str, file: str = "") -> list[LeanTheorem]:
    """All theorems in a Lean file's text, each parsed independently."""
    starts = [m.start() for m in _THEOREM.finditer(text)] + [len(text)]
    out = []
    for s, e in pairwise(starts):
        chunk = text[s:e]
        name = _THEOREM.match(chunk).group(1)  # type: ignore[union-attr]
        head, sep, body = chunk.partition(":= by")
        header = " ".join(head[len("theorem"):].split()[1:]) if sep else ""
        proof = _proof_lines(body) if sep else ()
        statement = " ".join(head.split())
        try:
            if not sep:
                raise ProblemParseError(f"{name}: no ':= by' after the statement")
            problem = parse_statement(name, header, source=file, proof=proof)
            out.append(LeanTheorem(name, file, statement, proof, problem, None))
        except ProblemParseError as exc:
            log.info("lean parse failed for %s: %s", name, exc)
            out.append(LeanTheorem(name, file, statement, proof, None, str(exc)))
    return out


def parse_lean_file(path: str | Path) -> list[LeanTheorem]:
    p = Path(path)
    return parse_lean_text(p.read_text(encoding="utf-8"), file=p.name)
