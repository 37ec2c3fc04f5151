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
- Several servers (``base_url="URL1,URL2"``, a list, or ``--model URL1,URL2``): requests
  go to the one with the fewest in flight, a server that goes away hands its requests to
  the others and is re-probed after a back-off (``backend/engines/server_pool.py``).
- Connection failures, 408/429 and 5xx are retried with exponential backoff (on another
  server first); other 4xx errors are raised at once with the server's message. A read
  timeout (``timeout``, default $CANOPY_OPENAI_TIMEOUT or 600 s) is not sent again to the
  same server (it may still be generating); with several, it moves once to another. Every
  error names the server's URL.
- A server that ignores ``n`` (llama_cpp.server) gets one request per sample, all at once,
  so that the samples of one prompt spread over the servers too.
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
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from backend._optional import is_available
from backend.engines.base import Completion, EngineInfo, GenerationRequest, cut_at_stop, plain_chat_prompt
from backend.engines.embedded import EMBEDDED_ALIASES
from backend.engines.server_pool import (
    ServerError,
    ServerPool,
    ServersFailed,
    auth_headers,
    looks_like_urls,
    probe_models,
    send_json,
    shown_url,
    split_urls,
)

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"
DEFAULT_TIMEOUT_S = 600.0
MAX_MODEL_NAME = 256  # characters of a served model's name (it is shown on the page and recorded)
START_HINT = ("start one, e.g. `vllm serve MODEL` or `python -m llama_cpp.server --model FILE.gguf`, "
              "or set OPENAI_BASE_URL / --engine-opt base_url=URL[,URL2]")

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


def _model_list(answer: Any, url: str) -> list[dict[str, Any]]:
    """``GET /models``'s ``data``: a list of objects, or ServerError (a server's answer is not trusted)."""
    data = answer.get("data", []) if isinstance(answer, dict) else None
    if not isinstance(data, list) or not all(isinstance(m, dict) for m in data):
        raise ServerError(f"{shown_url(url)}/models did not answer with a list of models")
    return data


class OpenAIEngine:
    """Client for one or several OpenAI-compatible completions servers (one model)."""

    #: safe to call from several threads at once (the server pool is locked)
    thread_safe = True

    def __init__(self, base_url: str | Sequence[str], model: str, *, api_key: str | None = None,
                 timeout: float | None = None, max_retries: int = 3, backoff: float = 0.5,
                 concurrency: int = 8, server_kind: str | None = None,
                 extra_body: dict[str, Any] | None = None, tokenizer: str | None = None):
        self.pool = ServerPool(split_urls(base_url),
                               probe=lambda url: probe_models(url, api_key, self.timeout))
        self.base_url = self.pool.urls[0]  # the first server (the others: self.pool.urls)
        self.model = model
        self.api_key = api_key
        self.timeout = default_timeout() if timeout is None else float(timeout)
        self.max_retries, self.backoff = max_retries, backoff
        self.concurrency = max(1, concurrency)
        #: "vllm", "llama_cpp" or None (unknown: standard fields only); see NEUTRAL_SAMPLING
        self.server_kind = server_kind
        self.ignores_n = server_kind == "llama_cpp"  # learnt from answers too (see _one)
        self.extra_body = dict(extra_body or {})
        self.tokenizer = tokenizer  # an HF id/dir whose chat template to use (default: the served name)
        self._hf_tokenizer: Any = None
        self.info = EngineInfo(name="openai", model=model, details=self._details())

    def _details(self) -> dict[str, Any]:
        shown = [shown_url(u) for u in self.pool.urls]  # recorded in runs and shown: no login, no query
        return {"base_url": ",".join(shown), "servers": shown,
                "concurrency": self.concurrency, "server": self.server_kind, "timeout_s": self.timeout}

    @classmethod
    def load(cls, model: str | None = None, *, base_url: str | None = None, api_key: str | None = None,
             timeout: float | None = None, max_retries: int = 3, backoff: float = 0.5,
             concurrency: int = 8, extra_body: dict[str, Any] | None = None,
             tokenizer: str | None = None) -> OpenAIEngine:
        """Connect to ``base_url`` (default $OPENAI_BASE_URL, else http://127.0.0.1:8000/v1):
        one URL, or several separated by commas (``model`` may be those URLs instead).

        ``model`` is the served model's name; None or "embedded" takes the first the server
        lists (``/v1/models``, which also tells the server kind). Every server is asked; one
        that does not answer starts as down (re-probed later), one that serves another model
        is refused. api_key: default $OPENAI_API_KEY. timeout: one request's read timeout in
        seconds (default $CANOPY_OPENAI_TIMEOUT, else 600); a timed-out generation is not
        sent again to that server. extra_body: fields added to every completion request.
        """
        if looks_like_urls(model):
            if base_url:
                raise ValueError("give the servers once: in --model or in base_url, not both")
            base_url, model = model, None
        base_url = base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        engine = cls(base_url, model or "", api_key=api_key, timeout=timeout, max_retries=max_retries,
                     backoff=backoff, concurrency=concurrency, extra_body=extra_body, tokenizer=tokenizer)
        ask = not model or model.lower() in EMBEDDED_ALIASES
        listed: dict[str, list[dict[str, Any]]] = {}
        unreachable: dict[str, str] = {}
        for url in engine.pool.urls:
            try:
                listed[url] = _model_list(engine._request("GET", "/models", pin=url), url)
            except ServerError:
                if ask:
                    raise
                listed[url] = []  # a server without /models: the name was given, the kind stays unknown
            except (ConnectionError, TimeoutError) as exc:
                failures = getattr(exc, "failures", {})
                unreachable[url] = failures.get(url, str(exc))
        if not listed:
            raise ServersFailed(unreachable, hint=START_HINT)
        for url, error in unreachable.items():  # the others serve; this one is tried again later
            engine.pool.mark_down(url, error)
            log.warning("server %s did not answer at start (%s); it is re-probed later",
                        shown_url(url), error)
        first_url, first = next(iter(listed.items()))
        if ask:
            if not first:
                raise ServerError(f"{shown_url(first_url)} serves no models")
            if not isinstance(first[0].get("id"), str) or len(first[0]["id"]) > MAX_MODEL_NAME:
                raise ServerError(f"{shown_url(first_url)} names its model with no short text")
            engine.model = first[0]["id"]
        kinds = set()
        serving = {u for u, models in listed.items() if engine.model in [m.get("id") for m in models]}
        for url, models in listed.items():
            if serving and models and url not in serving:  # the others serve it: this one is wrong
                served = ", ".join(str(m.get("id")) for m in models)[:500]
                others = ", ".join(sorted(map(shown_url, serving)))
                raise ServerError(f"{shown_url(url)} does not serve {engine.model!r} (it serves {served}; "
                                  f"{others} do); give servers of one model")
            kinds.add(_KINDS.get(str(next((m for m in models if m.get("id") == engine.model),
                                          models[0] if models else {}).get("owned_by", "")).lower()))
        engine.server_kind = kinds.pop() if len(kinds) == 1 else None  # mixed kinds: standard fields
        engine.ignores_n = engine.server_kind == "llama_cpp"
        engine.info = EngineInfo("openai", engine.model, engine._details())
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

    @staticmethod
    def _root(url: str) -> str:
        """The server's root URL (vLLM's /tokenize lives beside /v1, not under it)."""
        return url[: -len("/v1")] if url.endswith("/v1") else url

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None, *,
                 root: bool = False, retry: bool = True, pin: str | None = None) -> dict[str, Any]:
        """One request through the pool (``pin``: to that server only); ServerError for an
        answer that retrying will not fix, ConnectionError (``ServersFailed``) naming each
        server when none answered, TimeoutError for a read timeout."""
        data = None if body is None else json.dumps(body).encode("utf-8")
        try:
            headers = auth_headers(self.api_key)
            return self.pool.call(lambda base: send_json(method, (self._root(base) if root else base) + path,
                                                         data, headers, self.timeout),
                                  retries=self.max_retries, backoff=self.backoff, retry=retry, pin=pin,
                                  hint=START_HINT)
        except ServersFailed as exc:
            if exc.down:
                raise
            raise ServerError(str(exc)) from exc

    def _one(self, prompt: str, req: GenerationRequest, sample: int | None = None) -> list[Completion]:
        """A prompt's n completions; ``sample`` k: only its k-th, alone (seed + k), for a
        server that ignores n."""
        n, stop, seed = req.n, list(req.stop), req.seed
        body = self.request_body(prompt, req)
        if sample is not None:
            body["n"] = n = 1
            if seed is not None:
                body["seed"] = seed + sample
        resp = self._request("POST", "/completions", body)
        choices = sorted(resp.get("choices", []), key=lambda c: c.get("index", 0))
        comps = [choice_to_completion(c, stop) for c in choices]
        if len(comps) == 1 and n > 1 and req.temperature == 0:
            comps *= n  # greedy: one request, copied (the contract allows identical completions)
        if 0 < len(comps) < n:
            self.ignores_n = True  # later calls send one request per sample at once
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
        # one request per sample when the server ignores n (not when greedy: one copied answer)
        split = self.ignores_n and req.n > 1 and req.temperature != 0
        jobs = [(p, k) for p in req.prompts for k in (range(req.n) if split else [None])]
        if len(jobs) <= 1:
            done = [self._one(p, req, k) for p, k in jobs]
        else:
            with ThreadPoolExecutor(min(self.concurrency, len(jobs))) as pool:
                done = list(pool.map(lambda job: self._one(job[0], req, job[1]), jobs))
        per = req.n if split else 1
        out = [[c for part in done[i * per:(i + 1) * per] for c in part] for i in range(len(req.prompts))]
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
