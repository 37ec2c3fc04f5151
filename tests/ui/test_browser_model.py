"""The page with the real embedded model: rStar-Math on a GSM8K problem, start to finish;
and the same run valued by a real PPM: the study PPM given with ``--ppm``, and, once Canopy's
PPM ships (assets/ppm), the shipped one with default settings.

Slow (minutes on 2 CPU cores): run with ``pytest -m "model and browser and slow"``.
"""

from __future__ import annotations

import time
from pathlib import Path

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
            page.get_by_role("option", name="gsm8k", exact=True).click()
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


def _shipped_ppm() -> bool:
    from backend.reward.step_scorer import MARKER
    from backend.runspec import shipped_ppm_dir

    return (shipped_ppm_dir() / MARKER).is_file()


#: per drawn node: the PPM its hover row carries (tests/ui/test_browser_ppm.py reads the same)
DRAWN_PPM = """(sel) => {
  const out = {};
  for (const t of document.querySelector(sel + ' .canopy-plot').data || []) {
    if (String(t.name).startsWith('nodes')) t.customdata.forEach((r) => { out[r[0]] = r[3]; });
  }
  return out;
}"""


@pytest.mark.timeout(900)
def test_the_default_settings_value_every_step_with_the_shipped_ppm(tmp_path):
    """``python app.py`` as shipped: rStar-Math, reward auto, PPM default; every node the
    search scored shows a PPM score on the page, and the page colours by it."""
    if not CHROMIUM.exists() or not _model_ready():
        pytest.skip("needs /usr/bin/chromium and the embedded model (canopy models)")
    assert _shipped_ppm(), "a PPM ships in assets/ppm (docs/PPM.md): a default run is valued by it"
    _every_step_valued_in_the_page(tmp_path, "default", "default (shipped PPM)", "PPM: Canopy's shipped PPM")


@pytest.mark.timeout(900)
def test_a_ppm_given_to_the_app_values_every_step_in_the_page(tmp_path):
    """``python app.py --ppm DIR``: a real trained PPM named by its directory (a copy of the
    shipped one, so the page names the given directory) values every step of a run started
    from the page."""
    import shutil

    from backend.paths import assets_dir

    study = tmp_path / "my-ppm"
    shutil.copytree(assets_dir() / "ppm", study)
    if not CHROMIUM.exists() or not _model_ready():
        pytest.skip("needs /usr/bin/chromium and the embedded model (canopy models)")
    _every_step_valued_in_the_page(tmp_path, str(study), f"{study} (--ppm)", "PPM: the PPM in ")


def _every_step_valued_in_the_page(tmp_path, ppm: str, control: str, status_says: str) -> None:
    """Start the app with ``ppm`` (its ``--ppm``), run rStar-Math from the page with the default
    reward, and check every valued node's PPM score as the page draws it."""
    from backend.store import SQLiteStore
    from backend.tree import Tree
    from tests.ui.server import free_port
    from ui.app import serve
    from ui.services import EngineSlot, Services

    services = Services(store=SQLiteStore(tmp_path / "h.sqlite"), engine=EngineSlot("llamacpp", None),
                        ppm=ppm)
    port = free_port()
    demo = serve(services, port=port, block=False)
    try:
        with chromium() as browser:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(120_000)
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_function("typeof window.Plotly === 'object'")
            assert page.input_value("#ppm input") == control
            assert page.input_value("#reward input") == "auto"
            page.fill("#problem textarea", "Tom has 3 boxes of 4 apples and eats 2. How many are left?")
            page.locator("#settings").get_by_text("Settings", exact=True).click()
            box = page.locator("#cfg-rstar-rollouts input[type=number]").first
            box.fill("2")
            box.press("Tab")
            page.click("#run-btn")
            wait_until(lambda: "finished" in status(page), timeout=800, every=2, what="the run to end")
            run_id = page.eval_on_selector("#tree .canopy-tree", "e => e.dataset.run")
            tree = Tree.from_events(services.runs.events(run_id))
            wait_until(lambda: nodes(page) == len(tree.nodes), what="the whole tree drawn")
            assert status_says in status(page), status(page)
            assert ppm == "default" or Path(ppm).name in status(page), status(page)  # names the PPM
            scored = {n.id: n.ppm for n in tree.nodes.values() if n.ppm is not None}
            invalid = {n.id for n in tree.nodes.values() if n.terminal and n.answer is None}
            assert scored and set(scored) == set(tree.nodes) - {tree.root_id} - invalid
            drawn = {int(k): v for k, v in page.evaluate(DRAWN_PPM, "#tree").items()}
            for nid, value in scored.items():
                assert drawn[nid] == pytest.approx(value, abs=1e-4), nid
            assert page.eval_on_selector("#tree .canopy-tree", "e => e.dataset.color") == "ppm"
    finally:
        demo.close()
        services.close()
