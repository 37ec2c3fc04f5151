"""The run status names the engine, model and servers of a run (issue 21: the page in front
of a GPU box). The servers are tiny in-process OpenAI-shaped HTTP servers (canned text), the
app's engine slot is the one ``python app.py --engine openai --model URL1,URL2`` builds."""

from __future__ import annotations

import html
import threading
from types import SimpleNamespace

from backend.engines.openai import OpenAIEngine
from backend.store import MemoryStore
from tests.engines.test_openai_pool import InFlight, Loopback
from tests.security.hostile import HOSTILE_LINE
from tests.security.test_html_escape import assert_inert_markdown
from ui import handlers as h
from ui.app import engine_options, parse_args
from ui.engine_line import engine_line
from ui.services import EngineSlot, LockedEngine, Services


def test_a_run_through_two_servers_says_which_engine_model_and_servers():
    a, b = Loopback("a"), Loopback("b")
    for s in (a, b):  # as llama_cpp.server answers: one sample per request, so one expansion uses both
        s.owned_by, s.ignore_n = "me", True
    # the app's own path from its flags to the engine slot
    args = parse_args(["--engine", "openai", "--model", f"{a.url},{b.url}", "--engine-opt", "timeout=30"])
    slot = EngineSlot(args.engine, args.model, options=engine_options(args))  # as open_services builds it
    services = Services(store=MemoryStore(), engine=slot, update_every_s=0.05)
    try:
        controls = h.algorithm_controls(["rstar"])
        values = h.preset_values("rstar", "cpu-demo", controls)
        small = {"rollouts": 2, "children": 2, "max_depth": 2, "max_step_tokens": 16}
        values = [small.get(c.name, v) for c, v in zip(controls, values, strict=True)]
        run_id = h.start_run(services, controls, "What is 2 + 2?", "rstar", "vote", "", 0, values, ppm="none")
        assert services.runs.get(run_id).wait(30)
        tree = services.trees.view(run_id, lambda t: t)
        assert len(tree.nodes) > 1  # the tree grew from the servers' text
        status = h.run_status(services, run_id)
        shown = html.unescape(status)  # escaped for Markdown: read it as shown
        assert f"**Engine:** openai · fake-model · 2 servers: <code>{a.url}</code>, <code>{b.url}</code>" in (
            shown.replace("&#58;", ":").replace("\\", ""))
        assert a.completions() and b.completions()  # both served the run
        ready = html.unescape(slot.status()).replace("&#58;", ":").replace("\\", "")
        assert ready.startswith("Engine ready: openai") and f"2 servers: <code>{a.url}</code>" in ready
    finally:
        services.close()
        a.stop()
        b.stop()


def test_the_engine_line_is_inert_and_short():
    hostile = SimpleNamespace(engine={"name": HOSTILE_LINE, "model": HOSTILE_LINE,
                                      "servers": [HOSTILE_LINE] * 6})
    line = engine_line(hostile)
    assert_inert_markdown(line, "engine line")
    assert line.count("<code>") == 4 and "6 servers" in line and "and 2 more" in line
    one = engine_line(SimpleNamespace(engine={"name": "llamacpp", "model": "embedded"}))
    assert one == "**Engine:** llamacpp · embedded"
    assert engine_line(SimpleNamespace(engine={})) == "" and engine_line(None) == ""


def test_two_runs_use_the_servers_at_once():
    """The page's engine lock serialises local engines; the OpenAI engine is thread-safe, so two
    runs (two browser sessions) send requests to the servers at the same time."""
    a, b = Loopback("a"), Loopback("b")
    a.delay_s = b.delay_s = 0.5
    InFlight.now = InFlight.peak = 0
    try:
        engine = LockedEngine(OpenAIEngine.load(None, base_url=[a.url, b.url]))
        threads = [threading.Thread(target=engine.generate, args=([p],)) for p in ("x", "y")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert InFlight.peak == 2 and len(a.completions()) == len(b.completions()) == 1
    finally:
        a.stop()
        b.stop()
