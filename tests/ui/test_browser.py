"""The real page in a real browser (Debian's chromium driven by Playwright).

One app server (in this process, SQLite history in a temp dir, the scripted engine of
tests/ui/scripted_runs.py) serves every test; the runs are the registry's rStar-Math (the
page's default) and CPL, sized with their own settings and slowed down, where a test needs
time to pause or step, with the engine's pace. Each test gets a fresh browser context and
fails if any request leaves 127.0.0.1.
"""

from __future__ import annotations

import itertools
import re
import statistics
import time

import pytest

from tests.ui import server as srv
from tests.ui.scripted_runs import PROBLEM
from tests.ui.server import CHROMIUM

pytestmark = [pytest.mark.browser]

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install playwright)"
)
if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)

#: an rStar run that goes on for minutes (children 4, max_depth 8: hundreds of expansions)
ENDLESS = {"rollouts": 10_000}
#: a small rStar run: every path ends by its fourth step, the tree after about four rollouts
SMALL = {"children": 3, "max_depth": 3}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from backend.store import SQLiteStore

    store = SQLiteStore(tmp_path_factory.mktemp("hist") / "canopy.sqlite")
    demo, services, url = srv.start(store)
    yield url, services
    srv.stop(demo, services)


@pytest.fixture(scope="module")
def browser():
    with srv.chromium() as b:
        yield b


@pytest.fixture
def pace(server):
    """``pace(s)``: every engine call takes s seconds during this test (0 again after it)."""
    services = server[1]
    yield lambda delay_s: srv.pace(services, delay_s)
    srv.pace(services, 0.0)


@pytest.fixture
def page(browser, server):
    url, _ = server
    context, pg, requests = srv.recorded_page(browser)
    pg.goto(url)
    pg.wait_for_selector("#run-btn")
    pg.wait_for_function("typeof window.Plotly === 'object'")  # served locally, not from a CDN
    yield pg
    context.close()
    server[1].runs.shutdown()  # a failed test must not leave a search eating the CPU
    outside = [u for u in requests if not re.match(r"^(http://127\.0\.0\.1[:/]|data:|blob:|about:)", u)]
    assert not outside, f"requests left the machine: {outside[:5]}"


# --- helpers ---------------------------------------------------------------------------


def nodes(pg, view="#tree") -> int:
    return int(pg.eval_on_selector(f"{view} .canopy-tree", "e => e.dataset.nodes || 0"))


def rev(pg, view="#tree") -> int:
    return int(pg.eval_on_selector(f"{view} .canopy-tree", "e => e.dataset.rev || -1"))


def status(pg) -> str:
    return pg.inner_text("#run-status")


def iterations(pg) -> int:
    m = re.search(r"(\d+) iterations?\b", status(pg))
    return int(m.group(1)) if m else -1


def wait_until(cond, timeout=20.0, every=0.1, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


def choose(pg, algorithm: str) -> None:
    """Pick an algorithm in the page's dropdown."""
    pg.click("#algorithm input")
    pg.get_by_role("option", name=algorithm, exact=True).click()


def set_settings(pg, algorithm: str, settings: dict) -> None:
    """Open Settings, wait for this algorithm's group (choosing an algorithm swaps the groups
    when the server answers), type each value and wait until the box holds it."""
    if pg.locator("[id^='preset-']:visible").count() == 0:
        pg.locator("#settings").get_by_text("Settings", exact=True).click()
    wait_until(lambda: pg.is_visible(f"#preset-{algorithm}"), what=f"the {algorithm} settings")
    for name, value in settings.items():
        box = pg.locator(f"#cfg-{algorithm}-{name} input[type=number]").first
        for attempt in range(3):  # the preset's values can land after ours (the server answers late)
            box.fill(str(value))
            box.press("Tab")
            try:
                wait_until(lambda box=box, value=value: box.input_value() == str(value), timeout=6,
                           what=f"{name} = {value}")
                break
            except AssertionError:
                if attempt == 2:
                    raise


def run(pg, problem=PROBLEM, *, algorithm="rstar", **settings) -> str:
    """Type a problem, choose the algorithm (rStar is the page's default), set its settings
    (rollouts, children, ...), press Run; returns the run id."""
    pg.fill("#problem textarea", problem)
    if pg.input_value("#algorithm input") != algorithm:
        choose(pg, algorithm)
    if settings:
        set_settings(pg, algorithm, settings)
    href = lambda: pg.evaluate("window.location.href")  # noqa: E731  (pg.url lags without a call)
    before = href()
    pg.click("#run-btn")
    wait_until(lambda: "run=" in href() and href() != before, what="the run id in the URL")
    return href().split("run=")[1]


NODE_INFO = """([sel, id]) => {
  const el = document.querySelector(sel + ' .canopy-plot');
  for (const t of el.data || []) {
    if (!String(t.name).startsWith('nodes')) continue;
    const k = t.customdata.findIndex((r) => r[0] === id);
    if (k < 0) continue;
    const fl = el._fullLayout, box = el.getBoundingClientRect();
    return {x: box.left + fl._size.l + fl.xaxis.l2p(t.x[k]), y: box.top + fl._size.t + fl.yaxis.l2p(t.y[k]),
            text: t.text[k]};
  }
  return null;
}"""


COLORBAR_TITLE = """() => document.querySelector('#tree .canopy-scale-title').textContent"""

# What the page has drawn: every node marker, the edge walk and the best path, from the
# Plotly traces themselves (not from the page's own table)
DRAWN = """(sel) => {
  const el = document.querySelector(sel + ' .canopy-plot');
  const nodes = {};
  for (const t of el.data || []) {
    if (!String(t.name).startsWith('nodes')) continue;
    t.customdata.forEach((r, k) => {
      nodes[r[0]] = {x: t.x[k], y: t.y[k], size: t.marker.size[k], symbol: t.marker.symbol, n: r[1], q: r[2],
                     type: t.type};
    });
  }
  const e = el.data.find((t) => t.name === 'edges'), b = el.data.find((t) => t.name === 'best path');
  return {nodes, ex: e.x, ey: e.y, bx: b.x, by: b.y,
          rev: Number(el.closest('.canopy-tree').dataset.rev), run: el.closest('.canopy-tree').dataset.run};
}"""


def node_ids(pg, view="#tree") -> list[int]:
    return pg.evaluate(
        f"""() => (document.querySelector('{view} .canopy-plot').data || [])
              .filter((t) => String(t.name).startsWith('nodes'))
              .flatMap((t) => t.customdata.map((r) => r[0])).sort((a, b) => a - b)"""
    )


def node_info(pg, node_id: int, view="#tree") -> dict:
    return pg.evaluate(NODE_INFO, [view, node_id])


HOVERED = """([sel, id]) => {
  const hover = document.querySelector(sel + ' .canopy-plot')._hoverdata || [];
  return hover.some((p) => p.customdata && p.customdata[0] === id);
}"""


def click_node(pg, node_id: int, view="#tree") -> None:
    """Point at a node, wait until Plotly hovers it, click. Plotly's click event names the
    hovered point, so a click at once after a jump from another node can name that one."""
    pg.locator(f"{view} .canopy-plot").scroll_into_view_if_needed()
    where = node_info(pg, node_id, view)
    pg.mouse.move(where["x"], where["y"])
    pg.wait_for_function(HOVERED, arg=[view, node_id], timeout=10_000)
    pg.mouse.click(where["x"], where["y"])


WATCH_INSPECTOR = """(nodeId) => {
  window.canopyInspectorMs = null;
  let down = null;
  document.addEventListener('mousedown', () => { down = performance.now(); }, {capture: true, once: true});
  const title = document.querySelector('#insp-title');
  const obs = new MutationObserver(() => {
    if (down !== null && title.innerText.includes('Node #' + nodeId + ' ')) {
      window.canopyInspectorMs = performance.now() - down;
      obs.disconnect();
    }
  });
  obs.observe(title, {subtree: true, childList: true, characterData: true});
}"""


# --- tests -----------------------------------------------------------------------------


def test_a_run_grows_a_tree_live_at_a_bounded_rate(page, pace):
    pace(0.3)
    run_id = run(page, **ENDLESS)
    seen, t0 = [], time.monotonic()
    draws0 = page.evaluate("window.canopyDraws || 0")
    while len(set(seen)) < 4 and time.monotonic() - t0 < 60:
        seen.append(nodes(page))
        time.sleep(0.3)
    took = time.monotonic() - t0
    draws = page.evaluate("window.canopyDraws || 0") - draws0
    page.click("#stop-btn")
    assert len(set(seen)) >= 4 and seen == sorted(seen), seen  # the node count rises across snapshots
    assert run_id in status(page)
    assert draws / took <= 3.0, f"{draws} redraws in {took:.1f} s"  # bounded: about 2 per second
    renders = page.evaluate("window.canopyRenderMs")
    assert renders and 0 < statistics.median(renders) < 1000, renders  # a small tree: tens of ms
    wait_until(lambda: "finished (stopped)" in status(page), what="stopped")


def test_clicking_a_node_fills_the_inspector(page):
    run(page, rollouts=6, **SMALL)
    wait_until(lambda: "finished (solved)" in status(page), what="run end")
    wait_until(lambda: "Final answer: 18" in page.inner_text("#answer"), what="the final answer")
    wait_until(lambda: len(node_ids(page)) == nodes(page) > 3, what="the tree drawn")
    times = []
    for node_id in (1, 2, 3, 4, 1, 2, 3, 4, 1):
        # measured in the page: from the mouse press to the inspector title naming the node
        page.evaluate(WATCH_INSPECTOR, node_id)
        click_node(page, node_id)
        # every click counts: Plotly took a press on another node within 500 ms of the last for a
        # double-click and dropped it (about one click in three here), until tree.js split the trains
        page.wait_for_function("window.canopyInspectorMs !== null", timeout=10_000)
        times.append(page.evaluate("window.canopyInspectorMs"))
        assert f"Node #{node_id} " in page.inner_text("#insp-title")
        time.sleep(0.3)  # a user moving on: well inside Plotly's 500 ms double-click window
    page.select_option("#tree .canopy-mode", "visits")  # colour by N instead of Q, in the page only
    wait_until(lambda: page.evaluate(COLORBAR_TITLE) == "N", what="the colour mode")
    text = page.inner_text("#insp-text")
    assert "Step" in text
    assert page.inner_text("#insp-code")  # the step's code, highlighted
    # a round trip through the server's queue: tens of ms here, seconds only if something is wrong
    assert statistics.median(times) < 2000 and max(times) < 10_000, times


def test_pause_freezes_step_adds_one_iteration_and_stop_stops(page, server, pace):
    pace(0.3)
    run_id = run(page, **ENDLESS)
    wait_until(lambda: nodes(page) > 3, what="growth")
    page.click("#pause-btn")
    wait_until(lambda: "paused" in status(page), what="paused")
    wait_until(lambda: page.inner_text("#pause-btn") == "Resume", what="the Resume label")
    wait_paused(page, server[1], run_id)
    frozen, its = nodes(page), iterations(page)
    time.sleep(1.2)
    assert nodes(page) == frozen and iterations(page) == its
    page.click("#step-btn")
    wait_until(lambda: iterations(page) == its + 1, what="one more iteration")
    time.sleep(1.0)
    assert iterations(page) == its + 1
    page.click("#stop-btn")
    wait_until(lambda: "finished (stopped)" in status(page), what="stopped")
    assert nodes(page) >= frozen  # the partial tree is kept


def test_zoom_survives_updates(page, pace):
    pace(0.3)
    run(page, **ENDLESS)
    wait_until(lambda: nodes(page) > 5, what="growth")
    box = page.locator("#tree .canopy-plot .nsewdrag").first.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.3)
    for _ in range(3):
        page.mouse.wheel(0, -300)
        time.sleep(0.1)
    time.sleep(0.3)
    zoomed = page.evaluate("document.querySelector('#tree .canopy-plot')._fullLayout.xaxis.range.slice()")
    r0 = rev(page)
    wait_until(lambda: rev(page) > r0 + 10, what="more updates")
    after = page.evaluate("document.querySelector('#tree .canopy-plot')._fullLayout.xaxis.range.slice()")
    page.click("#stop-btn")
    assert after == pytest.approx(zoomed), (zoomed, after)


def test_refresh_reattaches_to_a_live_run(page, pace):
    pace(0.3)
    run_id = run(page, **ENDLESS)
    wait_until(lambda: nodes(page) > 3, what="growth")
    page.reload()
    page.wait_for_selector("#run-btn")
    wait_until(lambda: run_id in status(page), what="re-attach")
    n = nodes(page)
    wait_until(lambda: nodes(page) > n, what="growth after refresh")
    page.click("#stop-btn")
    wait_until(lambda: "finished (stopped)" in status(page), what="stopped")


def test_a_new_run_in_the_same_tab_takes_over_the_view(page, pace, server):
    """The new run is drawn, and the first, still going, is stopped (it went on unseen, eating the
    CPU): the status says so."""
    pace(0.3)
    first = run(page, **ENDLESS)
    wait_until(lambda: nodes(page) > 3, what="growth")
    second = run(page, problem="A second problem", **ENDLESS)
    wait_until(
        lambda: page.eval_on_selector("#tree .canopy-tree", "e => e.dataset.run") == second, what="switch"
    )
    shown = []
    for _ in range(8):  # the first run no longer draws here
        time.sleep(0.4)
        shown.append(page.eval_on_selector("#tree .canopy-tree", "e => e.dataset.run"))
    assert set(shown) == {second}, (first, second, shown)
    assert second in status(page) and f"stopped and replaced {first}" in status(page)
    assert server[1].runs.get(first).finished and server[1].runs.live_ids() == [second]


def test_two_sessions_run_at_once_without_cross_talk(browser, server, pace):
    url, _ = server
    pace(0.1)
    pages = []
    for _ in range(2):
        ctx = browser.new_context(viewport={"width": 1300, "height": 900})
        pg = ctx.new_page()
        pg.goto(url)
        pg.wait_for_selector("#run-btn")
        pages.append(pg)
    ids = [
        run(pg, problem=f"Problem number {i}: what is {i} + {i}?", rollouts=4, **SMALL)
        for i, pg in enumerate(pages)
    ]
    assert ids[0] != ids[1]
    for pg in pages:
        wait_until(lambda pg=pg: "finished" in status(pg), what="both runs end")
    for i, (pg, rid) in enumerate(zip(pages, ids, strict=True)):
        assert rid in status(pg)
        assert pg.eval_on_selector("#tree .canopy-tree", "e => e.dataset.run") == rid
        assert f"Problem number {i}" in node_info(pg, 0)["text"]  # the root is this session's problem
        pg.context.close()


def test_history_lists_the_run_and_the_slider_replays_it(page, tmp_path):
    run_id = run(page, problem="History check problem", rollouts=4, **SMALL)
    wait_until(lambda: "finished" in status(page), what="run end")
    final = nodes(page)
    page.get_by_role("tab", name="History").click()
    wait_until(lambda: run_id in page.inner_text("#hist-list"), what="the run in the list")
    page.locator("#hist-list span").filter(has_text=run_id).first.click()  # open a run: click its row
    wait_until(lambda: nodes(page, "#hist-tree") == final, what="the replayed tree")
    slider = page.locator("#hist-slider input[type=range]")
    slider.fill("5")  # early in the run: run_started, the root and the first nodes only
    wait_until(lambda: 0 < nodes(page, "#hist-tree") < final, what="scrubbing back")
    assert "event 5" in page.inner_text("#hist-caption")
    click_node(page, node_ids(page, "#hist-tree")[-1], "#hist-tree")
    wait_until(lambda: "Node #" in page.inner_text("#hist-insp-title"), what="the replay inspector")
    # export it (one click downloads it), import the file back: the run is already here, so
    # it is opened and said to be there, not stored again under a new id
    with page.expect_download() as download:
        page.click("#hist-export")
    wait_until(lambda: "Exported" in page.inner_text("#hist-message"), what="the export")
    exported = tmp_path / download.value.suggested_filename
    download.value.save_as(exported)
    assert exported.name == f"canopy-run-{run_id}.jsonl"
    listed = page.inner_text("#hist-list").count(run_id)
    with page.expect_file_chooser() as chooser:
        page.click("#hist-import")
    chooser.value.set_files(str(exported))
    wait_until(lambda: "already in the history" in page.inner_text("#hist-message"), what="the import")
    assert page.inner_text("#hist-list").count(run_id) == listed


def test_importing_a_malformed_file_shows_an_error(page, tmp_path):
    bad = tmp_path / "broken.jsonl"
    bad.write_text('{"format": "canopy-events", "version": 1}\n{"type": "node_added", "seq": 0}\n')
    page.get_by_role("tab", name="History").click()
    with page.expect_file_chooser() as chooser:
        page.click("#hist-import")
    chooser.value.set_files(str(bad))
    wait_until(lambda: "Import failed" in page.inner_text("#hist-message"), what="the import error")
    assert "broken.jsonl" in page.inner_text("#hist-message")


def assert_drawn_equals_folded(pg, services, run_id):
    """The tree on screen is the tree folded from the run's events, at the page's revision."""
    from backend.tree import Tree
    from ui.figure import STYLES, node_table, tree_figure

    d = pg.evaluate(DRAWN, "#tree")
    assert d["run"] == run_id
    table = node_table(tree_figure(Tree.from_events(services.runs.events(run_id)[: d["rev"] + 1])))
    drawn = {int(k): v for k, v in d["nodes"].items()}
    assert set(drawn) == set(table), "drawn nodes differ from the folded tree"
    for nid, row in table.items():
        got = drawn[nid]
        want = (row["x"], -row["depth"], row["size"], STYLES[row["style"]][0], row["n"], row["q"])
        assert (got["x"], got["y"], got["size"], got["symbol"], got["n"], got["q"]) == want, nid
    walk = list(zip(d["ex"], d["ey"], strict=True))
    drawn_edges = {frozenset((a, b)) for a, b in itertools.pairwise(walk) if None not in a + b}
    at = {nid: (row["x"], -row["depth"]) for nid, row in table.items()}
    edges = {
        frozenset((at[row["parent"]], at[nid])) for nid, row in table.items() if row["parent"] is not None
    }
    assert drawn_edges == edges, "drawn edges differ from the folded tree"
    return d


def settle(pg, services, run_id):
    """Wait until the page has drawn the run's last event."""
    last = lambda: services.runs.events(run_id)[-1].seq  # noqa: E731
    wait_until(lambda: rev(pg) == last(), timeout=30, what="the page to catch up")
    time.sleep(0.3)
    assert rev(pg) == last()


def wait_paused(pg, services, run_id, steps=0):
    """Wait until a paused run is idle and drawn: its worker recorded the pause (which takes
    effect between rollouts: one under way when Pause was pressed still lands), then ran
    ``steps`` rollouts, and the page shows the last event."""
    from backend import events as ev

    def idle() -> bool:
        events = services.runs.events(run_id)
        acts = [(k, e.action) for k, e in enumerate(events) if isinstance(e, ev.UserAction)]
        paused_at = max((k for k, a in acts if a == "pause"), default=None)
        if paused_at is None:
            return False
        done = sum(1 for k, a in acts if k > paused_at and a == "step")
        if steps:
            return done == steps and isinstance(events[-1], ev.IterationDone)
        return len(events) - 1 == paused_at

    wait_until(idle, timeout=60, what="the run to be idle")
    settle(pg, services, run_id)


def test_the_drawn_tree_is_the_folded_tree_through_deltas_webgl_and_a_lost_update(page, server, pace):
    _, services = server
    pace(0.02)
    # CPL (no code to run): a tree of thousands of nodes in seconds
    run_id = run(page, algorithm="cpl", rollouts=10_000, children=4, max_depth=8)
    started = services.runs.events(run_id)[0]
    assert (started.algorithm, started.config["rollouts"], started.config["children"]) == ("cpl", 10_000, 4)
    wait_until(lambda: nodes(page) > 20, timeout=60, what="growth")
    page.click("#pause-btn")
    wait_until(lambda: "paused" in status(page), timeout=60, what="paused")  # slow on a loaded machine
    wait_paused(page, services, run_id)
    small = assert_drawn_equals_folded(page, services, run_id)
    assert {v["type"] for v in small["nodes"].values()} == {"scatter"}, len(small["nodes"])
    page.click("#pause-btn")  # resume: grow past WEBGL_FROM through deltas
    wait_until(lambda: nodes(page) > 1600, timeout=120, what="a WebGL-sized tree")
    page.click("#pause-btn")
    wait_until(lambda: "paused" in status(page), timeout=60, what="paused again")
    wait_paused(page, services, run_id)
    big = assert_drawn_equals_folded(page, services, run_id)
    assert {v["type"] for v in big["nodes"].values()} == {"scattergl"}
    # a lost update: the next delta does not follow, the page asks for the whole figure
    page.evaluate("window.canopyDropValues = 1")
    resyncs = page.evaluate("window.canopyResyncs || 0")
    page.click("#step-btn")
    page.click("#step-btn")
    wait_until(lambda: page.evaluate("window.canopyResyncs || 0") > resyncs, timeout=30, what="a resync")
    wait_paused(page, services, run_id, steps=2)
    assert_drawn_equals_folded(page, services, run_id)
    # clicking a WebGL node still inspects it (a node of the first rows: the leaves overlap)
    target = min(int(k) for k, v in big["nodes"].items() if v["y"] == -1)
    click_node(page, target)
    wait_until(lambda: f"Node #{target} " in page.inner_text("#insp-title"), what="the inspector")
    page.click("#stop-btn")
    wait_until(lambda: "finished (stopped)" in status(page), what="stopped")
    settle(page, services, run_id)
    assert_drawn_equals_folded(page, services, run_id)


def test_history_deletes_a_run(page, server):
    _, services = server
    run_id = run(page, problem="A run to delete", rollouts=2, **SMALL)
    wait_until(lambda: "finished" in status(page), what="run end")
    page.get_by_role("tab", name="History").click()
    wait_until(lambda: run_id in page.inner_text("#hist-list"), what="the run in the list")
    page.locator("#hist-list span").filter(has_text=run_id).first.click()
    wait_until(lambda: nodes(page, "#hist-tree") > 0, what="the run opened")
    page.click("#hist-delete")
    wait_until(lambda: "Deleted run" in page.inner_text("#hist-message"), what="the delete")
    assert run_id in page.inner_text("#hist-message")
    wait_until(lambda: run_id not in page.inner_text("#hist-list"), what="the run gone from the list")
    page.click("#hist-refresh")
    time.sleep(1.0)
    assert run_id not in page.inner_text("#hist-list")
    assert services.store.get(run_id) is None


def test_dollar_amounts_in_the_problem_preview_stay_text(page):
    page.fill("#problem textarea", "Pens cost $2 and books cost $3.50 each. If $x^2 = 9$, what is $x$?")
    wait_until(lambda: "books" in page.inner_text("#problem-preview"), what="the preview")
    wait_until(lambda: page.locator("#problem-preview .katex").count() == 2, what="the two formulas")
    text = page.inner_text("#problem-preview .prose")
    assert "Pens cost $2 and books cost $3.50 each." in text, text
    assert "\\" not in text and page.locator("#problem-preview .latex-block").count() == 0
    annotations = page.evaluate(
        "() => Array.from(document.querySelectorAll('#problem-preview annotation')).map((a) => a.textContent)"
    )
    assert annotations == ["x^2 = 9", "x"]


def test_any_registered_algorithm_runs_from_the_page_cpl(page, server):
    # the controls come from the registry: CPL's own settings appear, and a CPL search runs
    # with its page defaults (the cpu-demo preset)
    from backend.tree import Tree

    page.fill("#problem textarea", PROBLEM)
    choose(page, "cpl")
    page.locator("#settings").get_by_text("Settings", exact=True).click()
    wait_until(lambda: page.is_visible("#cfg-cpl-root_children"), what="CPL's settings")
    assert not page.is_visible("#cfg-rstar-rollouts")
    page.click("#run-btn")
    wait_until(lambda: "finished (solved)" in status(page), timeout=60, what="the CPL run to end")
    assert "cpl" in status(page)
    run_id = page.eval_on_selector("#tree .canopy-tree", "e => e.dataset.run")
    tree = Tree.from_events(server[1].runs.events(run_id))
    assert tree.started.algorithm == "cpl" and any(n.kind == "plan" for n in tree.nodes.values())
    wait_until(lambda: nodes(page) == len(tree.nodes) > 5, what="the whole plan tree drawn")
    wait_until(lambda: "Final answer: 18" in page.inner_text("#answer"), what="the final answer")


def test_code_spans_in_the_problem_preview_are_shown_verbatim(page):
    # a "$" inside a code span must neither open a formula nor pair with one outside it,
    # and "<", "&" inside it are shown as typed
    page.fill("#problem textarea", "Run `echo $HOME` when `a < b && c`: it costs $5, then solve $x+1=3$.")
    wait_until(lambda: "solve" in page.inner_text("#problem-preview"), what="the preview")
    wait_until(lambda: page.locator("#problem-preview .katex").count() == 1, what="the formula")
    codes = page.evaluate(
        "() => Array.from(document.querySelectorAll('#problem-preview code')).map((c) => c.textContent)"
    )
    assert codes == ["echo $HOME", "a < b && c"]
    assert "it costs $5, then solve" in page.inner_text("#problem-preview .prose")
    annotation = page.evaluate("() => document.querySelector('#problem-preview annotation').textContent")
    assert annotation == "x+1=3"

