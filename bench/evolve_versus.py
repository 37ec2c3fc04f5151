"""An evolve run's held-out results, round by round, against another method's on the same problems.

Each round's held-out search (or greedy, or self-consistency: ``--kind``) is compared with the
rows of one method in a ``bench/ppm_quality.py`` results file (``--against``, ``--method``):
right answers, tokens a problem, and the problems won and lost pairwise with a two-sided sign
test, on the problems both ran. It reads files only; nothing is run again.

    python -m bench.evolve_versus assets/evolve-300 \
        --against bench/results/ppm_quality_sc_100-199.jsonl --method sc

(docs/EVOLVE.md: every round's search against the base model's self-consistency.) The two
sides may have run on different CPUs (each result names its own): the table says which.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bench.ppm_quality import sign_test


def method_rows(path: Path, method: str) -> dict[str, dict]:
    """Problem id -> the row of ``method`` in a ppm_quality results file (the last one wins)."""
    rows = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            if row.get("method") == method:
                rows[row["id"]] = row
    return rows


def round_rows(run: Path, number: int, kind: str) -> dict[str, dict]:
    """Problem id -> round ``number``'s held-out result of ``kind`` (``stages.held_out_accuracy``)."""
    folder = run / f"round-{number}" / "eval" / kind
    rows = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))]
    return {row["id"]: row for row in rows}


def compare(ours: dict[str, dict], theirs: dict[str, dict]) -> dict | None:
    """Right, mean tokens and won / lost of ``ours`` against ``theirs`` on the problems both ran."""
    both = sorted(ours.keys() & theirs.keys())
    if not both:
        return None
    won = sum(ours[i]["correct"] and not theirs[i]["correct"] for i in both)
    lost = sum(theirs[i]["correct"] and not ours[i]["correct"] for i in both)
    return {
        "problems": len(both),
        "right": sum(bool(ours[i]["correct"]) for i in both),
        "their_right": sum(bool(theirs[i]["correct"]) for i in both),
        "tokens": round(sum(int(ours[i].get("tokens") or 0) for i in both) / len(both)),
        "their_tokens": round(sum(int(theirs[i].get("tokens") or 0) for i in both) / len(both)),
        "won": won,
        "lost": lost,
        "p": round(sign_test(won, lost), 3),
        "cpus": sorted({ours[i]["cpu"] for i in both if ours[i].get("cpu")}),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path, help="an evolve run folder")
    ap.add_argument("--against", type=Path, required=True, help="a bench/ppm_quality.py results file")
    ap.add_argument("--method", default="sc", help="the method of --against to compare with (default sc)")
    ap.add_argument("--kind", choices=("greedy", "search", "sc"), default="search")
    args = ap.parse_args(argv)

    theirs = method_rows(args.against, args.method)
    if not theirs:
        print(f"{args.against} has no rows of method {args.method!r}", file=sys.stderr)
        return 2
    rounds = sorted(int(p.name.split("-")[1]) for p in args.run.glob("round-*")
                    if p.name.split("-")[1].isdigit() and (p / "eval" / args.kind).is_dir())
    print(f"{args.run.name}: each round's held-out {args.kind} against {args.method} "
          f"({args.against.name})")
    print(f"| round | problems | right | tokens / problem | {args.method} right | {args.method} tokens "
          "| won / lost (sign test p) | CPU |")
    print("|---|---|---|---|---|---|---|---|")
    for number in rounds:
        row = compare(round_rows(args.run, number, args.kind), theirs)
        if row is None:
            continue
        print(f"| {number} | {row['problems']} | {row['right']} | {row['tokens']:,} | {row['their_right']} "
              f"| {row['their_tokens']:,} | {row['won']} / {row['lost']} ({row['p']}) "
              f"| {' + '.join(row['cpus']) or 'not recorded'} |")
    cpus = sorted({r["cpu"] for r in theirs.values() if r.get("cpu")})
    print(f"{args.method}'s CPU: {' + '.join(cpus) or 'not recorded in its file'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
