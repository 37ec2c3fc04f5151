"""Candidates become nodes: the part of `LipsSearch` that admits an expansion's children.

Each candidate (``expand.py``) is checked against the run-wide duplicates (``frontier.py``),
added as a node with its symbolic score, filtered (``filtering.py``: counterexample, soundness)
and given its verdict (``verdict.py``). `Admission` is a mixin of `LipsSearch` (``search.py``):
it uses the search's ``emit``, ``state``, ``nodes``, ``frontier``, ``problem``, ``cache`` and
``filter_cfg``. With ``search.py`` the only code that emits LIPS events.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from backend import events as ev
from backend.search.lips import verdict
from backend.search.lips.cauchy_cert import certifier
from backend.search.lips.deadline import poll
from backend.search.lips.expand import Candidate, Refused
from backend.search.lips.filtering import FilterResult, check_new_goal, check_step
from backend.search.lips.frontier import GoalNode
from backend.search.lips.problem import Goal
from backend.search.lips.score import symbolic_score


class Admission:
    """Node creation, filtering and every ``node_verified`` of a LIPS run."""

    def _verified(self, nid: int, v: verdict.Verdict) -> None:
        """The one place a node_verified is emitted."""
        self.emit(ev.NodeVerified, id=nid, status=v.status, method=v.method, output=v.output, ms=v.ms,
                  answer=v.answer, terminal=v.terminal, detail=v.detail)

    def _admit(self, parent: GoalNode, candidates: Iterable[Candidate | Refused]) -> list[GoalNode]:
        """Each candidate becomes a node (unless a duplicate), is filtered, and gets its verdict;
        the ones still open are returned for ranking. The time limit is polled before each
        symbolic candidate (a pop of 48 scaling candidates, each up to 1.25 s of z3, ran MO-INT
        P14 / chen-no P32 to 128 s of 120); not between an LLM's rewrites: a paid-for answer is
        kept."""
        kept = []
        for cand in candidates:
            if not isinstance(cand, Refused) and cand.meta.get("source") != "llm":
                poll()
            if isinstance(cand, Refused):
                self.emit(ev.Note, level="info", node=parent.id, message=cand.message)
                continue
            child = self._child(parent, cand.goal, cand.kind, cand.meta, cand.justification, cand.llm_streak)
            if child is None:
                continue
            fr = self._filter(parent, child, cand.check) if cand.check else None
            if fr is not None and fr.status == "counterexample":
                self._verified(child.id, verdict.counterexample(fr))
                continue
            v = cand.judge(fr)
            child.checked_by = v.checked_by
            self._verified(child.id, v)
            if not v.terminal:
                kept.append(child)
        return kept

    def _child(self, parent: GoalNode, goal: Goal, kind: str, meta: dict[str, Any],
               justification: dict[str, Any], llm_streak: int = 0) -> GoalNode | None:
        """A new node for ``goal`` under ``parent`` (node_added + its symbolic score), or None
        when the frontier has seen the goal already."""
        if not self.frontier.admit(goal):
            return None
        nid = self.state.new_id()
        node = GoalNode(nid, goal, parent.id, parent.depth + 1, symbolic_score(goal), kind, justification,
                        llm_streak, dict(meta))
        self.nodes[nid] = node
        self.emit(ev.NodeAdded, id=nid, parent=parent.id, kind="goal", text=str(goal), meta=meta)
        self.emit(ev.NodeScored, id=nid, score=float(node.score), source="symbolic")
        return node

    def _filter(self, parent: GoalNode, child: GoalNode, check: str) -> FilterResult:
        """``check_step`` (old -> new sound, new not false) or ``check_new_goal``, timed."""
        t0 = time.perf_counter()
        if check == "step":
            exact = certifier(self.problem, parent.goal, child.goal, child.kind, child.justification)
            fr = check_step(self.problem, parent.goal, child.goal, self.cache, self.filter_cfg, exact)
        else:
            fr = check_new_goal(self.problem, child.goal, self.cache, self.filter_cfg)
        self.state.verify_s += time.perf_counter() - t0
        return fr
