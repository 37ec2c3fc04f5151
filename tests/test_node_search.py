"""Node search over a searched tree: words, answers, statuses, kinds, ids."""

from __future__ import annotations

from backend.node_search import search_nodes
from backend.steering import replay
from backend.tree import Tree
from tests.search.test_steering import rstar_spec
from tests.ui.scripted_runs import scripted_engine


def _tree() -> Tree:
    return Tree.from_events(replay(rstar_spec(), scripted_engine(), []).log.events)


def test_words_answers_statuses_kinds_and_ids_find_exactly_the_matching_nodes():
    tree = _tree()
    nodes = tree.nodes.values()
    failing = sorted(n.id for n in nodes if "undefined_name" in (n.code or ""))
    assert failing and search_nodes(tree, "undefined_name") == failing
    assert search_nodes(tree, "UNDEFINED_NAME")  # without case
    assert search_nodes(tree, "status:error") == sorted(n.id for n in nodes if n.status == "error")
    eighteen = search_nodes(tree, "answer:18.0")
    assert eighteen and eighteen == sorted(n.id for n in nodes if n.answer == "18")
    assert search_nodes(tree, "kind:root") == [tree.root_id]
    assert search_nodes(tree, "#3") == [3]
    # every word must hold
    both = search_nodes(tree, "print status:ok")
    assert both and all("print" in (tree.nodes[i].code or "") and tree.nodes[i].status == "ok" for i in both)
    assert search_nodes(tree, "") == [] and search_nodes(tree, "no-such-words-here") == []
    assert len(search_nodes(tree, "status:ok", limit=2)) == 2
