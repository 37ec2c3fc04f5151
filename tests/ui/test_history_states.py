"""The page over a history file that is read-only, corrupt, foreign or busy.

``open_store`` never fails on the file (backend/store/opening.py); the page says what it did (a
banner under the header) and refuses, with a message, what the history cannot do: a
read-only history lists, opens and exports runs, but Run, Delete and Import are refused.
A run another Canopy process is still writing cannot be deleted (``RunBusy``): a message,
not an error dialog. The app's startup path (``ui.app.open_services`` and ``main``) never
raises on a corrupt file.
"""

from __future__ import annotations

import dataclasses
import html
import logging
import os
import sqlite3

import gradio as gr
import pytest

from backend import events as ev
from backend.store import MemoryStore, SQLiteStore, open_store
from tests.factories import small_run
from tests.security.hostile import HOSTILE_LINE
from tests.security.test_html_escape import assert_inert_markdown
from tests.ui.server import demo_services
from ui import app as canopy_app
from ui import handlers as h
from ui.escape import md_esc
from ui.history import HistoryHandlers
from ui.solve import SolveHandlers

READ_ONLY_RUN = "History is read-only: runs can be viewed but not started"


def run_events(run_id: str) -> list[ev.Event]:
    return [dataclasses.replace(small_run()[0], run_id=run_id), *small_run()[1:]]


def stored_history(tmp_path, run_id: str = "done"):
    db = tmp_path / "h.sqlite"
    store = SQLiteStore(db)
    store.import_events(run_id, run_events(run_id))
    store.close()
    return db


@pytest.fixture
def read_only(tmp_path):
    """Services over a history opened read-only (as ``open_store`` does for a write-protected
    file; asked for explicitly because root ignores file modes)."""
    store = open_store(stored_history(tmp_path), read_only=True)
    assert store.read_only and store.notice
    services = demo_services(store)
    yield services
    services.close()


def plain(markdown: str) -> str:
    """A message as the page shows it (``md_esc`` writes markup characters as references)."""
    return html.unescape(markdown)


def banner_of(demo: gr.Blocks) -> gr.Markdown:
    [banner] = [b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "history-notice"]
    return banner


# --- a read-only history --------------------------------------------------------------------


def test_read_only_history_refuses_run_with_a_message(read_only):
    controls = h.algorithm_controls(["rstar"])
    values = h.preset_values("rstar", h.NO_PRESET, controls)
    with pytest.raises(h.UserFacingError, match=READ_ONLY_RUN):
        h.start_run(read_only, controls, "What is 16 - 7?", "rstar", "vote", "", 0, values)
    with pytest.warns(UserWarning, match="History is read-only"):  # the toast, outside a page event
        out = SolveHandlers(read_only, controls).start(None, None, "1+1", "rstar", "vote", "", 0, *values)
    assert out[0] is None and plain(out[1]).startswith(f"⚠ {READ_ONLY_RUN}")
    assert "writable --db" in plain(out[1])
    assert h.run_status(read_only, None).startswith("History is read-only")
    assert read_only.runs.live_ids() == [] and [r.id for r in read_only.store.list_runs()] == ["done"]


def test_read_only_history_refuses_delete_and_import_but_exports(read_only, tmp_path):
    hs = HistoryHandlers(read_only)
    message, rows, opened = hs.delete("done", "", "", "")
    assert "read-only" in plain(message) and "not deleted" in plain(message)
    assert (rows, opened) == (gr.skip(), gr.skip())
    src = tmp_path / "run.jsonl"
    ev.write_jsonl(run_events("other"), src)
    refused = hs.import_file(str(src), "", "", "")
    message, rows, *_ = refused
    assert "read-only" in plain(message) and "not imported" in plain(message) and rows == gr.skip()
    # one value per output of the Import event (message, list, run id box, then what open shows):
    # the refusal returned one more, which Gradio warned about on every failed import
    assert len(refused) == 3 + len(hs.open("done"))
    assert [r.id for r in read_only.store.list_runs()] == ["done"]
    assert hs.export("done")[0].startswith("Exported")
    assert "is read-only" in plain(h.history_banner(read_only))


# --- a corrupt, foreign or unusable history file -------------------------------------------


def test_startup_on_a_corrupt_file_moves_it_aside_and_the_page_says_so(tmp_path, caplog):
    db = tmp_path / "h.sqlite"
    db.write_bytes(os.urandom(64 * 1024))
    with caplog.at_level(logging.WARNING):
        services = canopy_app.open_services(canopy_app.parse_args(["--db", str(db), "--engine", "scripted"]))
    try:
        notice = services.history_notice
        assert notice and "could not be read" in notice and "moved to" in notice
        assert not services.history_read_only
        warned = [r for r in caplog.records if r.levelno == logging.WARNING and "moved to" in r.getMessage()]
        assert len(warned) == 1  # on the console once, by open_store
        banner = banner_of(canopy_app.build_app(services))
        assert banner.visible and md_esc(notice) in banner.value
    finally:
        services.close()
    assert list(tmp_path.glob("h.sqlite.corrupt-*"))


def test_main_on_a_corrupt_file_starts(tmp_path, monkeypatch):
    """``main``'s whole startup path up to serving, with ``serve`` replaced by building the page."""
    db = tmp_path / "h.sqlite"
    db.write_text("this is not a database\n" * 100)
    built = []

    def serve(services, **_kw):
        built.append((services.history_notice, banner_of(canopy_app.build_app(services))))

    monkeypatch.setattr(canopy_app, "serve", serve)
    assert canopy_app.main(["--db", str(db), "--engine", "scripted"]) == 0
    [(notice, banner)] = built
    assert "could not be read" in notice and banner.visible


def test_a_foreign_sqlite_file_gives_a_memory_history_that_still_runs(tmp_path):
    db = tmp_path / "other.sqlite"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE runs (id TEXT, colour TEXT)")
    con.commit()
    con.close()
    services = demo_services(open_store(db))
    try:
        assert "kept in memory only" in plain(h.history_banner(services))
        controls = h.algorithm_controls(["rstar"])
        defaults = h.preset_values("rstar", h.NO_PRESET, controls)
        small = {"rollouts": 2, "children": 3, "max_depth": 3}
        values = [small.get(c.name, v) for c, v in zip(controls, defaults, strict=True)]
        run_id = h.start_run(services, controls, "What is 16 - 7?", "rstar", "vote", "", 0, values)
        assert services.runs.get(run_id).wait(20)
        assert services.store.get(run_id).status == "solved"
    finally:
        services.close()


def test_the_banner_is_hidden_when_all_is_well_and_inert_when_not():
    with gr.Blocks():
        assert not canopy_app.history_notice(demo_services(MemoryStore())).visible
    hostile = demo_services(MemoryStore(notice=HOSTILE_LINE))
    with gr.Blocks():
        banner = canopy_app.history_notice(hostile)
    assert banner.visible
    assert_inert_markdown(banner.value, "history banner")


# --- delete and export errors ----------------------------------------------------------------


def test_delete_of_a_run_another_process_is_writing_shows_why(tmp_path):
    db = tmp_path / "h.sqlite"
    writer = SQLiteStore(db)  # another server: its lease on the run is fresh
    for e in run_events("busy")[:4]:
        writer.append("busy", e)
    services = demo_services(open_store(db))
    try:
        message, rows, opened = HistoryHandlers(services).delete("busy", "", "", "")
        assert plain(message).startswith("⚠ Not deleted:")
        assert "still being written by another Canopy process" in plain(message)
        assert (rows, opened) == (gr.skip(), gr.skip())
        assert services.store.get("busy") is not None
    finally:
        services.close()
        writer.close()


def test_delete_says_when_there_is_no_such_run(services):
    message, rows, opened = HistoryHandlers(services).delete("nosuchrun", "", "", "")
    assert "No run" in message and rows == [] and opened is None


def test_export_of_a_bad_or_unknown_id_is_a_message(services):
    hs = HistoryHandlers(services)
    message, download = hs.export("../../etc/passwd")
    assert plain(message).startswith("⚠ Export failed:") and "is not a run id" in plain(message)
    assert download.visible is False
    message, _ = hs.export("nosuchrun")
    assert "no run with id" in plain(message)
