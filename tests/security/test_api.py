"""The app's HTTP API as an attacker sees it: a real server (the test harness of tests/ui:
scripted engine, memory store) called with raw HTTP and with ``gradio_client``.

Every event is the page's own: none is listed as an API endpoint, the client library finds
none, REST calls that skip the queue are refused. Through the queue (what the page itself
uses) an event can do only what the page can: the import takes only a file uploaded to this
server (not a server path, not a symlink, not a URL), and a ``?run=`` value comes back as
text. Also: the exposure check (``--host``/``--share`` without ``--auth``) and logins.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from backend.export import export_run
from backend.store import MemoryStore
from tests.factories import small_run
from tests.security.hostile import EVIL, HOSTILE_LINE, hostile_events
from tests.security.test_html_escape import assert_inert_markdown
from tests.ui import server as srv
from ui import app
from ui import handlers as h
from ui.solve import LATEX

SECRET_FILE = Path("/etc/hostname")


@pytest.fixture(scope="module")
def server():
    demo, services, url = srv.start(MemoryStore())
    with httpx.Client(base_url=url, timeout=60) as client:
        yield client, services, demo
    srv.stop(demo, services)


def config(client: httpx.Client) -> dict[str, Any]:
    return client.get("/config").json()


def fn_index(client: httpx.Client, api_name: str) -> tuple[int, int | None]:
    """(fn index, its trigger's component id) of the page's event with this name."""
    for dep in config(client)["dependencies"]:
        if dep.get("api_name") == api_name:
            return dep["id"], dep["targets"][0][0]
    raise LookupError(api_name)


def queue_call(client: httpx.Client, api_name: str, data: list[Any], query: str = "") -> dict[str, Any]:
    """Call an event the way the page does (join the queue, read the stream); the last message."""
    fn, trigger = fn_index(client, api_name)
    session = uuid.uuid4().hex[:12]
    body = {"data": data, "fn_index": fn, "session_hash": session, "trigger_id": trigger, "event_data": None}
    joined = client.post("/gradio_api/queue/join" + query, json=body)
    assert joined.status_code == 200, joined.text
    last: dict[str, Any] = {}
    with client.stream("GET", "/gradio_api/queue/data", params={"session_hash": session}) as r:
        for line in r.iter_lines():
            if line.startswith("data:"):
                last = json.loads(line[5:])
                if last.get("msg") == "process_completed":
                    break
    return last


def file_data(path: str) -> dict[str, Any]:
    return {"path": path, "orig_name": "run.jsonl", "meta": {"_type": "gradio.FileData"}}


def upload(client: httpx.Client, name: str, content: bytes) -> str:
    r = client.post("/gradio_api/upload", files={"files": (name, content)})
    assert r.status_code == 200, r.text
    return r.json()[0]


def secret() -> str:
    return SECRET_FILE.read_text(encoding="utf-8").strip() if SECRET_FILE.is_file() else ""


# --- nothing advertised --------------------------------------------------------------------


def test_no_event_is_an_api_endpoint(server):
    client, _, _ = server
    info = client.get("/gradio_api/info").json()
    assert info["named_endpoints"] == {} and info["unnamed_endpoints"] == {}
    deps = config(client)["dependencies"]
    assert deps and {d["api_visibility"] for d in deps} == {"private"}
    paths = client.get("/gradio_api/openapi.json").json().get("paths", {})
    assert set(paths) <= {"/gradio_api/upload"}  # Gradio's own upload route, which the page uses
    assert config(client).get("footer_links") == ["settings"]


def test_the_client_library_finds_no_endpoint(server):
    from gradio_client import Client

    client, _, _ = server
    lib = Client(str(client.base_url), verbose=False)
    assert lib.view_api(print_info=False, return_format="dict") == {
        "named_endpoints": {},
        "unnamed_endpoints": {},
    }
    for name in ("/import_file", "/delete", "/attach", "/start"):
        with pytest.raises(ValueError, match="Cannot find a function"):
            lib.predict(api_name=name)


def test_rest_calls_that_skip_the_queue_are_refused(server):
    client, _, _ = server
    for name in ("import_file", "delete", "start", "rows"):
        r = client.post(f"/gradio_api/api/{name}", json={"data": [file_data(str(SECRET_FILE)), "", "", ""]})
        assert r.status_code == 404 and "does not accept direct HTTP POST" in r.text


def test_monitoring_and_server_files_are_closed(server):
    client, _, _ = server
    assert client.get("/gradio_api/monitoring/summary").status_code in (403, 404)
    for path in (str(SECRET_FILE), "/etc/passwd", "../../etc/passwd"):
        r = client.get(f"/gradio_api/file={path}")
        assert r.status_code in (403, 404), (path, r.status_code)
        assert not secret() or secret() not in r.text


# --- the import takes only uploaded files ------------------------------------------------------


def refused(text: str) -> bool:
    """The event ended in an error, said either by Canopy's own refusal ("only a file uploaded
    ...", a gr.Error) or, for a path Gradio itself refuses first, by a bare error: unexpected
    error texts never reach a page (``launch_options``)."""
    return ("not uploaded" in text or "only a file uploaded" in text or '"success": false' in text
            or text.startswith("event: error"))


@pytest.mark.skipif(not SECRET_FILE.is_file(), reason="no /etc/hostname here")
@pytest.mark.parametrize("how", ["queue", "call"])
def test_import_of_a_server_path_is_refused(server, how):
    client, services, _ = server
    before = len(services.store.list_runs())
    data = [file_data(str(SECRET_FILE)), "", "", ""]
    if how == "queue":
        out = queue_call(client, "import_file", data)
        text = json.dumps(out)
    else:  # Gradio's simple call route by the event's (undocumented) name
        r = client.post("/gradio_api/call/import_file", json={"data": data})
        text = client.get(f"/gradio_api/call/import_file/{r.json()['event_id']}").text
    assert refused(text)
    assert secret() not in text.replace(str(SECRET_FILE), "")
    assert len(services.store.list_runs()) == before


@pytest.mark.skipif(not SECRET_FILE.is_file(), reason="no /etc/hostname here")
def test_import_through_a_symlink_is_refused(server, tmp_path):
    from gradio.utils import get_upload_folder

    client, services, _ = server
    before = len(services.store.list_runs())
    outside = tmp_path / "link.jsonl"
    outside.symlink_to(SECRET_FILE)
    inside_dir = Path(get_upload_folder()) / f"canopy-test-{uuid.uuid4().hex[:8]}"
    inside_dir.mkdir(parents=True)
    inside = inside_dir / "link.jsonl"
    inside.symlink_to(SECRET_FILE)  # as if a local user planted it in the upload folder
    try:
        for link in (outside, inside):
            text = json.dumps(queue_call(client, "import_file", [file_data(str(link)), "", "", ""]))
            assert refused(text), text
            assert secret() not in text.replace(str(SECRET_FILE), "")
    finally:
        inside.unlink()
        inside_dir.rmdir()
    assert len(services.store.list_runs()) == before


def test_import_of_a_url_is_refused_before_any_download(server, monkeypatch):
    from gradio import processing_utils

    client, _, _ = server
    fetched: list[str] = []

    async def no_download(url: str, cache_dir: str) -> str:
        fetched.append(url)
        raise AssertionError("the server fetched a URL named by the client")

    monkeypatch.setattr(processing_utils, "async_ssrf_protected_download", no_download)
    for url in (f"http://{EVIL}/run.jsonl", "https://93.184.216.34/run.jsonl"):
        out = queue_call(client, "import_file", [file_data(url), "", "", ""])
        assert out["success"] is False and "only a file uploaded" in json.dumps(out)
    assert fetched == []


def test_an_uploaded_file_imports_and_a_hostile_one_is_shown_as_text(server, tmp_path):
    client, _, _ = server
    good = MemoryStore()
    good.import_events("r1", small_run())
    export_run(good, "r1", tmp_path / "r1.jsonl")
    path = upload(client, "r1.jsonl", (tmp_path / "r1.jsonl").read_bytes())
    out = queue_call(client, "import_file", [file_data(path), "", "", ""])
    message = out["output"]["data"][0]
    assert out["success"] and message.startswith("Imported as run")
    # a malformed file whose name and content are hostile: the error quotes them as text
    path = upload(client, "<img src=x onerror=alert(1)>.jsonl", (HOSTILE_LINE + "\n").encode())
    out = queue_call(client, "import_file", [file_data(path), "", "", ""])
    message = out["output"]["data"][0]
    assert message.startswith("⚠ Import failed") and "<img" not in message and f"http://{EVIL}" not in message


def test_is_upload_resolves_links_and_parents(tmp_path, monkeypatch):
    from ui.history import HistoryHandlers, is_upload

    uploads = tmp_path / "uploads"
    (uploads / "a").mkdir(parents=True)
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(uploads))
    real = uploads / "a" / "run.jsonl"
    real.write_text("{}\n")
    (uploads / "a" / "out.jsonl").symlink_to(tmp_path / "secret")
    (tmp_path / "secret").write_text("secret\n")
    assert is_upload(real)
    for bad in (
        uploads / "a" / "out.jsonl",
        uploads / "a" / ".." / ".." / "secret",
        tmp_path / "secret",
        uploads / "a",
        str(uploads) + "-sibling/x.jsonl",
    ):
        assert not is_upload(bad), bad
    services = srv.demo_services(MemoryStore())
    try:
        message = HistoryHandlers(services).import_file(str(uploads / "a" / "out.jsonl"), "", "", "")[0]
        assert "only a file uploaded" in message and services.store.list_runs() == []
    finally:
        services.close()


# --- reflected values --------------------------------------------------------------------------


def test_run_value_in_the_url_comes_back_as_text(server):
    client, _, _ = server
    hostile = httpx.QueryParams({"run": HOSTILE_LINE})
    out = queue_call(client, "attach", [], query=f"?{hostile}")
    run, status = out["output"]["data"][:2]
    assert run is None and "is not in this server's history" in status
    assert "<img" not in status and "<script" not in status and f"http://{EVIL}" not in status
    assert "![" not in status and "](" not in status


def test_stored_hostile_run_comes_back_escaped(server):
    client, services, _ = server
    services.store.import_events("hostile-api", hostile_events("hostile-api", level="warning"))
    out = queue_call(client, "open_1", ["hostile-api"])
    assert out["success"], out
    data = out["output"]["data"]
    assert_inert_markdown(data[2], "caption over HTTP")
    assert_inert_markdown(data[6], "answer over HTTP", LATEX)


# --- the page's words --------------------------------------------------------------------------


def test_truth_reward_without_an_answer_names_the_page_box():
    services = srv.demo_services(MemoryStore())
    try:
        with pytest.raises(h.UserFacingError) as err:
            h.start_run(services, [], "1+1?", "greedy", "truth", "", 0, [])
    finally:
        services.close()
    assert "Known answer box" in str(err.value) and "--answer" not in str(err.value)
    assert h.page_message("or use --reward vote") == "or choose the vote reward"


# --- exposure and logins -----------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "localhost", "::1", "LOCALHOST"])
def test_loopback_needs_no_login(host):
    assert app.check_exposure(host, False, [], False) == (True, "")


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.5", "10.0.0.1", "myhost.example", ""])
def test_a_network_address_needs_auth_or_no_auth(host):
    ok, message = app.check_exposure(host, False, [], False)
    assert not ok and "--auth" in message and "--no-auth" in message
    ok, message = app.check_exposure(host, False, [("u", "p")], False)
    assert ok and "logins are required" in message
    ok, message = app.check_exposure(host, False, [], True)
    assert ok and message.startswith("WARNING") and "WITHOUT authentication" in message


def test_share_counts_as_a_network_address():
    ok, message = app.check_exposure("127.0.0.1", True, [], False)
    assert not ok and "--share" in message and "--no-auth" in message
    assert app.check_exposure("127.0.0.1", True, [("u", "p")], False)[0]


def test_launch_options_never_show_unexpected_error_texts():
    # an exception's text can carry a run's own markup, which Gradio's toast renders as HTML
    exposed = app.launch_options()
    assert exposed["show_error"] is False
    assert exposed["footer_links"] == ["settings"] and exposed["enable_monitoring"] is False
    assert exposed["run_history"] is False and exposed["max_file_size"] == app.MAX_UPLOAD


def test_auth_and_no_auth_together_are_refused():
    ok, message = app.check_exposure("0.0.0.0", False, [("u", "p")], True)
    assert not ok and "contradict" in message


def test_main_refuses_before_opening_anything(monkeypatch, capsys, tmp_path):
    served: list[dict[str, Any]] = []
    monkeypatch.setattr(app, "serve", lambda *a, **kw: served.append(kw))
    db = tmp_path / "canopy.sqlite"
    assert app.main(["--host", "0.0.0.0", "--engine", "scripted", "--db", str(db)]) == 2
    assert "Refusing to listen on 0.0.0.0" in capsys.readouterr().err
    assert served == [] and not db.exists()
    assert app.main(["--share", "--engine", "scripted", "--db", str(db)]) == 2
    assert served == []


def test_main_with_no_auth_warns_and_serves(monkeypatch, capsys, tmp_path):
    served: list[dict[str, Any]] = []
    monkeypatch.setattr(app, "serve", lambda *a, **kw: served.append(kw))
    db = str(tmp_path / "canopy.sqlite")
    argv = ["--host", "0.0.0.0", "--no-auth", "--engine", "scripted", "--db", db, "--root-path", "/canopy"]
    assert app.main(argv) == 0
    assert "WARNING" in capsys.readouterr().err
    assert served[0]["host"] == "0.0.0.0" and not served[0]["auth"] and served[0]["root_path"] == "/canopy"


def test_main_passes_logins_from_flags_and_file(monkeypatch, capsys, tmp_path):
    served: list[dict[str, Any]] = []
    monkeypatch.setattr(app, "serve", lambda *a, **kw: served.append(kw))
    logins = tmp_path / "logins"
    logins.write_text("# team\nann:s3cret:with:colons\n\nbob:pw2\n")
    db = str(tmp_path / "canopy.sqlite")
    argv = ["--host", "0.0.0.0", "--auth", "cy:pw3", "--auth-file", str(logins), "--db", db]
    argv += ["--engine", "scripted"]
    assert app.main(argv) == 0
    assert served[0]["auth"] == [("cy", "pw3"), ("ann", "s3cret:with:colons"), ("bob", "pw2")]
    logins.write_text("ann:s3cret\nnopassword\n")
    assert app.main(argv) == 2
    err = capsys.readouterr().err
    assert "line 2" in err and "s3cret" not in err  # names the line, never a password
    with pytest.raises(SystemExit):
        app.parse_args(["--auth", "no-colon"])


def test_canopy_serve_refuses_too(tmp_path, capsys):
    from ui.cli import main

    assert main(["serve", "--host", "0.0.0.0", "--db", str(tmp_path / "c.sqlite")]) == 2
    assert "--no-auth" in capsys.readouterr().err
    assert not (tmp_path / "c.sqlite").exists()


def test_a_server_with_logins_refuses_anonymous_calls(tmp_path):
    from backend.search import registry

    registry.ALGORITHMS[srv.DEMO] = srv.DEMO_ENTRY
    services = srv.demo_services(MemoryStore())
    port = srv.free_port()
    demo = app.serve(services, port=port, block=False, auth=[("ann", "s3cret")])
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            assert client.get("/config").status_code == 401
            assert client.get("/gradio_api/info").status_code == 401
            assert client.post("/gradio_api/upload", files={"files": ("x.jsonl", b"{}")}).status_code == 401
            bad = client.post("/login", data={"username": "ann", "password": "wrong"})
            assert bad.status_code == 400
            good = client.post("/login", data={"username": "ann", "password": "s3cret"})
            assert good.status_code == 200
            assert client.get("/config").status_code == 200
    finally:
        demo.close()
        services.close()
        registry.ALGORITHMS.pop(srv.DEMO, None)
