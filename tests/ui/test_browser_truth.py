"""Issue 15 in the browser: what only the page can show (a refresh restoring the form and
the colour mode, the selection table's fit, import replacing the view, the examples box,
replay highlighting). Fixtures and helpers are test_browser.py's (one server per module)."""

from __future__ import annotations

import time

import pytest

from tests.ui import test_browser as tb
from tests.ui.test_browser import ENDLESS, nodes, run, status, wait_until

# the fixtures of test_browser.py, shared (one server and one chromium for this module)
server, browser, page, pace = tb.server, tb.browser, tb.page, tb.pace

pytestmark = [pytest.mark.browser]


def test_refresh_mid_run_restores_the_form_and_the_colour_mode(page, pace):
    pace(0.3)
    page.fill("#reference input, #reference textarea", "18")
    page.fill("#seed input", "7")
    run_id = run(page, problem="A refreshed problem about 16 eggs", children=3, **ENDLESS)
    wait_until(lambda: nodes(page) > 3, what="growth")
    page.select_option("#tree .canopy-mode", "depth")
    wait_until(lambda: page.eval_on_selector("#tree .canopy-tree", "e => e.dataset.color") == "depth")
    page.reload()
    page.wait_for_selector("#run-btn")
    wait_until(lambda: run_id in status(page), timeout=60, what="re-attach")
    problem = lambda: page.input_value("#problem textarea")  # noqa: E731
    wait_until(lambda: problem() == "A refreshed problem about 16 eggs", timeout=60, what="the problem back")
    assert page.input_value("#algorithm input") == "rstar"
    assert page.input_value("#reference input, #reference textarea") == "18"
    assert page.input_value("#seed input") == "7"
    page.locator("#settings").get_by_text("Settings", exact=True).click()
    assert page.input_value("#cfg-rstar-children input[type=number]") == "3"
    assert page.input_value("#cfg-rstar-rollouts input[type=number]") == "10000"
    wait_until(lambda: nodes(page) > 3, timeout=60, what="the tree back")
    tree = lambda: page.eval_on_selector("#tree .canopy-tree", "e => e.dataset.color")  # noqa: E731
    wait_until(lambda: tree() == "depth", what="the colour mode back")
    assert page.input_value("#tree .canopy-mode") == "depth"
    page.click("#stop-btn")
    wait_until(lambda: "finished" in status(page), timeout=60, what="stopped")


FITS = """(sel) => {
  const box = document.querySelector(sel), table = box.querySelector('table');
  if (!table) return null;
  const row = table.querySelector('tbody tr').getBoundingClientRect().height;
  return {table: table.getBoundingClientRect().width, column: box.getBoundingClientRect().width,
          head: Math.max(...[...table.querySelectorAll('th')].map((h) => h.getBoundingClientRect().height)),
          row, cells: [...table.querySelectorAll('tbody tr:first-child td')].map((c) => c.innerText)};
}"""


def test_selection_table_fits_explains_zero_scores_and_the_root_gets_a_sentence(page, server):
    run_id = run(page, rollouts=4, children=4, max_depth=3)
    wait_until(lambda: "finished" in status(page), timeout=90, what="the run to end")
    tree = server[1].trees.view(run_id, lambda t: t)
    pick = next(n.id for n in tree.nodes.values() if n.selection and any(r["n"] == 0 for r in n.selection))
    tb.click_node(page, pick)
    wait_until(lambda: f"#{pick} " in page.inner_text("#insp-title"), timeout=60, what="the inspector")
    wait_until(lambda: page.evaluate(FITS, "#insp-uct") is not None, timeout=30, what="the table")
    fit = page.evaluate(FITS, "#insp-uct")
    assert fit["table"] <= fit["column"], fit  # score and the chosen mark are not cut off
    assert fit["head"] <= fit["row"] + 2, fit  # headers on one line, like the rows
    assert "not ∞: rStar-Math's official rule" in page.inner_text("#insp-uct-note")
    tb.click_node(page, tree.root_id)
    wait_until(lambda: "#0 " in page.inner_text("#insp-title"), timeout=60, what="the root inspected")
    assert page.evaluate(FITS, "#insp-uct") is None  # no empty table
    assert "every rollout starts here" in page.inner_text("#insp-uct-note")


def test_typing_a_problem_unpicks_the_example(page):
    page.get_by_text("Examples", exact=True).click()
    page.click("#dataset input")
    page.get_by_role("option", name="gsm8k", exact=True).click()
    page.click("#example input")
    page.get_by_role("option").first.click()
    wait_until(lambda: "Janet" in page.input_value("#problem textarea"), timeout=60, what="the example")
    assert page.input_value("#example input")  # picked
    wait_until(lambda: page.input_value("#reference textarea") == "18", timeout=60, what="its known answer")
    page.fill("#problem textarea", "")
    page.locator("#problem textarea").press_sequentially("My own problem", delay=20)  # keys, as a user types
    wait_until(lambda: page.input_value("#example input") == "", timeout=60, what="the example un-picked")
    # the example's known answer goes with it: it would grade the user's own problem
    wait_until(lambda: page.input_value("#reference textarea") == "", timeout=60, what="the answer emptied")


SELECTED_PATH = """(sel) => {
  const el = document.querySelector(sel + ' .canopy-plot');
  const t = (el.data || []).find((d) => d.name === 'selected path');
  return t ? t.x.length : -1;
}"""


def open_in_history(page, run_id):
    page.get_by_role("tab", name="History").click()
    page.click("#hist-refresh")
    wait_until(lambda: run_id in page.inner_text("#hist-list"), timeout=60, what="the run in the list")
    page.fill("#hist-run-id input, #hist-run-id textarea", run_id)
    page.click("#hist-open")
    shown = lambda: page.eval_on_selector("#hist-tree .canopy-tree", "e => e.dataset.run")  # noqa: E731
    wait_until(lambda: shown() == run_id, 60, what="the run opened")


def test_history_replay_export_and_import(page, server, tmp_path):
    from backend import events as ev

    run_id = run(page, problem="A history problem " + "with a long statement " * 4, rollouts=3, max_depth=3)
    wait_until(lambda: "finished" in status(page), timeout=90, what="the run to end")
    open_in_history(page, run_id)
    # the problem gets the list's width, not the model's file name
    widths = page.evaluate(
        """() => [...document.querySelectorAll('#hist-list thead th')].map((h) => [h.innerText.trim(),
                   h.getBoundingClientRect().width])"""
    )
    width = {name: w for name, w in widths if name}
    assert width["problem"] >= 3 * width["model"], widths
    # replay at a selection: the path it walked is drawn, the caption says it in words
    chosen = next(
        e for e in server[1].runs.events(run_id) if isinstance(e, ev.NodeSelected) and len(e.path) > 2
    )
    page.locator("#hist-slider input[type=range]").fill(str(chosen.seq))
    wait_until(lambda: page.evaluate(SELECTED_PATH, "#hist-tree") == len(chosen.path), 60, what="the path")
    assert "selection walked #0 → " in page.inner_text("#hist-caption")
    page.locator("#hist-slider input[type=range]").fill(str(chosen.seq + 1))
    wait_until(lambda: page.evaluate(SELECTED_PATH, "#hist-tree") == 0, 60, what="the path gone")
    page.screenshot(path="/tmp/issue15-history.png", full_page=True)
    # export: one click downloads the file
    with page.expect_download(timeout=60_000) as download:
        page.click("#hist-export")
    exported = tmp_path / download.value.suggested_filename
    download.value.save_as(exported)
    assert exported.name == f"canopy-run-{run_id}.jsonl"
    # import: the same run is already here (opened, not a silent copy)
    with page.expect_file_chooser() as chooser:
        page.click("#hist-import")
    chooser.value.set_files(str(exported))
    wait_until(lambda: "already in the history" in page.inner_text("#hist-message"), 60, what="the import")


def test_stars_in_a_typed_goal_are_not_italics_in_the_preview(page):
    page.fill("#problem textarea", "a, b, c > 0; prove 1/(a*b^3 + c*b^3) >= 0")
    wait_until(lambda: "1/(a" in page.inner_text("#problem-preview"), timeout=60, what="the preview")
    preview = page.locator("#problem-preview .prose").first
    assert preview.locator("em").count() == 0
    assert "1/(a*b^3 + c*b^3)" in preview.inner_text()


# --- item 2: a Run that does not start -----------------------------------------------------------


def test_a_run_that_does_not_start_says_so_where_the_old_result_was(page):
    run(page, rollouts=3, children=3, max_depth=3)
    wait_until(lambda: "finished" in status(page), timeout=90, what="the first run to end")
    wait_until(lambda: "Final answer" in page.inner_text("#answer"), what="its answer")
    tb.choose(page, "lips")
    page.fill("#problem textarea", "a, b > 0, a^2 >= ")
    page.click("#run-btn")
    wait_until(lambda: "Run not started" in status(page), timeout=60, what="the error in the status")
    time.sleep(2.5)  # a toast fades; the status and the tree keep saying it
    assert "Run not started" in status(page) and "finished" not in status(page)
    empty = page.locator("#tree .canopy-empty")
    assert empty.is_visible() and "Run not started" in empty.inner_text() and nodes(page) == 0
    assert "Final answer" not in page.inner_text("#answer")


# --- item 5: each algorithm's words ------------------------------------------------------------------


def test_a_cpl_run_names_plan_steps_and_shows_no_code_box(page, server):
    tb.choose(page, "cpl")
    page.locator("#settings").get_by_text("Settings", exact=True).click()
    wait_until(lambda: page.is_visible("#preset-cpl"), what="the CPL settings")
    time.sleep(1.5)  # the preset's values land after the group shows: typed values must come later
    run_id = run(page, algorithm="cpl", rollouts=4, children=2, max_depth=3)
    wait_until(lambda: "finished" in status(page), timeout=90, what="the CPL run to end")
    legend = page.inner_text("#tree .canopy-legend")
    assert "plan step" in legend and "code ran" not in legend
    tree = server[1].trees.view(run_id, lambda t: t)
    plan = next(n.id for n in tree.nodes.values() if n.status == "ok")
    tb.click_node(page, plan)
    wait_until(lambda: f"#{plan} " in page.inner_text("#insp-title"), timeout=60, what="the inspector")
    assert "plan step" in page.inner_text("#insp-title") and "code ran" not in page.inner_text("#insp-title")
    assert not page.locator("#insp-code").is_visible() and not page.locator("#insp-output").is_visible()
    assert "one-shot" not in page.inner_text("#convergence")


def test_a_lips_run_shows_goals_and_a_proof_a_student_can_read(page, server):
    page.fill("#problem textarea", "a,b > 0; prove a^2+b^2 >= 2*a*b")
    tb.choose(page, "lips")
    page.locator("#settings").get_by_text("Settings", exact=True).click()
    wait_until(lambda: page.is_visible("#preset-lips"), what="the lips settings")
    page.click("#preset-lips input")
    page.get_by_role("option", name="symbolic", exact=True).click()
    tb.set_settings(page, "lips", {"min_proof_depth": 1, "max_candidates": 8})
    run_id = run(page, "a,b > 0; prove a^2+b^2 >= 2*a*b", algorithm="lips")
    wait_until(lambda: "finished" in status(page), timeout=120, what="the LIPS run to end")
    assert "pops" in status(page) and "iterations" not in status(page)
    wait_until(lambda: "Proof" in page.inner_text("#answer"), timeout=30, what="the proof")
    answer = page.inner_text("#answer")
    assert "Goal 0" in answer and "Goal 1" in answer and "Closed" in answer and "positivity" in answer
    assert page.locator("#answer .katex").count() >= 3  # the goals and the certificate as formulas
    assert "goal closed (proved)" in page.inner_text("#tree .canopy-legend")
    # Colour by offers what LIPS goals have: no Q, PPM or visits (they stay 0 or empty); depth first
    offered = page.evaluate(
        "() => [...document.querySelectorAll('#tree .canopy-mode option')]"
        ".filter((o) => !o.hidden).map((o) => o.value)"
    )
    assert offered == ["depth", "tokens", "gen_ms", "verify_ms"]
    assert page.eval_on_selector("#tree .canopy-tree", "e => e.dataset.color") == "depth"
    assert page.inner_text("#tree .canopy-scale-title") == "depth"
    # no answer clusters for one verdict: the panel says so instead of a bar of height 0
    wait_until(lambda: "nothing to cluster" in page.inner_text("#clusters"), what="the clusters note")
    assert page.eval_on_selector("#clusters .canopy-clusters", "e => e.dataset.count") == "0"
    note = page.locator("#convergence .canopy-plot-note")
    assert note.is_visible() and "No convergence chart for LIPS" in note.inner_text()
    tree = server[1].trees.view(run_id, lambda t: t)
    bad = next(n.id for n in tree.nodes.values() if n.status == "counterexample")
    tb.click_node(page, bad)
    wait_until(lambda: f"#{bad} " in page.inner_text("#insp-title"), timeout=60, what="the inspector")
    text = page.inner_text("#insp-verification")
    assert "Counterexample" in text and "a = " in text and "lemma" in text
    assert not page.locator("#insp-code").is_visible()


# --- item 6: the convergence panel ---------------------------------------------------------------------

CONVERGENCE = """() => {
  const el = document.querySelector('#convergence .canopy-simple-plot');
  const box = (s) => { const e = el.querySelector(s); return e && e.getBoundingClientRect(); };
  const ticks = [...el.querySelectorAll('.xtick text')].map((t) => t.textContent);
  const lines = (el.data || []).filter((t) => t.legendgroup)
    .map((t) => ({group: t.legendgroup, color: t.line.color, legend: t.showlegend !== false}));
  return {legend: box('.legend'), title: box('.xtitle'), ticks, lines};
}"""


def test_convergence_legend_clears_the_axis_title_ticks_are_whole_and_q_has_its_childs_colour(page):
    run(page, rollouts=6, children=3, max_depth=3)
    wait_until(lambda: "finished" in status(page), timeout=90, what="the run to end")
    wait_until(lambda: page.evaluate(CONVERGENCE)["legend"] is not None, timeout=30, what="the chart")
    c = page.evaluate(CONVERGENCE)
    legend, title = c["legend"], c["title"]
    assert legend["top"] >= title["bottom"] - 1 or legend["bottom"] <= title["top"] + 1, c  # no overlap
    assert c["ticks"] and all(t.replace("−", "-").lstrip("-").isdigit() for t in c["ticks"]), c["ticks"]
    colours: dict[str, set] = {}
    for line in c["lines"]:
        colours.setdefault(line["group"], set()).add(line["color"])
        assert line["legend"]
    assert colours and all(len(v) == 1 for v in colours.values())


# --- item 13: no console errors around a refresh ---------------------------------------------------------


#: what Gradio's own client logs when the page unloads while an event streams (our live
#: run's updates): it aborts the pending requests and reports each; nothing of Canopy's.
#: The 404 is its queue stream answered "session not found" by a server that has already
#: dropped the unloading page's session (Gradio 6.31 ``index-*.js``: ``console.error(
#: `Unexpected error`, n?.message)`` on ``unexpected_error``; seen once in a full suite)
#: what Chromium and Gradio's client log while a reload cuts the page's open streams (seen once in
#: a full run: the event stream's chunked response cut mid-chunk); only the unload window may hold them
UNLOAD_NOISE = ("AbortError: signal is aborted", "Connection errored out", "Unexpected error 404: Not Found",
                "net::ERR_INCOMPLETE_CHUNKED_ENCODING", "TypeError: network error")


def test_a_refresh_mid_run_logs_no_console_errors_of_ours(page, pace):
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    pace(0.3)
    run_id = run(page, **ENDLESS)
    wait_until(lambda: nodes(page) > 3, what="growth")
    assert not errors, errors  # a live run logs nothing
    page.reload()
    page.wait_for_selector("#run-btn")
    unloading, errors[:] = list(errors), []
    assert all(any(n in e for n in UNLOAD_NOISE) for e in unloading), unloading
    wait_until(lambda: run_id in status(page), timeout=60, what="re-attach")
    wait_until(lambda: nodes(page) > 3, timeout=60, what="the tree back")
    page.click("#stop-btn")
    wait_until(lambda: "finished" in status(page), timeout=60, what="stopped")
    time.sleep(1)
    assert not errors, errors  # the re-attached page and its stream log nothing


# --- replay: play / pause and speed ---------------------------------------------------------------------


def test_replay_plays_event_by_event_pauses_and_changes_speed(page):
    run_id = run(page, problem="A replayed problem", rollouts=3, max_depth=3)
    wait_until(lambda: "finished" in status(page), timeout=90, what="the run to end")
    open_in_history(page, run_id)
    slider = page.locator("#hist-slider input[type=range]")
    last = int(slider.get_attribute("max"))
    player = page.locator(".canopy-player")
    wait_until(lambda: player.is_visible(), what="the player")
    # under the slider, not at the bottom of the page
    assert page.evaluate(
        "() => document.querySelector('#hist-slider').nextElementSibling.classList.contains('canopy-player')"
    )
    page.select_option(".canopy-speed", "5")
    page.click(".canopy-play")  # at the last event: starts again from the first
    assert page.inner_text(".canopy-play").startswith("⏸")
    wait_until(lambda: 3 <= int(slider.input_value()) < last, timeout=30, what="playing")
    seen = page.inner_text("#hist-caption")
    wait_until(lambda: page.inner_text("#hist-caption") != seen, timeout=30, what="the caption follows")
    page.click(".canopy-play")  # pause
    held = int(slider.input_value())
    time.sleep(1.5)
    assert int(slider.input_value()) == held and page.inner_text(".canopy-play").startswith("▶")
    page.select_option(".canopy-speed", "25")
    page.click(".canopy-play")
    wait_until(lambda: "at the last event" in page.inner_text(".canopy-player"), timeout=60, what="the end")
    assert int(slider.input_value()) == last
