"""Run history: every run's events, appended as they happen, plus one summary row per run.

The store is an append-only log keyed by ``(run_id, seq)``; appending a ``seq`` twice
raises ``DuplicateEvent`` (optimistic concurrency for free, as in pyeventsourcing's
recorders). ``read(run_id, after=seq, limit)`` is the catch-up cursor that the UI, the
exporter and replay follow. The summary row (problem, algorithm, model, status, answer,
correct, nodes, wall_s) is a projection of the events, updated in the same transaction as
the event that changes it, so it can never disagree with the log.

Two implementations share one interface and one contract test suite
(tests/test_store.py): ``SQLiteStore`` (WAL; each event is committed on its own, so a
``kill -9`` loses no finished event) and ``MemoryStore`` (tests, throwaway sessions).

A run whose writer died shows as running forever unless someone notices: ``recover()``
(called by the app at start) closes such runs with a ``run_finished`` event of status
``interrupted`` and keeps every event they had, so their tree can still be replayed.
"""

from __future__ import annotations

import bisect
import dataclasses
import json
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from backend import events as ev

DB_NAME = "canopy.sqlite"


class StoreError(ValueError):
    """A store operation that cannot be done (unknown run, bad event); the message says why."""


class DuplicateEvent(StoreError):
    """An event with this (run_id, seq) is already stored."""


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One row of the history list."""

    id: str
    created: float  # unix time of run_started being stored
    problem: str
    algorithm: str
    model: str
    status: str  # "running" or a run_finished status
    answer: str | None = None
    correct: bool | None = None
    nodes: int = 0
    wall_s: float = 0.0
    events: int = 0
    owner: str = ""  # "host:pid:start" of the process writing it (see ``recover``)

    def to_dict(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__slots__}  # type: ignore[attr-defined]


class Store(Protocol):
    """What the app, the CLI and the exporter need from a run history."""

    def append(self, run_id: str, event: ev.Event) -> None:
        """Store one event; ``run_started`` (seq 0) creates the run. Duplicates raise."""

    def read(self, run_id: str, after: int = -1, limit: int | None = None) -> list[ev.Event]:
        """Events of ``run_id`` with seq > ``after``, in seq order, at most ``limit``."""

    def get(self, run_id: str) -> RunRecord | None: ...

    def list_runs(
        self, *, text: str = "", algorithm: str = "", status: str = "", limit: int = 200
    ) -> list[RunRecord]:
        """Newest first; ``text`` matches problem or answer (case-insensitive substring)."""

    def delete(self, run_id: str) -> bool: ...

    def recover(self, alive: Iterable[str] = ()) -> list[str]:
        """Close runs left "running" by a dead writer as ``interrupted``; returns their ids."""

    def close(self) -> None: ...


# --- shared projection logic -----------------------------------------------------------


def process_owner() -> str:
    """An id for this process that a later process can check for liveness."""
    return f"{socket.gethostname()}:{os.getpid()}:{_process_start(os.getpid())}"


def _process_start(pid: int) -> str:
    """Start time of ``pid`` in clock ticks (Linux), so a reused pid is not mistaken for it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "?"
    return stat.rsplit(")", 1)[1].split()[19]


def owner_alive(owner: str) -> bool:
    host, _, rest = owner.partition(":")
    pid_s, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid_s.isdigit():
        return True  # another machine's process: we cannot tell, so we leave it alone
    pid = int(pid_s)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return start in ("?", "") or _process_start(pid) == start


def _record_from_started(e: ev.RunStarted, owner: str) -> RunRecord:
    engine = e.engine or {}
    model = str(engine.get("model") or engine.get("name") or "")
    return RunRecord(
        id=e.run_id,
        created=time.time(),
        problem=e.problem,
        algorithm=e.algorithm,
        model=model,
        status="running",
        owner=owner,
    )


def _check_event(run_id: str, e: ev.Event, known: RunRecord | None) -> None:
    if not run_id:
        raise StoreError("run_id must be a non-empty string")
    if isinstance(e, ev.RunStarted):
        if e.run_id != run_id:
            raise StoreError(f"run_started names run {e.run_id!r} but was stored under {run_id!r}")
        if e.seq != 0:
            raise StoreError(f"run_started must be seq 0, got {e.seq}")
    elif known is None:
        raise StoreError(f"run {run_id!r} does not exist: its first event must be run_started (seq 0)")


def _close_dead(store: Any, rows: Iterable[tuple[str, str]], keep: set[str]) -> list[str]:
    """Append ``run_finished(interrupted)`` to each (run id, owner) whose owner is gone."""
    closed = []
    for run_id, owner in rows:
        if run_id in keep or owner == store.owner or owner_alive(owner):
            continue
        last = store.read(run_id)[-1:]
        seq, t = (last[0].seq + 1, last[0].t) if last else (0, 0.0)
        error = "the process running this search stopped before it finished"
        try:
            store.append(run_id, ev.RunFinished(seq=seq, t=t, status="interrupted", error=error))
        except DuplicateEvent:  # its writer came back to life and wrote that seq; leave it
            continue
        closed.append(run_id)
    return closed


# --- SQLite ----------------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    problem TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    model TEXT NOT NULL,
    status TEXT NOT NULL,
    answer TEXT,
    correct INTEGER,
    nodes INTEGER NOT NULL DEFAULT 0,
    wall_s REAL NOT NULL DEFAULT 0,
    events INTEGER NOT NULL DEFAULT 0,
    owner TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS events (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    type TEXT NOT NULL,
    json TEXT NOT NULL,
    UNIQUE (run_id, seq)
);
CREATE INDEX IF NOT EXISTS runs_created ON runs(created);
"""

_COLUMNS = "id, created, problem, algorithm, model, status, answer, correct, nodes, wall_s, events, owner"


def _row_to_record(row: tuple) -> RunRecord:
    data = dict(zip(_COLUMNS.split(", "), row, strict=True))
    data["correct"] = None if data["correct"] is None else bool(data["correct"])
    return RunRecord(**data)


class SQLiteStore:
    """SQLite history in WAL mode; one connection shared under a lock (writes are tiny).

    ``synchronous=NORMAL`` with WAL survives a killed process (the WAL is in the OS
    page cache) though not a power cut; https://www.sqlite.org/wal.html#durability.
    """

    def __init__(self, path: str | Path, *, owner: str | None = None) -> None:
        self.path = Path(path)
        self.owner = owner or process_owner()
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=10)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(_SCHEMA)

    def append(self, run_id: str, event: ev.Event) -> None:
        with self._lock:
            known = self._get(run_id)
            _check_event(run_id, event, known)
            try:
                self._db.execute("BEGIN IMMEDIATE")
                if isinstance(event, ev.RunStarted):
                    if known is not None:
                        raise DuplicateEvent(f"run {run_id!r} already exists (seq 0 is stored)")
                    rec = _record_from_started(event, self.owner)
                    self._db.execute(
                        f"INSERT INTO runs ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                        tuple(getattr(rec, c) for c in _COLUMNS.split(", ")),
                    )
                self._db.execute(
                    "INSERT INTO events (run_id, seq, type, json) VALUES (?,?,?,?)",
                    (run_id, event.seq, event.type, event.to_json()),
                )
                self._project(run_id, event)
                self._db.execute("COMMIT")
            except sqlite3.IntegrityError as exc:
                self._db.execute("ROLLBACK")
                raise DuplicateEvent(f"run {run_id!r} already has an event with seq {event.seq}") from exc
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def _project(self, run_id: str, e: ev.Event) -> None:
        if isinstance(e, ev.NodeAdded):
            self._db.execute("UPDATE runs SET nodes = nodes + 1, events = events + 1 WHERE id = ?", (run_id,))
        elif isinstance(e, ev.RunFinished):
            correct = None if e.correct is None else int(e.correct)
            self._db.execute(
                "UPDATE runs SET status = ?, answer = ?, correct = ?, wall_s = ?, events = events + 1 "
                "WHERE id = ?",
                (e.status, e.answer, correct, float(e.stats.get("wall_s", e.t)), run_id),
            )
        else:
            self._db.execute("UPDATE runs SET events = events + 1 WHERE id = ?", (run_id,))

    def read(self, run_id: str, after: int = -1, limit: int | None = None) -> list[ev.Event]:
        sql = "SELECT json FROM events WHERE run_id = ? AND seq > ? ORDER BY seq"
        args: tuple = (run_id, after)
        if limit is not None:
            sql += " LIMIT ?"
            args += (int(limit),)
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [ev.event_from_dict(json.loads(r[0])) for r in rows]

    def _get(self, run_id: str) -> RunRecord | None:
        row = self._db.execute(f"SELECT {_COLUMNS} FROM runs WHERE id = ?", (run_id,)).fetchone()
        return None if row is None else _row_to_record(row)

    def get(self, run_id: str) -> RunRecord | None:
        with self._lock:
            return self._get(run_id)

    def list_runs(
        self, *, text: str = "", algorithm: str = "", status: str = "", limit: int = 200
    ) -> list[RunRecord]:
        sql = f"SELECT {_COLUMNS} FROM runs WHERE 1=1"
        args: list[Any] = []
        if text:
            sql += " AND (instr(lower(problem), ?) > 0 OR instr(lower(coalesce(answer, '')), ?) > 0)"
            args += [text.lower(), text.lower()]
        if algorithm:
            sql += " AND algorithm = ?"
            args.append(algorithm)
        if status:
            sql += " AND status = ?"
            args.append(status)
        sql += " ORDER BY created DESC, rowid DESC LIMIT ?"
        args.append(int(limit))
        with self._lock:
            return [_row_to_record(r) for r in self._db.execute(sql, args).fetchall()]

    def delete(self, run_id: str) -> bool:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM events WHERE run_id = ?", (run_id,))
            cur = self._db.execute("DELETE FROM runs WHERE id = ?", (run_id,))
            self._db.execute("COMMIT")
            return cur.rowcount > 0

    def recover(self, alive: Iterable[str] = ()) -> list[str]:
        with self._lock:
            rows = self._db.execute("SELECT id, owner FROM runs WHERE status = 'running'").fetchall()
        return _close_dead(self, rows, set(alive))

    def close(self) -> None:
        with self._lock:
            self._db.close()


# --- in memory -------------------------------------------------------------------------


class MemoryStore:
    """The same interface over dicts and a lock: for tests and throwaway sessions."""

    def __init__(self, *, owner: str | None = None) -> None:
        self.owner = owner or process_owner()
        self._lock = threading.Lock()
        self._runs: dict[str, RunRecord] = {}
        self._events: dict[str, list[ev.Event]] = {}
        self._seqs: dict[str, set[int]] = {}

    def append(self, run_id: str, event: ev.Event) -> None:
        with self._lock:
            known = self._runs.get(run_id)
            _check_event(run_id, event, known)
            if isinstance(event, ev.RunStarted):
                if known is not None:
                    raise DuplicateEvent(f"run {run_id!r} already exists (seq 0 is stored)")
                known = _record_from_started(event, self.owner)
                self._events[run_id], self._seqs[run_id] = [], set()
            if event.seq in self._seqs[run_id]:
                raise DuplicateEvent(f"run {run_id!r} already has an event with seq {event.seq}")
            # round-trip through JSON so the memory store accepts and returns exactly what SQLite would
            stored = ev.event_from_dict(json.loads(event.to_json()))
            self._seqs[run_id].add(event.seq)
            bisect.insort(self._events[run_id], stored, key=lambda x: x.seq)
            changes: dict[str, Any] = {"events": known.events + 1, "nodes": known.nodes}
            changes["nodes"] += isinstance(event, ev.NodeAdded)
            if isinstance(event, ev.RunFinished):
                wall = float(event.stats.get("wall_s", event.t))
                changes.update(status=event.status, answer=event.answer, correct=event.correct, wall_s=wall)
            self._runs[run_id] = dataclasses.replace(known, **changes)

    def read(self, run_id: str, after: int = -1, limit: int | None = None) -> list[ev.Event]:
        with self._lock:
            out = [e for e in self._events.get(run_id, []) if e.seq > after]
        return out if limit is None else out[: int(limit)]

    def get(self, run_id: str) -> RunRecord | None:
        with self._lock:
            return self._runs.get(run_id)

    def list_runs(
        self, *, text: str = "", algorithm: str = "", status: str = "", limit: int = 200
    ) -> list[RunRecord]:
        needle = text.lower()
        with self._lock:  # newest first; insertion order breaks ties in ``created``
            rows = list(enumerate(self._runs.values()))
        hits = [
            (r.created, i, r)
            for i, r in rows
            if (needle in r.problem.lower() or needle in (r.answer or "").lower())
            and algorithm in ("", r.algorithm)
            and status in ("", r.status)
        ]
        return [r for _, _, r in sorted(hits, key=lambda h: h[:2], reverse=True)][: int(limit)]

    def delete(self, run_id: str) -> bool:
        with self._lock:
            self._events.pop(run_id, None)
            self._seqs.pop(run_id, None)
            return self._runs.pop(run_id, None) is not None

    def recover(self, alive: Iterable[str] = ()) -> list[str]:
        with self._lock:
            rows = [(r.id, r.owner) for r in self._runs.values() if r.status == "running"]
        return _close_dead(self, rows, set(alive))

    def close(self) -> None:
        pass


def default_home() -> Path:
    """``$CANOPY_HOME`` or ``~/.cache/canopy`` (not created here: entrypoints create it)."""
    return Path(os.environ.get("CANOPY_HOME") or Path.home() / ".cache" / "canopy")


def open_store(path: str | Path | None = None) -> SQLiteStore:
    """Open (creating the folder) the SQLite store at ``path`` or under ``default_home()``."""
    db = Path(path) if path is not None else default_home() / DB_NAME
    db.parent.mkdir(parents=True, exist_ok=True)
    return SQLiteStore(db)
