"""`python -m backend.search.lips.runset mo-int 30 [--script]`: the symbolic LIPS search on a
problem set, one line per problem (also `python -m backend.search.lips.search ...`)."""

from __future__ import annotations

import time

from backend.search.lips.config import LipsConfig
from backend.search.lips.search import LipsSearch


def main() -> None:
    """`python -m backend.search.lips.runset mo-int 30 [--script]`: the symbolic search on a
    problem set, one line per problem (status, the checker that closed the last goal, the
    tactics on the proof path, pops, wall seconds), then the tallies; ``--script`` also prints
    each proof as a NeqLIPS tactic script (``export.py``)."""
    import collections
    import logging
    import sys

    from backend.search.lips.problems import load_inequalities

    logging.basicConfig(level=logging.WARNING)
    scripts = "--script" in sys.argv  # also print each proof as a NeqLIPS tactic script
    args = [a for a in sys.argv[1:] if a != "--script"]
    name = args[0] if args else "ineq-easy"
    limit = float(args[1]) if len(args) > 1 else 30.0
    tally: collections.Counter = collections.Counter()
    t_all = time.perf_counter()
    for p in load_inequalities(name):
        t0 = time.perf_counter()
        s = LipsSearch(p.to_text(), engine=None,
                       config=LipsConfig(llm_rewrite=False, llm_rank=False, time_limit_s=limit))
        fin = s.run()
        tactics = [s.nodes[n].meta.get("tactic", "").split(" ")[0] for n in s.path(s.proved)[1:]] \
            if s.proved is not None else []
        closer = s.proved_by if s.proved is not None else "-"
        tally[(fin.status, closer)] += 1
        print(f"{p.id}: {fin.status} by {closer} via {tactics or 'root'} · {s.state.iteration} pops · "
              f"{len(s.nodes)} goals · {time.perf_counter() - t0:.1f} s", flush=True)
        if scripts and s.proved is not None:
            print(s.tactic_script(p.id.replace("-", "_")), flush=True)
    print(dict(tally), f"{time.perf_counter() - t_all:.0f} s")


if __name__ == "__main__":
    main()
