"""Engine benchmark: load time, single vs batched throughput, prefix cache, RAM.

    python bench/engine.py                       # default engine (llamacpp) on the embedded model
    python bench/engine.py --engine transformers # the same table for transformers
    python bench/engine.py --sampler             # also: numpy vs llama.cpp sampler chain per step
    python bench/engine.py --prompts 4           # also: 4 prompts x 4 sequences in one call vs in turn

Prints a table; the ratio batched/single is the number that matters for MCTS
(an expansion asks for n continuations of one prefix). Figures vary by machine:
compare ratios measured in one run, not absolute numbers across machines.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable from a checkout without install

# ~350 tokens of shared prefix, like an MCTS prompt (instructions + worked example + the path so far)
EXAMPLE = (
    "Question: Natalia sold clips to 48 of her friends in April, and then she sold half as many clips "
    "in May. How many clips did Natalia sell altogether in April and May?\n"
    "```python\napril = 48\nmay = april // 2\nprint(april + may)\n```\nAnswer: 72\n\n"
)
TASK = (
    "Solve each problem by writing a short Python program that prints only the final number. "
    "Think step by step, one line of code per step, and explain each step in a comment.\n\n"
)
QUESTION = (
    "Question: A bakery makes 120 muffins a day. It sells 3/4 of them in the morning and half of the "
    "rest in the afternoon. The remaining muffins are split evenly between 3 shelters. Over a week of "
    "7 days, how many muffins does each shelter get? Write a long, careful program with many steps."
)


def build_prompt(engine) -> str:
    return engine.chat_prompt([{"role": "system", "content": TASK + EXAMPLE * 3},
                               {"role": "user", "content": QUESTION}])


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident memory of this process in MB."""
    current = 0.0
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                current = int(line.split()[1]) / 1024
    except OSError:
        pass
    return current, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn):
    t0 = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - t0


def cpu_timed(fn):
    """(result, wall s, CPU s of this process): CPU time is what a busy shared machine cannot steal."""
    c0 = time.process_time()
    result, wall = timed(fn)
    return result, wall, time.process_time() - c0


def clear(engine) -> None:
    if hasattr(engine, "clear_cache"):
        engine.clear_cache()


def run(args) -> list[tuple[str, str]]:
    from backend.engines import load_engine

    opts = {}
    if args.threads:
        opts["n_threads" if args.engine == "llamacpp" else "threads"] = args.threads
    engine, load_s = timed(lambda: load_engine(args.engine, args.model, **opts))
    prompt = build_prompt(engine)
    rows = [("engine", f"{engine.info.name} ({Path(engine.info.model).name})"),
            ("threads", str(engine.info.details.get("n_threads") or engine.info.details.get("threads"))),
            ("load", f"{load_s:.2f} s")]
    gen = dict(max_tokens=args.new_tokens, temperature=0.7, top_p=0.95)

    clear(engine)
    _, cold = timed(lambda: engine.generate([prompt], max_tokens=1, temperature=0))
    _, warm = timed(lambda: engine.generate([prompt], max_tokens=1, temperature=0))
    if hasattr(engine, "tokenize"):
        ntok = len(engine.tokenize(prompt))
    else:
        ntok = len(engine.tokenizer(prompt).input_ids)
    rows += [("prompt tokens", str(ntok)), ("time to first token, cold prefix", f"{cold:.2f} s"),
             ("time to first token, cached prefix", f"{warm:.2f} s")]

    single_tokens, single_s, single_cpu = 0, 0.0, 0.0
    for rep in range(args.repeats):
        out, s, c = cpu_timed(lambda rep=rep: engine.generate([prompt], n=1, seed=rep, **gen))
        single_tokens += out[0][0].tokens
        single_s += s
        single_cpu += c
    single = single_tokens / single_s
    out, batch_s, batch_cpu = cpu_timed(lambda: engine.generate([prompt], n=args.batch, seed=100, **gen))
    batch_tokens = sum(c.tokens for c in out[0])
    batched = batch_tokens / batch_s
    cur, peak = rss_mb()
    load = os.getloadavg()[0]
    rows += [("single sequence", f"{single:.1f} tok/s ({single_tokens} tokens in {single_s:.1f} s)"),
             (f"batched, n={args.batch} of one prefix",
              f"{batched:.1f} tok/s total ({batch_tokens} tokens in {batch_s:.1f} s)"),
             ("ratio batched / single", f"{batched / single:.2f}x"),
             ("tokens per CPU-second, single / batched",
              f"{single_tokens / single_cpu:.1f} / {batch_tokens / batch_cpu:.1f} "
              f"(ratio {(batch_tokens / batch_cpu) / (single_tokens / single_cpu):.2f}x)"),
             ("load average (1 min) at the end", f"{load:.1f} on {len(os.sched_getaffinity(0))} cores"),
             ("RSS now / peak", f"{cur:.0f} MB / {peak:.0f} MB")]
    if args.sampler and args.engine == "llamacpp":
        rows += sampler_microbench(engine, prompt, args.batch)
    if args.prompts > 1:
        rows += prompts_together(engine, prompt, args.prompts, gen)
    engine.close()
    return rows


def prompts_together(engine, prompt: str, k: int, gen: dict) -> list[tuple[str, str]]:
    """k sibling prompts (a shared prefix + a different first step) x 4 sequences: one call vs k calls.

    What parallel MCTS rollouts ask for when their leaves expand together."""
    prompts = [prompt + f"# Step 1: let x be the number of muffins on day {d}\n" for d in range(1, k + 1)]
    n = 4
    engine.generate([prompt], max_tokens=1, temperature=0)  # the shared prefix is cached for both
    out, one_s = timed(lambda: engine.generate(prompts, n=n, seed=7, **gen))
    together = getattr(engine, "last_stats", {}).get("together", 1)
    one_tokens = sum(c.tokens for row in out for c in row)
    engine.generate([prompt], max_tokens=1, temperature=0)
    outs, turn_s = timed(lambda: [engine.generate([p], n=n, seed=7, **gen)[0] for p in prompts])
    turn_tokens = sum(c.tokens for row in outs for c in row)
    a, b = one_tokens / one_s, turn_tokens / turn_s
    return [(f"{k} prompts x {n}, one call ({together} decoded together)",
             f"{a:.1f} tok/s ({one_tokens} tokens in {one_s:.1f} s)"),
            (f"{k} prompts x {n}, one call each", f"{b:.1f} tok/s ({turn_tokens} tokens in {turn_s:.1f} s)"),
            ("ratio together / in turn", f"{a / b:.2f}x")]


def sampler_microbench(engine, prompt: str, k: int, steps: int = 20) -> list[tuple[str, str]]:
    """Per-step cost of picking k tokens: numpy (what the engine does) vs llama.cpp's sampler chain."""
    import numpy as np

    from backend.engines._sampling import sample_rows

    lib = engine._lib
    engine.clear_cache()
    first, _ = engine._prefill(engine.tokenize(prompt))
    for j in range(1, k):
        lib.llama_memory_seq_cp(engine._mem, 0, j, -1, -1)
    tok = int(first.argmax())
    plen = len(engine.tokenize(prompt))
    engine._decode([tok] * k, [plen] * k, list(range(k)), all_logits=True)
    logits = engine._logits(k).copy()
    rngs = [np.random.default_rng(i) for i in range(k)]
    t0 = time.perf_counter()
    for _ in range(steps):
        sample_rows(logits, 0.7, 0.95, rngs)
    numpy_ms = (time.perf_counter() - t0) / steps * 1000
    chains = []
    for j in range(k):
        ch = lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params())
        lib.llama_sampler_chain_add(ch, lib.llama_sampler_init_temp(0.7))
        lib.llama_sampler_chain_add(ch, lib.llama_sampler_init_top_p(0.95, 1))
        lib.llama_sampler_chain_add(ch, lib.llama_sampler_init_dist(j))
        chains.append(ch)
    t0 = time.perf_counter()
    for _ in range(steps):
        for j, ch in enumerate(chains):
            lib.llama_sampler_sample(ch, engine._ctx, j)
    chain_ms = (time.perf_counter() - t0) / steps * 1000
    for ch in chains:
        lib.llama_sampler_free(ch)
    engine.clear_cache()
    return [(f"sampling {k} rows, numpy (temp+top_p+logprob)", f"{numpy_ms:.1f} ms/step"),
            (f"sampling {k} rows, llama.cpp chain (no logprob)", f"{chain_ms:.1f} ms/step")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engine", default="llamacpp", choices=["llamacpp", "transformers"])
    ap.add_argument("--model", default=None, help="GGUF path, HF id or dir (default: the embedded model)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=2, help="single-sequence runs to average")
    ap.add_argument("--sampler", action="store_true", help="also time numpy vs llama.cpp sampling")
    ap.add_argument("--prompts", type=int, default=0, help="also: N prompts x 4, one call vs in turn")
    args = ap.parse_args()
    threads = str(args.threads or min(8, len(os.sched_getaffinity(0))))
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, threads)
    rows = run(args)
    width = max(len(k) for k, _ in rows)
    print(f"\n{'measure':<{width}} | value\n{'-' * width}-|-{'-' * 40}")
    for k, v in rows:
        print(f"{k:<{width}} | {v}")


if __name__ == "__main__":
    main()
