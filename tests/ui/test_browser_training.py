"""The Training tab in the browser (issue 20): a live run's progress moves as its files
appear, a finished run's round charts are drawn, and "Use this round" fills the Solve form
with round 1's and then round 2's policy and PPM. The server is tests/ui/server.py's app over
hand-made run directories (tests/evolve/run_dirs.py); chromium is the harness's."""

from __future__ import annotations

import os
import time

import pytest

from tests.evolve.run_dirs import finished_run, mid_search_run
from tests.ui import server as srv
from tests.ui.test_browser import wait_until
from ui.app import serve
from ui.training_runs import TrainingSettings

pytestmark = [pytest.mark.browser]

#: the trace names Plotly drew in the tab's chart
CHART_TRACES = (
    "() => (document.querySelector('#training-chart .canopy-simple-plot').data || []).map(t => t.name)"
)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    finished_run(root / "done")
    live = mid_search_run(root / "live", searched=3)
    stamp = time.time() + 5  # the live run's manifest is the newest: listed (and shown) first
    os.utime(live / "manifest.json", (stamp, stamp))
    return root


@pytest.fixture(scope="module")
def server(runs):
    if not srv.CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    services = srv.demo_services()
    services.training = TrainingSettings(runs)
    port = srv.free_port()
    demo = serve(services, port=port, block=False)
    yield f"http://127.0.0.1:{port}/"
    srv.stop(demo, services)


@pytest.fixture(scope="module")
def page(server):
    with srv.chromium() as browser:
        context, pg, _ = srv.recorded_page(browser)
        pg.goto(server)
        yield pg
        context.close()


def shown(pg, elem_id: str) -> str:
    return pg.locator(f"#{elem_id} input").input_value()


def pick(pg, elem_id: str, label: str) -> None:
    pg.click(f"#{elem_id} input")
    pg.get_by_role("option", name=label, exact=True).click()


def test_training_tab_follows_a_live_run_draws_charts_and_fills_the_solve_form(page, runs):
    page.get_by_role("tab", name="Training").click()
    wait_until(lambda: "3/5 problems searched" in page.inner_text("#training-progress"), what="the live run")
    (runs / "live" / "round-2" / "trees" / "gsm8k-train_3.jsonl.gz").write_bytes(b"")
    wait_until(lambda: "4/5 problems searched" in page.inner_text("#training-progress"), timeout=15,
               what="the timer's redraw of the new tree file")

    pick(page, "training-run", "done · finished: 2 round(s)")
    wait_until(lambda: "Finished: 2 round(s)." in page.inner_text("#training-progress"),
               what="the finished run")
    wait_until(lambda: {"greedy", "search", "SFT examples"} <= set(page.evaluate(CHART_TRACES)),
               what="the round charts")
    assert "gsm8k-train 0-4" in page.inner_text("#training-about")

    pick(page, "training-round", "round 1: policy")
    page.click("#training-use")
    wait_until(lambda: page.locator("#policy").is_visible(), what="the Solve tab with the Policy control")
    wait_until(lambda: shown(page, "policy") == "done · round 1 policy", what="round 1's policy")
    assert shown(page, "ppm") == "none" and shown(page, "algorithm") == "rstar"

    page.get_by_role("tab", name="Training").click()
    pick(page, "training-round", "round 2: policy + PPM")
    page.click("#training-use")
    wait_until(lambda: shown(page, "policy") == "done · round 2 policy", what="round 2's policy")
    assert shown(page, "ppm") == "done · round 2 PPM"
