"""The Compare screen's handlers (ui/compare.py) without a browser: methods with settings,
the budget put on each, all-or-none starts (tests/ui/test_browser_compare.py has the page)."""

from __future__ import annotations

import time

from tests.ui.scripted_runs import PROBLEM
from ui.compare import CompareHandlers


def wait_done(services, run_ids, timeout=60.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if all(services.store.get(r).status != "running" for r in run_ids):
            return
        time.sleep(0.1)
    raise AssertionError("runs did not end")


def test_methods_with_settings_start_together_on_one_budget(services):
    ch = CompareHandlers(services)
    runs, status, _ = ch.start(PROBLEM, "18", [], 120, 3, "rstar:children=2, rstar:ppm=none, cpl")
    assert [label for label, _ in runs] == ["rstar:children=2", "rstar:ppm=none", "cpl"]
    assert "Started on 120 tokens, seed 3" in status
    wait_done(services, [r for _, r in runs])
    started = [services.runs.events(r)[0] for _, r in runs]
    assert [s.algorithm for s in started] == ["rstar", "rstar", "cpl"]
    assert [s.spec["seed"] for s in started] == [3, 3, 3]
    assert [s.config["token_budget"] for s in started] == [120, 120, 120]
    assert started[0].config["children"] == 2 and started[1].spec["ppm"] == "none"
    *_, table, _, _, _, said = ch.refresh(runs)
    assert [row[0] for row in table] == ["rstar:children=2", "rstar:ppm=none", "cpl"]
    assert said.startswith("All 3 runs ended: rstar&#58;children&#61;2 ")  # escaped; not "Started on ..."


def test_a_bad_method_starts_nothing(services):
    ch = CompareHandlers(services)
    before = len(services.store.list_runs())
    _, status, _ = ch.start(PROBLEM, "", [], 120, 0, "rstar, rstar:nonsense=3")
    assert status.startswith("⚠") and "nonsense" in status
    _, status, _ = ch.start(PROBLEM, "", ["rstar"], 120, 0, "")
    assert "two to 4" in status
    assert len(services.store.list_runs()) == before


def test_the_tree_slots_shown_are_the_methods_compared(services):
    """Two methods compared show two tree slots, three show three: the slots beyond the runs
    are hidden (the page showed four frames, two of them empty, for two methods)."""
    ch = CompareHandlers(services)
    for methods, shown in (("greedy, sc", 2), ("greedy, sc, rstar:children=2", 3)):
        runs, _, _ = ch.start(PROBLEM, "", [], 60, 0, methods)
        wait_done(services, [r for _, r in runs])
        out = ch.refresh(runs)
        columns, rows = out[4:8], out[8:10]
        assert [c.visible for c in columns] == [k < shown for k in range(4)]
        assert [r.visible for r in rows] == [True, shown > 2]
