"""Export a stored run as Canopy's JSON Lines (a header, then its events) and import it back.

The file format is ``backend/events.py``'s (docs/FORMAT.md): the first line is a header
``{"format": "canopy-events", "version": 1, "canopy": "<version>", ...}``, then one event
per line. Import checks everything before it writes anything: the header, every line,
every field of every event against its type (``backend/events.py``), and that the events
fold into a valid tree (seq order, parents that exist, one run); then it writes the run in
one transaction. A malformed or foreign file raises ``RunImportError`` (``ImportFormatError``
for content) whose one-line message names the file, the line, the field and the problem;
nothing is half-imported.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from pathlib import Path
from typing import Any

from backend import events as ev
from backend.store import StoreError
from backend.tree import Tree

MAX_IMPORT_BYTES = ev.MAX_FILE_BYTES


class RunImportError(ValueError):
    """A file that cannot be imported; the message says which file, where and why."""


class ImportFormatError(RunImportError):
    """A file whose content breaks the format: one line naming the file, the line, the event
    type and the field, what was expected and what came (``line``, ``event_type`` and
    ``field`` carry the same for a caller)."""

    def __init__(self, name: str, error: ev.EventError) -> None:
        super().__init__(f"{name}: {error}")
        self.line, self.event_type, self.field = error.line, error.event_type, error.field


def export_run(store: Any, run_id: str, path: str | Path) -> int:
    """Write run ``run_id`` to ``path``; returns the number of events written.

    The id is checked before any file is opened: a caller that builds ``path`` from it
    (``canopy export RUN`` writes ``RUN.jsonl``) cannot be steered outside its folder.
    """
    if not ev.valid_run_id(run_id):
        raise ValueError(f"{str(run_id)[:80]!r} is not a run id ({ev.RUN_ID_RULE})")
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


def _check_file(p: Path) -> None:
    """A regular file of a size worth reading (not a folder, a pipe or a device)."""
    if not p.exists():
        raise RunImportError(f"{p}: no such file")
    if not p.is_file():
        raise RunImportError(f"{p}: not a regular file")
    size = p.stat().st_size
    if size == 0:
        raise RunImportError(f"{p.name}: the file is empty")
    if size > MAX_IMPORT_BYTES:
        raise RunImportError(
            f"{p.name}: {size / 2**20:.0f} MiB is more than the {MAX_IMPORT_BYTES >> 20} MiB limit"
        )


def read_run_file(path: str | Path) -> tuple[dict[str, Any], list[ev.Event], Tree]:
    """Parse and validate a run file without touching any store.

    ``ev.read_jsonl`` checks every field of every event and the run's shape line by
    line; folding the tree is a second, independent check of the same rules.
    """
    p = Path(path)
    _check_file(p)
    try:
        header, events = ev.read_jsonl(p)
    except ev.EventError as exc:
        raise ImportFormatError(p.name, exc) from None
    if not events:
        raise RunImportError(f"{p.name}: the file has a header but no events")
    try:
        tree = Tree.from_events(events)
    except ev.EventError as exc:
        raise RunImportError(f"{p.name}: the events do not form a valid run: {exc}") from None
    return header, events, tree


def _closed(events: list[ev.Event], tree: Tree) -> list[ev.Event]:
    """A run exported while still going gets a ``run_finished(interrupted)`` so it does not look live."""
    if tree.finished is not None:
        return events
    last = events[-1]
    error = "imported from a file written before the run finished"
    return [*events, ev.RunFinished(seq=last.seq + 1, t=last.t, status="interrupted", error=error)]


def import_run(store: Any, path: str | Path, *, keep_id: bool = False) -> str:
    """Validate ``path`` and store its run; returns the run id it was stored under.

    The whole file is checked first, then the run and all its events are written in one
    transaction (``store.import_events``): a failed import leaves nothing behind. A run
    id already in the history gets a fresh id (so importing twice gives two runs);
    ``keep_id`` refuses instead. A run id outside ``ev.RUN_ID_PATTERN`` is refused with
    the line that holds it. A run exported while still going has no ``run_finished``: it
    is closed as ``interrupted``.
    """
    name = Path(path).name
    _, events, tree = read_run_file(path)
    started = events[0]
    assert isinstance(started, ev.RunStarted)  # read_jsonl checked it is first
    run_id = started.run_id
    if store.get(run_id) is not None:
        if keep_id:
            raise RunImportError(f"{name}: run {run_id} is already in the history")
        run_id = uuid.uuid4().hex[:12]
        events = [dataclasses.replace(started, run_id=run_id), *events[1:]]
    try:
        store.import_events(run_id, _closed(events, tree))
    except StoreError as exc:
        raise RunImportError(f"{name}: not imported: {exc}") from None
    return run_id
