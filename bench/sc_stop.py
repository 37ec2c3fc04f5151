"""How long Stop takes on a self-consistency (sc) run with the embedded model (issue 15 item 13).

sc draws its k samples in engine calls of ``backend.search.baselines.STOP_EVERY`` and honours a
stop between calls; before, it drew all k in one call, so a Stop waited for every sample. This
script starts an sc run, asks it to stop after ``--stop-after`` seconds, and prints the time
from the request to ``run_finished`` with calls of STOP_EVERY samples and with one call of all
k (the old behaviour, by setting STOP_EVERY = k), and their ratio.

    python -m bench.sc_stop --samples 8 --stop-after 3
"""

from __future__ import annotations

import argparse
import threading
import time

from backend.engines import load_engine
from backend.search import baselines
from backend.search.registry import create_search, make_config

PROBLEM = (
    "Janet's ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins "
    "for her friends every day with four. She sells the remainder at the farmers' market daily for $2 "
    "per fresh duck egg. How much in dollars does she make every day at the farmers' market?"
)


def stop_latency(engine, samples: int, stop_after: float) -> tuple[float, int]:
    """(seconds from the stop request to the end of the run, samples drawn)."""
    search = create_search("sc", PROBLEM, engine=engine, config=make_config("sc", samples=samples), seed=0)
    asked: list[float] = []

    def press_stop() -> None:
        time.sleep(stop_after)
        asked.append(time.monotonic())
        search.request_stop()

    threading.Thread(target=press_stop, daemon=True).start()
    search.run()
    done = time.monotonic()
    drawn = sum(1 for e in search.log.events if e.type == "node_added") - 1
    return done - asked[0] if asked else 0.0, drawn


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--stop-after", type=float, default=3.0)
    args = ap.parse_args()
    engine = load_engine("llamacpp")
    engine.generate(["Hello"], n=1, max_tokens=4, seed=0)  # load and warm up
    chunked, n_chunked = stop_latency(engine, args.samples, args.stop_after)
    saved = baselines.STOP_EVERY
    baselines.STOP_EVERY = args.samples  # the old behaviour: all samples in one call
    try:
        whole, n_whole = stop_latency(engine, args.samples, args.stop_after)
    finally:
        baselines.STOP_EVERY = saved
    print(f"sc, {args.samples} samples, Stop pressed {args.stop_after:.1f} s after the start")
    print(f"  calls of {saved}: stop -> finished {chunked:.1f} s, {n_chunked} samples drawn")
    print(f"  one call of {args.samples}: stop -> finished {whole:.1f} s, {n_whole} samples drawn")
    print(f"  ratio (one call / calls of {saved}): {whole / max(chunked, 1e-6):.1f}x")


if __name__ == "__main__":
    main()
