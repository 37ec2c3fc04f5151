"""Export / import of runs as JSON Lines: round trip, and clear refusals of bad files."""

from __future__ import annotations

import json

import pytest

from backend import events as ev
from backend.export import RunImportError, export_run, import_run, read_run_file
from backend.store import MemoryStore, SQLiteStore
from backend.tree import Tree
from tests.factories import small_run


def stored(store, events, run_id="r1"):
    for e in events:
        store.append(run_id, e)
    return store


def test_round_trip_gives_the_same_events_and_tree(tmp_path):
    src = stored(SQLiteStore(tmp_path / "a.sqlite"), small_run())
    n = export_run(src, "r1", tmp_path / "run.jsonl")
    header = json.loads((tmp_path / "run.jsonl").read_text().splitlines()[0])
    assert n == len(small_run()) and header["format"] == "canopy-events" and header["run_id"] == "r1"
    assert "canopy" in header and header["version"] == ev.SCHEMA_VERSION
    dst = MemoryStore()
    assert import_run(dst, tmp_path / "run.jsonl") == "r1"
    assert [e.to_dict() for e in dst.read("r1")] == [e.to_dict() for e in small_run()]
    assert dst.get("r1").status == "solved" and dst.get("r1").answer == "2"


def test_importing_into_a_history_that_has_the_run_gives_a_new_id(tmp_path):
    store = stored(MemoryStore(), small_run())
    export_run(store, "r1", tmp_path / "run.jsonl")
    new = import_run(store, tmp_path / "run.jsonl")
    assert new != "r1" and len(store.read(new)) == len(small_run())
    assert store.read(new)[0].run_id == new
    with pytest.raises(RunImportError, match="already in the history"):
        import_run(store, tmp_path / "run.jsonl", keep_id=True)


def test_an_unfinished_run_is_imported_as_interrupted(tmp_path):
    ev.write_jsonl(small_run()[:6], tmp_path / "part.jsonl")
    store = MemoryStore()
    rid = import_run(store, tmp_path / "part.jsonl")
    assert store.get(rid).status == "interrupted" and store.read(rid)[-1].status == "interrupted"


def test_export_of_an_unknown_run_says_so(tmp_path):
    with pytest.raises(ValueError, match="no run with id"):
        export_run(MemoryStore(), "nope", tmp_path / "x.jsonl")


BAD_FILES = {
    "empty.jsonl": ("", "empty"),
    "foreign.jsonl": ('{"hello": "world"}\n', "not a Canopy events file"),
    "notjson.jsonl": ("this is not json\n", "not a Canopy events file"),
    "future.jsonl": ('{"format": "canopy-events", "version": 99}\n', "newer than this Canopy"),
    "header_only.jsonl": ('{"format": "canopy-events", "version": 1}\n', "no events"),
    "bad_line.jsonl": ('{"format": "canopy-events", "version": 1}\n{"type": "run_started"\n', "line 2"),
    "unknown_type.jsonl": (
        '{"format": "canopy-events", "version": 1}\n{"type": "explode", "seq": 0}\n',
        "unknown event type",
    ),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_malformed_files_get_a_clear_message_and_store_nothing(tmp_path, name):
    text, message = BAD_FILES[name]
    (tmp_path / name).write_text(text)
    store = MemoryStore()
    with pytest.raises(RunImportError, match=message) as info:
        import_run(store, tmp_path / name)
    assert name in str(info.value)
    assert store.list_runs() == []


def test_events_that_do_not_form_a_tree_are_refused(tmp_path):
    events = small_run()
    gap = events[:3] + events[4:]  # seq 3 missing
    ev.write_jsonl(gap, tmp_path / "gap.jsonl")
    with pytest.raises(RunImportError, match=r"do not form a valid run.*seq"):
        read_run_file(tmp_path / "gap.jsonl")
    orphan = [events[0], ev.NodeAdded(seq=1, id=5, parent=3, kind="step")]
    ev.write_jsonl(orphan, tmp_path / "orphan.jsonl")
    with pytest.raises(RunImportError, match="does not exist"):
        import_run(MemoryStore(), tmp_path / "orphan.jsonl")


def test_binary_and_missing_files(tmp_path):
    (tmp_path / "bin.jsonl").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(RunImportError, match=r"not a text file|not a Canopy"):
        import_run(MemoryStore(), tmp_path / "bin.jsonl")
    with pytest.raises(RunImportError, match="no such file"):
        import_run(MemoryStore(), tmp_path / "missing.jsonl")


def test_exported_file_replays_to_the_same_tree(tmp_path):
    store = stored(MemoryStore(), small_run())
    export_run(store, "r1", tmp_path / "r.jsonl")
    _, _, tree = read_run_file(tmp_path / "r.jsonl")
    assert tree.best_path() == Tree.from_events(small_run()).best_path()
