"""Gradient checkpointing off and on, each in its own process, for the training benches.

A process's peak RSS is its own, so each setting of a training bench (``bench/cpl_value.py``,
``bench/ppm_memory.py``) runs as a child process of the same script with ``--one off|on``,
prints one JSON line (``peak_rss_mb``, ``step_s``, ``losses``, ``tokens``), and this module
prints both and their ratios."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

BUDGET_MB = 12 * 1024  # issue 20: fine-tuning the 0.5B model stays under 12 GB peak RSS


def later_mean(step_s: list[float]) -> float:
    """Mean seconds a step after the first (which pays for allocations)."""
    later = step_s[1:] or step_s
    return sum(later) / len(later)


def compare(script: str | Path, child_args: list[str]) -> dict[str, dict[str, Any]]:
    """Run ``script`` with ``child_args`` and ``--one off``, then ``--one on``; print and return both."""
    results: dict[str, dict[str, Any]] = {}
    for setting in ("off", "on"):
        cmd = [sys.executable, str(script), *child_args, "--one", setting]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        r = results[setting] = json.loads(out.strip().splitlines()[-1])
        print(f"gradient checkpointing {setting}: peak RSS {r['peak_rss_mb']:.0f} MB "
              f"({r['peak_rss_mb'] / BUDGET_MB:.2f} of 12 GB, load included); steps {r['step_s']} s "
              f"(later mean {later_mean(r['step_s']):.1f}); losses {r['losses']}; tokens {r['tokens']}")
        if "rss_after_mb" in r:
            print(f"  RSS once the model is freed: {r['rss_after_mb']} MB; after release_freed_memory: "
                  f"{r['rss_after_release_mb']} MB")
    off, on = results["off"], results["on"]
    print(f"ratios, on / off: peak RSS {on['peak_rss_mb'] / off['peak_rss_mb']:.2f}, "
          f"seconds a step {later_mean(on['step_s']) / later_mean(off['step_s']):.2f}; "
          f"same losses: {on['losses'] == off['losses']}")
    return results


def main(doc: str, script: str, data_flag: str, default: Path,
         one: Callable[[Path, int, int | None, bool], dict]) -> None:
    """The command line of a checkpointing bench: ``data_flag`` (the round's file), ``--steps``,
    ``--threads``; as a child (``--one``) it runs ``one`` and prints its JSON line."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument(data_flag, type=Path, default=default, dest="data")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--one", choices=["on", "off"], help=argparse.SUPPRESS)  # a child process
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.data, args.steps, args.threads, args.one == "on")))
        return
    compare(script, [data_flag, str(args.data), "--steps", str(args.steps),
                     *(["--threads", str(args.threads)] if args.threads else [])])
