"""An evolved policy as a GGUF (backend/evolve/gguf_export.py): export time and size, then
greedy tokens/s of the same policy on llama.cpp (the exported GGUF) and on transformers (the HF
folder), beside the embedded GGUF on llama.cpp, and how far the two policy texts agree.

    python bench/gguf_export.py POLICY_DIR              # e.g. runs/evolve-1/round-1/policy
    python bench/gguf_export.py                         # the embedded model as transformers loads it
    python bench/gguf_export.py POLICY_DIR --threads 2 --tokens 64

Prints the load average beside every figure: on a shared machine the ratio is the number to
compare, not the absolute tokens/s.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable from a checkout without install

QUESTIONS = [
    "Write a Python function that returns the sum of a list.",
    "What is 17 * 23? Think step by step.",
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
    "How many clips did Natalia sell altogether in April and May?",
]


def load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def interleaved(engines: dict, tokens: int) -> dict:
    """Greedy, one prompt at a time (a greedy evaluation's shape), the engines taking turns on
    each prompt so that a change in the machine's load falls on all of them alike. Per engine:
    completions, wall seconds and process CPU seconds spent generating."""
    got = {name: ([], 0.0, 0.0) for name in engines}
    for engine in engines.values():  # warm up
        hello = engine.chat_prompt([{"role": "user", "content": "Hi"}])
        engine.generate([hello], max_tokens=4, temperature=0)
    for q in QUESTIONS:
        for name, engine in engines.items():
            prompt = engine.chat_prompt([{"role": "user", "content": q}])
            wall, cpu = time.perf_counter(), time.process_time()
            out = engine.generate([prompt], max_tokens=tokens, temperature=0)[0][0]
            outs, w, c = got[name]
            got[name] = ([*outs, out], w + time.perf_counter() - wall, c + time.process_time() - cpu)
    return got


def common_prefix_tokens(engine, a: str, b: str) -> int:
    ta, tb = engine.tokenize(a), engine.tokenize(b)
    n = 0
    while n < min(len(ta), len(tb)) and ta[n] == tb[n]:
        n += 1
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("policy", nargs="?", help="policy folder (default: the embedded model's HF copy)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tokens", type=int, default=64)
    args = ap.parse_args()

    from backend.engines import load_engine
    from backend.evolve.gguf_export import export_gguf

    policy = args.policy
    if policy is None:
        from backend.engines.embedded import resolve_model
        from backend.engines.transformers import TransformersEngine, _load_gguf_source

        source = resolve_model(None)
        if _load_gguf_source(source, True)[1] is None:
            TransformersEngine.load(source, device="cpu", dtype="float32").close()
        policy = str(_load_gguf_source(source, True)[1])
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "policy.gguf"
        print(f"exporting {policy} ({load()})")
        res = export_gguf(policy, out)
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(res.types.items()))
        kept, f16 = len(res.unchanged), len(res.retyped)
        print(f"export: {res.seconds:.1f} s, {res.size_bytes / 1e6:.0f} MB ({kinds}); "
              f"{kept} tensors kept the base's blocks, {f16} K-quant as Q8_0 ({load()})")

        engines = {
            "llama.cpp, embedded GGUF": load_engine("llamacpp", None, n_threads=args.threads),
            "llama.cpp, exported GGUF": load_engine("llamacpp", str(out), n_threads=args.threads),
            "transformers, HF folder": load_engine("transformers", policy, threads=args.threads),
        }
        got = interleaved(engines, args.tokens)
        rate = {}
        for name, (outs, wall, cpu) in got.items():
            n = sum(c.tokens for c in outs)
            rate[name] = n / wall
            print(f"{name}: {n} tokens in {wall:.1f} s = {n / wall:.1f} tok/s, "
                  f"{1000 * cpu / n:.0f} ms CPU a token")
        print(f"({load()})")
        b_rate, l_rate, h_rate = rate.values()
        print(f"ratio llama.cpp / transformers (the policy): {l_rate / h_rate:.1f}x; "
              f"exported / embedded GGUF on llama.cpp: {l_rate / b_rate:.2f}x")
        llama = engines["llama.cpp, exported GGUF"]
        l_outs, h_outs = got["llama.cpp, exported GGUF"][0], got["transformers, HF folder"][0]
        for q, a, b in zip(QUESTIONS, l_outs, h_outs, strict=True):
            same = common_prefix_tokens(llama, a.text, b.text)
            print(f"  greedy agreement: first {same} of {min(a.tokens, b.tokens)} tokens the same [{q[:40]}]")
        for engine in engines.values():
            engine.close()


if __name__ == "__main__":
    main()
