"""A small, fast, deterministic MCTS-shaped search for UI and Run tests (never shipped).

It subclasses the real ``backend.search.base.Search`` (so Run drives it exactly as it
drives rStar-Math) and talks to a ScriptedEngine, emitting every event type the tree view
shows: selection with per-sibling UCT terms, expansions with code, verification (code ran,
code failed, answers), PPM-style scores, backprop and iteration summaries.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass
from typing import ClassVar

from backend import events as ev
from backend.engines.scripted import ScriptedEngine
from backend.search.base import Outcome, Search
from backend.search.config import knob

STEPS = [
    "# Step {k}: Janet's ducks lay 16 eggs; she eats 3 and bakes with 4.\nleft = 16 - 3 - 4",
    "# Step {k}: Each egg sells for $2, so multiply the remaining eggs by 2.\nmoney = left * 2",
    "# Step {k}: Let $x$ be the eggs left; then $x = 16 - 7$.\nx = 16 - 7",
    "# Step {k}: A wrong turn: divide instead of subtracting.\nleft = 16 / undefined_name",
]
ANSWERS = ["18", "18", "9", "18"]


@dataclass(frozen=True)
class DemoConfig:
    iterations: int = knob(30, "MCTS rollouts (iterations)", min=1, max=100_000)
    width: int = knob(3, "children per expansion", min=1, max=16)
    depth: int = knob(3, "depth of an answer node", min=1, max=12)
    c: float = knob(2.0, "UCT exploration constant", min=0.0, max=10.0)
    # every iteration pays it (an iteration that only revisits an answer too), so a long demo run
    # never turns into a busy loop that starves the server it is tested in
    delay_s: float = knob(0.1, "pretend generation time per iteration (seconds)", min=0.0, max=5.0)


def demo_engine() -> ScriptedEngine:
    return ScriptedEngine([("", [s for s in STEPS])])


class DemoSearch(Search):
    name = "demo"
    description = "Test-only MCTS-shaped search over canned steps (scripted engine)."
    Config = DemoConfig
    presets: ClassVar[dict[str, dict]] = {
        "tiny": {"iterations": 4, "width": 2, "depth": 2},
        "big": {"iterations": 400, "width": 4, "depth": 6},
    }
    default_preset = None

    def _start(self) -> None:
        self.kids: dict[int, list[int]] = {}
        self.parent: dict[int, int | None] = {}
        self.nq: dict[int, list[float]] = {}
        self.depth: dict[int, int] = {}
        self.answers: dict[int, str] = {}
        root = self.state.new_id()
        self.emit(ev.NodeAdded, id=root, parent=None, kind="root", text=self.state.problem)
        self.kids[root], self.parent[root], self.nq[root], self.depth[root] = [], None, [0, 0.0], 0
        self.root = root

    def _exhausted(self) -> str | None:
        return "iterations" if self.state.iteration >= self.config.iterations else None

    def _uct(self, parent: int, child: int) -> dict:
        n, q = self.nq[child]
        np_ = max(self.nq[parent][0], 1)
        u = self.config.c * math.sqrt(math.log(np_ + 1) / (n + 1))
        return {
            "id": child,
            "n": int(n),
            "q": q,
            "prior": 1.0 / max(len(self.kids[parent]), 1),
            "q_term": q,
            "u_term": round(u, 4),
            "score": round(q + u, 4),
        }

    def _iterate(self) -> None:
        cfg = self.config
        self.state.iteration += 1
        it = self.state.iteration
        node, path, breakdown = self.root, [self.root], []
        while self.kids[node] and node not in self.answers:
            rows = [self._uct(node, c) for c in self.kids[node]]
            breakdown.append(rows)
            node = max(rows, key=lambda r: r["score"])["id"]
            path.append(node)
        self.emit(ev.NodeSelected, iteration=it, path=list(path), children=breakdown)
        leaf = node
        reward = 0.0
        if cfg.delay_s and leaf in self.answers:
            time.sleep(cfg.delay_s)
        if leaf not in self.answers:
            t = time.monotonic()
            if cfg.delay_s:
                time.sleep(cfg.delay_s)
            self.check_stop()  # stop takes effect before the engine call
            outs = self.generate([self.state.problem], n=cfg.width, seed=it, stop=["<end_of_step>"])[0]
            gen_ms = (time.monotonic() - t) * 1000
            for j, comp in enumerate(outs):
                cid = self.state.new_id()
                d = self.depth[leaf] + 1
                is_answer = d >= cfg.depth
                text, _, code = comp.text.format(k=d).partition("\n")
                self.emit(
                    ev.NodeAdded,
                    id=cid,
                    parent=leaf,
                    kind="answer" if is_answer else "step",
                    text=text,
                    code=code,
                    prior=round(1 / cfg.width, 3),
                    tokens=comp.tokens,
                    gen_ms=round(gen_ms / len(outs), 2),
                    terminal=is_answer,
                )
                self.kids[leaf].append(cid)
                self.kids[cid], self.parent[cid], self.nq[cid], self.depth[cid] = [], leaf, [0, 0.0], d
                failed = "undefined_name" in code
                if is_answer and not failed:
                    ans = ANSWERS[(cid + j) % len(ANSWERS)]
                    self.answers[cid] = ans
                    self.emit(
                        ev.NodeVerified,
                        id=cid,
                        status="answered",
                        method="python",
                        output=ans,
                        ms=1.5,
                        answer=ans,
                    )
                else:
                    self.emit(
                        ev.NodeVerified,
                        id=cid,
                        status="error" if failed else "ok",
                        method="python",
                        output="NameError: name 'undefined_name' is not defined" if failed else "",
                        ms=1.2,
                        terminal=True if failed else None,
                    )
                self.emit(
                    ev.NodeScored,
                    id=cid,
                    score=round(-0.5 if failed else 0.1 * (cid % 7) - 0.2, 3),
                    source="ppm",
                )
            leaf = self.kids[leaf][0]
            path.append(leaf)
        votes = Counter(self.answers.values())
        if leaf in self.answers:
            reward = 1.0 if self.answers[leaf] == votes.most_common(1)[0][0] else -1.0
        updated = []
        for nid in reversed(path):
            n, q = self.nq[nid]
            q = (q * n + reward) / (n + 1)
            self.nq[nid] = [n + 1, round(q, 4)]
            updated.append([nid, n + 1, round(q, 4)])
        self.emit(ev.Backprop, iteration=it, path=path, reward=reward, updated=updated)
        best = votes.most_common(1)[0][0] if votes else None
        self.emit(
            ev.IterationDone, iteration=it, best_answer=best, votes=dict(votes), tokens=self.state.tokens
        )

    def outcome(self) -> Outcome:
        votes = Counter(self.answers.values())
        if not votes:
            return Outcome(None, [self.root])
        best = votes.most_common(1)[0][0]
        node = max((n for n, a in self.answers.items() if a == best), key=lambda n: self.nq[n][1])
        path = [node]
        while self.parent[path[-1]] is not None:
            path.append(self.parent[path[-1]])
        return Outcome(best, path[::-1], dict(votes), node)


def make_demo(
    problem: str = "Janet's ducks lay 16 eggs per day...", *, run_id: str = "demo", **cfg
) -> DemoSearch:
    return DemoSearch(problem, engine=demo_engine(), config=DemoConfig(**cfg), run_id=run_id)
