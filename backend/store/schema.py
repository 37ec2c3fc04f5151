"""The SQLite file itself: tables, migration, and opening it for writing or read-only,
with every failure at open classified (corrupt, read-only, not a Canopy history) so
``open_store`` can choose what to do."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from backend.store.errors import HistoryCorrupt, HistoryForeign, HistoryReadOnly, StoreError
from backend.store.records import RunRecord

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
