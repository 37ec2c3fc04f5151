"""Where a decode step of the transformers engine goes on a GPU: one variant at a time.

``bench/gpu_check.py --sweep`` measured ~47 ms a decode step through the engine against ~12 ms
for the model's bare forward over a KV cache, at every batch size (docs/GPU.md). This takes the
engine's ``generate`` apart on the same random model of the embedded shape and prints ms a
step for each variant, in one run (so the ratios compare on one machine):

- ``engine``: ``TransformersEngine.generate`` as a search calls it (sampling, the log-prob
  recorder, the cancel check), with and without stop strings;
- ``generate``: plain ``model.generate`` sampling, no logits processor, no stopping criteria;
- ``generate_greedy``: the same without sampling;
- ``generate_static``: plain sampling with a static KV cache (``cache_implementation="static"``;
  transformers compiles the forward for it), the second call timed;
- ``loop``: forward over the cache + ``torch.multinomial`` in a Python loop: the floor.

    python bench/gpu_generate_overhead.py --batch 128 --tokens 64
    python bench/gpu_generate_overhead.py --small --device cpu   # checks the script itself
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.gpu_check import EMBEDDED_SHAPE, PROBLEM, SMALL_SHAPE, random_model, tokenizer


def timed(fn, device: str, tokens: int) -> float:
    """ms per decode step of ``fn()`` (one warm-up call first)."""
    import torch

    fn()
    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    if device == "cuda":
        torch.cuda.synchronize()
    return round((time.perf_counter() - t0) * 1000 / tokens, 2)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--small", action="store_true")
    ap.add_argument("--device", default=None)
    ap.add_argument("--variants", default="engine,engine_stop,generate,generate_greedy,loop,generate_static")
    args = ap.parse_args()

    import torch

    from backend.engines.base import EngineInfo
    from backend.engines.transformers import TransformersEngine

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    tok = tokenizer()
    model = random_model(SMALL_SHAPE if args.small else EMBEDDED_SHAPE, tok, device, dtype)
    eng = TransformersEngine(model, tok, EngineInfo("transformers", "random-qwen2", {"device": device}),
                             max_batch=args.batch)
    prompt = eng.chat_prompt([{"role": "user", "content": PROBLEM}])
    n = min(8, args.batch)
    prompts = [prompt] * (args.batch // n)
    enc = tok([prompt] * args.batch, return_tensors="pt")
    enc = {k: v.to(device) for k, v in enc.items()}
    # random weights seldom emit EOS; min_new_tokens makes sure every variant runs every step
    plain = dict(max_new_tokens=args.tokens, min_new_tokens=args.tokens, pad_token_id=tok.pad_token_id)

    def engine(stop=()):
        return lambda: eng.generate(prompts, n=n, max_tokens=args.tokens, temperature=0.7, seed=1,
                                    stop=list(stop))

    def generate(**extra):
        def run():
            with torch.inference_mode():
                model.generate(**enc, **plain, **extra)
        return run

    def loop():
        with torch.inference_mode():
            out = model(**enc, use_cache=True)
            cache, logits = out.past_key_values, out.logits[:, -1]
            for _ in range(args.tokens):
                nxt = torch.multinomial(torch.softmax(logits.float() / 0.7, -1), 1)
                out = model(input_ids=nxt, past_key_values=cache, use_cache=True)
                cache, logits = out.past_key_values, out.logits[:, -1]

    variants = {
        "engine": engine(),
        "engine_stop": engine(["<end_of_step>", "<end_of_code>"]),
        "generate": generate(do_sample=True, temperature=0.7, top_k=0, top_p=1.0),
        "generate_greedy": generate(do_sample=False, temperature=None, top_k=None, top_p=None),
        "loop": loop,
        "generate_static": generate(do_sample=True, temperature=0.7, top_k=0, top_p=1.0,
                                    cache_implementation="static"),
    }
    rows = {"batch": args.batch, "tokens": args.tokens, "device": device}
    for name in args.variants.split(","):
        t0 = time.perf_counter()
        try:
            rows[name] = timed(variants[name], device, args.tokens)
        except Exception as exc:  # one variant failing (e.g. compile) must not hide the others
            rows[name] = f"{type(exc).__name__}: {exc}"[:300]
        print(f"[{name}] {rows[name]} ms/step ({time.perf_counter() - t0:.1f} s with warm-up)", flush=True)
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
