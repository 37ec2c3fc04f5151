"""Run control (pause / resume / step / stop), recording, isolation and the RunManager,
driving rStar-Math and CPL over the scripted engine (tests/ui/scripted_runs.py).

rStar runs its steps in the sandbox (tens of ms per expansion); tests that need many
rollouts run CPL, which has no code to run."""

from __future__ import annotations

import time

import pytest

from backend import events as ev
from backend.run import Run, RunManager
from backend.store import MemoryStore, SQLiteStore
from backend.tree import Tree
from tests.ui.scripted_runs import make_run

#: a small rStar tree: every path ends by its fourth step, the tree after about four rollouts
SMALL = {"children": 3, "max_depth": 3}
#: a CPL tree that takes about a hundred rollouts to exhaust, a few ms each
MANY = {"algorithm": "cpl", "children": 4}


def wait_for(cond, timeout=10.0, every=0.01):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(every)
    raise AssertionError("condition not met in time")


def iterations(run: Run) -> int:
    return sum(1 for e in run.log.events if isinstance(e, ev.IterationDone))


def actions(run: Run) -> list[str]:
    return [e.action for e in run.log.events if isinstance(e, ev.UserAction)]


def test_a_run_finishes_and_every_event_is_stored_in_order():
    store = MemoryStore()
    run = Run(make_run(run_id="r1", rollouts=3, **SMALL), run_id="r1", store=store).start()
    assert run.wait(10) and run.finished
    stored = store.read("r1")
    assert [e.seq for e in stored] == list(range(len(run.log)))
    assert stored[-1].type == "run_finished" and stored[-1].status == "solved"
    assert store.get("r1").status == "solved" and store.get("r1").nodes == len(Tree.from_events(stored).nodes)


def test_pause_freezes_the_tree_and_step_adds_exactly_one_iteration():
    run = Run(make_run(run_id="r", rollouts=1000, delay_s=0.01, **MANY), run_id="r").start()
    wait_for(lambda: iterations(run) >= 2)
    run.pause()
    wait_for(lambda: "pause" in actions(run))
    frozen = len(run.log)
    time.sleep(0.2)
    assert len(run.log) == frozen and run.state == "paused"
    before = iterations(run)
    run.step()
    wait_for(lambda: iterations(run) == before + 1)
    time.sleep(0.2)
    assert iterations(run) == before + 1 and run.state == "paused"
    run.step()
    run.step()
    wait_for(lambda: iterations(run) == before + 3)
    run.resume()
    wait_for(lambda: iterations(run) >= before + 6)
    assert actions(run)[:2] == ["pause", "step"] and "resume" in actions(run)
    run.stop()
    assert run.wait(5)


def test_a_run_started_paused_emits_its_root_and_waits():
    run = Run(make_run(run_id="p", rollouts=10, **MANY), run_id="p", paused=True).start()
    wait_for(lambda: "pause" in actions(run))
    assert iterations(run) == 0 and run.state == "paused"
    tree = Tree.from_events(run.log.events)
    assert tree.root is not None
    run.step()
    wait_for(lambda: iterations(run) == 1)
    run.stop()
    assert run.wait(5)


def test_stop_takes_effect_within_one_generation_call_and_keeps_the_tree():
    run = Run(make_run(run_id="s", rollouts=10_000, delay_s=0.2, **SMALL), run_id="s").start()
    wait_for(lambda: iterations(run) >= 1)
    t = time.monotonic()
    run.stop()
    assert run.wait(5)
    # one engine call is 0.2 s, then the sandbox runs its steps; 1 s leaves room for a loaded
    # machine (0.52 s measured with other jobs on both cores) and still catches a stop that
    # waits for the next iterations (each several calls)
    assert time.monotonic() - t < 1.0
    last = run.log.events[-1]
    assert last.type == "run_finished" and last.status == "stopped"
    assert actions(run)[-1] == "stop"
    tree = Tree.from_events(run.log.events)
    assert len(tree.nodes) > 1 and tree.finished.status == "stopped"


def test_stop_while_paused_and_controls_after_the_end_are_ignored():
    run = Run(make_run(run_id="s2", rollouts=100, **MANY), run_id="s2", paused=True).start()
    wait_for(lambda: "pause" in actions(run))
    run.stop()
    assert run.wait(5) and run.log.events[-1].status == "stopped"
    n = len(run.log)
    run.resume()
    run.step()
    run.pause()
    time.sleep(0.05)
    assert len(run.log) == n and run.state == "finished"


def test_steering_actions_are_recorded_as_user_actions():
    run = Run(make_run(run_id="st", rollouts=100, **SMALL), run_id="st", paused=True).start()
    wait_for(lambda: "pause" in actions(run))
    run.step()
    wait_for(lambda: iterations(run) == 1)
    run.act("prune", 1)
    wait_for(lambda: "prune" in actions(run))
    with pytest.raises(ValueError, match="unknown steering"):
        run.act("explode", 1)
    run.stop()
    run.wait(5)
    assert Tree.from_events(run.log.events).nodes[1].pruned


class Exploding:
    """A search whose third iteration raises."""

    def __init__(self, run_id):
        self.inner = make_run(run_id=run_id, rollouts=100, **MANY)
        self.log = self.inner.log
        self.calls = 0

    @property
    def done(self):
        return self.inner.done

    def start(self):
        self.inner.start()

    def step(self):
        self.calls += 1
        if self.calls == 3:
            raise RuntimeError("the engine fell over")
        return self.inner.step()

    def request_stop(self):
        self.inner.request_stop()

    def finish(self, **kw):
        return self.inner.finish(**kw)


def test_a_failing_search_finishes_as_error_with_its_reason_and_tree():
    store = MemoryStore()
    run = Run(Exploding("x"), run_id="x", store=store).start()
    assert run.wait(5)
    last = store.read("x")[-1]
    assert last.status == "error" and "fell over" in last.error
    assert store.get("x").status == "error"
    assert len(Tree.from_events(store.read("x")).nodes) > 1


def test_grading_against_a_known_answer():
    run = Run(
        make_run(run_id="g", rollouts=3, **SMALL), run_id="g", reference="18", grade=lambda a, b: a == b
    )
    run.start().wait(5)
    fin = run.log.events[-1]
    assert fin.reference == "18" and fin.correct is (fin.answer == "18")


def test_two_runs_at_once_do_not_see_each_other(tmp_path):
    store = SQLiteStore(tmp_path / "two.sqlite")
    mgr = RunManager(store)
    a = mgr.start(lambda rid: make_run("problem A", run_id=rid, rollouts=8, delay_s=0.01, **MANY))
    b = mgr.start(lambda rid: make_run("problem B", run_id=rid, rollouts=3, delay_s=0.01, **SMALL))
    assert a.wait(10) and b.wait(10)
    ta, tb = Tree.from_events(store.read(a.run_id)), Tree.from_events(store.read(b.run_id))
    assert ta.started.problem == "problem A" and tb.started.problem == "problem B"
    assert len(ta.iterations) == 8 and len(tb.iterations) == 3
    assert [e.to_dict() for e in store.read(a.run_id)] == [e.to_dict() for e in a.log.events]


def test_manager_serves_live_events_from_memory_then_from_the_store(tmp_path):
    store = SQLiteStore(tmp_path / "m.sqlite")
    mgr = RunManager(store, max_live=1)
    run = mgr.start(lambda rid: make_run(run_id=rid, rollouts=1000, delay_s=0.01, **MANY))
    assert mgr.get(run.run_id) is run and mgr.live_ids() == [run.run_id]
    with pytest.raises(RuntimeError, match="already running"):
        mgr.start(lambda rid: make_run(run_id=rid))
    wait_for(lambda: len(run.log) > 10)
    assert [e.seq for e in mgr.events(run.run_id, after=4, limit=3)] == [5, 6, 7]
    mgr.shutdown()
    assert mgr.forget_finished(older_than_s=0) == 1 and mgr.get(run.run_id) is None
    assert len(mgr.events(run.run_id)) == len(run.log)  # now read back from SQLite


def test_a_pause_reads_pausing_until_the_iteration_in_progress_ends():
    # the page said "paused" at once while an rStar rollout (several engine calls) still added nodes
    run = Run(make_run(run_id="pp", rollouts=1000, delay_s=0.3, **MANY), run_id="pp").start()
    wait_for(lambda: iterations(run) >= 1)
    wait_for(lambda: run._busy is not None)  # inside an iteration
    run.pause()
    assert run.state == "pausing"
    wait_for(lambda: "pause" in actions(run))
    assert run.state == "paused"
    run.step()
    wait_for(lambda: run._busy == "step")
    assert run.state == "stepping"
    wait_for(lambda: run.state == "paused")
    run.stop()
    assert run.wait(10)
