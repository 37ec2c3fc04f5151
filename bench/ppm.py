"""The head PPM's cost on CPU: hidden-state time per expansion ÷ generation time per expansion.

    python bench/ppm.py                      # 1 GSM8K problem, rStar cpu-demo preset, embedded model
    python bench/ppm.py --problems 2 --rollouts 4 --children 4
    python bench/ppm.py --transformers       # also: the same texts through transformers (slow load)
    python bench/ppm.py --adapter assets/ppm/ppm_lora.gguf   # with a PPM's own top-layers LoRA

Runs the real rStar-Math search (``backend/solve.py``) with a PPM whose head is all zeros (every
step valued 0, so the PPM steers nothing and the search is the one a trained head would start
from), and times, at each expansion, right after its generation and on the very texts the
search asks to score (problem + path + each new step, ``ppm_input``):

- (a) ``LlamaCppHiddenStates`` with prefix reuse (what ``HeadPPM`` runs; the values the search
  gets come from it);
- (b) the same in a second context cleared before each expansion (no reuse across calls;
  siblings still share their prefix within the call);
- (c) with ``--transformers``: transformers' ``hidden_states[-1]`` of the same GGUF (dequantised
  to fp32), padded batch, plus the cosine of its vectors with (a)'s.

The number that matters is (PPM time per expansion) ÷ (generation time per expansion), target
≤ 0.5: generation is measured by wrapping the engine, the PPM inside the search's own call,
interleaved, so both see the same machine load. Figures vary by machine: compare ratios
measured in one run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable from a checkout without install


class TimedEngine:
    """Wraps the policy engine; records each generate call's seconds and tokens."""

    def __init__(self, engine):
        self.engine, self.info = engine, engine.info
        self.calls: list[tuple[float, int]] = []

    def generate(self, prompts, **kw):
        t = time.perf_counter()
        out = self.engine.generate(prompts, **kw)
        self.calls.append((time.perf_counter() - t, sum(c.tokens for row in out for c in row)))
        return out

    def chat_prompt(self, messages, **kw):
        return self.engine.chat_prompt(messages, **kw)


class BenchScorer:
    """A StepScorer: a zero head over (a); times (b) and (c) on the same texts."""

    name = "ppm"

    def __init__(self, engine, hf=None, adapter=None):
        from backend.engines.llamacpp_hidden import LlamaCppHiddenStates
        from backend.reward.ppm_head import HeadPPM

        self.reuse = LlamaCppHiddenStates.for_engine(engine, adapter=adapter)
        self.cold = LlamaCppHiddenStates.for_engine(engine, adapter=adapter)
        self.ppm = HeadPPM([0.0] * self.reuse.hidden_size, 0.0, self._features)
        self.hf = hf
        self._last = None
        self.rows: list[dict] = []

    def _features(self, texts):
        self._last = self.reuse.last_hidden(texts)  # kept for the cosine with (c)
        return self._last

    def score_steps(self, texts):
        row = {"texts": len(texts)}
        t = time.perf_counter()
        scores = self.ppm.score_steps(texts)
        row["a_s"] = time.perf_counter() - t
        row["tokens"] = self.reuse.last_stats["tokens"]
        row["a_decoded"] = self.reuse.last_stats["decoded_tokens"]
        self.cold.clear_cache()
        t = time.perf_counter()
        self.cold.last_hidden(texts)
        row["b_s"] = time.perf_counter() - t
        row["b_decoded"] = self.cold.last_stats["decoded_tokens"]
        if self.hf is not None:
            t = time.perf_counter()
            theirs = hf_last_hidden(self.hf, texts)
            row["c_s"] = time.perf_counter() - t
            from backend.engines.llamacpp_hidden import cosine

            row["cos"] = [cosine(x, y) for x, y in zip(self._last, theirs, strict=True)]
        self.rows.append(row)
        return scores


def hf_last_hidden(hf, texts):
    """transformers' last hidden state at each text's last token (right padding, one batch)."""
    import torch

    from backend.reward.ppm import encode

    ids, mask = encode(hf.tokenizer, texts)
    with torch.no_grad():
        out = hf.model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
    last = mask.sum(-1) - 1
    return out.hidden_states[-1][torch.arange(len(texts)), last].float().numpy()


def run(args) -> list[tuple[str, str]]:
    from backend.engines import load_engine
    from backend.problems import load_problems
    from backend.solve import solve
    from backend.verify.answers import answers_equal

    engine = load_engine("llamacpp", args.model, **({"n_threads": args.threads} if args.threads else {}))
    hf = None
    if args.transformers:
        from backend.engines.transformers import TransformersEngine

        hf, hf_load = timed(lambda: TransformersEngine.load(args.model, device="cpu", threads=args.threads))
    answers_equal("1", "2")  # import math-verify/sympy once before anything is timed
    scorer = BenchScorer(engine, hf, args.adapter)
    policy = TimedEngine(engine)
    overrides = {k: v for k, v in (("rollouts", args.rollouts), ("children", args.children)) if v is not None}
    problems = load_problems("gsm8k", args.problems)
    load0 = os.getloadavg()[0]
    for prob in problems:
        solve(prob.question, algorithm="rstar", engine=policy, config=overrides, preset=args.preset,
              seed=args.seed, step_scorer=scorer)
    rows = scorer.rows
    if not rows or not policy.calls:
        raise SystemExit("the search made no expansion to score")
    gen_s = sum(s for s, _ in policy.calls)
    gen_tokens = sum(n for _, n in policy.calls)
    per_gen = gen_s / len(policy.calls)

    def per(key):
        return sum(r[key] for r in rows) / len(rows)

    threads = engine.info.details["n_threads"]
    out = [("engine", f"llamacpp ({Path(engine.info.model).name}), {threads} threads"),
           ("problems", f"{len(problems)} GSM8K ({', '.join(p.id for p in problems)}), preset {args.preset} "
                        f"{overrides or ''}".rstrip()),
           ("generation", f"{len(policy.calls)} calls, {gen_tokens} tokens, {gen_s:.1f} s: "
                          f"{per_gen:.2f} s per expansion ({gen_tokens / gen_s:.1f} tok/s)"),
           ("PPM's own LoRA", args.adapter or "none"),
           ("PPM calls", f"{len(rows)}, {per('texts'):.1f} texts and {per('tokens'):.0f} tokens per call")]
    labels = [("a", "(a) hidden states, prefix reuse"), ("b", "(b) hidden states, cleared each call")]
    for key, label in labels:
        s = per(f"{key}_s")
        out.append((label, f"{s:.2f} s per expansion, {per(f'{key}_decoded'):.0f} tokens decoded "
                           f"({per(f'{key}_decoded') / per('tokens'):.0%} of the texts' tokens); "
                           f"ratio to generation {s / per_gen:.2f}"))
    if hf is not None:
        s = per("c_s")
        cos = [c for r in rows for c in r["cos"]]
        out.append(("(c) transformers hidden_states[-1]",
                    f"{s:.2f} s per expansion; ratio to generation {s / per_gen:.2f} (load {hf_load:.0f} s)"))
        out.append(("cosine (a) vs (c)", f"min {min(cos):.5f}, median {statistics.median(cos):.5f} "
                                         f"over {len(cos)} texts"))
    ratios = [r["a_s"] for r in rows]
    out.append(("(a) per call: median / max", f"{statistics.median(ratios):.2f} / {max(ratios):.2f} s"))
    out.append(("PPM (a) / generation, totals", f"{sum(ratios) / gen_s:.2f} (target <= 0.5)"))
    out.append(("load average (1 min), start / end",
                f"{load0:.1f} / {os.getloadavg()[0]:.1f} on {len(os.sched_getaffinity(0))} cores"))
    engine.close()
    return out


def timed(fn):
    t0 = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="GGUF path (default: the embedded model)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--problems", type=int, default=1)
    ap.add_argument("--preset", default="cpu-demo")
    ap.add_argument("--rollouts", type=int, default=None)
    ap.add_argument("--children", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--transformers", action="store_true", help="also time transformers on the same texts")
    ap.add_argument("--adapter", default=None,
                    help="a PPM's LoRA GGUF (ppm_lora.gguf) applied in the hidden-state contexts")
    args = ap.parse_args()
    threads = str(args.threads or min(8, len(os.sched_getaffinity(0))))
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, threads)
    rows = run(args)
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")


if __name__ == "__main__":
    main()
