"""LLM rewriting tactics for LIPS (official `NeSyCore/rewriter.py`, `RewritingLib.json`).

One prompt per RewritingLib entry that is not symbolic-only (simplify, factor, cancel the
denominators, ...), with the official constraints: reason step by step, only + - * /, no new
variables, the answer in \\boxed{}. The boxed expression is parsed over the problem's own
variables and accepted only when ``check_rewrite`` shows it equals ``lhs - rhs`` (random points,
then powsimp/simplify, then z3 with the constraints for the `with_assumption` entries). When
the LLM gives nothing usable, the deterministic ``sym_rewrites`` stand in.

Nothing here calls an engine: ``rewrite_prompts`` builds the prompts, the search makes ONE
batched call, ``parse_rewrites`` judges the completions.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import sympy as sp

from backend.paths import assets_dir
from backend.search.lips.equivalence import EquivalenceResult, check_rewrite, sym_rewrites
from backend.search.lips.expr import to_plain
from backend.search.lips.problem import Goal, Inequality

REWRITING_LIB = assets_dir() / "problems" / "neqlips" / "RewritingLib.json"
PROMPT_FILE = assets_dir() / "prompts" / "lips" / "rewrite.txt"


@dataclass(frozen=True)
class RewriteEntry:
    name: str
    instruction: str
    tactic: str
    with_assumption: bool


@dataclass(frozen=True)
class Rewrite:
    """One judged rewrite: the new goal (None when unparsable) and why it was kept or not."""

    entry: str
    source: str  # "llm" or "sympy"
    new: Goal | None
    accepted: bool
    reason: str
    method: str
    ms: float = 0.0
    boxed: str | None = None


@lru_cache(maxsize=4)
def load_rewriting_lib(path: str | None = None) -> tuple[RewriteEntry, ...]:
    """The LLM entries of RewritingLib.json (symbolic-only ones and the schema row skipped)."""
    data = json.loads(Path(path or REWRITING_LIB).read_text(encoding="utf-8"))
    out = []
    for name, e in data.items():
        if name == "REWRITE_NAME" or e.get("sym_only") or not isinstance(e, dict):
            continue
        out.append(
            RewriteEntry(name, e["prompt"], e.get("tactic", ""), e.get("type") == "rewrite_with_assumption")
        )
    return tuple(out)


@lru_cache(maxsize=1)
def _template() -> str:
    return PROMPT_FILE.read_text(encoding="utf-8")


def rewrite_prompt(problem: Inequality, goal: Goal, entry: RewriteEntry) -> str:
    """The user message for one entry (the caller wraps it with the engine's chat template)."""
    assumption = ""
    if entry.with_assumption and problem.constraints:
        assumption = " under the assumptions " + ", ".join(str(c) for c in problem.constraints)
    return _template().format(
        instruction=entry.instruction,
        variables=", ".join(problem.variables),
        assumption=assumption,
        expression=to_plain(sp.sympify(goal.lhs - goal.rhs, strict=True)),
    )


def rewrite_prompts(
    problem: Inequality, goal: Goal, entries: tuple[RewriteEntry, ...] | None = None
) -> list[tuple[RewriteEntry, str]]:
    entries = load_rewriting_lib() if entries is None else entries
    return [(e, rewrite_prompt(problem, goal, e)) for e in entries]


def last_boxed(text: str) -> str | None:
    """Contents of the last \\boxed{...} (braces balanced), or None."""
    start = None
    for m in re.finditer(r"\\boxed\s*\{", text or ""):
        start = m.end()
    if start is None:
        return None
    depth, i = 1, start
    while i < len(text):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[start:i].strip()
        i += 1
    return None


def _latex_to_plain(s: str) -> str:
    """Enough LaTeX for what small models put in a box: \\frac, \\sqrt, \\cdot, \\left/\\right."""
    s = s.strip().strip("$").strip()
    s = re.sub(r"\\(left|right|displaystyle|,|;|!)", "", s)
    s = s.replace("\\cdot", "*").replace("\\times", "*").replace("\\div", "/").replace("−", "-")
    for _ in range(8):  # innermost-first
        s2 = re.sub(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}", r"((\1)/(\2))", s)
        s2 = re.sub(r"\\sqrt\s*\{([^{}]*)\}", r"sqrt(\1)", s2)
        s2 = re.sub(r"\^\s*\{([^{}]*)\}", r"^(\1)", s2)
        if s2 == s:
            break
        s = s2
    s = s.replace("{", "(").replace("}", ")")
    # implicit products between a digit or ')' and a name or '(' (2a, (a+b)(a-b))
    s = re.sub(r"(\d|\))\s*(?=[A-Za-z(])", r"\1*", s)
    return s


def _relation_to_difference(s: str) -> str:
    """ "E <= F" -> "(E) - (F)" (the goal form d <= 0); "E >= F" -> "(F) - (E)"; "X = E" -> "E"."""
    s = re.sub(r"\\(le|leq|leqslant)\b", "<=", s)
    s = re.sub(r"\\(ge|geq|geqslant)\b", ">=", s).replace("≤", "<=").replace("≥", ">=")
    for rel in ("<=", ">="):
        if rel in s:
            left, _, right = s.partition(rel)
            left, right = (left, right) if rel == "<=" else (right, left)
            return left if right.strip() in ("0", "") else f"({left}) - ({right})"
    if "=" in s:  # "expression = E": the rewritten form is the last part
        return s.rsplit("=", 1)[1]
    return s


def parse_boxed(problem: Inequality, text: str) -> tuple[sp.Expr | None, str]:
    """The rewritten expression from a completion, or (None, why not)."""
    boxed = last_boxed(text)
    if boxed is None:
        return None, "no \\boxed{} answer"
    for cand in (boxed, _latex_to_plain(boxed)):
        body = _relation_to_difference(cand)
        try:
            return problem.parse(body, where="rewrite"), ""
        except Exception as exc:
            why = str(exc)
    return None, f"cannot parse {boxed!r}: {why}"


def judge_rewrite(problem: Inequality, goal: Goal, entry: RewriteEntry, text: str) -> Rewrite:
    expr, why = parse_boxed(problem, text)
    if expr is None:
        return Rewrite(entry.name, "llm", None, False, why, "parse", boxed=last_boxed(text))
    new = Goal.from_difference(expr)
    if new.key() == goal.key():
        return Rewrite(
            entry.name, "llm", new, False, "unchanged expression", "identity", boxed=last_boxed(text)
        )
    res: EquivalenceResult = check_rewrite(problem, goal, new, use_constraints=entry.with_assumption)
    return Rewrite(entry.name, "llm", new, res.accepted, res.reason, res.method, res.ms, last_boxed(text))


def parse_rewrites(
    problem: Inequality, goal: Goal, entries: list[RewriteEntry], texts: list[str]
) -> list[Rewrite]:
    return [judge_rewrite(problem, goal, e, t) for e, t in zip(entries, texts, strict=True)]


def fallback_rewrites(problem: Inequality, goal: Goal) -> list[Rewrite]:
    """The deterministic sympy rewrites (official `sym_*` fallbacks)."""
    out = []
    for c in sym_rewrites(problem, goal):
        note = c.note or ("equal form" if c.relation == "equal" else "positive multiple")
        out.append(Rewrite(c.name, "sympy", c.new, True, note, f"sympy:{c.relation}"))
    return out
