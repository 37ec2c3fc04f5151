"""Step pairs labelled by GSM8K's worked solutions, from the committed truth-mode trees.

``backend/train/reference_pairs.py`` says why. This writes every such pair of every committed
tree of GSM8K *train* problems (``bench.ppm_top_layers.TREES``) as JSON Lines, one
``{"problem": ..., <PPMPair fields>}`` a line, for ``python -m bench.ppm_top_layers
--reference-pairs FILE`` to train on (the held-out folds' problems are left out there). First
it checks the labels against the official Q pairs of the same trees: where the two sides of a Q
pair split on the reference path, how often the labels agree.

    python -m bench.reference_pairs --out /tmp/reference-pairs.jsonl
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=None, help="at most this many tree files")
    args = parser.parse_args()

    from backend.problems import load_problems
    from backend.train.build_ppm import collect_pairs, problem_key
    from backend.train.pair_equivalence import effect
    from backend.train.ppm_data import read_tree
    from backend.train.reference_pairs import label, reference, reference_pairs
    from backend.verify.sandbox import run_code
    from bench.ppm_top_layers import TREES

    refs = {p.id.replace("/", "_"): reference(p.question, p.meta.get("solution", ""))
            for p in load_problems("gsm8k-train")}
    files = sorted(f for folder in TREES for f in folder.glob("*.jsonl.gz"))[: args.limit]
    t0 = time.monotonic()

    split = {"agree": 0, "disagree": 0, "undecided": 0}
    for pid, p in collect_pairs(files):
        c = label(effect(p.prefix, p.chosen, run_code), refs[pid])
        r = label(effect(p.prefix, p.rejected, run_code), refs[pid])
        key = "agree" if (c, r) == (True, False) else "disagree" if (c, r) == (False, True) else "undecided"
        split[key] += 1
    decided = split["agree"] + split["disagree"]
    print(f"official Q pairs: {split}; the reference label agrees on "
          f"{split['agree']}/{decided} = {split['agree'] / max(decided, 1):.3f} of those it decides "
          f"({time.monotonic() - t0:.0f} s)", flush=True)

    total = problems = 0
    with args.out.open("w", encoding="utf-8") as out:
        for k, path in enumerate(files, 1):
            pid = problem_key(path)
            pairs = reference_pairs(read_tree(path), refs[pid], run_code)
            for pair in pairs:
                out.write(json.dumps({"problem": pid, **dataclasses.asdict(pair)}, ensure_ascii=False) + "\n")
            total += len(pairs)
            problems += bool(pairs)
            if k % 50 == 0 or k == len(files):
                print(f"  {k}/{len(files)} trees: {total} pairs from {problems} problems "
                      f"({time.monotonic() - t0:.0f} s)", flush=True)
    print(f"wrote {total} reference pairs from {problems} of {len(files)} trees to {args.out}")


if __name__ == "__main__":
    main()
