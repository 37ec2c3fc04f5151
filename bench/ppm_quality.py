"""Does the PPM help? rStar-Math with and without the shipped PPM, against greedy and
self-consistency, on the same problems, seeds and engine.

    python bench/ppm_quality.py --start 100 --count 100 --out bench/results/ppm_quality.jsonl

Methods (problem i runs with seed --seed + i in every method):
- ``greedy``: one program, temperature 0;
- ``sc``: self-consistency, k samples with k = round(rStar-with-PPM tokens / greedy tokens)
  over the problems done so far (the same token budget; at least 2), majority vote;
- ``rstar-vote``: rStar-Math MCTS, cpu-demo preset, no PPM, answer by vote;
- ``rstar-ppm``: the search as shipped, with the shipped PPM (``--ppm default``): every new
  step valued by the PPM, the answer by the preset's own rule (``cpu-demo``: the vote, chosen
  on GSM8K train; ``--set answer_choice=auto`` elsewhere gives the highest-Q terminal);
- ``rstar-greedy``: ``rstar-vote`` with the greedy program as one candidate of each expansion
  (``greedy_program_tokens`` = the greedy baseline's 400), so the tree holds greedy's answer;
- ``rstar-ppm-vote``: the PPM guides the search (every new step's first Q) but the answer is
  the vote: separates what the PPM's guidance does from what its answer choice does.

``--token-budget B`` gives every rStar method the same budget: it searches until B generated
tokens (``token_budget``; ``rollouts`` raised to 64 so the budget, not the rollout count, ends
it) or until its tree is spent (every branch ended: the plain search often stops there first).
``--match-tokens`` instead gives the PPM methods, problem by problem, the tokens the plain
``rstar-vote`` search spent on that problem (list ``rstar-vote`` before them), so a PPM-guided
search that goes deeper cannot buy accuracy with more tokens.

No search sees the known answer (reward auto: ppm or vote); it only grades. Results are
appended one line per (method, problem) to --out, so a cut-off run resumes where it
stopped; the table (accuracy, tokens and seconds per problem, how often the tree held a
right answer, problems won / lost against greedy) is printed from the whole file.
``--table-only --also FILE`` joins another run's rows (e.g. an earlier ``sc`` run on the same
problems) into the table, with won / lost and a two-sided sign test for each rStar variant
against the other methods.
Report it on problems nobody tuned on (GSM8K test 100-199); choose settings with
``--set gsm8k-train`` on training problems no PPM was trained on (``--start 400``).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.engines import load_engine
from backend.problems import load_problems
from backend.runspec import PPM_NOTE_NONE, PPM_NOTE_VALUED, RunSpec, model_checksum
from backend.solve import right_answer_in_tree, solve_spec

METHODS = ("greedy", "rstar-ppm", "sc", "rstar-vote", "rstar-greedy", "rstar-ppm-vote")
#: the whole program's token limit of the greedy baseline (GreedyConfig.max_tokens)
GREEDY_PROGRAM_TOKENS = 400
#: rollouts under --token-budget: a cap the budget reaches first (about 10 tokens per rollout or more)
BUDGET_ROLLOUTS = 64
#: the methods --match-tokens holds to the plain search's tokens
MATCHED = ("rstar-ppm", "rstar-ppm-vote")


def spec_of(method: str, problem, seed: int, sc_k: int, engine_name: str, model: str | None = None,
            ppm: str = "default", token_budget: int = 0) -> RunSpec:
    common = {"problem": problem.question, "reference": problem.answer, "seed": seed, "engine": engine_name,
              "model": model}
    spec = _spec_of(method, common, sc_k, ppm)
    if token_budget and method.startswith("rstar"):
        spec = spec.fork(config={**spec.config, "token_budget": token_budget, "rollouts": BUDGET_ROLLOUTS})
    return spec


def _spec_of(method: str, common: dict, sc_k: int, ppm: str) -> RunSpec:
    if method == "greedy":
        return RunSpec(algorithm="greedy", ppm="none", **common)
    if method == "sc":
        return RunSpec(algorithm="sc", ppm="none", config={"samples": sc_k}, **common)
    if method == "rstar-vote":
        return RunSpec(algorithm="rstar", ppm="none", **common)
    if method == "rstar-ppm":
        return RunSpec(algorithm="rstar", ppm=ppm, **common)
    if method == "rstar-greedy":
        return RunSpec(algorithm="rstar", ppm="none", config={"greedy_program_tokens": GREEDY_PROGRAM_TOKENS},
                       **common)
    if method == "rstar-ppm-vote":
        return RunSpec(algorithm="rstar", ppm=ppm, config={"answer_choice": "vote"}, **common)
    raise ValueError(method)


def ppm_used(events) -> str | None:
    """Which PPM valued the run's steps, as its root note says ("steps valued by ..." or "no PPM:
    ..."); None for a method without a PPM. ``--ppm default`` has meant different PPMs over
    time (none shipped before session 31), so each row keeps what it actually got."""
    from backend import events as ev

    for e in events:
        if isinstance(e, ev.Note) and e.message.startswith((PPM_NOTE_VALUED, PPM_NOTE_NONE)):
            return e.message
    return None


def keep_events(folder: Path, problem, events) -> Path:
    """One search's events, gzipped, for reading a tree afterwards (the table needs none)."""
    import gzip

    from backend import events as ev
    from backend.train.ppm_data import tree_file

    folder.mkdir(parents=True, exist_ok=True)
    path = tree_file(folder, problem)
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        ev.write_jsonl(events, fh)
    return path


def done_rows(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def sc_samples(rows: list[dict]) -> int:
    """Token-matched k: rStar-with-PPM tokens over greedy tokens on the problems both did."""
    by = {(r["method"], r["id"]): r for r in rows}
    ids = [r["id"] for r in rows if r["method"] == "greedy" and ("rstar-ppm", r["id"]) in by]
    if not ids:
        return 8
    g = sum(by[("greedy", i)]["tokens"] for i in ids) / len(ids)
    p = sum(by[("rstar-ppm", i)]["tokens"] for i in ids) / len(ids)
    return max(2, round(p / max(g, 1)))


def matched_budget(rows: list[dict], problem_id: str) -> int:
    """The tokens the plain search (rstar-vote) spent on this problem: a PPM method's budget."""
    spent = [r["tokens"] for r in rows if r["method"] == "rstar-vote" and r["id"] == problem_id]
    if not spent:
        raise ValueError(f"--match-tokens: rstar-vote has not run {problem_id}")
    return max(1, spent[-1])


def sign_test(won: int, lost: int) -> float:
    """Two-sided sign test p-value of ``won`` against ``lost`` (ties left out)."""
    n = won + lost
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(won, lost) + 1)) / 2**n
    return min(1.0, 2 * tail)


def joined(rows: list[dict], extra: list[dict]) -> list[dict]:
    """``rows`` plus those of ``extra`` for (method, problem) pairs ``rows`` does not have."""
    have = {(r["method"], r["id"]) for r in rows}
    return rows + [r for r in extra if (r["method"], r["id"]) not in have]


def table(rows: list[dict], methods: tuple[str, ...] = METHODS) -> str:
    """The table over the problems every one of ``methods`` has done (greedy among them: the
    won / lost column is against it)."""
    by = {(r["method"], r["id"]): r for r in rows}
    ids = sorted({r["id"] for r in rows}, key=lambda s: int(s.rsplit("/", 1)[-1]))
    common = [i for i in ids if all((m, i) in by for m in methods)]
    lines = [
        f"{len(common)} problems done by every method ({common[0] if common else '-'} .. "
        f"{common[-1] if common else '-'})",
        "| method | accuracy | tokens / problem | s / problem (mean, median) | right answer in the tree "
        "| won / lost vs greedy |",
        "|---|---|---|---|---|---|",
    ]
    for m in methods:
        rs = [by[(m, i)] for i in common]
        if not rs:
            continue
        n = len(rs)
        acc = sum(r["correct"] for r in rs)
        won = sum(r["correct"] and not by[("greedy", r["id"])]["correct"] for r in rs)
        lost = sum(not r["correct"] and by[("greedy", r["id"])]["correct"] for r in rs)
        tree = sum(bool(r.get("in_tree")) for r in rs) if m.startswith("rstar") else None
        lines.append(
            f"| {m} | {acc}/{n} ({acc / n:.1%}) | {sum(r['tokens'] for r in rs) / n:.0f} | "
            f"{sum(r['wall_s'] for r in rs) / n:.1f}, {statistics.median(r['wall_s'] for r in rs):.1f} | "
            f"{'' if tree is None else f'{tree}/{n}'} | "
            f"{'' if m == 'greedy' else f'{won} / {lost}'} |"
        )
    for variant in ("rstar-ppm", "rstar-greedy", "rstar-ppm-vote"):
        for other in ("greedy", "sc", "rstar-vote"):
            if {variant, other} <= set(methods) and common:
                won = sum(by[(variant, i)]["correct"] and not by[(other, i)]["correct"] for i in common)
                lost = sum(not by[(variant, i)]["correct"] and by[(other, i)]["correct"] for i in common)
                lines.append(f"{variant} vs {other}: won {won}, lost {lost} "
                             f"(two-sided sign test p = {sign_test(won, lost):.2f})")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", dest="problem_set", default="gsm8k", choices=("gsm8k", "gsm8k-train"),
                    help="gsm8k (test: report) or gsm8k-train (choose settings on problems no PPM "
                         "was trained on, e.g. --start 400)")
    ap.add_argument("--start", type=int, default=100)
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--out", type=Path, default=Path("bench/results/ppm_quality.jsonl"))
    ap.add_argument("--table-only", action="store_true")
    ap.add_argument("--also", type=Path, action="append", default=[],
                    help="with --table-only: join this file's rows (another run on the same problems, "
                         "e.g. an sc run) into the table; --out's own rows win on a clash")
    ap.add_argument("--trees", type=Path, default=None,
                    help="also keep each search's events here (METHOD/ID.jsonl.gz)")
    ap.add_argument("--sc-samples", type=int, default=None,
                    help="self-consistency's k, fixed (default: matched to rstar-ppm's tokens so far)")
    ap.add_argument("--model", default=None,
                    help="the policy for every method: a .gguf (e.g. an evolve round's policy.gguf); "
                         "default: the embedded model")
    ap.add_argument("--token-budget", type=int, default=0,
                    help="every rStar method searches until this many generated tokens (0: the "
                         "preset's rollouts); one budget per --out")
    ap.add_argument("--match-tokens", action="store_true",
                    help="rstar-ppm and rstar-ppm-vote get, per problem, rstar-vote's tokens on it as "
                         "their token budget")
    ap.add_argument("--ppm", default="default",
                    help="rstar-ppm's PPM: default (the shipped one) or a PPM directory "
                         "(e.g. RUN/round-2/ppm)")
    args = ap.parse_args()
    methods = tuple(args.methods.split(","))
    if "greedy" not in methods or set(methods) - set(METHODS):
        ap.error(f"--methods: greedy and any of {', '.join(METHODS[1:])}")
    if args.token_budget < 0:
        ap.error("--token-budget: a number of tokens, 0 or more")
    rows = done_rows(args.out)
    if args.also and not args.table_only:
        ap.error("--also joins rows into the table only: give --table-only")
    missing = [str(f) for f in args.also if not f.is_file()]
    if missing:
        ap.error(f"--also: no such file {', '.join(missing)}")
    if args.match_tokens and (args.token_budget or "rstar-vote" not in methods or any(
            m in methods[: methods.index("rstar-vote")] for m in MATCHED)):
        ap.error("--match-tokens: no --token-budget, and rstar-vote listed before rstar-ppm / rstar-ppm-vote")
    rule = "match rstar-vote" if args.match_tokens else str(args.token_budget)
    run_key = (args.model, args.ppm, rule)
    other = {(r.get("model"), r.get("ppm", "default"), r.get("budget_rule", "0")) for r in rows} - {run_key}
    if other and not args.table_only:
        ap.error(f"{args.out} holds results of another --model / --ppm / token budget "
                 f"{sorted(map(str, other))}: give each its own --out")
    if not args.table_only:
        problems = load_problems(args.problem_set, args.start + args.count)[args.start :]
        engine = load_engine("llamacpp", args.model)
        sha = model_checksum("llamacpp", args.model)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        for k, prob in enumerate(problems):
            for method in methods:
                if any(r["method"] == method and r["id"] == prob.id for r in rows):
                    continue
                sc_k = args.sc_samples or sc_samples(rows)
                seed = args.seed + args.start + k
                budget = args.token_budget
                if args.match_tokens and method in MATCHED:
                    budget = matched_budget(rows, prob.id)
                spec = spec_of(method, prob, seed, sc_k, "llamacpp", args.model, args.ppm, budget)
                t = time.monotonic()
                res = solve_spec(spec.fork(model_sha256=sha), engine=engine)
                row = {
                    "method": method,
                    "id": prob.id,
                    "answer": res.answer,
                    "reference": prob.answer,
                    "correct": bool(res.correct),
                    "tokens": res.tokens,
                    "wall_s": round(time.monotonic() - t, 2),
                    "in_tree": right_answer_in_tree(res.events, prob.answer),
                    "reward": res.reward,
                    "config": res.config,
                    "ppm_s": res.stats.get("ppm_s"),
                    "model": args.model,
                    "ppm": args.ppm,
                    "ppm_used": ppm_used(res.events),
                    "token_budget": budget if method.startswith("rstar") else 0,
                    "budget_rule": rule,
                }
                if args.trees and method.startswith("rstar"):
                    keep_events(args.trees / method, prob, res.events)
                rows.append(row)
                with args.out.open("a") as fh:
                    fh.write(json.dumps(row) + "\n")
                mark = "+" if row["correct"] else "-"
                print(
                    f"{method:10s} {mark} {prob.id} {res.answer} (ref {prob.answer}) "
                    f"{res.tokens} tok {row['wall_s']:.1f}s",
                    flush=True,
                )
    for extra in args.also:
        rows = joined(rows, done_rows(extra))
    print(table(rows, methods))


if __name__ == "__main__":
    main()
