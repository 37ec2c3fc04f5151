"""Checks every event and every imported run passes before it is written, so a bad run id,
event or order is a StoreError and never a half-written run."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from backend import events as ev
from backend.store.errors import DuplicateEvent, StoreError
from backend.store.records import RunRecord, _projected, _record_from_started


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
