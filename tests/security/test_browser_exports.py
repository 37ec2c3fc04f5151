"""The files Canopy writes for others to open (``canopy export --html`` replay, the HTML eval
report) in real chromium, from ``file://`` as a reader would open them, with every content field
hostile (``tests/security/hostile.py``): nothing runs, no dialog opens, no element carries a URL
or handler from content, and no request leaves the file (the page's CSP and its escaping)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from backend.html_replay import replay_document
from backend.report_html import eval_html
from backend.solve import EvalReport
from tests.security.hostile import EVIL, HOSTILE, HOSTILE_LINE, hostile_events
from tests.security.test_browser_hostile import TAINTED
from tests.ui import server as srv
from tests.ui.server import CHROMIUM

pytestmark = [pytest.mark.browser]

pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)

#: click each drawn node (the inspector shows its text, code and output) and hover it
VISIT_NODES = """async () => {
  const el = document.querySelector('.js-plotly-plot');
  let visited = 0;
  for (const [c, t] of el.data.entries()) {
    if (!String(t.name).startsWith('nodes')) continue;
    for (let k = 0; k < t.x.length; k++) {
      el.emit('plotly_click', {points: [{data: t, customdata: t.customdata[k], pointIndex: k}]});
      await new Promise((r) => setTimeout(r, 100));
      Plotly.Fx.hover(el, [{curveNumber: c, pointNumber: k}]);
      await new Promise((r) => setTimeout(r, 50));
      visited += 1;
    }
  }
  return visited;
}"""


HOVER_ALL = """() => { const el = document.getElementById('chart');
  el.data.forEach((t, c) => t.x.forEach((_, k) => Plotly.Fx.hover(el, [{curveNumber: c, pointNumber: k}])));
}"""
#: the app page's check, where a file's one data block (JSON, never run) holds the content as data
EXPORT_TAINTED = TAINTED.replace("document.querySelectorAll('script')",
                                 "document.querySelectorAll('script:not([type=\"application/json\"])')")
assert EXPORT_TAINTED != TAINTED


@pytest.fixture(scope="module")
def browser():
    with srv.chromium() as b:
        yield b


def _open(browser, path: Path):
    """(context, page, requests, dialogs) of ``path`` opened from disk, drawn."""
    context, page, requests = srv.recorded_page(browser)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(path.as_uri())
    page.wait_for_function("document.body.dataset.ready === '1'", timeout=60_000)
    return context, page, requests, dialogs


def _clean(page, requests, dialogs, path: Path) -> None:
    time.sleep(0.3)
    assert not dialogs, dialogs
    assert not page.evaluate(EXPORT_TAINTED)
    assert page.evaluate("document.querySelectorAll('script[type=\"application/json\"]').length") == 1
    assert [u for u in requests if u != path.as_uri()] == []  # not even a data: font or an image
    assert EVIL not in "".join(requests)


def test_a_hostile_run_replay_runs_nothing_and_fetches_nothing(browser, tmp_path):
    path = tmp_path / "replay.html"
    path.write_text(replay_document(hostile_events("hostile-run")), encoding="utf-8")
    context, page, requests, dialogs = _open(browser, path)
    try:
        assert page.evaluate(VISIT_NODES) == 3
        assert "<script>alert(1)</script>" in page.inner_text("body")  # shown as text, whole
        _clean(page, requests, dialogs, path)
    finally:
        context.close()


def test_a_hostile_eval_report_runs_nothing_and_fetches_nothing(browser, tmp_path):
    def row(pid, answer, status, **more):
        return {"id": pid, "question": HOSTILE, "reference": HOSTILE_LINE, "answer": answer, "correct": False,
                "status": status, "votes": {HOSTILE_LINE: 1.0}, "tokens": 4, "wall_s": 1.0, "iterations": 1,
                "nodes": 2, "in_tree": False, "run_id": "r", **more}

    rows = [row(HOSTILE_LINE, HOSTILE_LINE, "finished"), row("p2", None, "error", error=HOSTILE)]
    report = EvalReport(HOSTILE_LINE, HOSTILE_LINE, HOSTILE_LINE, {HOSTILE_LINE: HOSTILE}, rows, 3.0)
    report = report.to_dict()
    path = tmp_path / "report.html"
    path.write_text(eval_html(report), encoding="utf-8")
    context, page, requests, dialogs = _open(browser, path)
    try:
        text = page.inner_text("body")
        assert "<script>alert(1)</script>" in text and "failed (status error)" in text
        page.evaluate(HOVER_ALL)
        _clean(page, requests, dialogs, path)
    finally:
        context.close()
