"""How many PPM pairs are two ways of writing the same step?

The official pair filter keeps a chosen / rejected step pair when the two texts are at least
20 edits apart (``backend/train/ppm_pairs.py: keep``); renamed variables count as edits, so two
steps that compute the same thing can make a pair, and which of them "won" was decided by
later rollouts, not by the step (docs/PPM.md, "Are the pairs worth learning?"). This runs each
side's code after its prefix in the sandbox and calls a pair *equivalent* when both sides
leave the same new values (names ignored, numbers to 9 significant digits) and print the
same output. Only the sandbox runs the code; nothing is evaluated here.

    python -m bench.ppm_pair_equivalence --trees assets/ppm-data/trees RUN/round-1/trees
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from backend.train.pair_equivalence import effect

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trees", type=Path, nargs="+", default=[ROOT / "assets" / "ppm-data" / "trees"])
    parser.add_argument("--show", type=int, default=3, help="equivalent pairs to print as examples")
    args = parser.parse_args()

    from backend.train.build_ppm import collect_pairs
    from backend.verify.sandbox import run_code

    found = collect_pairs(sorted(f for folder in args.trees for f in folder.glob("*.jsonl.gz")))
    counts: Counter[str] = Counter()
    shown = 0
    for pid, pair in found:
        chosen = effect(pair.prefix, pair.chosen, run_code)
        rejected = effect(pair.prefix, pair.rejected, run_code)
        if chosen is None or rejected is None:
            counts["a side does not run on its own"] += 1
        elif chosen == rejected:
            counts["equivalent: same values and output"] += 1
            if shown < args.show:
                shown += 1
                print(f"{pid}:\n  chosen   {pair.chosen.strip()!r}\n  rejected {pair.rejected.strip()!r}")
        else:
            counts["different values or output"] += 1
    total = sum(counts.values())
    print(f"{total} pairs from {len({p for p, _ in found})} problems")
    for what, n in counts.most_common():
        print(f"  {what}: {n} ({n / total:.0%})")


if __name__ == "__main__":
    main()
