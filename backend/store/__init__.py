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

Layout (one job per module; import from ``backend.store``, which re-exports the public names):

- ``errors``: StoreError and its kinds (DuplicateEvent, RunBusy, HistoryReadOnly, ...);
- ``records``: RunRecord, the ``Store`` interface, the summary-row projection;
- ``checks``: run id, event and whole-run checks done before any write;
- ``liveness``: process owners and leases: is a run's writer still alive;
- ``schema``: the SQLite tables, migration, and opening the file (writable or read-only);
- ``sqlite`` / ``memory``: the two stores;
- ``opening``: ``open_store``, which turns any state of the file into a usable store.
"""

from backend.store.checks import check_run_id
from backend.store.errors import (
    DuplicateEvent,
    HistoryCorrupt,
    HistoryForeign,
    HistoryReadOnly,
    RunBusy,
    StoreError,
)
from backend.store.liveness import owner_alive, process_owner
from backend.store.memory import MemoryStore
from backend.store.opening import DB_NAME, default_home, open_store
from backend.store.records import RunRecord, Store
from backend.store.sqlite import LEASE_S, SQLiteStore

__all__ = [
    "DB_NAME",
    "LEASE_S",
    "DuplicateEvent",
    "HistoryCorrupt",
    "HistoryForeign",
    "HistoryReadOnly",
    "MemoryStore",
    "RunBusy",
    "RunRecord",
    "SQLiteStore",
    "Store",
    "StoreError",
    "check_run_id",
    "default_home",
    "open_store",
    "owner_alive",
    "process_owner",
]
