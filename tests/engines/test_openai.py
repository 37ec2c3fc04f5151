"""OpenAI-compatible engine against a tiny in-process fake server.

This is a protocol test (request bodies, response mapping, retries, errors), not
a model test; the fake answers with canned text.
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from backend.engines.openai import OpenAIEngine, ServerError, choice_to_completion


class FakeServer(BaseHTTPRequestHandler):
    requests: list[dict] = []  # noqa: RUF012
    failures_left = 0
    ignore_n = False

    def log_message(self, *args):  # keep pytest output clean
        pass

    def _send(self, code: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/v1/models":
            self._send(200, {"object": "list", "data": [{"id": "fake-model"}, {"id": "other"}]})
        else:
            self._send(404, {"error": "no such route"})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        body["_auth"] = self.headers.get("Authorization")
        type(self).requests.append(body)
        if type(self).failures_left > 0:
            type(self).failures_left -= 1
            return self._send(503, {"error": "warming up"})
        if body.get("max_tokens", 1) > 1000:
            return self._send(400, {"error": "max_tokens too large"})
        n = 1 if type(self).ignore_n else body["n"]
        prompt = body["prompt"]
        choices = []
        for i in range(n):
            text = f"{prompt[-1]}{i} END tail" if "stop-in-text" in prompt else f"{prompt[-1]}{i}"
            choices.append({
                "index": i,
                "text": text,
                "logprobs": {"tokens": ["a", "b"], "token_logprobs": [-0.5, -0.25]},
                "finish_reason": "length" if "long" in prompt else "stop",
                "stop_reason": "\n" if "vllm-stop" in prompt else None,
            })
        self._send(200, {"id": "cmpl", "object": "text_completion", "choices": choices})


@pytest.fixture
def server():
    FakeServer.requests = []
    FakeServer.failures_left = 0
    FakeServer.ignore_n = False
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeServer)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


def test_load_asks_the_server_for_its_model(server):
    engine = OpenAIEngine.load(None, base_url=server, api_key="k")
    assert engine.info.name == "openai" and engine.model == "fake-model"
    assert engine.info.details["base_url"] == server


def test_requests_and_results_in_prompt_order(server):
    engine = OpenAIEngine.load("fake-model", base_url=server, api_key="secret", concurrency=3)
    out = engine.generate(["p-1", "p-2", "p-3"], n=2, max_tokens=7, temperature=0.5, top_p=0.9,
                          stop=["\n"], seed=4)
    assert [[c.text for c in r] for r in out] == [["10", "11"], ["20", "21"], ["30", "31"]]
    c = out[0][0]
    assert (c.tokens, c.logprob, c.finish_reason, c.stop_reason) == (2, -0.75, "stop", None)
    body = FakeServer.requests[0]
    keys = ("model", "n", "max_tokens", "temperature", "top_p", "stop", "seed", "logprobs")
    assert {k: body[k] for k in keys} == {
        "model": "fake-model", "n": 2, "max_tokens": 7, "temperature": 0.5, "top_p": 0.9, "stop": ["\n"],
        "seed": 4, "logprobs": 1}
    assert body["_auth"] == "Bearer secret"


def test_stop_reason_and_length(server):
    engine = OpenAIEngine.load("m", base_url=server)
    (a,) = engine.generate(["vllm-stop x"], stop=["\n"])[0]
    assert (a.finish_reason, a.stop_reason) == ("stop", "\n")
    (b,) = engine.generate(["long x"], stop=["\n"])[0]
    assert (b.finish_reason, b.stop_reason) == ("length", None)


def test_stop_string_left_in_text_is_cut(server):
    engine = OpenAIEngine.load("m", base_url=server)
    (c,) = engine.generate(["stop-in-text 7"], stop=[" END"])[0]
    assert (c.text, c.finish_reason, c.stop_reason) == ("70", "stop", " END")


def test_server_that_ignores_n_gets_one_request_per_sample(server):
    FakeServer.ignore_n = True
    engine = OpenAIEngine.load("m", base_url=server)
    comps = engine.generate(["q"], n=3, seed=10)[0]
    assert len(comps) == 3
    assert [r.get("seed") for r in FakeServer.requests] == [10, 11, 12]


def test_retries_with_backoff_then_succeeds(server):
    FakeServer.failures_left = 2
    engine = OpenAIEngine.load("m", base_url=server, backoff=0.01, max_retries=3)
    assert engine.generate(["z"])[0][0].text == "z0"
    assert len(FakeServer.requests) == 3


def test_client_errors_are_not_retried(server):
    engine = OpenAIEngine.load("m", base_url=server, backoff=0.01)
    with pytest.raises(ServerError, match="HTTP 400"):
        engine.generate(["z"], max_tokens=5000)
    assert len(FakeServer.requests) == 1


def test_unreachable_server_says_how_to_start_one():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    engine = OpenAIEngine(f"http://127.0.0.1:{port}/v1", "m", max_retries=1, backoff=0.01, timeout=2)
    with pytest.raises(ConnectionError, match="vllm serve"):
        engine.generate(["x"])


def test_choice_mapping_without_logprobs():
    c = choice_to_completion({"text": "hi", "finish_reason": "stop", "stop_reason": 151645}, [])
    assert (c.text, c.tokens, c.logprob, c.stop_reason) == ("hi", 0, None, None)
