"""A pool of Ray actors that run jobs and stream their results back as they finish.

Each actor builds its job runner with ``setup()`` once, before its first job (an engine loads
once per worker, not once per problem). A job is lost when its worker dies (a killed process,
a lost node: Ray's ``RayActorError``) or runs past ``timeout_s`` (a server that never answers,
a deadlock: the actor is killed); a lost job goes back to the front of the queue for another
worker and a fresh actor replaces the lost one, up to ``max_retries`` times per job; after
that the job is given to ``on_failed`` with the reason (without it the pool raises). A job
that raises (a bad setting, a search error) fails the pool as it would fail the in-process
loop. The pool holds at most as many actors as the cluster fits at once
(``cluster.workers_that_fit``): one asked beyond that would wait forever, with its job.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from backend.scale.cluster import workers_that_fit


@dataclass
class PoolStats:
    """What the pool did: jobs sent to workers (retries included), jobs given again after
    they were lost, actors started, jobs that ran past their time, jobs given up, and the
    pool's size (what the cluster fits of the workers asked)."""

    submitted: int = 0
    retried: int = 0
    actors: int = 0
    timed_out: int = 0
    failed: int = 0
    width: int = 0


class _Worker:
    """The actor: the job runner ``setup`` builds, kept for the actor's life."""

    def __init__(self, setup: Callable[[], Callable[[Any], Any]]) -> None:
        self._setup = setup
        self._run: Callable[[Any], Any] | None = None

    def ready(self) -> None:
        """Build the runner (load the engine), so a job's time is the job's own."""
        if self._run is None:
            self._run = self._setup()

    def run(self, payload: Any) -> Any:
        self.ready()
        return self._run(payload)  # type: ignore[misc]


@dataclass
class _Job:
    key: Hashable
    payload: Any
    attempt: int = 0
    actor: Any = None
    started: float = 0.0


class _Pool:
    """The actors and the jobs: who is loading, who is idle, what runs where since when."""

    def __init__(self, remote: Any, setup: Callable[[], Any], stats: PoolStats, max_retries: int,
                 on_failed: Callable[[Hashable, str], None] | None) -> None:
        self.remote, self.setup, self.stats = remote, setup, stats
        self.max_retries, self.on_failed = max_retries, on_failed
        self.actors: list[Any] = []
        self.loading: dict[Any, Any] = {}  # ready() ref -> actor
        self.idle: list[Any] = []
        self.running: dict[Any, _Job] = {}  # run() ref -> job
        self.queue: collections.deque[_Job] = collections.deque()
        self.load_deaths = 0

    def start(self) -> None:
        actor = self.remote.remote(self.setup)
        self.stats.actors += 1
        self.actors.append(actor)
        self.loading[actor.ready.remote()] = actor

    def submit(self) -> None:
        while self.queue and self.idle:
            job = self.queue.popleft()
            job.actor, job.started = self.idle.pop(), time.monotonic()
            self.running[job.actor.run.remote(job.payload)] = job
            self.stats.submitted += 1

    def wait_s(self, timeout_s: float | None) -> float | None:
        """How long to wait for a result before the oldest running job runs past its time."""
        if timeout_s is None or not self.running:
            return None
        oldest = min(job.started for job in self.running.values())
        return max(0.0, oldest + timeout_s - time.monotonic())

    def lost(self, job: _Job, reason: str, kill: Any) -> None:
        """A job whose worker died or hung: the worker is killed and replaced, the job given
        again, or, after ``max_retries`` retries, given up with ``reason``."""
        kill(job.actor)
        if job.attempt >= self.max_retries:
            self.stats.failed += 1
            why = f"{reason} (tried {job.attempt + 1} times)" if job.attempt else f"{reason} (tried once)"
            if self.on_failed is None:
                raise RuntimeError(f"job {job.key}: {why}")
            self.on_failed(job.key, why)
        else:
            self.queue.appendleft(_Job(job.key, job.payload, job.attempt + 1))
            self.stats.retried += 1
        if self.queue:
            self.start()


def run_jobs(
    jobs: Sequence[tuple[Hashable, Any]],
    setup: Callable[[], Callable[[Any], Any]],
    *,
    workers: int,
    on_done: Callable[[Hashable, Any], None],
    on_failed: Callable[[Hashable, str], None] | None = None,
    max_retries: int = 2,
    num_gpus: float = 0.0,
    timeout_s: float | None = None,
) -> PoolStats:
    """Run ``(key, payload)`` jobs on ``workers`` actors (one CPU each, ``num_gpus`` GPUs);
    ``on_done(key, result)`` is called here, in this process, as each one finishes;
    ``timeout_s``: the most one job may take on a worker (None: no limit)."""
    import ray
    from ray.exceptions import RayActorError

    stats = PoolStats()
    if not jobs:
        return stats
    stats.width = workers_that_fit(ray, min(workers, len(jobs)), num_gpus)
    remote = ray.remote(num_cpus=1, num_gpus=num_gpus, max_restarts=0)(_Worker)
    pool = _Pool(remote, setup, stats, max_retries, on_failed)
    pool.queue.extend(_Job(key, payload) for key, payload in jobs)
    try:
        for _ in range(stats.width):
            pool.start()
        while pool.queue or pool.running:
            pool.submit()
            ready, _ = ray.wait([*pool.loading, *pool.running], num_returns=1, timeout=pool.wait_s(timeout_s))
            if not ready:  # the oldest job ran past its time: its worker hangs
                now = time.monotonic()
                for ref, job in list(pool.running.items()):
                    if now - job.started >= timeout_s:  # type: ignore[operator]
                        del pool.running[ref]
                        stats.timed_out += 1
                        pool.lost(job, f"ran past the {timeout_s:g} s limit", ray.kill)
                continue
            (ref,) = ready
            if ref in pool.loading:
                actor = pool.loading.pop(ref)
                try:
                    ray.get(ref)  # an engine that fails to load raises here, as in-process
                except RayActorError as exc:
                    pool.load_deaths += 1
                    if pool.load_deaths > stats.width * (max_retries + 1):
                        why = _first_line(exc)
                        raise RuntimeError(f"workers keep dying while they load: {why}") from None
                    ray.kill(actor)
                    pool.start()
                    continue
                pool.idle.append(actor)
                continue
            job = pool.running.pop(ref)
            try:
                result = ray.get(ref)
            except RayActorError as exc:
                pool.lost(job, f"its worker died ({_first_line(exc)})", ray.kill)
                continue
            pool.idle.append(job.actor)
            on_done(job.key, result)
    finally:
        for actor in pool.actors:
            ray.kill(actor)
    return stats


def _first_line(exc: BaseException) -> str:
    """Ray's errors run to many lines (the actor's id, its node, its log); the first says why."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
