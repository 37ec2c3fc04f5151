"""The OpenAI-compatible engine against a real server: ``python -m llama_cpp.server`` on the embedded model.

Slow (run with ``pytest -m slow tests/engines/test_openai_server.py``). Needs
llama-cpp-python's server extras (fastapi, uvicorn, sse-starlette,
starlette-context, pydantic-settings); skipped without them. The server is
started with extra buffer types off (see llamacpp.py) so it cannot hit the AMX
crash. llama_cpp.server ignores ``n`` (the engine then sends one request per
sample) and does not report which stop string ended a completion.
"""

from __future__ import annotations

import threading
import time

import pytest

from backend._optional import is_available
from tests.engines.conftest import requires_llamacpp
from tests.engines.contract import EngineContract
from tests.engines.llama_server import SERVER_DEPS, llama_server

pytestmark = [
    pytest.mark.model,
    pytest.mark.slow,  # a server process plus serialised requests: about a minute on 2 busy cores
    requires_llamacpp,
    pytest.mark.skipif(not all(map(is_available, SERVER_DEPS)), reason="needs llama-cpp-python[server]"),
]


@pytest.fixture(scope="module")
def server_url(tmp_path_factory):
    try:
        with llama_server(tmp_path_factory.mktemp("server")) as server:
            yield server.url
    except RuntimeError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="module")
def server_engine(server_url):
    from backend.engines.openai import OpenAIEngine

    return OpenAIEngine.load(None, base_url=server_url, timeout=120)


def test_real_server_samples_and_stops(server_engine):
    assert server_engine.model == "embedded-qwen"
    # llama_cpp.server lists itself as owned_by "me": its samplers get neutral values (its own defaults
    # are top_k 40, min_p 0.05, repeat_penalty 1.1), which it accepts
    assert server_engine.server_kind == "llama_cpp"
    prompt = server_engine.chat_prompt([{"role": "user", "content": "Write one sentence about the sea."}])
    comps = server_engine.generate([prompt], n=2, max_tokens=32, temperature=0.8, seed=1, stop=["."])[0]
    assert len(comps) == 2
    for c in comps:
        assert c.finish_reason in ("stop", "length") and "." not in c.text
        assert c.tokens > 0 and c.logprob is not None and c.logprob < 0


class TestServerContract(EngineContract):
    @pytest.fixture
    def engine(self, server_engine):
        return server_engine

    def test_stop_string_is_cut_and_named(self, engine):
        pytest.skip("llama_cpp.server does not say which stop string ended a completion")

    @pytest.mark.xfail(reason="llama_cpp.server's samples depend on its prompt cache: a repeated prompt "
                       "re-decodes only its last token, through another kernel path (see llamacpp.py "
                       "MIN_PREFILL_BATCH)", strict=False)
    def test_same_seed_same_completions(self, engine):
        super().test_same_seed_same_completions(engine)


def test_two_servers_one_killed_mid_run_the_run_completes(tmp_path):
    """Issue 21: a real rStar run through two llama_cpp.server instances; one is killed (SIGKILL)
    while it is answering a request; that request and the rest go to the other, the run finishes."""
    from backend.engines.openai import OpenAIEngine
    from backend.solve import solve

    with llama_server(tmp_path, threads=1) as a, llama_server(tmp_path, threads=1) as b:
        engine = OpenAIEngine.load(f"{a.url},{b.url}", timeout=300, backoff=0.2)
        assert engine.model == "embedded-qwen" and engine.server_kind == "llama_cpp"
        killed = threading.Event()

        def kill_a_mid_request() -> None:  # after a has answered once, kill it while it answers again
            while not killed.is_set() and a.proc.poll() is None:
                state = engine.pool.snapshot()[0]
                if state["served"] >= 1 and state["outstanding"] >= 1:
                    a.proc.kill()
                    killed.set()
                time.sleep(0.01)

        watcher = threading.Thread(target=kill_a_mid_request, daemon=True)
        watcher.start()
        config = {"rollouts": 3, "children": 2, "max_depth": 3, "max_step_tokens": 48, "few_shot": 0}
        result = solve("What is 6 times 7?", algorithm="rstar", engine=engine, config=config,
                       reward="vote", ppm=None, seed=0)
        killed.set()
        watcher.join(5)
        a_state, b_state = engine.pool.snapshot()
    assert a.proc.returncode == -9, "a was not killed during the run: nothing was tested"
    assert result.status in ("solved", "exhausted"), result.stats  # not "error"
    assert not a_state["up"] and a.url in a_state["last_error"]
    assert b_state["up"] and b_state["served"] > a_state["served"] >= 1
