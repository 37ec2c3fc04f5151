"""The page with the real embedded model: rStar-Math on a GSM8K problem, start to finish.

Slow (minutes on 2 CPU cores): run with ``pytest -m "model and browser and slow"``.
"""

from __future__ import annotations

import time

import pytest

from tests.ui.server import CHROMIUM, chromium
from tests.ui.test_browser import click_node, node_ids, nodes, status, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.model, pytest.mark.slow]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")


def _model_ready() -> bool:
    from backend.engines.embedded import describe_models

    return any(row.get("default") and row.get("status") == "ready" for row in describe_models())


@pytest.mark.timeout(900)
def test_rstar_with_the_embedded_model_grows_and_finishes(tmp_path):
    if not CHROMIUM.exists() or not _model_ready():
        pytest.skip("needs /usr/bin/chromium and the embedded model (canopy models)")
    from backend.store import SQLiteStore
    from tests.ui.server import free_port
    from ui.app import serve
    from ui.services import EngineSlot, Services

    services = Services(store=SQLiteStore(tmp_path / "h.sqlite"), engine=EngineSlot("llamacpp", None))
    port = free_port()
    demo = serve(services, port=port, block=False)
    try:
        with chromium() as browser:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(120_000)
            outside: list[str] = []
            page.on("request", lambda r: outside.append(r.url) if "127.0.0.1" not in r.url else None)
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_function("typeof window.Plotly === 'object'")
            page.locator("text=Examples").first.click()
            page.locator("#dataset input").click()
            page.get_by_role("option", name="gsm8k").click()
            page.locator("#example input").click()
            page.get_by_role("option").first.click()
            wait_until(lambda: "Janet" in page.input_value("#problem textarea"), what="the example")
            page.locator("#settings").get_by_text("Settings", exact=True).click()
            box = page.locator("#cfg-rstar-rollouts input[type=number]").first
            box.fill("3")
            box.press("Tab")
            page.click("#run-btn")
            seen, t0 = [], time.monotonic()
            while "finished" not in status(page) and time.monotonic() - t0 < 800:
                seen.append(nodes(page))
                time.sleep(2)
            assert "finished" in status(page), status(page)
            assert len(set(seen)) >= 3 and seen == sorted(seen), seen  # grew live, never shrank
            assert "Final answer" in page.inner_text("#answer")
            click_node(page, max(node_ids(page)))
            wait_until(lambda: "Node #" in page.inner_text("#insp-title"), what="the inspector")
            assert page.inner_text("#insp-code").strip()  # a real step's code
            assert not outside, outside
    finally:
        demo.close()
        services.close()
