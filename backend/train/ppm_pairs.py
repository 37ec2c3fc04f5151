"""rStar-Math's PPM training pairs, read off a search tree (Q-value step preferences).

The process preference model learns to rank steps, not to regress Q values: among sibling
steps, ones that lead to a correct answer and have a high Q are preferred to ones that
lead to a wrong answer and have a low Q. Official code (github.com/microsoft/rStar, branch
rStar-math): ``extra_rm_file.py: search_all_traces, build_partial_solution`` and
``train/sample_rm_data.py``. Here over Canopy's ``Tree`` (the fold of a run's events):

- a terminal counts as *correct* when its Q is +1 and *wrong* when its Q is −1 and it is a
  stated answer (a too-many-errors leaf is wrong only in the official code's first branch,
  which Canopy's trees never produce: a failed step is an invalid terminal, not an answer).
  So the Q values must come from the ground truth: pairs are built from runs with the
  ``truth`` reward (training-data mode);
- walking down from the root through nodes that have both correct and wrong descendants:
  chosen = the (at most) 2 children with a correct descendant, highest Q first; rejected =
  the 2 with a wrong descendant, lowest Q first; when only one side has one, the other side
  takes up to 4; every chosen × rejected pair whose Q margin is positive and whose best path
  (greedy by Q through correct / wrong descendants) has the higher mean Q is kept;
- ``sample_rm_data.py`` then keeps pairs with margin ≥ 0.5 whose two step texts are at least
  20 edits apart (``keep``);
- each pair's weight in the loss is 1 / (pos_count · neg_count) (``train/rm.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from backend.reward.ppm_input import ppm_input, step_input
from backend.tree import Node, Tree

MIN_MARGIN = 0.5  # train/sample_rm_data.py
MIN_EDITS = 20


@dataclass(frozen=True)
class PPMPair:
    """One step preference: after ``prefix``, ``chosen`` is better than ``rejected``."""

    prefix: str
    chosen: str
    rejected: str
    margin: float  # Q(chosen) − Q(rejected)
    pos_count: int
    neg_count: int
    chosen_id: int
    rejected_id: int

    @property
    def weight(self) -> float:
        """The official loss factor, 1 / (pos_count · neg_count)."""
        return 1.0 / (self.pos_count * self.neg_count)


def _outcomes(tree: Tree) -> tuple[dict[int, int], dict[int, int]]:
    """(correct, wrong) terminal counts under every node."""
    correct: dict[int, int] = {}
    wrong: dict[int, int] = {}
    order: list[int] = []
    stack = [tree.root_id]
    while stack:
        nid = stack.pop()
        order.append(nid)
        stack.extend(tree.nodes[nid].children)
    for nid in reversed(order):  # children before parents
        node = tree.nodes[nid]
        c = w = 0
        if node.answer is not None and node.n:
            c, w = int(node.q >= 1.0), int(node.q <= -1.0)
        for k in node.children:
            c += correct[k]
            w += wrong[k]
        correct[nid], wrong[nid] = c, w
    return correct, wrong


def ppm_pairs(tree: Tree, prefix_of: Callable[[Tree, int], str] | None = None) -> list[PPMPair]:
    """PPM preference pairs of one tree (before ``keep``). ``prefix_of(tree, node_id)`` is the
    text before a child of that node (default: the problem and the path's step texts)."""
    if tree.root_id is None:
        return []
    prefix_of = prefix_of or prefix_text
    correct, wrong = _outcomes(tree)
    nodes = tree.nodes
    pairs: list[PPMPair] = []
    queue = [tree.root_id]
    while queue:
        parent = queue.pop(0)
        kids = [nodes[k] for k in nodes[parent].children]
        pos_all = sorted((k for k in kids if correct[k.id]), key=lambda k: -k.q)
        neg_all = sorted((k for k in kids if wrong[k.id]), key=lambda k: k.q)
        pos, neg = pos_all[:2], neg_all[:2]
        if pos and neg:
            if len(pos) == 1:
                neg = neg_all[:4]
            if len(neg) == 1:
                pos = pos_all[:4]
            prefix = prefix_of(tree, parent)
            for w in pos:
                for lose in neg:
                    margin = w.q - lose.q
                    if margin > 0 and _path_mean_q(tree, w, correct, best=True) > _path_mean_q(
                        tree, lose, wrong, best=False
                    ):
                        pairs.append(
                            PPMPair(prefix, step_text(w), step_text(lose), margin,
                                    len(pos), len(neg), w.id, lose.id)
                        )
        queue += [k.id for k in kids if correct[k.id] and wrong[k.id]]
    return pairs


def _path_mean_q(tree: Tree, node: Node, side: dict[int, int], *, best: bool) -> float:
    """Official ``build_partial_solution``: from ``node``, follow the child that keeps to the
    side (has a correct descendant when ``best``, a wrong one otherwise) with the highest Q
    (``best``) or the lowest, and average Q along the way."""
    qs = [node.q]
    while True:
        steps = [tree.nodes[k] for k in node.children if side[k]]
        if not steps:
            return sum(qs) / len(qs)
        node = max(steps, key=lambda k: k.q) if best else min(steps, key=lambda k: k.q)
        qs.append(node.q)


def step_text(node: Node) -> str:
    """A step as the PPM reads it: every module that builds or scores pairs must agree on this text."""
    return step_input(node.text, node.code)


def prefix_text(tree: Tree, parent: int) -> str:
    """The question and the steps from the root down to ``parent``: the context a step is valued in."""
    path: list[str] = []
    nid: int | None = parent
    while nid is not None and nid != tree.root_id:
        path.append(step_text(tree.nodes[nid]))
        nid = tree.nodes[nid].parent
    return ppm_input(tree.nodes[tree.root_id].text, reversed(path))


def keep(
    pairs: Iterable[PPMPair], *, min_margin: float = MIN_MARGIN, min_edits: int = MIN_EDITS
) -> list[PPMPair]:
    """``train/sample_rm_data.py``: margin ≥ 0.5 and step texts at least 20 edits apart."""
    from backend._optional import require

    levenshtein = require("rapidfuzz", extra="train").distance.Levenshtein
    return [
        p for p in pairs if p.margin >= min_margin and levenshtein.distance(p.rejected, p.chosen) >= min_edits
    ]


def longer_step_accuracy(pairs: Iterable[PPMPair]) -> float:
    """The bar a PPM must clear: the share of pairs whose chosen step is the longer text
    (ties count half). On this project's pairs it is 0.53-0.67 (docs/PPM.md), so a head
    near it has learnt length, not which step is right."""
    pairs = list(pairs)
    if not pairs:
        raise ValueError("no pairs")
    wins = sum((len(p.chosen) > len(p.rejected)) + 0.5 * (len(p.chosen) == len(p.rejected)) for p in pairs)
    return wins / len(pairs)
