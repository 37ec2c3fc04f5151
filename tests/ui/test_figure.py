"""The tree and convergence figures and the inspector, built from event streams."""

from __future__ import annotations

import json

from backend import events as ev
from backend.tree import Tree
from tests.factories import small_run
from tests.ui.demo_search import make_demo
from ui.figure import WEBGL_FROM, color_values, hover_text, marker_size, tree_figure
from ui.figure import convergence_figure as conv
from ui.inspector import answer_panel, md_text, node_view, stats_panel


def demo_tree(**cfg) -> Tree:
    s = make_demo(delay_s=0, **cfg)
    s.run()
    return Tree.from_events(s.log.events)


def points(fig):
    """{node id: what the figure says about it} across the per-style node traces."""
    out = {}
    for k, i in enumerate(fig["node_traces"]):
        t = fig["data"][i]
        for j, row in enumerate(t["customdata"]):
            out[row[0]] = {
                "x": t["x"][j],
                "y": t["y"][j],
                "size": t["marker"]["size"][j],
                "symbol": t["marker"]["symbol"],
                "outline": t["marker"]["line"]["color"],
                "q": color_values(fig, "q")[k][j],
                "ppm": color_values(fig, "ppm")[k][j],
                "visits": color_values(fig, "visits")[k][j],
                "depth": color_values(fig, "depth")[k][j],
                "label": t["meta"],
                "text": t["text"][j],
            }
    return out


def test_tree_figure_encodes_q_size_status_and_best_path():
    tree = Tree.from_events(small_run())
    fig = tree_figure(tree)
    p = points(fig)
    assert set(p) == {0, 1, 2, 3} and fig["count"] == 4
    assert p[0]["y"] == 0 and p[3]["y"] == -2  # root on top, one row per depth
    assert p[2]["symbol"] == "x" and p[2]["outline"] == "#d73027" and p[2]["label"] == "code failed"
    assert p[3]["symbol"] == "diamond" and p[3]["label"] == "answer (ungraded)"
    assert p[1]["size"] == marker_size(1) > p[2]["size"] == marker_size(0)
    assert p[1]["q"] == 1.0 and fig["colors"]["q"]["cmin"] == -1 and p[3]["ppm"] == 0.8
    assert p[1]["ppm"] == 0.0  # no score yet: neutral
    assert (p[3]["visits"], p[3]["depth"]) == (1, 2) and fig["colors"]["depth"]["cmax"] == 2
    assert p[0]["x"] == (p[1]["x"] + p[2]["x"]) / 2  # tidy: parent centred over its children
    assert fig["best"] == [0, 1, 3] and len(fig["data"][1]["x"]) == 3
    # one colour bar for all node traces
    assert [fig["data"][i]["marker"]["showscale"] for i in fig["node_traces"]].count(True) == 1
    assert fig["layout"]["uirevision"] == "r1"  # zoom survives updates of this run
    json.dumps(fig)  # what Gradio sends must be plain JSON


def test_one_trace_per_verification_style():
    fig = tree_figure(demo_tree(iterations=12))
    symbols = [fig["data"][i]["marker"]["symbol"] for i in fig["node_traces"]]
    assert len(symbols) == len(set(symbols)) or len(
        {fig["data"][i]["meta"] for i in fig["node_traces"]}
    ) == len(symbols)
    assert sum(len(fig["data"][i]["x"]) for i in fig["node_traces"]) == fig["count"]
    assert all(isinstance(fig["data"][i]["marker"]["symbol"], str) for i in fig["node_traces"])


def test_edges_join_each_child_to_its_parent():
    fig = tree_figure(Tree.from_events(small_run()))
    edges = fig["data"][0]
    assert len(edges["x"]) == 3 * 3 and edges["x"][2::3] == [None, None, None]


def test_fresh_nodes_are_the_ones_added_after_the_previous_update():
    events = small_run()
    tree = Tree.from_events(events[:8])
    assert set(tree_figure(tree, fresh_after=2)["fresh"]) == {2, 3}  # node 2 came at seq 3, node 3 at 7
    assert tree_figure(tree, fresh_after=3)["fresh"] == [3]
    assert tree_figure(tree)["fresh"] == []


def test_hover_text_is_short_and_escaped():
    tree = Tree.from_events(small_run())
    node = tree.nodes[1]
    node.text = "line <b>one</b>\n" + "x" * 200 + "\nthree\nfour"
    text = hover_text(node)
    assert "&lt;b&gt;" in text and text.count("<br>") == 2 and "four" not in text and "…" in text


def test_big_trees_switch_to_webgl():
    tree = demo_tree(iterations=700, width=4, depth=6)
    assert len(tree.nodes) >= WEBGL_FROM
    fig = tree_figure(tree)
    assert {d["type"] for d in fig["data"]} == {"scattergl"}
    small = tree_figure(Tree.from_events(small_run()))
    assert {d["type"] for d in small["data"]} == {"scatter"}
    big_texts = [t for i in fig["node_traces"] for t in fig["data"][i]["text"]]
    assert all("<br>" not in t and len(t) <= 60 for t in big_texts)  # one short hover line each


def test_empty_tree_has_no_traces():
    tree = Tree.from_events(small_run()[:1])
    fig = tree_figure(tree)
    assert fig["count"] == 0 and fig["data"] == []


def test_convergence_tracks_root_children_and_votes():
    tree = demo_tree(iterations=10)
    fig = conv(tree)
    names = [d["name"] for d in fig["data"]]
    assert any(n.endswith(" N") for n in names) and any(n.startswith("answer ") for n in names)
    assert all(len(d["x"]) == 10 for d in fig["data"])
    votes = next(d for d in fig["data"] if d["name"] == "answer 18")["y"]
    assert votes == sorted(votes)  # votes only accumulate


def test_inspector_shows_text_code_output_verification_and_uct():
    tree = Tree.from_events(small_run())
    v = node_view(tree, 1)
    assert "Node #1" in v.title and "code ran" in v.title
    assert v.code == "x = 1 + 1" and "**ok** by python" in v.verification
    assert "**Q** 1.000" in v.numbers and "**N** 1" in v.numbers
    assert v.uct[0][0] == "#1" and v.uct[0][-1] == "◀"
    assert v.path.splitlines()[0].startswith("0. #0")
    failed = node_view(tree, 2)
    assert failed.output == "NameError" and "code failed" in failed.title
    assert "does not" in node_view(tree, 99).title or "not in this tree" in node_view(tree, 99).title


def test_answer_and_stats_panels():
    tree = Tree.from_events(small_run())
    assert "Final answer: 2" in answer_panel(tree) and "correct" in answer_panel(tree)
    live = Tree.from_events(small_run()[:-1])
    assert "Best answer so far: 2" in answer_panel(live)
    assert "**1** iterations" in stats_panel(tree) and "**4** nodes" in stats_panel(tree)


def test_markdown_text_keeps_comments_and_money_literal():
    assert md_text("# Step 1: pay $18 for $x$") == "\\# Step 1: pay \\$18 for $x$"


def test_stopped_and_error_runs_say_so():
    events = small_run()[:-1]
    events.append(ev.RunFinished(seq=len(events), status="error", error="engine died"))
    text = answer_panel(Tree.from_events(events))
    assert "run error" in text and "engine died" in text
