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

Several servers may share one history file. Each ``SQLiteStore`` holds a *lease* on the
runs it writes (its random ``token`` and an expiry time, renewed on every append and by a
heartbeat thread while it has running runs, paused ones included). Another store never
deletes such a run while its lease is fresh, and ``recover()`` closes only runs whose lease
has run out or whose writer is a process on this host that no longer exists.

Every event is checked field by field (``events.check_fields``) before it is written, run
ids must match ``events.RUN_ID_PATTERN``, and ``import_events`` writes a whole run in one
transaction. ``open_store`` never fails on the file itself: a read-only file opens
read-only, a corrupt one is moved aside, and ``store.notice`` says what happened.
"""

from __future__ import annotations

import bisect
import dataclasses
import json
import logging
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from backend import events as ev

DB_NAME = "canopy.sqlite"
#: seconds a writer's lease on its running runs lasts; the heartbeat renews it 4 times as often
LEASE_S = 60.0

log = logging.getLogger(__name__)


class StoreError(ValueError):
    """A store operation that cannot be done (unknown run, bad event); the message says why."""


class DuplicateEvent(StoreError):
    """An event with this (run_id, seq) is already stored."""


class RunBusy(StoreError):
    """A run that another live process is still writing (its lease is fresh)."""


class HistoryReadOnly(StoreError):
    """The history file cannot be written from here (a read-only file, folder or store)."""


class HistoryCorrupt(StoreError):
    """The file is not an SQLite database, or a damaged one."""


class HistoryForeign(StoreError):
    """An SQLite database that is not a Canopy history (its tables lack Canopy's columns)."""


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

    #: what ``open_store`` had to do to give a usable history (None when nothing): show it
    notice: str | None
    #: whether appends, imports and deletes are refused (a read-only history file)
    read_only: bool

    def append(self, run_id: str, event: ev.Event) -> None:
        """Store one event; ``run_started`` (seq 0) creates the run. Duplicates raise."""

    def read(self, run_id: str, after: int = -1, limit: int | None = None) -> list[ev.Event]:
        """Events of ``run_id`` with seq > ``after``, in seq order, at most ``limit``."""

    def import_events(self, run_id: str, events: Sequence[ev.Event]) -> None:
        """Store a whole run in one go: all of it, or nothing."""

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


def _wall_s(e: ev.RunFinished) -> float:
    """``stats["wall_s"]`` when it is a number (a payload may hold anything), else ``t``."""
    wall = e.stats.get("wall_s")
    return float(wall) if type(wall) in (int, float) else e.t


def _projected(rec: RunRecord, e: ev.Event) -> RunRecord:
    """The summary row after event ``e``: the projection both stores and bulk import share."""
    changes: dict[str, Any] = {"events": rec.events + 1}
    if isinstance(e, ev.NodeAdded):
        changes["nodes"] = rec.nodes + 1
    elif isinstance(e, ev.RunFinished):
        changes.update(status=e.status, answer=e.answer, correct=e.correct, wall_s=_wall_s(e))
    return dataclasses.replace(rec, **changes)


def check_run_id(run_id: Any) -> str:
    """``run_id`` if it is a valid id (``events.RUN_ID_PATTERN``), else StoreError."""
    if not ev.valid_run_id(run_id):
        raise StoreError(f"{str(run_id)[:80]!r} is not a run id ({ev.RUN_ID_RULE})")
    return run_id


def _check_event(run_id: str, e: ev.Event, known: RunRecord | None) -> None:
    check_run_id(run_id)
    if not isinstance(e, ev.Event):
        raise StoreError(f"not an event: {type(e).__name__}")
    try:
        ev.validate_event(e)
    except ev.EventError as exc:
        raise StoreError(f"run {run_id}: event seq {e.seq!r} refused: {exc}") from None
    if isinstance(e, ev.RunStarted):
        if e.run_id != run_id:
            raise StoreError(f"run_started names run {e.run_id!r} but was stored under {run_id!r}")
        if e.seq != 0:
            raise StoreError(f"run_started must be seq 0, got {e.seq}")
    elif known is None:
        raise StoreError(f"run {run_id!r} does not exist: its first event must be run_started (seq 0)")


def _check_import(run_id: str, events: Sequence[ev.Event]) -> RunRecord:
    """Check a whole run before a bulk write; returns its summary row (owner left blank)."""
    if not events or not isinstance(events[0], ev.RunStarted):
        raise StoreError("a run to import must start with run_started (seq 0)")
    _check_event(run_id, events[0], None)
    rec = _record_from_started(events[0], "")
    last = -1
    for e in events:
        _check_event(run_id, e, rec)
        if e.seq <= last:
            raise DuplicateEvent(f"run {run_id!r}: seq {e.seq} comes after seq {last}")
        last = e.seq
        rec = _projected(rec, e)
    return rec


def _is_dead(owner: str, lease_until: float, now: float) -> bool:
    """Whether a running run's writer is gone: its lease ran out, or (on this host) its
    process no longer exists. A run with no lease (written before leases) goes by the
    process alone, and another host's process is only judged by its lease."""
    if lease_until and now > lease_until:
        return True
    return not owner_alive(owner)


def _interrupted(last: ev.Event | None) -> ev.RunFinished:
    seq, t = (last.seq + 1, last.t) if last is not None else (0, 0.0)
    error = "the process running this search stopped before it finished"
    return ev.RunFinished(seq=seq, t=t, status="interrupted", error=error)


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
    owner TEXT NOT NULL DEFAULT '',
    lease_token TEXT NOT NULL DEFAULT '',
    lease_until REAL NOT NULL DEFAULT 0
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
_LEASE_COLUMNS = {"lease_token": "TEXT NOT NULL DEFAULT ''", "lease_until": "REAL NOT NULL DEFAULT 0"}
_EVENT_COLUMNS = {"run_id", "seq", "type", "json"}


def _row_to_record(row: tuple) -> RunRecord:
    data = dict(zip(_COLUMNS.split(", "), row, strict=True))
    data["correct"] = None if data["correct"] is None else bool(data["correct"])
    return RunRecord(**data)


def _columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in db.execute(f"PRAGMA table_info({table})").fetchall()}


def _check_schema(db: sqlite3.Connection, path: Path) -> bool:
    """Refuse an SQLite file whose tables are not Canopy's (a ``--db`` pointed at the wrong
    file), before anything is written to it; False for a file with no tables yet (ours to set up)."""
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()}
    if not tables:
        return False
    if not {"runs", "events"} <= tables:
        shown = ", ".join(sorted(t[:40] for t in tables)[:5])
        raise HistoryForeign(f"{path} is an SQLite database but not a Canopy history (its tables: {shown})")
    missing = set(_COLUMNS.split(", ")) - _columns(db, "runs")
    missing |= {f"events.{c}" for c in _EVENT_COLUMNS - _columns(db, "events")}
    if missing:
        raise HistoryForeign(
            f"{path} is an SQLite database but not a Canopy history (missing {', '.join(sorted(missing))})"
        )
    return True


def _check_pages(db: sqlite3.Connection) -> None:
    """``PRAGMA quick_check`` (about 1 s per GB): a damaged page found now is a clear message
    at start, not an error in the middle of listing or replaying runs."""
    problems = [r[0] for r in db.execute("PRAGMA quick_check(3)").fetchall()]
    if problems != ["ok"]:
        raise HistoryCorrupt(f"a damaged SQLite database: {' '.join(' '.join(problems).split())[:200]}")


def _migrate(db: sqlite3.Connection) -> None:
    """Add the lease columns to a history written before them (once, under the write lock)."""
    if set(_LEASE_COLUMNS) <= _columns(db, "runs"):
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        for name, decl in _LEASE_COLUMNS.items():
            if name not in _columns(db, "runs"):
                db.execute(f"ALTER TABLE runs ADD COLUMN {name} {decl}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _classified(exc: sqlite3.Error, path: Path) -> StoreError:
    """The store error an SQLite failure at open means: corrupt, read-only, or another problem."""
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    if code in (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT):
        return HistoryCorrupt(f"not a readable SQLite database: {exc}")
    if code in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM, sqlite3.SQLITE_AUTH):
        return HistoryReadOnly(f"{path} cannot be written: {exc}")
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return StoreError(f"{path} is locked by another process (tried for 10 s): {exc}")
    if isinstance(exc, sqlite3.OperationalError):  # e.g. a table or column that is not ours
        return HistoryForeign(f"{path} is not a Canopy history: {exc}")
    return HistoryCorrupt(f"not a readable SQLite database: {exc}")


def _connect(target: str, *, uri: bool = False) -> sqlite3.Connection:
    return sqlite3.connect(target, uri=uri, check_same_thread=False, isolation_level=None, timeout=10)


def _open_writable(path: Path) -> sqlite3.Connection:
    """Open (or create) the history for writing, proving it: SQLite silently opens a
    write-protected file read-only, so a write lock is taken and released once."""
    db = _connect(str(path))
    try:
        if _check_schema(db, path):  # checked before anything is written to a file that is not ours
            _check_pages(db)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
        db.executescript(_SCHEMA)
        _migrate(db)
        db.execute("BEGIN IMMEDIATE")
        db.execute("ROLLBACK")
    except sqlite3.Error as exc:
        db.close()
        raise _classified(exc, path) from None
    except StoreError:
        db.close()
        raise
    return db


def _open_read_only(path: Path) -> sqlite3.Connection:
    """Open the history with SQLite's ``mode=ro``; where even that cannot work (a WAL file in
    a read-only folder, without its ``-shm``), ``immutable=1``: it reads what is on disk."""
    if not path.is_file():
        raise HistoryReadOnly(f"{path} does not exist and cannot be created here")
    base = path.resolve().as_uri()
    last: sqlite3.Error | None = None
    for query in ("mode=ro", "mode=ro&immutable=1"):
        db = _connect(f"{base}?{query}", uri=True)
        try:
            if not _check_schema(db, path):
                raise HistoryReadOnly(f"{path} is empty and cannot be written here")
            _check_pages(db)
            return db
        except sqlite3.Error as exc:
            db.close()
            last = exc
            if (getattr(exc, "sqlite_errorcode", 0) & 0xFF) != sqlite3.SQLITE_CANTOPEN:
                break
        except StoreError:
            db.close()
            raise
    assert last is not None
    raise _classified(last, path)


class SQLiteStore:
    """SQLite history in WAL mode; one connection shared under a lock (writes are tiny).

    ``synchronous=NORMAL`` with WAL survives a killed process (the WAL is in the OS
    page cache) though not a power cut; https://www.sqlite.org/wal.html#durability.

    ``read_only=True`` opens the file with SQLite's ``mode=ro``: listing, reading and
    exporting work; appending, importing, deleting raise ``HistoryReadOnly``; ``recover``
    does nothing. Opening raises ``HistoryCorrupt``, ``HistoryReadOnly`` or
    ``HistoryForeign``; ``open_store`` turns those into a usable store and a ``notice``.
    """

    def __init__(
        self, path: str | Path, *, owner: str | None = None, read_only: bool = False, lease_s: float = LEASE_S
    ) -> None:
        self.path = Path(path)
        self.owner = owner or process_owner()
        self.token = uuid.uuid4().hex  # this store's leases: two stores in one process differ
        self.read_only = read_only
        self.notice: str | None = None
        self.lease_s = lease_s
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._heartbeat: threading.Thread | None = None
        self._db = _open_read_only(self.path) if read_only else _open_writable(self.path)

    # --- writing ------------------------------------------------------------------

    def _writable(self) -> None:
        if self.read_only:
            raise HistoryReadOnly(
                f"the history file {self.path} is open read-only: nothing can be saved to it"
            )

    def _transaction(self, work: Any) -> Any:
        """Run ``work()`` in one write transaction (under the lock): all of it or nothing."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                result = work()
                self._db.execute("COMMIT")
                return result
            except BaseException as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.IntegrityError):
                    raise DuplicateEvent(f"already stored: {exc}") from None
                if isinstance(exc, sqlite3.Error):
                    raise StoreError(f"history database {self.path}: {exc}") from None
                raise

    def append(self, run_id: str, event: ev.Event) -> None:
        self._writable()

        def work() -> None:
            known = self._get(run_id)
            _check_event(run_id, event, known)
            if isinstance(event, ev.RunStarted):
                if known is not None:
                    raise DuplicateEvent(f"run {run_id!r} already exists (seq 0 is stored)")
                self._insert_run(_record_from_started(event, self.owner))
            elif self._has_seq(run_id, event.seq):
                raise DuplicateEvent(f"run {run_id!r} already has an event with seq {event.seq}")
            self._insert_events(run_id, [event])
            self._project(run_id, event)

        self._transaction(work)
        if isinstance(event, ev.RunStarted):
            self._keep_leases()

    def import_events(self, run_id: str, events: Sequence[ev.Event]) -> None:
        """Store a whole run (``run_started`` first) in one transaction: all of it, or on
        any error none of it. The run must not exist yet (DuplicateEvent)."""
        self._writable()
        events = list(events)
        rec = dataclasses.replace(_check_import(run_id, events), owner=self.owner)

        def work() -> None:
            if self._get(run_id) is not None:
                raise DuplicateEvent(f"run {run_id!r} already exists")
            self._insert_run(rec)
            self._insert_events(run_id, events)

        self._transaction(work)

    def _has_seq(self, run_id: str, seq: int) -> bool:
        row = self._db.execute("SELECT 1 FROM events WHERE run_id = ? AND seq = ?", (run_id, seq))
        return row.fetchone() is not None

    def _insert_run(self, rec: RunRecord) -> None:
        values = tuple(getattr(rec, c) for c in _COLUMNS.split(", "))
        self._db.execute(
            f"INSERT INTO runs ({_COLUMNS}, lease_token, lease_until) VALUES ({', '.join('?' * 14)})",
            (*values, self.token, time.time() + self.lease_s),
        )

    def _insert_events(self, run_id: str, events: Iterable[ev.Event]) -> None:
        self._db.executemany(
            "INSERT INTO events (run_id, seq, type, json) VALUES (?,?,?,?)",
            ((run_id, e.seq, e.type, e.to_json()) for e in events),
        )

    def _project(self, run_id: str, e: ev.Event) -> None:
        lease = time.time() + self.lease_s
        if isinstance(e, ev.NodeAdded):
            self._db.execute(
                "UPDATE runs SET nodes = nodes + 1, events = events + 1, lease_until = ? WHERE id = ?",
                (lease, run_id),
            )
        elif isinstance(e, ev.RunFinished):
            correct = None if e.correct is None else int(e.correct)
            self._db.execute(
                "UPDATE runs SET status = ?, answer = ?, correct = ?, wall_s = ?, events = events + 1 "
                "WHERE id = ?",
                (e.status, e.answer, correct, _wall_s(e), run_id),
            )
        else:
            self._db.execute(
                "UPDATE runs SET events = events + 1, lease_until = ? WHERE id = ?", (lease, run_id)
            )

    # --- leases -------------------------------------------------------------------

    def _keep_leases(self) -> None:
        """Start the heartbeat that renews this store's leases (once; it stops by itself)."""
        with self._lock:
            if self._heartbeat is None and not self._closed.is_set():
                self._heartbeat = threading.Thread(target=self._beat, name="canopy-lease", daemon=True)
                self._heartbeat.start()

    def _beat(self) -> None:
        """Renew the leases of this store's running runs (paused ones too, which append
        nothing) until none is left or the store closes."""
        while not self._closed.wait(self.lease_s / 4):
            with self._lock:
                if self._closed.is_set():
                    return
                try:
                    renewed = self._db.execute(
                        "UPDATE runs SET lease_until = ? WHERE lease_token = ? AND status = 'running'",
                        (time.time() + self.lease_s, self.token),
                    ).rowcount
                except sqlite3.Error as exc:  # busy or gone for now: try again next beat
                    log.warning("history %s: could not renew run leases: %s", self.path, exc)
                    continue
                if renewed == 0:
                    self._heartbeat = None
                    return

    def _lease(self, run_id: str) -> tuple[str, str, str, float] | None:
        return self._db.execute(
            "SELECT status, owner, lease_token, lease_until FROM runs WHERE id = ?", (run_id,)
        ).fetchone()

    def _mine(self, lease: tuple[str, str, str, float]) -> bool:
        """Written by this store (or, for a run from before leases, by this process)."""
        _, owner, token, _ = lease
        return token == self.token or (not token and owner == self.owner)

    def _live_elsewhere(self, lease: tuple[str, str, str, float]) -> bool:
        """A running run that another store writes and whose writer still looks alive."""
        status, owner, _, until = lease
        return status == "running" and not self._mine(lease) and not _is_dead(owner, until, time.time())

    # --- reading ------------------------------------------------------------------

    def read(self, run_id: str, after: int = -1, limit: int | None = None) -> list[ev.Event]:
        if not ev.valid_run_id(run_id):
            return []  # no run can have such an id: appends and imports refuse it
        sql = "SELECT seq, json FROM events WHERE run_id = ? AND seq > ? ORDER BY seq"
        args: tuple = (run_id, int(after))
        if limit is not None:
            sql += " LIMIT ?"
            args += (int(limit),)
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [_decoded(run_id, seq, text) for seq, text in rows]

    def _get(self, run_id: str) -> RunRecord | None:
        row = self._db.execute(f"SELECT {_COLUMNS} FROM runs WHERE id = ?", (run_id,)).fetchone()
        return None if row is None else _row_to_record(row)

    def get(self, run_id: str) -> RunRecord | None:
        if not ev.valid_run_id(run_id):
            return None
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

    # --- deleting and recovering --------------------------------------------------

    def delete(self, run_id: str) -> bool:
        """Delete a run; False if there is none. Raises RunBusy for a run that another
        live store is writing (another server's search), HistoryReadOnly when read-only."""
        if not ev.valid_run_id(run_id):
            return False
        self._writable()

        def work() -> bool:
            lease = self._lease(run_id)
            if lease is None:
                return False
            if self._live_elsewhere(lease):
                raise RunBusy(
                    f"run {run_id} is still being written by another Canopy process ({lease[1]}); "
                    "stop it there first (or wait until that process has ended)"
                )
            self._db.execute("DELETE FROM events WHERE run_id = ?", (run_id,))
            return self._db.execute("DELETE FROM runs WHERE id = ?", (run_id,)).rowcount > 0

        return self._transaction(work)

    def recover(self, alive: Iterable[str] = ()) -> list[str]:
        """Close as ``interrupted`` the running runs whose writer is gone (lease run out,
        or its process on this host ended); a live writer's runs, ours or another
        server's, are left alone. Read-only: nothing to do."""
        if self.read_only:
            return []
        keep = set(alive)
        with self._lock:
            ids = [r[0] for r in self._db.execute("SELECT id FROM runs WHERE status = 'running'").fetchall()]
        return [run_id for run_id in ids if run_id not in keep and self._close_if_dead(run_id)]

    def _close_if_dead(self, run_id: str) -> bool:
        """Append ``run_finished(interrupted)`` if the run's writer is gone, deciding and
        writing in one transaction so a writer renewing its lease meanwhile is not cut off."""

        def work() -> bool:
            lease = self._lease(run_id)
            if lease is None or lease[0] != "running" or not self._dead_writer(lease):
                return False
            last = self._db.execute(
                "SELECT seq, json FROM events WHERE run_id = ? ORDER BY seq DESC LIMIT 1", (run_id,)
            ).fetchone()
            finish = _interrupted(None if last is None else _decoded(run_id, *last))
            self._insert_events(run_id, [finish])
            self._project(run_id, finish)
            return True

        return self._transaction(work)

    def _dead_writer(self, lease: tuple[str, str, str, float]) -> bool:
        _, owner, _, until = lease
        return not self._mine(lease) and _is_dead(owner, until, time.time())

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            self._db.close()


def _decoded(run_id: str, seq: int, text: str) -> ev.Event:
    """A stored event, checked like a file's; a damaged row is a StoreError naming it."""
    try:
        return ev.event_from_dict(json.loads(text))
    except (ValueError, RecursionError) as exc:
        raise StoreError(f"run {run_id}: stored event seq {seq} is damaged: {exc}") from None


# --- in memory -------------------------------------------------------------------------


class MemoryStore:
    """The same interface over dicts and a lock: for tests, throwaway sessions, and the
    fallback when the history file cannot be used (``open_store`` says so in ``notice``)."""

    read_only = False

    def __init__(self, *, owner: str | None = None, notice: str | None = None) -> None:
        self.owner = owner or process_owner()
        self.notice = notice
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
            self._runs[run_id] = _projected(known, event)

    def import_events(self, run_id: str, events: Sequence[ev.Event]) -> None:
        """Store a whole run at once: checked first, then added under the lock (all or nothing)."""
        events = list(events)
        rec = dataclasses.replace(_check_import(run_id, events), owner=self.owner)
        stored = [ev.event_from_dict(json.loads(e.to_json())) for e in events]
        with self._lock:
            if run_id in self._runs:
                raise DuplicateEvent(f"run {run_id!r} already exists")
            self._runs[run_id] = rec
            self._events[run_id] = stored
            self._seqs[run_id] = {e.seq for e in stored}

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
        """Close runs whose owner process is gone (one process sees a memory store, so
        there are no leases: ``owner`` alone decides)."""
        keep = set(alive)
        with self._lock:
            rows = [r.id for r in self._runs.values() if r.status == "running" and r.id not in keep]
            rows = [rid for rid in rows if self._runs[rid].owner != self.owner]
        closed = []
        for run_id in rows:
            if owner_alive(self._runs[run_id].owner):
                continue
            try:
                self.append(run_id, _interrupted((self.read(run_id)[-1:] or [None])[0]))
            except DuplicateEvent:
                continue
            closed.append(run_id)
        return closed

    def close(self) -> None:
        pass


def default_home() -> Path:
    """``$CANOPY_HOME`` or ``~/.cache/canopy`` (not created here: entrypoints create it)."""
    return Path(os.environ.get("CANOPY_HOME") or Path.home() / ".cache" / "canopy")


def _may_write(db: Path) -> bool:
    """What the file modes say (root ignores them; SQLite's own refusal is the other check)."""
    folder_ok = os.access(db.parent, os.W_OK)
    if not db.exists():
        return folder_ok
    return os.access(db, os.W_OK) and (folder_ok or Path(f"{db}-wal").exists())


def _in_memory(notice: str) -> MemoryStore:
    log.warning("%s", notice)
    return MemoryStore(notice=notice)


def _moved_aside(db: Path) -> Path:
    """Rename ``db`` (and its ``-wal``/``-shm``/``-journal``) to ``<name>.corrupt-<timestamp>``."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = db.with_name(f"{db.name}.corrupt-{stamp}")
    n = 1
    while aside.exists():
        aside, n = db.with_name(f"{db.name}.corrupt-{stamp}-{n}"), n + 1
    os.replace(db, aside)
    for suffix in ("-wal", "-shm", "-journal"):
        side = Path(f"{db}{suffix}")
        if side.exists():
            os.replace(side, Path(f"{aside}{suffix}"))
    return aside


def _replace_corrupt(db: Path, why: StoreError) -> SQLiteStore | MemoryStore:
    try:
        aside = _moved_aside(db)
    except OSError as exc:
        return _in_memory(
            f"The history file {db} cannot be read ({why}) and cannot be moved aside ({exc.strerror}). "
            "This session's runs are kept in memory only and are lost when Canopy stops."
        )
    try:
        store = SQLiteStore(db)
    except StoreError as exc:
        return _in_memory(
            f"The history file {db} could not be read and was moved to {aside}; a new one cannot be "
            f"created ({exc}). This session's runs are kept in memory only."
        )
    store.notice = (
        f"The history file {db} could not be read ({why}). It was moved to {aside} and a new, "
        "empty history was started."
    )
    log.warning("%s", store.notice)
    return store


def _read_only_store(db: Path, why: str) -> SQLiteStore | MemoryStore:
    try:
        store = SQLiteStore(db, read_only=True)
    except HistoryCorrupt as exc:
        return _replace_corrupt(db, exc)
    except StoreError as exc:
        return _in_memory(
            f"The history file {db} cannot be opened ({exc}). This session's runs are kept in memory "
            "only and are lost when Canopy stops."
        )
    store.notice = (
        f"The history file {db} is read-only ({why}): past runs can be listed, opened and exported, "
        "but new runs, imports and deletions are not saved."
    )
    log.warning("%s", store.notice)
    return store


def open_store(path: str | Path | None = None, *, read_only: bool | None = None) -> SQLiteStore | MemoryStore:
    """Open the history at ``path`` (default ``default_home()/canopy.sqlite``), creating its folder.

    It does not fail on the file itself; ``store.notice`` (None when all is well) says what
    happened and ``store.read_only`` whether writes are refused:

    - a file or folder that cannot be written (or ``read_only=True``): opened read-only;
    - not SQLite or a damaged database: moved to ``<name>.corrupt-<timestamp>`` and a new,
      empty history started;
    - an SQLite file that is not a Canopy history, or nothing usable at all: a MemoryStore
      (runs are kept for this session only); the file is left as it is.
    """
    db = Path(path) if path is not None else default_home() / DB_NAME
    try:
        db.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return _in_memory(
            f"The history folder {db.parent} cannot be created ({exc.strerror}). This session's runs "
            "are kept in memory only and are lost when Canopy stops."
        )
    if read_only:
        return _read_only_store(db, "opened read-only on request")
    if read_only is None and not _may_write(db):
        return _read_only_store(db, "the file or its folder is write-protected")
    try:
        return SQLiteStore(db)
    except HistoryReadOnly as exc:
        return _read_only_store(db, str(exc))
    except HistoryCorrupt as exc:
        return _replace_corrupt(db, exc)
    except StoreError as exc:  # not a Canopy history, or locked: leave the file alone
        return _in_memory(
            f"{exc}. This session's runs are kept in memory only and are lost when Canopy stops."
        )
