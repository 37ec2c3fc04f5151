"""Contract tests for run stores: one suite, subclassed per implementation."""

from __future__ import annotations

import dataclasses
import socket
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from backend import events as ev
from backend.store import DuplicateEvent, MemoryStore, SQLiteStore, StoreError, open_store
from backend.tree import Tree
from tests.factories import small_run


def _for_run(events: list[ev.Event], run_id: str) -> list[ev.Event]:
    first = dataclasses.replace(events[0], run_id=run_id)
    return [first, *events[1:]]


class StoreContract:
    """Behaviour every Store must have; subclasses provide ``make``."""

    def make(self, tmp_path: Path, **kw):  # pragma: no cover - abstract
        raise NotImplementedError

    def test_round_trip_keeps_every_event_and_the_tree(self, tmp_path):
        store = self.make(tmp_path)
        events = _for_run(small_run(), "a")
        for e in events:
            store.append("a", e)
        back = store.read("a")
        assert [e.to_dict() for e in back] == [e.to_dict() for e in events]
        assert Tree.from_events(back).best_path() == [0, 1, 3]

    def test_summary_row_is_a_projection_of_the_events(self, tmp_path):
        store = self.make(tmp_path)
        events = _for_run(small_run(), "a")
        for e in events[:5]:
            store.append("a", e)
        rec = store.get("a")
        assert (rec.status, rec.nodes, rec.problem, rec.algorithm, rec.answer) == (
            "running",
            3,
            "1+1?",
            "rstar",
            None,
        )
        for e in events[5:]:
            store.append("a", e)
        rec = store.get("a")
        assert (rec.status, rec.answer, rec.correct, rec.nodes, rec.events) == (
            "solved",
            "2",
            True,
            4,
            len(events),
        )

    def test_duplicate_seq_raises_and_changes_nothing(self, tmp_path):
        store = self.make(tmp_path)
        events = _for_run(small_run(), "a")
        for e in events[:3]:
            store.append("a", e)
        with pytest.raises(DuplicateEvent):
            store.append("a", events[2])
        with pytest.raises(DuplicateEvent):
            store.append("a", events[0])
        assert len(store.read("a")) == 3 and store.get("a").nodes == 2

    def test_events_before_run_started_are_refused(self, tmp_path):
        store = self.make(tmp_path)
        with pytest.raises(StoreError, match="run_started"):
            store.append("x", small_run()[1])
        with pytest.raises(StoreError, match="names run"):
            store.append("x", small_run()[0])

    def test_read_is_a_cursor(self, tmp_path):
        store = self.make(tmp_path)
        for e in _for_run(small_run(), "a"):
            store.append("a", e)
        assert [e.seq for e in store.read("a", after=3, limit=2)] == [4, 5]
        assert store.read("a", after=100) == []
        assert store.read("nope") == []

    def test_runs_are_separate_listed_newest_first_filtered_and_deleted(self, tmp_path):
        store = self.make(tmp_path)
        for rid in ("a", "b", "c"):
            events = _for_run(small_run(), rid)
            if rid == "b":
                events[0] = dataclasses.replace(events[0], algorithm="greedy", problem="What is 2+2?")
            for e in events[: 5 if rid == "c" else None]:
                store.append(rid, e)
        assert [r.id for r in store.list_runs()] == ["c", "b", "a"]
        assert [r.id for r in store.list_runs(algorithm="greedy")] == ["b"]
        assert [r.id for r in store.list_runs(text="2+2")] == ["b"]
        assert [r.id for r in store.list_runs(status="running")] == ["c"]
        assert store.delete("b") and not store.delete("b")
        assert store.read("b") == [] and store.get("b") is None
        assert len(store.read("a")) == len(small_run())

    def test_recover_closes_runs_of_dead_writers_as_interrupted(self, tmp_path):
        gone = subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
        )
        dead_owner = f"{socket.gethostname()}:{int(gone.stdout)}:1"  # a process that has exited
        dead = self.make(tmp_path, owner=dead_owner)
        for e in _for_run(small_run(), "a")[:6]:
            dead.append("a", e)
        store = self.reopen(dead, tmp_path)
        assert store.recover() == ["a"]
        rec = store.get("a")
        assert rec.status == "interrupted" and rec.nodes == 3
        back = store.read("a")
        assert len(back) == 7 and back[-1].type == "run_finished" and back[-1].status == "interrupted"
        tree = Tree.from_events(back)  # still a valid tree
        assert len(tree.nodes) == 3 and tree.finished.status == "interrupted"
        assert store.recover() == []

    def test_recover_leaves_live_runs_alone(self, tmp_path):
        store = self.make(tmp_path)
        for e in _for_run(small_run(), "a")[:4]:
            store.append("a", e)
        assert store.recover() == [] and store.get("a").status == "running"

    def test_concurrent_writers_of_different_runs(self, tmp_path):
        store = self.make(tmp_path)

        def write(rid):
            for e in _for_run(small_run(), rid):
                store.append(rid, e)

        threads = [threading.Thread(target=write, args=(f"r{i}",)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert all(len(store.read(f"r{i}")) == len(small_run()) for i in range(4))

    def reopen(self, store, tmp_path):  # pragma: no cover - abstract
        raise NotImplementedError


class TestMemoryStore(StoreContract):
    def make(self, tmp_path, **kw):
        return MemoryStore(**kw)

    def reopen(self, store, tmp_path):
        store.owner = "a-new-process"  # the same data seen by a later process
        return store


class TestSQLiteStore(StoreContract):
    def make(self, tmp_path, **kw):
        return SQLiteStore(tmp_path / "c.sqlite", **kw)

    def reopen(self, store, tmp_path):
        store.close()
        return SQLiteStore(tmp_path / "c.sqlite")

    def test_wal_mode_and_reopen(self, tmp_path):
        store = self.make(tmp_path)
        assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        for e in _for_run(small_run(), "a"):
            store.append("a", e)
        store.close()
        again = SQLiteStore(tmp_path / "c.sqlite")
        assert len(again.read("a")) == len(small_run()) and again.get("a").status == "solved"


def test_open_store_creates_its_folder_under_canopy_home(tmp_path, monkeypatch):
    monkeypatch.setenv("CANOPY_HOME", str(tmp_path / "home"))
    store = open_store()
    assert (tmp_path / "home" / "canopy.sqlite").exists()
    store.close()


def test_a_killed_writer_loses_no_committed_event(tmp_path):
    """kill -9 in the middle of a run: every event the writer had stored is there after."""
    db = tmp_path / "k.sqlite"
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        from backend import events as ev
        from backend.store import SQLiteStore
        store = SQLiteStore({str(db)!r})
        log = ev.EventLog()
        log.subscribe(lambda e: store.append("k", e))
        log.emit(ev.RunStarted, run_id="k", algorithm="demo", problem="p")
        log.emit(ev.NodeAdded, id=0, parent=None, kind="root", text="p")
        for i in range(1, 200):
            log.emit(ev.NodeAdded, id=i, parent=i - 1, kind="step", text="s" * 50)
        print(len(log), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert proc.returncode == -9, proc.stderr
    written = int(proc.stdout.strip())
    store = SQLiteStore(db)
    assert len(store.read("k")) == written == 201
    assert store.get("k").status == "running"
    assert store.recover() == ["k"]  # its owner is dead
    assert store.get("k").status == "interrupted"
    assert len(Tree.from_events(store.read("k")).nodes) == 200


# The old module names stay: ``from backend.store import X`` for everything that was public
# in backend/store.py before it became a package (callers, docs and tests use them).
PUBLIC_BEFORE_THE_SPLIT = [
    "DB_NAME", "LEASE_S", "DuplicateEvent", "HistoryCorrupt", "HistoryForeign", "HistoryReadOnly",
    "MemoryStore", "RunBusy", "RunRecord", "SQLiteStore", "Store", "StoreError", "check_run_id",
    "default_home", "open_store", "owner_alive", "process_owner",
]  # fmt: skip


def test_every_public_name_is_still_importable_from_backend_store():
    import backend.store

    missing = [name for name in PUBLIC_BEFORE_THE_SPLIT if not hasattr(backend.store, name)]
    assert missing == []
    assert sorted(backend.store.__all__) == sorted(PUBLIC_BEFORE_THE_SPLIT)


def test_history_warnings_keep_the_backend_store_logger_name(tmp_path, caplog):
    """docs/CLI.md tells users to look for ``WARNING backend.store: ...``: the package's
    modules all log under that one name."""
    db = tmp_path / "canopy.sqlite"
    db.write_bytes(b"not an sqlite file at all" * 100)
    with caplog.at_level("WARNING", logger="backend.store"):
        store = open_store(db)
    store.close()
    names = {r.name for r in caplog.records if "moved to" in r.getMessage()}
    assert names == {"backend.store"}
