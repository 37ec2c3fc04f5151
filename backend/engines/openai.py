"""OpenAI-compatible engine: any server speaking ``/v1/completions``.

This is how Canopy scales past one machine: ``vllm serve MODEL`` on one or many
GPUs, a remote cluster, or ``python -m llama_cpp.server --model FILE`` locally.
Only the standard library is used (no ``openai`` package needed).

- One request per prompt (``n`` sampled server-side), prompts sent concurrently
  from a small thread pool; results come back in prompt order.
- ``logprobs=1`` makes the server return each sampled token's log-probability;
  their sum is ``Completion.logprob`` (None when the server sends none).
- Connection failures, 408/429 and 5xx are retried with exponential backoff;
  other 4xx errors are raised at once with the server's message.
- Stop strings: OpenAI semantics exclude the stop string from the text; the text
  is cut again with ``cut_at_stop`` for servers that include it. vLLM names the
  string in ``stop_reason``; for servers that do not, a "stop" finish with fewer
  than ``max_tokens`` tokens and one stop string is attributed to it only when
  the server says so, otherwise ``stop_reason`` stays None (end of sequence).
"""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from backend.engines.base import Completion, EngineInfo, GenerationRequest, cut_at_stop, plain_chat_prompt
from backend.engines.embedded import EMBEDDED_ALIASES

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"
_RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}


class ServerError(RuntimeError):
    """The server answered with an error that retrying will not fix."""


def choice_to_completion(choice: dict[str, Any], stop: Sequence[str], gen_ms: float = 0.0) -> Completion:
    """One ``choices[i]`` of a /v1/completions response -> Completion."""
    text, hit = cut_at_stop(choice.get("text") or "", stop)
    finish = choice.get("finish_reason") or "stop"
    stop_reason = choice.get("stop_reason")
    if hit is not None:  # the server left the stop string in the text
        finish, stop_reason = "stop", hit
    if finish not in ("stop", "length"):
        raise ServerError(f"the server finished a completion with {finish!r}")
    if not isinstance(stop_reason, str) or finish != "stop":
        stop_reason = None  # an int is a stop token id: for us that is an end of sequence
    lp = choice.get("logprobs") or {}
    token_lps = [x for x in (lp.get("token_logprobs") or []) if x is not None]
    tokens = len(lp.get("tokens") or token_lps)
    return Completion(text, tokens, float(sum(token_lps)) if token_lps else None, finish, stop_reason, gen_ms)


class OpenAIEngine:
    """Client for an OpenAI-compatible completions server."""

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None, timeout: float = 120.0,
                 max_retries: int = 3, backoff: float = 0.5, concurrency: int = 8):
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.timeout, self.max_retries, self.backoff = timeout, max_retries, backoff
        self.concurrency = max(1, concurrency)
        self.info = EngineInfo(name="openai", model=model,
                               details={"base_url": self.base_url, "concurrency": self.concurrency})

    @classmethod
    def load(cls, model: str | None = None, *, base_url: str | None = None, api_key: str | None = None,
             timeout: float = 120.0, max_retries: int = 3, backoff: float = 0.5,
             concurrency: int = 8) -> OpenAIEngine:
        """Connect to ``base_url`` (default $OPENAI_BASE_URL, else http://127.0.0.1:8000/v1).

        ``model`` is the served model's name; None or "embedded" asks the server
        (``/v1/models``) and takes the first it serves. api_key: default $OPENAI_API_KEY.
        """
        base_url = base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        engine = cls(base_url, model or "", api_key=api_key, timeout=timeout, max_retries=max_retries,
                     backoff=backoff, concurrency=concurrency)
        if not model or model.lower() in EMBEDDED_ALIASES:
            served = [m["id"] for m in engine._request("GET", "/models").get("data", [])]
            if not served:
                raise ServerError(f"{engine.base_url} serves no models")
            engine.model = served[0]
            engine.info = EngineInfo("openai", served[0], engine.info.details)
        return engine

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        url = self.base_url + path
        data = None if body is None else json.dumps(body).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        for attempt in range(self.max_retries + 1):
            req = urllib.request.Request(url, data=data, headers=headers, method=method)
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    return json.loads(resp.read().decode("utf-8"))
            except urllib.error.HTTPError as exc:
                detail = exc.read().decode("utf-8", "replace")[:500]
                if exc.code not in _RETRY_STATUS or attempt == self.max_retries:
                    raise ServerError(f"{method} {url} -> HTTP {exc.code}: {detail}") from exc
                problem = f"HTTP {exc.code}"
            except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
                if attempt == self.max_retries:
                    raise ConnectionError(
                        f"cannot reach an OpenAI-compatible server at {self.base_url} ({exc}); "
                        "start one, e.g. "
                        "`vllm serve MODEL` or `python -m llama_cpp.server --model FILE.gguf`, or set "
                        "OPENAI_BASE_URL / --base-url"
                    ) from exc
                problem = str(exc)
            delay = self.backoff * 2**attempt
            log.warning("%s %s failed (%s); retrying in %.1f s", method, url, problem, delay)
            time.sleep(delay)
        raise AssertionError("unreachable")

    def _one(self, prompt: str, req: GenerationRequest) -> list[Completion]:
        n, stop, seed = req.n, list(req.stop), req.seed
        body: dict[str, Any] = {
            "model": self.model, "prompt": prompt, "n": n, "max_tokens": req.max_tokens,
            "temperature": req.temperature, "top_p": req.top_p, "logprobs": 1,
        }
        if stop:
            body["stop"] = stop
        if seed is not None:
            body["seed"] = seed
        t0 = time.perf_counter()
        resp = self._request("POST", "/completions", body)
        gen_ms = (time.perf_counter() - t0) * 1000
        choices = sorted(resp.get("choices", []), key=lambda c: c.get("index", 0))
        comps = [choice_to_completion(c, stop, gen_ms) for c in choices]
        if len(comps) == 1 and n > 1 and req.temperature == 0:
            comps *= n  # greedy: identical anyway
        while 0 < len(comps) < n:  # a server that ignores n (llama_cpp.server): one request per sample
            body["n"] = 1
            if seed is not None:
                body["seed"] = seed + len(comps)
            resp = self._request("POST", "/completions", body)
            comps += [choice_to_completion(c, stop, gen_ms) for c in resp.get("choices", [])[:1]]
        if len(comps) != n:
            raise ServerError(f"the server returned {len(comps)} completions, expected n={n}")
        return comps

    def generate(
        self,
        prompts: Sequence[str],
        *,
        n: int = 1,
        max_tokens: int = 256,
        temperature: float = 0.7,
        top_p: float = 1.0,
        stop: Sequence[str] = (),
        seed: int | None = None,
    ) -> list[list[Completion]]:
        req = GenerationRequest.make(prompts, n=n, max_tokens=max_tokens, temperature=temperature,
                                     top_p=top_p, stop=stop, seed=seed)
        if len(req.prompts) <= 1:
            return [self._one(p, req) for p in req.prompts]
        with ThreadPoolExecutor(min(self.concurrency, len(req.prompts))) as pool:
            return list(pool.map(lambda p: self._one(p, req), req.prompts))

    def chat_prompt(self, messages: Sequence[dict[str, str]], *, add_generation_prompt: bool = True) -> str:
        # /v1/completions takes raw text, and the server's template is not exposed by the API: ChatML
        # (Qwen's format) is right for the embedded model and for Qwen-family served models.
        return plain_chat_prompt(messages, add_generation_prompt=add_generation_prompt)

    def close(self) -> None:
        pass
