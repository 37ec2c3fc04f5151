"""Hostile run files: each is refused with ONE clear line naming the line and the field, the
history is left exactly as it was, and the CLI prints ``error: ...`` and exits non-zero,
never a traceback.

The wrong-type cases are generated from the event dataclasses (``typing.get_type_hints``),
so a field added to ``backend/events.py`` is covered without touching this file.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import subprocess
import sys
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from backend import events as ev
from backend import export as export_mod
from backend.cli import main
from backend.export import ImportFormatError, RunImportError, export_run, import_run
from backend.store import SQLiteStore
from tests.factories import small_run

HEADER = '{"format": "canopy-events", "version": 1, "canopy": "test"}'
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _fresh_command_list(monkeypatch):
    """``backend.cli.main`` registers its commands again on every call, so the list (and
    each call's time) grows; hundreds of calls here each get the list as it was."""
    from backend.cli import app

    monkeypatch.setattr(app, "registered_commands", list(app.registered_commands))


def full_run() -> list[ev.Event]:
    """small_run plus one event of every type it lacks, so every event type has a line."""
    events = small_run()
    finished = events[-1]
    extra = [
        ev.UserAction(seq=0, action="prune", node=2),
        ev.UserStep(seq=0, node=1, text="my own step", code="x = 1"),
        ev.Note(seq=0, level="warning", message="a note", node=1),
    ]
    body = [*events[:-1], *extra, finished]
    return [dataclasses.replace(e, seq=i) for i, e in enumerate(body)]


def test_full_run_has_every_event_type():
    assert {e.type for e in full_run()} == set(ev.EVENT_TYPES)


def jsonl(dicts: list[dict[str, Any]]) -> str:
    return HEADER + "\n" + "".join(json.dumps(d) + "\n" for d in dicts)


@dataclasses.dataclass
class Case:
    """A hostile file: ``content()`` gives its bytes; the error must name ``line`` and
    contain every string in ``words`` (the event type and the field, where there is one)."""

    id: str
    content: Callable[[], bytes]
    line: int | None
    words: tuple[str, ...]


def _dicts() -> list[dict[str, Any]]:
    return [e.to_dict() for e in full_run()]


def _with(index: int, name: str, value: Any) -> Callable[[], bytes]:
    def content() -> bytes:
        dicts = _dicts()
        dicts[index][name] = value
        return jsonl(dicts).encode()

    return content


# --- wrong types, from the annotations --------------------------------------------------


def _bare(hint: Any) -> tuple[Any, bool]:
    """(the annotation without ``| None``, whether null is allowed)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        return next(a for a in args if a is not type(None)), True
    return hint, False


def _wrong_element(hint: Any) -> Any:
    """A value that is wrong for ``hint`` (used inside lists and objects)."""
    hint, _ = _bare(hint)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return float("nan")  # the one thing no JSON payload may hold
    if hint in (int, float):
        return "x"
    if hint is str:
        return 5
    if hint is bool:
        return 1
    if origin is list:
        return [_wrong_element(args[0])]
    if origin is dict:
        return {"k": _wrong_element(args[1])}
    raise AssertionError(f"no wrong value for {hint!r}")


def wrong_values(hint: Any) -> list[tuple[str, Any]]:
    """Values of the wrong type (or range) for a field annotated ``hint``."""
    hint, nullable = _bare(hint)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    out: list[tuple[str, Any]] = [] if nullable else [("null", None)]
    if hint is bool:
        out += [("int", 1), ("string", "true")]
    elif hint is int:
        out += [("bool", True), ("float", 1.5), ("string", "1"), ("negative", -1), ("over 2^53", 2**60)]
    elif hint is float:
        out += [("bool", False), ("string", "0.5"), ("list", [1.0])]
    elif hint is str:
        out += [("int", 5), ("list", ["x"]), ("object", {"a": 1}), ("bool", True)]
    elif origin is list:
        out += [("object", {}), ("string", "x"), ("bad element", [_wrong_element(args[0])])]
    elif origin is dict:
        out += [("list", []), ("string", "x"), ("bad value", {"k": _wrong_element(args[1])})]
    else:
        raise AssertionError(f"no wrong values for {hint!r}")
    return out


def wrong_type_cases() -> list[Case]:
    cases = []
    dicts = _dicts()
    for cls in ev.EVENT_TYPES.values():
        index = next(i for i, d in enumerate(dicts) if d["type"] == cls.type)
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            for label, value in wrong_values(hints[f.name]):
                cases.append(
                    Case(
                        f"{cls.type}.{f.name}={label}",
                        _with(index, f.name, value),
                        index + 2,
                        (cls.type, f.name),
                    )
                )
    return cases


# --- the other classes of hostile file ----------------------------------------------------


def _raw_number(index: int, name: str, raw: str) -> Callable[[], bytes]:
    """The field set to a bare token JSON itself does not allow (NaN, Infinity, 1e999)."""

    def content() -> bytes:
        dicts = _dicts()
        dicts[index][name] = "@@RAW@@"
        return jsonl(dicts).replace('"@@RAW@@"', raw).encode()

    return content


def _index(kind: str) -> int:
    return next(i for i, d in enumerate(_dicts()) if d["type"] == kind)


def number_cases() -> list[Case]:
    """NaN, Infinity, -Infinity and an overflowing 1e999 in every float field."""
    fields = [("node_scored", "score"), ("backprop", "reward"), ("node_verified", "ms"), ("note", "t")]
    fields += [("node_added", "prior"), ("node_added", "gen_ms")]
    cases = []
    for kind, name in fields:
        i = _index(kind)
        for raw in ("NaN", "Infinity", "-Infinity", "1e999"):
            cases.append(Case(f"{kind}.{name}={raw}", _raw_number(i, name, raw), i + 2, (kind, name)))
    i = _index("iteration_done")
    cases.append(Case("votes=NaN", _raw_number(i, "votes", '{"2": NaN}'), i + 2, ("iteration_done", "votes")))
    i = _index("backprop")
    cases.append(
        Case("updated Q=Infinity", _raw_number(i, "updated", "[[0, 1, Infinity]]"), i + 2, ("updated",))
    )
    cases.append(
        Case("config NaN", _raw_number(0, "config", '{"c": [1, NaN]}'), 2, ("run_started", "config"))
    )
    # integers no float can hold (float(10**400) overflows), and one Python will not even parse
    i = _index("node_scored")
    big = _raw_number(i, "score", "9" * 400)
    cases.append(Case("score 400 digits", big, i + 2, ("node_scored", "score")))
    wall = _raw_number(len(_dicts()) - 1, "stats", '{"wall_s": ' + "9" * 400 + "}")
    cases.append(Case("stats.wall_s 400 digits", wall, len(_dicts()) + 1, ("run_finished", "stats", "2^63")))
    cases.append(Case("seq 5000 digits", _raw_number(i, "seq", "9" * 5000), i + 2, ("not JSON", "digits")))
    return cases


def bool_for_int_cases() -> list[Case]:
    out = []
    for kind, name in [
        ("node_added", "id"),
        ("node_added", "parent"),
        ("node_added", "tokens"),
        ("note", "seq"),
    ]:
        i = _index(kind)
        out.append(Case(f"bool for {kind}.{name}", _with(i, name, True), i + 2, (kind, name, "boolean")))
    return out


def _deep_line(depth: int) -> Callable[[], bytes]:
    return lambda: (HEADER + "\n" + "[" * depth + "]" * depth + "\n").encode()


def _deep_payload(depth: int) -> Callable[[], bytes]:
    def content() -> bytes:
        dicts = _dicts()
        dicts[1]["meta"] = {"a": "@@DEEP@@"}
        return jsonl(dicts).replace('"@@DEEP@@"', "[" * depth + "]" * depth).encode()

    return content


def deep_cases() -> list[Case]:
    return [
        Case("100000 nested arrays", _deep_line(100_000), 2, ("nested",)),
        Case("100000 nested arrays in meta", _deep_payload(100_000), 3, ("nested",)),
        Case("40 nested arrays in meta", _deep_payload(40), 3, ("node_added", "meta", "nested")),
        Case(
            "deep header",
            lambda: (
                '{"format": "canopy-events", "version": 1, "x": ' + "[" * 50 + "]" * 50 + "}\n"
            ).encode(),
            1,
            ("header", "x", "nested"),
        ),
    ]


def _long_line(chars: int) -> Callable[[], bytes]:
    def content() -> bytes:
        dicts = _dicts()
        dicts[1]["text"] = "@@TEXT@@"
        head, tail = jsonl(dicts).split("@@TEXT@@")
        return head.encode() + b"x" * chars + tail.encode()

    return content


def size_cases() -> list[Case]:
    return [
        Case("50 MB line", _long_line(50_000_000), 3, ("longer than",)),
        Case("2 MiB text field", _long_line(2 << 20), 3, ("node_added", "text", "1,048,576")),
    ]


BAD_RUN_IDS = ["../../x", "/etc/passwd", "a/b", "a\x00b", "..", "", "x" * 65, "a b", "ü", "a\\b", "C:x"]


def run_id_cases() -> list[Case]:
    return [
        Case(f"run_id {rid!r}", _with(0, "run_id", rid), 2, ("run_started", "run_id")) for rid in BAD_RUN_IDS
    ]


def _events_text(dicts: list[dict[str, Any]]) -> Callable[[], bytes]:
    return lambda: jsonl(dicts).encode()


def seq_cases() -> list[Case]:
    d = _dicts()
    repeat = [*d[:3], {**d[3], "seq": 2}, *d[4:]]
    down = [*d[:3], {**d[3], "seq": 1}]
    gap = [*d[:3], *d[4:]]
    late_start = [{**d[0], "seq": 1}]
    dup_key = (
        HEADER
        + "\n"
        + json.dumps(d[0])
        + "\n"
        + '{"type": "note", "seq": 1, "seq": 1, "level": "info", "message": "m"}\n'
    )
    return [
        Case("seq repeated", _events_text(repeat), 5, ("node_added", "seq")),
        Case("seq goes down", _events_text(down), 5, ("node_added", "seq")),
        Case("seq gap", _events_text(gap), 5, ("seq", "out of order")),
        Case("seq starts at 1", _events_text(late_start), 2, ("run_started", "seq")),
        Case("seq key twice", lambda: dup_key.encode(), 3, ("seq", "twice")),
    ]


def shape_cases() -> list[Case]:
    """Events that type-check but do not form a run: the reference checks name the field."""
    d = _dicts()
    ni, nv = _index("node_added"), _index("node_verified")
    return [
        Case(
            "parent not added yet", _events_text([*d[:2], {**d[2], "parent": 9}]), 4, ("node_added", "parent")
        ),
        Case("second root", _events_text([*d[:2], {**d[2], "parent": None}]), 4, ("parent", "root")),
        Case("node id reused", _events_text([*d[:2], {**d[2], "id": 0}]), 4, ("node_added", "id")),
        Case(
            "verify unknown node",
            _events_text([*d[:nv], {**d[nv], "id": 77}]),
            nv + 2,
            ("node_verified", "id"),
        ),
        Case(
            "best_path unknown node",
            _events_text([*d[:-1], {**d[-1], "best_path": [0, 55]}]),
            len(d) + 1,
            ("run_finished", "best_path"),
        ),
        Case("event before run_started", _events_text(d[ni : ni + 1]), 2, ("node_added",)),
        Case("second run_started", _events_text([d[0], {**d[0], "seq": 1}]), 3, ("run_started",)),
        Case("unknown field", _with(1, "colour", "red"), 3, ("node_added", "colour")),
        Case(
            "missing field",
            _events_text([d[0], {k: v for k, v in d[1].items() if k != "kind"}]),
            3,
            ("kind",),
        ),
        Case("unknown kind", _with(1, "kind", "leaf"), 3, ("node_added", "kind")),
        Case("unknown status", _with(-1, "status", "won"), len(d) + 1, ("run_finished", "status")),
        Case(
            "unknown note level", _with(_index("note"), "level", "<b>"), _index("note") + 2, ("note", "level")
        ),
    ]


def type_cases() -> list[Case]:
    def line(obj: Any) -> Callable[[], bytes]:
        return lambda: (HEADER + "\n" + json.dumps(obj) + "\n").encode()

    return [
        Case("type explode", line({"type": "explode", "seq": 0}), 2, ("unknown event type",)),
        Case("type empty", line({"type": "", "seq": 0}), 2, ("unknown event type",)),
        Case("type number", line({"type": 5, "seq": 0}), 2, ("unknown event type",)),
        Case("type null", line({"type": None, "seq": 0}), 2, ("unknown event type",)),
        Case("type list", line({"type": ["node_added"], "seq": 0}), 2, ("unknown event type",)),
        Case("type object", line({"type": {"a": 1}, "seq": 0}), 2, ("unknown event type",)),
        Case("no type", line({"seq": 0}), 2, ("unknown event type",)),
        Case("event is a list", line([1, 2]), 2, ("JSON object",)),
        Case("event is a string", line("run_started"), 2, ("JSON object",)),
    ]


def header_cases() -> list[Case]:
    def text(s: str) -> Callable[[], bytes]:
        return lambda: s.encode()

    body = "".join(json.dumps(x) + "\n" for x in _dicts())
    cases = [
        Case("no header", text(body), 1, ("not a Canopy events file",)),
        Case("format wrong", text('{"format": "canopy-events2", "version": 1}\n' + body), 1, ("format",)),
        Case("header is a list", text('[{"format": "canopy-events"}]\n' + body), 1, ("not a Canopy",)),
        Case("header not JSON", text("canopy-events v1\n" + body), 1, ("not a Canopy",)),
        Case("header NaN", text('{"format": "canopy-events", "version": 1, "x": NaN}\n' + body), 1, ("x",)),
        Case("header only", text(HEADER + "\n"), None, ("no events",)),
        Case("blank lines only", text("\n\n  \n"), None, ("empty",)),
    ]
    for version in ("99", "0", '"1"', "true", "1.5", "null", "-1"):
        header = '{"format": "canopy-events", "version": ' + version + "}\n"
        cases.append(Case(f"version {version}", text(header + body), 1, ("version",)))
    return cases


def truncated_cases() -> list[Case]:
    def cut() -> bytes:
        text = jsonl(_dicts())
        return text[: text.rstrip("\n").rfind("\n") + 30].encode()

    n = len(full_run()) + 1
    return [Case("truncated last line", cut, n, ("not JSON", "truncated"))]


def bytes_cases() -> list[Case]:
    def raw(line: int, payload: bytes) -> Callable[[], bytes]:
        def content() -> bytes:
            lines = jsonl(_dicts()).encode().split(b"\n")
            lines[line - 1] = lines[line - 1].replace(b"1+1?", payload)
            return b"\n".join(lines)

        return content

    return [
        Case("byte 0xff", raw(2, b"\xff"), 2, ("UTF-8",)),
        Case("overlong utf-8", raw(3, b"\xc0\xaf"), 3, ("UTF-8",)),
        Case("cut utf-8 sequence", raw(2, b"\xe2\x82"), 2, ("UTF-8",)),
        Case("lone surrogate escape", raw(2, b"\\ud800"), 2, ("run_started", "problem", "surrogate")),
        Case("NUL bytes line", lambda: HEADER.encode() + b"\n\x00\x00\x00\n", 2, ("not JSON",)),
    ]


ALL_CASES = [
    *wrong_type_cases(),
    *number_cases(),
    *bool_for_int_cases(),
    *deep_cases(),
    *size_cases(),
    *run_id_cases(),
    *seq_cases(),
    *shape_cases(),
    *type_cases(),
    *header_cases(),
    *truncated_cases(),
    *bytes_cases(),
]
CASES = {c.id: c for c in ALL_CASES}
assert len(CASES) == len(ALL_CASES), "case ids must be unique"


def test_every_field_of_every_event_type_has_a_wrong_type_case():
    covered = {tuple(c.words) for c in wrong_type_cases()}
    for cls in ev.EVENT_TYPES.values():
        for f in dataclasses.fields(cls):
            assert (cls.type, f.name) in covered


# --- the history they must leave alone -------------------------------------------------


def history(tmp_path: Path) -> Path:
    """A history file that already holds one run."""
    db = tmp_path / "h.sqlite"
    store = SQLiteStore(db)
    store.import_events("before", [dataclasses.replace(small_run()[0], run_id="before"), *small_run()[1:]])
    store.close()
    return db


def counts(db: Path) -> tuple[int, int]:
    con = sqlite3.connect(db)
    try:
        return tuple(con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("runs", "events"))
    finally:
        con.close()


def written(tmp_path: Path, case: Case) -> Path:
    path = tmp_path / "hostile.jsonl"
    path.write_bytes(case.content())
    return path


def check_message(message: str, case: Case) -> None:
    assert "\n" not in message, f"not one line: {message!r}"
    assert "hostile.jsonl" in message
    if case.line is not None:
        assert f"line {case.line}:" in message, message
    for word in case.words:
        assert word in message, f"{word!r} not in {message!r}"


@pytest.mark.parametrize("case_id", list(CASES))
def test_import_refuses_with_one_clear_line_and_changes_nothing(tmp_path, case_id):
    case = CASES[case_id]
    db = history(tmp_path)
    before = counts(db)
    store = SQLiteStore(db)
    with pytest.raises(RunImportError) as info:
        import_run(store, written(tmp_path, case))
    store.close()
    check_message(str(info.value), case)
    if isinstance(info.value, ImportFormatError) and case.line is not None:
        assert info.value.line == case.line
    assert counts(db) == before


@pytest.mark.parametrize("case_id", list(CASES))
def test_cli_import_prints_error_and_exits_non_zero(tmp_path, case_id, capsys):
    case = CASES[case_id]
    db = history(tmp_path)
    before = counts(db)
    code = main(["import", str(written(tmp_path, case)), "--db", str(db)])
    out, err = capsys.readouterr()
    assert code != 0
    assert "Traceback" not in out + err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, err
    check_message(errors[0], case)
    assert counts(db) == before


# --- caps that a test can reach only by lowering them -----------------------------------


def test_a_file_with_more_events_than_the_cap_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(ev, "MAX_EVENTS", 5)
    path = tmp_path / "long.jsonl"
    ev.write_jsonl(full_run(), path)
    store = SQLiteStore(history(tmp_path))
    with pytest.raises(RunImportError, match=r"long.jsonl: line 7: more than 5 events"):
        import_run(store, path)
    assert len(store.list_runs()) == 1


def test_a_file_over_the_size_cap_is_refused_before_it_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr(export_mod, "MAX_IMPORT_BYTES", 1000)
    path = tmp_path / "big.jsonl"
    ev.write_jsonl(full_run(), path)
    with pytest.raises(RunImportError, match=r"big.jsonl: .* MiB limit"):
        import_run(SQLiteStore(history(tmp_path)), path)


def test_a_stream_over_the_byte_cap_is_refused_at_the_line(monkeypatch):
    monkeypatch.setattr(ev, "MAX_FILE_BYTES", 2000)
    import io

    buf = io.StringIO()
    ev.write_jsonl(full_run(), buf)
    with pytest.raises(ev.EventError, match=r"line \d+: the file is larger than"):
        ev.read_jsonl(io.StringIO(buf.getvalue()))


def test_special_files_are_refused(tmp_path):
    store = SQLiteStore(history(tmp_path))
    with pytest.raises(RunImportError, match="not a regular file"):
        import_run(store, tmp_path)
    with pytest.raises(RunImportError, match="not a regular file"):
        import_run(store, Path("/dev/zero"))


# --- all or nothing, even when the database fails half-way ----------------------------------


def test_a_write_that_fails_half_way_leaves_nothing(tmp_path, monkeypatch):
    db = history(tmp_path)
    before = counts(db)
    path = tmp_path / "ok.jsonl"
    ev.write_jsonl(full_run(), path)
    original = SQLiteStore._insert_events

    def insert_then_fail(self, run_id, events):
        original(self, run_id, events)  # every row is in the transaction...
        raise sqlite3.OperationalError("disk I/O error")  # ...then the disk goes away

    monkeypatch.setattr(SQLiteStore, "_insert_events", insert_then_fail)
    store = SQLiteStore(db)
    with pytest.raises(RunImportError, match=r"ok\.jsonl: not imported: .*disk I/O error"):
        import_run(store, path)
    assert counts(db) == before
    monkeypatch.undo()
    assert import_run(store, path) == "r1"  # the same file, once the disk is back
    assert counts(db) == (before[0] + 1, before[1] + len(full_run()))


def test_a_bad_last_event_leaves_no_half_imported_run(tmp_path):
    dicts = _dicts()
    dicts[-1]["correct"] = "yes"
    path = tmp_path / "last.jsonl"
    path.write_text(jsonl(dicts))
    db = history(tmp_path)
    store = SQLiteStore(db)
    with pytest.raises(ImportFormatError, match=f"line {len(dicts) + 1}: run_finished: correct must be"):
        import_run(store, path)
    assert [r.id for r in store.list_runs()] == ["before"] and store.get("r1") is None


def test_a_valid_run_still_imports_and_opens(tmp_path):
    path = tmp_path / "ok.jsonl"
    ev.write_jsonl(full_run(), path)
    store = SQLiteStore(history(tmp_path))
    rid = import_run(store, path)
    assert [e.to_dict() for e in store.read(rid)] == [e.to_dict() for e in full_run()]


# --- run ids that meet a path ---------------------------------------------------------------


@pytest.mark.parametrize("run_id", BAD_RUN_IDS)
def test_export_refuses_a_path_like_run_id_before_writing(tmp_path, run_id, monkeypatch, capsys):
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    db = history(tmp_path)
    store = SQLiteStore(db)
    with pytest.raises(ValueError, match="is not a run id"):
        export_run(store, run_id, work / "out.jsonl")
    if "\x00" not in run_id:  # a NUL cannot be passed on a command line
        code = main(["export", run_id, "--db", str(db)])
        out, err = capsys.readouterr()
        assert code != 0 and err.startswith("error: ") and "is not a run id" in err
        assert "Traceback" not in out + err
    assert not [p for p in tmp_path.rglob("*") if p.suffix == ".jsonl"]
    assert not Path("/etc/passwd.jsonl").exists()


@pytest.mark.parametrize("run_id", BAD_RUN_IDS)
def test_stores_refuse_path_like_run_ids(tmp_path, run_id):
    from backend.store import MemoryStore, StoreError

    for store in (SQLiteStore(tmp_path / f"s{len(run_id)}.sqlite"), MemoryStore()):
        started = dataclasses.replace(small_run()[0], run_id="ok")
        object.__setattr__(started, "run_id", run_id)  # as a caller bypassing the file reader would
        with pytest.raises(StoreError):
            store.append(run_id, started)
        with pytest.raises(StoreError):
            store.import_events(run_id, [started, *small_run()[1:]])
        assert store.get(run_id) is None and store.read(run_id) == [] and store.delete(run_id) is False
        assert store.list_runs() == []


# --- the real command line, in its own process ----------------------------------------------


@pytest.mark.parametrize("case_id", ["100000 nested arrays", "node_added.parent=string", "run_id '../../x'"])
def test_the_canopy_command_prints_one_error_line(tmp_path, case_id):
    case = CASES[case_id]
    db = history(tmp_path)
    cli = "import sys; from backend.cli import main; sys.exit(main())"
    proc = subprocess.run(
        [sys.executable, "-c", cli, "import", str(written(tmp_path, case)), "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stdout + proc.stderr
    assert proc.stderr.startswith("error: hostile.jsonl: ") and proc.stderr.count("\n") == 1, proc.stderr
