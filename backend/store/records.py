"""The summary row of a run and the store interface, and the projection that keeps the
row in step with the events (both stores and bulk import share it, so they cannot disagree)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from backend import events as ev


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


def _interrupted(last: ev.Event | None) -> ev.RunFinished:
    seq, t = (last.seq + 1, last.t) if last is not None else (0, 0.0)
    error = "the process running this search stopped before it finished"
    return ev.RunFinished(seq=seq, t=t, status="interrupted", error=error)
