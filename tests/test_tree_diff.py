"""The tree diff of two runs (backend/tree_diff.py) on a hand-built pair a person can check:

    A: problem ── "Step 1: add"  ── "Step 2: double" ── "print(8)"
              └── "Step 1: guess"
    B: problem ── "Step 1:  add" ── "Step 2: double" ── "print(9)"
              │                  └── "Step 2: halve"
              └── "Step 1: think"

"Step 1:  add" (two spaces) is A's "Step 1: add"; so is the shared "Step 2: double" under it.
"""

from __future__ import annotations

import pytest

from backend import events as ev
from backend.events import EventLog
from backend.tree import Tree
from backend.tree_diff import only_in, sides, step_key, tree_diff


def run_events(run_id: str, problem: str, steps: list[tuple[int, int, str]]) -> list[ev.Event]:
    """A finished run whose nodes are (id, parent, text) after the root (id 0)."""
    log = EventLog()
    log.emit(ev.RunStarted, run_id=run_id, algorithm="rstar", problem=problem)
    log.emit(ev.NodeAdded, id=0, parent=None, kind="root", text=problem)
    for nid, parent, text in steps:
        log.emit(ev.NodeAdded, id=nid, parent=parent, kind="step", text=text)
    log.emit(ev.RunFinished, status="exhausted")
    return log.events


def build(run_id: str, problem: str, steps: list[tuple[int, int, str]]) -> Tree:
    return Tree.from_events(run_events(run_id, problem, steps))


PROBLEM = "Double 2 + 2."
A_STEPS = [(1, 0, "Step 1: add"), (2, 0, "Step 1: guess"), (3, 1, "Step 2: double"), (4, 3, "print(8)")]
B_STEPS = [
    (1, 0, "Step 1:  add"),
    (2, 0, "Step 1: think"),
    (3, 1, "Step 2: double"),
    (4, 1, "Step 2: halve"),
    (5, 3, "print(9)"),
]
A, B = build("ra", PROBLEM, A_STEPS), build("rb", PROBLEM, B_STEPS)


def test_shared_prefixes_are_merged_and_the_rest_is_marked_by_run():
    g = tree_diff(A, B)
    by_text = {step_key(d["text"]): (d["side"], d["a"], d["b"]) for _, d in g.nodes(data=True)}
    assert by_text == {
        PROBLEM: ("both", [0], [0]),
        "Step 1: add": ("both", [1], [1]),
        "Step 2: double": ("both", [3], [3]),
        "Step 1: guess": ("a", [2], []),
        "print(8)": ("a", [4], []),
        "Step 1: think": ("b", [], [2]),
        "Step 2: halve": ("b", [], [4]),
        "print(9)": ("b", [], [5]),
    }
    assert sides(g) == {"both": 3, "a": 2, "b": 3}
    assert only_in(g, "a") == {2, 4} and only_in(g, "b") == {2, 4, 5}
    # the merged tree keeps the runs' shape: every edge is a parent -> child of both or of one run
    edges = {(step_key(g.nodes[u]["text"]), step_key(g.nodes[v]["text"])) for u, v in g.edges}
    assert ("Step 2: double", "print(9)") in edges and ("Step 2: double", "print(8)") in edges
    assert ("Step 1: add", "Step 2: halve") in edges and len(edges) == g.number_of_nodes() - 1


def test_a_run_against_itself_has_no_difference_and_repeated_steps_fold():
    assert sides(tree_diff(A, A)) == {"both": 5, "a": 0, "b": 0}
    twice = build("rt", PROBLEM, [(1, 0, "Step 1: add"), (2, 0, "Step 1: add")])
    g = tree_diff(twice, A)
    step = next(d for _, d in g.nodes(data=True) if d["text"] == "Step 1: add")
    assert step["a"] == [1, 2] and step["b"] == [1] and step["side"] == "both"


def test_different_problems_are_refused():
    with pytest.raises(ValueError, match="same problem"):
        tree_diff(A, build("rc", "Another problem.", []))
