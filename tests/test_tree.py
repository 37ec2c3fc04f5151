import dataclasses

import pytest

from backend import events as ev
from backend.events import EventError
from backend.tree import Tree
from tests.factories import small_run


def test_replay_builds_the_hand_checked_tree():
    tree = Tree.from_events(small_run())
    assert tree.root_id == 0 and tree.nodes[0].children == [1, 2]
    assert (tree.nodes[1].n, tree.nodes[1].q) == (1, 1.0)
    assert (tree.nodes[2].n, tree.nodes[2].status, tree.nodes[2].output) == (0, "error", "NameError")
    assert tree.nodes[3].answer == "2" and tree.nodes[3].terminal and tree.nodes[3].ppm == 0.8
    assert tree.nodes[3].depth == 2
    assert tree.nodes[1].selection[0]["id"] == 1
    assert tree.best_path() == [0, 1, 3]
    assert tree.answer_votes() == {"2": 1}
    assert tree.finished.correct is True
    stats = tree.stats()
    assert stats["nodes"] == 4 and stats["tokens"] == 12 and stats["statuses"]["error"] == 1
    assert tree.iterations[0].root_children == [(1, 1, 1.0), (2, 0, 0.0)]


def test_replaying_the_same_events_gives_an_identical_tree():
    a, b = Tree.from_events(small_run()), Tree.from_events(small_run())
    assert {k: dataclasses.asdict(v) for k, v in a.nodes.items()} == {
        k: dataclasses.asdict(v) for k, v in b.nodes.items()
    }


def test_prefix_replay_is_the_tree_at_that_moment():
    events = small_run()
    tree = Tree.from_events(events[:5])
    assert set(tree.nodes) == {0, 1, 2} and tree.nodes[1].status == "ok" and tree.nodes[2].status is None


def test_live_best_path_prefers_highest_q_answer_then_q_descent():
    events = small_run()[:-1]  # not finished
    tree = Tree.from_events(events)
    assert tree.best_path() == [0, 1, 3]
    no_answers = Tree.from_events(events[:4])
    assert no_answers.best_path() == [0, 1]  # equal Q and N: the first child


def _renumber(events):
    return [dataclasses.replace(e, seq=i) for i, e in enumerate(events)]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda es: es[:3] + es[4:], "seq 4 but seq 3 was expected"),
        (lambda es: [es[1], *es], "seq 1 but seq 0 was expected"),
        (lambda es: _renumber(es[1:]), "first event must be run_started"),
        (lambda es: _renumber([*es[:3], es[2]]), "node 1 already exists"),
        (lambda es: _renumber([*es[:2], ev.NodeAdded(seq=0, id=9, parent=7, kind="step")]), "node 7"),
        (lambda es: _renumber([*es[:2], ev.NodeAdded(seq=0, id=9, parent=None, kind="root")]), "second root"),
        (
            lambda es: _renumber([*es[:2], ev.NodeAdded(seq=0, id=9, parent=0, kind="leaf")]),
            "unknown node kind",
        ),
        (
            lambda es: _renumber([*es[:3], ev.NodeVerified(seq=0, id=1, status="great", method="x")]),
            "unknown status",
        ),
        (
            lambda es: _renumber(
                [*es[:2], ev.Backprop(seq=0, iteration=1, path=[0], reward=1, updated=[[0, 1]])]
            ),
            "updated rows",
        ),
        (lambda es: _renumber([*es[:2], ev.UserAction(seq=0, action="dance")]), "unknown action"),
        (lambda es: _renumber([*es[:2], ev.RunFinished(seq=0, status="won")]), "unknown status"),
        (lambda es: _renumber([es[0], es[0]]), "second run_started"),
    ],
)
def test_bad_streams_raise_clear_errors(mutate, message):
    with pytest.raises(EventError, match=message):
        Tree.from_events(mutate(small_run()))


def test_prune_marks_node_and_drops_its_answer_from_votes():
    events = small_run()[:-1]
    events.append(ev.UserAction(seq=len(events), action="prune", node=3))
    tree = Tree.from_events(events)
    assert tree.nodes[3].pruned and tree.answer_votes() == {}


def test_visit_weighted_votes():
    tree = Tree.from_events(small_run())
    assert tree.answer_votes("visits") == {"2": 1}
