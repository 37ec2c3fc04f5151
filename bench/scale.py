"""Problems per minute through ``canopy eval --ray`` with 1 and 2 Ray workers (issue 21 item 4).

The same problems and the same RunSpec both ways, on a fresh local Ray with one CPU per
worker; each worker's llama.cpp engine gets ``--threads-per-worker`` threads (default 1: on
a shared 2-core machine 2 threads per engine crawl, docs/BENCHMARKS.md). Each worker loads
the embedded model once; that load is inside the timed wall, as it is in a real eval, and is
printed on its own. The answers of both runs are compared (they should agree: same seeds).

    python -m bench.scale --problems 6 --algo greedy
    python -m bench.scale --problems 4 --algo rstar --set rollouts=2 --set children=2
    python -m bench.scale --engine vllm --model Qwen/Qwen2.5-Math-1.5B-Instruct --gpus-per-worker 1  # GPUs
"""

from __future__ import annotations

import argparse
import functools
import os
import time

from backend.problems import load_problems
from backend.runspec import RunSpec
from backend.scale.cluster import ray_cluster
from backend.scale.ray_eval import ray_evaluate_spec, spec_engine


def timed_load(spec: RunSpec, threads: int) -> float:
    """Seconds one engine of the spec takes to load here (what each worker pays)."""
    t0 = time.monotonic()
    spec_engine(spec, threads=threads).close()
    return time.monotonic() - t0


def run(problems: list, spec: RunSpec, workers: int, threads: int, gpus: float) -> tuple[float, list]:
    """(wall seconds, answers) of one Ray eval on a fresh local Ray with ``workers`` CPUs and
    ``gpus`` GPUs per worker."""
    factory = functools.partial(spec_engine, threads=threads)
    with ray_cluster(None, workers):
        t0 = time.monotonic()
        report, stats = ray_evaluate_spec(problems, spec, workers=workers, engine_factory=factory,
                                          num_gpus=gpus)
        wall = time.monotonic() - t0
    assert stats.actors == stats.width, stats  # no worker lost
    if stats.width < min(workers, len(problems)):
        print(f"the cluster fit {stats.width} of {workers} worker(s) at {gpus:g} GPU(s) each")
    return wall, [r["answer"] for r in report.results]


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--problems", type=int, default=6)
    parser.add_argument("--dataset", default="gsm8k")
    parser.add_argument("--algo", default="greedy")
    parser.add_argument("--set", dest="sets", action="append", default=[], help="config KEY=VALUE")
    parser.add_argument("--threads-per-worker", dest="threads", type=int, default=1)
    parser.add_argument("--engine", default="llamacpp")
    parser.add_argument("--model", default=None, help="default: the embedded model")
    parser.add_argument("--gpus-per-worker", dest="gpus", type=float, default=0.0)
    args = parser.parse_args()

    config = dict(item.split("=", 1) for item in args.sets)
    spec = RunSpec(problem="", algorithm=args.algo, config=config, ppm="none", engine=args.engine,
                   model=args.model)
    problems = load_problems(args.dataset, args.problems)
    print(f"{len(problems)} {args.dataset} problems · {args.algo} {config or ''} · {args.threads} thread(s) "
          f"per engine · {args.engine} {args.model or ''} · {args.gpus:g} GPU(s) per worker · "
          f"{os.cpu_count()} cores · load average before {os.getloadavg()[0]:.2f}")
    if args.gpus == 0:  # a GPU engine loaded here would hold the GPU the workers need
        load_s = timed_load(spec, args.threads)
        print(f"one engine load here: {load_s:.1f} s (each worker pays one, inside the wall)")
    rates, answers = {}, {}
    for workers in (1, 2):
        wall, answers[workers] = run(problems, spec, workers, args.threads, args.gpus)
        rates[workers] = len(problems) / wall * 60
        print(f"{workers} worker(s): {wall:.1f} s · "
              f"{rates[workers]:.2f} problems/min · load average {os.getloadavg()[0]:.2f}")
    print(f"ratio 2 workers / 1 worker: {rates[2] / rates[1]:.2f} · "
          f"same answers: {answers[1] == answers[2]} ({answers[1]} vs {answers[2]})")


if __name__ == "__main__":
    main()
