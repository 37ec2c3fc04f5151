"""The goal queue of a LIPS run: which goal is popped next, and which new goals may enter it.

One global queue, as in the official ``Ranker``: before every pop the whole queue is sorted by
``(symbolic score, insertion order)`` (``score.symbolic_score``, lower first; the official
``rank_by_complexity`` re-sorts all queued goals each time); ``ranked(k)`` is its top k with
ties (the goals the LLM ranker sees) and ``pop(nid)`` takes the LLM's first pick, or the
symbolic first when no LLM ranks (``pop()``). Nothing is pinned: an LLM pick that is not
popped competes again by score at the next pop (official ``rank_by_llm`` reorders the list,
``get_next`` pops its head, and the next ``rank_by_complexity`` sorts it afresh).

A new goal enters only once per run: dropped when it equals a goal seen before (as sympy's
canonical ``lhs - rhs``, ``Goal.key``; not expanded, so a factored rewrite is a new goal) or
equals one renamed by a variable permutation that fixes the constraints (``symmetry.py``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import sympy as sp

from backend.search.lips.problem import Goal, Inequality
from backend.search.lips.symmetry import renamed_keys


@dataclass
class GoalNode:
    id: int
    goal: Goal
    parent: int | None
    depth: int
    score: int
    kind: str = "root"  # "root", "homogenise", "scale", "rewrite" or "symbolic"
    justification: dict[str, Any] = field(default_factory=dict)  # how to re-check the edge
    llm_streak: int = 0  # LLM rewrites in a row ending at this node
    meta: dict[str, Any] = field(default_factory=dict)  # tactic, lemma, instantiation (as emitted)
    checked_by: str = ""  # how the step into this node was justified when it was made


class Frontier:
    """The best-first queue and the run-wide set of goals already seen."""

    def __init__(self, problem: Inequality) -> None:
        self.problem = problem
        self.queue: dict[int, tuple[int, int]] = {}  # node id -> (score, seq)
        self.seen: set[sp.Expr] = set()
        self.dropped = {"same": 0, "renamed": 0}  # duplicate candidates dropped in this expansion
        self.counter = itertools.count()

    def __len__(self) -> int:
        return len(self.queue)

    def push(self, node: GoalNode) -> None:
        self.queue[node.id] = (node.score, next(self.counter))

    def ranked(self, k: int | None = None) -> list[int]:
        """Queued ids in symbolic order (score, then insertion); with ``k``, the top k and every
        goal tied with the k-th (official ``num_candidates``)."""
        order = sorted(self.queue, key=self.queue.__getitem__)
        if k is None or len(order) <= k:
            return order
        cutoff = self.queue[order[k - 1]][0]
        return [i for i in order if self.queue[i][0] <= cutoff]

    def pop(self, nid: int | None = None) -> int:
        """Take ``nid`` (the LLM's pick) or else the symbolic first (IndexError when empty)."""
        if nid is None:
            if not self.queue:
                raise IndexError("pop from an empty frontier")
            nid = min(self.queue, key=self.queue.__getitem__)
        del self.queue[nid]
        return nid

    def remember(self, goal: Goal) -> None:
        """Mark a goal as seen without the duplicate checks (the root)."""
        self.seen.add(goal.key())

    def new_expansion(self) -> None:
        """Start counting the duplicates one expansion drops (the search notes them)."""
        self.dropped = {"same": 0, "renamed": 0}

    def dropped_message(self) -> str:
        """This expansion's duplicates, for the Note the search adds when renamed copies were
        among them (they show the constraints are symmetric)."""
        same, renamed = self.dropped["same"], self.dropped["renamed"]
        return (
            f"dropped {same + renamed} duplicate goals, {renamed} of them the same goal up to "
            "renaming variables (the constraints are symmetric)"
        )

    def admit(self, goal: Goal) -> bool:
        """True (and the goal is now seen) unless it repeats a seen goal, renamed or not."""
        key = goal.key()
        if key in self.seen:
            self.dropped["same"] += 1
            return False
        if any(k in self.seen for k in renamed_keys(self.problem, goal)):
            self.dropped["renamed"] += 1
            return False
        self.seen.add(key)
        return True
