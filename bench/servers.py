"""Tokens/s through one vs two llama.cpp servers behind the OpenAI engine (issue 21).

    python bench/servers.py                      # 8 prompts x 64 tokens, 2 rounds each way
    python bench/servers.py --prompts 16 --max-tokens 96 --rounds 3 --json out.json

Starts two ``python -m llama_cpp.server`` processes on the embedded model, each with 1 thread
(so two servers use the 2 cores of this machine), then sends the same requests (same prompts,
seeds, sampling) through ``OpenAIEngine`` over server A alone and over A and B together (the
engine's pool: least outstanding requests), alternating one/two/one/two so that a change of
load on the shared machine hits both. Prints tokens/s of each round, the ratio two/one, and
the load average before and after (other work on the machine lowers the ratio: with a load
above 2 the second server's core is not free).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable from a checkout without install

QUESTIONS = [
    "A train travels 60 km in 45 minutes. What is its speed in km per hour?",
    "Natalia sold clips to 48 friends in April and half as many in May. How many in all?",
    "A rectangle is 7 cm by 12 cm. What is its perimeter and its area?",
    "What is the sum of the first 20 odd numbers?",
    "A shop sells pens at 3 for $2. How much do 18 pens cost?",
    "Tom is twice as old as Ann. In 5 years their ages add up to 40. How old is Ann?",
    "How many minutes are there in a week?",
    "A tank holds 250 litres and leaks 4 litres an hour. After how many hours is it 60% full?",
]


def run_round(engine, prompts: list[str], max_tokens: int, seed: int) -> dict[str, float]:
    t0 = time.perf_counter()
    out = engine.generate(prompts, n=1, max_tokens=max_tokens, temperature=0.7, seed=seed)
    wall = time.perf_counter() - t0
    tokens = sum(c.tokens for row in out for c in row)
    return {"tokens": tokens, "wall_s": round(wall, 2), "tok_s": round(tokens / wall, 2)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--prompts", type=int, default=8, help="requests per round (default 8)")
    p.add_argument("--max-tokens", type=int, default=64, help="tokens per request (default 64)")
    p.add_argument("--rounds", type=int, default=2, help="rounds with one and with two servers (default 2)")
    p.add_argument("--threads", type=int, default=1, help="threads of each server (default 1)")
    p.add_argument("--json", default=None, help="also write the figures here")
    args = p.parse_args(argv)

    from backend.engines.openai import OpenAIEngine
    from tests.engines.llama_server import llama_server

    load_before = os.getloadavg()
    print(f"load average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}", flush=True)
    with tempfile.TemporaryDirectory() as logs, \
            llama_server(Path(logs), threads=args.threads) as a, \
            llama_server(Path(logs), threads=args.threads) as b:
        one = OpenAIEngine.load(None, base_url=a.url, timeout=900)
        two = OpenAIEngine.load(None, base_url=[a.url, b.url], timeout=900)
        prompts = [one.chat_prompt([{"role": "user", "content": q}])
                   for q in (QUESTIONS * (args.prompts // len(QUESTIONS) + 1))[: args.prompts]]
        for engine in (one, two):  # warm-up: first prompt processing on each server
            engine.generate(prompts[:2], n=1, max_tokens=4, temperature=0.7, seed=0)
        rounds: dict[str, list[dict[str, float]]] = {"one": [], "two": []}
        for r in range(args.rounds):
            for name, engine in (("one", one), ("two", two)):
                figures = run_round(engine, prompts, args.max_tokens, seed=100 + r)
                rounds[name].append(figures)
                print(f"round {r + 1} {name} server(s): {figures['tokens']} tokens in {figures['wall_s']} s "
                      f"= {figures['tok_s']} tok/s (load {os.getloadavg()[0]:.2f})", flush=True)
        served = {s["url"]: s["served"] for s in two.pool.snapshot()}
    load_after = os.getloadavg()
    tok_s = {name: statistics.mean(f["tok_s"] for f in rs) for name, rs in rounds.items()}
    ratio = tok_s["two"] / tok_s["one"]
    print(f"requests per server with two: {list(served.values())}")
    print(f"mean tok/s: one server {tok_s['one']:.2f}, two servers {tok_s['two']:.2f}; "
          f"ratio two/one = {ratio:.2f}")
    print(f"load average after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f} "
          f"({os.cpu_count()} CPUs)")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "args": vars(args), "rounds": rounds, "mean_tok_s": tok_s, "ratio": round(ratio, 3),
            "served_with_two": served, "load_before": load_before, "load_after": load_after,
        }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
