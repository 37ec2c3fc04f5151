"""The PPM in the page, without a browser: the PPM control reaches the run's RunSpec, the
test PPM seam (``Services.step_scorer_override``), the status line, PPM as the default colour,
the disagreement list and its rings through live deltas, the inspector's PPM/Q/N and why a
node was picked, and the history's calibration and length-bias charts.

The PPM is ``tests/ui/scripted_runs.py: scripted_ppm`` (a rule table, a test fixture): what
is tested is what the page does with a PPM's values, not a trained model.
"""

from __future__ import annotations

import html

import pytest

from backend import events as ev
from backend.events import EventLog
from backend.ppm_diagnostics import disagreements, last_pick, pick_driver
from backend.tree import Tree
from tests.ui.scripted_runs import PROBLEM, scripted_ppm
from tests.ui.server import demo_services
from ui import handlers as h
from ui.diagnostics import disagreement_panel
from ui.figure import apply_delta, color_values, default_color_mode, node_table, tree_figure
from ui.inspector import pick_text

#: a small rStar tree (every path ends by its fourth step) of a few rollouts
SMALL = {"rollouts": 6, "children": 3, "max_depth": 3}


@pytest.fixture
def ppm_services():
    """The test server's services with the test PPM injected."""
    s = demo_services(update_every_s=0.05, step_scorer=scripted_ppm())
    yield s
    s.close()


def start(services, *, ppm=None, reference="", **overrides):
    """Start an rStar run as the page does (reward auto), wait for it, return (id, tree)."""
    controls = h.algorithm_controls(["rstar"])
    values = h.preset_values("rstar", h.algorithm_info("rstar")["default_preset"], controls)
    settings = {**SMALL, **overrides}
    values = [settings.get(c.name, v) for c, v in zip(controls, values, strict=True)]
    run_id = h.start_run(services, controls, PROBLEM, "rstar", "auto", reference, 0, values, ppm=ppm)
    assert services.runs.get(run_id).wait(60), "the run did not finish"
    return run_id, Tree.from_events(services.runs.events(run_id))


def test_a_ppm_run_scores_every_valid_step_and_colours_by_ppm(ppm_services):
    run_id, tree = start(ppm_services)
    assert tree.started.spec["ppm"] == "default"  # the control's default: the app's --ppm
    invalid = {n.id for n in tree.nodes.values() if n.terminal and n.answer is None}
    scored = {n.id for n in tree.nodes.values() if n.ppm is not None}
    assert scored and scored == set(tree.nodes) - {tree.root_id} - invalid
    fig = tree_figure(tree)
    assert default_color_mode(fig) == "ppm"
    ppm = dict(zip(fig["nodes"]["id"], color_values(fig, "ppm"), strict=True))
    assert {i for i, v in ppm.items() if v is None} == {tree.root_id} | invalid  # drawn "not scored"
    status = html.unescape(h.run_status(ppm_services, run_id))  # escaped for Markdown: read it as shown
    assert "**PPM:** a test PPM (rule table injected by the test harness)" in status
    assert f"{len(scored)} steps scored" in status


def test_a_run_with_ppm_none_keeps_q_colouring_and_says_there_is_no_ppm(ppm_services):
    run_id, tree = start(ppm_services, ppm="none")
    assert tree.started.spec["ppm"] == "none"
    assert not any(n.ppm is not None for n in tree.nodes.values())  # the injected PPM was not used
    fig = tree_figure(tree)
    assert fig["has_ppm"] is False and default_color_mode(fig) == "q"
    assert "**PPM:** none (chosen for this run)" in html.unescape(h.run_status(ppm_services, run_id))
    snap = h.snapshot(ppm_services, run_id)
    assert "No step of this run has a PPM score" in snap.disagreements


def test_the_ppm_control_offers_default_none_and_the_apps_directory():
    services = demo_services()
    try:
        # a PPM ships (assets/ppm), but for the embedded model on llama.cpp only
        assert h.ppm_choices(services) == [("default (no PPM for this model)", "default"), ("none", "none")]
        assert h.ppm_default_value(services) == "default"
        # the scripted engine is not the embedded model on llama.cpp: default means no PPM here
        info = h.ppm_choice_info(services)
        assert info.startswith("default here means no PPM") and "llamacpp" in info
        services.ppm = "/models/my-ppm"  # python app.py --ppm /models/my-ppm
        assert h.ppm_choices(services)[-1] == ("/models/my-ppm (--ppm)", "/models/my-ppm")
        assert h.ppm_default_value(services) == "/models/my-ppm"
        services.ppm = "none"
        assert h.ppm_default_value(services) == "none" and len(h.ppm_choices(services)) == 2
        services.step_scorer_override = scripted_ppm()
        assert "test PPM" in h.ppm_choice_info(services) and "test PPM" in h.ppm_choices(services)[0][0]
    finally:
        services.close()


def test_the_default_ppm_is_named_for_what_it_gives_on_this_server(monkeypatch, tmp_path):
    """The control read "default (shipped PPM)" where assets/ppm holds none (the run then has no
    PPM); it says so, and names the shipped PPM only where one ships and applies."""
    import backend.runspec as runspec

    monkeypatch.setattr(runspec, "shipped_ppm_dir", lambda: tmp_path)
    services = demo_services()
    try:
        assert h.ppm_choices(services)[0] == ("default (none ships yet: no PPM)", "default")
        (tmp_path / "canopy_ppm.json").write_text("{}")  # one ships, for the embedded model only
        assert h.ppm_choices(services)[0] == ("default (no PPM for this model)", "default")
        monkeypatch.setattr(runspec, "default_ppm_applies", lambda spec, engine: None)
        assert h.ppm_choices(services)[0] == ("default (shipped PPM)", "default")
    finally:
        services.close()


def test_disagreements_are_listed_and_ringed_through_live_deltas(ppm_services):
    run_id, tree = start(ppm_services)
    found = disagreements(tree)
    assert found, "the test PPM should leave steps whose Q drifted from their PPM score"
    page = None
    for snap in h.stream_run(ppm_services, run_id):  # a finished run: one whole figure
        page = snap.tree if page is None else apply_delta(page, snap.tree)
    assert page["flags"] == [d.id for d in found]
    for d in found:
        assert f"| #{d.id} | {d.ppm:.2f} | {d.q:.2f} | {d.n} | {d.gap:+.2f} |" in snap.disagreements
    # live: every delta carries the flags of its own moment, and the page's table stays the tree's
    events = ppm_services.runs.events(run_id)
    from ui.figure import FigureStream, touched_by

    stream, live, page = FigureStream(), Tree(), None
    for k in range(0, len(events), 7):
        chunk = events[k : k + 7]
        for e in chunk:
            live.apply(e)
        v = stream.figure(live, touched=touched_by(chunk))
        page = v if page is None else apply_delta(page, v)
        whole = tree_figure(live)
        assert node_table(page) == node_table(whole)
        assert page["flags"] == whole["flags"] == [d.id for d in disagreements(live)]
        assert page["has_ppm"] == whole["has_ppm"]
    assert page["has_ppm"] is True


def test_the_inspector_shows_ppm_q_n_and_why_the_node_was_picked(ppm_services):
    run_id, tree = start(ppm_services)
    events = ppm_services.runs.events(run_id)
    picks = {nid: last_pick(events, nid) for nid in tree.nodes}
    contested = [nid for nid, p in picks.items() if p is not None and p.rival is not None]
    assert contested, "some node should have been picked against a sibling"
    nid = contested[0]
    node, pick = tree.nodes[nid], picks[nid]
    v = h.inspect(ppm_services, run_id, nid)
    assert "| PPM | Q | N |" in v.numbers
    assert f"| {node.ppm:.3f} | {node.q:.3f} | {node.n} |" in v.numbers
    assert f"**Picked at iteration {pick.iteration}:**" in v.why
    assert f"(PPM start {node.ppm:.2f})" in v.why
    assert f"for #{pick.rival['id']}" in v.why
    words = {"value": "value drove it", "exploration": "exploration drove it", "tie": "a tie"}
    assert words.get(pick_driver(pick), "ahead on both") in v.why
    assert "The root" in h.inspect(ppm_services, run_id, tree.root_id).why
    assert "| not scored (the root) |" in h.inspect(ppm_services, run_id, tree.root_id).numbers
    # replayed before its first pick, the node was not picked yet
    first = next(e.seq for e in events if isinstance(e, ev.NodeSelected) and nid in e.path[1:])
    assert "Not picked" in h.inspect(ppm_services, run_id, nid, upto=first - 1).why


def test_the_history_charts_calibration_and_length_bias(ppm_services):
    _, tree = start(ppm_services, reference="18")
    start(ppm_services, reference="18", ppm="none")  # no scores: not part of the charts
    summary, cal, length = h.ppm_history_panel(ppm_services)
    answers = [n for n in tree.nodes.values() if n.ppm is not None and n.answer is not None]
    right = [n for n in answers if n.answer == "18"]
    assert "**1** run with PPM scores (of the 2 most recent)" in summary
    said = f"{len(answers)} scored final answers from 1 run with a known answer, {len(right)} correct"
    assert said in summary
    [bars] = cal["data"]
    assert sum(c[1] for c in bars["customdata"]) == len(answers)
    assert sum(c[0] for c in bars["customdata"]) == len(right)
    assert all(t == "" or "/" in t for t in bars["text"])  # "k/n" on each bar with answers
    [points] = length["data"]
    assert len(points["x"]) == sum(1 for n in tree.nodes.values() if n.ppm is not None)
    assert "Pearson r = " in length["layout"]["title"]["text"]


def test_the_history_charts_say_when_there_is_nothing_to_draw():
    services = demo_services()
    try:
        summary, cal, length = h.ppm_history_panel(services)
        assert "None of the 0 most recent" in summary
        assert cal["data"] == [] and "No PPM-scored final answer" in cal["layout"]["annotations"][0]["text"]
        assert length["data"] == [] and "No PPM-scored step" in length["layout"]["annotations"][0]["text"]
    finally:
        services.close()


def test_ppm_panels_show_hostile_step_text_and_rows_as_text():
    from tests.security.hostile import HOSTILE, HOSTILE_LINE
    from tests.security.test_html_escape import assert_inert_markdown

    log = EventLog(clock=iter(range(100)).__next__)
    log.emit(ev.RunStarted, run_id="x", algorithm="rstar", problem=HOSTILE)
    log.emit(ev.NodeAdded, id=0, parent=None, kind="root", text=HOSTILE)
    log.emit(ev.NodeAdded, id=1, parent=0, kind="step", text=HOSTILE_LINE, code=HOSTILE)
    log.emit(ev.NodeScored, id=1, score=0.9, source="ppm")
    rows = [
        {"id": 1, "q_term": 0.1, "u_term": 2.0, "score": 2.1},
        {"id": HOSTILE_LINE, "q_term": 0.5, "u_term": 0.5, "score": 1.0},
    ]
    log.emit(ev.NodeSelected, iteration=0, path=[0, 1], children=[rows])
    log.emit(ev.Backprop, iteration=0, path=[0, 1], reward=-1.0, updated=[[1, 3, -0.5]])
    tree = Tree.from_events(log.events)
    panel = disagreement_panel(tree, disagreements(tree))
    assert "| #1 | 0.90 | -0.50 | 3 | +1.40 |" in panel
    assert_inert_markdown(panel, "disagreement list")
    why = pick_text(tree, tree.nodes[1], last_pick(log.events, 1))
    assert "exploration drove it" in why
    assert_inert_markdown(why, "pick explanation")


@pytest.mark.parametrize("ppm", ["/etc", "../../somewhere", "/tmp/not-offered-ppm", ""])
def test_the_page_can_only_pick_a_ppm_this_server_offers(ppm_services, ppm):
    # a restored or imported run's spec may name any directory: the server reads none it did not offer
    with pytest.raises(h.UserFacingError, match="offers the PPM choices default, none"):
        start(ppm_services, ppm=ppm)


def test_a_never_picked_node_says_so_once(ppm_services):
    import dataclasses

    run_id, tree = start(ppm_services, ppm="none")
    never = [n.id for n in tree.nodes.values() if n.parent is not None and not n.selection]
    assert never
    view = h.inspect(ppm_services, run_id, never[0])
    shown = " ".join(str(v) for v in dataclasses.asdict(view).values())
    assert shown.count("by a selection step yet") == 1, shown  # one line says it, not two
