"""``SQLiteStore``: the durable history (WAL, one committed transaction per event) with
leases so several servers can share one file."""

from __future__ import annotations

import dataclasses
import json
import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from backend import events as ev
from backend.store.checks import _check_event, _check_import
from backend.store.errors import DuplicateEvent, HistoryReadOnly, RunBusy, StoreError
from backend.store.liveness import _is_dead, process_owner
from backend.store.records import RunRecord, _interrupted, _record_from_started, _wall_s
from backend.store.schema import _COLUMNS, _open_read_only, _open_writable, _row_to_record

#: seconds a writer's lease on its running runs lasts; the heartbeat renews it 4 times as often
LEASE_S = 60.0

log = logging.getLogger("backend.store")  # one logger name for the whole history (docs/CLI.md quotes it)


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
