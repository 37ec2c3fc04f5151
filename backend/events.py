"""Events: every change to a search tree, as typed, frozen records.

A run is a stream of events. The algorithm emits them; ``Tree.apply`` folds them;
the UI, the store, the exporter and replay all read the same stream, so live view,
replay and import are one code path (docs/FORMAT.md has the schema).

JSON goes through a closed ``type -> class`` table: no pickle, no import by name.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, ClassVar, TypeVar

SCHEMA_VERSION = 1
FORMAT_NAME = "canopy-events"

# Node kinds (root of a problem, a reasoning step, an abstract plan step, a final answer,
# an inequality goal, a tactic application).
NODE_KINDS = frozenset({"root", "step", "plan", "answer", "goal", "tactic"})

# Verification outcomes. ok/error/timeout: code ran; correct/incorrect: answer checked
# against a known answer; proved/refuted: inequality; equivalent/rejected: a rewrite;
# counterexample: a candidate goal with a counterexample; unknown: nothing definite.
VERIFY_STATUSES = frozenset(
    {
        "ok",
        "error",
        "timeout",
        "correct",
        "incorrect",
        "answered",
        "proved",
        "refuted",
        "counterexample",
        "equivalent",
        "rejected",
        "unknown",
    }
)

USER_ACTIONS = frozenset({"pause", "resume", "step", "stop", "prune", "expand", "force"})
FINISH_STATUSES = frozenset({"solved", "proved", "exhausted", "stopped", "error", "interrupted"})


E = TypeVar("E", bound="Event")


class EventError(ValueError):
    """A malformed, unknown or out-of-order event; the message says which and why."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base of all events: ``seq`` is 0, 1, 2, ... per run; ``t`` is seconds since start."""

    type: ClassVar[str] = "event"
    seq: int
    t: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        for f in dataclasses.fields(self):
            out[f.name] = getattr(self, f.name)
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True, slots=True, kw_only=True)
class RunStarted(Event):
    type: ClassVar[str] = "run_started"
    run_id: str
    algorithm: str
    problem: str
    config: dict[str, Any] = field(default_factory=dict)
    engine: dict[str, Any] = field(default_factory=dict)
    #: the reward in use ("vote", "ppm", "truth", ...): stated in every run so a viewer
    #: can tell a training-data run (ground truth drives the reward) from an evaluation.
    reward: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeAdded(Event):
    type: ClassVar[str] = "node_added"
    id: int
    parent: int | None
    kind: str
    text: str = ""
    code: str | None = None
    prior: float | None = None
    tokens: int = 0
    gen_ms: float = 0.0
    terminal: bool = False
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeVerified(Event):
    type: ClassVar[str] = "node_verified"
    id: int
    status: str
    method: str
    output: str = ""
    ms: float = 0.0
    #: the final answer this node states, when it is an answer node
    answer: str | None = None
    #: terminal after this check (e.g. too many consecutive code errors)
    terminal: bool | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeScored(Event):
    type: ClassVar[str] = "node_scored"
    id: int
    score: float
    source: str  # "ppm", "vote", "value_head", "symbolic", "llm_rank", ...
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeSelected(Event):
    """One selection descent; ``children`` explains each choice, for teaching.

    ``children`` holds, per step of ``path`` after the root, the scores of every
    sibling considered: ``[{"id", "n", "q", "prior", "q_term", "u_term", "score"}]``.
    """

    type: ClassVar[str] = "node_selected"
    iteration: int
    path: list[int]
    children: list[list[dict[str, Any]]] = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class Backprop(Event):
    """Reward backed up a path; ``updated`` is ``[[id, N, Q], ...]`` after the update."""

    type: ClassVar[str] = "backprop"
    iteration: int
    path: list[int]
    reward: float
    updated: list[list[float]]


@dataclass(frozen=True, slots=True, kw_only=True)
class IterationDone(Event):
    type: ClassVar[str] = "iteration_done"
    iteration: int
    best_answer: str | None = None
    votes: dict[str, float] = field(default_factory=dict)
    tokens: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class UserAction(Event):
    type: ClassVar[str] = "user_action"
    action: str
    node: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Note(Event):
    """Something a user should know that is not a tree change (a fallback, a warning)."""

    type: ClassVar[str] = "note"
    level: str  # "info" | "warning" | "error"
    message: str
    node: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RunFinished(Event):
    type: ClassVar[str] = "run_finished"
    status: str
    answer: str | None = None
    best_path: list[int] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    #: grading against a known answer, when one was given (never seen by the search
    #: unless the run's reward is "truth")
    reference: str | None = None
    correct: bool | None = None
    error: str | None = None


EVENT_TYPES: dict[str, type[Event]] = {
    cls.type: cls
    for cls in (
        RunStarted,
        NodeAdded,
        NodeVerified,
        NodeScored,
        NodeSelected,
        Backprop,
        IterationDone,
        UserAction,
        Note,
        RunFinished,
    )
}


def _required(f: dataclasses.Field) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


# Per type: (allowed field names incl. "type", required field names); computed once
# because decoding is on the replay and import hot path.
_SCHEMA: dict[str, tuple[frozenset[str], tuple[str, ...]]] = {
    name: (
        frozenset(f.name for f in dataclasses.fields(cls)) | {"type"},
        tuple(f.name for f in dataclasses.fields(cls) if _required(f)),
    )
    for name, cls in EVENT_TYPES.items()
}


def event_from_dict(data: Any) -> Event:
    """Build an event from its JSON object, or raise EventError saying what is wrong."""
    if not isinstance(data, dict):
        raise EventError(f"an event must be a JSON object, got {type(data).__name__}")
    kind = data.get("type")
    cls = EVENT_TYPES.get(kind)  # type: ignore[arg-type]
    if cls is None:
        raise EventError(f"unknown event type {kind!r}; known: {', '.join(sorted(EVENT_TYPES))}")
    allowed, required = _SCHEMA[kind]  # type: ignore[index]
    if not allowed.issuperset(data):
        raise EventError(f"{kind}: unknown field(s) {', '.join(sorted(set(data) - allowed))}")
    missing = [n for n in required if n not in data]
    if missing:
        raise EventError(f"{kind}: missing field(s) {', '.join(missing)}")
    seq = data["seq"]
    if type(seq) is not int or seq < 0:
        raise EventError(f"{kind}: seq must be a non-negative integer, got {seq!r}")
    kwargs = dict(data)
    del kwargs["type"]
    return cls(**kwargs)


def event_from_json(line: str) -> Event:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise EventError(f"not JSON: {exc.msg} at column {exc.colno}") from exc
    return event_from_dict(data)


# --- JSON Lines files: a header line, then one event per line --------------------------


def file_header(**extra: Any) -> dict[str, Any]:
    from backend import __version__

    return {"format": FORMAT_NAME, "version": SCHEMA_VERSION, "canopy": __version__, **extra}


def write_jsonl(events: Iterable[Event], out: IO[str] | Path | str, **header: Any) -> int:
    """Write a header and the events; returns the number of events written."""
    if isinstance(out, str | Path):
        with open(out, "w", encoding="utf-8") as fh:
            return write_jsonl(events, fh, **header)
    out.write(json.dumps(file_header(**header), ensure_ascii=False) + "\n")
    count = 0
    for ev in events:
        out.write(ev.to_json() + "\n")
        count += 1
    return count


def read_jsonl(src: IO[str] | Path | str) -> tuple[dict[str, Any], list[Event]]:
    """Read a Canopy events file; errors name the line and the problem."""
    if isinstance(src, str | Path):
        with open(src, encoding="utf-8") as fh:
            return read_jsonl(fh)
    header: dict[str, Any] | None = None
    events: list[Event] = []
    for lineno, line in enumerate(src, 1):
        if not line.strip():
            continue
        if header is None:
            try:
                header = json.loads(line)
            except json.JSONDecodeError as exc:
                raise EventError(f"line 1: not a Canopy events file ({exc.msg})") from exc
            if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
                raise EventError(
                    f"line {lineno}: not a Canopy events file (the first line must be a header "
                    f'with "format": "{FORMAT_NAME}")'
                )
            version = header.get("version")
            if not isinstance(version, int) or version > SCHEMA_VERSION:
                raise EventError(
                    f"line {lineno}: events format version {version!r} is newer than this Canopy "
                    f"understands ({SCHEMA_VERSION}); upgrade Canopy"
                )
            continue
        try:
            events.append(event_from_json(line))
        except EventError as exc:
            raise EventError(f"line {lineno}: {exc}") from exc
    if header is None:
        raise EventError("empty file: no header and no events")
    return header, events


def _copied(value: Any) -> Any:
    """A copy of a JSON-like value: new lists, dicts and tuples; scalars shared."""
    if isinstance(value, list):
        return [_copied(v) for v in value]
    if isinstance(value, dict):
        return {k: _copied(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(_copied(v) for v in value)
    return value


class EventLog:
    """Numbers events as a run emits them, keeps them, and tells subscribers.

    Thread-safe: the search emits from its worker thread while a UI reads. Emitting
    fills ``seq`` and ``t`` so an algorithm never counts by hand.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._t0 = clock()
        self._lock = threading.Condition()  # a lock that readers can also wait on
        self._events: list[Event] = []
        self._subscribers: list[Callable[[Event], None]] = []

    def emit(self, cls: type[E], **fields: Any) -> E:
        """Number, store and announce one event. List and dict payloads are copied (all
        the way down), so a caller that changes its own list after emitting (a search
        reusing its path buffer) cannot rewrite an event already logged, stored or drawn."""
        fields = {k: _copied(v) if isinstance(v, list | dict | tuple) else v for k, v in fields.items()}
        with self._lock:
            ev = cls(seq=len(self._events), t=round(self._clock() - self._t0, 6), **fields)
            self._events.append(ev)
            subscribers = list(self._subscribers)
            self._lock.notify_all()
        for fn in subscribers:
            fn(ev)
        return ev

    def subscribe(self, fn: Callable[[Event], None]) -> None:
        with self._lock:
            self._subscribers.append(fn)

    def after(self, seq: int = -1, limit: int | None = None) -> list[Event]:
        """Events with seq > ``seq`` (a reader's catch-up cursor)."""
        with self._lock:
            out = self._events[seq + 1 :]
        return out if limit is None else out[:limit]

    def wait_after(self, seq: int, timeout: float) -> bool:
        """Block until there is an event with seq > ``seq`` (True) or ``timeout`` passes
        (False): a live view wakes on the next event instead of polling for it."""
        with self._lock:
            return self._lock.wait_for(lambda: len(self._events) > seq + 1, timeout)

    @property
    def events(self) -> list[Event]:
        with self._lock:
            return list(self._events)

    def __len__(self) -> int:
        return len(self._events)
