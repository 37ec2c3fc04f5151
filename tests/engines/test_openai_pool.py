"""Several servers behind the OpenAI engine (``backend/engines/server_pool.py``), against tiny
in-process HTTP servers that answer like ``/v1/completions`` (canned text: a protocol test).

Each server answers with its own name in the text, so a test can tell who served what.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from backend.engines import load_engine
from backend.engines.openai import OpenAIEngine
from backend.engines.options import parse_engine_options
from backend.engines.server_pool import ServerError, ServerPool, ServersFailed, split_urls


class InFlight:
    """Completions being answered right now, over all servers, and the most at once."""

    lock = threading.Lock()
    now = peak = 0


class Loopback:
    """One tiny OpenAI-shaped server on 127.0.0.1 with knobs: ``delay_s`` per completion,
    ``drop`` (close the connection without an answer, as a server killed mid-request does),
    ``model``, ``owned_by``, ``ignore_n``; ``hits`` lists (path, body) of every request."""

    def __init__(self, name: str) -> None:
        self.name, self.delay_s, self.drop, self.ignore_n = name, 0.0, False, False
        self.model, self.owned_by = "fake-model", None
        self.hits: list[tuple[str, dict]] = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def completions(self) -> list[dict]:
        return [body for path, body in self.hits if path == "/v1/completions"]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                server.hits.append((self.path, {}))
                if server.drop:
                    self.close_connection = True
                    return
                owner = {"owned_by": server.owned_by} if server.owned_by else {}
                self._send({"object": "list", "data": [{"id": server.model, **owner}]})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.hits.append((self.path, body))
                if server.drop:  # no answer: the client sees the connection closed
                    self.close_connection = True
                    return
                with InFlight.lock:
                    InFlight.now += 1
                    InFlight.peak = max(InFlight.peak, InFlight.now)
                time.sleep(server.delay_s)
                with InFlight.lock:
                    InFlight.now -= 1
                n = 1 if server.ignore_n else body["n"]
                choices = [{"index": i, "text": f"{server.name}:{body['prompt']}:{body.get('seed')}",
                            "finish_reason": "stop", "logprobs": {"token_logprobs": [-0.5]}}
                           for i in range(n)]
                self._send({"choices": choices})

        return Handler


@pytest.fixture
def servers():
    made: list[Loopback] = []
    InFlight.now = InFlight.peak = 0

    def make(*names: str) -> list[Loopback]:
        made.extend(Loopback(n) for n in names)
        return made[-len(names):]

    yield make
    for s in made:
        s.stop()


def free_url() -> str:
    """A loopback port nobody listens on (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/v1"


def test_the_pool_picks_the_server_with_fewest_requests_in_flight():
    pool = ServerPool(["http://a/v1", "http://b/v1", "http://c/v1"])
    a, b, c = (pool.acquire() for _ in range(3))
    assert [a.url, b.url, c.url] == ["http://a/v1", "http://b/v1", "http://c/v1"]
    pool.release(b)  # b is free again: the next request goes there, not to a or c
    assert pool.acquire().url == "http://b/v1"
    pool.release(a)
    pool.release(c)
    assert pool.acquire().url == "http://a/v1"  # a and c idle, each served one: the first in order
    assert pool.acquire().url == "http://c/v1"  # a and b busy, c idle


def test_a_slow_server_gets_fewer_requests(servers):
    slow, fast = servers("slow", "fast")
    slow.delay_s, fast.delay_s = 1.0, 0.02
    engine = OpenAIEngine.load(None, base_url=f"{slow.url},{fast.url}", concurrency=4)
    out = engine.generate([f"p{i}" for i in range(12)], n=1)
    assert [row[0].text.split(":")[1] for row in out] == [f"p{i}" for i in range(12)]  # prompt order kept
    # least outstanding: the slow server holds its first requests while the fast one takes the rest
    # (round robin would give each 6)
    assert len(slow.completions()) <= 3 and len(fast.completions()) >= 9


def test_a_stopped_server_hands_its_requests_to_the_other(servers):
    a, b = servers("a", "b")
    engine = OpenAIEngine.load(None, base_url=[a.url, b.url], backoff=0.01)
    first = engine.generate(["x", "y"], n=1)
    assert {row[0].text.split(":")[0] for row in first} == {"a", "b"}
    a.stop()  # refused from now on
    out = engine.generate([f"p{i}" for i in range(6)], n=1)
    assert all(row[0].text.startswith("b:") for row in out)
    state = {s["url"]: s for s in engine.pool.snapshot()}
    assert not state[a.url]["up"] and state[b.url]["up"]
    assert a.url in state[a.url]["last_error"]  # the error names the server that failed


def test_requests_in_flight_on_a_server_that_dies_are_answered_by_another(servers):
    a, b = servers("a", "b")
    engine = OpenAIEngine.load(None, base_url=f"{a.url},{b.url}", backoff=0.01, concurrency=4)
    a.drop = True  # closes every connection without an answer, as a killed server does
    out = engine.generate([f"p{i}" for i in range(4)], n=1)
    assert [row[0].text for row in out] == [f"b:p{i}:None" for i in range(4)]
    assert a.completions()  # a did get requests, and they were sent again to b


def test_all_servers_down_names_each_with_its_error():
    urls = [free_url(), free_url()]
    engine = OpenAIEngine(urls, "m", max_retries=1, backoff=0.01, timeout=2)
    with pytest.raises(ConnectionError) as err:
        engine.generate(["x"])
    assert isinstance(err.value, ServersFailed) and set(err.value.failures) == set(urls)
    text = str(err.value)
    assert all(u in text for u in urls) and "refused" in text.lower() and "vllm serve" in text


def test_load_with_one_server_down_starts_on_the_others(servers):
    (b,) = servers("b")
    dead = free_url()
    engine = OpenAIEngine.load(None, base_url=f"{dead},{b.url}", backoff=0.01)
    assert engine.model == "fake-model" and engine.info.details["servers"] == [dead, b.url]
    assert engine.generate(["q"])[0][0].text.startswith("b:")
    assert not next(s for s in engine.pool.snapshot() if s["url"] == dead)["up"]


def test_a_down_server_is_probed_again_and_gets_requests_back(servers):
    a, b = servers("a", "b")
    engine = OpenAIEngine.load(None, base_url=f"{a.url},{b.url}", backoff=0.01)
    engine.pool.backoff_s = 0.05
    a.drop = True
    engine.generate(["x"])
    assert not engine.pool.snapshot()[0]["up"]
    a.drop = False
    time.sleep(0.1)  # the back-off is over: the next request probes a first
    a.hits.clear()
    out = engine.generate([f"p{i}" for i in range(4)], n=1)
    assert a.hits[0][0] == "/v1/models"  # the probe
    assert any(row[0].text.startswith("a:") for row in out)
    assert engine.pool.snapshot()[0]["up"]


def test_a_read_timeout_moves_the_request_to_another_server(servers):
    slow, fast = servers("slow", "fast")
    engine = OpenAIEngine.load(None, base_url=f"{slow.url},{fast.url}", timeout=1.0, backoff=0.01)
    slow.delay_s = 2.5
    out = engine.generate(["a", "b"], n=1)
    assert [row[0].text.split(":")[0] for row in out] == ["fast", "fast"]


def test_servers_given_as_model_or_option(servers):
    a, b = servers("a", "b")
    engine = load_engine("openai", f"{a.url}, {b.url}/")  # --model URL1,URL2 (spaces, slash)
    assert (engine.model, engine.info.details["servers"]) == ("fake-model", [a.url, b.url])
    options = parse_engine_options("openai", [f"base_url={a.url},{b.url}", "timeout=30"])
    engine = load_engine("openai", None, **options)
    assert engine.info.details["servers"] == [a.url, b.url] and engine.timeout == 30.0
    with pytest.raises(ValueError, match="once"):
        load_engine("openai", a.url, base_url=b.url)
    with pytest.raises(ValueError, match="http"):
        split_urls("localhost:8000")


def test_a_server_of_another_model_is_refused(servers):
    a, b = servers("a", "b")
    b.model = "other-model"
    with pytest.raises(ServerError, match=b.url.replace(".", r"\.") + ".*other-model"):
        OpenAIEngine.load(None, base_url=f"{a.url},{b.url}")


def test_samples_of_one_prompt_spread_over_servers_that_ignore_n(servers):
    a, b = servers("a", "b")
    for s in (a, b):
        s.owned_by, s.ignore_n, s.delay_s = "me", True, 0.1  # llama_cpp.server: one sample per request
    engine = OpenAIEngine.load(None, base_url=f"{a.url},{b.url}")
    comps = engine.generate(["q"], n=4, seed=10)[0]
    assert sorted(c.text.split(":")[2] for c in comps) == ["10", "11", "12", "13"]
    assert len(a.completions()) == 2 and len(b.completions()) == 2
    assert InFlight.peak >= 2  # the samples went out at once, not one after the other
