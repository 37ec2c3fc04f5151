"""Issue 16 in the browser: answer clusters, steering, teacher mode. Fixtures and helpers are
test_browser.py's (one server and one chromium per module); what the page shows is read
back from Plotly's own traces and shapes and compared with the tree folded from the run."""

from __future__ import annotations

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
  const rings = (el.layout.shapes || []).filter((s) => s.line && s.line.color === '#2a9d8f');
  const t = (el.data || []).find((d) => d.name === 'highlighted paths');
  return {dataset: el.closest('.canopy-tree').dataset.highlight, rings: rings.length,
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
        lambda: page.eval_on_selector("#clusters .canopy-clusters", "e => e.dataset.count")
        == str(len(clusters)),
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
        lambda: sorted(int(i) for i in (page.evaluate(HIGHLIGHT)["dataset"] or "").split(",") if i)
        == sorted(clusters[0].leaves),
        what="the first cluster's leaves",
    )
    page.click("#clusters .canopy-cluster-clear")
    wait_until(lambda: page.evaluate(HIGHLIGHT)["rings"] == 0, what="no highlight")
    # weighting by mean Q redraws the bars with the clusters' Q
    page.select_option("#clusters .canopy-cluster-weight", "q")
    wait_until(lambda: _weights(page) == [c.q for c in clusters], what="bars by Q")
