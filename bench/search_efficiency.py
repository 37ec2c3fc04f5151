"""P1: how much of the engine's throughput survives the MCTS around it.

    python bench/search_efficiency.py                     # 2 GSM8K problems, cpu-demo preset
    python bench/search_efficiency.py --problems 3 --rollouts 4 --children 4

P1 = (MCTS generated tokens / MCTS wall time) ÷ (the same engine's tokens / time when it
replays exactly the same generate calls: same prompts, n, stops, seeds, in the same order,
with nothing else in between). Target ≥ 0.9: the sandbox runs, answer checks, event
emission and bookkeeping must be small next to generation. Prints one line per problem,
the totals, and where the MCTS wall time went (generation, code execution, the rest).

``--mode paired`` (default) replays each call right after the search made it and takes the
replay's time out of the search's wall time, so both sides see the same machine load (on a
shared 2-core machine the load drifts by 2x within minutes). ``--mode after`` replays the
whole recorded sequence after the search, as a second run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.engines import load_engine
from backend.problems import load_problems
from backend.solve import solve


class Recording:
    """Wraps an engine and records every generate call (arguments, tokens, seconds)."""

    def __init__(self, engine, paired: bool):
        self.engine, self.info, self.calls, self.paired = engine, engine.info, [], paired
        self.replay_tokens, self.replay_s = 0, 0.0

    def generate(self, prompts, **kw):
        t = time.perf_counter()
        out = self.engine.generate(prompts, **kw)
        secs = time.perf_counter() - t
        self.calls.append((list(prompts), dict(kw), sum(c.tokens for row in out for c in row), secs))
        if self.paired:  # same call again at once: same prompt, so the KV cache ends the same
            tokens, secs = replay(self.engine, self.calls[-1:])
            self.replay_tokens += tokens
            self.replay_s += secs
        return out

    def chat_prompt(self, messages, **kw):
        return self.engine.chat_prompt(messages, **kw)

    def close(self):
        self.engine.close()


def replay(engine, calls) -> tuple[int, float]:
    tokens, secs = 0, 0.0
    for prompts, kw, _, _ in calls:
        t = time.perf_counter()
        out = engine.generate(prompts, **kw)
        secs += time.perf_counter() - t
        tokens += sum(c.tokens for row in out for c in row)
    return tokens, secs


def measure(engine, prob, overrides, args) -> dict:
    """One problem: the search's tokens and wall time, and the plain replay's."""
    rec = Recording(engine, paired=args.mode == "paired")
    res = solve(
        prob.question, algorithm="rstar", engine=rec, config=overrides, preset=args.preset, seed=args.seed
    )
    mcts_tokens = sum(c[2] for c in rec.calls)
    if rec.paired:
        wall = res.stats["wall_s"] - rec.replay_s
        gen_s = sum(c[3] for c in rec.calls)
        plain_tokens, plain_s = rec.replay_tokens, rec.replay_s
    else:
        wall, gen_s = res.stats["wall_s"], res.stats["gen_s"]
        plain_tokens, plain_s = replay(engine, rec.calls)
    row = {
        "id": prob.id,
        "calls": len(rec.calls),
        "mcts_tokens": mcts_tokens,
        "mcts_wall_s": round(wall, 2),
        "gen_s": round(gen_s, 2),
        "exec_s": res.stats["exec_s"],
        "mcts_tok_s": round(mcts_tokens / wall, 2),
        "plain_tokens": plain_tokens,
        "plain_s": round(plain_s, 2),
        "plain_tok_s": round(plain_tokens / plain_s, 2),
    }
    row["p1"] = round(row["mcts_tok_s"] / row["plain_tok_s"], 3)
    return row


def summarize(rows: list[dict]) -> dict:
    keys = ("mcts_tokens", "mcts_wall_s", "gen_s", "exec_s", "plain_tokens", "plain_s")
    tot = {k: sum(r[k] for r in rows) for k in keys}
    mcts_tps = tot["mcts_tokens"] / tot["mcts_wall_s"]
    plain_tps = tot["plain_tokens"] / tot["plain_s"]
    other = tot["mcts_wall_s"] - tot["gen_s"] - tot["exec_s"]
    return {
        "problems": len(rows),
        "mcts_tok_s": round(mcts_tps, 2),
        "plain_tok_s": round(plain_tps, 2),
        "P1": round(mcts_tps / plain_tps, 3),
        "wall_split": {
            "generation": round(tot["gen_s"] / tot["mcts_wall_s"], 3),
            "code_execution": round(tot["exec_s"] / tot["mcts_wall_s"], 3),
            "other": round(other / tot["mcts_wall_s"], 3),
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problems", type=int, default=2)
    ap.add_argument("--preset", default="cpu-demo")
    ap.add_argument("--rollouts", type=int, default=None)
    ap.add_argument("--children", type=int, default=None)
    ap.add_argument("--engine", default="llamacpp")
    ap.add_argument("--model", default=None)
    ap.add_argument("--threads", type=int, default=None, help="llamacpp threads (default: all cores)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    ap.add_argument("--mode", choices=("paired", "after"), default="paired")
    args = ap.parse_args()

    engine = load_engine(args.engine, args.model, **({"n_threads": args.threads} if args.threads else {}))
    from backend.verify.answers import answers_equal

    answers_equal("1", "2")  # import math-verify/sympy once (about 2 s) before anything is timed
    overrides = {k: v for k, v in (("rollouts", args.rollouts), ("children", args.children)) if v is not None}
    rows = []
    for prob in load_problems("gsm8k", args.problems):
        row = measure(engine, prob, overrides, args)
        rows.append(row)
        print(json.dumps(row), flush=True)
    summary = summarize(rows)
    summary.update(
        engine=engine.info.name,
        model=engine.info.model,
        preset=args.preset,
        mode=args.mode,
        overrides=overrides,
    )
    mcts_tps, plain_tps = summary["mcts_tok_s"], summary["plain_tok_s"]
    print(
        f"P1 = {summary['P1']:.3f}  (MCTS {mcts_tps:.1f} tok/s, "
        f"plain replay {plain_tps:.1f} tok/s; target >= 0.9)"
    )
    print(json.dumps(summary))
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "problems": rows}, indent=2))


if __name__ == "__main__":
    main()
