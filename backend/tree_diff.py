"""The diff of two runs' trees on the same problem: shared prefixes merged by step text.

Two nodes are "the same step" when their parents are the same merged node and their texts
match once whitespace runs are made one space (``step_key``); the roots are merged when the
problems match. So a path both searches wrote is drawn once, and where they part the steps
are marked as only in A or only in B. Several siblings of one run with the same text (a
search that wrote a step twice) fold into one merged node that lists both ids.

The result is a ``networkx.DiGraph`` (edges parent -> child) whose nodes are merged-node
numbers (0 is the root, then breadth-first, children in the order A then B wrote them) with
attributes ``text``, ``side`` ("both", "a" or "b"), ``a`` / ``b`` (the node ids of each run
it stands for) and ``depth``.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import networkx as nx

from backend.tree import Tree

SIDES = ("both", "a", "b")


def step_key(text: str) -> str:
    """What two steps must share to be merged: their text, whitespace runs made one space."""
    return " ".join((text or "").split())


def tree_diff(a: Tree, b: Tree) -> nx.DiGraph:
    """The merged tree of ``a`` and ``b`` (see the module docstring); a ValueError when
    either has no root or their problems differ."""
    if a.root is None or b.root is None:
        raise ValueError("both runs need a tree to compare")
    if step_key(a.root.text) != step_key(b.root.text):
        raise ValueError("the two runs are not on the same problem: a tree diff needs one problem")
    g = nx.DiGraph()
    g.add_node(0, text=a.root.text, side="both", a=[a.root.id], b=[b.root.id], depth=0)
    queue: deque[int] = deque([0])
    while queue:
        m = queue.popleft()
        data = g.nodes[m]
        children: dict[str, dict[str, Any]] = {}  # step key -> merged child's fields, in order
        for run, tree in (("a", a), ("b", b)):
            for nid in data[run]:
                for cid in tree.nodes[nid].children:
                    child = tree.nodes[cid]
                    entry = children.setdefault(step_key(child.text), {"text": child.text, "a": [], "b": []})
                    entry[run].append(cid)
        for entry in children.values():
            k = g.number_of_nodes()
            side = "both" if entry["a"] and entry["b"] else ("a" if entry["a"] else "b")
            g.add_node(k, text=entry["text"], side=side, a=entry["a"], b=entry["b"], depth=data["depth"] + 1)
            g.add_edge(m, k)
            queue.append(k)
    return g


def sides(g: nx.DiGraph) -> dict[str, int]:
    """How many merged nodes are shared, only in A and only in B."""
    out = dict.fromkeys(SIDES, 0)
    for _, side in g.nodes(data="side"):
        out[side] += 1
    return out


def only_in(g: nx.DiGraph, side: str) -> set[int]:
    """The node ids of run ``side`` ("a" or "b") that the other run has no step for."""
    return {nid for _, d in g.nodes(data=True) if d["side"] == side for nid in d[side]}
