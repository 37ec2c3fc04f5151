"""The OpenAI-compatible engine against servers it should not trust (``backend/engines/server_pool.py``):
one that never finishes its answer, one that sends more than any completion needs, one whose
answer is not JSON; and base URLs holding a login or a token, which must not reach a message,
a run's recorded engine or the page."""

from __future__ import annotations

import socket
import threading
import time
from types import SimpleNamespace

import pytest

from backend.engines import server_pool as sp
from backend.engines.openai import OpenAIEngine
from backend.engines.options import parse_engine_options
from ui.engine_line import engine_line


class RawServer:
    """A loopback TCP server that answers every connection with ``reply(conn)``."""

    def __init__(self, reply) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.reply, self.stopped = reply, threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        try:
            conn.recv(65536)
            self.reply(conn, self.stopped)
        except OSError:
            pass
        finally:
            conn.close()

    def stop(self) -> None:
        self.stopped.set()
        self.sock.close()


def _head(conn: socket.socket, length: int) -> None:
    conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
                 .encode())


@pytest.fixture
def serve():
    servers = []

    def start(reply) -> str:
        servers.append(RawServer(reply))
        return f"http://127.0.0.1:{servers[-1].port}/v1"

    yield start
    for server in servers:
        server.stop()


def test_a_server_trickling_its_answer_is_cut_off_at_the_deadline(serve):
    """The socket timeout is per read: a byte every 50 ms held the request (and its thread) for ever."""
    def trickle(conn, stopped):
        _head(conn, 10**6)
        while not stopped.is_set():
            conn.sendall(b" ")
            time.sleep(0.05)

    url = serve(trickle)
    start = time.monotonic()
    with pytest.raises(sp.Failure) as failed:
        sp.send_json("GET", url + "/models", None, {}, timeout=0.5)
    assert failed.value.timeout and time.monotonic() - start < 4.0


def test_an_answer_bigger_than_any_completion_is_refused_unread(serve, monkeypatch):
    monkeypatch.setattr(sp, "MAX_ANSWER_BYTES", 1 << 20)
    sent = []

    def flood(conn, stopped):
        _head(conn, 1 << 30)  # says 1 GB, sends until the client stops reading
        block = b"0" * 65536
        while not stopped.is_set():
            conn.sendall(block)
            sent.append(len(block))

    url = serve(flood)
    with pytest.raises(sp.ServerError, match="over 1 MiB"):
        sp.send_json("GET", url + "/models", None, {}, timeout=5.0)


def test_an_answer_that_is_not_json_is_a_server_error_naming_the_server(serve):
    def garbage(conn, stopped):
        body = b"<html><script>alert(1)</script>" + b"9" * 5000
        _head(conn, len(body))
        conn.sendall(body)

    url = serve(garbage)
    with pytest.raises(sp.ServerError, match="not JSON"):  # was a bare JSONDecodeError
        sp.send_json("GET", url + "/models", None, {}, timeout=5.0)


def test_logins_and_tokens_in_base_urls_are_refused_and_never_shown():
    """``http://user:token@host/v1`` was recorded in every run's engine and shown on the page (and
    the login was never sent: urllib looked it up as a host name); ``?key=`` broke every path."""
    port = socket.socket()
    port.bind(("127.0.0.1", 0))
    url = f"http://alice:s3cret@127.0.0.1:{port.getsockname()[1]}/v1?api_key=t0ken"
    port.close()  # nothing listens there
    for refused_by in (lambda: OpenAIEngine(url, "m"),
                       lambda: parse_engine_options("openai", [f"base_url={url}"]),
                       lambda: OpenAIEngine("http://127.0.0.1:9/v1?api_key=t0ken", "m")):
        with pytest.raises(ValueError, match="no login, query or fragment") as refused:
            refused_by()
        assert "s3cret" not in str(refused.value) and "t0ken" not in str(refused.value)
    with pytest.raises(sp.Failure) as failed:  # one request's message, whatever URL it was given
        sp.send_json("GET", url + "/models", None, {}, timeout=2.0)
    assert "s3cret" not in str(failed.value) and "t0ken" not in str(failed.value)
    assert "127.0.0.1" in str(failed.value)
    stored = SimpleNamespace(engine={"name": "openai", "model": "<img src=x onerror=alert(1)>",
                                     "servers": ["https://bob:pw123@gpu.example/v1", "http://[", url]})
    line = engine_line(stored)  # a run recorded before, or imported from another machine
    assert "pw123" not in line and "s3cret" not in line and "t0ken" not in line and "<img" not in line
    assert "gpu.example" in line


def test_the_app_refuses_server_urls_with_a_login_before_the_page_shows_them(monkeypatch, capsys, tmp_path):
    """The engine loads on the first run, but the Policy control names ``--model`` at once."""
    from ui import app

    served = []
    monkeypatch.setattr(app, "serve", lambda *a, **kw: served.append(kw))
    db = tmp_path / "canopy.sqlite"
    argv = ["--engine", "openai", "--model", "http://alice:s3cret@127.0.0.1:9/v1", "--db", str(db)]
    assert app.main(argv) == 2
    err = capsys.readouterr().err
    assert "no login, query or fragment" in err and "s3cret" not in err
    assert served == [] and not db.exists()


def test_a_redirect_is_an_error_and_the_named_host_is_never_asked(serve):
    asked = []

    def elsewhere(conn, stopped):
        asked.append(1)
        body = b'{"object": "list", "data": [{"id": "secret-from-elsewhere"}]}'
        _head(conn, len(body))
        conn.sendall(body)

    target = serve(elsewhere)

    def redirect(conn, stopped):
        conn.sendall(f"HTTP/1.1 302 Found\r\nLocation: {target}/models\r\nContent-Length: 0\r\n\r\n".encode())

    url = serve(redirect)
    with pytest.raises(sp.ServerError, match="HTTP 302"):
        sp.send_json("GET", url + "/models", None, {}, timeout=5.0)
    assert asked == []
