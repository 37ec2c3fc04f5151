"""UI latency in a real browser: event emitted → node visible, and big-tree render times.

    python bench/ui.py                 # sizes 200, 2000, 10000
    python bench/ui.py --sizes 200 2000 --repeats 5

What it does: serves the real app (memory store) and drives a run whose events the bench
emits by hand (a recorded demo tree of about N nodes), opens it in headless chromium via
``?run=ID`` (the re-attach path), then

- draws the whole N-node tree once (first render, measured in the page);
- emits one more ``node_added`` and measures, on the wall clock shared by both sides, the
  time from the emit to the node being drawn (the page's node count going up), repeated;
- reports the page's own Plotly render time per update and the server's figure build time.

Targets from issue 6: ≤ 1 s at 200 nodes, ≤ 2 s at 2,000, ≤ 200 ms to add one node to a
10,000-node tree (render). The update period (0.5 s: newest state wins) is part of the
emit→visible time by design: on average half a period is spent waiting for the next tick.
Prints a table; it is a benchmark, not a test (timings depend on the machine's load).
"""

from __future__ import annotations

import argparse
import queue
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend import events as ev
from backend.store import MemoryStore

CHROMIUM = "/usr/bin/chromium"
NODES = "Number(document.querySelector('#tree .canopy-tree')?.dataset.nodes || 0)"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-component-update",
]


def recorded_tree(size: int) -> list[ev.Event]:
    """Events of a demo-shaped MCTS tree with about ``size`` nodes (no run_started / run_finished)."""
    from backend.engines.scripted import ScriptedEngine
    from tests.ui.demo_search import DemoConfig, DemoSearch

    width = 4
    search = DemoSearch(
        "bench",
        engine=ScriptedEngine([("", ["# Step {k}: x\nx = 1"])]),
        config=DemoConfig(iterations=100_000, width=width, depth=12, delay_s=0),
    )
    search.start()
    while search.state.next_id < size:
        search.step()
    return [e for e in search.log.events if not isinstance(e, ev.RunStarted | ev.RunFinished)]


class FedSearch:
    """A SearchLike whose events come from the bench: ``feed(events)`` then they are emitted."""

    def __init__(self, run_id: str) -> None:
        self.log = ev.EventLog()
        self.run_id = run_id
        self.q: queue.Queue = queue.Queue()
        self._stop = False

    @property
    def done(self) -> bool:
        return self._stop

    def start(self) -> None:
        self.log.emit(ev.RunStarted, run_id=self.run_id, algorithm="bench", problem="bench tree")

    def step(self) -> list[ev.Event]:
        try:
            batch = self.q.get(timeout=0.2)
        except queue.Empty:
            return []
        for e in batch:
            fields = {k: v for k, v in e.to_dict().items() if k not in ("type", "seq", "t")}
            self.log.emit(type(e), **fields)
        return []

    def request_stop(self) -> None:
        self._stop = True

    def finish(self, **kw) -> ev.RunFinished:
        return self.log.emit(ev.RunFinished, status="stopped")


def _timed_snapshots() -> None:
    """Log how long the server spends building each snapshot (bench only)."""
    from ui import handlers

    original = handlers.snapshot

    def timed(*a, **kw):
        t = time.perf_counter()
        out = original(*a, **kw)
        print(
            f"  server snapshot {1000 * (time.perf_counter() - t):.0f} ms at {time.time() * 1000:.0f}",
            flush=True,
        )
        return out

    handlers.snapshot = timed


def measure(size: int, repeats: int, page, services, url: str, verbose: bool = False) -> dict:
    events = recorded_tree(size)
    adds = [i for i, e in enumerate(events) if isinstance(e, ev.NodeAdded)]
    cut = adds[-repeats] if len(adds) > repeats else len(events)
    base, tail = events[:cut], events[cut:]
    box: dict = {}

    def build(run_id: str) -> FedSearch:
        box["s"] = FedSearch(run_id)
        return box["s"]

    run = services.runs.start(build)
    search: FedSearch = box["s"]
    search.q.put(base)
    n0 = sum(isinstance(e, ev.NodeAdded) for e in base)
    page.goto(f"{url}?run={run.run_id}")
    page.wait_for_function(f"{NODES} >= {n0}", timeout=120_000)
    first_render = float(page.eval_on_selector("#tree .canopy-tree", "e => e.dataset.renderMs"))
    lat, renders = [], []
    groups: list[list[ev.Event]] = []
    for e in tail:
        if isinstance(e, ev.NodeAdded) or not groups:
            groups.append([])
        groups[-1].append(e)
    count = n0
    for g in groups[:repeats]:
        time.sleep(1.0)
        added = sum(isinstance(e, ev.NodeAdded) for e in g)
        t_emit = time.time() * 1000
        if verbose:
            print(f"  emit at {t_emit:.0f}", flush=True)
        search.q.put(g)
        page.wait_for_function(f"{NODES} >= {count + added}", timeout=60_000)
        # the page stamps when it finished drawing (waiting on the page's condition adds polling lag)
        seen = page.evaluate("window.canopyDrawnAt")
        arrived = page.evaluate("window.canopyValueAt")
        if verbose:
            print(
                f"  emit→value in page {arrived - t_emit:.0f} ms, value→drawn {seen - arrived:.0f} ms",
                flush=True,
            )
        count += added
        lat.append(seen - t_emit)
        renders.append(float(page.eval_on_selector("#tree .canopy-tree", "e => e.dataset.renderMs")))
    run.stop()
    run.wait(10)
    return {
        "nodes": n0,
        "first_render_ms": round(first_render),
        "emit_to_visible_ms_median": round(statistics.median(lat)) if lat else None,
        "emit_to_visible_ms_max": round(max(lat)) if lat else None,
        "add_one_render_ms_median": round(statistics.median(renders)) if renders else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[200, 2000, 10000])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--verbose", action="store_true", help="print where each update's time goes")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    from tests.ui.server import free_port
    from ui.app import serve
    from ui.services import EngineSlot, Services

    if args.verbose:
        _timed_snapshots()
    services = Services(store=MemoryStore(), engine=EngineSlot("none", None, loader=lambda: None))
    port = free_port()
    demo = serve(services, port=port, block=False)
    url = f"http://127.0.0.1:{port}/"
    rows = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            for size in args.sizes:
                rows.append(measure(size, args.repeats, page, services, url, args.verbose))
                print(rows[-1], flush=True)
            browser.close()
    finally:
        demo.close()
        services.close()
    print("\nnodes | first render ms | emit→visible ms (median / max) | add-one render ms")
    for r in rows:
        print(
            f"{r['nodes']:>6} | {r['first_render_ms']:>15} | {r['emit_to_visible_ms_median']:>6} / "
            f"{r['emit_to_visible_ms_max']:<6} | {r['add_one_render_ms_median']}"
        )


if __name__ == "__main__":
    main()
