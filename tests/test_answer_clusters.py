"""Answer clusters over real folded trees: equivalence by math-verify, weights, paths."""

from __future__ import annotations

import pytest

from backend import events as ev
from backend.answer_clusters import answer_clusters
from backend.events import EventLog
from backend.search.mcts import MCTSConfig
from backend.tree import Tree
from tests.search.helpers import Toy, ToySearch


def _tree_with_answers() -> Tree:
    """root -> 1 -> {3: "0.5", 4: "\\frac{1}{2}"}, root -> 2 -> {5: "7"}; 6: "7" pruned later."""
    log = EventLog(clock=iter(range(1000)).__next__)
    log.emit(ev.RunStarted, run_id="r", algorithm="rstar", problem="p")
    log.emit(ev.NodeAdded, id=0, parent=None, kind="root", text="p")
    for nid, parent in ((1, 0), (2, 0)):
        log.emit(ev.NodeAdded, id=nid, parent=parent, kind="step", text=f"s{nid}")
    answers = {3: (1, "0.5"), 4: (1, "\\frac{1}{2}"), 5: (2, "7"), 6: (2, "7")}
    for nid, (parent, answer) in answers.items():
        log.emit(ev.NodeAdded, id=nid, parent=parent, kind="answer", terminal=True)
        log.emit(ev.NodeVerified, id=nid, status="answered", method="python", answer=answer)
    log.emit(ev.NodeScored, id=3, score=0.9, source="ppm")
    log.emit(ev.NodeScored, id=5, score=0.2, source="ppm")
    rows = {3: (2, 0.5), 4: (1, -0.5), 5: (1, 1.0), 6: (9, 1.0)}
    updated = [[k, n, q] for k, (n, q) in rows.items()]
    log.emit(ev.Backprop, iteration=0, path=[3], reward=0.0, updated=updated)
    log.emit(ev.UserAction, action="prune", node=6)
    return Tree.from_events(log.events)


def test_equivalent_answers_form_one_cluster_with_its_leaves_and_paths():
    clusters = answer_clusters(_tree_with_answers())
    assert [c.answer for c in clusters] == ["0.5", "7"]  # 3 visits before 1
    half, seven = clusters
    assert half.leaves == (3, 4)  # 0.5 and \frac{1}{2} are one answer (math-verify)
    assert half.nodes == (0, 1, 3, 4)
    assert seven.leaves == (5,)  # the pruned 6 is no longer an answer of the tree
    assert seven.nodes == (0, 2, 5)


def test_weights_visits_mean_q_and_mean_ppm_of_scored_leaves():
    half, seven = answer_clusters(_tree_with_answers())
    assert (half.weight("visits"), half.weight("q"), half.weight("ppm")) == (3.0, 0.0, 0.9)
    assert (seven.weight("visits"), seven.weight("q"), seven.weight("ppm")) == (1.0, 1.0, 0.2)
    with pytest.raises(ValueError, match="choices"):
        half.weight("votes")


def test_no_ppm_score_gives_none_and_a_tree_without_answers_has_no_clusters():
    tree = _tree_with_answers()
    tree.nodes[3].scores = None
    half = answer_clusters(tree)[0]
    assert half.ppm is None and half.to_dict()["ppm"] is None
    empty = Tree.from_events(_tree_events_without_answers())
    assert answer_clusters(empty) == []


def _tree_events_without_answers() -> list[ev.Event]:
    log = EventLog()
    log.emit(ev.RunStarted, run_id="r", algorithm="rstar", problem="p")
    log.emit(ev.NodeAdded, id=0, parent=None, kind="root", text="p")
    return log.events


def test_clusters_of_a_real_search_cover_every_answer_leaf_once():
    toy = {
        "root": [Toy("A"), Toy("B")],
        "A": [Toy("A1", "answer", "5"), Toy("A2", "answer", "5.0")],
        "B": [Toy("B1", "answer", "7"), Toy("B2", "answer", "5")],
    }
    search = ToySearch(toy, config=MCTSConfig(rollouts=6, children=2))
    search.run()
    tree = Tree.from_events(search.log.events)
    clusters = answer_clusters(tree)
    by_answer = {c.answer: c for c in clusters}
    assert set(by_answer) == {"5", "7"}
    leaves = sorted(i for c in clusters for i in c.leaves)
    assert leaves == sorted(n.id for n in tree.answer_nodes())
    assert by_answer["5"].visits == sum(tree.nodes[i].n for i in by_answer["5"].leaves)
    assert len(by_answer["5"].leaves) == 3
