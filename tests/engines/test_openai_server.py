"""The OpenAI-compatible engine against a real server: ``python -m llama_cpp.server`` on the embedded model.

Slow (run with ``pytest -m slow tests/engines/test_openai_server.py``). Needs
llama-cpp-python's server extras (fastapi, uvicorn, sse-starlette,
starlette-context, pydantic-settings); skipped without them. The server is
started with extra buffer types off (see llamacpp.py) so it cannot hit the AMX
crash. llama_cpp.server ignores ``n`` (the engine then sends one request per
sample) and does not report which stop string ended a completion.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from backend._optional import is_available
from tests.engines.conftest import requires_llamacpp
from tests.engines.contract import EngineContract

SERVER_DEPS = ("fastapi", "uvicorn", "sse_starlette", "starlette_context", "pydantic_settings")
pytestmark = [
    pytest.mark.model,
    pytest.mark.slow,  # a server process plus serialised requests: about a minute on 2 busy cores
    requires_llamacpp,
    pytest.mark.skipif(not all(map(is_available, SERVER_DEPS)), reason="needs llama-cpp-python[server]"),
]

LAUNCH = """
import sys
import llama_cpp.llama_cpp as L
default_params = L.llama_model_default_params
def params():
    p = default_params()
    p.use_extra_bufts = False  # AMX repacking segfaults on multi-token prompts
    return p
L.llama_model_default_params = params
from llama_cpp.server.__main__ import main
sys.argv = ["llama_cpp.server"] + sys.argv[1:]
main()
"""


@pytest.fixture(scope="module")
def server_url(tmp_path_factory):
    from backend.engines.embedded import ensure_embedded

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-c", LAUNCH, "--model", str(ensure_embedded()), "--host", "127.0.0.1",
           "--port", str(port), "--n_ctx", "2048", "--model_alias", "embedded-qwen"]
    log = tmp_path_factory.mktemp("server") / "server.log"  # not a pipe: its chatty log would fill one
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}  # see backend/engines/_threads.py
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log.open("wb"), env=env)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        for _ in range(240):
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited: {log.read_text(errors='replace')[-2000:]}")
            try:
                urllib.request.urlopen(url + "/models", timeout=1).read()
                break
            except OSError:
                time.sleep(0.25)
        else:
            pytest.fail("llama_cpp.server did not start in 60 s")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


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
