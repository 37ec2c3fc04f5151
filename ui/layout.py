"""Tidy tree layout in linear time (Buchheim, Jünger & Leipert 2002, improving Walker 1990).

"Improving Walker's Algorithm to Run in Linear Time", Graph Drawing 2002, LNCS 2528,
https://doi.org/10.1007/3-540-36151-0_32. The result is the classic tidy drawing: nodes of
one depth on one row, siblings in their order, a parent centred over its first and last
child, subtrees packed as close as possible but never overlapping (at least ``distance``
apart on every row), and identical subtrees drawn identically.

networkx has no tidy layout, and graphviz's ``dot`` is neither linear nor a Python
dependency we want, hence this file. Everything is iterative (a search tree can be a
10,000-step chain; Python's recursion limit is 1,000) and uses flat lists indexed by a
dense node number, which keeps 100k nodes well under a second.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def tidy_layout(
    root: int, children: Mapping[int, Sequence[int]], distance: float = 1.0
) -> dict[int, tuple[float, int]]:
    """``{node: (x, depth)}`` for the tree under ``root``; the leftmost x is 0."""
    # Dense numbering in pre-order, so every array below is a plain list.
    ids: list[int] = []
    parent: list[int] = []
    depth: list[int] = []
    stack = [(root, -1, 0)]
    while stack:
        node, par, d = stack.pop()
        ids.append(node)
        parent.append(par)
        depth.append(d)
        for c in reversed(children.get(node, ())):
            stack.append((c, len(ids) - 1, d + 1))
    n = len(ids)
    kids: list[list[int]] = [[] for _ in range(n)]
    for i in range(1, n):
        kids[parent[i]].append(i)
    number = [0] * n  # position among siblings
    for ks in kids:
        for j, k in enumerate(ks):
            number[k] = j

    x = [0.0] * n
    mod = [0.0] * n
    change = [0.0] * n
    shift = [0.0] * n
    thread = [-1] * n
    ancestor = list(range(n))
    default_anc = [ks[0] if ks else -1 for ks in kids]

    def left(v: int) -> int:
        return kids[v][0] if kids[v] else thread[v]

    def right(v: int) -> int:
        return kids[v][-1] if kids[v] else thread[v]

    def move_subtree(wl: int, wr: int, amount: float) -> None:
        subtrees = number[wr] - number[wl]
        change[wr] -= amount / subtrees
        shift[wr] += amount
        change[wl] += amount / subtrees
        x[wr] += amount
        mod[wr] += amount

    def apportion(v: int, default: int) -> int:
        if number[v] == 0:
            return default
        siblings = kids[parent[v]]
        w = siblings[number[v] - 1]
        vir = vor = v
        vil = w
        vol = siblings[0]
        sir = sor = mod[v]
        sil, sol = mod[vil], mod[vol]
        while right(vil) >= 0 and left(vir) >= 0:
            vil, vir = right(vil), left(vir)
            vol, vor = left(vol), right(vor)
            ancestor[vor] = v
            gap = (x[vil] + sil) - (x[vir] + sir) + distance
            if gap > 0:
                anc = ancestor[vil] if parent[ancestor[vil]] == parent[v] else default
                move_subtree(anc, v, gap)
                sir += gap
                sor += gap
            sil += mod[vil]
            sir += mod[vir]
            sol += mod[vol]
            sor += mod[vor]
        if right(vil) >= 0 and right(vor) < 0:
            thread[vor] = right(vil)
            mod[vor] += sil - sor
        else:
            if left(vir) >= 0 and left(vol) < 0:
                thread[vol] = left(vir)
                mod[vol] += sir - sol
            default = v
        return default

    # First walk: post-order (reverse of a pre-order that visits children right to left
    # is a post-order that visits them left to right).
    order: list[int] = []
    stack2 = [0]
    while stack2:
        v = stack2.pop()
        order.append(v)
        stack2.extend(kids[v])
    for v in reversed(order):
        ks = kids[v]
        lbro = kids[parent[v]][number[v] - 1] if v and number[v] > 0 else -1
        if not ks:
            x[v] = x[lbro] + distance if lbro >= 0 else 0.0
        else:
            s = c = 0.0
            for w in reversed(ks):  # execute_shifts
                x[w] += s
                mod[w] += s
                c += change[w]
                s += shift[w] + c
            mid = (x[ks[0]] + x[ks[-1]]) / 2
            if lbro >= 0:
                x[v] = x[lbro] + distance
                mod[v] = x[v] - mid
            else:
                x[v] = mid
        if v:
            default_anc[parent[v]] = apportion(v, default_anc[parent[v]])

    # Second walk: pre-order, summing modifiers down the tree.
    final = [0.0] * n
    stack3 = [(0, 0.0)]
    while stack3:
        v, m = stack3.pop()
        final[v] = x[v] + m
        for w in kids[v]:
            stack3.append((w, m + mod[v]))
    lo = min(final) if final else 0.0
    return {ids[i]: (final[i] - lo, depth[i]) for i in range(n)}
