"""Issue 17 in the browser: the one-file HTML replay opened from disk with the network
blocked. Fixtures and helpers are test_browser.py's (one server per module)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from tests.ui import test_browser as tb
from tests.ui.test_browser import DRAWN, SMALL, nodes, run, status, wait_until

# the fixtures of test_browser.py, shared (one server and one chromium for this module)
server, browser, page, pace = tb.server, tb.browser, tb.page, tb.pace

pytestmark = [pytest.mark.browser]

#: DRAWN (test_browser.py) pointed at the replay file's plot
REPLAY_DRAWN = DRAWN.replace(
    "document.querySelector(sel + ' .canopy-plot')", "document.getElementById('cr-plot')"
)
REPLAY_DRAWN = REPLAY_DRAWN.replace(
    "rev: Number(el.closest('.canopy-tree').dataset.rev), run: el.closest('.canopy-tree').dataset.run",
    "rev: Number(document.body.dataset.rev), run: ''",
)


def offline_page(browser, path: Path):
    """(context, page, requests): ``path`` opened from file:// in a context where every
    request that is not a file is aborted (and recorded)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(60_000)
    asked: list[str] = []

    def route(r):
        if r.request.url.startswith("file://"):
            r.continue_()
        else:
            asked.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(path.resolve().as_uri())
    pg.wait_for_function("document.body.dataset.ready === '1'")
    assert not errors, errors
    return context, pg, asked


def drawn(pg, sel=None) -> dict:
    return pg.evaluate(DRAWN, sel) if sel else pg.evaluate(REPLAY_DRAWN, "")


def same_drawing(a: dict, b: dict) -> None:
    """Two drawings show the same nodes at the same places with the same look and numbers,
    and the same edges and best path."""
    key = ("x", "y", "size", "symbol", "n", "q")
    assert set(a["nodes"]) == set(b["nodes"])
    for nid, got in a["nodes"].items():
        assert tuple(got[k] for k in key) == tuple(b["nodes"][nid][k] for k in key), nid

    def edges(d):
        walk = list(zip(d["ex"], d["ey"], strict=True))
        return {frozenset(p) for p in itertools.pairwise(walk) if None not in p[0] + p[1]}

    assert edges(a) == edges(b)
    assert list(zip(a["bx"], a["by"], strict=True)) == list(zip(b["bx"], b["by"], strict=True))


def seek(pg, k: int) -> None:
    pg.locator("#cr-slider").fill(str(k))
    pg.wait_for_function(f"document.body.dataset.rev === '{k}'")


def test_html_replay_opens_offline_and_its_slider_replays_the_live_tree(page, server, browser, tmp_path):
    from backend.tree import Tree
    from ui.figure import node_table, tree_figure
    from ui.handlers import run_grader

    _, services = server
    page.fill("#reference input, #reference textarea", "18")  # graded stars and crossed diamonds
    run_id = run(page, problem="An HTML replay problem: 16 - 3 - 4 eggs at $2", rollouts=5, **SMALL)
    wait_until(lambda: "finished" in status(page), timeout=60, what="run end")
    events = services.runs.events(run_id)
    tb.settle(page, services, run_id)
    live = drawn(page, "#tree")
    assert len(live["nodes"]) == len(Tree.from_events(events).nodes) > 5
    # History's Export HTML button: one click downloads the file
    page.get_by_role("tab", name="History").click()
    wait_until(lambda: run_id in page.inner_text("#hist-list"), what="the run in the list")
    page.locator("#hist-list span").filter(has_text=run_id).first.click()
    wait_until(lambda: nodes(page, "#hist-tree") > 0, what="the run opened")
    # the cost view: the run's tree coloured by tokens, and where the time went
    page.locator("#hist-cost").get_by_text("Cost: where tokens and time went").click()
    wait_until(lambda: "Where it went" in page.inner_text("#hist-cost-text"), what="the cost breakdown")
    tokens = "() => document.querySelector('#hist-cost-plot .canopy-simple-plot').data[1].marker.color"
    wait_until(lambda: page.evaluate(tokens) == [n.tokens for n in Tree.from_events(events).nodes.values()])
    with page.expect_download() as download:
        page.click("#hist-export-html")
    wait_until(lambda: "HTML replay" in page.inner_text("#hist-message"), what="the export")
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.name == f"canopy-run-{run_id}.html"

    context, pg, asked = offline_page(browser, saved)
    try:
        assert pg.evaluate("document.body.dataset.rev") == str(len(events) - 1)
        same_drawing(drawn(pg), live)  # the slider's end: the live tree
        grade = run_grader(services, run_id)
        for k in (4, len(events) // 3, 2 * len(events) // 3):  # and every step on the way: History's tree
            seek(pg, k)
            want = node_table(tree_figure(Tree.from_events(events[: k + 1]), grade=grade))
            got = drawn(pg)["nodes"]
            assert {int(i) for i in got} == set(want), k
            for nid, row in want.items():
                g = got[str(nid)]
                assert (g["x"], g["y"], g["size"], g["n"], g["q"]) == (
                    row["x"], -row["depth"], row["size"], row["n"], row["q"]
                ), (k, nid)  # fmt: skip
        seek(pg, len(events) - 1)
        same_drawing(drawn(pg), live)
        spec = pg.inner_text("#cr-spec")
        for word in ("run id", run_id, "seed", "engine", "scripted", "Canopy (file)", "settings"):
            assert word in spec, word
        assert pg.inner_text("#cr-problem").startswith("An HTML replay problem: 16 - 3 - 4 eggs at $2")
        outcome = pg.inner_text("#cr-outcome")  # graded: the grade speaks, never "solved" beside "wrong"
        assert "(solved)" not in outcome and ("· correct" in outcome or "· wrong (known 18)" in outcome)
        spent = sum(n.tokens for n in Tree.from_events(events).nodes.values())
        assert pg.inner_text("#cr-cost").startswith(f"Spent so far: {spent} tokens")
        pg.select_option("#cr-mode", "tokens")
        pg.wait_for_function("document.getElementById('cr-scale-min').textContent.startsWith('tokens')")
    finally:
        context.close()
    assert asked == [], f"the replay asked the network for {asked[:3]}"


HOSTILE = '</script><script>window.pwned=1</script><img src=x onerror="window.pwned=2"><b>bold</b>'


def click_replay_node(pg, node_id: int) -> None:
    where = pg.evaluate(
        """(id) => {
      const el = document.getElementById('cr-plot');
      for (const t of el.data) {
        if (!String(t.name).startsWith('nodes')) continue;
        const k = t.customdata.findIndex((r) => r[0] === id);
        if (k < 0) continue;
        const fl = el._fullLayout, box = el.getBoundingClientRect();
        return {x: box.left + fl._size.l + fl.xaxis.l2p(t.x[k]),
                y: box.top + fl._size.t + fl.yaxis.l2p(t.y[k])};
      }
      return null;
    }""",
        node_id,
    )
    pg.mouse.move(where["x"], where["y"])
    pg.wait_for_function(
        "(id) => (document.getElementById('cr-plot')._hoverdata || []).some((p) => p.customdata[0] === id)",
        arg=node_id,
    )
    pg.mouse.click(where["x"], where["y"])


def test_hostile_content_stays_text_in_the_replay(browser, tmp_path):
    from backend import events as ev
    from backend.html_replay import write_replay
    from tests.factories import small_run

    events = [
        ev.NodeAdded(seq=e.seq, t=e.t, id=e.id, parent=e.parent, kind=e.kind, text=HOSTILE, code=HOSTILE)
        if isinstance(e, ev.NodeAdded) and e.id == 2
        else e
        for e in small_run()
    ]
    events[0] = ev.RunStarted(seq=0, t=0.0, run_id="r1", algorithm="rstar", problem=HOSTILE)
    path = tmp_path / "hostile.html"
    write_replay(events, path)
    context, pg, asked = offline_page(browser, path)
    try:
        click_replay_node(pg, 2)
        pg.wait_for_function("document.querySelector('#cr-inspector .cr-text') !== null")
        assert pg.inner_text("#cr-inspector .cr-text") == HOSTILE
        assert pg.inner_text("#cr-inspector .cr-code") == HOSTILE
        assert pg.inner_text("#cr-problem") == HOSTILE
        assert pg.evaluate("window.pwned") is None
        assert pg.evaluate("document.querySelectorAll('img, b').length") == 0
    finally:
        context.close()
    assert asked == []


# --- the Compare screen ------------------------------------------------------------------

PLOT_DATA = "(sel) => document.querySelector(sel + ' .canopy-simple-plot').data"
# Gradio's Dataframe draws its rows as div.virtual-row, one child per cell
ROWS = """() => [...document.querySelectorAll('#cmp-table .virtual-row')]
  .map((r) => [...r.children].map((c) => c.innerText.trim()))"""


def test_compare_starts_two_runs_on_one_budget_and_shows_both_trees_and_the_table(page, server):
    from backend.tree import Tree

    _, services = server
    page.get_by_role("tab", name="Compare").click()
    page.fill("#cmp-problem textarea", tb.PROBLEM)
    page.fill("#cmp-reference input, #cmp-reference textarea", "18")
    page.fill("#cmp-budget input", "150")
    boxes = page.locator("#cmp-algos")
    for name in ("greedy", "sc", "rstar", "cpl"):  # exactly rstar and cpl ticked
        box = boxes.get_by_label(name, exact=True)
        if box.is_checked() != (name in ("rstar", "cpl")):
            box.click()
    page.click("#cmp-start")
    wait_until(
        lambda: "Started on 150 tokens" in page.inner_text("#cmp-status"), timeout=60, what="the start"
    )
    rows = lambda: page.evaluate(ROWS)  # noqa: E731
    wait_until(
        lambda: len(rows()) == 2 and all(r[1] != "running" for r in rows()), timeout=120, what="both ends"
    )
    for k, row in enumerate(rows()):
        method, run_id = row[0], row[-1]
        events = services.runs.events(run_id)
        tree = Tree.from_events(events)
        assert events[0].algorithm == method and events[0].spec["seed"] == 0
        assert events[0].config["token_budget"] == 150
        stats = tree.stats()
        assert [row[4], row[6], row[7]] == [
            str(stats["tokens"]),
            str(stats["nodes"]),
            str(stats["iterations"]),
        ]
        fin = tree.finished  # a graded wrong answer is "answered", never "solved" beside "no"
        assert row[1] == ("answered" if fin.status == "solved" and fin.correct is False else fin.status)
        assert row[2] == (fin.answer or "-")
        assert row[3] == ("yes" if tree.finished.correct else "no")
        wait_until(lambda k=k, tree=tree: nodes(page, f"#cmp-tree-{k}") == len(tree.nodes), what=f"tree {k}")
        assert same_nodes(page, f"#cmp-tree-{k}", tree)
    # two methods, two tree slots: the third and fourth are not on the page
    assert page.is_visible("#cmp-tree-1") and not page.is_visible("#cmp-tree-2")
    assert not page.is_visible("#cmp-tree-3")
    # the convergence charts overlaid: one line per run
    wait_until(lambda: len(page.evaluate(PLOT_DATA, "#cmp-convergence") or []) == 2, what="the overlay")
    # linked highlighting: one answer ringed in every tree that states it, exactly its answer nodes
    from backend.answer_clusters import answer_clusters
    from backend.verify.answers import answers_equal

    page.click("#cmp-answer input")
    page.get_by_role("option", name="18", exact=True).click()
    for k, row in enumerate(rows()):
        tree = Tree.from_events(services.runs.events(row[-1]))
        want = sorted(i for c in answer_clusters(tree) if answers_equal(c.answer, "18") for i in c.leaves)
        ringed = ",".join(map(str, want))
        assert ringed, f"run {k} states no 18: nothing to ring"
        sel = f"#cmp-tree-{k} .canopy-tree"
        wait_until(lambda sel=sel, ringed=ringed: highlighted(page, sel) == ringed, what=f"tree {k} ringed")


def highlighted(pg, sel: str) -> str:
    return pg.eval_on_selector(sel, "e => e.dataset.highlight || ''")


def same_nodes(pg, sel: str, tree) -> bool:
    drawn_ids = {int(i) for i in drawn(pg, sel)["nodes"]}
    return drawn_ids == set(tree.nodes)


def test_the_diff_colours_exactly_the_nodes_that_differ(page, server):
    from tests.test_tree_diff import A_STEPS, B_STEPS, PROBLEM, run_events

    _, services = server
    services.store.import_events("diffa1", run_events("diffa1", PROBLEM, A_STEPS))
    services.store.import_events("diffb1", run_events("diffb1", PROBLEM, B_STEPS))
    page.get_by_role("tab", name="Compare").click()
    page.fill("#cmp-diff-a input, #cmp-diff-a textarea", "diffa1")
    page.fill("#cmp-diff-b input, #cmp-diff-b textarea", "diffb1")
    page.click("#cmp-diff-btn")
    wait_until(lambda: "only in A" in page.inner_text("#cmp-diff-text"), what="the diff")
    assert "3 steps in both, 2 only in A (blue), 3 only in B (orange)" in page.inner_text("#cmp-diff-text")
    wait_until(lambda: page.evaluate(PLOT_DATA, "#cmp-diff-plot"), what="the diff drawn")
    traces = {t["name"]: t for t in page.evaluate(PLOT_DATA, "#cmp-diff-plot")}
    ids = lambda name, k: sorted(i for row in traces[name]["customdata"] for i in row[k])  # noqa: E731
    assert ids("only in A", 1) == [2, 4] and ids("only in A", 2) == []
    assert ids("only in B", 2) == [2, 4, 5] and ids("only in B", 1) == []
    assert ids("in both runs", 1) == [0, 1, 3] and ids("in both runs", 2) == [0, 1, 3]
    colours = {name: t["marker"]["color"] for name, t in traces.items() if name != "edges"}
    assert colours == {"in both runs": "#bdbdbd", "only in A": "#1f77b4", "only in B": "#ff7f0e"}


#: each drawn node's colour value (SVG drawing: the marker's value array) and the scale's top
COLOUR_VALUES = """() => {
  const el = document.querySelector('#tree .canopy-plot'), out = {values: {}, cmax: null};
  for (const t of el.data || []) {
    if (!String(t.name).startsWith('nodes')) continue;
    const c = t.marker.color;
    t.customdata.forEach((r, k) => { out.values[r[0]] = Array.isArray(c) ? c[k] : null; });
    out.cmax = t.marker.cmax;
  }
  out.title = document.querySelector('#tree .canopy-scale-title').textContent;
  return out;
}"""


def test_the_solve_screens_colour_picker_colours_the_live_tree_by_cost(page, server):
    """Issue 17 item 3 on the Solve screen: **Colour by** tokens or execution time colours each
    node by what it cost (the folded run's ``node_cost``), with the scale topped at the maximum."""
    from backend.tree import Tree
    from ui.cost import node_cost

    services = server[1]
    run_id = run(page, rollouts=4, **SMALL)
    wait_until(lambda: "finished" in status(page), what="run end")
    tb.settle(page, services, run_id)
    tree = Tree.from_events(services.runs.events(run_id))
    for mode, title in (("tokens", "tokens generated"), ("exec_ms", "execution time (ms)")):
        page.select_option("#tree .canopy-mode", mode)
        tb.wait_until(lambda t=title: page.evaluate(COLOUR_VALUES)["title"] == t, what=f"colour by {mode}")
        got = page.evaluate(COLOUR_VALUES)
        want = {nid: node_cost(n, mode) for nid, n in tree.nodes.items()}
        assert {int(k): v for k, v in got["values"].items()} == pytest.approx(want, abs=0.06), mode
        assert got["cmax"] == pytest.approx(max(want.values()), abs=0.06) and max(want.values()) > 0
    assert nodes(page) == len(tree.nodes)
