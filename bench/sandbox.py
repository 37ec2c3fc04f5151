"""Sandboxed run latency vs a fresh ``python -c`` of the same code.

    python bench/sandbox.py            # default: 30 runs per snippet, pool of 2
    python bench/sandbox.py --n 50 --isolation rlimits

The sandbox's point is that a run costs a pipe round trip and a fork, because
interpreter start-up, bubblewrap set-up and imports happen ahead of time in a
pre-started worker. "warm" runs wait for the pool to be full before each run (the
rStar-Math case: LLM generation between steps leaves time to replenish);
"back-to-back" runs do not, so they also pay for replacing workers.
Target: warm median ratio <= 0.3. Samples are interleaved so both sides see the
same machine load.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.verify.sandbox import DEFAULT_PRELOAD, SandboxLimits, SandboxPool

SNIPPETS = {
    "print": "print(1 + 1)",
    "loop": "s = 0\nfor i in range(20_000):\n    s += i * i % 7\nprint(s)",
    "math+fractions": (
        "import math\nfrom fractions import Fraction\n"
        "x = sum(Fraction(1, k * (k + 1)) for k in range(1, 50))\n"
        "print(x, math.comb(30, 12), math.isqrt(10**12))"
    ),
}


def fresh_ms(code: str) -> float:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True)
    elapsed = (time.perf_counter() - start) * 1000
    assert done.stdout, "fresh python printed nothing"
    return elapsed


def sandbox_ms(pool: SandboxPool, code: str, warm: bool) -> float:
    if warm and not pool.wait_ready(timeout_s=60):
        raise RuntimeError("sandbox pool did not fill up")
    start = time.perf_counter()
    res = pool.run(code)
    elapsed = (time.perf_counter() - start) * 1000
    if not res.ok:
        raise RuntimeError(f"sandboxed run failed: {res}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=30, help="runs per snippet and mode")
    parser.add_argument("--size", type=int, default=2, help="pool size")
    parser.add_argument("--isolation", choices=["auto", "bwrap", "rlimits"], default="auto")
    args = parser.parse_args()

    with SandboxPool(size=args.size, limits=SandboxLimits(), preload=DEFAULT_PRELOAD,
                     isolation=args.isolation) as pool:
        pool.wait_ready(timeout_s=60)
        iso = pool.run("pass").isolation
        print(f"isolation={iso} pool={args.size} n={args.n} python={sys.executable}")
        print(f"{'snippet':<16}{'fresh ms':>10}{'warm ms':>10}{'ratio':>8}{'b2b ms':>10}{'ratio':>8}")
        warm_ratios = []
        for name, code in SNIPPETS.items():
            fresh, warm, b2b = [], [], []
            for _ in range(args.n):  # interleaved: same load for both sides
                fresh.append(fresh_ms(code))
                warm.append(sandbox_ms(pool, code, warm=True))
            for _ in range(args.n):
                b2b.append(sandbox_ms(pool, code, warm=False))
            f, w, b = (statistics.median(x) for x in (fresh, warm, b2b))
            warm_ratios.append(w / f)
            print(f"{name:<16}{f:>10.1f}{w:>10.1f}{w / f:>8.2f}{b:>10.1f}{b / f:>8.2f}")
        worst = max(warm_ratios)
        verdict = "meets" if worst <= 0.3 else "MISSES"
        print(f"warm median ratio (sandboxed / fresh python -c): worst {worst:.2f}, "
              f"{verdict} the <= 0.3 target")


if __name__ == "__main__":
    main()
