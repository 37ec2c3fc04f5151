"""What every search shares: per-run state, the step lifecycle, budgets, timed generation.

A search object is one run. Its per-run state lives in a :class:`SearchRun` (ids, the
seed, counters, the stop flag, the event log): no class-level counters, so two
runs in one process (two browser sessions) never share anything.

Lifecycle, the same for every algorithm (MCTS, baselines, LIPS and CPL):

    search = RStarSearch(problem, engine=engine, config=cfg, reward=VoteReward(), seed=0)
    search.start()            # run_started + the root node
    while not search.done:    # a caller may pause here, steer, or call request_stop()
        search.step()         # one iteration; returns the events it emitted
    search.finish(reference=gold, correct=verdict)   # run_finished (grading is the caller's)

``run()`` is exactly that loop. ``request_stop()`` may be called from another thread; it is
checked between iterations and before every engine call.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from backend import events as ev
from backend.engines.base import Completion, Engine
from backend.engines.cancel import CallFlag, GenerationCancelled, cancellable
from backend.prompt_room import MIN_ROOM_TOKENS, prompt_fits
from backend.search.config import config_dict


class Stopped(Exception):
    """Raised inside an iteration when a stop was requested or a budget ran out mid-way.

    ``partial``: when a stop ended an engine call early, per prompt the completions that had
    finished before it (an algorithm may keep them: self-consistency keeps its samples)."""

    def __init__(self, partial: list[list[Completion]] | None = None) -> None:
        super().__init__("stopped")
        self.partial = partial or []


@dataclass
class SearchRun:
    """Everything that belongs to one run and nothing that belongs to the algorithm."""

    run_id: str
    problem: str
    seed: int
    log: ev.EventLog
    t0: float = field(default_factory=time.monotonic)
    iteration: int = 0
    next_id: int = 0
    tokens: int = 0
    engine_calls: int = 0
    gen_s: float = 0.0
    exec_s: float = 0.0
    verify_s: float = 0.0
    started: bool = False
    finished: ev.RunFinished | None = None
    #: the run's RunSpec as a dict, written into run_started (``backend/runspec.py``)
    spec: dict[str, Any] | None = None
    stop_flag: threading.Event = field(default_factory=threading.Event)

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def call_seed(self, *keys: int) -> int:
        """A per-call engine seed derived from the run seed and the call's position.

        numpy is imported here, not at the top: importing a search (the CLI, the web app's
        start) should not pay for numpy, and SeedSequence's hash has no stdlib twin.
        """
        from numpy.random import SeedSequence

        return int(SeedSequence([self.seed, *keys]).generate_state(1)[0] & 0x7FFFFFFF)


@dataclass(frozen=True)
class Outcome:
    """The run's choice: final answer (a vote key), the path that states it, the votes."""

    answer: str | None
    best_path: list[int]
    votes: dict[str, float] = field(default_factory=dict)
    answer_node: int | None = None


class Search:
    """Base class: lifecycle, budgets and timed, stoppable generation. Subclasses implement
    ``_start`` (emit the root), ``_iterate`` (one iteration) and ``outcome``."""

    name: ClassVar[str] = "search"
    description: ClassVar[str] = ""
    Config: ClassVar[type]
    presets: ClassVar[dict[str, dict[str, Any]]] = {}
    default_preset: ClassVar[str | None] = None
    #: rewards this algorithm can run with (the first is its default)
    rewards: ClassVar[tuple[str, ...]] = ("vote",)

    def __init__(
        self,
        problem: str,
        *,
        engine: Engine,
        config: Any = None,
        reward: Any = None,
        seed: int = 0,
        log: ev.EventLog | None = None,
        run_id: str | None = None,
        spec: dict[str, Any] | None = None,
    ) -> None:
        if not isinstance(problem, str) or not problem.strip():
            raise ValueError("the problem is empty: give the text of a math problem")
        from backend.reward.vote import VoteReward

        self.engine = engine
        self.config = config if config is not None else self.Config()
        self.reward = reward if reward is not None else VoteReward()
        if self.reward.name not in self.rewards:
            raise ValueError(
                f"{self.name} cannot use reward '{self.reward.name}'; choices: {', '.join(self.rewards)}"
            )
        self.state = SearchRun(
            run_id=run_id or uuid.uuid4().hex[:12],
            problem=problem.strip(),
            seed=int(seed),
            log=log if log is not None else ev.EventLog(),
            spec=spec,
        )

    # --- lifecycle ------------------------------------------------------------------

    @property
    def log(self) -> ev.EventLog:
        return self.state.log

    def emit(self, cls: type[ev.E], **fields: Any) -> ev.E:
        return self.state.log.emit(cls, **fields)

    def start(self) -> None:
        if self.state.started:
            return
        self.state.started = True
        self.state.t0 = time.monotonic()
        info = getattr(self.engine, "info", None)
        engine = {"name": getattr(info, "name", "?"), "model": getattr(info, "model", "?")}
        servers = (getattr(info, "details", None) or {}).get("servers")
        if servers:  # an OpenAI-compatible engine's base URLs: where the run's text came from
            engine["servers"] = list(servers)
        self.emit(
            ev.RunStarted,
            run_id=self.state.run_id,
            algorithm=self.name,
            problem=self.state.problem,
            config=config_dict(self.config),
            engine=engine,
            reward=self.reward.name,
            spec=self.state.spec,
        )
        self._start()

    def step(self) -> list[ev.Event]:
        """Run one iteration and return the events it emitted ([] when done)."""
        if not self.state.started:
            self.start()
        if self.done:
            return []
        before = len(self.state.log)
        with contextlib.suppress(Stopped):  # a stop or a budget cut the iteration short
            self._iterate()
        return self.state.log.after(before - 1)

    def request_stop(self) -> None:
        """Ask the run to stop; honoured between iterations and before each engine call."""
        self.state.stop_flag.set()

    @property
    def stopped(self) -> bool:
        return self.state.stop_flag.is_set()

    @property
    def done(self) -> bool:
        return self.state.finished is not None or self.stopped or self.exhausted() is not None

    def exhausted(self) -> str | None:
        """Why the budget is spent ("tokens", "time", ...), or None while work remains."""
        budget = getattr(self.config, "token_budget", 0)
        if budget and self.state.tokens >= budget:
            return "tokens"
        limit = getattr(self.config, "time_limit_s", 0)
        if limit and self.state.started and self.state.elapsed() >= limit:
            return "time"
        return self._exhausted()

    def run(self) -> ev.RunFinished:
        """Start, step until done, finish (ungraded: callers that know the answer use finish)."""
        self.start()
        while not self.done:
            self.step()
        return self.finish()

    def finish(
        self,
        *,
        status: ev.FinishStatus | None = None,
        reference: str | None = None,
        correct: bool | None = None,
        error: str | None = None,
    ) -> ev.RunFinished:
        """Emit run_finished once. Grading (reference/correct) comes from the caller."""
        if self.state.finished is not None:
            return self.state.finished
        if not self.state.started:
            self.start()
        out = self.outcome()
        if status is None:
            status = "stopped" if self.stopped else ("solved" if out.answer is not None else "exhausted")
        self.state.finished = self.emit(
            ev.RunFinished,
            status=status,
            answer=out.answer,
            best_path=out.best_path,
            stats=self.stats(),
            reference=reference,
            correct=correct,
            error=error,
        )
        return self.state.finished

    def stats(self) -> dict[str, Any]:
        s = self.state
        wall = s.elapsed()
        return {
            "tokens": s.tokens,
            "wall_s": round(wall, 3),
            "gen_s": round(s.gen_s, 3),
            "exec_s": round(s.exec_s, 3),
            "verify_s": round(s.verify_s, 3),
            "iterations": s.iteration,
            "nodes": s.next_id,
            "engine_calls": s.engine_calls,
            "tokens_per_s": round(s.tokens / s.gen_s, 2) if s.gen_s > 0 else 0.0,
            "budget": self.exhausted(),
        }

    # --- helpers for subclasses -----------------------------------------------------

    def _deadline(self) -> float | None:
        """When the time limit ends, in ``time.monotonic()`` seconds (None: no limit)."""
        limit = getattr(self.config, "time_limit_s", 0)
        return self.state.t0 + limit if limit and self.state.started else None

    def check_stop(self) -> None:
        if self.stopped or self.exhausted() in ("tokens", "time"):
            raise Stopped()

    def generate(
        self, prompts: Sequence[str], *, n: int, seed: int, **sampling: Any
    ) -> list[list[Completion]]:
        """One engine call, timed and counted; refuses to start once a stop is requested or the
        time limit has passed, and either one during the call ends it early where the engine
        can (backend/engines/cancel.py): the time limit holds to within one decoding step.

        A prompt longer than the model reads is not sent: its row comes back empty (an rStar or
        CPL node with no children ends there; a LIPS rewrite is refused) and a warning Note says
        so. A context grows with the search (a deep path, a rewritten goal: MO-INT P19's 6,847
        tokens), and the engine's refusal used to end the whole run, or a whole eval."""
        self.check_stop()
        fits = [prompt_fits(self.engine, p, MIN_ROOM_TOKENS) for p in prompts]
        if not all(fits):
            message = (f"{fits.count(False)} of {len(fits)} prompts not sent: longer than the model reads "
                       f"({self.engine.n_ctx:,} tokens)")
            self.emit(ev.Note, level="warning", message=message)
            if not any(fits):
                return [[] for _ in prompts]
            sent = self.generate([p for p, ok in zip(prompts, fits, strict=True) if ok], n=n, seed=seed,
                                 **sampling)
            rows = iter(sent)
            return [next(rows) if ok else [] for ok in fits]
        t = time.monotonic()
        try:
            with cancellable(CallFlag(self.state.stop_flag, self._deadline())):
                out = self.engine.generate(list(prompts), n=n, seed=seed, **sampling)
        except GenerationCancelled as exc:
            self.state.gen_s += time.monotonic() - t
            self.state.engine_calls += 1
            self.state.tokens += exc.spent_tokens  # cut samples cost tokens too
            raise Stopped(exc.finished) from None
        self.state.gen_s += time.monotonic() - t
        self.state.engine_calls += 1
        # an engine may answer greedy n > 1 with n references to one completion: count it once
        distinct = {id(c): c for row in out for c in row}
        self.state.tokens += sum(c.tokens for c in distinct.values())
        return out

    # --- what subclasses implement --------------------------------------------------

    def _start(self) -> None:
        raise NotImplementedError

    def _iterate(self) -> None:
        raise NotImplementedError

    def _exhausted(self) -> str | None:
        return None

    def outcome(self) -> Outcome:
        raise NotImplementedError
