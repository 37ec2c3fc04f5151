"""Size and open time of a big one-file HTML replay (issue 17: a 5,000-node run opens in ≤ 3 s).

    python bench/html_replay.py                 # 5,000 nodes, 3 opens
    python bench/html_replay.py --nodes 10000 --repeats 5 --keep /tmp/big.html

What it does: runs a CPL search over the scripted engine of tests/ui/scripted_runs.py (the
real search core, canned plan steps) until it has about N nodes, writes its HTML replay
(backend/html_replay.py), and opens the file from disk in headless chromium (Debian's
/usr/bin/chromium through Playwright, software GL, network requests aborted), each time in
a fresh browser context. "Open time" is the page's own clock from navigation start to the
frame after the whole tree is first drawn (``document.body.dataset.ready``): parsing
plotly.js and the events, folding every event, the tidy layout and Plotly's first draw.
Also printed: the wall time of the whole ``goto`` to ready from Python, and the time of one
slider move back to the middle of the run (a refold and redraw). A benchmark, not a test:
timings depend on the machine's load, which it prints.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TARGET_S = 3.0


def big_run(size: int) -> list:
    """The events of a finished CPL search with about ``size`` nodes."""
    from tests.ui.scripted_runs import make_run

    search = make_run(algorithm="cpl", rollouts=10_000, children=4, max_depth=12)
    search.start()
    while search.state.next_id < size:
        search.step()
    search.finish(status="stopped")
    return search.log.events


#: every drawn node's (x, y, size, n, q) read back from Plotly's traces
DRAWN = """() => {
  const el = document.getElementById('cr-plot'), out = {};
  for (const t of el.data) {
    if (!String(t.name).startsWith('nodes')) continue;
    t.customdata.forEach((r, k) => { out[r[0]] = [t.x[k], t.y[k], t.marker.size[k], r[1], r[2], t.type]; });
  }
  return out;
}"""


def same_as_the_app(page, events: list) -> str:
    """Whether the replay's last step draws the app's tree (ui/figure.py), node by node."""
    from backend.tree import Tree
    from ui.figure import node_table, tree_figure

    page.locator("#cr-slider").fill(str(len(events) - 1))
    page.wait_for_function(f"document.body.dataset.rev === '{len(events) - 1}'", timeout=120_000)
    drawn = {int(k): v for k, v in page.evaluate(DRAWN).items()}
    table = node_table(tree_figure(Tree.from_events(events)))
    differ = [
        nid
        for nid, row in table.items()
        if drawn.get(nid, [None] * 5)[:5] != [row["x"], -row["depth"], row["size"], row["n"], row["q"]]
    ]
    kinds = ", ".join(sorted({v[5] for v in drawn.values()}))
    return f"{len(table) - len(differ)}/{len(table)} nodes drawn as the app draws them ({kinds})"


def open_times(path: Path, repeats: int, events: list) -> list[tuple[float, float, float, dict]]:
    """(page open ms, goto-to-ready wall ms, slider move ms, where the open time went) per
    fresh context."""
    from playwright.sync_api import sync_playwright

    from tests.ui.server import CHROMIUM, CHROMIUM_ARGS

    out = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        for _ in range(repeats):
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            context.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file:") else r.abort())
            page = context.new_page()
            t0 = time.perf_counter()
            page.goto(path.resolve().as_uri())
            page.wait_for_function("document.body.dataset.ready === '1'", timeout=120_000)
            wall = (time.perf_counter() - t0) * 1000
            opened = page.evaluate("window.canopyReadyAt")
            split = page.evaluate(
                """() => ({plotly: window.canopyPlotlyMs, ...window.canopyT, ready: window.canopyReadyAt})"""
            )
            n = page.evaluate("window.canopyReplay.events")
            t1 = time.perf_counter()
            page.locator("#cr-slider").fill(str(n // 2))
            page.wait_for_function(f"document.body.dataset.rev === '{n // 2}'", timeout=120_000)
            move = (time.perf_counter() - t1) * 1000
            out.append((opened, wall, move, split))
            if len(out) == 1:
                print(same_as_the_app(page, events))
            context.close()
        browser.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=int, default=5000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--keep", type=Path, default=None, help="write the HTML file here (default: a temp file)")
    args = ap.parse_args()

    from backend.html_replay import write_replay
    from backend.tree import Tree

    t0 = time.perf_counter()
    events = big_run(args.nodes)
    nodes = len(Tree.from_events(events).nodes)
    t1 = time.perf_counter()
    path = args.keep or Path(tempfile.mkdtemp(prefix="canopy-bench-")) / "replay.html"
    made = write_replay(events, path)
    t2 = time.perf_counter()
    from plotly.offline import get_plotlyjs

    plotly_bytes = len(get_plotlyjs().encode())
    print(f"run: {nodes} nodes, {len(events)} events (search {t1 - t0:.1f} s); HTML in {t2 - t1:.2f} s")
    mib = 2**20
    print(
        f"file: {made.bytes:,} bytes ({made.bytes / mib:.2f} MiB): plotly.js {plotly_bytes / mib:.2f} MiB, "
        f"the run and the page {(made.bytes - plotly_bytes) / mib:.2f} MiB"
    )
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    times = open_times(path, args.repeats, events)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    for k, (opened, wall, move, t) in enumerate(times, 1):
        print(f"open {k}: page {opened:.0f} ms · goto→ready {wall:.0f} ms · slider to mid-run {move:.0f} ms")
        steps = [
            ("plotly.js evaluated", t["plotly"]),
            ("the rest of the file read", t["script"] - t["plotly"]),
            ("events parsed", t["parsed"] - t["script"]),
            ("folded", t["folded"] - t["parsed"]),
            ("layout and traces", t["traces"] - t["folded"]),
            ("Plotly's first draw", t["plotted"] - t["traces"]),
            ("to the painted frame", t["ready"] - t["plotted"]),
        ]
        print("  of which: " + " · ".join(f"{name} {ms:.0f} ms" for name, ms in steps))
    med = statistics.median(t[0] for t in times)
    print(f"median open time {med / 1000:.2f} s; target {TARGET_S:.0f} s: ratio {med / 1000 / TARGET_S:.2f}")


if __name__ == "__main__":
    main()
