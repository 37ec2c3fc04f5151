"""Export a stored run as Canopy's JSON Lines (a header, then its events) and import it back.

The file format is ``backend/events.py``'s (docs/FORMAT.md): the first line is a header
``{"format": "canopy-events", "version": 1, "canopy": "<version>", ...}``, then one event
per line. Import checks everything before it writes anything: the header, every line,
every event's fields, and that the events fold into a valid tree (seq order, parents that
exist, one run). A malformed or foreign file raises ``RunImportError`` whose message names
the file, the line and the problem; nothing is half-imported.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from pathlib import Path
from typing import Any

from backend import events as ev
from backend.tree import Tree

MAX_IMPORT_BYTES = 512 * 1024 * 1024


class RunImportError(ValueError):
    """A file that cannot be imported; the message says which file, where and why."""


def export_run(store: Any, run_id: str, path: str | Path) -> int:
    """Write run ``run_id`` to ``path``; returns the number of events written."""
    record = store.get(run_id)
    if record is None:
        raise ValueError(f"no run with id {run_id!r} in the history")
    events = store.read(run_id)
    header: dict[str, Any] = {
        "run_id": run_id,
        "exported": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "algorithm": record.algorithm,
        "model": record.model,
        "status": record.status,
    }
    return ev.write_jsonl(events, path, **header)


def read_run_file(path: str | Path) -> tuple[dict[str, Any], list[ev.Event], Tree]:
    """Parse and validate a run file without touching any store."""
    p = Path(path)
    if not p.is_file():
        raise RunImportError(f"{p}: no such file")
    size = p.stat().st_size
    if size == 0:
        raise RunImportError(f"{p.name}: the file is empty")
    if size > MAX_IMPORT_BYTES:
        raise RunImportError(
            f"{p.name}: {size / 1e6:.0f} MB is more than the {MAX_IMPORT_BYTES / 1e6:.0f} MB limit"
        )
    try:
        header, events = ev.read_jsonl(p)
    except UnicodeDecodeError as exc:
        raise RunImportError(f"{p.name}: not a text file ({exc.reason} at byte {exc.start})") from exc
    except ev.EventError as exc:
        raise RunImportError(f"{p.name}: {exc}") from exc
    if not events:
        raise RunImportError(f"{p.name}: the file has a header but no events")
    try:
        tree = Tree.from_events(events)
    except ev.EventError as exc:
        raise RunImportError(f"{p.name}: the events do not form a valid run: {exc}") from exc
    return header, events, tree


def import_run(store: Any, path: str | Path, *, keep_id: bool = False) -> str:
    """Validate ``path`` and store its run; returns the run id it was stored under.

    A run id already in the history gets a fresh id (so importing twice gives two runs);
    ``keep_id`` refuses instead. A run exported while still going has no
    ``run_finished``: it is closed as ``interrupted`` so it does not look live here.
    """
    _, events, tree = read_run_file(path)
    started = events[0]
    assert isinstance(started, ev.RunStarted)  # Tree.from_events checked it is first
    run_id = started.run_id
    if store.get(run_id) is not None:
        if keep_id:
            raise RunImportError(f"{Path(path).name}: run {run_id} is already in the history")
        run_id = uuid.uuid4().hex[:12]
        events = [dataclasses.replace(started, run_id=run_id), *events[1:]]
    if tree.finished is None:
        last = events[-1]
        events.append(
            ev.RunFinished(
                seq=last.seq + 1,
                t=last.t,
                status="interrupted",
                error="imported from a file written before the run finished",
            )
        )
    for e in events:
        store.append(run_id, e)
    return run_id
