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
