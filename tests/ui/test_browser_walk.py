"""What a new user's walk through the page found (2026-12-03), in the browser. Fixtures and
helpers are test_browser.py's (one server per module)."""

from __future__ import annotations

import pytest

from tests.ui import test_browser as tb
from tests.ui.test_browser import SMALL, run, wait_until

# the fixtures of test_browser.py, shared (one server and one chromium for this module)
server, browser, page, pace = tb.server, tb.browser, tb.page, tb.pace

pytestmark = [pytest.mark.browser]

#: every text the status line shows from now on, and the progress text Gradio shows on it
#: (a visible status tracker's: one hidden by show_progress="hidden" stays in the DOM, faded)
WATCH_STATUS = """() => {
  const el = document.querySelector('#run-status');
  const shown = (t) => { const s = getComputedStyle(t);
    return s.display !== 'none' && s.visibility !== 'hidden' && Number(s.opacity) > 0; };
  const look = () => {
    const t = el.querySelector('[data-testid="status-tracker"]');
    window.statusSeen.push(el.querySelector('[data-testid="markdown"]')?.innerText || '');
    if (t && shown(t) && t.innerText.trim()) window.progressSeen.push(t.innerText.trim());
  };
  window.statusSeen = []; window.progressSeen = [];
  look();
  const all = {subtree: true, childList: true, characterData: true, attributes: true};
  new MutationObserver(look).observe(el, all);
}"""


def test_run_says_it_is_starting_and_no_progress_timer_shows_in_the_status_line(page, pace):
    """Gradio's progress text ("processing | 1.5s", "0.1s") flashed in the status line while
    Run was answered and read as the run's status; the line says "Starting the run…" instead."""
    # the first page has no empty code boxes under "Click a node in the tree to inspect it"
    assert not page.is_visible("#insp-code") and not page.is_visible("#insp-output")
    pace(0.05)
    page.evaluate(WATCH_STATUS)
    run_id = run(page, **SMALL)
    wait_until(lambda: run_id in page.inner_text("#run-status"), what="the run's status")
    assert not page.evaluate("window.progressSeen")
    seen = page.evaluate("window.statusSeen")
    assert any(s.startswith("Starting the run") for s in seen), seen


def test_delete_in_history_empties_the_replay_of_the_deleted_run(page, server):
    """Delete said "Deleted run X." and went on drawing X's tree, caption and answer; the empty
    tree kept the deleted run's colour scale beside the picker."""
    from tests.ui.test_browser_truth import open_in_history

    run_id = run(page, **SMALL)
    assert server[1].runs.get(run_id).wait(60)
    open_in_history(page, run_id)
    wait_until(lambda: tb.nodes(page, "#hist-tree") > 0, timeout=60, what="the replayed tree")
    page.click("#hist-delete")
    wait_until(lambda: "Deleted run" in page.inner_text("#hist-message"), timeout=60, what="the delete")
    wait_until(lambda: tb.nodes(page, "#hist-tree") == 0, timeout=60, what="the tree emptied")
    assert run_id not in page.inner_text("#hist-caption") and page.inner_text("#hist-answer").strip() == ""
    assert not page.is_visible("#hist-tree .canopy-scale")


def test_the_html_replay_counts_one_node_in_the_singular(browser, tmp_path):
    """The replay's cost line and captions said "1 nodes" / "1 tokens" (as the status said
    "1 iterations")."""
    from backend import events as ev
    from backend.html_replay import write_replay
    from tests.ui.test_browser_compare import offline_page, seek

    log = ev.EventLog(clock=iter(range(100)).__next__)
    log.emit(ev.RunStarted, run_id="r1", algorithm="rstar", problem="1+1?", reward="vote")
    log.emit(ev.NodeAdded, id=0, parent=None, kind="root", text="1+1?", tokens=1)
    log.emit(ev.Backprop, iteration=1, path=[0], reward=1.0, updated=[[0, 1, 1.0]])
    path = tmp_path / "one.html"
    write_replay(log.events, path)
    context, pg, _ = offline_page(browser, path)
    try:
        seek(pg, 2)
        assert "updated N and Q of 1 node" in pg.inner_text("#cr-caption")
        cost = pg.inner_text("#cr-cost")
        assert cost.startswith("Spent so far: 1 token ·") and cost.endswith("· 1 node"), cost
    finally:
        context.close()


@pytest.mark.parametrize("algorithm", ["rstar", "cpl", "lips", "sc"])
def test_the_html_replay_offers_only_the_colour_modes_of_the_runs_algorithm(browser, tmp_path, algorithm):
    """The replay of a LIPS run offered Colour by Q, PPM and visits (its goals have none); the page
    offers what ``ui.figure.meaningful_modes`` says for the algorithm, and so does the replay, which
    starts on the page's default (LIPS: depth)."""
    from dataclasses import replace

    from backend.html_replay import write_replay
    from tests.factories import small_run
    from tests.ui.test_browser_compare import offline_page
    from ui.figure import meaningful_modes
    from ui.vocabulary import vocabulary

    events = small_run()
    events[0] = replace(events[0], algorithm=algorithm)
    path = tmp_path / f"{algorithm}.html"
    write_replay(events, path)
    context, pg, _ = offline_page(browser, path)
    try:
        offered = pg.evaluate("() => [...document.querySelectorAll('#cr-mode option')].map((o) => o.value)")
        expected = meaningful_modes(vocabulary(algorithm))
        assert offered == expected
        # small_run has a PPM score: PPM where it is offered, else Q, else the first (the page's default)
        start = "ppm" if "ppm" in expected else ("q" if "q" in expected else expected[0])
        assert pg.input_value("#cr-mode") == start
    finally:
        context.close()
