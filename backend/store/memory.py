"""``MemoryStore``: the same interface and contract as ``SQLiteStore``, held in dicts."""

from __future__ import annotations

import bisect
import dataclasses
import json
import threading
from collections.abc import Iterable, Sequence

from backend import events as ev
from backend.store.checks import _check_event, _check_import
from backend.store.errors import DuplicateEvent
from backend.store.liveness import owner_alive, process_owner
from backend.store.records import RunRecord, _interrupted, _projected, _record_from_started


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
