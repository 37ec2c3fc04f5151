"""Screenshots of issue 16's panels from a real run with the embedded model (docs/UI.md).

    python -m tests.ui.issue16_screenshots [rollouts]

Starts the app on the embedded model (llama.cpp, CPU), runs rStar-Math on a GSM8K-style
problem with a few rollouts, then drives each panel in chromium and writes
docs/screenshots/issue16-*.png. Not a test (minutes of CPU); the behaviour is tested in
tests/ui/test_browser_teach.py over the scripted engine.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from tests.ui import test_browser as tb
from tests.ui.server import chromium, free_port

OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PROBLEM = (
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
    "How many clips did Natalia sell altogether in April and May?"
)


def shot(page, selector: str, name: str) -> None:
    page.locator(selector).first.scroll_into_view_if_needed()
    time.sleep(0.5)
    page.locator(selector).first.screenshot(path=str(OUT / f"issue16-{name}.png"))
    print("wrote", OUT / f"issue16-{name}.png", flush=True)


def main(rollouts: int = 4) -> None:
    from backend.store import SQLiteStore
    from ui.app import serve
    from ui.services import EngineSlot, Services

    OUT.mkdir(parents=True, exist_ok=True)
    store = SQLiteStore(Path(tempfile.mkdtemp()) / "h.sqlite")
    services = Services(store=store, engine=EngineSlot("llamacpp", None))
    port = free_port()
    demo = serve(services, port=port, block=False)
    try:
        with chromium() as browser:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(600_000)
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_function("typeof window.Plotly === 'object'")
            run_id = tb.run(page, PROBLEM, rollouts=rollouts, children=3)
            run = services.runs.get(run_id)
            run.wait(1800)
            tb.settle(page, services, run_id)
            tree = services.trees.view(run_id, lambda t: t)
            print("run", run_id, len(tree.nodes), "nodes", flush=True)
            # answer clusters: click the first bar
            page.locator("#clusters .canopy-cluster").first.click()
            time.sleep(1.0)
            shot(page, "#clusters-panel", "clusters")
            shot(page, "#tree", "clusters-tree")
            page.click("#clusters .canopy-cluster-clear")
            # find and focus
            title = "Find, focus, collapse (big trees)"
            page.locator("#bigtree-panel").get_by_text(title, exact=True).click()
            page.fill("#find-query input, #find-query textarea", "print")
            page.click("#find-btn")
            time.sleep(1.5)
            shot(page, "#bigtree-panel", "find")
            page.check("#focus-toggle input")
            time.sleep(1.5)
            shot(page, "#tree", "focus")
            page.uncheck("#focus-toggle input")
            # teacher mode: phases and questions until a reveal with visited siblings' arithmetic
            page.check("#teach-toggle input")
            asked = False
            for _ in range(80):
                page.click("#teach-next")
                time.sleep(0.8)
                if "last phase" in page.inner_text("#teach-lesson"):
                    break
                if not page.is_visible("#teach-predict"):
                    continue
                if not asked:
                    shot(page, "#teach-panel", "teacher-question")
                    asked = True
                page.locator("#teach-predict label").first.click()
                page.click("#teach-check")
                time.sleep(1.0)
                if "√(ln" in page.inner_text("#teach-lesson"):  # a visited sibling's UCT arithmetic
                    break
            shot(page, "#teach-panel", "teacher-reveal")
            # steering: fork from the deepest open step (the finished run cannot be steered)
            deep = max((n for n in tree.nodes.values() if not n.terminal and n.parent is not None),
                       key=lambda n: n.depth, default=None)
            if deep is not None:
                page.locator("#steer-panel").get_by_text("Steer the search", exact=True).click()
                tb.click_node(page, deep.id)
                time.sleep(1.0)
                shot(page, "#steer-panel", "steer")
    finally:
        demo.close()
        services.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 4)
