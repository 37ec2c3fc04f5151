"""The tree and convergence figures and the inspector, built from event streams."""

from __future__ import annotations

import json
import random

import pytest

from backend import events as ev
from backend.tree import Tree
from tests.factories import small_run
from tests.ui.scripted_runs import make_run
from ui.figure import (
    CONVERGENCE_POINTS,
    STYLES,
    WEBGL_FROM,
    FigureStream,
    apply_delta,
    color_values,
    default_color_mode,
    hover_text,
    marker_size,
    node_table,
    sampled,
    touched_by,
    tree_figure,
)
from ui.figure import convergence_figure as conv
from ui.inspector import DOLLAR, answer_panel, md_text, node_view, stats_panel

#: a CPL run of about 1,800 nodes (past WEBGL_FROM), bounded by its expansions
BIG = {"algorithm": "cpl", "rollouts": 10_000, "expansions": 450, "children": 4, "max_depth": 8}


def run_events(**cfg) -> list[ev.Event]:
    s = make_run(**cfg)
    s.run()
    return s.log.events


def search_tree(**cfg) -> Tree:
    return Tree.from_events(run_events(**cfg))


def points(fig):
    """{node id: what the figure says about it}, from the node table."""
    out = {}
    q, ppm, visits, depth = (color_values(fig, m) for m in ("q", "ppm", "visits", "depth"))
    for k, (nid, row) in enumerate(node_table(fig).items()):
        symbol, outline, label = STYLES[row["style"]]
        out[nid] = {
            "x": row["x"],
            "y": -row["depth"],
            "parent": row["parent"],
            "size": row["size"],
            "symbol": symbol,
            "outline": outline,
            "label": label,
            "q": q[k],
            "ppm": ppm[k],
            "visits": visits[k],
            "depth": depth[k],
            "text": row["text"],
        }
    return out


def test_tree_figure_encodes_q_size_status_and_best_path():
    tree = Tree.from_events(small_run())
    fig = tree_figure(tree)
    p = points(fig)
    assert fig["kind"] == "full" and set(p) == {0, 1, 2, 3} and fig["count"] == 4
    assert p[0]["y"] == 0 and p[3]["y"] == -2  # root on top, one row per depth
    assert p[2]["symbol"] == "x" and p[2]["outline"] == "#d73027" and p[2]["label"] == "code failed"
    assert p[3]["symbol"] == "diamond" and p[3]["label"] == "answer (ungraded)"
    assert p[1]["size"] == marker_size(1) > p[2]["size"] == marker_size(0)
    assert p[1]["q"] == 1.0 and fig["colors"]["q"]["cmin"] == -1 and p[3]["ppm"] == 0.8
    assert p[1]["ppm"] is None  # no score: not scored (grey in the page), never the scale's 0
    assert fig["has_ppm"] is True and default_color_mode(fig) == "ppm"  # a scored node: PPM colouring
    assert (p[3]["visits"], p[3]["depth"]) == (1, 2) and fig["colors"]["depth"]["cmax"] == 2
    assert p[0]["x"] == (p[1]["x"] + p[2]["x"]) / 2  # tidy: parent centred over its children
    assert fig["best"] == [0, 1, 3]
    assert [row[2] for row in fig["styles"]] == [label for _, _, label in STYLES]
    assert fig["layout"]["uirevision"] == "r1"  # zoom survives updates of this run
    json.dumps(fig)  # what Gradio sends must be plain JSON


def test_every_style_is_one_row_of_the_style_table():
    fig = tree_figure(search_tree(rollouts=2, children=3, max_depth=3))  # rStar: code ran, failed, answers
    used = set(fig["nodes"]["style"])
    assert used <= set(range(len(STYLES))) and len(used) >= 2
    assert len({label for _, _, label in STYLES}) == len(STYLES)  # labels tell styles apart
    pruned = next(r for r in fig["styles"] if r[2] == "pruned")
    assert pruned[3] < 1  # faded


def test_each_node_names_its_parent():
    p = points(tree_figure(Tree.from_events(small_run())))
    assert {i: v["parent"] for i, v in p.items()} == {0: None, 1: 0, 2: 0, 3: 1}


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
    tree = search_tree(**BIG)
    assert len(tree.nodes) >= WEBGL_FROM
    fig = tree_figure(tree)
    assert fig["big"] is True
    assert tree_figure(Tree.from_events(small_run()))["big"] is False
    assert all("<br>" not in t and len(t) <= 60 for t in fig["nodes"]["text"])  # one short hover line each
    assert max(fig["nodes"]["size"]) <= marker_size(10**6, big=True) < marker_size(10**6)


def test_empty_tree_has_no_nodes():
    tree = Tree.from_events(small_run()[:1])
    fig = tree_figure(tree)
    assert fig["count"] == 0 and fig["nodes"]["id"] == []


# --- incremental updates -------------------------------------------------------------------


def fold_live(events, chunks, touched=True, check_every=1):
    """Feed ``events`` to a FigureStream in chunks, as a live stream does; after each chunk
    (every ``check_every``-th, and the last) the page's table (full figures and deltas
    applied in order) must equal the whole figure of the tree folded so far."""
    stream, tree, page, sent = FigureStream(), Tree(), None, []
    i = 0
    for n, size in enumerate(chunks):
        chunk = events[i : i + size]
        i += size
        if not chunk:
            break
        for e in chunk:
            tree.apply(e)
        fresh = tree.last_seq - len(chunk)
        v = stream.figure(tree, fresh_after=fresh, touched=touched_by(chunk) if touched else None)
        json.dumps(v)
        sent.append(v)
        page = v if page is None else apply_delta(page, v)
        if n % check_every and i < len(events):
            continue
        whole = tree_figure(tree, fresh_after=fresh)
        assert node_table(page) == node_table(whole), f"after event {tree.last_seq}"
        for key in ("rev", "count", "best", "fresh", "flags", "has_ppm", "colors"):
            assert page[key] == whole[key], key
    return sent


def test_deltas_fold_to_the_whole_figure():
    events = run_events(**BIG)  # crosses WEBGL_FROM on the way
    rng = random.Random(3)
    chunks = [rng.choice([1, 1, 2, 5, 13, 40, 120]) for _ in range(len(events))]
    sent = fold_live(events, chunks, check_every=3)
    kinds = [v["kind"] for v in sent]
    assert kinds[0] == "full" and kinds.count("delta") > 0.9 * len(kinds)
    switch = next(k for k, v in enumerate(sent) if v["count"] >= WEBGL_FROM)
    assert sent[switch]["kind"] == "full" and sent[switch]["big"]  # SVG -> WebGL: sent whole
    fold_live(events, chunks, touched=False, check_every=7)  # without the hint: same tables


def test_a_delta_holds_only_what_changed():
    events = run_events(algorithm="cpl", rollouts=60, children=4)  # about 600 nodes
    adds = [k for k, e in enumerate(events) if isinstance(e, ev.NodeAdded)]
    cut = adds[-1]  # everything before the last node, then that node with what follows it
    stream = FigureStream()
    tree = Tree.from_events(events[:cut])
    whole = stream.figure(tree)
    for e in events[cut:]:
        tree.apply(e)
    d = stream.figure(tree, fresh_after=cut - 1, touched=touched_by(events[cut:]))
    assert d["kind"] == "delta" and d["base"] == cut - 1 and d["rev"] == tree.last_seq
    assert d["add"]["id"] == [events[cut].id] and d["fresh"] == [events[cut].id]
    assert set(d["upd"]["id"]) <= touched_by(events[cut:])  # backed-up paths, verified and scored nodes
    assert len(json.dumps(d)) < len(json.dumps(whole)) / 10


def test_layout_shifts_are_sent_as_moves():
    # a new child under the leftmost leaf widens that subtree: its right neighbours move
    base = [
        ev.RunStarted(seq=0, run_id="m", algorithm="a", problem="p"),
        ev.NodeAdded(seq=1, id=0, parent=None, kind="root"),
        ev.NodeAdded(seq=2, id=1, parent=0, kind="step"),
        ev.NodeAdded(seq=3, id=2, parent=0, kind="step"),
        ev.NodeAdded(seq=4, id=3, parent=1, kind="step"),
    ]
    stream = FigureStream()
    page = stream.figure(Tree.from_events(base))
    more = [
        ev.NodeAdded(seq=5, id=4, parent=1, kind="step"),
        ev.NodeAdded(seq=6, id=5, parent=1, kind="step"),
    ]
    tree = Tree.from_events(base + more)
    d = stream.figure(tree, touched=touched_by(more))
    moved = dict(zip(d["mv"]["id"], d["mv"]["x"], strict=True)) if "mv" in d else None
    assert d["kind"] == "delta" and (moved or "xs" in d)
    assert node_table(apply_delta(page, d)) == node_table(tree_figure(tree))


def test_a_page_out_of_sync_or_a_new_run_gets_the_whole_figure():
    events = small_run()
    stream = FigureStream()
    first = stream.figure(Tree.from_events(events[:5]))
    second = stream.figure(Tree.from_events(events[:9]))
    assert second["kind"] == "delta" and second["base"] == first["rev"]
    stale = {**first, "rev": first["rev"] - 1}
    with pytest.raises(ValueError, match="out of sync"):
        apply_delta(stale, second)
    stream.reset()  # the page asked for a resync
    assert stream.figure(Tree.from_events(events))["kind"] == "full"
    other = [
        ev.RunStarted(seq=0, run_id="other", algorithm="a", problem="p"),
        ev.NodeAdded(seq=1, id=0, parent=None, kind="root"),
    ]
    assert stream.figure(Tree.from_events(other))["kind"] == "full"


def test_convergence_is_sampled_on_long_runs():
    items = list(range(2500))
    kept = sampled(items)
    assert len(kept) <= CONVERGENCE_POINTS and kept[0] == 0 and kept[-1] == 2499
    assert kept == sorted(set(kept)) and sampled(items[:10]) == items[:10]
    assert sampled(items[:2400])[:100] == kept[:100]  # earlier samples stay put as the run grows


def test_convergence_tracks_root_children_and_votes():
    tree = search_tree(algorithm="cpl", rollouts=10, children=4)
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
    assert "| PPM | Q | N |" in v.numbers and "| not scored | 1.000 | 1 |" in v.numbers
    assert v.uct[0][0] == "#1 ◀"  # the chosen one is marked in its id cell
    assert v.path.splitlines()[0].startswith("0. #0")
    failed = node_view(tree, 2)
    assert failed.output == "NameError" and "code failed" in failed.title
    assert "does not" in node_view(tree, 99).title or "not in this tree" in node_view(tree, 99).title


def test_answer_and_stats_panels():
    tree = Tree.from_events(small_run())
    assert "Final answer: 2" in answer_panel(tree) and "correct" in answer_panel(tree)
    live = Tree.from_events(small_run()[:-1])
    assert "Best answer so far: 2" in answer_panel(live)
    assert "**1** iteration ·" in stats_panel(tree) and "**4** nodes" in stats_panel(tree)


def test_markdown_text_keeps_comments_and_money_literal():
    d = DOLLAR
    assert md_text("# Step 1: pay $18 for $x$") == f"\\# Step 1: pay {d}18 for $x$"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("costs $2 and $3", "costs {d}2 and {d}3"),  # issue 6: was one formula "2 and "
        ("Pens cost $2.50, or 3$ each", "Pens cost {d}2.50, or 3{d} each"),
        ("I have $5 and $x$ more", "I have {d}5 and $x$ more"),
        ("solve $2x+1=5$ now", "solve $2x+1=5$ now"),  # a formula may start with a digit
        ("$x^2 = 9$ so $18", "$x^2 = 9$ so {d}18"),
        ("$$\\frac{a}{b}$$ and $1", "$$\\frac{a}{b}$$ and {d}1"),
        ("a lone $ sign, and \\$5 escaped", "a lone {d} sign, and {d}5 escaped"),
        ("code `x = $1` stays", "code <code>x = {d}1</code> stays"),
        # a code span's body sits in raw HTML, whose content Markdown still parses: what it could
        # read as markup is a character reference there (ui/escape.py)
        ("`` a`b ``, `a < b`, an open ` tick", "<code>a&#96;b</code>, <code>a &lt; b</code>, an open ` tick"),
        ("<b>$1</b>", "&lt;b&gt;{d}1&lt;/b&gt;"),
    ],
)
def test_dollars_are_money_unless_they_delimit_a_formula(text, shown):
    assert md_text(text) == shown.replace("{d}", DOLLAR)


def test_stopped_and_error_runs_say_so():
    events = small_run()[:-1]
    events.append(ev.RunFinished(seq=len(events), status="error", error="engine died"))
    text = answer_panel(Tree.from_events(events))
    assert "run error" in text and "engine died" in text
