"""LIPS best-first search (official `LIPS/prove.py`), on Canopy's step API and events.

One global priority queue of goals, ordered by the official symbolic score (lower = simpler).
One iteration = pop the best goal, then

1. try to close it with ``close_goal`` (which also looks for a counterexample first: the
   official "drop the goal if a solver finds a counterexample" on pop). Refuted: the node is
   marked ``counterexample`` (``refuted`` for the root, which ends the run) and dropped.
   Proved: the whole chain root -> goal is re-checked (every step's justification again, then
   the close) before the run says "proved"; a chain that does not re-check is never reported.
2. apply every scaling lemma (``scale_goal``); each candidate becomes a child node (kind
   "goal", meta {tactic, lemma, instantiation}) and goes through ``check_step``: a candidate
   with a counterexample stays visible with status ``counterexample`` and is not queued.
3. rewriting: one batched LLM call with a prompt per RewritingLib entry (accepted only when
   ``check_rewrite`` says equivalent), skipped after 5 LLM rewrites in a row on the path;
   without an engine (or when the LLM gives nothing usable) the sympy rewrites stand in.
4. the new goals are scored (node_scored "symbolic"); the top k go to the LLM ranker
   (node_scored "llm_rank"); the goals the LLM names move to the front of the queue.

Duplicates (same canonical ``lhs - rhs``) are dropped globally. Budgets: iterations (200),
depth, wall time, candidates per expansion.
"""

from __future__ import annotations

import heapq
import itertools
import time
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import sympy as sp

from backend import events as ev
from backend.search.base import Outcome, Search
from backend.search.config import check_config, knob
from backend.search.lips.closing import CloseConfig, close_goal
from backend.search.lips.equivalence import check_rewrite
from backend.search.lips.expr import to_plain
from backend.search.lips.filtering import FilterConfig, FilterResult, check_new_goal, check_step
from backend.search.lips.numeric import PointCache
from backend.search.lips.problem import Goal, Inequality, parse_problem
from backend.search.lips.ranking import rank, rank_prompt
from backend.search.lips.rewriting import (
    Rewrite,
    fallback_rewrites,
    parse_rewrites,
    rewrite_prompts,
)
from backend.search.lips.scaling import scale_goal
from backend.search.lips.score import symbolic_score, top_k
from backend.search.lips.symmetry import renamed_keys
from backend.search.lips.symtactics import rederive, symbolic_steps


@dataclass(frozen=True)
class LipsConfig:
    max_iterations: int = knob(200, "goals popped from the queue (official: 200)", min=1, max=10000)
    max_depth: int = knob(12, "most tactics on one path", min=1, max=100)
    time_limit_s: float = knob(300.0, "wall-clock limit of the run (0 = none)", min=0.0, max=86400.0)
    max_candidates: int = knob(
        48, "scaling candidates checked per expansion (best symbolic first)", min=1, max=2000
    )
    top_k: int = knob(10, "goals sent to the LLM ranker (ties kept)", min=1, max=100)
    llm_rewrite: bool = knob(True, "ask the LLM for rewrites (needs an engine)")
    llm_rank: bool = knob(True, "ask the LLM to rank the top-k goals (needs an engine)")
    rewrite_prompts: int = knob(
        14, "LLM rewrite prompts per expansion (RewritingLib entries in order)", min=1, max=14
    )
    rewrite_streak: int = knob(5, "skip LLM rewriting after this many LLM rewrites in a row", min=1, max=100)
    temperature: float = knob(0.1, "LLM sampling temperature (official 0.1)", min=0.0, max=2.0)
    top_p: float = knob(0.95, "LLM nucleus sampling mass (official 0.95)", min=0.01, max=1.0)
    max_tokens: int = knob(512, "most tokens of one LLM answer", min=16, max=8192)
    z3_timeout_s: float = knob(3.0, "z3 budget per check", min=0.1, max=120.0)
    symbolic_tactics: bool = knob(True, "tangent line, equal value and pqr on every expansion")
    sos_timeout_s: float = knob(10.0, "SOS closer budget per goal (needs cvxpy; 0 = off)", min=0.0, max=600.0)
    min_proof_depth: int = knob(
        0, "do not close goals shallower than this (demo: forces tactics)", min=0, max=100
    )

    def __post_init__(self) -> None:
        check_config(self)


@dataclass
class GoalNode:
    id: int
    goal: Goal
    parent: int | None
    depth: int
    score: int
    kind: str = "root"  # "root", "scale", "rewrite" or "symbolic"
    justification: dict[str, Any] = field(default_factory=dict)  # how to re-check the edge
    llm_streak: int = 0  # LLM rewrites in a row ending at this node
    meta: dict[str, Any] = field(default_factory=dict)  # tactic, lemma, instantiation (as emitted)
    checked_by: str = ""  # how the step into this node was justified when it was made


def _instantiation(binding: dict) -> dict[str, str]:
    return {k: to_plain(sp.sympify(v)) for k, v in binding.items()}


def _point(p: Any) -> dict[str, float] | None:
    return None if p is None else {k: float(v) for k, v in dict(p).items()}


class LipsSearch(Search):
    name = "lips"
    description = (
        "LIPS: best-first inequality prover (scaling lemmas + LLM rewriting/ranking, symbolic checks)"
    )
    Config = LipsConfig
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "symbolic": {"llm_rewrite": False, "llm_rank": False},
        "quick": {"max_iterations": 30, "time_limit_s": 60.0, "max_candidates": 24},
        "paper": {},
    }
    default_preset = None
    rewards = ("vote",)  # unused: a goal is closed by a checker, never scored by a reward

    def __init__(self, problem: str, **kwargs: Any) -> None:
        super().__init__(problem, **kwargs)
        self.problem: Inequality = parse_problem(self.state.problem)
        c = self.config
        self.cache = PointCache()
        self.filter_cfg = FilterConfig(
            implication_timeout_s=c.z3_timeout_s, refute_timeout_s=min(2.0, c.z3_timeout_s)
        )
        self.close_cfg = CloseConfig(sos_timeout_s=c.sos_timeout_s)
        self.nodes: dict[int, GoalNode] = {}
        self.queue: list[tuple[int, int, int, int]] = []  # (tier, score, seq, node id)
        self.seen: set[sp.Expr] = set()
        self.dropped = {"same": 0, "renamed": 0}  # duplicate candidates dropped in this expansion
        self.proof_chain: list[dict[str, Any]] = []  # the re-check of the proved chain
        self.proved_by = ""
        self.counter = itertools.count()
        self.proved: int | None = None
        self.refuted: bool = False
        self.best: int | None = None

    # --- lifecycle ----------------------------------------------------------------------

    def _start(self) -> None:
        g = self.problem.goal
        rid = self.state.new_id()
        node = GoalNode(rid, g, None, 0, symbolic_score(g))
        self.nodes[rid] = node
        self.seen.add(self._key(g))
        self.emit(
            ev.NodeAdded,
            id=rid,
            parent=None,
            kind="goal",
            text=str(g),
            meta={
                "variables": list(self.problem.variables),
                "constraints": [str(c) for c in self.problem.constraints],
            },
        )
        self.emit(ev.NodeScored, id=rid, score=float(node.score), source="symbolic")
        self._push(node, tier=1)
        self.best = rid

    def _exhausted(self) -> str | None:
        if self.proved is not None:
            return "proved"
        if self.refuted:
            return "refuted"
        if self.state.iteration >= self.config.max_iterations:
            return "iterations"
        if self.state.started and not self.queue:
            return "queue"
        return None

    def outcome(self) -> Outcome:
        if self.proved is not None:
            return Outcome("proved", self.path(self.proved), answer_node=self.proved)
        if self.refuted:
            return Outcome("refuted", [0], answer_node=0)
        return Outcome(None, self.path(self.best) if self.best is not None else [])

    def finish(self, *, status: str | None = None, **kw: Any) -> ev.RunFinished:
        if status is None and self.state.finished is None:
            status = "stopped" if self.stopped else ("proved" if self.proved is not None else "exhausted")
        return super().finish(status=status, **kw)

    # --- helpers --------------------------------------------------------------------------

    @staticmethod
    def _key(g: Goal) -> sp.Expr:
        """Dedupe key: sympy's canonical ``lhs - rhs`` (``Goal.key``); no expansion, so a rewrite
        into another form (factored, expanded) is a new goal while a repeat is not."""
        return g.key()

    def _push(self, node: GoalNode, tier: int) -> None:
        heapq.heappush(self.queue, (tier, node.score, next(self.counter), node.id))

    def path(self, nid: int) -> list[int]:
        out = []
        cur: int | None = nid
        while cur is not None:
            out.append(cur)
            cur = self.nodes[cur].parent
        return out[::-1]

    def _ms(self, t0: float) -> float:
        return round((time.perf_counter() - t0) * 1000, 3)

    # --- one iteration -------------------------------------------------------------------

    def _iterate(self) -> None:
        try:
            _, _, _, nid = heapq.heappop(self.queue)
            self._expand(self.nodes[nid])
        finally:
            self.state.iteration += 1
        self.emit(
            ev.IterationDone,
            iteration=self.state.iteration - 1,
            best_answer=self.outcome().answer,
            tokens=self.state.tokens,
        )

    def _close_config(self) -> CloseConfig:
        """The closers' budgets, cut to the time the run has left (so a pop near the limit
        does not run a full 5 s z3 + 10 s SOS past it)."""
        limit = self.config.time_limit_s
        if not limit:
            return self.close_cfg
        left = max(0.1, limit - self.state.elapsed())
        c = self.close_cfg
        return replace(c, z3_timeout_s=min(c.z3_timeout_s, left),
                       sos_timeout_s=min(c.sos_timeout_s, left) if c.sos_timeout_s > 0 else 0.0)

    def _expand(self, node: GoalNode) -> None:
        self.check_stop()
        t0 = time.perf_counter()
        res = close_goal(self.problem, node.goal, self.cache, self._close_config())
        self.state.verify_s += time.perf_counter() - t0
        attempts = [{"method": a.method, "status": a.status, "ms": round(a.ms, 3)} for a in res.attempts]
        if res.status == "refuted":
            root = node.parent is None
            self.emit(
                ev.NodeVerified,
                id=node.id,
                status="refuted" if root else "counterexample",
                method=res.method,
                ms=round(res.ms, 3),
                terminal=True,
                detail={"counterexample": _point(res.counterexample), "attempts": attempts},
            )
            if root:
                self.refuted = True
            return
        if res.status == "proved" and node.depth >= self.config.min_proof_depth:
            ok, why, checks = self.recheck(node.id)
            if ok:
                self.proved, self.proved_by, self.proof_chain = node.id, res.method, checks
                self.emit(
                    ev.NodeVerified,
                    id=node.id,
                    status="proved",
                    method=res.method,
                    ms=round(res.ms, 3),
                    terminal=True,
                    answer="proved",
                    detail={"attempts": attempts, "chain": checks},
                )
                return
            self.emit(
                ev.Note,
                level="warning",
                node=node.id,
                message=f"closed by {res.method} but the chain did not re-check: {why}",
            )
            self.emit(
                ev.NodeVerified, id=node.id, status="unknown", method="recheck", detail={"chain": checks}
            )
            return
        self.emit(
            ev.NodeVerified,
            id=node.id,
            status="unknown",
            method="close_goal",
            ms=round(res.ms, 3),
            detail={"attempts": attempts},
        )
        if node.depth >= self.config.max_depth:
            return
        self.check_stop()  # the close may have used the rest of the time: no expansion then
        new: list[GoalNode] = []
        self.dropped = {"same": 0, "renamed": 0}
        new += self._scale(node)
        new += self._rewrite(node)
        if self.config.symbolic_tactics:
            new += self._symbolic(node)
        if self.dropped["renamed"]:
            self.emit(
                ev.Note,
                level="info",
                node=node.id,
                message=(
                    f"dropped {self.dropped['same'] + self.dropped['renamed']} duplicate goals, "
                    f"{self.dropped['renamed']} of them the same goal up to renaming variables "
                    "(the constraints are symmetric)"
                ),
            )
        self._rank(node, new)

    # --- tactics ---------------------------------------------------------------------------

    def _child(
        self,
        parent: GoalNode,
        goal: Goal,
        kind: str,
        meta: dict[str, Any],
        justification: dict[str, Any],
        llm_streak: int = 0,
    ) -> GoalNode | None:
        key = self._key(goal)
        if key in self.seen:
            self.dropped["same"] += 1
            return None
        if any(k in self.seen for k in renamed_keys(self.problem, goal)):
            self.dropped["renamed"] += 1
            return None
        self.seen.add(key)
        nid = self.state.new_id()
        node = GoalNode(
            nid, goal, parent.id, parent.depth + 1, symbolic_score(goal), kind, justification, llm_streak,
            dict(meta),
        )
        self.nodes[nid] = node
        self.emit(ev.NodeAdded, id=nid, parent=parent.id, kind="goal", text=str(goal), meta=meta)
        self.emit(ev.NodeScored, id=nid, score=float(node.score), source="symbolic")
        return node

    def _scale(self, node: GoalNode) -> list[GoalNode]:
        report = scale_goal(node.goal)
        steps = sorted(report.steps, key=lambda s: symbolic_score(s.new))[: self.config.max_candidates]
        kept = []
        for st in steps:
            self.check_stop()
            meta = {
                "tactic": st.tactic(),
                "lemma": st.lemma,
                "side": st.side,
                "direction": st.direction,
                "instantiation": _instantiation(st.binding()),
            }
            child = self._child(node, st.new, "scale", meta, {"lemma": st.lemma})
            if child is None:
                continue
            fr = self._filter(node, child, check_step)
            if fr is None:
                continue
            child.checked_by = f"{fr.method}" if fr.status == "passed" else f"not proved sound ({fr.detail})"
            self.emit(
                ev.NodeVerified,
                id=child.id,
                status="ok" if fr.status == "passed" else "unknown",
                method=fr.method,
                ms=round(fr.ms, 3),
                output=fr.detail,
                detail={"step": fr.status, "new_goal_proved": fr.new_goal_proved},
            )
            kept.append(child)
        return kept

    def _filter(self, parent: GoalNode, child: GoalNode, check: Any) -> FilterResult | None:
        """Run a filter (``check_step`` or ``check_new_goal``) on a candidate; a counterexample
        is emitted on the candidate (terminal, with the point) and gives None."""
        t0 = time.perf_counter()
        if check is check_step:
            fr = check_step(self.problem, parent.goal, child.goal, self.cache, self.filter_cfg)
        else:
            fr = check_new_goal(self.problem, child.goal, self.cache, self.filter_cfg)
        self.state.verify_s += time.perf_counter() - t0
        if fr.status != "counterexample":
            return fr
        self.emit(
            ev.NodeVerified,
            id=child.id,
            status="counterexample",
            method=fr.method,
            ms=round(fr.ms, 3),
            terminal=True,
            output=fr.detail,
            detail={"counterexample": _point(fr.counterexample), "kind": fr.kind},
        )
        return None

    def _symbolic(self, node: GoalNode) -> list[GoalNode]:
        """The symbolic-only tactics (tangent line, equal value, pqr): a step is made only when
        the tactic proved its side conditions; the new goal is then filtered for counterexamples."""
        self.check_stop()
        t0 = time.perf_counter()
        results = symbolic_steps(self.problem, node.goal, self.cache)
        self.state.verify_s += time.perf_counter() - t0
        kept = []
        for r in results:
            st = r.step
            if st is None:
                continue
            meta = {
                "tactic": st.tactic,
                "lemma": None,
                "instantiation": st.instantiation,
                "source": "symbolic",
            }
            child = self._child(node, st.new, "symbolic", meta, {"tactic": st.tactic})
            if child is None:
                continue
            fr = self._filter(node, child, check_new_goal)
            if fr is None:
                continue
            child.checked_by = "; ".join(f"{c.claim}: {c.status} ({c.method})" for c in st.checks)
            self.emit(
                ev.NodeVerified,
                id=child.id,
                status="ok",
                method=st.tactic,
                output=st.note,
                detail={"checks": [c.to_dict() for c in st.checks], "new_goal_proved": fr.new_goal_proved},
            )
            kept.append(child)
        return kept

    def _llm_texts(self, prompts: list[str]) -> list[str] | None:
        if self.engine is None:
            return None
        chat = [self.engine.chat_prompt([{"role": "user", "content": p}]) for p in prompts]
        c = self.config
        out = self.generate(
            chat,
            n=1,
            seed=self.state.call_seed(self.state.iteration, len(self.nodes)),
            max_tokens=c.max_tokens,
            temperature=c.temperature,
            top_p=c.top_p,
        )
        return [row[0].text if row else "" for row in out]

    def _rewrite(self, node: GoalNode) -> list[GoalNode]:
        self.check_stop()
        c = self.config
        rewrites: list[Rewrite] = []
        llm = self.engine is not None and c.llm_rewrite and node.llm_streak < c.rewrite_streak
        if llm:
            pairs = rewrite_prompts(self.problem, node.goal)[: c.rewrite_prompts]
            texts = self._llm_texts([p for _, p in pairs])
            if texts is not None:
                rewrites = parse_rewrites(self.problem, node.goal, [e for e, _ in pairs], texts)
        elif self.engine is not None and c.llm_rewrite:
            self.emit(
                ev.Note,
                level="info",
                node=node.id,
                message=f"LLM rewriting skipped: {node.llm_streak} LLM rewrites in a row",
            )
        if not any(r.accepted for r in rewrites):
            rewrites += fallback_rewrites(self.problem, node.goal)
        kept = []
        for r in rewrites:  # already judged: no stop check here, so a paid-for LLM answer is kept
            if r.new is None:  # unparsable: shown as a rejected note on the parent
                self.emit(
                    ev.Note, level="info", node=node.id, message=f"rewrite {r.entry} rejected: {r.reason}"
                )
                continue
            meta = {
                "tactic": f"{'llm' if r.source == 'llm' else 'sym'}_{r.entry}",
                "lemma": None,
                "instantiation": {},
                "rewrite": r.entry,
                "source": r.source,
                "boxed": r.boxed,
            }
            streak = node.llm_streak + 1 if r.source == "llm" else 0
            child = self._child(node, r.new, "rewrite", meta, {"relation": r.method}, streak)
            if child is None:
                continue
            if not r.accepted:
                self.emit(
                    ev.NodeVerified,
                    id=child.id,
                    status="rejected",
                    method=r.method,
                    ms=round(r.ms, 3),
                    terminal=True,
                    output=r.reason,
                )
                continue
            multiple = r.source == "sympy" and r.method.endswith("positive_multiple")
            if multiple and self._filter(node, child, check_step) is None:
                continue
            child.checked_by = f"{r.method} ({r.reason})"
            self.emit(
                ev.NodeVerified,
                id=child.id,
                status="equivalent",
                method=r.method,
                ms=round(r.ms, 3),
                output=r.reason,
            )
            kept.append(child)
        return kept

    def _rank(self, parent: GoalNode, new: list[GoalNode]) -> None:
        for n in new:
            if self.best is None or n.score < self.nodes[self.best].score:
                self.best = n.id
        if not new:
            return
        top = top_k(new, [n.score for n in new], self.config.top_k)
        chosen: set[int] = set()
        try:
            if self.engine is not None and self.config.llm_rank and len(top) > 1:
                prompt = rank_prompt(self.problem, parent.goal, [n.goal for n in top])
                texts = self._llm_texts([prompt])
                r = rank([n.score for n in top], texts[0] if texts else None)
                if r.source != "llm":
                    self.emit(
                        ev.Note, level="warning", node=parent.id, message=f"{r.reason}; symbolic order kept"
                    )
                else:
                    for pos, i in enumerate(r.order):
                        self.emit(
                            ev.NodeScored,
                            id=top[i].id,
                            score=float(pos + 1),
                            source="llm_rank",
                            detail={"chosen": i in r.chosen},
                        )
                    chosen = {top[i].id for i in r.chosen}
        finally:  # a stop during the ranking call still queues the new goals (symbolic order)
            for n in new:
                self._push(n, tier=0 if n.id in chosen else 1)

    # --- the proof, checked again ---------------------------------------------------------

    def recheck(self, nid: int) -> tuple[bool, str, list[dict[str, Any]]]:
        """Re-check every step on root -> nid with fresh test points, then the close."""
        checks: list[dict[str, Any]] = []
        cache = PointCache()
        path = self.path(nid)
        for a, b in itertools.pairwise(path):
            old, new = self.nodes[a].goal, self.nodes[b].goal
            nb = self.nodes[b]
            ok = False
            if nb.kind == "symbolic":
                ok, method = rederive(self.problem, old, new, nb.justification.get("tactic", ""))
                checks.append({"node": b, "ok": ok, "method": method})
                if not ok:
                    return False, f"step to node {b} not justified ({method})", checks
                continue
            if nb.kind == "rewrite":
                er = check_rewrite(
                    self.problem, old, new, use_constraints=True, z3_timeout_s=self.config.z3_timeout_s
                )
                ok, method = er.accepted, f"equivalence:{er.method}"
            if not ok:
                fr = check_step(self.problem, old, new, cache, self.filter_cfg)
                ok, method = fr.status == "passed", f"check_step:{fr.method}:{fr.status}"
            checks.append({"node": b, "ok": ok, "method": method})
            if not ok:
                return False, f"step to node {b} not justified ({method})", checks
        cr = close_goal(self.problem, self.nodes[nid].goal, cache, self.close_cfg)
        checks.append({"node": nid, "ok": cr.proved, "method": f"close:{cr.method}", "close": True})
        if not cr.proved:
            return False, f"final goal not closed again ({cr.status})", checks
        return True, "", checks

    def proof_text(self) -> str:
        """The proof as a readable chain of justified steps (empty when not proved): for each
        step the tactic, the lemma and its instantiation (or the rewrite / the symbolic tactic's
        side conditions), how the step was justified when it was made and when it was re-checked;
        then the checker that closed the last goal."""
        if self.proved is None:
            return ""
        path = self.path(self.proved)
        recheck = {c["node"]: c["method"] for c in self.proof_chain if not c.get("close")}
        closes = [c["method"] for c in self.proof_chain if c.get("close")]
        cons = ", ".join(str(c) for c in self.problem.constraints) or "no constraints"
        lines = [f"Theorem ({cons}): {self.nodes[path[0]].goal}"]
        if len(path) > 1:
            lines.append("Proof (each new goal implies the goal before it):")
        for i, nid in enumerate(path[1:], 1):
            n = self.nodes[nid]
            m = n.meta
            lines.append(f"  step {i}: {m.get('tactic') or n.kind}")
            if n.kind == "scale":
                inst = ", ".join(f"{k} = {v}" for k, v in (m.get("instantiation") or {}).items())
                side = m.get("side", "?")
                lines.append(f"    lemma {m.get('lemma')} applied to the {side}; instantiation: {inst}")
            elif n.kind == "rewrite":
                lines.append(f"    rewrite '{m.get('rewrite')}' ({m.get('source')}): lhs - rhs kept equal")
            elif n.kind == "symbolic":
                inst = ", ".join(f"{k} = {v}" for k, v in (m.get("instantiation") or {}).items())
                lines.append(f"    {inst}")
            if n.checked_by:
                lines.append(f"    justified by: {n.checked_by}")
            if nid in recheck:
                lines.append(f"    re-checked: {recheck[nid]}")
            lines.append(f"    new goal: {n.goal}")
        last = self.nodes[path[-1]].goal
        again = f" (re-checked with fresh test points: {closes[0]})" if closes else ""
        lines.append(f"  closed: {last} by {self.proved_by}{again}")
        return "\n".join(lines)


def main() -> None:
    """`python -m backend.search.lips.search mo-int 30`: the symbolic search on a problem set,
    one line per problem (status, the checker that closed the last goal, the tactics on the
    proof path, wall seconds), then the tallies."""
    import collections
    import logging
    import sys

    from backend.search.lips.problems import load_inequalities

    logging.basicConfig(level=logging.WARNING)
    name = sys.argv[1] if len(sys.argv) > 1 else "ineq-easy"
    limit = float(sys.argv[2]) if len(sys.argv) > 2 else 30.0
    tally: collections.Counter = collections.Counter()
    t_all = time.perf_counter()
    for p in load_inequalities(name):
        t0 = time.perf_counter()
        s = LipsSearch(p.to_text(), engine=None,
                       config=LipsConfig(llm_rewrite=False, llm_rank=False, time_limit_s=limit))
        fin = s.run()
        tactics = [s.nodes[n].meta.get("tactic", "").split(" ")[0] for n in s.path(s.proved)[1:]] \
            if s.proved is not None else []
        closer = s.proved_by if s.proved is not None else "-"
        tally[(fin.status, closer)] += 1
        print(f"{p.id}: {fin.status} by {closer} via {tactics or 'root'} · {s.state.iteration} pops · "
              f"{len(s.nodes)} goals · {time.perf_counter() - t0:.1f} s", flush=True)
    print(dict(tally), f"{time.perf_counter() - t_all:.0f} s")


if __name__ == "__main__":
    main()
