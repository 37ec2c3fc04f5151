"""LIPS throughput: pops (and goals) per problem on a slice of MO-INT, through `canopy eval`.

    python bench/lips_pops.py                                  # P1 P3 P4 P6, 30 s each
    python bench/lips_pops.py --ids 1 3 --seconds 60 --out after.json
    python bench/lips_pops.py --compare before.json after.json  # ratios, no run

Writes the slice as a JSONL file (problem text + answer "proved"), runs
`python -m backend.cli eval --dataset SLICE --algo lips --preset symbolic --set time_limit_s=S
--report OUT` (the command docs/LIPS.md reports), and prints per problem the pops (the report's
`iterations`), goals (`nodes`), wall seconds and whether it was proved. `--compare` prints the
after/before ratio of pops per problem. On a shared machine the load changes the figures by
up to 2x: say the load average with them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def write_slice(ids: list[int], path: Path) -> None:
    rows = [json.loads(line) for line in (ROOT / "assets/problems/ineq_mo_int.jsonl").open()]
    want = {f"mo-int-P{i}" for i in ids}
    with path.open("w") as f:
        for r in rows:
            if r["id"] in want:
                f.write(json.dumps({"id": r["id"], "problem": r["statement"], "answer": "proved"}) + "\n")


def table(report: dict) -> dict[str, dict]:
    return {p["id"].split("/")[-1]: p for p in report["problems"]}


def show(report: dict) -> None:
    for pid, p in table(report).items():
        print(f"{pid}: {p['iterations']} pops, {p['nodes']} goals, {p['wall_s']:.1f} s, "
              f"{'proved' if p['correct'] else p['status']}")


def compare(before: dict, after: dict) -> None:
    b, a = table(before), table(after)
    for pid in b:
        if pid in a:
            pb, pa = b[pid]["iterations"], a[pid]["iterations"]
            goals = f"goals {b[pid]['nodes']} -> {a[pid]['nodes']}"
            print(f"{pid}: pops {pb} -> {pa} (x{pa / max(pb, 1):.2f}), {goals}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ids", type=int, nargs="+", default=[1, 3, 4, 6], help="MO-INT problem numbers")
    ap.add_argument("--seconds", type=float, default=30.0, help="time_limit_s per problem")
    ap.add_argument("--out", default="lips_pops.json", help="the eval report written")
    ap.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"), help="compare two reports, no run")
    args = ap.parse_args()
    if args.compare:
        before, after = (json.loads(Path(p).read_text()) for p in args.compare)
        compare(before, after)
        return
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "mo_int_slice.jsonl"
        write_slice(args.ids, data)
        cmd = [sys.executable, "-m", "backend.cli", "eval", "--dataset", str(data), "--algo", "lips",
               "--preset", "symbolic", "--set", f"time_limit_s={args.seconds}", "--report", args.out]
        print(" ".join(cmd[1:]), f"(load average {os.getloadavg()[0]:.1f})", flush=True)
        subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    show(json.loads(Path(args.out).read_text()))


if __name__ == "__main__":
    main()
