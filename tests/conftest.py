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


@pytest.fixture(scope="session", autouse=True)
def _entry_points_find_no_machine_ppm(tmp_path_factory):
    """No test reads a PPM someone trained on this machine. The library takes the PPM
    directory as an argument (``RunSpec.ppm``); only the entry points (``canopy solve`` /
    ``eval`` without ``--ppm``, the app's start) look up the default ($CANOPY_PPM, else the
    cache's ppm/), and tests call those too: for the session that default is an empty folder.
    Nothing writes the environment any more, so setting it once is enough."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CANOPY_PPM", str(tmp_path_factory.mktemp("no-ppm-here")))
        yield
