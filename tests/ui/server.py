"""Start the real app in this process around the test-only demo search (for browser tests).

The demo algorithm joins the registry only while a test server runs (``start`` adds the
entry, ``stop`` removes it), so no other test ever sees it.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from backend.search import registry
from backend.store import MemoryStore
from tests.ui.demo_search import demo_engine
from ui.app import serve
from ui.services import EngineSlot, Services

DEMO = "demo"
DEMO_ENTRY = "tests.ui.demo_search:DemoSearch"


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


def demo_services(store: Any = None, *, update_every_s: float = 0.5) -> Services:
    return Services(
        store=store if store is not None else MemoryStore(),
        engine=EngineSlot("scripted", "demo rules", loader=demo_engine),
        algorithms=[DEMO, "greedy", "rstar", "cpl"],
        default_algorithm=DEMO,
        update_every_s=update_every_s,
    )


def start(
    store: Any = None, *, update_every_s: float = 0.5, port: int | None = None
) -> tuple[Any, Services, str]:
    registry.ALGORITHMS[DEMO] = DEMO_ENTRY
    services = demo_services(store, update_every_s=update_every_s)
    port = port or free_port()
    demo = serve(services, port=port, block=False)
    return demo, services, f"http://127.0.0.1:{port}/"


def stop(demo: Any, services: Services) -> None:
    demo.close()
    services.close()
    registry.ALGORITHMS.pop(DEMO, None)


if __name__ == "__main__":  # a manual look: python -m tests.ui.server
    import time

    _, _, url = start(port=7861)
    print(url, flush=True)
    while True:
        time.sleep(3600)
