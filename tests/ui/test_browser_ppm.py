"""The PPM in the real page (Debian's chromium driven by Playwright): colour, inspector,
diagnostics panel and the PPM control, over real rStar-Math searches.

The app server here has the test PPM injected (``Services.step_scorer_override`` =
``tests/ui/scripted_runs.py: scripted_ppm``, a rule table, never a trained model): every
rStar run whose PPM choice is not "none" is valued by it. What the page draws is read back
from Plotly's own traces and the page's text, and compared with the tree folded from the
run's events.
"""

from __future__ import annotations

import re

import pytest

from tests.ui import server as srv
from tests.ui.scripted_runs import scripted_ppm
from tests.ui.server import CHROMIUM

pytestmark = [pytest.mark.browser]

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install playwright)"
)
if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)

from tests.ui.test_browser import (  # noqa: E402  (after the skips: chromium may be missing)
    COLORBAR_TITLE,
    choose,
    click_node,
    run,
    settle,
    status,
    wait_until,
)

#: a small rStar tree (every path ends by its fourth step) over six rollouts
SMALL = {"rollouts": 6, "children": 3, "max_depth": 3}

#: per drawn node: the PPM its hover row carries and the fill Plotly was given
DRAWN_PPM = """(sel) => {
  const el = document.querySelector(sel + ' .canopy-plot');
  const out = {};
  for (const t of el.data || []) {
    if (!String(t.name).startsWith('nodes')) continue;
    t.customdata.forEach((r, k) => {
      out[r[0]] = {ppm: r[3], color: Array.isArray(t.marker.color) ? t.marker.color[k] : t.marker.color};
    });
  }
  return out;
}"""
FLAG_RINGS = """(sel) => (document.querySelector(sel + ' .canopy-plot').layout.shapes || [])
  .filter((s) => s.name === 'flag').length"""
TREE_DATA = "(sel) => Object.assign({}, document.querySelector(sel + ' .canopy-tree').dataset)"
#: the traces a chart of the diagnostics panel has drawn
CHART = "(sel) => document.querySelector(sel + ' .canopy-simple-plot').data || []"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from backend.store import SQLiteStore

    store = SQLiteStore(tmp_path_factory.mktemp("hist") / "canopy.sqlite")
    demo, services, url = srv.start(store, step_scorer=scripted_ppm())
    yield url, services
    srv.stop(demo, services)


@pytest.fixture(scope="module")
def browser():
    with srv.chromium() as b:
        yield b


@pytest.fixture
def page(browser, server):
    url, services = server
    context, pg, requests = srv.recorded_page(browser)
    errors: list[str] = []
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.goto(url)
    pg.wait_for_selector("#run-btn")
    pg.wait_for_function("typeof window.Plotly === 'object'")
    yield pg
    context.close()
    services.runs.shutdown()
    srv.pace(services, 0.0)
    outside = [u for u in requests if not re.match(r"^(http://127\.0\.0\.1[:/]|data:|blob:|about:)", u)]
    assert not outside, f"requests left the machine: {outside[:5]}"
    assert not [e for e in errors if "canopy" in e], errors  # tree.js / plot.js raised nothing


def folded(services, run_id):
    from backend.tree import Tree

    return Tree.from_events(services.runs.events(run_id))


def open_diagnostics(pg) -> None:
    if not pg.is_visible("#ppm-disagree"):
        pg.locator("#ppm-diagnostics").get_by_text("PPM diagnostics").first.click()
    wait_until(lambda: pg.is_visible("#ppm-disagree"), what="the PPM diagnostics panel")


def test_a_ppm_run_is_coloured_inspected_and_diagnosed_by_its_ppm(page, server):
    from backend.ppm_diagnostics import disagreements, last_pick

    _, services = server
    srv.pace(services, 0.1)  # several live updates: flags and colours arrive through deltas
    page.fill("#reference textarea", "18")
    assert page.input_value("#ppm input") == "default (test PPM)"  # the control's default: --ppm
    run_id = run(page, **SMALL)
    # graded against the known answer: "finished · answer 18 · ✓ correct" (issue 15 item 4)
    wait_until(lambda: "finished · answer" in status(page), timeout=90, what="the run to end")
    settle(page, services, run_id)
    tree = folded(services, run_id)
    assert tree.started.spec["ppm"] == "default"

    # every node but the root and the steps that ended without an answer shows its PPM score
    drawn = {int(k): v for k, v in page.evaluate(DRAWN_PPM, "#tree").items()}
    assert set(drawn) == set(tree.nodes)
    unscored = {tree.root_id} | {n.id for n in tree.nodes.values() if n.terminal and n.answer is None}
    for nid, node in tree.nodes.items():
        if nid in unscored:
            assert drawn[nid] == {"ppm": "not scored", "color": "#bdbdbd"}, nid  # grey, not the scale's 0
        else:
            assert drawn[nid]["ppm"] == pytest.approx(node.ppm, abs=1e-4), nid
            assert drawn[nid]["color"] == pytest.approx(node.ppm, abs=1e-4), nid  # coloured by PPM
    # PPM is the colour mode, the legend says what grey means, the status which PPM
    data = page.evaluate(TREE_DATA, "#tree")
    assert data["color"] == "ppm" and page.input_value("#tree .canopy-mode") == "ppm"
    assert page.evaluate(COLORBAR_TITLE) == "PPM"
    assert "grey = not scored" in page.inner_text("#tree .canopy-unscored")
    assert "PPM: a test PPM (rule table injected by the test harness)" in status(page)

    # the disagreement list: the steps where PPM and Q differ most, ringed in the tree
    found = disagreements(tree)
    assert found
    assert data["flags"] == ",".join(str(d.id) for d in found)
    assert page.evaluate(FLAG_RINGS, "#tree") == len(found)
    open_diagnostics(page)
    listed = page.inner_text("#ppm-disagree")
    for d in found:
        assert re.search(rf"#{d.id}\s+{d.ppm:.2f}\s+{d.q:.2f}\s+{d.n}\s", listed), (d, listed)

    # the inspector: PPM, Q and N side by side, and why the node was picked
    events = services.runs.events(run_id)
    contested = [n for n in tree.nodes if (p := last_pick(events, n)) is not None and p.rival is not None]
    nid = contested[0]
    node, pick = tree.nodes[nid], last_pick(events, nid)
    click_node(page, nid)
    wait_until(lambda: f"Node #{nid} " in page.inner_text("#insp-title"), what="the inspector")
    numbers = page.inner_text("#insp-numbers")
    assert re.search(rf"PPM\s+Q\s+N\s+{node.ppm:.3f}\s+{node.q:.3f}\s+{node.n}\b", numbers), numbers
    why = page.inner_text("#insp-why")
    assert f"Picked at iteration {pick.iteration}:" in why and f"(PPM start {node.ppm:.2f})" in why
    assert f"for #{pick.rival['id']}" in why
    assert re.search(r"drove it|a tie|ahead on both", why), why

    # the user's colour choice holds for this run
    page.select_option("#tree .canopy-mode", "q")
    wait_until(lambda: page.evaluate(COLORBAR_TITLE) == "Q", what="Q colouring")
    assert page.evaluate(TREE_DATA, "#tree")["color"] == "q"

    # over the history: calibration against the known answer, and length bias
    page.click("#ppm-history-btn")
    wait_until(lambda: "Calibration" in page.inner_text("#ppm-history"), timeout=30, what="the history check")
    answers = [n for n in tree.nodes.values() if n.ppm is not None and n.answer is not None]
    assert f"{len(answers)} scored final answers" in page.inner_text("#ppm-history")
    wait_until(lambda: len(page.evaluate(CHART, "#ppm-calibration")) == 1, what="the calibration chart")
    labels = page.evaluate(CHART, "#ppm-calibration")[0]["text"]
    assert sum(int(t.split("/")[1]) for t in labels if t) == len(answers)  # "k/n" on each bar
    wait_until(lambda: len(page.evaluate(CHART, "#ppm-length")) == 1, what="the length chart")
    points = page.evaluate(CHART, "#ppm-length")[0]["x"]
    assert len(points) == sum(1 for n in tree.nodes.values() if n.ppm is not None)
    page.screenshot(path="/tmp/canopy-ppm-browser.png", full_page=True)


def test_a_run_with_ppm_none_keeps_q_colouring_and_says_there_is_no_ppm(page, server):
    _, services = server
    page.click("#ppm input")
    page.get_by_role("option", name="none", exact=True).click()
    wait_until(lambda: page.input_value("#ppm input") == "none", what="PPM none")
    run_id = run(page, **SMALL)
    wait_until(lambda: "finished (solved)" in status(page), timeout=90, what="the run to end")
    settle(page, services, run_id)
    assert folded(services, run_id).started.spec["ppm"] == "none"
    drawn = page.evaluate(DRAWN_PPM, "#tree")
    assert drawn and {v["ppm"] for v in drawn.values()} == {"not scored"}
    assert page.evaluate(TREE_DATA, "#tree")["color"] == "q" and page.evaluate(COLORBAR_TITLE) == "Q"
    assert "PPM: none (chosen for this run)" in status(page)
    open_diagnostics(page)
    assert "No step of this run has a PPM score" in page.inner_text("#ppm-disagree")
    # asked for PPM colouring anyway, the legend says there is nothing to show
    page.select_option("#tree .canopy-mode", "ppm")
    wait_until(lambda: page.evaluate(COLORBAR_TITLE) == "PPM", what="PPM colouring")
    note = page.inner_text("#tree .canopy-unscored")
    assert "no node has a PPM score" in note
    # not "run with PPM default": where no PPM has been built that gives none (a walk found it)
    assert 'PPM "default" on' not in note and "the PPM control says" in note
    assert not page.is_visible("#tree .canopy-scale-bar")
    # the control is rStar-Math's: CPL takes no PPM, and the control goes away
    choose(page, "cpl")
    wait_until(lambda: not page.is_visible("#ppm"), what="the PPM control hidden for CPL")
