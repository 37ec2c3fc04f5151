"""Thread settings shared by the CPU engines.

Canopy targets small machines (2 vCPUs) that also run the verifier's sandboxes, a
browser and, in CI, other test runs. Two measured facts drive these helpers
(docs/MODELS.md): more compute threads than cores costs 10x or more, and OpenMP
threads that *spin* at barriers collapse when another process takes a core.
"""

from __future__ import annotations

import logging
import os
import sys

log = logging.getLogger(__name__)


def available_cores() -> int:
    """Cores this process may run on (affinity-aware, so containers and taskset count right)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def passive_openmp_wait(module: str) -> None:
    """Make OpenMP threads sleep at barriers instead of spinning, unless the user chose a policy.

    llama.cpp (ggml) meets its threads at a barrier after every op. With spinning
    waiters, one thread descheduled by another busy process stalls the other on every
    op: on 2 busy cores, 2 threads fell from ~7 to 0.7 tok/s, and passive waiting kept
    ~6 (docs/MODELS.md). libgomp reads OMP_WAIT_POLICY once, when it is loaded, so this
    must run before ``module`` (the library that loads it) is first imported.
    """
    if module in sys.modules:
        if "OMP_WAIT_POLICY" not in os.environ:
            log.debug("%s was imported before the engine loaded; OMP_WAIT_POLICY left at its default", module)
        return
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
