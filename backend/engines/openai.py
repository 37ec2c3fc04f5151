"""OpenAI-compatible engine: any server speaking ``/v1/completions``.

This is how Canopy scales past one machine: ``vllm serve MODEL`` on one or many
GPUs, a remote cluster, or ``python -m llama_cpp.server --model FILE`` locally.
Only the standard library is used (no ``openai`` package needed).

- One request per prompt (``n`` sampled server-side), prompts sent concurrently
  from a small thread pool; results come back in prompt order. Greedy
  (``temperature == 0``) sends n=1 and copies the answer n times, as the contract
  allows (``vllm serve`` refuses n > 1 at temperature 0 with HTTP 400).
- ``Completion.gen_ms``: the call's wall time shared between its prompts, as every
  other engine does; concurrent requests' own latencies would sum past the wall time.
- Sampling is pinned: besides temperature and top_p, the neutral values of the
  server's other samplers are sent, so that neither a model's generation_config
  (vLLM fills unset ``top_k``/``min_p``/``repetition_penalty`` from it) nor a server's
  own defaults (llama_cpp.server: top_k 40, min_p 0.05, repeat_penalty 1.1) change
  sampling against the other engines. The server kind comes from ``/v1/models``'
  ``owned_by`` ("vllm"; "me" is llama_cpp.server); a server of another kind gets only
  the standard fields (a strict server would refuse unknown ones), and ``extra_body``
  adds or overrides fields for any server.
- ``logprobs=1`` makes the server return each sampled token's log-probability;
  their sum is ``Completion.logprob`` (None when the server sends none).
- Connection failures, 408/429 and 5xx are retried with exponential backoff;
  other 4xx errors are raised at once with the server's message. A read timeout
  (``timeout``, default $CANOPY_OPENAI_TIMEOUT or 600 s) is not retried: the server
  may still be generating, and a resend would only add a second long generation.
- Chat template: ``chat_prompt`` renders with the served model's own template where
  the server exposes it (vLLM: ``POST /tokenize`` with ``messages``, then
  ``/detokenize``), else with the tokenizer's template when transformers can load
  the served model's tokenizer from local files, else ChatML (Qwen's format, right
  for the embedded model). vLLM is then told not to add special tokens again
  (``add_special_tokens: false``: the rendered text already starts with any BOS).
- Stop strings: OpenAI semantics exclude the stop string from the text; the text
  is cut again with ``cut_at_stop`` for servers that include it. vLLM names the
  string in ``stop_reason``; for servers that do not, a "stop" finish with fewer
  than ``max_tokens`` tokens and one stop string is attributed to it only when
  the server says so, otherwise ``stop_reason`` stays None (end of sequence).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from backend._optional import is_available
from backend.engines.base import Completion, EngineInfo, GenerationRequest, cut_at_stop, plain_chat_prompt
from backend.engines.embedded import EMBEDDED_ALIASES

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"
DEFAULT_TIMEOUT_S = 600.0
_RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}

#: the neutral value of each sampler a server would otherwise fill in itself, by server kind
#: (``/v1/models``' ``owned_by``); vLLM's top_k −1 (disabled) is accepted by every release
NEUTRAL_SAMPLING: dict[str, dict[str, Any]] = {
    "vllm": {"top_k": -1, "min_p": 0.0, "repetition_penalty": 1.0, "frequency_penalty": 0.0,
             "presence_penalty": 0.0},
    "llama_cpp": {"top_k": 0, "min_p": 0.0, "repeat_penalty": 1.0, "frequency_penalty": 0.0,
                  "presence_penalty": 0.0},
}
_KINDS = {"vllm": "vllm", "me": "llama_cpp", "llama_cpp": "llama_cpp"}


def default_timeout() -> float:
    """Read timeout of one request: $CANOPY_OPENAI_TIMEOUT seconds, else 600."""
    try:
        return float(os.environ.get("CANOPY_OPENAI_TIMEOUT") or DEFAULT_TIMEOUT_S)
    except ValueError:
        return DEFAULT_TIMEOUT_S


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

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None,
                 timeout: float | None = None, max_retries: int = 3, backoff: float = 0.5,
                 concurrency: int = 8, server_kind: str | None = None,
                 extra_body: dict[str, Any] | None = None, tokenizer: str | None = None):
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.timeout = default_timeout() if timeout is None else float(timeout)
        self.max_retries, self.backoff = max_retries, backoff
        self.concurrency = max(1, concurrency)
        #: "vllm", "llama_cpp" or None (unknown: standard fields only); see NEUTRAL_SAMPLING
        self.server_kind = server_kind
        self.extra_body = dict(extra_body or {})
        self.tokenizer = tokenizer  # an HF id/dir whose chat template to use (default: the served name)
        self._hf_tokenizer: Any = None
        self.info = EngineInfo(name="openai", model=model,
                               details={"base_url": self.base_url, "concurrency": self.concurrency,
                                        "server": server_kind, "timeout_s": self.timeout})

    @classmethod
    def load(cls, model: str | None = None, *, base_url: str | None = None, api_key: str | None = None,
             timeout: float | None = None, max_retries: int = 3, backoff: float = 0.5,
             concurrency: int = 8, extra_body: dict[str, Any] | None = None,
             tokenizer: str | None = None) -> OpenAIEngine:
        """Connect to ``base_url`` (default $OPENAI_BASE_URL, else http://127.0.0.1:8000/v1).

        ``model`` is the served model's name; None or "embedded" takes the first the server
        lists (``/v1/models``, which also tells the server kind). api_key: default
        $OPENAI_API_KEY. timeout: one request's read timeout in seconds (default
        $CANOPY_OPENAI_TIMEOUT, else 600); a timed-out generation is not sent again.
        extra_body: fields added to every completion request (override the neutral ones).
        """
        base_url = base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        engine = cls(base_url, model or "", api_key=api_key, timeout=timeout, max_retries=max_retries,
                     backoff=backoff, concurrency=concurrency, extra_body=extra_body, tokenizer=tokenizer)
        ask = not model or model.lower() in EMBEDDED_ALIASES
        try:
            listed = engine._request("GET", "/models").get("data", [])
        except ServerError:
            if ask:
                raise
            listed = []  # a server without /models: the name was given, the kind stays unknown
        if ask:
            if not listed:
                raise ServerError(f"{engine.base_url} serves no models")
            engine.model = listed[0]["id"]
        entry = next((m for m in listed if m.get("id") == engine.model), listed[0] if listed else {})
        engine.server_kind = _KINDS.get(str(entry.get("owned_by", "")).lower())
        details = {**engine.info.details, "server": engine.server_kind}
        engine.info = EngineInfo("openai", engine.model, details)
        return engine

    def request_body(self, prompt: str, req: GenerationRequest) -> dict[str, Any]:
        """The /v1/completions body of one prompt (n=1 when greedy: the copies are made here)."""
        greedy = req.temperature == 0
        body: dict[str, Any] = {
            "model": self.model, "prompt": prompt, "n": 1 if greedy else req.n, "max_tokens": req.max_tokens,
            "temperature": req.temperature, "top_p": 1.0 if greedy else req.top_p, "logprobs": 1,
        }
        body.update(NEUTRAL_SAMPLING.get(self.server_kind or "", {}))
        if self.server_kind == "vllm":
            body["add_special_tokens"] = False  # chat_prompt's text already holds any BOS
        if req.stop:
            body["stop"] = list(req.stop)
        if req.seed is not None:
            body["seed"] = req.seed
        body.update(self.extra_body)
        return body

    def _root(self) -> str:
        """The server's root URL (vLLM's /tokenize lives beside /v1, not under it)."""
        return self.base_url[: -len("/v1")] if self.base_url.endswith("/v1") else self.base_url

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None, *,
                 root: bool = False, retry: bool = True) -> dict[str, Any]:
        url = (self._root() if root else self.base_url) + path
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
            except TimeoutError as exc:  # no answer within the read timeout: the server may still be busy
                raise TimeoutError(
                    f"{method} {url}: no answer in {self.timeout:g} s (not sent again: the server may "
                    "still be generating); raise the timeout (timeout=, $CANOPY_OPENAI_TIMEOUT) for long "
                    "generations") from exc
            except (urllib.error.URLError, ConnectionError) as exc:
                if attempt == self.max_retries or not retry:
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
        body = self.request_body(prompt, req)
        resp = self._request("POST", "/completions", body)
        choices = sorted(resp.get("choices", []), key=lambda c: c.get("index", 0))
        comps = [choice_to_completion(c, stop) for c in choices]
        if len(comps) == 1 and n > 1 and req.temperature == 0:
            comps *= n  # greedy: one request, copied (the contract allows identical completions)
        while 0 < len(comps) < n:  # a server that ignores n (llama_cpp.server): one request per sample
            body["n"] = 1
            if seed is not None:
                body["seed"] = seed + len(comps)
            resp = self._request("POST", "/completions", body)
            comps += [choice_to_completion(c, stop) for c in resp.get("choices", [])[:1]]
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
        t0 = time.perf_counter()
        if len(req.prompts) <= 1:
            out = [self._one(p, req) for p in req.prompts]
        else:
            with ThreadPoolExecutor(min(self.concurrency, len(req.prompts))) as pool:
                out = list(pool.map(lambda p: self._one(p, req), req.prompts))
        # the call's wall time shared by its prompts (concurrent latencies would sum past it)
        gen_ms = (time.perf_counter() - t0) * 1000 / max(len(out), 1)
        timed: dict[int, Completion] = {}  # a greedy copy stays one object (copies are the same one)
        return [[timed.setdefault(id(c), dataclasses.replace(c, gen_ms=gen_ms)) for c in row] for row in out]

    def chat_prompt(self, messages: Sequence[dict[str, str]], *, add_generation_prompt: bool = True) -> str:
        """The served model's own template: the server's (vLLM /tokenize + /detokenize), else the
        local HF tokenizer's, else ChatML (see the module docstring)."""
        if self.server_kind == "vllm":
            try:
                ids = self._request("POST", "/tokenize", {
                    "model": self.model, "messages": list(messages),
                    "add_generation_prompt": add_generation_prompt, "add_special_tokens": False,
                }, root=True, retry=False)["tokens"]
                text = self._request("POST", "/detokenize", {"model": self.model, "tokens": ids},
                                     root=True, retry=False)["prompt"]
                if isinstance(text, str) and text:
                    return text
            except (ServerError, ConnectionError, KeyError, TypeError) as exc:
                log.warning("the server did not render the chat template (%s); trying its tokenizer", exc)
        tok = self._local_tokenizer()
        if tok is not None:
            return tok.apply_chat_template(list(messages), tokenize=False,
                                           add_generation_prompt=add_generation_prompt)
        return plain_chat_prompt(messages, add_generation_prompt=add_generation_prompt)

    def _local_tokenizer(self) -> Any:
        """The served model's HF tokenizer from local files (no download), when it has a template."""
        if self._hf_tokenizer is None:
            self._hf_tokenizer = False
            name = self.tokenizer or self.model
            # an HF id ("org/name") or a local folder; a bare served alias is neither
            if name and ("/" in name or Path(name).is_dir()) and is_available("transformers"):
                try:
                    from transformers import AutoTokenizer

                    tok = AutoTokenizer.from_pretrained(name, local_files_only=True)
                    if getattr(tok, "chat_template", None):
                        self._hf_tokenizer = tok
                except Exception as exc:  # not an HF name, not cached, no tokenizer: ChatML it is
                    log.info("no local tokenizer for %s (%s): ChatML", name, exc)
        return self._hf_tokenizer or None

    def close(self) -> None:
        pass
