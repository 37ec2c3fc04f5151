"""The search stage of ``canopy evolve --ray`` (rStar-Math's rounds and CPL's): each training
problem's truth search on a Ray worker, its events file written here.

``RayModels`` wraps the run's Models seam (``backend/evolve/models.py``): everything but the
search stage (SFT data, fine-tuning, the PPM or value head, the held-out evaluation) uses the
wrapped one in this process; ``search_trees`` sends the problems whose events file is missing
to workers, each of which builds its own Models (``worker_models``, e.g. ``LocalModels`` with
the run's engine and model) and runs ``backend/train/ppm_data.py: search_trees`` on one
problem, the in-process code itself, with the round's algorithm (``rstar`` or ``cpl``). The
gzipped file comes back as bytes and is written atomically under the round's ``trees/``, so a
rerun skips it as the in-process stage does and a worker needs no shared disk for its output
(a round's policy, PPM or value head is a path: workers on other machines need it at that
same path).
"""

from __future__ import annotations

import contextlib
import functools
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from backend.scale.cluster import ray_cluster
from backend.scale.pool import PoolStats, run_jobs


def _tree_searcher(
    worker_models: Callable[[], Any], policy: str | None, algorithm: str, config: dict[str, Any],
    ppm: str | None, seed: int,
) -> Callable[[dict[str, Any]], bytes]:
    """On a worker: the policy's engine, loaded once; then one problem's events file a call."""
    from backend.problems import Problem
    from backend.train.ppm_data import search_trees

    engine = worker_models().engine(policy)

    def search(problem: dict[str, Any]) -> bytes:
        with tempfile.TemporaryDirectory(prefix="canopy-search-") as tmp:
            one = [Problem(**problem)]
            (path,) = search_trees(one, tmp, engine=engine, algorithm=algorithm, config=config, ppm=ppm,
                                   seed=seed)
            return path.read_bytes()

    return search


class RayModels:
    """The Models seam with a distributed search stage (see the module's docstring)."""

    def __init__(
        self, inner: Any, worker_models: Callable[[], Any], *, address: str | None, workers: int,
        num_gpus: float = 0.0, timeout_s: float | None = None, max_retries: int = 2,
    ) -> None:
        self.inner = inner
        self.worker_models = worker_models
        self.address, self.workers, self.num_gpus = address, workers, num_gpus
        self.timeout_s, self.max_retries = timeout_s, max_retries
        self.stats = PoolStats()
        self._ray = contextlib.ExitStack()
        self._joined = False
        self.threads = getattr(inner, "threads", None)

    def engine(self, policy: str | None) -> Any:
        return self.inner.engine(policy)

    def trainable(self, policy: str | None) -> tuple[Any, Any]:
        return self.inner.trainable(policy)

    def describe(self, policy: str | None) -> dict[str, Any]:
        return self.inner.describe(policy)

    def close(self) -> None:
        try:
            self.inner.close()
        finally:
            self._ray.close()

    def search_trees(
        self, policy: str | None, problems: Sequence[Any], out_dir: Path, *, config: Mapping[str, Any],
        ppm: str | None, seed: int, algorithm: str = "rstar",
        on_done: Callable[[Any, Path, Any], None] | None = None,
    ) -> list[Path]:
        """Every problem's events file (as ``ppm_data.search_trees`` returns them); the
        missing ones are searched on the workers."""
        from backend.train.ppm_data import tree_file

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for problem in problems:
            if problem.answer is None:
                raise ValueError(f"{problem.id} has no known answer: a truth-rewarded search needs one")
        by_id = {p.id: p for p in problems}
        jobs = []
        for problem in problems:
            if tree_file(out, problem).is_file():
                if on_done is not None:
                    on_done(problem, tree_file(out, problem), None)
            else:
                jobs.append((problem.id, {"id": problem.id, "dataset": problem.dataset,
                                          "question": problem.question, "answer": problem.answer}))

        def written(key: Any, data: bytes) -> None:
            path = tree_file(out, by_id[key])
            partial = path.with_name(path.name + ".partial")
            partial.write_bytes(data)
            partial.replace(path)  # a file that exists is a whole search
            if on_done is not None:
                on_done(by_id[key], path, None)

        if jobs:
            if not self._joined:
                self._ray.enter_context(ray_cluster(self.address, self.workers))
                self._joined = True
            setup = functools.partial(
                _tree_searcher, self.worker_models, policy, algorithm, dict(config), ppm, seed
            )
            failed: list[str] = []
            stats = run_jobs(
                jobs, setup, workers=self.workers, on_done=written, num_gpus=self.num_gpus,
                timeout_s=self.timeout_s, max_retries=self.max_retries,
                on_failed=lambda key, why: failed.append(f"{key}: {why}"),
            )
            for name in ("submitted", "retried", "actors", "timed_out", "failed"):
                setattr(self.stats, name, getattr(self.stats, name) + getattr(stats, name))
            if failed:  # the others' trees are written: a rerun searches only these
                raise RuntimeError(
                    f"{len(failed)} problem(s) of the search stage failed on every try "
                    f"({'; '.join(failed)}); the other trees are kept: the same command again retries them"
                )
        return [tree_file(out, p) for p in problems]
