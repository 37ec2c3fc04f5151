"""Tree fold speed and memory: apply ~100,000 events of a synthetic MCTS run.

Prints events/s, seconds per 10,000 events (target: well under 1 s), bytes per node
(tracemalloc, the tree alone) and JSONL parse speed. Run: ``python bench/tree.py``.
"""

from __future__ import annotations

import argparse
import io
import random
import time
import tracemalloc

from backend import events as ev
from backend.events import EventLog, read_jsonl, write_jsonl
from backend.tree import Tree


def synthetic_run(n_events: int, children: int = 4, seed: int = 0) -> list[ev.Event]:
    """An MCTS-shaped stream: select, expand k children, verify them, back up, repeat."""
    rng = random.Random(seed)
    log = EventLog()
    log.emit(ev.RunStarted, run_id="bench", algorithm="rstar", problem="synthetic", config={})
    log.emit(ev.NodeAdded, id=0, parent=None, kind="root", text="problem")
    stats = {0: [0, 0.0]}
    parent: dict[int, int | None] = {0: None}
    leaves = [0]
    it = 0
    while len(log) < n_events:
        it += 1
        leaf = rng.choice(leaves)
        path = [leaf]
        while parent[path[0]] is not None:
            path.insert(0, parent[path[0]])  # type: ignore[arg-type]
        log.emit(ev.NodeSelected, iteration=it, path=path, children=[])
        new = []
        for _ in range(children):
            nid = len(stats)
            stats[nid] = [0, 0.0]
            parent[nid] = leaf
            log.emit(
                ev.NodeAdded,
                id=nid,
                parent=leaf,
                kind="step",
                tokens=40,
                text=f"# Step {it}: compute the value {nid}",
                code=f"x{nid} = {nid} * 2",
            )
            log.emit(ev.NodeVerified, id=nid, status="ok", method="python", output=str(nid * 2), ms=3.0)
            new.append(nid)
        leaves.extend(new)
        reward = rng.choice([-1.0, 1.0])
        for nid in path:
            n, q = stats[nid]
            stats[nid] = [n + 1, (q * n + reward) / (n + 1)]
        updated = [[nid, *stats[nid]] for nid in reversed(path)]
        log.emit(ev.Backprop, iteration=it, path=path, reward=reward, updated=updated)
        log.emit(ev.IterationDone, iteration=it, best_answer="4", votes={"4": 3.0, "5": 1.0})
    return log.events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    events = synthetic_run(args.events)
    t0 = time.perf_counter()
    tree = Tree.from_events(events)
    fold_s = time.perf_counter() - t0

    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    tree2 = Tree.from_events(events)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert len(tree2.nodes) == len(tree.nodes)

    buf = io.StringIO()
    write_jsonl(events, buf)
    t0 = time.perf_counter()
    _, back = read_jsonl(io.StringIO(buf.getvalue()))
    parse_s = time.perf_counter() - t0
    assert len(back) == len(events)

    n = len(events)
    print(f"events                 {n:>12,}")
    print(f"nodes                  {len(tree.nodes):>12,}")
    print(f"fold events/s          {n / fold_s:>12,.0f}")
    print(f"fold s per 10k events  {fold_s / n * 10_000:>12.4f}   (target: well under 1 s)")
    print(f"tree bytes per node    {(after - before) / len(tree.nodes):>12,.0f}   (tracemalloc, tree only)")
    print(f"JSONL parse events/s   {n / parse_s:>12,.0f}")
    print(f"JSONL bytes per event  {len(buf.getvalue()) / n:>12,.0f}")


if __name__ == "__main__":
    main()
