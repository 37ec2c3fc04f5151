"""Events: every change to a search tree, as typed, frozen records.

A run is a stream of events. The algorithm emits them; ``Tree.apply`` folds them;
the UI, the store, the exporter and replay all read the same stream, so live view,
replay and import are one code path (docs/FORMAT.md has the schema).

JSON goes through a closed ``type -> class`` table: no pickle, no import by name.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import threading
import time
import types
import typing
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Annotated, Any, ClassVar, TypeVar

SCHEMA_VERSION = 1
FORMAT_NAME = "canopy-events"


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """The closed list of words a ``str`` field may hold, attached to its annotation
    (``Annotated[str, Vocabulary(...)]``): one list serves the check when an event is
    created and the check when a file is read, and the JSON stays a plain string."""

    #: what one word names, for messages ("unknown node kind 'leaf'")
    label: str
    words: frozenset[str]


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
NOTE_LEVELS = frozenset({"info", "warning", "error"})

NodeKind = Annotated[str, Vocabulary("node kind", NODE_KINDS)]
VerifyStatus = Annotated[str, Vocabulary("status", VERIFY_STATUSES)]
FinishStatus = Annotated[str, Vocabulary("status", FINISH_STATUSES)]
ActionName = Annotated[str, Vocabulary("action", USER_ACTIONS)]
NoteLevel = Annotated[str, Vocabulary("level", NOTE_LEVELS)]


E = TypeVar("E", bound="Event")


class EventError(ValueError):
    """A malformed, unknown or out-of-order event; the message says which and why.

    ``line`` (of a file), ``event_type`` and ``field`` say where, when known, so a caller
    can add the file name without parsing the message.
    """

    def __init__(
        self,
        message: str,
        *,
        line: int | None = None,
        event_type: str | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message if line is None else f"line {line}: {message}")
        self.reason, self.line, self.event_type, self.field = message, line, event_type, field

    def at_line(self, line: int) -> EventError:
        """The same error, said of line ``line`` of a file."""
        return type(self)(self.reason, line=line, event_type=self.event_type, field=self.field)


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base of all events: ``seq`` is 0, 1, 2, ... per run; ``t`` is seconds since start."""

    type: ClassVar[str] = "event"
    seq: int
    t: float = 0.0

    def __post_init__(self) -> None:
        """Check the closed vocabularies (kinds, statuses, ...) as the event is made, so an
        unknown word fails where it is written, not when a tree is folded later."""
        for name, check in _CREATION_CHECKS.get(self.type, ()):
            _check_field(self.type, name, check, getattr(self, name))

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
    #: the run's ``RunSpec`` (``backend/runspec.py``) as its ``to_dict()``: everything needed
    #: to run it again. None in runs stored before it existed. The known answer is in it
    #: only for a ``truth`` run (the one run whose search reads it).
    spec: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeAdded(Event):
    type: ClassVar[str] = "node_added"
    id: int
    parent: int | None
    kind: NodeKind
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
    status: VerifyStatus
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
    action: ActionName
    node: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class UserStep(Event):
    """A step a person typed under node ``node`` (steering): the search adds it as a child
    (its own ``node_added``, meta ``author: "user"``), runs and verifies it like a generated
    step. Recorded before the node it makes, so a replay of the run's user actions adds it
    again at the same point (``backend/steering.py``)."""

    type: ClassVar[str] = "user_step"
    node: int
    text: str
    code: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Note(Event):
    """Something a user should know that is not a tree change (a fallback, a warning)."""

    type: ClassVar[str] = "note"
    level: NoteLevel
    message: str
    node: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RunFinished(Event):
    type: ClassVar[str] = "run_finished"
    status: FinishStatus
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
        UserStep,
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


# --- validation: every field of every event type, derived from the annotations ---------
#
# One table, built once from the dataclasses above: each field's annotation (str, int,
# float, bool, ``X | None``, ``list[X]``, ``dict[str, X]``, ``Any``) becomes a checker, and
# ``_RULES`` adds what an annotation cannot say (ranges, closed vocabularies, id formats).
# Reading a file, importing it and appending to a store all go through ``check_fields``,
# so a value that would later break the tree, the store or a viewer is refused up front.

#: the limits a file or a store holds events to (docs/FORMAT.md lists them)
MAX_STR_CHARS = 1 << 20  # one string: a node's text, a verifier's output (1 Mi characters)
MAX_DEPTH = 32  # objects and lists nested in one event, the event object being level 1
MAX_INT = 2**53  # every JSON reader holds integers up to here exactly
MAX_PAYLOAD_INT = 2**63  # integers in a payload or a float field: any reader can make a float of them
MAX_LINE_BYTES = 16 << 20  # one line of a file
MAX_FILE_BYTES = 512 << 20  # one file
MAX_EVENTS = 1_000_000  # events in one file
RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
RUN_ID_RULE = "1 to 64 characters from A-Z a-z 0-9 _ -"


def valid_run_id(value: Any) -> bool:
    """A run id is safe in a file name, a URL and a log line: ``RUN_ID_PATTERN`` only."""
    return isinstance(value, str) and RUN_ID_PATTERN.fullmatch(value) is not None


class EventFormatError(EventError):
    """A field of the wrong type, range or form: ``event_type`` and ``field`` name it."""


class _Bad(Exception):
    """Raised by a checker: what was expected and what came, ``where`` inside the field."""

    def __init__(self, expected: str, value: Any, where: str = "", got: str | None = None) -> None:
        super().__init__(expected)
        self.expected, self.value, self.where = expected, value, where
        #: what came, when a checker says it better than ``_got`` ("an unknown status 'won'")
        self.got = got

    def inside(self, step: str) -> _Bad:
        self.where = step + self.where
        return self


_Check = Callable[[Any, int], None]  # (value, nesting depth of the value) -> None or raise _Bad


def _got(value: Any) -> str:
    """A short, JSON-flavoured description of a value for an error message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, int):
        return str(value) if abs(value) < 10**30 else f"an integer of {value.bit_length()} bits"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        short = value if len(value) <= 40 else value[:40] + "…"
        return f"a string {short!r}" + (f" of {len(value):,} characters" if len(value) > 40 else "")
    if isinstance(value, list | tuple):
        return f"a list of {len(value)}"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _string_ok(value: str) -> bool:
    """Storable text: within the length cap and encodable as UTF-8 (no lone surrogates)."""
    if len(value) > MAX_STR_CHARS:
        return False
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_STR = f"a string of at most {MAX_STR_CHARS:,} characters (UTF-8, no lone surrogates)"


def _json_value(value: Any, depth: int) -> None:
    """Any JSON value, as free-form payloads (``config``, ``meta``, ``detail``) hold."""
    if value is None or type(value) is bool:
        return
    if type(value) is int:
        if abs(value) > MAX_PAYLOAD_INT:
            raise _Bad("an integer within ±2^63", value)
        return
    if type(value) is float:
        if not math.isfinite(value):
            raise _Bad("a finite number (JSON has no NaN or Infinity)", value)
        return
    if type(value) is str:
        if not _string_ok(value):
            raise _Bad(_STR, value)
        return
    if type(value) in (list, tuple, dict):
        if depth > MAX_DEPTH:
            raise _Bad(f"nested at most {MAX_DEPTH} levels deep", value)
        if type(value) is dict:
            _object_of(_json_value)(value, depth)
            return
        for i, item in enumerate(value):
            try:
                _json_value(item, depth + 1)
            except _Bad as bad:
                raise bad.inside(f"[{i}]") from None
        return
    raise _Bad("a JSON value (null, true/false, a number, a string, a list or an object)", value)


def _object_of(item: _Check) -> _Check:
    def check(value: Any, depth: int) -> None:
        if type(value) is not dict:
            raise _Bad("an object", value)
        if depth > MAX_DEPTH:
            raise _Bad(f"nested at most {MAX_DEPTH} levels deep", value)
        for key, sub in value.items():
            if type(key) is not str or not _string_ok(key):
                raise _Bad(f"an object whose keys are strings (at most {MAX_STR_CHARS:,} characters)", key)
            try:
                item(sub, depth + 1)
            except _Bad as bad:
                raise bad.inside(f"[{key[:40]!r}]") from None

    return check


def _list_of(item: _Check) -> _Check:
    def check(value: Any, depth: int) -> None:
        if type(value) not in (list, tuple):
            raise _Bad("a list", value)
        if depth > MAX_DEPTH:
            raise _Bad(f"nested at most {MAX_DEPTH} levels deep", value)
        for i, sub in enumerate(value):
            try:
                item(sub, depth + 1)
            except _Bad as bad:
                raise bad.inside(f"[{i}]") from None

    return check


def _nullable(inner: _Check) -> _Check:
    def check(value: Any, depth: int) -> None:
        if value is not None:
            try:
                inner(value, depth)
            except _Bad as bad:
                if not bad.where:  # the value itself is wrong: say that null was fine too
                    bad.expected = f"{bad.expected} or null"
                raise

    return check


def _count(value: Any, depth: int) -> None:
    """Every integer in the schema is an id, a seq, an iteration or a count."""
    if type(value) is not int or value < 0:
        raise _Bad("a non-negative integer", value)
    if value > MAX_INT:
        raise _Bad("an integer of at most 2^53", value)


def _number(low: float | None) -> _Check:
    expected = "a finite number" + ("" if low is None else f" >= {low:g}")

    def check(value: Any, depth: int) -> None:
        if type(value) is float:
            ok = math.isfinite(value)
        else:  # an integer is a number too, if a float can hold it (10**400 cannot)
            ok = type(value) is int and abs(value) <= MAX_PAYLOAD_INT
        if not ok or (low is not None and value < low):
            raise _Bad(expected, value)

    return check


def _boolean(value: Any, depth: int) -> None:
    if type(value) is not bool:
        raise _Bad("true or false", value)


def _string(value: Any, depth: int) -> None:
    if type(value) is not str or not _string_ok(value):
        raise _Bad(_STR, value)


def _one_of(vocabulary: Vocabulary) -> _Check:
    words = vocabulary.words
    expected = "one of " + ", ".join(repr(n) for n in sorted(words))

    def check(value: Any, depth: int) -> None:
        if type(value) is not str:
            raise _Bad(expected, value)
        if value not in words:
            shown = value if len(value) <= 40 else value[:40] + "…"
            raise _Bad(expected, value, got=f"an unknown {vocabulary.label} {shown!r}")

    return check


def _run_id(value: Any, depth: int) -> None:
    if not valid_run_id(value):
        raise _Bad(f"a run id: {RUN_ID_RULE}", value)


def _updated_row(value: Any, depth: int) -> None:
    """One ``[id, N, Q]`` row of ``backprop.updated``."""
    if type(value) not in (list, tuple) or len(value) != 3:
        raise _Bad("a row [node id, N, Q]", value)
    for i, check in enumerate((_count, _count, _number(None))):
        try:
            check(value[i], depth + 1)
        except _Bad as bad:
            raise bad.inside(f"[{i}]") from None


def _run_spec(value: Any, depth: int) -> None:
    """A JSON object that ``RunSpec.from_dict`` reads: a stored run can always be run again."""
    _object_of(_json_value)(value, depth)
    from backend.runspec import RunSpec  # lazily: runspec builds searches, which emit events

    try:
        RunSpec.from_dict(value)
    except ValueError as exc:
        raise _Bad(f"a run spec ({exc})", value) from None


# What an annotation cannot say, by "type.field" (one event type) or "field" (all types);
# closed word lists are said by the annotation itself (``Vocabulary``).
_RULES: dict[str, _Check] = {
    "t": _number(0.0),
    "ms": _number(0.0),
    "gen_ms": _number(0.0),
    "run_started.run_id": _run_id,
    "run_started.spec": _run_spec,
    "backprop.updated": _list_of(_updated_row),
}


def _checker(hint: Any) -> _Check:
    """The checker of one annotation; an annotation it does not know is a bug here, not in data."""
    if hint is Any:
        return _json_value
    vocabulary = _vocabulary(hint)
    if vocabulary is not None:
        return _one_of(vocabulary)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        if len(inner) != 1 or len(args) != 2:
            raise TypeError(f"unsupported annotation {hint!r}")
        return _nullable(_checker(inner[0]))
    if origin is list:
        return _list_of(_checker(args[0]))
    if origin is dict and args[0] is str:
        return _object_of(_checker(args[1]))
    simple = {int: _count, float: _number(None), bool: _boolean, str: _string}
    if hint in simple:
        return simple[hint]
    raise TypeError(f"unsupported annotation {hint!r}")


def _vocabulary(hint: Any) -> Vocabulary | None:
    """The closed word list of an ``Annotated[str, Vocabulary(...)]`` annotation, else None."""
    if typing.get_origin(hint) is not Annotated:
        return None
    return next((m for m in hint.__metadata__ if isinstance(m, Vocabulary)), None)


def _field_checker(cls: type[Event], f: dataclasses.Field, hint: Any) -> _Check:
    rule = _RULES.get(f"{cls.type}.{f.name}") or _RULES.get(f.name)
    if rule is None:
        return _checker(hint)
    nullable = typing.get_origin(hint) in (typing.Union, types.UnionType)
    return _nullable(rule) if nullable else rule


_CHECKS: dict[str, tuple[tuple[str, _Check], ...]] = {}
#: the checks every event gets when it is created: its closed vocabularies (cheap set lookups;
#: the full ``_CHECKS`` run where data comes from outside: files, imports, a store's append)
_CREATION_CHECKS: dict[str, tuple[tuple[str, _Check], ...]] = {}
for _cls in EVENT_TYPES.values():
    _hints = typing.get_type_hints(_cls, include_extras=True)
    _CHECKS[_cls.type] = tuple(
        (f.name, _field_checker(_cls, f, _hints[f.name])) for f in dataclasses.fields(_cls)
    )
    _CREATION_CHECKS[_cls.type] = tuple(
        (name, check) for name, check in _CHECKS[_cls.type] if _vocabulary(_hints[name]) is not None
    )


def _where(name: str, bad: _Bad) -> str:
    where = name + bad.where
    return where if len(where) <= 80 else where[:80] + "…"


def check_fields(kind: str, values: dict[str, Any]) -> None:
    """Check every field present in ``values`` against event type ``kind``'s schema.

    Raises EventFormatError naming the event type, the field (with the index or key
    inside it), what was expected and what came instead.
    """
    for name, check in _CHECKS[kind]:
        if name in values:
            _check_field(kind, name, check, values[name])


def _check_field(kind: str, name: str, check: _Check, value: Any) -> None:
    """One field's check, a failure said as ``kind: field must be ..., got ...``."""
    try:
        check(value, 2)
    except _Bad as bad:
        where = _where(name, bad)
        raise EventFormatError(
            f"{kind}: {where} must be {bad.expected}, got {bad.got or _got(bad.value)}",
            event_type=kind,
            field=name,
        ) from None


def validate_event(event: Event) -> None:
    """Check an event built in code (a store's append) as a file's would be checked."""
    check_fields(event.type, {f.name: getattr(event, f.name) for f in dataclasses.fields(event)})


class RunCheck:
    """The rules that tie one run's events together, checked event by event so that a
    reader can name the line: seq 0, 1, 2, ... with no gap; ``run_started`` first and
    once; one root; every node an event names was added before it."""

    def __init__(self) -> None:
        self.next_seq = 0
        self.nodes: set[int] = set()
        self.has_root = False

    def check(self, e: Event) -> None:
        if e.seq != self.next_seq:
            self._fail(
                e,
                "seq",
                f"must be {self.next_seq}, got {e.seq}: the events do not form a valid run (their seq "
                "must go 0, 1, 2, ... with none missing or out of order)",
            )
        if (e.seq == 0) != isinstance(e, RunStarted):
            why = "a second run_started: one run per file" if e.seq else "the first event must be run_started"
            self._fail(e, "type", f"{why}, got {e.type}")
        if isinstance(e, NodeAdded):
            self._added(e)
        else:
            for name, ids in _node_refs(e):
                for node_id in ids:
                    self._known(e, name, node_id)
        self.next_seq += 1

    def _added(self, e: NodeAdded) -> None:
        if e.id in self.nodes:
            self._fail(e, "id", f"must be a new node id, got {e.id} (node {e.id} already exists)")
        if e.parent is None:
            if self.has_root:
                self._fail(
                    e,
                    "parent",
                    "must be the id of an existing node, got null (a second root; a tree has one)",
                )
            self.has_root = True
        else:
            self._known(e, "parent", e.parent)
        self.nodes.add(e.id)

    def _known(self, e: Event, name: str, node_id: int) -> None:
        if node_id not in self.nodes:
            self._fail(
                e, name, f"must name a node added earlier, got {node_id} (node {node_id} does not exist)"
            )

    @staticmethod
    def _fail(e: Event, name: str, message: str) -> None:
        raise EventFormatError(f"{e.type}: {name} {message}", event_type=e.type, field=name)


def _node_refs(e: Event) -> list[tuple[str, Iterable[int]]]:
    """(field, node ids) of the nodes an event (other than node_added) refers to."""
    if isinstance(e, NodeVerified | NodeScored):
        return [("id", (e.id,))]
    if isinstance(e, NodeSelected):
        return [("path", e.path)]
    if isinstance(e, Backprop):
        return [("path", e.path), ("updated", [row[0] for row in e.updated])]
    if isinstance(e, UserAction | UserStep | Note):
        return [] if e.node is None else [("node", (e.node,))]
    if isinstance(e, RunFinished):
        return [("best_path", e.best_path)]
    return []


def event_from_dict(data: Any) -> Event:
    """Build an event from its JSON object, or raise EventError saying what is wrong."""
    if not isinstance(data, dict):
        raise EventError(f"an event must be a JSON object, got {type(data).__name__}")
    kind = data.get("type")
    cls = EVENT_TYPES.get(kind) if type(kind) is str else None
    if cls is None:
        shown = repr(kind[:40]) if type(kind) is str else _got(kind)
        raise EventError(f"unknown event type {shown}; known: {', '.join(sorted(EVENT_TYPES))}", field="type")
    allowed, required = _SCHEMA[kind]
    if not allowed.issuperset(data):
        unknown = sorted(str(k)[:40] for k in set(data) - allowed)
        raise EventFormatError(f"{kind}: unknown field(s) {', '.join(unknown[:5])}", event_type=kind)
    missing = [n for n in required if n not in data]
    if missing:
        raise EventFormatError(
            f"{kind}: missing field(s) {', '.join(missing)}", event_type=kind, field=missing[0]
        )
    check_fields(kind, data)
    kwargs = dict(data)
    del kwargs["type"]
    return cls(**kwargs)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object that names no key twice (``{"seq": 0, "seq": 9}`` is refused, not guessed at)."""
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        twice = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise EventFormatError(f"the key {twice[:40]!r} appears twice in one object", field=twice[:40])
    return out


def _loads(text: str) -> Any:
    """Strict JSON for files: no repeated keys; nesting too deep to follow is a clear error."""
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        raise EventError(f"not JSON: {exc.msg} at column {exc.colno}") from None
    except RecursionError:
        raise EventError(f"not JSON this reader accepts: nested far deeper than {MAX_DEPTH} levels") from None
    except EventFormatError:
        raise
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise EventError(f"not JSON this reader accepts: {exc}") from None


def event_from_json(line: str) -> Event:
    return event_from_dict(_loads(line))


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


def _lines(src: IO[str] | IO[bytes]) -> Iterator[tuple[int, str, bool]]:
    """(line number, text, whether it ended with a newline), refusing an over-long line,
    a file over ``MAX_FILE_BYTES`` and bytes that are not UTF-8 before they are parsed."""
    lineno, total = 0, 0
    while True:
        raw = src.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        lineno += 1
        total += len(raw)
        if len(raw) > MAX_LINE_BYTES:
            raise EventError(f"the line is longer than the {MAX_LINE_BYTES >> 20} MiB limit", line=lineno)
        if total > MAX_FILE_BYTES:
            raise EventError(f"the file is larger than the {MAX_FILE_BYTES >> 20} MiB limit", line=lineno)
        if isinstance(raw, bytes):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise EventError(
                    f"not a text file: not UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})",
                    line=lineno,
                ) from None
        else:
            text = raw
        yield lineno, text, text.endswith("\n")


def check_header(header: Any) -> dict[str, Any]:
    """The header line's object, checked: our format, a version we read, JSON-safe extras."""
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise EventFormatError(
            f'not a Canopy events file (the first line must be a header with "format": "{FORMAT_NAME}")',
            event_type="header",
            field="format",
        )
    version = header.get("version")
    if type(version) is not int or version < 1:
        raise EventFormatError(
            f"header: version must be a positive integer, got {_got(version)}",
            event_type="header",
            field="version",
        )
    if version > SCHEMA_VERSION:
        raise EventFormatError(
            f"events format version {version} is newer than this Canopy understands ({SCHEMA_VERSION}); "
            "upgrade Canopy",
            event_type="header",
            field="version",
        )
    for key, value in header.items():
        try:
            _json_value(value, 2)
        except _Bad as bad:
            where = _where(key[:40], bad)
            raise EventFormatError(
                f"header: {where} must be {bad.expected}, got {_got(bad.value)}",
                event_type="header",
                field=key,
            ) from None
    return header


def _parse_line(text: str, is_header: bool, last: bool) -> Any:
    try:
        data = _loads(text)
        return check_header(data) if is_header else event_from_dict(data)
    except EventError as exc:
        if is_header and not isinstance(exc, EventFormatError):
            raise EventError(f"not a Canopy events file ({exc.reason})") from None
        if last and exc.reason.startswith("not JSON"):
            raise EventError(f"{exc.reason} (the last line is cut short: was the file truncated?)") from None
        raise


def read_jsonl(src: IO[str] | IO[bytes] | Path | str) -> tuple[dict[str, Any], list[Event]]:
    """Read and check a Canopy events file (one run); errors name the line and the problem.

    Every event is checked field by field (``check_fields``) and against the run so far
    (``RunCheck``); the caps (``MAX_*``) bound what one file can cost to read.
    """
    if isinstance(src, str | Path):
        with open(src, "rb") as fh:
            return read_jsonl(fh)
    header: dict[str, Any] | None = None
    events: list[Event] = []
    run = RunCheck()
    for lineno, text, ended in _lines(src):
        if not text.strip():
            continue
        try:
            item = _parse_line(text, header is None, not ended)
            if header is None:
                header = item
                continue
            if len(events) >= MAX_EVENTS:
                raise EventError(f"more than {MAX_EVENTS:,} events: over the limit for one file")
            run.check(item)
        except EventError as exc:
            raise exc.at_line(lineno) from None
        events.append(item)
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
