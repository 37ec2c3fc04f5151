"""Several OpenAI-compatible servers behind one engine (``backend/engines/openai.py``).

Why: one GPU box serves a few hundred tokens/s; a search over many problems wants several
(``vllm serve`` on each GPU, or on several machines) without the caller choosing one.

- Least outstanding requests: each request goes to the reachable server with the fewest
  requests in flight (ties: the one that has served fewest), so a slow or busy server gets
  less work without any tuning.
- Fail-over: a connection refused, reset or timed out marks that server down; the request
  is sent again to another one at once (no sleep while a server it has not failed on is
  up), and later requests avoid the down server.
- Back-off and re-probe: a down server is left alone for ``backoff_s`` seconds, doubling
  with each failure in a row up to ``max_backoff_s``; when that time is up, the next request
  first probes it (``probe(url)``, the engine's ``GET /models`` with a short timeout) and
  only a server that answers gets requests again.
- Errors name the server: every failure message carries its URL; when every try failed,
  ``ServersFailed`` lists each server with its last error.

``call(send)`` runs ``send(url)`` (``send_json``: one HTTP try, standard library only) and
reads the ``Failure`` it raises (what went wrong, whether the server is down, whether it was
a read timeout).
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
#: HTTP answers worth another try (busy, overloaded, restarting); other 4xx are the request's fault
RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}
PROBE_TIMEOUT_S = 5.0  # a down server's re-probe (GET /models) waits no longer than this
#: an answer longer than this is refused (n=64 completions of 4,096 tokens with logprobs: ~40 MiB)
MAX_ANSWER_BYTES = 128 << 20
_CHUNK = 1 << 16


def shown_url(url: str) -> str:
    """``url`` as messages, logs, run events and pages show it: without a login or a query
    (``http://user:token@host/v1?key=...`` -> ``http://***@host/v1?***``); requests use the real one."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:  # "http://[": a stored run's text, not a URL this engine could use
        return "***"
    host = parts.netloc.rpartition("@")[2]
    netloc = f"***@{host}" if "@" in parts.netloc else host
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "***" if parts.query else "", ""))


def read_capped(resp: Any, deadline: float, limit: int | None = None) -> bytes:
    """The body of ``resp``, refused past ``limit`` bytes or ``deadline`` (monotonic): the socket
    timeout alone is per read, so a server trickling a byte at a time held a thread for ever."""
    chunks, size, limit = [], 0, limit or MAX_ANSWER_BYTES
    while chunk := resp.read1(_CHUNK):
        size += len(chunk)
        if size > limit:
            raise ServerError(f"the answer is over {limit >> 20} MiB (not read further)")
        if time.monotonic() > deadline:
            raise TimeoutError("the answer did not arrive whole in time")
        chunks.append(chunk)
    return b"".join(chunks)


def split_urls(value: str | Sequence[str]) -> list[str]:
    """Base URLs from ``"URL1,URL2"`` (commas or spaces) or a list of them; each ``http(s)://``,
    trailing ``/`` dropped, duplicates once. Raises ValueError naming a bad one."""
    parts = value.replace(",", " ").split() if isinstance(value, str) else [str(v) for v in value]
    urls: list[str] = []
    for part in parts:
        url = part.strip().rstrip("/")
        if not url:
            continue
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"a server's base URL starts with http:// or https://, got {shown_url(part)!r}")
        if shown_url(url) != url:  # a login is not sent (urllib takes it for the host), a query breaks paths
            raise ValueError(f"a server's base URL holds no login, query or fragment (give the key in "
                             f"$OPENAI_API_KEY), got {shown_url(url)!r}")
        if url not in urls:
            urls.append(url)
    if not urls:
        raise ValueError("no server URL given")
    return urls


def looks_like_urls(value: str | None) -> bool:
    """Whether ``--model`` holds server URLs rather than a served model's name."""
    return bool(value) and "://" in str(value)


class Failure(Exception):
    """One try at one server failed; ``down``: the server is unreachable (connection refused,
    reset, timed out), not merely busy (HTTP 5xx/429); ``timeout``: no answer in the read
    timeout (the server may still be generating)."""

    def __init__(self, message: str, *, down: bool, timeout: bool = False) -> None:
        super().__init__(message)
        self.down, self.timeout = down, timeout


class ServersFailed(ConnectionError):
    """Every try failed; ``failures`` maps each server's URL to its last error; ``down``:
    the last failure was an unreachable server (else an HTTP error that retries did not fix)."""

    def __init__(self, failures: dict[str, str], *, down: bool = True, hint: str = "") -> None:
        self.failures, self.down = dict(failures), down
        if len(failures) == 1:
            ((url, error),) = failures.items()
            where = shown_url(url)
            text = f"cannot reach an OpenAI-compatible server at {where} ({error})" if down else error
        else:
            listed = "; ".join(f"{shown_url(url)}: {error}" for url, error in failures.items())
            text = f"none of {len(failures)} OpenAI-compatible servers answered ({listed})"
        super().__init__(text + (f"; {hint}" if hint and down else ""))


class ServerError(RuntimeError):
    """The server answered with an error that retrying will not fix."""


def auth_headers(api_key: str | None) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an error: the engine talks to the servers it was given, not to whatever host
    (a cloud metadata address, an ftp:// URL) one of them names."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def send_json(method: str, url: str, data: bytes | None, headers: dict[str, str],
              timeout: float) -> dict[str, Any]:
    """One HTTP try at one server: its JSON answer, ServerError (retrying will not help), or a
    ``Failure`` saying whether the server is down or was only busy."""
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    deadline = time.monotonic() + 2 * timeout  # the answer and its body together
    shown = shown_url(url)
    try:
        with _OPENER.open(req, timeout=timeout) as resp:
            body = read_capped(resp, deadline)
        try:
            return json.loads(body.decode("utf-8"))
        except ValueError as exc:  # not UTF-8, not JSON, or a 5,000-digit number
            raise ServerError(f"{method} {shown}: the answer is not JSON ({str(exc)[:200]})") from None
    except urllib.error.HTTPError as exc:
        detail = exc.read(2000).decode("utf-8", "replace")[:500]
        message = f"{method} {shown} -> HTTP {exc.code}: {detail}"
        if exc.code not in RETRY_STATUS:
            raise ServerError(message) from exc
        raise Failure(message, down=False) from exc
    except TimeoutError as exc:  # no answer within the read timeout: the server may still be busy
        raise Failure(
            f"{method} {shown}: no answer in {timeout:g} s (not sent again to it: the server may still "
            "be generating); raise the timeout (timeout=, $CANOPY_OPENAI_TIMEOUT) for long generations",
            down=True, timeout=True) from exc
    except (urllib.error.URLError, ConnectionError, http.client.HTTPException) as exc:
        # refused, reset mid-answer (the server stopped), or a cut-off body
        raise Failure(f"{method} {shown}: {exc}", down=True) from exc


def probe_models(url: str, api_key: str | None, timeout: float) -> None:
    """A down server's re-probe: ``GET /models`` answers within a few seconds, or it stays down."""
    req = urllib.request.Request(url + "/models", headers=auth_headers(api_key))
    with _OPENER.open(req, timeout=min(timeout, PROBE_TIMEOUT_S)) as resp:
        read_capped(resp, time.monotonic() + 2 * PROBE_TIMEOUT_S, limit=1 << 20)


@dataclass
class Server:
    """One base URL and what the pool knows about it."""

    url: str
    outstanding: int = 0
    served: int = 0
    failures: int = 0  # in a row; 0 once it answers again
    down_until: float | None = None  # monotonic time; None while it is up
    last_error: str = ""
    probing: bool = False

    @property
    def up(self) -> bool:
        return self.down_until is None


class ServerPool:
    """Base URLs, their in-flight counts and health; safe to share between threads."""

    def __init__(self, urls: Iterable[str], *, probe: Callable[[str], None] | None = None,
                 backoff_s: float = 1.0, max_backoff_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.servers = [Server(u) for u in split_urls(list(urls))]
        self.probe = probe
        self.backoff_s, self.max_backoff_s = backoff_s, max_backoff_s
        self.clock = clock
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.servers)

    @property
    def urls(self) -> list[str]:
        return [s.url for s in self.servers]

    def server(self, url: str) -> Server:
        return next(s for s in self.servers if s.url == url)

    def acquire(self, avoid: Iterable[str] = ()) -> Server:
        """The server for the next request, its in-flight count raised (``release`` lowers it):
        an up server not in ``avoid`` with the fewest outstanding, else any up server, else
        the down server whose back-off ends first (tried anyway: the caller decides when to
        give up). A down server whose back-off is over is probed first."""
        self._probe_due()
        avoid = set(avoid)
        with self._lock:
            up = [s for s in self.servers if s.up]
            pick = ([s for s in up if s.url not in avoid] or up
                    or sorted(self.servers, key=lambda s: s.down_until or 0.0)[:1])
            chosen = min(pick, key=lambda s: (s.outstanding, s.served))
            chosen.outstanding += 1
            return chosen

    def release(self, server: Server, failure: Failure | None = None) -> None:
        """A request to ``server`` ended: answered (``failure`` None), or failed."""
        with self._lock:
            server.outstanding -= 1
            if failure is None:
                server.served += 1
                self._mark_up(server)
            else:
                server.last_error = str(failure)
                if failure.down:
                    self._mark_down(server)

    def has_fresh(self, tried: Iterable[str]) -> bool:
        """Whether an up server is left that is not in ``tried``."""
        tried = set(tried)
        with self._lock:
            return any(s.up and s.url not in tried for s in self.servers)

    def mark_down(self, url: str, error: str) -> None:
        with self._lock:
            server = self.server(url)
            server.last_error = error
            self._mark_down(server)

    def snapshot(self) -> list[dict[str, object]]:
        """Each server's state (for logs and diagnostics)."""
        with self._lock:
            now = self.clock()
            return [{"url": shown_url(s.url), "up": s.up, "outstanding": s.outstanding, "served": s.served,
                     "retry_in_s": None if s.up else max(0.0, (s.down_until or now) - now),
                     "last_error": s.last_error} for s in self.servers]

    def _mark_down(self, server: Server) -> None:  # under the lock
        server.failures += 1
        wait = min(self.max_backoff_s, self.backoff_s * 2 ** (server.failures - 1))
        server.down_until = self.clock() + wait
        if len(self.servers) > 1:
            log.warning("server %s is down (%s); its requests go to the others, retried in %.1f s",
                        shown_url(server.url), server.last_error, wait)

    def _mark_up(self, server: Server) -> None:  # under the lock
        if not server.up and len(self.servers) > 1:
            log.warning("server %s answers again", shown_url(server.url))
        server.down_until, server.failures = None, 0

    def _probe_due(self) -> None:
        """Probe each down server whose back-off is over (one thread per server at a time)."""
        if self.probe is None:
            return
        with self._lock:
            now = self.clock()
            due = [s for s in self.servers if not s.up and not s.probing and (s.down_until or 0) <= now]
            for s in due:
                s.probing = True
        for s in due:
            try:
                self.probe(s.url)
            except Exception as exc:  # any failure: still down, a longer back-off
                with self._lock:
                    s.last_error, s.probing = f"probe GET {shown_url(s.url)}/models: {exc}", False
                    self._mark_down(s)
            else:
                with self._lock:
                    s.probing = False
                    self._mark_up(s)

    def call(self, send: Callable[[str], T], *, retries: int, backoff: float, retry: bool = True,
             pin: str | None = None, hint: str = "") -> T:
        """``send(url)`` on the pool's choice until it answers.

        A failure moves the request to a server it has not failed on yet, at once; when none
        is left it sleeps ``backoff * 2**k`` and tries again. It gives up after ``retries``
        failures plus one per extra server (one server: ``retries + 1`` tries, as before),
        with ``ServersFailed`` listing each server's error. A read timeout is raised as
        TimeoutError (not sent again) unless another server is up, and is moved at most once.
        ``retry=False``: one try. ``pin``: that server only."""
        failures: dict[str, str] = {}
        timed_out = sleeps = 0
        limit = (retries + len(self.servers) if pin is None else retries + 1) if retry else 1
        for attempt in range(limit):
            server = self.server(pin) if pin else self.acquire(avoid=failures)
            if pin:
                with self._lock:
                    server.outstanding += 1
            try:
                result = send(server.url)
            except Failure as failure:
                self.release(server, failure)
                failures[server.url] = str(failure)
                if failure.timeout:
                    timed_out += 1
                    if timed_out > 1 or pin or not retry or not self.has_fresh(failures):
                        raise TimeoutError(str(failure)) from failure
                if attempt == limit - 1:
                    raise ServersFailed(failures, down=failure.down, hint=hint) from failure
                if pin or not self.has_fresh(failures):
                    delay = backoff * 2**sleeps
                    sleeps += 1
                    log.warning("%s failed (%s); retrying in %.1f s", shown_url(server.url), failure, delay)
                    time.sleep(delay)
                continue
            except BaseException:
                self.release(server)
                raise
            self.release(server)
            return result
        raise AssertionError("unreachable")
