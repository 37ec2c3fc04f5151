"""A Run: one search in its own worker thread, controlled from outside, recorded as it goes.

The search (``backend/search/base.py``: ``start`` / ``step`` / ``done`` / ``request_stop`` /
``finish``) never knows it is being watched. The Run

- drives it: ``while not done: step()``, one iteration at a time, in a daemon thread;
- controls it: pause (after the current iteration), resume, step (exactly one iteration,
  then paused again), stop (``request_stop`` at once, so it takes effect before the next
  engine call; the partial tree is kept and the run finishes as ``stopped``);
- records it: every event goes to the store as it is emitted, in seq order.

The worker thread is the only writer of the run's event log. Controls pressed in the UI
are queued and the worker emits the matching ``user_action`` when it acts on them, so the
log stays in one total order and the store's cursor (``read(after=seq)``) never skips an
event. ``RunManager`` keeps live runs by id, so a refreshed browser tab re-attaches to a
run that is still going; separate runs share nothing but the (locked) engine.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any, Literal, Protocol

from backend import events as ev
from backend import steering
from backend.steering import STEERING, Steer

log = logging.getLogger(__name__)

#: "pausing" / "stepping": paused by the user while the worker still finishes an iteration (a
#: Pause, or a Step's one iteration), so nodes may still arrive; "paused" once it waits
RunState = Literal["created", "running", "pausing", "stepping", "paused", "stopping", "finished"]
PAUSED_STATES = frozenset({"pausing", "stepping", "paused"})


class SearchLike(Protocol):
    """The part of ``backend.search.base.Search`` a Run uses."""

    @property
    def log(self) -> ev.EventLog: ...

    @property
    def done(self) -> bool: ...

    def start(self) -> None: ...

    def step(self) -> list[ev.Event]: ...

    def request_stop(self) -> None: ...

    def finish(
        self,
        *,
        status: str | None = None,
        reference: str | None = None,
        correct: bool | None = None,
        error: str | None = None,
    ) -> ev.RunFinished: ...


class EventSink(Protocol):
    def append(self, run_id: str, event: ev.Event) -> None: ...


Grader = Callable[[str, str], bool]


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


class Run:
    """One search in a worker thread; see the module docstring for the control semantics."""

    def __init__(
        self,
        search: SearchLike,
        *,
        run_id: str,
        store: EventSink | None = None,
        reference: str | None = None,
        grade: Grader | None = None,
        paused: bool = False,
    ) -> None:
        self.search = search
        self.run_id = run_id
        self.log = search.log
        self.reference = reference
        self._grade = grade
        self._store = store
        self._cond = threading.Condition()
        self._paused = paused
        self._steps = 0
        self._stop = False
        self._actions: deque[Steer] = deque()
        self._state: RunState = "created"
        self._busy: str | None = None  # "go" or "step" while the worker is inside search.step()
        self._thread: threading.Thread | None = None
        self._stored = -1
        self._store_lock = threading.Lock()
        self.error: str | None = None
        self.store_error: str | None = None
        self.started_at = time.time()
        if store is not None:
            self.log.subscribe(self._persist)

    # --- recording ------------------------------------------------------------------

    def _persist(self, _event: ev.Event) -> None:
        """Copy every not-yet-stored event to the store, in seq order.

        Pulling from the log (instead of storing the event handed to us) keeps the store
        in seq order even if two threads ever emit at once.
        """
        with self._store_lock:
            for e in self.log.after(self._stored):
                try:
                    self._store.append(self.run_id, e)  # type: ignore[union-attr]
                except Exception as exc:  # the run goes on in memory; the UI shows why history is short
                    log.exception("run %s: could not store event %s", self.run_id, e.seq)
                    self.store_error = f"history not saved: {exc}"
                self._stored = e.seq

    # --- control (any thread) -------------------------------------------------------

    def start(self) -> Run:
        with self._cond:
            if self._thread is not None:
                return self
            self._state = "paused" if self._paused else "running"
            self._thread = threading.Thread(target=self._work, name=f"canopy-run-{self.run_id}", daemon=True)
        self._thread.start()
        return self

    def pause(self) -> None:
        self._control(lambda: setattr(self, "_paused", True))

    def resume(self) -> None:
        def go() -> None:
            self._paused, self._steps = False, 0

        self._control(go)

    def step(self) -> None:
        """Run exactly one more iteration, then stay paused (pauses a running search first)."""

        def one() -> None:
            self._paused = True
            self._steps += 1

        self._control(one)

    def stop(self) -> None:
        """Stop before the next engine call; the tree so far is kept."""
        with self._cond:
            if self._state == "finished":
                return
            self._stop = True
            self._state = "stopping"
            self._cond.notify_all()
        self.search.request_stop()

    def act(self, action: str, node: int | None = None, *, text: str = "", code: str | None = None) -> None:
        """Queue a steering action (prune/expand/force a node, add_step: ``text``/``code`` as
        a new child) for the worker to apply and record between iterations
        (``backend/steering.py``: the same code a replay of the run uses)."""
        if action not in STEERING:
            raise ValueError(f"unknown steering action {action!r}; choices: {', '.join(sorted(STEERING))}")
        with self._cond:
            self._actions.append(Steer(action, node, text, code))
            self._cond.notify_all()

    def _control(self, change: Callable[[], None]) -> None:
        with self._cond:
            if self._state in ("finished", "stopping"):
                return
            change()
            self._cond.notify_all()

    @property
    def state(self) -> RunState:
        with self._cond:
            if self._state in ("running", "paused"):
                if not (self._paused and self._steps == 0):
                    return "running"
                if self._busy is None:
                    return "paused"
                return "stepping" if self._busy == "step" else "pausing"
            return self._state

    @property
    def finished(self) -> bool:
        return self.state == "finished"

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the worker ends (True) or ``timeout`` passes (False)."""
        if self._thread is None:
            return False
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # --- the worker -----------------------------------------------------------------

    def _emit_action(self, action: str, node: int | None = None) -> None:
        self.log.emit(ev.UserAction, action=action, node=node)

    def _next_command(self, announced_pause: bool) -> tuple[str, bool]:
        """Wait until there is something to do: 'stop', 'step', 'go' (running), or 'act'."""
        with self._cond:
            while True:
                if self._actions:
                    return "act", announced_pause
                if self._stop:
                    return "stop", announced_pause
                if not self._paused:
                    return "go", announced_pause
                if not announced_pause:
                    return "pause", True
                if self._steps > 0:
                    self._steps -= 1
                    return "step", announced_pause
                self._cond.wait()

    def _work(self) -> None:
        try:
            self.search.start()
            paused_announced = False
            while True:
                cmd, paused_announced = self._next_command(paused_announced)
                if cmd == "act":
                    with self._cond:
                        request = self._actions.popleft()
                    steering.apply(self.search, request)
                    continue
                if cmd == "pause":
                    self._emit_action("pause")
                    continue
                if cmd == "stop":
                    self._emit_action("stop")
                    break
                if paused_announced and cmd == "go":
                    self._emit_action("resume")
                    paused_announced = False
                elif cmd == "step":
                    self._emit_action("step")
                if self.search.done:
                    break
                with self._cond:
                    self._busy = cmd
                try:
                    self.search.step()
                finally:
                    with self._cond:
                        self._busy = None
                if self.search.done:
                    with self._cond:
                        stopped = self._stop
                    if stopped:  # the stop cut this iteration short: record who ended the run
                        self._emit_action("stop")
                    break
            self._finish()
        except Exception as exc:  # a failing search must still close its run, with the reason
            log.exception("run %s failed", self.run_id)
            self.error = f"{type(exc).__name__}: {exc}"
            self._finish(error=self.error)
        finally:
            with self._cond:
                self._state = "finished"
                self._cond.notify_all()

    def _finish(self, error: str | None = None) -> None:
        correct = None
        if error is None and self.reference and self._grade is not None:
            answer = getattr(self.search, "outcome", lambda: None)()
            answer = getattr(answer, "answer", None)
            if answer is not None:
                try:
                    correct = bool(self._grade(answer, self.reference))
                except Exception:  # grading is best effort; the run's own result stands
                    log.exception("run %s: grading failed", self.run_id)
        try:
            if error is not None:
                self.search.finish(status="error", error=error, reference=self.reference)
            else:
                self.search.finish(reference=self.reference, correct=correct)
        except Exception as exc:  # finish itself failed (e.g. the search never started)
            log.exception("run %s: finish failed", self.run_id)
            if not any(isinstance(e, ev.RunFinished) for e in self.log.after(len(self.log) - 2)):
                if len(self.log) == 0:
                    return  # nothing was ever emitted: there is no run to close
                self.log.emit(ev.RunFinished, status="error", error=error or f"{type(exc).__name__}: {exc}")


class RunManager:
    """Live runs by id (so a refreshed page re-attaches) and the store behind them."""

    def __init__(self, store: Any, *, max_live: int = 4) -> None:
        self.store = store
        self.max_live = max_live
        self._runs: dict[str, Run] = {}
        self._lock = threading.Lock()

    def start(
        self,
        build: Callable[[str], SearchLike],
        *,
        reference: str | None = None,
        grade: Grader | None = None,
        paused: bool = False,
        run_id: str | None = None,
    ) -> Run:
        """Build a search for a new run id (``build(run_id)``) and start it in its thread."""
        self.forget_finished()  # a long-lived server must not keep every old run's events in memory
        with self._lock:
            live = [r for r in self._runs.values() if not r.finished]
            if len(live) >= self.max_live:
                raise RuntimeError(
                    f"{len(live)} searches are already running (the limit is {self.max_live}); "
                    "stop one or wait for it to finish"
                )
        run_id = run_id or new_run_id()
        run = Run(
            build(run_id), run_id=run_id, store=self.store, reference=reference, grade=grade, paused=paused
        )
        with self._lock:
            self._runs[run_id] = run
        return run.start()

    def get(self, run_id: str | None) -> Run | None:
        if not run_id:
            return None
        with self._lock:
            return self._runs.get(run_id)

    def events(self, run_id: str, after: int = -1, limit: int | None = None) -> list[ev.Event]:
        """Events after ``after``: from memory while the run is live here, else from the store."""
        run = self.get(run_id)
        if run is not None:
            return run.log.after(after, limit)
        return self.store.read(run_id, after=after, limit=limit)

    def live_ids(self) -> list[str]:
        with self._lock:
            return [rid for rid, r in self._runs.items() if not r.finished]

    def forget_finished(self, older_than_s: float = 600.0) -> int:
        """Drop finished runs from memory (their events stay in the store)."""
        now = time.time()
        with self._lock:
            gone = [rid for rid, r in self._runs.items() if r.finished and now - r.started_at > older_than_s]
            for rid in gone:
                del self._runs[rid]
        return len(gone)

    def shutdown(self, timeout: float = 10.0) -> None:
        with self._lock:
            runs = list(self._runs.values())
        for r in runs:
            r.stop()
        for r in runs:
            r.wait(timeout)
