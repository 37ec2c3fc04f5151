"""A pool of Ray actors that run jobs and stream their results back as they finish.

Each actor calls ``setup()`` once, on its first job (an engine loads once per worker, not
once per problem), then runs every job it is given with what ``setup`` returned. A job whose
worker dies (a killed process, a lost node: Ray's ``RayActorError``) goes back to the front
of the queue for another worker, and a fresh actor replaces the dead one, up to
``max_retries`` times per job. A job that raises (a bad setting, a search error) fails the
pool as it would fail the in-process loop.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass
class PoolStats:
    """What the pool did: jobs sent to workers (retries included), jobs given again after
    their worker died, actors started."""

    submitted: int = 0
    retried: int = 0
    actors: int = 0


class _Worker:
    """The actor: the job runner ``setup`` builds, kept for the actor's life."""

    def __init__(self, setup: Callable[[], Callable[[Any], Any]]) -> None:
        self._setup = setup
        self._run: Callable[[Any], Any] | None = None

    def run(self, payload: Any) -> Any:
        if self._run is None:
            self._run = self._setup()
        return self._run(payload)


def run_jobs(
    jobs: Sequence[tuple[Hashable, Any]],
    setup: Callable[[], Callable[[Any], Any]],
    *,
    workers: int,
    on_done: Callable[[Hashable, Any], None],
    max_retries: int = 2,
    num_gpus: float = 0.0,
) -> PoolStats:
    """Run ``(key, payload)`` jobs on ``workers`` actors (one CPU each, ``num_gpus`` GPUs);
    ``on_done(key, result)`` is called here, in this process, as each one finishes."""
    import ray
    from ray.exceptions import RayActorError

    stats = PoolStats()
    if not jobs:
        return stats
    remote = ray.remote(num_cpus=1, num_gpus=num_gpus, max_restarts=0)(_Worker)

    def start() -> Any:
        stats.actors += 1
        return remote.remote(setup)

    actors = [start() for _ in range(min(workers, len(jobs)))]
    idle = list(actors)
    queue = collections.deque((key, payload, 0) for key, payload in jobs)
    running: dict[Any, tuple[Any, Hashable, Any, int]] = {}
    try:
        while queue or running:
            while queue and idle:
                actor = idle.pop()
                key, payload, attempt = queue.popleft()
                running[actor.run.remote(payload)] = (actor, key, payload, attempt)
                stats.submitted += 1
            (ref,), _ = ray.wait(list(running), num_returns=1)
            actor, key, payload, attempt = running.pop(ref)
            try:
                result = ray.get(ref)
            except RayActorError as exc:
                if attempt >= max_retries:
                    raise RuntimeError(
                        f"job {key} lost its worker {attempt + 1} times; last: {exc}"
                    ) from None
                queue.appendleft((key, payload, attempt + 1))
                stats.retried += 1
                ray.kill(actor)
                replacement = start()
                actors.append(replacement)
                idle.append(replacement)
                continue
            idle.append(actor)
            on_done(key, result)
    finally:
        for actor in actors:
            ray.kill(actor)
    return stats
