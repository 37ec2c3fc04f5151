"""Answer clusters: a tree's final answers grouped by mathematical equivalence.

Many rollouts end in the same answer written differently (``0.5``, ``\\frac{1}{2}``); a
viewer wants one bar per *answer*, weighted by how much the search believes in it. The
grouping is the vote reward's own (``backend/reward/vote.py: AnswerTally``: equal
``normalize_answer`` keys, else math-verify's ``answers_equal``), so a cluster here is a
vote group there. A pure function of a ``Tree``: live, replayed or imported trees give the
same clusters.

Weights, per cluster (``WEIGHTS``):

- ``visits``: the sum of N over its answer nodes (how often the search went there);
- ``q``: the mean Q of its answer nodes (what backpropagation thinks of them);
- ``ppm``: the mean PPM score of those answer nodes that have one (None when none has).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from backend.tree import Tree

WEIGHTS = ("visits", "q", "ppm")


@dataclass(frozen=True)
class AnswerCluster:
    """One group of equivalent answers and the nodes that state it."""

    #: the group's display key (its first answer's ``normalize_answer``)
    answer: str
    #: the answer nodes (leaves) of the group, in id order
    leaves: tuple[int, ...]
    #: every node on a path from the root to one of the leaves (root and leaves included)
    nodes: tuple[int, ...]
    visits: int
    q: float
    ppm: float | None

    def weight(self, by: str) -> float | None:
        if by not in WEIGHTS:
            raise ValueError(f"unknown cluster weight {by!r}; choices: {', '.join(WEIGHTS)}")
        return float(self.visits) if by == "visits" else getattr(self, by)

    def to_dict(self) -> dict[str, Any]:
        return {
            "answer": self.answer,
            "leaves": list(self.leaves),
            "nodes": list(self.nodes),
            "visits": self.visits,
            "q": self.q,
            "ppm": self.ppm,
        }


def answer_clusters(tree: Tree, equal: Callable[[str, str], bool] | None = None) -> list[AnswerCluster]:
    """The tree's answer nodes (pruned ones left out) grouped by equivalence, most visited
    first (ties: the answer found first). ``equal`` defaults to math-verify's check."""
    from backend.reward.vote import AnswerTally

    tally = AnswerTally() if equal is None else AnswerTally(equal=equal)
    members: list[list[int]] = []
    for node in sorted(tree.answer_nodes(), key=lambda n: n.id):
        index = tally.add(node.answer)  # type: ignore[arg-type]
        if index == len(members):
            members.append([])
        members[index].append(node.id)
    clusters = [_cluster(tree, tally.key(i), ids) for i, ids in enumerate(members)]
    order = sorted(range(len(clusters)), key=lambda i: (-clusters[i].visits, i))
    return [clusters[i] for i in order]


def _cluster(tree: Tree, answer: str, leaves: list[int]) -> AnswerCluster:
    on_paths: set[int] = set()
    for leaf in leaves:
        cur: int | None = leaf
        while cur is not None and cur not in on_paths:
            on_paths.add(cur)
            cur = tree.nodes[cur].parent
    nodes = [tree.nodes[i] for i in leaves]
    ppms = [n.ppm for n in nodes if n.ppm is not None]
    return AnswerCluster(
        answer=answer,
        leaves=tuple(leaves),
        nodes=tuple(sorted(on_paths)),
        visits=sum(n.n for n in nodes),
        q=round(sum(n.q for n in nodes) / len(nodes), 6),
        ppm=round(sum(ppms) / len(ppms), 6) if ppms else None,
    )
