"""Starting the web app on a busy machine: Gradio's own start-up check (one request to the new
server, given up at the first 3 s timeout) must not stop the app from starting."""

from __future__ import annotations

import time

import httpx
import pytest
from gradio import networking

from tests.ui import server as srv
from ui.app import patient_localhost_check


def test_a_slow_first_answer_does_not_stop_the_app_starting(monkeypatch):
    real, asked = httpx.head, []

    def busy_at_first(url, **kw):
        asked.append(url)
        if len(asked) <= 2:  # what a loaded 2-core machine gave: "When localhost is not accessible…"
            raise httpx.TimeoutException("timed out")
        return real(url, **kw)

    quick = networking.url_ok
    monkeypatch.setattr(networking.httpx, "head", busy_at_first)
    demo, services, url = srv.start()
    try:
        assert len(asked) >= 3 and httpx.get(url, timeout=30).status_code == 200
    finally:
        demo.close()
        services.close()
    assert networking.url_ok is quick  # the patience is for launch only


def test_a_server_that_never_answers_still_fails_the_check(monkeypatch):
    def never(url, **kw):
        raise httpx.TimeoutException("timed out")

    monkeypatch.setattr(networking.httpx, "head", never)
    t0 = time.monotonic()
    with patient_localhost_check(1.0):
        assert networking.url_ok("http://127.0.0.1:9/") is False
    assert time.monotonic() - t0 == pytest.approx(1.0, abs=0.9)
