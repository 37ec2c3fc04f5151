"""Teacher mode: a run's events as a lesson, one search phase at a time, in plain sentences.

MCTS (rStar-Math, CPL): each iteration is told as its phases, in the order the core ran them
(``backend/search/mcts.py``): **select** (a ``node_selected`` event: which child was chosen
and why, with the scores the core recorded), **expand** (the ``node_added`` children of one
expansion), **evaluate** (their ``node_verified`` / ``node_scored`` events: code ran or
failed, an answer and its reward) and **backpropagate** (a ``backprop`` event: the reward
travelling up, N and Q of each node after it). LIPS (best-first, no selection scores):
**rank**, **pop**, **tactics**, **filter**.

Every number in a sentence is the event's own (the selection rows, ``backprop.updated``) or
the folded tree's just before it (a parent's N), never recomputed to look right. A select
phase also carries a :class:`Question` ("which child will MCTS pick?") whose reveal spells
out every sibling's UCT or PUCT arithmetic. Pure functions of an event list.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from backend import events as ev
from backend.tree import Tree

MCTS_PHASES = ("select", "expand", "evaluate", "backpropagate")
LIPS_PHASES = ("rank", "pop", "tactics", "filter")


@dataclass(frozen=True)
class Question:
    """Which child will MCTS pick at ``parent``? ``answer`` is the one it picked."""

    parent: int
    options: list[int]
    answer: int
    #: per option, in order: its arithmetic in words ("#5: Q 0.50 + 2·√(ln 6 / 2) = …")
    reveal: list[str]


@dataclass(frozen=True)
class Phase:
    kind: str
    iteration: int
    #: the events the phase tells (inclusive): the page draws the tree as of ``last_seq``
    first_seq: int
    last_seq: int
    sentences: list[str]
    #: drawn as the walked path: the descent so far (select) or the reward's way up (backprop)
    path: list[int] = field(default_factory=list)
    #: the nodes the phase is about (new children, checked nodes, updated nodes)
    nodes: list[int] = field(default_factory=list)
    question: Question | None = None


def _f(v: float | None) -> str:
    return "—" if v is None else f"{v:.2f}"


def lesson(events: Sequence[ev.Event]) -> list[Phase]:
    """The phases of a run, in order (an empty list before its first iteration)."""
    if not events or not isinstance(events[0], ev.RunStarted):
        return []
    if events[0].algorithm == "lips":
        from backend.teach_lips import lips_lesson  # here: it builds on this module's Phase

        return lips_lesson(events)
    return _mcts(events)


def check(question: Question, picked: int) -> tuple[bool, str]:
    """(right?, what to say) for a student's prediction ``picked``."""
    right = picked == question.answer
    head = (
        f"Right: MCTS picks #{question.answer}."
        if right
        else (f"Not this time: you said #{picked}, MCTS picks #{question.answer}.")
    )
    return right, head


# --- MCTS ---------------------------------------------------------------------------------------


class _Teller:
    """Folds the events into a tree while cutting them into phases."""

    def __init__(self, started: ev.RunStarted) -> None:
        cfg = started.config or {}
        self.c = float(cfg.get("c", 2.0))
        self.rule = str(cfg.get("selection", "uct"))
        self.reward = started.reward or "the reward"
        self.tree = Tree()
        self.phases: list[Phase] = []
        self.group: list[ev.Event] = []
        self.kind: str | None = None
        self.iteration = 0

    def feed(self, e: ev.Event) -> None:
        kind = _mcts_kind(e)
        if kind is not None and (kind != self.kind or kind in ("select", "backpropagate")):
            self.flush()  # a note or a user action between two events of one phase does not split it
            self.kind = kind
        if kind == "select":  # told before it is folded: the parent's N as the selection saw it
            self.phases.append(self._select(e))  # type: ignore[arg-type]
            self.kind = None
        elif kind is not None:
            self.group.append(e)
        self.tree.apply(e)
        if kind == "backpropagate":
            self.phases.append(self._backprop(e))  # type: ignore[arg-type]
            self.group, self.kind = [], None
        if isinstance(e, ev.IterationDone):
            self.flush()
            self.iteration = e.iteration + 1

    def flush(self) -> None:
        if self.group and self.kind == "expand":
            self.phases.append(self._expand(self.group))
        elif self.group and self.kind == "evaluate":
            self.phases.append(self._evaluate(self.group))
        self.group = []

    # each phase in words ---------------------------------------------------------------

    def _arith(self, row: dict[str, Any], parent_n: int) -> str:
        nid, n, q, u, score = row["id"], row.get("n", 0), row.get("q_term", 0.0), row["u_term"], row["score"]
        if self.rule == "puct":
            prior = row.get("prior")
            prior_txt = _f(prior) if prior is not None else "1/k (uniform)"
            formula = f"{self.c:g}·{prior_txt}·√{parent_n}/(1+{n})"
            return f"#{nid}: Q {_f(q)} + {formula} = {_f(q)} + {_f(u)} = {_f(score)}"
        if not n:
            return f"#{nid}: never visited, so Q and exploration both count 0 (rStar-Math's rule): score 0.00"
        return f"#{nid}: Q {_f(q)} + {self.c:g}·√(ln {parent_n} / {n}) = {_f(q)} + {_f(u)} = {_f(score)}"

    def _select(self, e: ev.NodeSelected) -> Phase:
        rows = e.children[-1] if e.children else []
        chosen, parent = e.path[-1], e.path[-2] if len(e.path) > 1 else e.path[0]
        parent_n = self.tree.nodes[parent].n if parent in self.tree.nodes else 0
        mine = next((r for r in rows if r["id"] == chosen), None)
        others = sorted((r for r in rows if r["id"] != chosen), key=lambda r: -r["score"])
        name = "PUCT" if self.rule == "puct" else "UCT"
        if mine is None:
            said = [f"Selection goes down to #{chosen}."]
        elif not others:
            said = [f"#{chosen} is the only child of #{parent} still open: selection goes on to it."]
        else:
            said = [_choice(chosen, mine, others[0])]
        said.append(f"{name} scores every child of #{parent} that can still be chosen and takes the highest.")
        question = None
        if len(rows) > 1:
            question = Question(
                parent, [r["id"] for r in rows], chosen, [self._arith(r, parent_n) for r in rows]
            )
        return Phase("select", self.iteration, e.seq, e.seq, said, list(e.path), [chosen], question)

    def _expand(self, group: list[ev.Event]) -> Phase:
        added = [e for e in group if isinstance(e, ev.NodeAdded)]
        said = [
            f"The root #{e.id} is the problem itself: every rollout starts here."
            for e in added
            if e.parent is None
        ]
        kids = [e for e in added if e.parent is not None]
        if kids:
            mine = any(e.meta.get("author") in ("user", "fork") for e in kids)
            who = "you wrote" if mine else "the model proposes"
            ids = ", ".join(f"#{e.id}" for e in kids)
            many = "s" if len(kids) != 1 else ""
            call = "" if mine else " in one engine call"
            said.append(f"#{kids[0].parent} is expanded: {who} {len(kids)} new step{many} ({ids}){call}.")
        return Phase("expand", self.iteration, group[0].seq, group[-1].seq, said, [], [e.id for e in added])

    def _evaluate(self, group: list[ev.Event]) -> Phase:
        said, ids = [], []
        for e in group:
            if isinstance(e, ev.NodeVerified):
                ids.append(e.id)
                said.append(_verdict(e))
            elif isinstance(e, ev.NodeScored):
                ids.append(e.id)
                what = "PPM value" if e.source == "ppm" else f"{e.source} reward"
                said.append(f"#{e.id} gets {what} {e.score:.2f}.")
        return Phase(
            "evaluate", self.iteration, group[0].seq, group[-1].seq, said, [], list(dict.fromkeys(ids))
        )

    def _backprop(self, e: ev.Backprop) -> Phase:
        ids = [int(r[0]) for r in e.updated]
        leaf = e.path[-1]
        if len(e.path) == 1:
            said = [
                f"#{leaf}'s value {e.reward:.2f} stays on itself: "
                f"N {int(e.updated[0][1])}, Q {_f(e.updated[0][2])}."
            ]
        else:
            way = " → ".join(f"#{i}" for i in reversed(e.path))
            said = [
                f"The reward {e.reward:.2f} of #{leaf} travels up {way}: "
                "each node's N grows by 1 and Q = W/N."
            ]
            said.append(
                "Now "
                + ", ".join(f"#{int(r[0])} N {int(r[1])} Q {_f(r[2])}" for r in reversed(e.updated))
                + "."
            )
        return Phase("backpropagate", self.iteration, e.seq, e.seq, said, list(e.path), ids)


def _choice(chosen: int, mine: dict[str, Any], best: dict[str, Any]) -> str:
    """Why ``chosen`` won over the best of its siblings, in the recorded numbers."""
    if mine["score"] < best["score"]:
        return f"#{chosen} is chosen (it was steered there), although #{best['id']} scores more."
    if mine["score"] == best["score"]:
        return (
            f"Child #{chosen} is chosen: its score {_f(mine['score'])} ties #{best['id']}'s, "
            "and a tie goes to the first child."
        )
    terms = f"Q {_f(mine['q_term'])} + exploration {_f(mine['u_term'])} = {_f(mine['score'])}"
    return f"Child #{chosen} is chosen: {terms} beats #{best['id']}'s {_f(best['score'])}."


def _verdict(e: ev.NodeVerified) -> str:
    if e.answer is not None:
        return f"#{e.id} states the answer {e.answer} ({e.status} by {e.method})."
    if e.status in ("error", "timeout"):
        return f"#{e.id} failed ({e.status}): a dead end, never selected."
    if e.terminal:
        return f"#{e.id} ends its path without an answer ({e.status})."
    if e.method == "python":
        return f"#{e.id}'s code ran ({e.status}); the path can go on from it."
    return f"#{e.id} is checked: {e.status} by {e.method}."


def _mcts_kind(e: ev.Event) -> str | None:
    if isinstance(e, ev.NodeSelected):
        return "select"
    if isinstance(e, ev.NodeAdded):
        return "expand"
    if isinstance(e, ev.NodeVerified | ev.NodeScored):
        return "evaluate"
    if isinstance(e, ev.Backprop):
        return "backpropagate"
    return None


def _mcts(events: Iterable[ev.Event]) -> list[Phase]:
    it = iter(events)
    first = next(it)
    teller = _Teller(first)  # type: ignore[arg-type]
    teller.tree.apply(first)
    for e in it:
        teller.feed(e)
    teller.flush()
    return teller.phases
