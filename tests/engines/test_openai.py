"""OpenAI-compatible engine against a tiny in-process fake server.

This is a protocol test (request bodies, response mapping, retries, errors), not
a model test; the fake answers with canned text.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from backend.engines.openai import OpenAIEngine, ServerError, choice_to_completion


class FakeServer(BaseHTTPRequestHandler):
    requests: list[dict] = []  # noqa: RUF012
    failures_left = 0
    ignore_n = False
    owned_by: str | None = None  # "vllm": answer as vllm serve does (greedy n > 1 refused, /tokenize)
    delay_s = 0.0  # each completion takes this long

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
            owner = {"owned_by": type(self).owned_by} if type(self).owned_by else {}
            self._send(200, {"object": "list", "data": [{"id": "fake-model", **owner}, {"id": "other"}]})
        else:
            self._send(404, {"error": "no such route"})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        body["_auth"] = self.headers.get("Authorization")
        type(self).requests.append(body)
        if self.path == "/tokenize" and type(self).owned_by == "vllm":  # a template of its own
            text = "".join(f"[{m['role']}]{m['content']}" for m in body["messages"])
            text += "[assistant]" if body.get("add_generation_prompt") else ""
            return self._send(200, {"tokens": [ord(c) for c in text], "count": len(text)})
        if self.path == "/detokenize" and type(self).owned_by == "vllm":
            return self._send(200, {"prompt": "".join(map(chr, body["tokens"]))})
        if self.path != "/v1/completions":
            return self._send(404, {"error": "no such route"})
        if type(self).delay_s:
            time.sleep(type(self).delay_s)
        if type(self).owned_by == "vllm" and body.get("temperature") == 0 and body.get("n", 1) > 1:
            return self._send(400, {"object": "error", "message": "n must be 1 when using greedy sampling"})
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
    FakeServer.owned_by = None
    FakeServer.delay_s = 0.0
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


# --- issue 19: what vllm serve and llama_cpp.server need ---------------------------------------


def test_greedy_with_n_sends_one_request_and_copies_it(server):
    FakeServer.owned_by = "vllm"  # vllm serve refuses temperature 0 with n > 1 (HTTP 400)
    engine = OpenAIEngine.load(None, base_url=server)
    comps = engine.generate(["g"], n=3, temperature=0)[0]
    assert [c.text for c in comps] == ["g0", "g0", "g0"]
    (body,) = FakeServer.requests
    assert (body["n"], body["temperature"]) == (1, 0)


def test_neutral_sampling_is_sent_so_the_server_cannot_fill_its_own(server):
    FakeServer.owned_by = "vllm"  # vLLM fills unset top_k/min_p/repetition_penalty from generation_config
    engine = OpenAIEngine.load(None, base_url=server)
    assert engine.server_kind == "vllm"
    engine.generate(["q"], n=2, temperature=0.7)
    body = FakeServer.requests[-1]
    assert {k: body[k] for k in ("top_k", "min_p", "repetition_penalty", "add_special_tokens")} == {
        "top_k": -1, "min_p": 0.0, "repetition_penalty": 1.0, "add_special_tokens": False}


def test_llama_cpp_server_gets_its_own_neutral_names(server):
    FakeServer.owned_by = "me"  # what llama_cpp.server lists (its defaults: top_k 40, min_p 0.05, 1.1)
    engine = OpenAIEngine.load(None, base_url=server)
    engine.generate(["q"])
    body = FakeServer.requests[-1]
    got = (engine.server_kind, body["top_k"], body["min_p"], body["repeat_penalty"])
    assert got == ("llama_cpp", 0, 0.0, 1.0)
    assert "repetition_penalty" not in body and "add_special_tokens" not in body


def test_unknown_server_gets_standard_fields_and_extra_body_wins(server):
    engine = OpenAIEngine.load(None, base_url=server, extra_body={"top_k": 5})
    assert engine.server_kind is None
    engine.generate(["q"])
    body = FakeServer.requests[-1]
    assert body["top_k"] == 5 and "min_p" not in body and "repeat_penalty" not in body


def test_concurrent_requests_share_the_call_time(server):
    FakeServer.delay_s = 0.3
    engine = OpenAIEngine.load("m", base_url=server, concurrency=4)
    t0 = time.perf_counter()
    out = engine.generate(["a", "b", "c", "d"], n=2)
    wall_ms = (time.perf_counter() - t0) * 1000
    # each prompt's completions carry its share; the shares add up to the wall time, not 4 x 300 ms
    assert sum(row[0].gen_ms for row in out) <= wall_ms
    assert len({c.gen_ms for row in out for c in row}) == 1


def test_a_read_timeout_is_not_resent(server):
    FakeServer.delay_s = 1.0
    engine = OpenAIEngine.load("m", base_url=server, timeout=0.3, backoff=0.01)
    assert engine.timeout == 0.3
    with pytest.raises(TimeoutError, match="not sent again"):
        engine.generate(["slow"])
    assert len(FakeServer.requests) == 1  # no second long generation behind the first


def test_the_timeout_defaults_to_the_environment(monkeypatch):
    monkeypatch.setenv("CANOPY_OPENAI_TIMEOUT", "900")
    assert OpenAIEngine("http://127.0.0.1:1/v1", "m").timeout == 900.0
    monkeypatch.delenv("CANOPY_OPENAI_TIMEOUT")
    assert OpenAIEngine("http://127.0.0.1:1/v1", "m").timeout == 600.0


def test_chat_prompt_uses_the_servers_template(server):
    FakeServer.owned_by = "vllm"
    engine = OpenAIEngine.load(None, base_url=server)
    text = engine.chat_prompt([{"role": "system", "content": "S"}, {"role": "user", "content": "U"}])
    assert text == "[system]S[user]U[assistant]"
    tok = FakeServer.requests[0]
    assert tok["add_generation_prompt"] is True and tok["model"] == "fake-model"


def test_chat_prompt_falls_back_to_chatml(server):
    engine = OpenAIEngine.load(None, base_url=server)  # no template endpoint, no local tokenizer
    assert engine.chat_prompt([{"role": "user", "content": "U"}]) == (
        "<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n")
