"""How long Stop takes on a self-consistency (sc) run with the embedded model (issue 15 item 13).

sc draws its k samples in one batched engine call unless ``per_call`` (a config knob) splits
them. Since backend/engines/cancel.py a Stop also ends the llama.cpp call under way within a
decode step (before it, a Stop waited for the whole call: ~18 s on the embedded model).
This script starts an sc run, asks it to stop after ``--stop-after`` seconds, and prints the
time from the request to ``run_finished`` with ``per_call`` samples per call and with one
call of all k (the default), and their ratio; ``--full`` times whole runs both ways instead.

    python -m bench.sc_stop --samples 8 --stop-after 3 --per-call 4
    python -m bench.sc_stop --samples 8 --full --per-call 4
"""

from __future__ import annotations

import argparse
import threading
import time

from backend.engines import load_engine
from backend.search.registry import create_search, make_config

PROBLEM = (
    "Janet's ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins "
    "for her friends every day with four. She sells the remainder at the farmers' market daily for $2 "
    "per fresh duck egg. How much in dollars does she make every day at the farmers' market?"
)


def sc(engine, samples: int, per_call: int):
    config = make_config("sc", samples=samples, per_call=per_call)
    return create_search("sc", PROBLEM, engine=engine, config=config, seed=0)


def stop_latency(engine, samples: int, stop_after: float, per_call: int) -> tuple[float, int]:
    """(seconds from the stop request to the end of the run, samples drawn)."""
    search = sc(engine, samples, per_call)
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


def full_run(engine, samples: int, per_call: int) -> float:
    """Seconds for a whole sc run (no stop)."""
    search = sc(engine, samples, per_call)
    t = time.monotonic()
    search.run()
    return time.monotonic() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--stop-after", type=float, default=3.0)
    ap.add_argument("--full", action="store_true", help="time whole runs (no stop) instead")
    ap.add_argument("--per-call", type=int, default=4)
    args = ap.parse_args()
    engine = load_engine("llamacpp")
    engine.generate(["Hello"], n=1, max_tokens=4, seed=0)  # load and warm up
    saved = args.per_call
    if args.full:
        chunked = full_run(engine, args.samples, saved)
        whole = full_run(engine, args.samples, 0)
        print(f"sc, {args.samples} samples, whole run: calls of {saved} {chunked:.1f} s, "
              f"one call {whole:.1f} s")
        print(f"  ratio (calls of {saved} / one call): {chunked / max(whole, 1e-6):.2f}x")
        return
    chunked, n_chunked = stop_latency(engine, args.samples, args.stop_after, saved)
    whole, n_whole = stop_latency(engine, args.samples, args.stop_after, 0)
    print(f"sc, {args.samples} samples, Stop pressed {args.stop_after:.1f} s after the start")
    print(f"  calls of {saved}: stop -> finished {chunked:.1f} s, {n_chunked} samples drawn")
    print(f"  one call of {args.samples}: stop -> finished {whole:.1f} s, {n_whole} samples drawn")
    print(f"  ratio (one call / calls of {saved}): {whole / max(chunked, 1e-6):.1f}x")


if __name__ == "__main__":
    main()
