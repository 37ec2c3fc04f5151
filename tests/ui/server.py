"""Start the real app in this process over the scripted engine (browser, API and latency tests).

The page is the one users get: every registered algorithm, rStar-Math first. Its engine
replays rStar and CPL steps (``tests/ui/scripted_runs.py``); ``pace`` sets how long each of
its calls takes, so a test can make a run slow enough to pause, step and stop.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from backend.store import MemoryStore
from tests.ui.scripted_runs import scripted_engine
from ui.app import serve
from ui.services import EngineSlot, Services

#: tests/security/test_api.py registers DEMO -> DEMO_ENTRY around a server of its own and
#: removes it afterwards. The harness itself registers nothing (its runs are the registry's
#: rStar and CPL); the key is not a real algorithm's, so removing it takes none away.
DEMO = "harness-rstar"
DEMO_ENTRY = "backend.search.rstar:RStarSearch"


#: Debian's chromium (Playwright cannot download browsers here) and launch flags that work
#: headless on these machines; shared by the browser tests and bench/ui_latency.py
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-component-update",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def demo_services(store: Any = None, *, update_every_s: float = 0.5, step_scorer: Any = None) -> Services:
    """The app's services over a memory history (unless given one) and the scripted engine;
    ``step_scorer``: a test PPM every rStar run gets unless its PPM choice is none
    (``Services.step_scorer_override``, a test seam)."""
    services = Services(
        store=store if store is not None else MemoryStore(),
        engine=EngineSlot("scripted", "rStar and CPL rules", loader=scripted_engine),
        update_every_s=update_every_s,
    )
    services.step_scorer_override = step_scorer
    return services


def pace(services: Services, delay_s: float) -> None:
    """Make every engine call of these services take ``delay_s`` seconds (0: as fast as it goes)."""
    services.engine.get().inner.delay_s = delay_s


def start(
    store: Any = None, *, update_every_s: float = 0.5, port: int | None = None, step_scorer: Any = None
) -> tuple[Any, Services, str]:
    services = demo_services(store, update_every_s=update_every_s, step_scorer=step_scorer)
    port = port or free_port()
    demo = serve(services, port=port, block=False)
    return demo, services, f"http://127.0.0.1:{port}/"


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """Debian's chromium under Playwright with the flags above (one per test module)."""
    from playwright import sync_api

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def recorded_page(browser: Any) -> tuple[Any, Any, list[str]]:
    """(context, page, the URL of every request the page makes): a fresh 1400x1000 page whose
    actions wait up to 60 s (a loaded 2-core machine can be slow to take a click)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(60_000)
    page = context.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    return context, page, requests


def stop(demo: Any, services: Services) -> None:
    demo.close()
    services.close()


if __name__ == "__main__":  # a manual look: python -m tests.ui.server [seconds per engine call]
    import sys
    import time

    _, services, url = start(port=7861)
    pace(services, float(sys.argv[1]) if len(sys.argv) > 1 else 0.3)
    print(url, flush=True)
    while True:
        time.sleep(3600)
