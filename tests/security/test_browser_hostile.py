"""The real page (Debian's chromium driven by Playwright, the harness of tests/ui) showing a
stored run whose every content field is hostile (``tests/security/hostile.py``): the Solve
screen re-attached with ``?run=``, the inspector of each node, the hover label, the problem
preview, the History list, replay and import, and a hostile ``?run=`` value.

Throughout, the page must request nothing from any host but the local server, and no element
may carry a URL, a ``javascript:`` link or an event handler from the content.
"""

from __future__ import annotations

import re
import time
from urllib.parse import quote, urlsplit

import pytest

from tests.security.hostile import EVIL, HOSTILE, HOSTILE_LINE, hostile_events
from tests.ui import server as srv
from tests.ui.server import CHROMIUM

pytestmark = [pytest.mark.browser]

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install playwright)"
)
if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)

RUN = "hostile-run"

#: every attribute in the document that could fetch, link or run something, holding content
TAINTED = r"""() => {
  const risky = /^(src|href|xlink:href|srcset|action|formaction|poster|data|background|style|cite|on.*)$/i;
  const bad = [];
  for (const el of document.querySelectorAll('*')) {
    for (const a of el.attributes) {
      if (risky.test(a.name) && /evil|javascript:|alert\(/i.test(a.value)) {
        bad.push(el.tagName + ' ' + a.name + '=' + a.value.slice(0, 80));
      }
    }
  }
  for (const el of document.querySelectorAll('script')) {
    // Gradio's own config script holds the initial values (the History list), "<" escaped
    const text = el.textContent;
    const config = /^\s*window\.gradio_config\s*=/.test(text) && !/<\/?script/i.test(text);
    if (/alert\(1\)/.test(text) && !config) bad.push('script ' + text.slice(0, 80));
  }
  for (const el of document.querySelectorAll('.prose img, .prose a, .mermaid, .prose svg image')) {
    bad.push('content element ' + el.outerHTML.slice(0, 80));
  }
  return bad;
}"""

NODE_XY = """([sel, id]) => {
  const el = document.querySelector(sel + ' .canopy-plot');
  for (const t of el.data || []) {
    if (!String(t.name).startsWith('nodes')) continue;
    const k = t.customdata.findIndex((r) => r[0] === id);
    if (k < 0) continue;
    const fl = el._fullLayout, box = el.getBoundingClientRect();
    return {x: box.left + fl._size.l + fl.xaxis.l2p(t.x[k]), y: box.top + fl._size.t + fl.yaxis.l2p(t.y[k])};
  }
  return null;
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from backend.store import SQLiteStore

    store = SQLiteStore(tmp_path_factory.mktemp("hist") / "canopy.sqlite")
    store.import_events(RUN, hostile_events(RUN, level="warning"))
    demo, services, url = srv.start(store)
    yield url, services
    srv.stop(demo, services)


@pytest.fixture(scope="module")
def browser():
    with srv.chromium() as b:
        yield b


@pytest.fixture
def page(browser, server):
    """A fresh page; after the test, no request may have gone anywhere but the server."""
    url, services = server
    context, pg, requests = srv.recorded_page(browser)
    pg.requests = requests  # type: ignore[attr-defined]
    yield pg
    context.close()
    services.runs.shutdown()
    here = re.escape(url.rstrip("/"))
    outside = [u for u in requests if not re.match(rf"^({here}[:/]|{here}$|data:|blob:|about:)", u)]
    assert not outside, f"requests left the server: {outside[:5]}"
    assert not [u for u in requests if urlsplit(u).hostname and EVIL in urlsplit(u).hostname]


def wait_until(cond, timeout=30.0, every=0.1, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


#: chromium loads an image only near the viewport: show every panel once
SCROLL_ALL = """async () => {
  for (const el of document.querySelectorAll('.prose, .canopy-plot, table')) {
    el.scrollIntoView({block: 'center'});
    await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 20)));
  }
  window.scrollTo(0, 0);
}"""


def clean(pg, when: str) -> None:
    """No tainted element now, and no request off the server (every panel scrolled into
    view first, so an image from content would have loaded)."""
    pg.evaluate(SCROLL_ALL)
    time.sleep(0.5)
    bad = pg.evaluate(TAINTED)
    assert not bad, f"{when}: {bad[:5]}"
    hosts = {urlsplit(u).hostname for u in pg.requests}
    assert not [h for h in hosts if h and EVIL in h], f"{when}: a request to {EVIL}"


def node_xy(pg, view: str, node_id: int) -> dict:
    pg.locator(f"{view} .canopy-plot").scroll_into_view_if_needed()
    wait_until(lambda: pg.evaluate(NODE_XY, [view, node_id]) is not None, what=f"node {node_id} drawn")
    return pg.evaluate(NODE_XY, [view, node_id])


def test_a_hostile_run_on_the_solve_screen(page, server):
    url, _ = server
    page.goto(f"{url}?run={RUN}")
    page.wait_for_selector("#run-btn")
    wait_until(lambda: f"Run {RUN}" in page.inner_text("#run-status"), what="re-attach")
    wait_until(lambda: "evil" in page.inner_text("#answer"), what="the answer panel")
    clean(page, "attached")
    shown = page.inner_text("#answer")
    assert f"<img src=http://{EVIL}/img onerror=alert(1)>" in shown  # shown as text, not drawn
    for node_id in (0, 1, 2):
        where = node_xy(page, "#tree", node_id)
        page.mouse.move(where["x"], where["y"])
        wait_until(lambda: page.locator("#tree .hovertext").count() > 0, what="the hover label")
        label = page.evaluate("document.querySelector('#tree .hoverlayer').textContent")
        assert "<img" in label or "(no text)" in label  # the label shows the tag as text
        page.mouse.click(where["x"], where["y"])
        wait_until(lambda n=node_id: f"Node #{n} " in page.inner_text("#insp-title"), what=f"node {node_id}")
        if node_id == 1:  # the node with a hostile score source
            assert "evil" in page.inner_text("#insp-numbers")
        page.locator("#tree .canopy-plot").scroll_into_view_if_needed()
        clean(page, f"inspector of node {node_id}")
    page.get_by_text("Path from the root").first.click()
    wait_until(lambda: "#0" in page.inner_text("#insp-path"), what="the path")
    assert "evil" in page.inner_text("#insp-verification")
    clean(page, "the path from the root")
    page.fill("#problem textarea", HOSTILE)
    wait_until(lambda: "evil" in page.inner_text("#problem-preview"), what="the preview")
    clean(page, "the problem preview")


def test_a_hostile_run_in_history_and_a_hostile_import(page, server, tmp_path):
    url, _ = server
    page.goto(url)
    page.wait_for_selector("#run-btn")
    page.get_by_role("tab", name="History").click()
    wait_until(lambda: "evil" in page.inner_text("#hist-list"), what="the history list")
    clean(page, "the history list")
    page.fill("#hist-run-id textarea, #hist-run-id input", RUN)
    page.click("#hist-open")
    wait_until(lambda: "evil" in page.inner_text("#hist-answer"), what="the opened run")
    clean(page, "the opened run")
    where = node_xy(page, "#hist-tree", 1)
    page.mouse.click(where["x"], where["y"])
    wait_until(lambda: "Node #1 " in page.inner_text("#hist-insp-title"), what="the replay inspector")
    clean(page, "the replay inspector")
    bad = tmp_path / "hostile.jsonl"
    bad.write_text(HOSTILE + "\n", encoding="utf-8")
    with page.expect_file_chooser() as chooser:
        page.click("#hist-import")
    chooser.value.set_files(str(bad))
    wait_until(lambda: "Import failed" in page.inner_text("#hist-message"), what="the import error")
    clean(page, "the import error")


def test_a_hostile_run_value_in_the_url(page, server):
    url, _ = server
    page.goto(f"{url}?run={quote(HOSTILE_LINE)}")
    page.wait_for_selector("#run-btn")
    wait_until(lambda: "history" in page.inner_text("#run-status"), what="the refusal")
    assert f"<img src=http://{EVIL}/img" in page.inner_text("#run-status")
    clean(page, "a hostile ?run=")
