"""Start ``python -m llama_cpp.server`` on the embedded model on a free loopback port.

Shared by the slow server tests (tests/engines/test_openai_server.py) and bench/servers.py.
The server runs with llama.cpp's extra buffer types off (see backend/engines/llamacpp.py), so
it cannot hit the AMX crash, and with a passive OpenMP wait policy (backend/engines/_threads.py).
Its log goes to a file, not a pipe: its chatty log would fill a pipe and stall it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SERVER_DEPS = ("fastapi", "uvicorn", "sse_starlette", "starlette_context", "pydantic_settings")

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LlamaServer:
    """A started server: ``url`` (its /v1 base), ``proc`` (to stop or kill it), ``log``."""

    def __init__(self, proc: subprocess.Popen, url: str, log: Path) -> None:
        self.proc, self.url, self.log = proc, url, log

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@contextmanager
def llama_server(log_dir: Path, *, threads: int | None = None, n_ctx: int = 2048,
                 alias: str = "embedded-qwen", start_s: float = 120.0) -> Iterator[LlamaServer]:
    """A running server for the ``with`` block; stopped after it. Raises RuntimeError with the
    end of its log when it exits or does not answer in ``start_s`` seconds."""
    from backend.engines.embedded import ensure_embedded

    port = free_port()
    cmd = [sys.executable, "-c", LAUNCH, "--model", str(ensure_embedded()), "--host", "127.0.0.1",
           "--port", str(port), "--n_ctx", str(n_ctx), "--model_alias", alias]
    if threads is not None:
        cmd += ["--n_threads", str(threads), "--n_threads_batch", str(threads)]
    log = Path(log_dir) / f"llama-server-{port}.log"
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    with log.open("wb") as sink:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=sink, env=env)
    server = LlamaServer(proc, f"http://127.0.0.1:{port}/v1", log)
    try:
        deadline = time.monotonic() + start_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited: {log.read_text(errors='replace')[-2000:]}")
            try:
                urllib.request.urlopen(server.url + "/models", timeout=1).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"llama_cpp.server did not answer in {start_s:g} s") from None
                time.sleep(0.25)
        yield server
    finally:
        server.stop()
