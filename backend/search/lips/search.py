"""LIPS best-first search (official `LIPS/prove.py`), on Canopy's step API and events.

One iteration = pop the best goal (``frontier.py``), then
1. ``close_goal`` (``closing.py``; it looks for a counterexample first): refuted -> the node is a
   ``counterexample`` (the root: ``refuted``, the run ends); proved -> the chain root -> goal is
   re-checked (``proof.py``) before the run says "proved"; else
2. expand it (``expand.py``: scaling lemmas, rewrites, symbolic tactics -> filtered candidates);
3. score the new goals and queue them. Which goal is popped next is the official order:
   the whole queue sorted by symbolic score, its top k (``top_k``, 10) sent to the LLM ranker
   (``ranking.py``) and the LLM's first pick popped; the symbolic first when no LLM ranks or its
   answer is unusable (``_select``).

This module wires those parts; it and its mixin ``admission.py`` (candidates -> filtered nodes)
are the only ones that emit events; every ``node_verified`` goes through ``_verified`` (its
fields come from ``verdict.py``). Code map: docs/LIPS.md.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import replace
from typing import Any, ClassVar

from backend import events as ev
from backend.search.base import Outcome, Search
from backend.search.lips import expand, verdict
from backend.search.lips.admission import Admission
from backend.search.lips.closing import CloseConfig, close_goal
from backend.search.lips.config import PRESETS, LipsConfig
from backend.search.lips.deadline import polling, token_cap
from backend.search.lips.expand import Candidate, Refused
from backend.search.lips.filtering import FilterConfig
from backend.search.lips.frontier import Frontier, GoalNode
from backend.search.lips.numeric import PointCache
from backend.search.lips.problem import Inequality, parse_problem
from backend.search.lips.proof import proof_text, recheck
from backend.search.lips.ranking import rank_goals
from backend.search.lips.score import symbolic_score
from backend.search.lips.symtactics import symbolic_steps

#: the least z3 budget a proof's re-check gets, however little time the run has left
RECHECK_MIN_Z3_S = 0.5


class LipsSearch(Admission, Search):
    name = "lips"
    description = (
        "LIPS: best-first inequality prover (scaling lemmas + LLM rewriting/ranking, symbolic checks)"
    )
    Config = LipsConfig
    presets: ClassVar[dict[str, dict[str, Any]]] = PRESETS
    default_preset = None
    rewards = ("vote",)  # unused: a goal is closed by a checker, never scored by a reward

    def __init__(self, problem: str, **kwargs: Any) -> None:
        super().__init__(problem, **kwargs)
        self.problem: Inequality = parse_problem(self.state.problem)
        c = self.config
        self.cache = PointCache()
        # candidates are filtered with a short z3 budget (most timeouts are not worth the wait:
        # points catch nearly every false goal); the proof path is re-checked with the full one
        self.filter_cfg = FilterConfig(implication_timeout_s=c.filter_z3_s, refute_timeout_s=c.filter_z3_s)
        self.recheck_cfg = FilterConfig(
            implication_timeout_s=c.z3_timeout_s, refute_timeout_s=min(2.0, c.z3_timeout_s)
        )
        self.close_cfg = CloseConfig(sos_timeout_s=c.sos_timeout_s)
        self.nodes: dict[int, GoalNode] = {}
        self.frontier = Frontier(self.problem)
        self.proof_chain: list[dict[str, Any]] = []  # the re-check of the proved chain
        self.proved_by = ""
        self.proof_certificate: dict[str, Any] | None = None  # the closer's (SOS: the squares)
        self.proved: int | None = None
        self.refuted: bool = False
        self.best: int | None = None
        self.popped: list[int] = []  # node ids in the order they were popped
        self.unjustified: set[int] = set()  # nodes whose step failed a chain's re-check
        self.stop_asked_s: float | None = None  # when a stop was requested (run seconds)
        #: why the constraints admit no point at all (then every goal follows from them, vacuously)
        self.infeasible: str | None = None

    # --- lifecycle ----------------------------------------------------------------------

    def _start(self) -> None:
        g = self.problem.goal
        rid = self.state.new_id()
        node = GoalNode(rid, g, None, 0, symbolic_score(g))
        self.nodes[rid] = node
        self.frontier.remember(g)
        cons = [str(c) for c in self.problem.constraints]
        meta = {"variables": list(self.problem.variables), "constraints": cons}
        self.emit(ev.NodeAdded, id=rid, parent=None, kind="goal", text=str(g), meta=meta)
        self.emit(ev.NodeScored, id=rid, score=float(node.score), source="symbolic")
        if self.problem.readings:  # say how ambiguous text was read, where the user will look
            message = "read the problem as: " + "; ".join(self.problem.readings)
            self.emit(ev.Note, level="info", node=rid, message=message)
        self.frontier.push(node)
        self.best = rid
        self.infeasible = self._contradiction()
        if self.infeasible:
            self.emit(ev.Note, level="error", node=rid, message=self.infeasible)

    def _contradiction(self) -> str | None:
        """Why no real point satisfies the constraints (z3 unsat), or None (sat, unknown, or
        none): from contradicting constraints every goal "follows", so none is proved."""
        from backend.search.lips.smt import constraint_facts, solve

        if not self.problem.constraints:
            return None
        res = solve(self.problem.variables, constraint_facts(self.problem),
                    timeout_s=min(2.0, self.config.z3_timeout_s))
        if res.status != "unsat":
            return None
        shown = "; ".join(str(c) for c in self.problem.constraints[:6])
        return (f"the constraints contradict each other (z3: no real point satisfies {shown}), so every "
                "goal would follow from them; nothing is proved. Check the constraints.")

    def _exhausted(self) -> str | None:
        if self.infeasible:
            return "infeasible"
        if self.proved is not None:
            return "proved"
        if self.refuted:
            return "refuted"
        if self.state.iteration >= self.config.max_iterations:
            return "iterations"
        if self.state.started and not self.frontier:
            return "queue"
        return None

    def outcome(self) -> Outcome:
        if self.proved is not None:
            return Outcome("proved", self.path(self.proved), answer_node=self.proved)
        if self.refuted:
            return Outcome("refuted", [0], answer_node=0)
        return Outcome(None, self.path(self.best) if self.best is not None else [])

    def request_stop(self) -> None:
        if self.stop_asked_s is None and self.state.started:
            self.stop_asked_s = self.state.elapsed()
        super().request_stop()

    def _user_stopped(self) -> bool:
        """A stop the user asked for before the time limit (one asked after it, while the
        run was ending at its limit, leaves the limit as the reason: one reason, not both)."""
        if not self.stopped:
            return False
        limit = self.config.time_limit_s
        return not limit or self.stop_asked_s is None or self.stop_asked_s < limit

    def finish(self, *, status: str | None = None, **kw: Any) -> ev.RunFinished:
        if self.infeasible and self.state.finished is None:
            status = "error"
            kw["error"] = kw.get("error") or self.infeasible
        if status is None and self.state.finished is None:
            stopped = self._user_stopped()
            status = "stopped" if stopped else ("proved" if self.proved is not None else "exhausted")
        return super().finish(status=status, **kw)

    def stats(self) -> dict[str, Any]:
        out = super().stats()
        if self._user_stopped():  # stopped by the user: no budget ended it, even if a stop took a while
            out["budget"] = None
        return out

    def path(self, nid: int) -> list[int]:
        out = []
        cur: int | None = nid
        while cur is not None:
            out.append(cur)
            cur = self.nodes[cur].parent
        return out[::-1]

    # --- one iteration: pop, close or expand, rank ---------------------------------------

    def _iterate(self) -> None:
        try:
            with polling(self.check_stop):  # the matcher, closers and tactics stop at the limit
                nid = self._select()
                self.popped.append(nid)
                self._pop(self.nodes[nid])
        finally:
            self.state.iteration += 1
        it, answer = self.state.iteration - 1, self.outcome().answer
        self.emit(ev.IterationDone, iteration=it, best_answer=answer, tokens=self.state.tokens)

    def _close_config(self, root: bool = True) -> CloseConfig:
        """The closers' budgets: below the root z3 gets ``pop_z3_s`` (the goal's filter already
        asked z3 about it); all cut to the time the run has left."""
        c = self.config
        left = max(0.1, c.time_limit_s - self.state.elapsed()) if c.time_limit_s else None
        return self.close_cfg.capped(None if root else c.pop_z3_s, left)

    def _pop(self, node: GoalNode) -> None:
        """Close the popped goal (or refute it); a closed goal counts only once its chain
        re-checks. An open goal above ``max_depth`` is expanded."""
        self.check_stop()
        t0 = time.perf_counter()
        res = close_goal(self.problem, node.goal, self.cache, self._close_config(node.parent is None))
        self.state.verify_s += time.perf_counter() - t0
        if res.status == "refuted":
            self._verified(node.id, verdict.refuted(res, root=node.parent is None))
            if node.parent is None:
                self.refuted = True
            return
        if res.status == "proved" and node.depth >= self.config.min_proof_depth:
            ok, why, checks = self.recheck(node.id, verdict.certificate(res))
            if ok:
                self.proved, self.proved_by, self.proof_chain = node.id, res.method, checks
                self.proof_certificate = verdict.certificate(res)
                self._verified(node.id, verdict.proved(res, checks))
                return
            message = f"closed by {res.method} but the chain did not re-check: {why}"
            self.emit(ev.Note, level="warning", node=node.id, message=message)
            self._verified(node.id, verdict.not_rechecked(checks))
            self._drop_below_failed_step(checks)
            return
        self._verified(node.id, verdict.still_open(res))
        if node.depth < self.config.max_depth and not self.unjustified.intersection(self.path(node.id)):
            self._expand(node)

    def _drop_below_failed_step(self, checks: list[dict[str, Any]]) -> None:
        """A step that did not re-check with the full budget would fail every later chain
        through it too (each re-check paid its z3 budget again: MO-INT P8 spent most pops
        below a Hölder step z3 cannot prove sound), so the goals queued below it are dropped."""
        failed = next((c["node"] for c in checks if not c["ok"] and not c.get("close")), None)
        if failed is None:
            return
        below = [i for i in self.frontier.ranked() if failed in self.path(i)]
        for i in below:
            self.frontier.pop(i)
        if below:
            message = f"dropped {len(below)} queued goals below node {failed}: its step did not re-check"
            self.emit(ev.Note, level="info", node=failed, message=message)
        self.unjustified.add(failed)

    def _expand(self, node: GoalNode) -> None:
        """Every tactic's candidates become filtered children; the open ones are ranked and queued."""
        self.check_stop()  # the close may have used the rest of the time: no expansion then
        c = self.config
        self.frontier.new_expansion()
        if node.parent is None and c.homogenise:
            # official: the search starts from the homogenised goal when z3 accepts the step
            first = self._admit(node, expand.homogenise_candidates(self.problem, node.goal))
            if first:
                self._queue(first)
                return
        new = self._admit(node, expand.scale_candidates(node.goal, c.max_candidates, self.check_stop))
        new += self._admit(node, self._rewrites(node))
        if c.symbolic_tactics:
            self.check_stop()
            t0 = time.perf_counter()
            results = symbolic_steps(self.problem, node.goal, self.cache)
            self.state.verify_s += time.perf_counter() - t0
            new += self._admit(node, expand.symbolic_candidates(results))
        if self.frontier.dropped["renamed"]:
            self.emit(ev.Note, level="info", node=node.id, message=self.frontier.dropped_message())
        self._queue(new)

    def _rewrites(self, node: GoalNode) -> Iterable[Candidate | Refused]:
        """Rewrite candidates: the LLM is asked unless the path already ends in
        ``rewrite_streak`` LLM rewrites (a Note says so); sympy's stand in when it gives none."""
        self.check_stop()
        c = self.config
        llm = self.engine is not None and c.llm_rewrite
        if llm and node.llm_streak >= c.rewrite_streak:
            llm = False
            message = f"LLM rewriting skipped: {node.llm_streak} LLM rewrites in a row"
            self.emit(ev.Note, level="info", node=node.id, message=message)
        ask = self._llm_texts if llm else None
        rewrites = expand.gather_rewrites(self.problem, node.goal, ask, c.rewrite_prompts)
        return expand.rewrite_candidates(rewrites, node.llm_streak)

    def _time_left(self) -> float | None:
        limit = self.config.time_limit_s
        return limit - self.state.elapsed() if limit and self.state.started else None

    def _llm_texts(self, prompts: list[str]) -> list[str] | None:
        """One batched LLM call; its answers are cut to the tokens that fit in the time left
        (``token_cap``); none is made (None, a Note) when too little time is left for one.
        Under a time limit the run's first call asks one prompt alone: it measures the
        engine's throughput, which caps the rest (an engine that cannot be cut mid-call would
        otherwise write 13 answers of ``max_tokens`` before the first check)."""
        if self.engine is None:
            return None
        self.check_stop()
        c, s = self.config, self.state
        left = self._time_left()
        if left is not None and len(prompts) > 1 and s.gen_s <= 0:
            first = self._llm_texts(prompts[:1])
            rest = self._llm_texts(prompts[1:]) if first is not None else None
            return None if first is None else first + (rest or [""] * (len(prompts) - 1))
        cap = token_cap(c.max_tokens, len(prompts), left, s.tokens, s.gen_s)
        if cap <= 0:
            message = f"LLM call skipped: {max(0.0, left or 0.0):.1f} s left, too little for an answer"
            self.emit(ev.Note, level="info", message=message)
            return None
        chat = [self.engine.chat_prompt([{"role": "user", "content": p}]) for p in prompts]
        seed = s.call_seed(s.iteration, len(self.nodes))
        out = self.generate(chat, n=1, seed=seed, max_tokens=cap, temperature=c.temperature, top_p=c.top_p)
        return [row[0].text if row else "" for row in out]  # "": not sent (too long) or no answer

    def _queue(self, new: list[GoalNode]) -> None:
        """Best goal so far; the new open goals join the global queue. A scaling step proved
        sound by an exact identity (``cauchy_cert``: Titu) queues its goal at no worse than its
        parent's score: the score counts the Titu form's long sums against it, though that step
        is what turns a sum of fractions into one fraction a closer can finish (MO-INT P1: its
        certified goal ranked 55th and was never popped in 120 s; a NodeScored says so)."""
        for n in new:
            parent = self.nodes[n.parent] if n.parent is not None else None
            if n.kind == "scale" and n.checked_by == "identity" and parent and parent.score < n.score:
                n.score = parent.score
                self.emit(ev.NodeScored, id=n.id, score=float(n.score), source="symbolic",
                          detail={"from_parent": parent.id, "why": "step proved sound by an exact identity"})
            if self.best is None or n.score < self.nodes[self.best].score:
                self.best = n.id
            self.frontier.push(n)

    def _select(self) -> int:
        """The next goal to pop (official ``Ranker.rank`` then ``get_next``): the top k of the
        whole queue by symbolic score go to the LLM ranker and its first pick is popped; with no
        LLM, one goal in the top k, or an unusable answer (a warning Note), the symbolic first.
        A stop during the ranking call leaves the queue as it was."""
        if self.engine is None or not self.config.llm_rank:
            return self.frontier.pop()
        top = self.frontier.ranked(self.config.top_k)
        if len(top) <= 1:
            return self.frontier.pop()
        goals = [self.nodes[i] for i in top]
        r = rank_goals(self.problem, [n.goal for n in goals], [n.score for n in goals], self._llm_texts)
        if r.source != "llm":
            message = f"{r.reason}; symbolic order kept"
            self.emit(ev.Note, level="warning", node=top[0], message=message)
            return self.frontier.pop()
        for pos, i in enumerate(r.order):
            self.emit(ev.NodeScored, id=top[i], score=float(pos + 1), source="llm_rank",
                      detail={"chosen": i in r.chosen, "popped": pos == 0, "symbolic_rank": i + 1,
                              "iteration": self.state.iteration})
        return self.frontier.pop(top[r.chosen[0]])

    # --- the proof ------------------------------------------------------------------------

    def recheck(self, nid: int, certificate: dict[str, Any] | None = None
                ) -> tuple[bool, str, list[dict[str, Any]]]:
        """Re-check every step on root -> nid with fresh test points, then the close. Not
        stopped by the time limit's polls (a proof found just before it is checked, not
        dropped), but its z3 budgets are cut to the time left (at least ``RECHECK_MIN_Z3_S``):
        a full-budget re-check near the limit ran MO-INT P3 to 123.7 s of 120."""
        z3_s = self.config.z3_timeout_s
        if self.config.time_limit_s:
            left = self.config.time_limit_s - self.state.elapsed()
            z3_s = min(z3_s, max(RECHECK_MIN_Z3_S, (left - 0.5) / 1.5))  # z3's hard limit: 1.5 t + 0.5
        rc = self.recheck_cfg
        filter_cfg = replace(rc, implication_timeout_s=min(rc.implication_timeout_s, z3_s),
                             refute_timeout_s=min(rc.refute_timeout_s, z3_s))
        with polling(lambda: None):
            return recheck(self.problem, self.nodes, self.path(nid), filter_cfg=filter_cfg,
                           close_cfg=self.close_cfg.capped(z3_s, max(RECHECK_MIN_Z3_S, z3_s)),
                           z3_timeout_s=z3_s, certificate=certificate)

    def tactic_script(self, name: str = "canopy_proof") -> str:
        """The proof as a NeqLIPS tactic script under its Lean statement (``export.py``; empty
        when not proved)."""
        if self.proved is None:
            return ""
        from backend.search.lips.export import tactic_script

        return tactic_script(self.problem, self.nodes, self.path(self.proved), self.proved_by, name)

    def proof_text(self) -> str:
        """The proof as a readable chain of justified steps (empty when not proved)."""
        if self.proved is None:
            return ""
        return proof_text(self.problem, self.nodes, self.path(self.proved), self.proof_chain, self.proved_by,
                          self.proof_certificate)


if __name__ == "__main__":  # the set runner lives in runset.py
    from backend.search.lips.runset import main

    main()
