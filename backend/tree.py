"""The search tree as a pure fold over events.

``Tree.apply(event)`` is the only way a tree changes, so a live run, a replay of a
stored run and an imported file all produce the same tree from the same events.
Nodes use ``__slots__`` and keep only what the events carry: a 10,000-node tree of
short steps costs a few megabytes (bench/tree.py prints bytes per node).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from backend import events as ev
from backend.events import EventError


@dataclass(slots=True)
class Node:
    id: int
    parent: int | None
    kind: ev.NodeKind
    depth: int
    text: str = ""
    code: str | None = None
    prior: float | None = None
    tokens: int = 0
    gen_ms: float = 0.0
    terminal: bool = False
    meta: dict[str, Any] = field(default_factory=dict)
    children: list[int] = field(default_factory=list)
    added_seq: int = 0
    # search statistics (from backprop events)
    n: int = 0
    q: float = 0.0
    # verification (from node_verified events; the latest wins)
    status: ev.VerifyStatus | None = None
    method: str | None = None
    output: str = ""
    verify_ms: float = 0.0
    answer: str | None = None
    detail: dict[str, Any] | None = None
    # scores by source ("ppm", "vote", "symbolic", ...) from node_scored events
    scores: dict[str, float] | None = None
    # sibling statistics when this node was last selected (for the UCT breakdown)
    selection: list[dict[str, Any]] | None = None
    pruned: bool = False

    @property
    def ppm(self) -> float | None:
        return None if self.scores is None else self.scores.get("ppm")

    def summary(self) -> dict[str, Any]:
        """Plain dict of the node for display and tests."""
        return {
            "id": self.id,
            "parent": self.parent,
            "kind": self.kind,
            "depth": self.depth,
            "n": self.n,
            "q": self.q,
            "status": self.status,
            "answer": self.answer,
            "scores": dict(self.scores or {}),
            "terminal": self.terminal,
            "pruned": self.pruned,
            "children": list(self.children),
        }


@dataclass(slots=True)
class IterationRecord:
    """What the convergence panel plots: one row per finished iteration."""

    iteration: int
    seq: int
    t: float
    best_answer: str | None
    votes: dict[str, float]
    tokens: int
    root_children: list[tuple[int, int, float]]  # (id, N, Q)


class Tree:
    """A search tree rebuilt from its events and nothing else."""

    def __init__(self) -> None:
        self.nodes: dict[int, Node] = {}
        self.root_id: int | None = None
        self.started: ev.RunStarted | None = None
        self.finished: ev.RunFinished | None = None
        self.last_seq = -1
        self.last_t = 0.0
        self.iterations: list[IterationRecord] = []
        self.notes: list[ev.Note] = []
        #: steering and controls in the order they happened (user_action and user_step events)
        self.actions: list[ev.UserAction | ev.UserStep] = []
        self.last_selected: list[int] = []
        self.tokens = 0

    # --- folding ------------------------------------------------------------------

    @classmethod
    def from_events(cls, events: Iterable[ev.Event]) -> Tree:
        tree = cls()
        for e in events:
            tree.apply(e)
        return tree

    def apply(self, e: ev.Event) -> None:
        if e.seq != self.last_seq + 1:
            raise EventError(
                f"event {e.type} has seq {e.seq} but seq {self.last_seq + 1} was expected: "
                "events are missing or out of order"
            )
        if self.started is None and not isinstance(e, ev.RunStarted):
            raise EventError(f"the first event must be run_started, got {e.type}")
        handler = _HANDLERS.get(type(e))
        if handler is None:  # pragma: no cover - every event type has a handler
            raise EventError(f"no handler for event type {e.type}")
        handler(self, e)
        self.last_seq = e.seq
        self.last_t = e.t

    def _node(self, node_id: int, e: ev.Event) -> Node:
        node = self.nodes.get(node_id)
        if node is None:
            raise EventError(f"event {e.type} (seq {e.seq}) names node {node_id}, which does not exist")
        return node

    def _on_started(self, e: ev.RunStarted) -> None:
        if self.started is not None:
            raise EventError(f"second run_started at seq {e.seq}: one run per event stream")
        self.started = e

    def _on_added(self, e: ev.NodeAdded) -> None:
        if e.id in self.nodes:
            raise EventError(f"node_added (seq {e.seq}): node {e.id} already exists")
        if e.parent is None:
            if self.root_id is not None:
                raise EventError(f"node_added (seq {e.seq}): a second root ({e.id}); the tree has one")
            self.root_id = e.id
            depth, pruned = 0, False
        else:
            parent = self._node(e.parent, e)
            parent.children.append(e.id)
            depth = parent.depth + 1
            pruned = parent.pruned  # a node added under a pruned subtree is in it
        self.nodes[e.id] = Node(
            id=e.id,
            parent=e.parent,
            kind=e.kind,
            depth=depth,
            text=e.text,
            code=e.code,
            prior=e.prior,
            tokens=e.tokens,
            gen_ms=e.gen_ms,
            terminal=e.terminal,
            meta=e.meta,
            added_seq=e.seq,
            pruned=pruned,
        )
        self.tokens += e.tokens

    def _on_verified(self, e: ev.NodeVerified) -> None:
        node = self._node(e.id, e)
        node.status, node.method, node.output, node.verify_ms = e.status, e.method, e.output, e.ms
        node.detail = e.detail or None
        if e.answer is not None:
            node.answer = e.answer
        if e.terminal is not None:
            node.terminal = e.terminal

    def _on_scored(self, e: ev.NodeScored) -> None:
        node = self._node(e.id, e)
        if node.scores is None:
            node.scores = {}
        node.scores[e.source] = e.score

    def _on_selected(self, e: ev.NodeSelected) -> None:
        for node_id in e.path:
            self._node(node_id, e)
        for node_id, siblings in zip(e.path[1:], e.children, strict=False):
            self.nodes[node_id].selection = siblings
        self.last_selected = list(e.path)

    def _on_backprop(self, e: ev.Backprop) -> None:
        for row in e.updated:
            if len(row) != 3:
                raise EventError(f"backprop (seq {e.seq}): updated rows are [id, N, Q], got {row!r}")
            node = self._node(int(row[0]), e)
            node.n, node.q = int(row[1]), float(row[2])

    def _on_iteration(self, e: ev.IterationDone) -> None:
        root = self.nodes.get(self.root_id) if self.root_id is not None else None
        kids = [] if root is None else [(c, self.nodes[c].n, self.nodes[c].q) for c in root.children]
        self.iterations.append(
            IterationRecord(e.iteration, e.seq, e.t, e.best_answer, dict(e.votes), e.tokens, kids)
        )

    def _on_action(self, e: ev.UserAction) -> None:
        if e.node is not None:
            node = self._node(e.node, e)
            if e.action == "prune":  # the whole subtree: never selected again, drawn faded
                for sub in self.subtree(node.id):
                    self.nodes[sub].pruned = True
        self.actions.append(e)

    def _on_user_step(self, e: ev.UserStep) -> None:
        self._node(e.node, e)
        self.actions.append(e)

    def _on_note(self, e: ev.Note) -> None:
        self.notes.append(e)

    def _on_finished(self, e: ev.RunFinished) -> None:
        for node_id in e.best_path:
            self._node(node_id, e)
        self.finished = e

    # --- queries ------------------------------------------------------------------

    @property
    def root(self) -> Node | None:
        return None if self.root_id is None else self.nodes[self.root_id]

    def path_to(self, node_id: int) -> list[int]:
        """Ids from the root down to ``node_id``."""
        path: list[int] = []
        cur: int | None = node_id
        while cur is not None:
            path.append(cur)
            cur = self.nodes[cur].parent
        return path[::-1]

    def subtree(self, node_id: int) -> list[int]:
        """``node_id`` and every node below it (iterative: a tree may be a long chain)."""
        out, stack = [], [node_id]
        while stack:
            cur = stack.pop()
            out.append(cur)
            stack.extend(self.nodes[cur].children)
        return out

    def answer_nodes(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.answer is not None and not n.pruned]

    def answer_votes(self, weight: str = "count") -> dict[str, float]:
        """Votes per stated answer: ``count`` of answer nodes, or their ``visits``."""
        votes: Counter[str] = Counter()
        for node in self.answer_nodes():
            votes[node.answer] += 1 if weight == "count" else max(node.n, 1)  # type: ignore[index]
        return dict(votes.most_common())

    def best_path(self) -> list[int]:
        """The run's own choice when finished; live, the highest-Q answer node's path.

        With no answer yet, descend from the root by Q (ties broken by visits), as
        rStar-Math's eval_output walks the tree level by level.
        """
        if self.finished is not None and self.finished.best_path:
            return list(self.finished.best_path)
        answers = self.answer_nodes()
        if answers:
            best = max(answers, key=lambda n: (n.q, n.n, -n.id))
            return self.path_to(best.id)
        if self.root_id is None:
            return []
        path = [self.root_id]
        node = self.nodes[self.root_id]
        while node.children:
            live = [self.nodes[c] for c in node.children if not self.nodes[c].pruned]
            if not live:
                break
            node = max(live, key=lambda n: (n.q, n.n, -n.id))
            path.append(node.id)
        return path

    def stats(self) -> dict[str, Any]:
        statuses = Counter(n.status or "unverified" for n in self.nodes.values())
        return {
            "nodes": len(self.nodes),
            "depth": max((n.depth for n in self.nodes.values()), default=0),
            "terminals": sum(1 for n in self.nodes.values() if n.terminal),
            "answers": len(self.answer_nodes()),
            "tokens": self.tokens,
            "gen_ms": round(sum(n.gen_ms for n in self.nodes.values()), 3),
            "verify_ms": round(sum(n.verify_ms for n in self.nodes.values()), 3),
            "iterations": len(self.iterations),
            "statuses": dict(statuses),
            "last_seq": self.last_seq,
            "t": self.last_t,
        }


_HANDLERS = {
    ev.RunStarted: Tree._on_started,
    ev.NodeAdded: Tree._on_added,
    ev.NodeVerified: Tree._on_verified,
    ev.NodeScored: Tree._on_scored,
    ev.NodeSelected: Tree._on_selected,
    ev.Backprop: Tree._on_backprop,
    ev.IterationDone: Tree._on_iteration,
    ev.UserAction: Tree._on_action,
    ev.UserStep: Tree._on_user_step,
    ev.Note: Tree._on_note,
    ev.RunFinished: Tree._on_finished,
}
