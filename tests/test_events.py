import dataclasses
import io
import json
import threading
import time

import pytest

from backend import events as ev
from backend.events import EventError, EventLog, read_jsonl, write_jsonl
from tests.factories import small_run


def test_jsonl_round_trip_is_lossless(tmp_path):
    events = small_run()
    path = tmp_path / "run.jsonl"
    assert write_jsonl(events, path, run_id="r1") == len(events)
    header, back = read_jsonl(path)
    assert header["format"] == "canopy-events" and header["version"] == ev.SCHEMA_VERSION
    assert header["run_id"] == "r1"
    assert back == events
    # and a second trip writes byte-identical lines
    buf1, buf2 = io.StringIO(), io.StringIO()
    write_jsonl(events, buf1)
    write_jsonl(back, buf2)
    assert buf1.getvalue().splitlines()[1:] == buf2.getvalue().splitlines()[1:]


def test_unicode_and_nested_payloads_survive(tmp_path):
    log = EventLog()
    # run ids have a fixed ASCII alphabet (events.RUN_ID_PATTERN); the unicode lives in the text
    log.emit(
        ev.RunStarted, run_id="r", algorithm="lips", problem="a² + b² ≥ 2ab", config={"k": [1, {"x": "é"}]}
    )
    _, back = read_jsonl(_written(tmp_path, log.events))
    assert back[0].problem == "a² + b² ≥ 2ab" and back[0].config == {"k": [1, {"x": "é"}]}


def _written(tmp_path, events):
    path = tmp_path / "e.jsonl"
    write_jsonl(events, path)
    return path


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"type": "node_grown", "seq": 0}', "unknown event type 'node_grown'"),
        ('{"type": "node_added", "seq": 0, "id": 1, "kind": "step"}', "missing field(s) parent"),
        (
            '{"type": "note", "seq": -1, "level": "info", "message": "x"}',
            "seq must be a non-negative integer",
        ),
        (
            '{"type": "note", "seq": 0, "level": "info", "message": "x", "colour": 1}',
            "unknown field(s) colour",
        ),
        ("[1, 2]", "must be a JSON object"),
        ("{not json", "not JSON"),
    ],
)
def test_malformed_events_get_clear_errors(line, message):
    with pytest.raises(EventError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ev.event_from_json(line)


def test_reading_a_foreign_file_names_the_problem(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"hello": 1}\n')
    with pytest.raises(EventError, match="not a Canopy events file"):
        read_jsonl(path)
    path.write_text(json.dumps({"format": "canopy-events", "version": 99}) + "\n")
    with pytest.raises(EventError, match="newer than this Canopy"):
        read_jsonl(path)
    path.write_text(json.dumps({"format": "canopy-events", "version": 1}) + '\n{"type":"x","seq":0}\n')
    with pytest.raises(EventError, match="line 2: unknown event type"):
        read_jsonl(path)
    path.write_text("")
    with pytest.raises(EventError, match="empty file"):
        read_jsonl(path)


def test_event_log_numbers_events_and_serves_a_cursor():
    log = EventLog()
    seen = []
    log.subscribe(seen.append)
    log.emit(ev.RunStarted, run_id="r", algorithm="a", problem="p")
    log.emit(ev.Note, level="info", message="hi")
    log.emit(ev.Note, level="info", message="again")
    assert [e.seq for e in log.events] == [0, 1, 2]
    assert seen == log.events
    assert [e.seq for e in log.after(0)] == [1, 2]
    assert [e.seq for e in log.after(0, limit=1)] == [1]
    assert log.after(2) == []
    assert all(b.t >= a.t for a, b in zip(log.events, log.events[1:], strict=False))


def test_a_reader_waiting_for_news_wakes_on_the_next_event():
    log = EventLog()
    log.emit(ev.RunStarted, run_id="r", algorithm="a", problem="p")
    t = time.monotonic()
    assert log.wait_after(0, timeout=0.05) is False  # nothing new: waits the timeout out
    assert time.monotonic() - t >= 0.04
    assert log.wait_after(-1, timeout=5) is True  # already there: no wait
    timer = threading.Timer(0.1, lambda: log.emit(ev.UserAction, action="pause", node=None))
    timer.start()
    t = time.monotonic()
    assert log.wait_after(0, timeout=5) is True
    assert time.monotonic() - t < 2  # woken by the emit, not by the 5 s timeout
    timer.join()


def test_emit_copies_list_and_dict_payloads():
    """A caller that reuses its buffers after emitting cannot rewrite logged events."""
    log = EventLog()
    seen = []
    log.subscribe(seen.append)
    config = {"rollouts": 8, "nested": {"k": [1, 2]}}
    path, updated = [0, 1], [[1, 1, 0.5], [0, 1, 0.5]]
    children = [[{"id": 1, "n": 0, "score": 0.0}]]
    log.emit(ev.RunStarted, run_id="r", algorithm="a", problem="p", config=config)
    log.emit(ev.NodeSelected, iteration=1, path=path, children=children)
    log.emit(ev.Backprop, iteration=1, path=path, reward=1.0, updated=updated)
    config["rollouts"] = 99
    config["nested"]["k"].append(3)
    path.append(7)
    updated[0][1] = 42
    children[0][0]["score"] = 9.9
    started, selected, backprop = log.events
    assert started.config == {"rollouts": 8, "nested": {"k": [1, 2]}}
    assert selected.path == [0, 1] and selected.children == [[{"id": 1, "n": 0, "score": 0.0}]]
    assert backprop.path == [0, 1] and backprop.updated == [[1, 1, 0.5], [0, 1, 0.5]]
    assert seen == log.events  # subscribers got the same copies
    assert selected.path is not backprop.path  # one buffer emitted twice: two copies


def test_events_are_immutable():
    e = ev.Note(seq=0, level="info", message="x")
    with pytest.raises(AttributeError):
        e.message = "y"  # type: ignore[misc]


# --- closed vocabularies: checked when an event is made ------------------------------------

#: (event class, field, its allowed words, the other fields a valid event needs)
CLOSED_FIELDS = [
    (ev.NodeAdded, "kind", ev.NODE_KINDS, {"id": 1, "parent": 0}),
    (ev.NodeVerified, "status", ev.VERIFY_STATUSES, {"id": 1, "method": "sandbox"}),
    (ev.RunFinished, "status", ev.FINISH_STATUSES, {}),
    (ev.UserAction, "action", ev.USER_ACTIONS, {}),
    (ev.Note, "level", ev.NOTE_LEVELS, {"message": "m"}),
]


def _closed_cases():
    return [
        pytest.param(cls, name, words, rest, id=f"{cls.type}.{name}")
        for cls, name, words, rest in CLOSED_FIELDS
    ]


@pytest.mark.parametrize(("cls", "name", "words", "rest"), _closed_cases())
def test_an_unknown_word_fails_when_the_event_is_created(cls, name, words, rest):
    with pytest.raises(ValueError, match=rf"{cls.type}: {name} must be one of .*got an unknown") as info:
        cls(seq=0, **rest, **{name: "proven"})
    assert all(repr(w) in str(info.value) for w in words)  # the message lists the allowed words
    assert info.value.field == name and info.value.event_type == cls.type
    with pytest.raises(ValueError, match=f"{name} must be one of"):
        EventLog().emit(cls, **rest, **{name: "proven"})
    with pytest.raises(ValueError, match=f"{name} must be one of"):
        cls(seq=0, **rest, **{name: 3})


@pytest.mark.parametrize(("cls", "name", "words", "rest"), _closed_cases())
def test_every_allowed_word_works_and_stays_a_plain_string_on_disk(cls, name, words, rest):
    for word in sorted(words):
        event = cls(seq=0, **rest, **{name: word})
        assert json.loads(event.to_json())[name] == word
        assert ev.event_from_json(event.to_json()) == event


def test_replacing_a_word_is_checked_too():
    event = ev.RunFinished(seq=0, status="solved")
    with pytest.raises(ValueError, match="unknown status 'won'"):
        dataclasses.replace(event, status="won")


def test_a_file_with_an_unknown_word_names_the_same_field():
    line = '{"type": "node_added", "seq": 0, "id": 1, "parent": null, "kind": "leaf"}'
    with pytest.raises(
        ev.EventFormatError, match=r"node_added: kind must be one of .*unknown node kind 'leaf'"
    ):
        ev.event_from_json(line)
