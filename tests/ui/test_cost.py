"""The cost view (ui/cost.py): per-node costs split into generation, execution and
verification, the per-run breakdown, and the tree coloured by cost."""

from __future__ import annotations

import pytest

from backend import events as ev
from backend.events import EventLog
from backend.tree import Tree
from ui.cost import breakdown, breakdown_markdown, cost_figure, node_cost


def costly_run(stats: dict | None = None) -> Tree:
    """Root; #1 code step (12 tokens, 300 ms to write, 40 ms to run); #2 answer (5 tokens,
    100 ms, graded in 7 ms); #3 CPL-like plan step checked by format (2 ms). Wall 1.0 s."""
    log = EventLog(clock=iter([0.0, 0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 1.0]).__next__)
    log.emit(ev.RunStarted, run_id="c1", algorithm="rstar", problem="2+2?")
    log.emit(ev.NodeAdded, id=0, parent=None, kind="root", text="2+2?")
    log.emit(ev.NodeAdded, id=1, parent=0, kind="step", text="x = 2 + 2", tokens=12, gen_ms=300.0)
    log.emit(ev.NodeVerified, id=1, status="ok", method="python", ms=40.0)
    log.emit(ev.NodeAdded, id=2, parent=1, kind="answer", text="print(x)", tokens=5, gen_ms=100.0)
    log.emit(ev.NodeVerified, id=2, status="answered", method="answer", ms=7.0, answer="4")
    log.emit(ev.NodeAdded, id=3, parent=0, kind="plan", text="Plan 1", tokens=3, gen_ms=50.0)
    log.emit(ev.NodeVerified, id=3, status="ok", method="format", ms=2.0)
    log.emit(ev.RunFinished, status="solved", answer="4", best_path=[0, 1, 2], stats=stats or {"wall_s": 1.0})
    return Tree.from_events(log.events)


def test_a_check_that_ran_code_is_execution_the_others_verification():
    tree = costly_run()
    assert [node_cost(tree.nodes[1], m) for m in ("tokens", "gen_ms", "exec_ms", "verify_ms")] == [
        12,
        300,
        40,
        0,
    ]
    assert [node_cost(tree.nodes[2], m) for m in ("exec_ms", "verify_ms")] == [0, 7]
    assert node_cost(tree.nodes[3], "verify_ms") == 2
    with pytest.raises(ValueError, match="unknown cost mode"):
        node_cost(tree.nodes[1], "price")


def test_the_breakdown_adds_up_to_the_wall_time():
    b = breakdown(costly_run())
    assert (b["tokens"], b["gen_ms"], b["exec_ms"], b["verify_ms"]) == (20, 450, 40, 9)
    assert b["wall_s"] == 1.0 and b["other_s"] == pytest.approx(1.0 - 0.499)
    assert b["tokens_by_kind"] == {"step": 12, "answer": 5, "plan": 3, "root": 0}
    assert b["tokens_by_depth"] == {0: 0, 1: 15, 2: 5}
    assert b["costliest"][0] == (1, 0.34)
    text = breakdown_markdown(costly_run())
    assert "execution (sandboxed code) 0.04 s (4% of the wall time)" in text
    assert "generation 0.45 s (45% of the wall time)" in text


def test_text_no_node_kept_is_counted_from_the_runs_own_totals():
    """A browser walk saw a third of a run's tokens and generation time missing from the cost
    view (samples dropped as duplicates carry no node) and filed under "everything else"."""
    tree = costly_run({"wall_s": 1.0, "tokens": 32, "gen_s": 0.7, "exec_s": 0.04, "verify_s": 0.009})
    b = breakdown(tree)
    assert b["run"] == {"tokens": 32, "gen_ms": 700, "exec_ms": 40, "verify_ms": 9}
    assert b["other_s"] == pytest.approx(1.0 - 0.749)  # not the unkept generation's 0.25 s
    text = breakdown_markdown(tree)
    assert "32 tokens (20 on the 4 nodes, 12 on text no node kept" in text
    assert "generation 0.70 s (70% of the wall time), 0.45 s of it on the nodes" in text


def test_the_cost_figure_colours_each_node_by_its_cost_at_the_pages_positions():
    from ui.figure import node_table, tree_figure

    tree = costly_run()
    fig = cost_figure(tree, "exec_ms")
    nodes = fig["data"][1]
    table = node_table(tree_figure(tree))
    assert [c[0] for c in nodes["customdata"]] == list(table)
    assert nodes["marker"]["color"] == [0, 40, 0, 0]
    assert nodes["x"] == [row["x"] for row in table.values()]
    assert cost_figure(tree, "tokens")["data"][1]["marker"]["color"] == [0, 12, 5, 3]


def test_the_live_tree_colours_by_cost_from_its_own_columns(services):
    """Issue 17 item 3 on the Solve screen: every streamed figure (whole or delta) carries each
    node's tokens and generation / execution / verification ms, so the page's **Colour by**
    switches to a cost mode without a server round trip; folded like the page folds them, the
    columns equal ``node_cost`` of the run's tree, and each cost mode's scale tops at its maximum."""
    from backend.tree import Tree
    from tests.ui.test_handlers import SMALL, start_rstar, wait_finished
    from ui import handlers as h
    from ui.cost import COST_MODES
    from ui.figure import apply_delta, color_values

    run_id = start_rstar(services, rollouts=4, delay_s=0.01, **SMALL)
    snaps = [s.tree for s in h.stream_run(services, run_id, viewer="tab-cost")]
    wait_finished(services, run_id)
    assert "delta" in [s["kind"] for s in snaps]
    fig = snaps[0]
    for value in snaps[1:]:
        fig = apply_delta(fig, value)
    tree = Tree.from_events(services.store.read(run_id))
    ids = fig["nodes"]["id"]
    assert sorted(ids) == sorted(tree.nodes)
    for mode in COST_MODES:
        want = [node_cost(tree.nodes[i], mode) for i in ids]
        assert color_values(fig, mode) == pytest.approx(want, abs=0.06), mode
        assert fig["colors"][mode]["cmax"] == pytest.approx(max(want) or 1, abs=0.06)
        assert fig["colors"][mode]["cmin"] == 0
    assert max(color_values(fig, "tokens")) > 0 and max(color_values(fig, "exec_ms")) > 0
    assert fig["colors"]["gen_ms"]["title"] == "generation time (ms)"
