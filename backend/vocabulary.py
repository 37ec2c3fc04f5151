"""The words and symbols of a run's nodes, by algorithm (issue 15 item 5).

rStar-Math's nodes are code steps and answers; CPL's are plan steps and solutions (checked by
their format, never run); LIPS's are goals, each new one made from its parent by a tactic (a
lemma with its instantiation, a rewrite, a symbolic method), dropped by a counterexample or
closed by a checker. One ``Vocabulary`` per family says how the tree draws and names each
node (symbol, outline, label), what the legend lists, what the inspector's sections are
called and whether it has a code box, and what the run counts (iterations, or pops for LIPS).
The page (``ui/figure.py``, the hover, the inspector, the status line: through
``ui/vocabulary.py``, which re-exports this module) and the one-file HTML replay
(``backend/html_replay.py``, so ``canopy export --html`` of a CPL run says "plan step") all
ask here: the backend may not import ``ui/``, so the tables live on this side.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from backend.tree import Node

GOOD, BAD, PLAIN, NONE = "#1a9850", "#d73027", "#444444", "#9e9e9e"
#: (Plotly marker symbol, outline colour, label)
Style = tuple[str, str, str]

UNVERIFIED: Style = ("circle", NONE, "unverified")
PRUNED: Style = ("circle-open", NONE, "pruned")

#: rStar-Math (and every algorithm without its own words): code steps, answers; the
#: inequality statuses keep their generic names for runs of unknown algorithms
RSTAR_STYLES: dict[str | None, Style] = {
    "ok": ("circle", PLAIN, "code ran"),
    "error": ("x", BAD, "code failed"),
    "timeout": ("x", BAD, "code timed out"),
    "correct": ("star", GOOD, "answer correct"),
    "incorrect": ("diamond-x", BAD, "answer wrong"),
    "answered": ("diamond", PLAIN, "answer (ungraded)"),
    "proved": ("star", GOOD, "proved"),
    "refuted": ("triangle-down", BAD, "refuted"),
    "counterexample": ("triangle-down", BAD, "counterexample"),
    "equivalent": ("circle", GOOD, "equivalent rewrite"),
    "rejected": ("circle-x", BAD, "rejected rewrite"),
    "unknown": ("circle-dot", NONE, "unknown"),
    None: UNVERIFIED,
}
CPL_STYLES: dict[str | None, Style] = {
    "ok": ("circle", PLAIN, "plan step (format ok)"),
    "format_error": ("square-x", BAD, "not a plan step (format failure)"),
    "too_deep": ("hourglass", NONE, "too deep (max_depth)"),
    "correct": ("star", GOOD, "solution correct"),
    "incorrect": ("diamond-x", BAD, "solution wrong"),
    "answered": ("diamond", PLAIN, "solution (ungraded)"),
    "unknown": ("diamond-open", NONE, "solution without a boxed answer"),
    None: UNVERIFIED,
}
LIPS_STYLES: dict[str | None, Style] = {
    "ok": ("triangle-up", PLAIN, "goal made by a tactic (implies its parent)"),
    "equivalent": ("circle", GOOD, "goal rewritten (equivalent)"),
    "rejected": ("circle-x", BAD, "rewrite rejected (not equivalent)"),
    "counterexample": ("triangle-down", BAD, "counterexample: goal false at a point"),
    "refuted": ("triangle-down-open", BAD, "problem refuted at a point"),
    "proved": ("star", GOOD, "goal closed (proved)"),
    "unknown": ("circle-dot", NONE, "open goal (not closed yet)"),
    None: ("circle", NONE, "goal not checked yet"),
}
#: what each symbol looks like in the legend's text
GLYPHS = {
    "circle": "●", "x": "✕", "diamond": "◆", "star": "★", "diamond-x": "◇✕", "triangle-down": "▼",
    "triangle-down-open": "▽", "circle-x": "⊗", "circle-dot": "⊙", "circle-open": "○",
    "square-x": "⊠", "hourglass": "⧗", "diamond-open": "◇", "triangle-up": "▲",
}  # fmt: skip


@dataclass(frozen=True)
class Vocabulary:
    family: str
    #: the inspector's name for a node's text, per node kind ("" for the default)
    text_names: dict[str, str]
    styles: dict[str | None, Style]
    #: the inspector shows a code box and an execution output box
    runs_code: bool
    #: what one iteration of the run is called, plural ("iterations", "pops")
    rounds: str
    #: the end of the toolbar legend (after the node symbols)
    legend_tail: str
    #: the styles the legend lists (all when empty)
    legend_keys: tuple[str | None, ...] = ()

    def key(self, node: Node, status: str | None) -> str | None:
        """The style key of a node drawn with ``status`` (CPL's format and depth failures
        are not "code failed")."""
        if self.family == "cpl" and status == "error":
            return "too_deep" if node.method == "depth" else "format_error"
        return status if status in self.styles else None

    def style(self, node: Node, status: str | None) -> Style:
        return PRUNED if node.pruned else self.styles[self.key(node, status)]

    def text_name(self, node: Node) -> str:
        if node.parent is None:
            return "problem" if self.family != "lips" else "goal (the problem)"
        return self.text_names.get(node.kind) or self.text_names[""]

    def kind_word(self, node: Node) -> str:
        """The node's kind in words (hover and inspector title)."""
        if self.family == "lips" and node.parent is not None:
            how = tactic_name(node)
            return f"goal via {how}" if how else "goal"
        return self.text_name(node) if self.family == "cpl" else node.kind

    def legend(self) -> str:
        seen: list[str] = []
        keys = self.legend_keys or tuple(self.styles)
        for sym, _, label in (self.styles[k] for k in keys):
            item = f"{GLYPHS.get(sym, sym)} {label}"
            if item not in seen:
                seen.append(item)
        seen.append(f"{GLYPHS[PRUNED[0]]} faded = pruned")
        return " · ".join(seen) + " · " + self.legend_tail


COMMON_TAIL = "orange ring = new · purple ring = selected"
RSTAR = Vocabulary(
    "rstar",
    {"": "step (text and code)", "answer": "answer step"},
    RSTAR_STYLES,
    True,
    "iterations",
    "size = visits N · gold line = best path · " + COMMON_TAIL + " · dotted ring = PPM and Q disagree "
    "(PPM diagnostics)",
    ("ok", "error", "answered", "correct", "incorrect", None),
)
CPL = Vocabulary(
    "cpl",
    {"": "plan step", "plan": "plan step", "answer": "solution"},
    CPL_STYLES,
    False,
    "iterations",
    "size = visits N · gold line = best path · " + COMMON_TAIL,
)
LIPS = Vocabulary(
    "lips",
    {"": "goal"},
    LIPS_STYLES,
    False,
    "pops",
    "gold line = the proof (root → closed goal) · " + COMMON_TAIL + " · LIPS does not visit nodes: "
    "N and Q stay 0",
)
BY_ALGORITHM = {"rstar": RSTAR, "cpl": CPL, "lips": LIPS}


def vocabulary(algorithm: str | None) -> Vocabulary:
    """The vocabulary of ``algorithm`` (rStar-Math's, code steps and answers, for the others:
    the baselines sample programs)."""
    return BY_ALGORITHM.get(algorithm or "", RSTAR)


def of_tree(tree: Any) -> Vocabulary:
    return vocabulary(tree.started.algorithm if tree.started else None)


def all_styles() -> list[Style]:
    """Every style of every vocabulary once (rStar's first, in its historical order), then pruned:
    a node's style number indexes this list."""
    rows: list[Style] = []
    for v in (RSTAR, CPL, LIPS):
        rows += [s for s in v.styles.values() if s not in rows]
    return [*rows, PRUNED]


#: grades a stated answer against the run's known answer (True/False), None when there is none
Grade = Callable[[str], "bool | None"]
#: statuses of a node that states an answer no verifier has graded (rStar's final code ran: "ok")
_UNGRADED = (None, "ok", "answered")


def drawn_status(node: Node, grade: Grade | None = None) -> str | None:
    """The status a node is drawn with: an ungraded answer is "answered", or "correct" /
    "incorrect" when the run has a known answer (``grade``), so the legend's star and
    crossed diamond appear in any run given one."""
    if node.answer is None or node.status not in _UNGRADED:
        return node.status
    verdict = grade(node.answer) if grade is not None else None
    return "answered" if verdict is None else ("correct" if verdict else "incorrect")


def node_style(node: Node, grade: Grade | None = None, vocab: Vocabulary = RSTAR) -> Style:
    """(symbol, outline, label) of a node in its algorithm's words (``vocab``), graded by ``grade``."""
    return vocab.style(node, drawn_status(node, grade))


def tactic_name(node: Node) -> str:
    """The lemma, rewrite or symbolic method that made a LIPS goal ('' for the root)."""
    m = node.meta or {}
    return str(m.get("lemma") or m.get("rewrite") or m.get("tactic") or "").split(" ")[0]


def rounds_phrase(tree: Any, count: int) -> str:
    """"12 iterations" or, for LIPS, "3 pops (goals taken from the queue)"."""
    v = of_tree(tree)
    if v.rounds == "pops":
        # a pop ends with iteration_done; one cut short by the time limit still tried its closers
        count = max(count, sum(1 for n in tree.nodes.values() if n.detail and n.detail.get("attempts")))
        return f"{count} pop{'s' if count != 1 else ''} (goals taken from the queue)"
    return f"{count} iteration{'s' if count != 1 else ''}"
