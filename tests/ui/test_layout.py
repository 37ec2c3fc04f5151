"""Tidy layout: rows by depth, no overlaps, parents centred above children, linear time."""

from __future__ import annotations

import itertools
import random
import time
from collections import defaultdict

import pytest

from ui.layout import TidyLayout, tidy_layout


def random_tree(n: int, seed: int = 0) -> dict[int, list[int]]:
    rng = random.Random(seed)
    children: dict[int, list[int]] = {0: []}
    for i in range(1, n):
        # half the nodes attach near the frontier (deep paths), half anywhere (bushy levels)
        p = rng.randrange(max(0, i - 30), i) if rng.random() < 0.5 else rng.randrange(i)
        children[p].append(i)
        children[i] = []
    return children


def check_tidy(children, pos, distance=1.0):
    rows = defaultdict(list)
    for node, (x, depth) in pos.items():
        rows[depth].append((x, node))
    for row in rows.values():
        row.sort()
        for (xa, a), (xb, b) in itertools.pairwise(row):
            assert xb - xa >= distance - 1e-9, f"nodes {a} and {b} overlap"
    for node, kids in children.items():
        if not kids:
            continue
        x, depth = pos[node]
        assert all(pos[k][1] == depth + 1 for k in kids), "a child is not one row below its parent"
        assert x == pytest.approx((pos[kids[0]][0] + pos[kids[-1]][0]) / 2), f"{node} is not centred"
        xs = [pos[k][0] for k in kids]
        assert xs == sorted(xs), "siblings are out of order"
    assert min(x for x, _ in pos.values()) == pytest.approx(0.0)


def test_small_hand_checked_tree():
    pos = tidy_layout(0, {0: [1, 2, 3], 1: [4, 5], 3: [6]})
    assert pos == {0: (1.5, 0), 1: (0.5, 1), 4: (0.0, 2), 5: (1.0, 2), 2: (1.5, 1), 3: (2.5, 1), 6: (2.5, 2)}


def test_single_node_and_chain():
    assert tidy_layout(7, {}) == {7: (0.0, 0)}
    chain = {i: [i + 1] for i in range(5000)}  # deeper than Python's recursion limit
    pos = tidy_layout(0, chain)
    assert pos[5000] == (0.0, 5000) and len(pos) == 5001


@pytest.mark.parametrize("seed", range(6))
def test_random_trees_are_tidy(seed):
    children = random_tree(400, seed)
    check_tidy(children, tidy_layout(0, children))


def test_identical_subtrees_have_identical_shapes():
    children = {0: [1, 2], 1: [3, 4, 5], 2: [6, 7, 8], 3: [], 4: [], 5: [], 6: [], 7: [], 8: []}
    pos = tidy_layout(0, children)
    left = [pos[k][0] - pos[1][0] for k in (3, 4, 5)]
    right = [pos[k][0] - pos[2][0] for k in (6, 7, 8)]
    assert left == right


def test_a_small_subtree_between_big_ones_is_spread_evenly():
    # Walker's problem case: small middle subtrees must be spaced out evenly, not bunched left
    children = {0: [1, 2, 3, 4], 1: [5, 6, 7, 8], 4: [9, 10, 11, 12]}
    pos = tidy_layout(0, children)
    gaps = [pos[b][0] - pos[a][0] for a, b in ((1, 2), (2, 3), (3, 4))]
    assert gaps == pytest.approx([gaps[0]] * 3)


def _best_time(children, repeats=3):
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        tidy_layout(0, children)
        best = min(best, time.perf_counter() - t)
    return best


def test_linear_time_on_100k_nodes():
    small, big = random_tree(10_000), random_tree(100_000)
    t_small, t_big = _best_time(small), _best_time(big, repeats=2)
    check_tidy(big, tidy_layout(0, big))
    # 10x the nodes: ~10x the time when linear, ~100x when quadratic; generous for noisy CI
    assert t_big / t_small < 50, (t_small, t_big)
    assert t_big < 10


@pytest.mark.parametrize("seed", range(8))
def test_growing_layout_equals_a_fresh_layout_after_every_insertion(seed):
    # a search adds leaves anywhere: under the root, under old leaves, deep in a path;
    # the incremental layout must be exactly (not approximately) the batch one
    rng = random.Random(seed)
    grown = TidyLayout()
    grown.add(0)
    children: dict[int, list[int]] = {0: []}
    for i in range(1, 250):
        parent = rng.choice([0, rng.randrange(i), rng.randrange(max(0, i - 8), i)])
        grown.add(i, parent)
        children[parent].append(i)
        children[i] = []
        if rng.random() < 0.4 or i == 249:  # several leaves between two reads, as in a live view
            assert grown.positions() == tidy_layout(0, children), f"after node {i}"
    check_tidy(children, grown.positions())


def test_a_new_leaf_redoes_only_its_ancestors_levels():
    children = random_tree(3000, seed=3)
    grown = TidyLayout()
    grown.add(0)
    for node in range(3000):
        for c in children[node]:
            grown.add(c, node)
    grown.update()
    ran: list[int] = []
    original = grown._level
    grown._level = lambda p: (ran.append(p), original(p))  # type: ignore[method-assign]
    grown.add(3000, 2999)
    grown.update()
    path, v = [], grown.slot[2999]
    while v >= 0:
        path.append(v)
        v = grown.parent[v]
    assert sorted(ran) == sorted(path)
    children[2999].append(3000)
    children[3000] = []
    assert grown.positions() == tidy_layout(0, children)


def test_growing_layout_rejects_a_second_root_and_a_known_node():
    lay = TidyLayout()
    lay.add("r")
    lay.add("a", "r")
    with pytest.raises(ValueError):
        lay.add("s")
    with pytest.raises(ValueError):
        lay.add("a", "r")
    with pytest.raises(KeyError):
        lay.add("b", "nowhere")
    assert lay.positions() == {"r": (0.0, 0), "a": (0.0, 1)}
