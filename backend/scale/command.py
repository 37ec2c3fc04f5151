"""What ``canopy eval --ray`` does between the flags and the report: join or start Ray, keep
finished problems beside the report, record every run in the history, and show one progress
bar over all workers (``backend/cli/search.py`` calls :func:`ray_eval`)."""

from __future__ import annotations

import functools
import hashlib
import os
import re
from pathlib import Path
from typing import Any

_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def results_path(report: Path | None, dataset: str, spec: Any) -> Path:
    """Beside the report (``<report>.results.jsonl``); without one, under the history folder,
    named by the dataset and a hash of the settings."""
    from backend.scale.results import results_beside
    from backend.store import default_home

    if report is not None:
        return results_beside(report)
    digest = hashlib.sha256(repr(sorted(spec.to_dict().items())).encode()).hexdigest()[:12]
    return default_home() / "results" / f"{_SAFE.sub('_', Path(dataset).name)}-{digest}.jsonl"


def ray_eval(
    console: Any, problems: list, dataset: str, spec: Any, *, address: str | None, workers: int,
    threads: int | None = None, report: Path | None = None, gpus: float = 0.0, timeout_s: float | None = None,
) -> Any:
    """The eval report of ``problems`` run on Ray workers (``gpus`` GPUs each; ``timeout_s``:
    the most one problem may take), under a progress bar."""
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from backend.scale.cluster import ray_cluster, refuse_gpuless
    from backend.scale.ray_eval import ray_evaluate_spec, spec_engine
    from backend.store import open_store

    refuse_gpuless(spec.engine, gpus)  # before Ray starts
    kept = results_path(report, dataset, spec)
    if threads is None and address is None:  # a local Ray: the workers share this machine's cores
        threads = max(1, (os.cpu_count() or 1) // workers)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    store = open_store()
    what = escape(f"{spec.algorithm} on {dataset} · {workers} Ray workers")  # a path: never markup
    try:
        with ray_cluster(address, workers), Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task(what, total=len(problems))
            right = [0, 0]

            def on_result(prob: Any, row: dict[str, Any]) -> None:
                right[0] += bool(row["correct"])
                right[1] += 1
                mark = "[green]✓[/]" if row["correct"] else "[red]✗[/]"
                said = (f"failed: {row['error']}" if row.get("error") else
                        f"answer {row['answer']} · reference {prob.answer} · "
                        f"{row['tokens']} tokens · {row['wall_s']:.1f} s · run {row['run_id']}")
                bar.console.print(mark + escape(f" {prob.id}: {said}"), highlight=False)
                bar.update(task, advance=1, description=f"{what} · {right[0]}/{right[1]} right")

            rep, stats = ray_evaluate_spec(
                problems, spec, workers=workers, dataset=dataset, results=kept, store=store,
                on_result=on_result, engine_factory=functools.partial(spec_engine, threads=threads),
                num_gpus=gpus, timeout_s=timeout_s,
            )
    finally:
        store.close()
    console.print(_summary(stats, len(problems), workers, kept) + (
        store.notice or f"each run is in the history {getattr(store, 'path', '')} (canopy runs)"
    ), markup=False, highlight=False)
    return rep


def _summary(stats: Any, total: int, workers: int, kept: Path) -> str:
    """What the pool did, in one line: run, skipped, retried, failed, and a pool the cluster cut."""
    ran = stats.submitted - stats.retried
    line = (f"ray: {ran} problem(s) run on {stats.actors} worker(s), {total - ran} already finished in "
            f"{kept}, {stats.retried} retried after a worker died or hung ({stats.timed_out} past the "
            "time limit); ")
    if stats.failed:
        line += f"{stats.failed} failed on every try (not kept: the next run tries them again); "
    if stats.width and stats.width < workers:
        line += f"the cluster fits {stats.width} of the {workers} worker(s) asked at once; "
    return line
