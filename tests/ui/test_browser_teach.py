"""Issue 16 in the browser: answer clusters, steering, teacher mode. Fixtures and helpers are
test_browser.py's (one server and one chromium per module); what the page shows is read
back from Plotly's own traces and shapes and compared with the tree folded from the run."""

from __future__ import annotations

import re
import time

import pytest

from tests.ui import test_browser as tb
from tests.ui.test_browser import run, settle, wait_until

# the fixtures of test_browser.py, shared (one server and one chromium for this module)
server, browser, page, pace = tb.server, tb.browser, tb.page, tb.pace

pytestmark = [pytest.mark.browser]

#: a small rStar tree: every path ends by its fourth step; answers 18 and 9 (scripted_runs)
SMALL = {"rollouts": 6, "children": 3, "max_depth": 3}

#: the ids ringed green in the tree (answer-cluster highlight) and the highlighted edges
HIGHLIGHT = """() => {
  const el = document.querySelector('#tree .canopy-plot');
  const ringed = (el.data || []).find((d) => d.name === 'highlighted');
  const t = (el.data || []).find((d) => d.name === 'highlighted paths');
  return {dataset: el.closest('.canopy-tree').dataset.highlight, rings: ringed ? ringed.x.length : 0,
          edges: t ? t.x.filter((x) => x !== null).length / 2 : 0};
}"""
#: the centre of a cluster's bar, in page coordinates
BAR = """(i) => {
  const el = document.querySelector('#clusters .canopy-cluster-plot');
  const bar = el.querySelectorAll('.bars .point')[i].getBoundingClientRect();
  return {x: bar.left + bar.width / 2, y: bar.top + bar.height / 2};
}"""


def _clusters(services, run_id):
    from backend.answer_clusters import answer_clusters

    return services.trees.view(run_id, answer_clusters)


def _weights(pg) -> list[float]:
    text = pg.eval_on_selector("#clusters .canopy-clusters", "e => e.dataset.weights || ''")
    return [float(w) for w in text.split(",") if w]


def test_cluster_click_highlights_exactly_the_leaves_of_that_answer(page, server):
    _, services = server
    run_id = run(page, **SMALL)
    services.runs.get(run_id).wait(60)
    settle(page, services, run_id)
    clusters = _clusters(services, run_id)
    assert len(clusters) >= 2  # 18 and 9 (scripted_runs)
    wait_until(
        lambda: (
            page.eval_on_selector("#clusters .canopy-clusters", "e => e.dataset.count") == str(len(clusters))
        ),
        what="the clusters panel",
    )
    # the bars' heights are the clusters' visits, in the panel's order
    assert _weights(page) == [c.visits for c in clusters]
    second = clusters[1]
    page.locator("#clusters .canopy-cluster-plot").scroll_into_view_if_needed()
    where = page.evaluate(BAR, 1)
    page.mouse.move(where["x"], where["y"])
    page.mouse.click(where["x"], where["y"])
    wait_until(lambda: page.evaluate(HIGHLIGHT)["dataset"], what="the highlight")
    shown = page.evaluate(HIGHLIGHT)
    assert sorted(int(i) for i in shown["dataset"].split(",")) == sorted(second.leaves)
    assert shown["rings"] == len(second.leaves)
    assert shown["edges"] == len(second.nodes) - 1  # every node of the paths but the root has its edge
    assert page.eval_on_selector("#clusters .canopy-clusters", "e => e.dataset.selected") == second.answer
    # the other cluster's button moves the highlight; Clear removes it
    page.click("#clusters .canopy-cluster[data-index='0']")
    wait_until(
        lambda: (
            sorted(int(i) for i in (page.evaluate(HIGHLIGHT)["dataset"] or "").split(",") if i)
            == sorted(clusters[0].leaves)
        ),
        what="the first cluster's leaves",
    )
    page.click("#clusters .canopy-cluster-clear")
    wait_until(lambda: page.evaluate(HIGHLIGHT)["rings"] == 0, what="no highlight")
    # weighting by mean Q redraws the bars with the clusters' Q
    page.select_option("#clusters .canopy-cluster-weight", "q")
    wait_until(lambda: _weights(page) == [c.q for c in clusters], what="bars by Q")


# --- steering ------------------------------------------------------------------------------

#: per drawn node id, the name of the trace it is drawn in ("nodes: pruned" when faded)
TRACE_OF = """() => {
  const out = {};
  for (const t of document.querySelector('#tree .canopy-plot').data || []) {
    if (!String(t.name).startsWith('nodes')) continue;
    t.customdata.forEach((r) => { out[r[0]] = t.name; });
  }
  return out;
}"""


def _steer_node(pg, node_id):
    """Open the steering panel, then click a node in the tree to steer it."""
    if not pg.is_visible("#steer-prune"):
        pg.locator("#steer-panel").get_by_text("Steer the search", exact=True).click()
    wait_until(lambda: pg.is_visible("#steer-prune"), what="the steering panel")
    tb.click_node(pg, node_id)
    wait_until(lambda: f"#{node_id} " in pg.inner_text("#steer-message") + " ", what="the steered node")


def _events(services, run_id, kind=None):
    from backend import events as ev

    events = services.runs.events(run_id)
    return events if kind is None else [e for e in events if isinstance(e, getattr(ev, kind))]


def test_prune_from_the_page_excludes_the_subtree_and_draws_it_faded(page, server, pace):
    _, services = server
    pace(0.2)
    run_id = run(page, **tb.ENDLESS)
    wait_until(lambda: len(_events(services, run_id, "IterationDone")) >= 2, timeout=60, what="2 rollouts")
    page.click("#pause-btn")
    tb.wait_paused(page, services, run_id)
    tree = services.trees.view(run_id, lambda t: t)
    target = next(tree.nodes[k] for k in tree.root.children if tree.nodes[k].children)
    below = set(services.trees.view(run_id, lambda t: t.subtree(target.id)))
    _steer_node(page, target.id)
    page.click("#steer-prune")
    wait_until(
        lambda: any(e.action == "prune" for e in _events(services, run_id, "UserAction")), what="prune"
    )
    pruned_seq = next(e.seq for e in _events(services, run_id, "UserAction") if e.action == "prune")
    for steps in (1, 2):  # two more rollouts, one at a time
        page.click("#step-btn")
        # the count is known, not read back: a click's step event can land after a read (a
        # loaded full suite counted 0 and waited for a state the prune had already passed)
        tb.wait_paused(page, services, run_id, steps=steps)
    later = [e.path for e in _events(services, run_id, "NodeSelected") if e.seq > pruned_seq]
    assert later and all(not below & set(p) for p in later)
    drawn = page.evaluate(TRACE_OF)
    assert all(drawn[str(k)] == "nodes: pruned" for k in below)  # the whole subtree is faded
    assert any(name != "nodes: pruned" for k, name in drawn.items() if int(k) not in below)


def test_the_inspector_prunes_the_clicked_node_with_its_own_button(page, server, pace):
    """Issue 16 item 2 from the inspector itself: a clicked node of a live run gets a steering row
    under the inspector's title; its Prune records a prune of that node and fades its subtree."""
    _, services = server
    pace(0.2)
    run_id = run(page, **tb.ENDLESS)
    assert not page.is_visible("#insp-prune")  # nothing to steer before a click
    wait_until(lambda: len(_events(services, run_id, "IterationDone")) >= 2, timeout=60, what="2 rollouts")
    page.click("#pause-btn")
    tb.wait_paused(page, services, run_id)
    tree = services.trees.view(run_id, lambda t: t)
    target = next(tree.nodes[k] for k in tree.root.children if tree.nodes[k].children)
    below = set(services.trees.view(run_id, lambda t: t.subtree(target.id)))
    tb.click_node(page, target.id)
    wait_until(lambda: f"node #{target.id}:" in page.inner_text("#insp-steer-message"), what="the row")
    assert all(page.is_visible(f"#insp-{b}") for b in ("expand", "force", "fork"))
    page.click("#insp-prune")
    wait_until(lambda: "prune the subtree of" in page.inner_text("#insp-steer-message"), what="the answer")
    pruned = lambda: [e.node for e in _events(services, run_id, "UserAction") if e.action == "prune"]  # noqa: E731
    wait_until(lambda: pruned() == [target.id], what="the prune event")
    wait_until(
        lambda: all(page.evaluate(TRACE_OF).get(str(k)) == "nodes: pruned" for k in below),
        what="the subtree faded",
    )
    second = run(page, **tb.ENDLESS)  # the clicked node was the last run's: its row goes
    assert second != run_id
    wait_until(lambda: not page.is_visible("#insp-steer"), what="the row hidden for the new run")
    page.click("#stop-btn")


def test_add_my_step_from_the_page_runs_the_code_and_the_inspector_shows_its_output(page, server, pace):
    _, services = server
    pace(0.2)
    run_id = run(page, **tb.ENDLESS)
    wait_until(lambda: len(_events(services, run_id, "IterationDone")) >= 1, timeout=60, what="a rollout")
    page.click("#pause-btn")
    tb.wait_paused(page, services, run_id)
    tree = services.trees.view(run_id, lambda t: t)
    first = next(tree.nodes[k] for k in tree.root.children if tree.nodes[k].status == "ok")
    _steer_node(page, first.id)
    page.fill("#steer-text textarea", "Sell what is left at $2 each")
    page.locator("#steer-code .cm-content").click()
    page.keyboard.type("print(left * 2)")
    page.click("#steer-add")

    def mine():
        added = [e for e in _events(services, run_id, "NodeAdded") if e.meta.get("author") == "user"]
        return (
            added[0].id
            if added and _events(services, run_id, "NodeVerified")[-1].seq > added[0].seq
            else None
        )

    wait_until(lambda: mine() is not None, what="the user's node")
    settle(page, services, run_id)
    tb.click_node(page, mine())
    wait_until(lambda: f"#{mine()}" in page.inner_text("#insp-title"), what="the inspector")
    wait_until(lambda: "18" in page.inner_text("#insp-output"), what="the step's output")
    assert "print(left * 2)" in page.inner_text("#insp-code")


def test_fork_from_the_page_starts_a_run_whose_tree_shares_the_path(page, server):
    _, services = server
    run_id = run(page, **SMALL)
    services.runs.get(run_id).wait(60)
    settle(page, services, run_id)
    tree = services.trees.view(run_id, lambda t: t)
    deep = max((n for n in tree.nodes.values() if n.status == "ok" and not n.terminal), key=lambda n: n.depth)
    _steer_node(page, deep.id)
    page.click("#steer-fork")
    href = lambda: page.evaluate("window.location.href")  # noqa: E731
    wait_until(lambda: "run=" in href() and run_id not in href(), what="the fork's id in the URL")
    fork_id = href().split("run=")[1]
    services.runs.get(fork_id).wait(60)
    settle(page, services, fork_id)
    fork = services.trees.view(fork_id, lambda t: t)
    assert fork.started.spec["parent"] == run_id
    node = fork.root
    for src in tree.path_to(deep.id)[1:]:
        assert len(node.children) == 1
        node = fork.nodes[node.children[0]]
        assert (node.text, node.code) == (tree.nodes[src].text, tree.nodes[src].code)
    assert tb.nodes(page) == len(fork.nodes)  # the page follows the fork
    assert "Forked run" in page.inner_text("#steer-message")


# --- teacher mode --------------------------------------------------------------------------


def _lesson(pg) -> str:
    """The lesson's text without Gradio's progress line above it ("processing | 0.3s")."""
    text = pg.inner_text("#teach-lesson")
    starts = [text.find(w) for w in ("Iteration ", "That was", "The search is", "Press ") if w in text]
    return text[min(starts) :] if starts else text


def _settled_lesson(pg, before: str) -> bool:
    """The lesson shows a new phase, question or end (not the same text, not a progress line)."""
    text = _lesson(pg)
    return text != before and (re.search(r"\(step \d+ of \d+\)", text) is not None or "last phase" in text)


def test_teacher_mode_tells_each_phase_in_order_with_the_runs_numbers_and_scores_predictions(page, server):
    from backend.teach import lesson

    _, services = server
    run_id = run(page, **SMALL)
    services.runs.get(run_id).wait(60)
    settle(page, services, run_id)
    phases = lesson(services.runs.events(run_id))
    page.check("#teach-toggle input")
    wait_until(lambda: page.is_visible("#teach-next"), what="the teacher panel")
    seen, predictions = [], 0
    for _ in range(len(phases) + 20):
        before = _lesson(page)
        page.click("#teach-next")
        wait_until(lambda before=before: _settled_lesson(page, before), what="the next phase")
        text = _lesson(page)
        if "last phase" in text:
            break
        if "Which child of #" in text:  # the question before a selection: predict, check, reveal
            phase = phases[len(seen)]
            options = [str(o) for o in phase.question.options]
            wrong = predictions % 2 == 1  # one right, one wrong, ...
            pick = next(o for o in options if (o != str(phase.question.answer)) == wrong)
            page.locator("#teach-predict").get_by_label(f"#{pick}", exact=True).check()
            page.click("#teach-check")
            wait_until(lambda: "✓" in _lesson(page) or "✗" in _lesson(page), what="the reveal")
            text = _lesson(page)
            assert ("✓ Right" in text) is not wrong and ("✗ Not this time" in text) is wrong
            for line in phase.question.reveal:  # every sibling's arithmetic, in the run's numbers
                assert line.split(":")[0] in text and line.rsplit("= ", 1)[-1] in text
            predictions += 1
            right = (predictions + 1) // 2
            wait_until(
                lambda r=right, n=predictions: f"{r} of {n}" in page.inner_text("#teach-score"), what="score"
            )
        phase = phases[len(seen)]
        assert f"(step {len(seen) + 1} of " in text and phase.kind.split("pagate")[0][:6] in text.lower()
        for sentence in phase.sentences:
            assert sentence.split(":")[0] in text
        seen.append(phase.kind)
        if len(seen) >= 12:
            break
    assert seen[:5] == ["expand", "evaluate", "backpropagate", "select", "expand"]
    assert predictions >= 2
    # the teacher tree shows the tree as of the phase: no node added after it is drawn
    drawn = tb.node_ids(page, "#teach-tree")
    upto = phases[len(seen) - 1].last_seq
    assert drawn == sorted(
        e.id for e in services.runs.events(run_id)[: upto + 1] if type(e).__name__ == "NodeAdded"
    )


# --- keyboard --------------------------------------------------------------------------------


def _inspected(pg) -> int | None:
    m = re.search(r"#(\d+)", pg.inner_text("#insp-title"))
    return int(m.group(1)) if m else None


def _nav_state(pg) -> str:
    """What a failed key-navigation wait saw: the inspected node, the tree's selection and the
    focused element (it showed the cause of a flake: "inspected #1, tree selection 0", see
    ``test_a_late_answer_to_an_older_click_does_not_overwrite_the_newer_one``)."""
    seen = pg.evaluate(
        "() => { const e = document.querySelector('#tree .canopy-tree'), a = document.activeElement;"
        " return {selected: e ? e.dataset.selected : null,"
        " focus: a ? a.tagName + '#' + a.id + '.' + a.className : null}; }"
    )
    return f"inspected #{_inspected(pg)}, tree selection {seen['selected']}, focus {seen['focus']}"


def _wait_inspected(pg, node_id: int, what: str) -> None:
    try:
        wait_until(lambda: _inspected(pg) == node_id, what=what)
    except AssertionError as exc:
        raise AssertionError(f"{exc}: wanted #{node_id}, {_nav_state(pg)}") from None


def test_keys_move_the_selection_through_the_tree_and_drive_pause_and_step(page, server, pace):
    _, services = server
    pace(0.2)
    run_id = run(page, **tb.ENDLESS)
    wait_until(lambda: len(_events(services, run_id, "IterationDone")) >= 1, timeout=60, what="a rollout")
    page.keyboard.press("p")  # pause from the keyboard
    tb.wait_paused(page, services, run_id)
    assert page.inner_text("#pause-btn") == "Resume"
    tree = services.trees.view(run_id, lambda t: t)
    kids = tree.root.children  # drawn left to right in child order
    tb.click_node(page, kids[0])
    wait_until(lambda: _inspected(page) == kids[0], what="the clicked node")
    page.mouse.move(5, 5)
    page.keyboard.press("ArrowRight")
    _wait_inspected(page, kids[1], "the next sibling")
    page.keyboard.press("ArrowLeft")
    _wait_inspected(page, kids[0], "the previous sibling")
    page.keyboard.press("ArrowUp")
    _wait_inspected(page, tree.root_id, "the parent")
    page.keyboard.press("ArrowDown")
    _wait_inspected(page, kids[0], "the first child")
    done = len(_events(services, run_id, "IterationDone"))
    page.keyboard.press("s")  # one more rollout
    wait_until(lambda: len(_events(services, run_id, "IterationDone")) == done + 1, what="one step")
    page.click("#problem textarea")
    page.keyboard.type("s")  # a key typed in a box is text, not a shortcut
    time.sleep(1.0)
    assert len(_events(services, run_id, "IterationDone")) == done + 1


# --- big trees ---------------------------------------------------------------------------------


#: the x axis spans 20 units centred on the node's x (zoom to node)
ZOOMED = """(id) => {
  const el = document.querySelector('#tree .canopy-plot'), r = el.layout.xaxis.range;
  for (const t of el.data) {
    if (!String(t.name).startsWith('nodes')) continue;
    const k = t.customdata.findIndex((row) => row[0] === id);
    if (k < 0) continue;
    return !!r && Math.abs(r[1] - r[0] - 20) < 1e-6 && Math.abs((r[0] + r[1]) / 2 - t.x[k]) < 1e-6;
  }
  return false;
}"""


def _tree_data(pg) -> dict:
    """The tree view's data attributes ({} until the page has drawn its tree element)."""
    return pg.evaluate(
        "() => { const e = document.querySelector('#tree .canopy-tree');"
        " return e ? Object.assign({}, e.dataset) : {}; }"
    )


def test_find_rings_the_matching_nodes_focus_and_collapse_hide_the_rest(page, server):
    from backend.node_search import search_nodes

    _, services = server
    run_id = run(page, **SMALL)
    services.runs.get(run_id).wait(60)
    settle(page, services, run_id)
    tree = services.trees.view(run_id, lambda t: t)
    failing = search_nodes(tree, "undefined_name")
    assert failing
    page.locator("#bigtree-panel").get_by_text("Find, focus, collapse (big trees)", exact=True).click()
    page.fill("#find-query input, #find-query textarea", "undefined_name")
    page.click("#find-btn")
    wait_until(lambda: _tree_data(page).get("highlight"), what="the matches ringed")
    assert sorted(int(i) for i in _tree_data(page)["highlight"].split(",")) == failing
    said = "node matches" if len(failing) == 1 else "nodes match"
    assert f"{len(failing)} {said}" in page.inner_text("#find-result")
    page.click("#zoom-btn")  # zoom to the first match: the axes centred on it
    wait_until(lambda: page.evaluate(ZOOMED, failing[0]), what="the tree zoomed on the first match")
    page.dblclick("#tree .canopy-plot .nsewdrag")  # autosize: the whole tree again
    # focus: the best path and its siblings only
    best = set(tree.best_path())
    shown = {n.id for n in tree.nodes.values() if n.parent is None or n.parent in best}
    page.check("#focus-toggle input")
    wait_until(lambda: _tree_data(page).get("focus") == "1", what="focus")
    wait_until(lambda: set(tb.node_ids(page)) == shown, what="only the best path's neighbourhood drawn")
    assert int(_tree_data(page)["hidden"]) == len(tree.nodes) - len(shown)
    page.uncheck("#focus-toggle input")
    wait_until(lambda: len(tb.node_ids(page)) == len(tree.nodes), what="the whole tree again")
    # collapse the selected node (key c), then expand all
    inner = next(tree.nodes[k] for k in tree.root.children if tree.nodes[k].children)
    tb.click_node(page, inner.id)
    page.mouse.move(5, 5)
    page.keyboard.press("c")
    below = set(tree.subtree(inner.id)) - {inner.id}
    wait_until(lambda: set(tb.node_ids(page)) == set(tree.nodes) - below, what="the subtree hidden")
    assert _tree_data(page)["collapsed"] == str(inner.id)
    page.click("#expand-all-btn")
    wait_until(lambda: len(tb.node_ids(page)) == len(tree.nodes), what="everything shown")


#: the axes' x range and the y range, as the page's plot holds them
AXES = """() => { const fl = document.querySelector('#tree .canopy-plot')._fullLayout;
  return [fl.xaxis.range[0], fl.xaxis.range[1], fl.yaxis.range[0], fl.yaxis.range[1]]; }"""


def test_a_big_tree_has_a_minimap_whose_click_moves_the_view(page, server):
    """Issue 16 item 3: a tree of 300 nodes or more shows a minimap (every node, the viewport's
    rectangle); a click on it centres the axes on that point of the tree, and the rectangle
    follows the axes. A small tree has none."""
    from backend.tree import Tree
    from tests.ui.scripted_runs import make_run

    url, services = server
    search = make_run(algorithm="cpl", rollouts=10_000, children=4, max_depth=12, run_id="minimap-400")
    search.start()
    while search.state.next_id < 400:
        search.step()
    search.finish(status="stopped")
    services.store.import_events("minimap-400", search.log.events)
    page.goto(f"{url}?run=minimap-400")
    count = len(Tree.from_events(search.log.events).nodes)
    assert count >= 400
    wait_until(lambda: _tree_data(page).get("nodes") == str(count), timeout=60, what="the stored tree drawn")
    wait_until(lambda: _tree_data(page).get("minimap") == "1", what="the minimap")
    box = page.locator("#tree .canopy-minimap").bounding_box()
    assert box and box["width"] > 100
    page.mouse.click(box["x"] + 0.25 * box["width"], box["y"] + 0.75 * box["height"])
    wait_until(lambda: page.evaluate(AXES)[1] - page.evaluate(AXES)[0] < 21, what="the axes zoomed in")
    x0, x1, y0, y1 = page.evaluate(AXES)
    cols = page.eval_on_selector("#tree .canopy-plot", "e => e.data.filter((t) => String(t.name)"
                                 ".startsWith('nodes')).flatMap((t) => t.x)")
    lo, hi = min(cols), max(cols)
    depth = max(n.depth for n in services.trees.view("minimap-400", lambda t: t).nodes.values())
    w, h = box["width"], box["height"]  # the minimap keeps a 5 px margin on each side
    at_x = lo + (0.25 * w - 5) / (w - 10) * (hi - lo)
    at_depth = (0.75 * h - 5) / (h - 10) * depth
    assert abs((x0 + x1) / 2 - at_x) < 0.02 * (hi - lo) and abs((y0 + y1) / 2 + at_depth) < 0.05 * depth
    wait_until(
        lambda: _tree_data(page).get("minimapView") == ",".join(f"{v:.2f}" for v in page.evaluate(AXES)),
        what="the rectangle following the axes",
    )
    page.goto(url)  # a new, empty view: no minimap
    wait_until(lambda: _tree_data(page).get("nodes") == "0", what="an empty tree")
    assert not page.locator("#tree .canopy-minimap").is_visible()


def test_a_late_answer_to_an_older_click_does_not_overwrite_the_newer_one(page, server, pace, monkeypatch):
    """Click a node whose inspection is slow, then move on with a key at once: the inspector ends
    on the newer node. (Gradio's "always_last" replayed the older click's data, so the page showed
    the first node while the tree ringed the second: ui/click_order.py.)"""
    from ui import handlers

    _, services = server
    pace(0.2)
    run_id = run(page, **tb.ENDLESS)
    wait_until(lambda: len(_events(services, run_id, "IterationDone")) >= 1, timeout=60, what="a rollout")
    page.keyboard.press("p")
    tb.wait_paused(page, services, run_id)
    kids = services.trees.view(run_id, lambda t: t).root.children
    real = handlers.inspect

    def slow_first(s, rid, node_id, **kw):
        if node_id == kids[0]:
            time.sleep(1.5)
        return real(s, rid, node_id, **kw)

    monkeypatch.setattr(handlers, "inspect", slow_first)
    tb.click_node(page, kids[0])
    page.mouse.move(5, 5)
    page.keyboard.press("ArrowRight")  # its next sibling, asked while the first answer waits
    _wait_inspected(page, kids[1], "the newer click's node")
    time.sleep(2.5)  # the older click's answer has come back by now
    assert _inspected(page) == kids[1], _nav_state(page)
