"""Joining a Ray cluster, or starting a local one, for the length of a command."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

#: what ``--ray`` alone means: a Ray instance started here, for this command
LOCAL = "local"


def ray_module() -> Any:
    """``ray``, or an ImportError naming the extra that installs it."""
    from backend._optional import require

    return require("ray", extra="scale")


@contextlib.contextmanager
def ray_cluster(address: str | None, workers: int) -> Iterator[Any]:
    """Ray, ready: already initialised (a test, a notebook) as it is; ``address`` None or
    ``local``: a local instance with ``workers`` CPUs, shut down afterwards; else the
    cluster at ``address`` (``auto``, ``HOST:6379``, ``ray://HOST:10001``), left running."""
    ray = ray_module()
    if ray.is_initialized():
        yield ray
        return
    if address in (None, "", LOCAL):
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    else:
        ray.init(address=address, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()


#: engines that cannot run without a GPU of their own on each worker
GPU_ENGINES = frozenset({"vllm"})


def refuse_gpuless(engine: str, gpus_per_worker: float) -> None:
    """A ValueError, before any work, for a GPU engine on workers that ask Ray for no GPU:
    Ray then reserves none and sets no ``CUDA_VISIBLE_DEVICES``, so every worker's engine
    would load onto the node's first GPU (vLLM takes 0.85 of its memory: the second fails)."""
    if engine in GPU_ENGINES and gpus_per_worker <= 0:
        raise ValueError(
            f"--engine {engine} on Ray workers needs a GPU each: give --ray-gpus-per-worker 1 "
            "(or a fraction, e.g. 0.5 for two workers per GPU), or serve the model once "
            "(vllm serve) and run the workers on --engine openai"
        )


def workers_that_fit(ray: Any, workers: int, gpus_per_worker: float = 0.0) -> int:
    """How many of ``workers`` actors (1 CPU and ``gpus_per_worker`` GPUs each) the cluster's
    live nodes hold at once, node by node (an actor cannot span two): one asked beyond that
    would wait forever for its resources, and so would the problem given to it. A ValueError
    when not even one fits."""
    fit = 0
    for node in ray.nodes():
        if not node.get("Alive", True):
            continue
        have = node.get("Resources", {})
        here = int(have.get("CPU", 0))
        if gpus_per_worker > 0:
            here = min(here, int(have.get("GPU", 0) / gpus_per_worker + 1e-9))
        fit += here
    if fit < 1:
        total = ray.cluster_resources()
        raise ValueError(
            f"this Ray cluster has {total.get('CPU', 0):g} CPU(s) and {total.get('GPU', 0):g} GPU(s): "
            f"no node holds one worker of 1 CPU and {gpus_per_worker:g} GPU(s)"
        )
    return min(workers, fit)
