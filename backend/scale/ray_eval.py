"""``canopy eval --ray``: a problem set spread over Ray workers, into the same report.

Problem ``i`` runs as ``spec.fork(problem=..., reference=..., seed=spec.seed + i)``, exactly
as ``backend/solve.py: evaluate_spec`` runs it, but on a worker that built its own engine
from the RunSpec (``engine_factory``; by default the spec's engine, model and options). Each
finished problem comes back as its report line (``solve.result_row``) and its events as
Canopy JSON Lines: the line is appended to the results file (a rerun skips it), the events
go into the history store (the page opens any worker's run), ``on_result`` moves a progress
bar. The report is the in-process eval's ``EvalReport``, in the problems' order.

A problem whose search raised, or whose worker died or hung (``timeout_s``) on every try, is
a failed line in the report (``status`` ``error``, the reason in ``error``, no run;
``solve.error_row``) and is not kept in the results file, so the next run tries it again.
"""

from __future__ import annotations

import functools
import io
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from backend.scale.pool import PoolStats, run_jobs
from backend.scale.results import ResultsFile, result_key

EngineFactory = Callable[[Any], Any]  # RunSpec -> loaded engine
OnResult = Callable[[Any, dict[str, Any]], None]  # (problem, report line)


def spec_engine(spec: Any, threads: int | None = None) -> Any:
    """The engine a RunSpec names, with its options (``threads``: llama.cpp's ``n_threads``)."""
    from backend.engines import load_engine

    options = dict(spec.engine_options)
    if threads and spec.engine == "llamacpp":
        options.setdefault("n_threads", threads)
    return load_engine(spec.engine, spec.model, **options)


Job = dict[str, Any]


def _solver(engine_factory: EngineFactory, spec: dict[str, Any]) -> Callable[[Job], Job]:
    """On a worker: load the engine once, then solve one problem per call."""
    from backend import events as ev
    from backend.problems import Problem
    from backend.runspec import RunSpec
    from backend.solve import result_row, solve_spec

    engine = engine_factory(RunSpec.from_dict(spec))

    def solve_one(job: Job) -> Job:
        one = RunSpec.from_dict(job["spec"])
        problem = Problem(**job["problem"])
        try:
            res = solve_spec(one, engine=engine)
        except Exception as exc:  # that problem's error line, as in-process (solve.evaluate_spec)
            return {"error": f"{type(exc).__name__}: {exc}"}
        text = io.StringIO()
        ev.write_jsonl(res.events, text, algorithm=one.algorithm)
        return {"row": {**result_row(problem, res), "run_id": res.run_id}, "reward": res.reward,
                "events": text.getvalue()}

    return solve_one


def ray_evaluate_spec(
    problems: Sequence[Any],
    spec: Any,
    *,
    workers: int,
    dataset: str = "",
    results: str | Path | None = None,
    store: Any = None,
    on_result: OnResult | None = None,
    engine_factory: EngineFactory = spec_engine,
    max_retries: int = 2,
    num_gpus: float = 0.0,
    timeout_s: float | None = None,
) -> tuple[Any, PoolStats]:
    """(the eval report, what the pool did). Needs Ray initialised (``cluster.ray_cluster``).
    ``results``: the results file (finished problems are skipped and not sent to a worker);
    ``store``: the history the runs' events are imported into; ``num_gpus``: each worker's
    GPUs; ``timeout_s``: the most one problem may take on a worker (None: no limit)."""
    from backend import events as ev
    from backend.runspec import search_config
    from backend.scale.cluster import refuse_gpuless
    from backend.search.config import config_dict
    from backend.solve import EvalReport, error_row

    cfg = search_config(spec)  # a bad setting fails before a worker starts
    refuse_gpuless(spec.engine, num_gpus)  # before any work, not on every worker
    t0 = time.monotonic()
    ones = [
        spec.fork(problem=p.question, reference=p.answer, seed=spec.seed + i) for i, p in enumerate(problems)
    ]
    keys = [result_key(one, p.id) for one, p in zip(ones, problems, strict=True)]
    kept = ResultsFile(results) if results is not None else None
    done = kept.finished() if kept is not None else {}
    done = {k: done[k] for k in keys if k in done}
    problem_of = dict(zip(keys, problems, strict=True))
    for key in done:
        if on_result is not None:
            on_result(problem_of[key], done[key]["row"])

    def finished(key: Any, out: dict[str, Any]) -> None:
        if "error" in out:  # the search raised on the worker: an error line, tried again next run
            failed(key, out["error"])
            return
        _header, events = ev.read_jsonl(io.StringIO(out["events"]))  # checked like any imported file
        value = {"row": out["row"], "reward": out["reward"]}
        if store is not None:
            store.import_events(out["row"]["run_id"], events)
        if kept is not None:
            kept.add(key, value)
        done[key] = value
        if on_result is not None:
            on_result(problem_of[key], out["row"])

    jobs = [
        (key, {"spec": one.to_dict(), "problem": _problem_dict(p)})
        for key, one, p in zip(keys, ones, problems, strict=True)
        if key not in done
    ]
    def failed(key: Any, reason: str) -> None:  # not kept: the next run tries it again
        row = error_row(problem_of[key], reason)
        done[key] = {"row": row, "reward": None}
        if on_result is not None:
            on_result(problem_of[key], row)

    setup = functools.partial(_solver, engine_factory, spec.to_dict())
    stats = run_jobs(jobs, setup, workers=workers, on_done=finished, on_failed=failed,
                     max_retries=max_retries, num_gpus=num_gpus, timeout_s=timeout_s)
    rows = [done[k]["row"] for k in keys]
    rewards = [done[k]["reward"] for k in keys if done[k]["reward"] is not None]
    reward = rewards[-1] if rewards else spec.reward
    report = EvalReport(spec.algorithm, dataset, reward, config_dict(cfg), rows, time.monotonic() - t0)
    return report, stats


def _problem_dict(problem: Any) -> dict[str, Any]:
    return {"id": problem.id, "dataset": problem.dataset, "question": problem.question,
            "answer": problem.answer, "meta": dict(problem.meta)}
