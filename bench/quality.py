"""Quality on GSM8K: rStar MCTS (reward vote) vs greedy vs self-consistency, same engine.

    python bench/quality.py --limit 10                       # first 10 GSM8K test problems
    python bench/quality.py --limit 50 --rollouts 8 --out bench_quality.json

Runs rStar (cpu-demo preset, --rollouts, reward vote) first, then greedy, then
self-consistency with as many samples as matches rStar's mean tokens per problem (the same
token budget: k = round(rStar tokens / greedy tokens), at least 2), all on the same prompt
family and engine. Prints a table: accuracy, tokens/problem, time/problem; and a pass@any
line for rStar (some terminal of the tree had the right answer: what a perfect verifier
would reach).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend import events as ev
from backend.engines import load_engine
from backend.problems import load_problems
from backend.report_html import compare_html
from backend.solve import evaluate
from backend.verify.answers import answers_equal


def run(name, algo, problems, engine, config, seed, log_any=False):
    any_right = [0]

    def on_result(i, prob, res):
        if log_any:
            answers = {e.answer for e in res.events if isinstance(e, ev.NodeVerified) and e.answer}
            any_right[0] += any(answers_equal(a, prob.answer) for a in answers)
        mark = "+" if res.correct else "-"
        print(
            f"  {name} {mark} {prob.id}: {res.answer} (ref {prob.answer}) {res.tokens} tok {res.wall_s:.1f}s",
            flush=True,
        )

    t = time.monotonic()
    rep = evaluate(
        problems,
        algorithm=algo,
        engine=engine,
        config=config,
        seed=seed,
        dataset="gsm8k",
        on_result=on_result,
    )
    s = rep.summary()
    s.update(name=name, algorithm=algo, config=rep.config, elapsed_s=round(time.monotonic() - t, 1))
    s["problems"] = rep.results
    if log_any:
        s["pass_any"] = any_right[0]
    return s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=10)
    ap.add_argument("--skip", type=int, default=0, help="start after this many problems (resume a run)")
    ap.add_argument("--rollouts", type=int, default=8)
    ap.add_argument("--children", type=int, default=None)
    ap.add_argument("--engine", default="llamacpp")
    ap.add_argument("--model", default=None)
    ap.add_argument("--threads", type=int, default=None, help="llamacpp threads (default: all cores)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", default="rstar,greedy,sc", help="comma list of rstar, greedy, sc")
    ap.add_argument("--sc-samples", type=int, default=None, help="override the token-matched k")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    engine = load_engine(args.engine, args.model, **({"n_threads": args.threads} if args.threads else {}))
    problems = load_problems("gsm8k", args.limit)[args.skip :]
    args.seed += args.skip  # problem i gets seed + i (backend/solve.py): a resumed run keeps the seeds
    only = set(args.only.split(","))
    rows = []
    mcts = {"rollouts": args.rollouts}
    if args.children:
        mcts["children"] = args.children
    if "rstar" in only:
        rows.append(run("rstar", "rstar", problems, engine, mcts, args.seed, log_any=True))
    if "greedy" in only or ("sc" in only and args.sc_samples is None):  # greedy sets sc's k
        rows.append(run("greedy", "greedy", problems, engine, {}, args.seed))
    if "sc" in only:
        k = args.sc_samples
        if k is None:
            greedy_tokens = max(rows[-1]["mean_tokens"], 1)
            rstar_tokens = rows[0]["mean_tokens"] if rows[0]["name"] == "rstar" else 8 * greedy_tokens
            k = max(2, min(64, round(rstar_tokens / greedy_tokens)))
        rows.append(run(f"sc@{k}", "sc", problems, engine, {"samples": k}, args.seed))
    print()
    print(f"GSM8K first {len(problems)} · engine {engine.info.name} · {engine.info.model}")
    print(f"{'method':<10} {'accuracy':>10} {'tokens/problem':>15} {'time/problem':>13}")
    for r in rows:
        acc = f"{r['correct']}/{r['total']}"
        print(f"{r['name']:<10} {acc:>10} {r['mean_tokens']:>15.0f} {r['mean_wall_s']:>12.1f}s")
    for r in rows:
        if "pass_any" in r:
            print(f"{r['name']}: some terminal right on {r['pass_any']}/{r['total']} (pass@any)")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2))
        html = (
            args.out.with_suffix(".html")
            if args.out.suffix != ".html"
            else args.out.with_suffix(".chart.html")
        )
        html.write_text(compare_html(as_compare_report(rows, engine)), encoding="utf-8")
        print(f"wrote {args.out} and {html} (accuracy against tokens per problem)")


def as_compare_report(rows: list[dict], engine) -> dict:
    """The rows in ``canopy compare``'s report shape, for its HTML page (backend/report_html.py)."""
    from backend.compare import pairwise_rows

    methods = [{**r, "label": r["name"], "budget_rule": f"{r['algorithm']} {r['config']}"} for r in rows]
    first = rows[0]["problems"] if rows else []
    problems = [
        {
            **{k: p[k] for k in ("id", "question", "reference")},
            "results": {r["name"]: r["problems"][i] for r in rows},
        }
        for i, p in enumerate(first)
    ]
    named = [(r["name"], [bool(p.get("correct")) for p in r["problems"]]) for r in rows]
    return {
        "dataset": "gsm8k",
        "engine": engine.info.name,
        "model": engine.info.model,
        "methods": methods,
        "pairwise": pairwise_rows(named),
        "problems": problems,
    }


if __name__ == "__main__":
    main()
