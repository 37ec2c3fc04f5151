"""Fixtures shared across test folders."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def embedded_engine():
    """The default engine (llama.cpp) over the embedded model, loaded once for the model tests;
    skips where llama-cpp-python or the model is missing."""
    pytest.importorskip("llama_cpp")
    from backend.engines import load_engine

    try:
        eng = load_engine("llamacpp")
    except (ImportError, RuntimeError, ValueError, OSError) as exc:
        pytest.skip(f"embedded model not available: {exc}")
    yield eng
    eng.close()
