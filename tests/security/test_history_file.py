"""One history file, several servers, and files that are read-only or corrupt.

- A run that one store (a server) is writing cannot be deleted by another, and a second
  server's ``recover()`` at start does not mark it interrupted; a run whose lease ran out
  (its writer hung or stopped renewing) is recovered.
- ``open_store`` on a read-only file opens it read-only (listing, reading and exporting
  work; writes raise ``HistoryReadOnly``); on a corrupt file it moves it aside and starts a
  new one; either way ``store.notice`` says so and nothing raises at start.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import socket
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from backend import events as ev
from backend.cli import main
from backend.export import RunImportError, export_run, import_run
from backend.store import (
    HistoryReadOnly,
    MemoryStore,
    RunBusy,
    SQLiteStore,
    open_store,
)
from backend.tree import Tree
from tests.factories import small_run

ROOT = Path(__file__).resolve().parents[2]
OTHER_HOST = "another-machine:4242:1"  # a writer on another host: only its lease tells if it lives


@pytest.fixture(autouse=True)
def _fresh_command_list(monkeypatch):
    """``backend.cli.main`` registers its commands on every call; each test starts from the same list."""
    from backend.cli import app

    monkeypatch.setattr(app, "registered_commands", list(app.registered_commands))


def run_events(run_id: str) -> list[ev.Event]:
    return [dataclasses.replace(small_run()[0], run_id=run_id), *small_run()[1:]]


def start(store, run_id: str, upto: int = 4) -> list[ev.Event]:
    """Write the first ``upto`` events of a run: it is running (and, say, paused) now."""
    events = run_events(run_id)
    for e in events[:upto]:
        store.append(run_id, e)
    return events


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- two servers on one file ----------------------------------------------------------------


def test_a_live_run_of_another_store_cannot_be_deleted(tmp_path):
    db = tmp_path / "h.sqlite"
    first, second = SQLiteStore(db), SQLiteStore(db)
    events = start(first, "live")
    with pytest.raises(RunBusy, match="live is still being written by another Canopy"):
        second.delete("live")
    assert second.get("live").status == "running" and len(first.read("live")) == 4
    for e in events[4:]:  # the first server goes on writing, undisturbed
        first.append("live", e)
    assert first.get("live").status == "solved"
    assert second.delete("live") is True  # finished: now it may go
    assert first.get("live") is None


def test_a_second_opener_does_not_interrupt_live_runs(tmp_path):
    db = tmp_path / "h.sqlite"
    here = SQLiteStore(db)  # a server in this process (alive, on this host)
    there = SQLiteStore(db, owner=OTHER_HOST)  # a server on another machine sharing the file
    start(here, "here")
    start(there, "there")
    late = SQLiteStore(db)  # a second server starting up
    assert late.recover() == []
    assert {r.id: r.status for r in late.list_runs()} == {"here": "running", "there": "running"}
    for run_id in ("here", "there"):
        with pytest.raises(RunBusy):
            late.delete(run_id)


def test_a_paused_run_keeps_its_lease_by_heartbeat_and_loses_it_when_its_writer_stops(tmp_path):
    db = tmp_path / "h.sqlite"
    writer = SQLiteStore(db, lease_s=0.4)  # renews every 0.1 s
    start(writer, "paused")  # then appends nothing: paused
    time.sleep(1.0)  # well past one lease
    other = SQLiteStore(db)
    assert other.recover() == [] and other.get("paused").status == "running"
    with pytest.raises(RunBusy):
        other.delete("paused")
    writer.close()  # the writer stops renewing (hung, or gone without finishing)
    time.sleep(0.6)
    assert other.recover() == ["paused"]  # the process is alive, but its lease ran out
    rec = other.get("paused")
    assert rec.status == "interrupted"
    assert Tree.from_events(other.read("paused")).finished.status == "interrupted"


def test_a_stale_lease_of_another_host_is_recovered_and_then_deletable(tmp_path):
    db = tmp_path / "h.sqlite"
    gone = SQLiteStore(db, owner=OTHER_HOST, lease_s=0.2)
    start(gone, "r")
    gone.close()
    time.sleep(0.4)
    store = SQLiteStore(db)
    assert store.recover() == ["r"]
    assert store.get("r").status == "interrupted" and len(store.read("r")) == 5
    assert store.delete("r") is True


def test_a_live_run_in_another_process_is_left_alone_until_that_process_dies(tmp_path):
    db = tmp_path / "h.sqlite"
    script = textwrap.dedent(
        f"""
        import sys, time
        from backend.store import SQLiteStore
        from tests.security.test_history_file import start
        store = SQLiteStore({str(db)!r}, lease_s=1.0)
        start(store, "k")
        print("ready", flush=True)
        time.sleep(120)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        time.sleep(1.5)  # past its lease: only its heartbeat keeps the run alive
        store = SQLiteStore(db)
        assert store.recover() == [] and store.get("k").status == "running"
        with pytest.raises(RunBusy, match=f":{proc.pid}:"):
            store.delete("k")
    finally:
        proc.kill()
        proc.wait(30)
    assert store.recover() == ["k"]  # its process is gone: closed at once, lease or not
    assert store.delete("k") is True


def test_a_history_written_before_leases_is_migrated_and_recovered_by_owner(tmp_path):
    db = tmp_path / "old.sqlite"
    con = sqlite3.connect(db)
    con.executescript(
        """
        CREATE TABLE runs (id TEXT PRIMARY KEY, created REAL NOT NULL, problem TEXT NOT NULL,
            algorithm TEXT NOT NULL, model TEXT NOT NULL, status TEXT NOT NULL, answer TEXT,
            correct INTEGER, nodes INTEGER NOT NULL DEFAULT 0, wall_s REAL NOT NULL DEFAULT 0,
            events INTEGER NOT NULL DEFAULT 0, owner TEXT NOT NULL DEFAULT '');
        CREATE TABLE events (run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL, type TEXT NOT NULL, json TEXT NOT NULL, UNIQUE (run_id, seq));
        """
    )
    dead = f"{socket.gethostname()}:{2**22 + 12345}:1"  # above pid_max: no such process
    for run_id, owner in (("dead", dead), ("far", OTHER_HOST)):
        first = run_events(run_id)[0]
        con.execute(
            "INSERT INTO runs VALUES (?, 0, 'p', 'rstar', '', 'running', NULL, NULL, 0, 0, 1, ?)",
            (run_id, owner),
        )
        con.execute("INSERT INTO events VALUES (?, 0, 'run_started', ?)", (run_id, first.to_json()))
    con.commit()
    con.close()
    store = SQLiteStore(db)
    assert store.recover() == ["dead"]  # no lease: a dead process on this host is enough
    assert store.get("far").status == "running"  # another host, no lease: cannot tell, left alone
    with pytest.raises(RunBusy):
        store.delete("far")


# --- a read-only history ------------------------------------------------------------------


def _history(tmp_path: Path) -> Path:
    folder = tmp_path / "ro"
    folder.mkdir()
    db = folder / "h.sqlite"
    store = SQLiteStore(db)
    store.import_events("done", run_events("done"))
    store.close()
    return db


def _protect(db: Path) -> None:
    db.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)  # 0444
    db.parent.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP)  # 0550


@pytest.fixture
def read_only_history(tmp_path):
    """A history file with mode 0444 in a folder with mode 0550. Root ignores file modes,
    so there the store is opened with ``read_only=True`` (SQLite's ``mode=ro`` URI), the
    path ``open_store`` takes when it finds the modes or SQLite refuse writing."""
    db = _history(tmp_path)
    _protect(db)
    yield db
    db.parent.chmod(0o755)
    db.chmod(0o644)


def _open_read_only(db: Path):
    return open_store(db, read_only=True) if os.geteuid() == 0 else open_store(db)


def test_a_read_only_history_lists_reads_and_exports_but_saves_nothing(read_only_history, tmp_path):
    db = read_only_history
    before = digest(db)
    store = _open_read_only(db)
    assert isinstance(store, SQLiteStore) and store.read_only
    assert "read-only" in store.notice and "not saved" in store.notice
    assert [r.id for r in store.list_runs()] == ["done"]
    assert Tree.from_events(store.read("done")).finished.status == "solved"
    assert export_run(store, "done", tmp_path / "out.jsonl") == len(small_run())
    assert store.recover() == []
    with pytest.raises(HistoryReadOnly, match="read-only"):
        store.append("new", run_events("new")[0])
    with pytest.raises(HistoryReadOnly):
        store.delete("done")
    with pytest.raises(RunImportError, match=r"not imported: .*read-only"):
        import_run(store, tmp_path / "out.jsonl")
    store.close()
    assert digest(db) == before
    wal = Path(f"{db}-wal")  # a reader may make the WAL index files, where it can; never content
    assert not wal.exists() or wal.stat().st_size == 0


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file modes; the mode=ro path is tested above")
def test_file_modes_alone_make_open_store_read_only(read_only_history):
    store = open_store(read_only_history)
    assert store.read_only and "write-protected" in store.notice


def test_a_store_opened_read_only_by_request_never_writes(tmp_path):
    db = _history(tmp_path)
    before = digest(db)
    store = SQLiteStore(db, read_only=True)
    assert [r.id for r in store.list_runs()] == ["done"] and store.recover() == []
    with pytest.raises(HistoryReadOnly):
        store.import_events("x", run_events("x"))
    store.close()
    assert digest(db) == before


# --- a corrupt history ----------------------------------------------------------------------


def _random_bytes(db: Path) -> None:
    db.write_bytes(os.urandom(64 * 1024))


def _damaged_pages(db: Path) -> None:
    store = SQLiteStore(db)
    for i in range(150):
        store.import_events(f"r{i}", run_events(f"r{i}"))
    store.close()
    data = bytearray(db.read_bytes())
    data[4096 * 3 : 4096 * 5] = os.urandom(4096 * 2)
    db.write_bytes(bytes(data))


def _truncated(db: Path) -> None:
    store = SQLiteStore(db)
    store.import_events("a", run_events("a"))
    store.close()
    db.write_bytes(db.read_bytes()[:1000])


def _text_file(db: Path) -> None:
    db.write_text("this is not a database\n" * 100)


CORRUPTIONS = {"random bytes": _random_bytes, "damaged pages": _damaged_pages, "truncated": _truncated}
CORRUPTIONS["a text file"] = _text_file


@pytest.mark.parametrize("how", sorted(CORRUPTIONS))
def test_a_corrupt_history_is_moved_aside_and_a_new_one_started(tmp_path, how):
    db = tmp_path / "h.sqlite"
    CORRUPTIONS[how](db)
    bad = digest(db)
    store = open_store(db)
    assert store.recover() == []  # what the app does next at start: no traceback either
    assert isinstance(store, SQLiteStore) and not store.read_only
    [aside] = tmp_path.glob("h.sqlite.corrupt-*[0-9]")
    assert digest(aside) == bad  # kept, for whoever wants to rescue it
    assert "could not be read" in store.notice and str(aside) in store.notice
    assert store.list_runs() == []
    start(store, "fresh", upto=len(small_run()))
    assert store.get("fresh").status == "solved"


def test_a_corrupt_history_that_cannot_be_moved_falls_back_to_memory(tmp_path, monkeypatch):
    db = tmp_path / "h.sqlite"
    _random_bytes(db)

    def refuse(src, dst):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", refuse)
    store = open_store(db)
    assert isinstance(store, MemoryStore) and "kept in memory only" in store.notice
    assert store.recover() == [] and store.list_runs() == []


def test_an_sqlite_file_that_is_not_a_history_is_left_alone(tmp_path, capsys):
    db = tmp_path / "other.sqlite"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE runs (id TEXT, colour TEXT)")
    con.commit()
    con.close()
    before = digest(db)
    store = open_store(db)
    assert isinstance(store, MemoryStore) and "not a Canopy history" in store.notice
    assert digest(db) == before and not list(tmp_path.glob("*.corrupt-*"))
    src = tmp_path / "run.jsonl"
    ev.write_jsonl(small_run(), src)
    assert main(["import", str(src), "--db", str(db)]) == 2  # into memory would be lost: refused
    out, err = capsys.readouterr()
    assert "error: not imported: " in err and "Traceback" not in out + err


def test_the_cli_on_a_corrupt_history_warns_once_and_goes_on(tmp_path):
    db = tmp_path / "h.sqlite"
    _random_bytes(db)
    cli = "import sys; from backend.cli import main; sys.exit(main())"
    proc = subprocess.run(
        [sys.executable, "-c", cli, "runs", "--json", "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "[]"
    assert "Traceback" not in proc.stderr and proc.stderr.count("moved to") == 1, proc.stderr
