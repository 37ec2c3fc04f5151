"""Shared fixtures for engine tests.

Thread counts are pinned here (an entrypoint), before torch or llama.cpp load:
on 2 cores an oversubscribed OpenMP pool costs 10x or more.
"""

from __future__ import annotations

import os

import pytest

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, str(min(8, len(os.sched_getaffinity(0)))))

from backend._optional import is_available  # noqa: E402


def _embedded_ready() -> bool:
    from backend.engines.embedded import EMBEDDED, find_parts, models_dir, read_marker

    cached = models_dir() / EMBEDDED.filename
    return (cached.is_file() and read_marker(cached) == EMBEDDED.sha256) or not any(
        fp.problem for fp in find_parts()
    )


requires_llamacpp = pytest.mark.skipif(
    not is_available("llama_cpp") or not _embedded_ready(),
    reason="needs llama-cpp-python and the embedded model's parts (pip install -e .)",
)


@pytest.fixture(scope="session")
def llama_engine():
    """The default engine over the embedded model, shared by all tests (loads in < 1 s)."""
    from backend.engines.llamacpp import LlamaCppEngine

    engine = LlamaCppEngine.load(None, max_batch=8, seed=0)
    yield engine
    engine.close()
