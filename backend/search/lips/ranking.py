"""LLM ranking of candidate goals (official `NeSyCore/ranker.py`).

The symbolic score first keeps the top k (10, ties kept); the LLM is then asked to "rank the
given transformation results in descending order ... \\boxed{(1),(2),(3)}". ``parse_ranking``
reads the answer robustly (``(1),(2)``, ``1, 2``, ``[2] > [1]``...); an unusable answer means
the symbolic order is kept and the caller logs a Note.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from backend.paths import assets_dir
from backend.search.lips.problem import Goal, Inequality
from backend.search.lips.rewriting import last_boxed

PROMPT_FILE = assets_dir() / "prompts" / "lips" / "rank.txt"


@dataclass(frozen=True)
class Ranking:
    order: list[int]  # 0-based indices into the candidates, best first (a permutation)
    chosen: list[int]  # the ones the LLM named, in its order (0-based)
    source: str  # "llm" or "symbolic"
    reason: str = ""


@lru_cache(maxsize=1)
def _template() -> str:
    return PROMPT_FILE.read_text(encoding="utf-8")


def rank_prompt(problem: Inequality, goal: Goal, candidates: Sequence[Goal]) -> str:
    lines = "\n".join(f"({i}) {g}" for i, g in enumerate(candidates, 1))
    cons = ", ".join(str(c) for c in problem.constraints) or "no constraints"
    return _template().format(goal=str(goal), constraints=cons, candidates=lines)


def parse_ranking(text: str, n: int) -> list[int] | None:
    """0-based indices the answer names (deduplicated, in order), or None when unusable."""
    boxed = last_boxed(text or "")
    body = boxed if boxed is not None else None
    if body is None:  # no box: take a trailing "ranking: (2), (1)" style line if any
        m = re.findall(r"(?:\(\s*\d+\s*\)\s*(?:,|>|;|\s)\s*){1,}\(\s*\d+\s*\)", text or "")
        if not m:
            return None
        body = m[-1]
    nums = [int(x) for x in re.findall(r"\d+", body)]
    out: list[int] = []
    for k in nums:
        if 1 <= k <= n and k - 1 not in out:
            out.append(k - 1)
    return out or None


def rank(scores: Sequence[int], text: str | None) -> Ranking:
    """Merge the LLM's picks (first) with the symbolic order (the rest)."""
    n = len(scores)
    symbolic = sorted(range(n), key=lambda i: scores[i])
    if text is None:
        return Ranking(symbolic, [], "symbolic", "no LLM ranking")
    picked = parse_ranking(text, n)
    if not picked:
        return Ranking(symbolic, [], "symbolic", "LLM ranking unusable (no valid \\boxed{(i),...} list)")
    return Ranking(picked + [i for i in symbolic if i not in picked], picked, "llm")


def rank_goals(problem: Inequality, goals: Sequence[Goal], scores: Sequence[int],
               ask: Callable[[list[str]], list[str] | None]) -> Ranking:
    """One LLM call ranks the goals (`ask` answers a batch of prompts, None without an LLM)."""
    texts = ask([rank_prompt(problem, problem.goal, goals)])
    return rank(scores, texts[0] if texts else None)
