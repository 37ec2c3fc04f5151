"""The page in front of model servers, end to end (issue 21, item 3): ``python app.py --engine
openai --model NAME --engine-opt base_url=URL1,URL2`` as a user starts it, against a real
``python -m llama_cpp.server`` on the embedded model and a second URL where nothing listens
(a server that went away), runs a short rStar-Math search from the page; its tree grows live
from the live server's text and the run's status names the engine, the served model and both
servers.

Slow (a server and the app start, then about twenty short completions on a busy CPU): run
with ``pytest -m "browser and model and slow" tests/scale/test_browser_servers.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from backend._optional import is_available
from tests.engines.llama_server import SERVER_DEPS, free_port, llama_server
from tests.ui.server import CHROMIUM, chromium, recorded_page
from tests.ui.test_browser import nodes, run, status

pytestmark = [
    pytest.mark.browser,
    pytest.mark.model,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium"),
    pytest.mark.skipif(not all(map(is_available, SERVER_DEPS)), reason="needs llama-cpp-python[server]"),
]
pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")

ROOT = Path(__file__).resolve().parents[2]
#: a short search: two rollouts of two children, two steps deep, short steps, no worked examples
SHORT = {"rollouts": 2, "children": 2, "max_depth": 2, "max_step_tokens": 48, "few_shot": 0}


def start_app(tmp: Path, argv: list[str]) -> tuple[subprocess.Popen, str]:
    """``python app.py ARGV`` on a free port with its own history; (process, page URL) once it answers."""
    port = free_port()
    log = (tmp / "app.log").open("wb")
    env = {**os.environ, "CANOPY_HOME": str(tmp / "home")}
    proc = subprocess.Popen([sys.executable, "app.py", *argv, "--port", str(port), "--ppm", "none"],
                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 180
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"app.py exited: {(tmp / 'app.log').read_text(errors='replace')[-2000:]}")
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return proc, url
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("app.py did not answer in 180 s") from None
            time.sleep(0.5)


@pytest.mark.timeout(900)
def test_the_page_runs_rstar_through_servers_named_in_the_run_status(tmp_path):
    with llama_server(tmp_path, threads=2) as server:
        gone = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens: a server that went away
        proc, url = start_app(tmp_path, ["--engine", "openai", "--model", "embedded-qwen",
                                         "--engine-opt", f"base_url={server.url},{gone}",
                                         "--engine-opt", "timeout=300"])
        try:
            with chromium() as browser:
                context, page, requests = recorded_page(browser)
                page.set_default_timeout(120_000)
                page.goto(url)
                page.wait_for_function("typeof window.Plotly === 'object'")
                run(page, "What is 17 + 25?", algorithm="rstar", **SHORT)
                seen, t0 = [], time.monotonic()
                while "finished" not in status(page) and time.monotonic() - t0 < 700:
                    seen.append(nodes(page))
                    time.sleep(1)
                said = status(page)
                assert "finished" in said, said
                assert len(set(seen)) >= 2 and seen == sorted(seen), seen  # grew live, never shrank
                assert nodes(page) > 2
                assert f"Engine: openai · embedded-qwen · 2 servers: {server.url}, {gone}" in said, said
                assert not [u for u in requests if not u.startswith(("http://127.0.0.1", "data:", "blob:"))]
                context.close()
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
