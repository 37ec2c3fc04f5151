"""Screen logic without Gradio: controls from the registry, start/control/stream, history."""

from __future__ import annotations

import time

import pytest

from backend import events as ev
from backend.export import export_run
from tests.ui.server import pace
from ui import handlers as h
from ui.services import EngineSlot, TreeCache

#: a small rStar tree: every path ends by its fourth step
SMALL = {"children": 3, "max_depth": 3}
#: more rollouts than any of these tests waits for
ENDLESS = {"rollouts": 10_000}


def wait_finished(services, run_id, timeout=20):
    run = services.runs.get(run_id)
    assert run.wait(timeout), "run did not finish"


def controls_and_defaults(algorithm):
    controls = h.algorithm_controls([algorithm])
    info = h.algorithm_info(algorithm)
    return controls, h.preset_values(algorithm, info["default_preset"], controls)


def start_rstar(services, problem="What is 16 - 7?", *, delay_s=0.0, **overrides):
    """Start an rStar run from the screen's controls: the defaults, then ``overrides``;
    each engine call takes ``delay_s``."""
    pace(services, delay_s)
    controls, values = controls_and_defaults("rstar")
    values = [overrides.get(c.name, v) for c, v in zip(controls, values, strict=True)]
    return h.start_run(services, controls, problem, "rstar", "vote", "", 0, values)


def test_controls_come_from_the_registry_config_fields():
    controls = h.algorithm_controls(["rstar", "cpl"])
    rstar = {c.name: c for c in controls if c.algorithm == "rstar"}
    assert {"rollouts", "children", "max_depth", "c", "temperature"} <= set(rstar)
    assert rstar["children"].widget == "slider" and rstar["rollouts"].widget == "number"
    assert rstar["c"].widget == "number" and rstar["rollouts"].help
    assert rstar["answer_from_output"].widget == "checkbox"
    cpl = {c.name: c for c in controls if c.algorithm == "cpl"}
    assert {"root_children", "expansions"} <= set(cpl) and cpl["selection"].widget == "dropdown"


def test_presets_fill_the_controls():
    controls = h.algorithm_controls(["rstar"])
    info = h.algorithm_info("rstar")
    assert info["presets"][0] == info["default_preset"] == "cpu-demo" and "paper-data" in info["presets"]
    values = h.preset_values("rstar", "paper-data", controls)
    data = dict(zip([c.name for c in controls], values, strict=True))
    assert (data["rollouts"], data["children"], data["max_depth"]) == (48, 12, 16)


def test_a_run_started_from_the_screen_streams_until_it_finishes(services):
    run_id = start_rstar(services, rollouts=4, delay_s=0.02, **SMALL)
    snaps = list(h.stream_run(services, run_id))
    assert snaps, "nothing was streamed"
    counts = [s.tree["count"] for s in snaps]
    assert counts == sorted(counts) and counts[-1] > 1
    last = snaps[-1]
    assert "finished (solved)" in last.status and "Final answer" in last.answer
    assert snaps[0].tree["fresh"] == []  # the first picture has no "new" rings
    revs = [s.rev for s in snaps]
    assert len(set(revs)) == len(revs)  # nothing is sent twice
    assert services.store.get(run_id).status == "solved"


def test_stream_is_rate_bounded(services):
    services.update_every_s = 0.2
    run_id = start_rstar(services, rollouts=6, delay_s=0.02)
    t = time.monotonic()
    snaps = list(h.stream_run(services, run_id))
    took = time.monotonic() - t
    assert len(snaps) <= took / 0.2 + 2


def test_bad_input_gives_a_message_not_a_crash(services):
    controls, values = controls_and_defaults("rstar")
    with pytest.raises(h.UserFacingError, match="Type a problem"):
        h.start_run(services, controls, "  ", "rstar", "vote", "", 0, values)
    bad = [999_999 if c.name == "rollouts" else v for c, v in zip(controls, values, strict=True)]
    with pytest.raises(h.UserFacingError, match="rollouts must be at most"):
        h.start_run(services, controls, "1+1", "rstar", "vote", "", 0, bad)
    with pytest.raises(h.UserFacingError, match="Unknown algorithm"):
        h.start_run(services, controls, "1+1", "nope", "vote", "", 0, values)


def test_a_missing_model_is_reported_on_run_and_in_the_status(services):
    def broken():
        raise FileNotFoundError("model file qwen.gguf not found")

    services.engine = EngineSlot("llamacpp", None, loader=broken)
    assert "loads on the first Run" in services.engine.status()
    controls, values = controls_and_defaults("rstar")
    with pytest.raises(h.UserFacingError, match=r"could not be loaded.*qwen\.gguf"):
        h.start_run(services, controls, "What is 16 - 7?", "rstar", "vote", "", 0, values)
    assert "unavailable" in services.engine.status() and "qwen.gguf" in services.engine.status()


def test_controls_pause_step_stop_through_the_handlers(services):
    run_id = start_rstar(services, delay_s=0.02, **ENDLESS)
    assert h.pause_label(services, run_id) == "Pause"
    h.control_run(services, run_id, "toggle")  # pause
    run = services.runs.get(run_id)
    deadline = time.monotonic() + 5
    while run.state != "paused" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert h.pause_label(services, run_id) == "Resume"
    status = h.control_run(services, run_id, "stop")
    assert run.wait(5)
    assert "stopped" in h.run_status(services, run_id)
    assert "not running" in h.control_run(services, "nope", "stop") or "No live" in h.control_run(
        services, None, "stop"
    )
    assert status


def test_inspect_live_and_at_a_replay_position(services):
    run_id = start_rstar(services, rollouts=2, **SMALL)
    wait_finished(services, run_id)
    view = h.inspect(services, run_id, 1)
    assert "Node #1" in view.title and view.text and view.code
    n_events = h.run_length(services, run_id)
    early = h.inspect(services, run_id, 1, upto=1)  # run_started and the root: before node 1 existed
    assert "not in this tree" in early.title
    assert "Node #1" in h.inspect(services, run_id, "1", upto=n_events - 1).title
    assert h.inspect(services, run_id, "x").title.startswith("Not a node id")


def test_history_lists_replays_and_deletes(services, tmp_path):
    a = start_rstar(services, "problem alpha", rollouts=3, **SMALL)
    wait_finished(services, a)
    b = start_rstar(services, "problem beta", rollouts=2, **SMALL)
    wait_finished(services, b)
    rows = h.history_rows(services)
    assert [r[0] for r in rows] == [b, a] and rows[0][3] in ("solved", "exhausted")
    assert rows[1][-1] == "problem alpha" and rows[1][2] == "rstar"
    assert [r[0] for r in h.history_rows(services, text="alpha")] == [a]
    n = h.run_length(services, a)
    counts = [h.replay(services, a, k).tree["count"] for k in (1, n // 2, n - 1, 3)]
    assert counts[0] == 1 and counts[0] <= counts[1] <= counts[2] and counts[3] <= counts[1]
    assert "event 3" in h.replay(services, a, 3).status
    export_run(services.store, a, tmp_path / "a.jsonl")
    services.store.delete(a)
    assert [r[0] for r in h.history_rows(services)] == [b]


def test_tree_cache_folds_only_new_events():
    log = ev.EventLog()
    calls = []

    def events(run_id, after):
        calls.append(after)
        return log.after(after)

    cache = TreeCache(events)
    log.emit(ev.RunStarted, run_id="x", algorithm="a", problem="p")
    log.emit(ev.NodeAdded, id=0, parent=None, kind="root")
    assert cache.view("x", lambda t: len(t.nodes)) == 1
    log.emit(ev.NodeAdded, id=1, parent=0, kind="step")
    assert cache.view("x", lambda t: len(t.nodes)) == 2
    assert calls == [-1, 1]


def test_examples_come_from_the_problem_sets(services):
    choices = h.example_choices(services, "gsm8k", limit=5)
    assert len(choices) == 5 and choices[0][1] == "gsm8k/0" and "Janet" in choices[0][0]
    text, answer = h.pick_example(services, "gsm8k", "gsm8k/0", limit=5)
    assert "Janet" in text and answer == "18"
    assert h.example_choices(services, "") == []


def test_a_newer_stream_for_the_same_tab_ends_the_older_one(services):
    a = start_rstar(services, delay_s=0.02, **ENDLESS)
    b = start_rstar(services, "another", delay_s=0.02, **ENDLESS)
    old = h.stream_run(services, a, viewer="tab-1")
    assert next(old).tree["run"] == a
    new = h.stream_run(services, b, viewer="tab-1")
    assert next(new).tree["run"] == b
    assert list(old) == []  # the older stream stops instead of drawing run a over run b
    other = h.stream_run(services, a, viewer="tab-2")  # other tabs are not affected
    assert next(other).tree["run"] == a and next(new).tree["run"] == b
    new.close()
    other.close()
    services.runs.shutdown()


def test_live_updates_are_deltas_and_a_resync_sends_the_whole_figure(services):
    run_id = start_rstar(services, delay_s=0.02, **ENDLESS)
    stream = h.stream_run(services, run_id, viewer="tab-1")
    first = next(stream).tree
    assert first["kind"] == "full"
    later = [next(stream).tree for _ in range(3)]
    assert [v["kind"] for v in later] == ["delta"] * 3
    assert [v["base"] for v in later] == [first["rev"], later[0]["rev"], later[1]["rev"]]
    assert services.request_resync("tab-1") and not services.request_resync("no-such-tab")
    assert next(stream).tree["kind"] == "full"
    assert next(stream).tree["kind"] == "delta"
    stream.close()
    services.runs.shutdown()


def test_a_stream_that_is_ending_still_answers_a_pending_resync(services):
    ticket = services.watch("tab-9")
    assert services.request_resync("tab-9")
    assert not services.end_stream("tab-9", ticket)  # one more whole figure first
    assert services.take_resync("tab-9", ticket) and not services.take_resync("tab-9", ticket)
    assert services.end_stream("tab-9", ticket)
    assert not services.request_resync("tab-9")  # nobody streams to it now: the caller answers


def test_a_quiet_runs_next_event_is_sent_at_once(services):
    services.update_every_s = 2.0
    run_id = start_rstar(services, delay_s=0.02, **ENDLESS)
    h.control_run(services, run_id, "pause")
    run = services.runs.get(run_id)
    deadline = time.monotonic() + 5
    while run.state != "paused" and time.monotonic() < deadline:
        time.sleep(0.01)
    stream = h.stream_run(services, run_id, viewer="tab-2")
    rev = next(stream).rev
    time.sleep(2.1)  # quiet for longer than the update period
    h.control_run(services, run_id, "step")
    t = time.monotonic()
    news = next(stream)
    if news.tree is None:  # the state changed first (paused -> running): said at once too
        assert news.rev == rev and "**paused**" not in news.status
        news = next(stream)
    assert news.rev > rev
    assert time.monotonic() - t < 1.2  # not a wait for the next 2 s tick
    stream.close()
    services.runs.shutdown()


def test_a_problem_too_long_for_the_model_is_refused_before_a_run_exists(services):
    """A browser walk pasted 42,000 characters: the run started and ended in "error" with the
    engine's n_ctx message. Now the page refuses it, saying the sizes, and keeps no run."""
    inner = services.engine.get().inner
    inner.n_ctx = 4096  # the scripted engine counting words as a llama.cpp engine counts tokens
    inner.tokenize = lambda text: text.split()
    controls = h.algorithm_controls(services.algorithm_names())
    values = [None] * len(controls)
    with pytest.raises(h.UserFacingError, match=r"too long for this model: 6,000 tokens.*at most 4,096"):
        h.start_run(services, controls, "word " * 6000, "rstar", "vote", "", 0, values)
    assert services.store.list_runs() == []
    run_id = h.start_run(services, controls, "word " * 300, "rstar", "vote", "", 0, values)  # fits
    assert services.runs.get(run_id).wait(30)


def test_the_stream_follows_the_run_state_when_no_event_comes(services, monkeypatch):
    """Pause pressed during a rollout makes the run "pausing" with no event until the rollout
    ends: the stream must still say so, then
    say "paused". Before, it waited for an event, and a page could keep a stale state."""
    import threading

    run_id = start_rstar(services, delay_s=0.01, **ENDLESS)
    inner = services.engine.get().inner
    gate, blocked = threading.Event(), threading.Event()
    gate.set()
    generate = inner.generate

    def gated(*args, **kwargs):
        if not gate.is_set():
            blocked.set()
        assert gate.wait(20), "the test never opened the gate"
        return generate(*args, **kwargs)

    monkeypatch.setattr(inner, "generate", gated)
    statuses: list[str] = []
    revs: list[int] = []

    def watch() -> None:
        for snap in h.stream_run(services, run_id, viewer="tab-9"):
            statuses.append(snap.status)
            revs.append(snap.rev)

    stream = threading.Thread(target=watch, daemon=True)
    stream.start()
    run = services.runs.get(run_id)
    wait_until = time.monotonic() + 10
    while services.runs.events(run_id)[-1].seq < 5 and time.monotonic() < wait_until:
        time.sleep(0.01)
    gate.clear()  # the worker blocks inside its next engine call: no event comes from then on
    assert blocked.wait(10)
    last = services.runs.events(run_id)[-1].seq
    deadline = time.monotonic() + 5
    while (not revs or revs[-1] != last) and time.monotonic() < deadline:
        time.sleep(0.01)  # the stream has sent every event: only a state change can move it now
    assert revs[-1] == last and "**running**" in statuses[-1]
    seen = len(statuses)
    h.control_run(services, run_id, "pause")
    assert run.state == "pausing"
    deadline = time.monotonic() + 5
    while not any("**pausing**" in s for s in statuses[seen:]) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert any("**pausing**" in s for s in statuses[seen:]), statuses[seen:]
    assert services.runs.events(run_id)[-1].seq == last  # said with no new event
    gate.set()
    deadline = time.monotonic() + 5
    while "**paused**" not in statuses[-1] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "**paused**" in statuses[-1]
    h.control_run(services, run_id, "stop")
    stream.join(10)
    assert not stream.is_alive() and "stopped" in statuses[-1]


def test_the_stream_says_a_settled_status_again_after_a_pause(services):
    """A Pause click answers with its own status line ("pausing"), a reply that can reach the
    page after the stream's "paused" and would stay there: the stream says the status again
    about 1 s and 4 s after its last update, once each, then stays quiet."""
    import threading

    run_id = start_rstar(services, delay_s=0.01, **ENDLESS)
    seen: list[tuple[float, str, bool]] = []

    def watch() -> None:
        for snap in h.stream_run(services, run_id, viewer="tab-7"):
            seen.append((time.monotonic(), snap.status, snap.tree is None))

    stream = threading.Thread(target=watch, daemon=True)
    stream.start()
    deadline = time.monotonic() + 10
    while services.runs.events(run_id)[-1].seq < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    h.control_run(services, run_id, "pause")
    deadline = time.monotonic() + 20
    while not (seen and "**paused**" in seen[-1][1]) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "**paused**" in seen[-1][1]
    first = len(seen) - 1
    time.sleep(6.0)
    again = seen[first + 1:]
    h.control_run(services, run_id, "stop")
    stream.join(15)
    assert [(status_only, "**paused**" in s) for _, s, status_only in again] == [(True, True)] * 2, again
    gaps = [t - seen[first][0] for t, _, _ in again]
    assert 0.9 <= gaps[0] < 3.9 <= gaps[1] < 10, gaps
