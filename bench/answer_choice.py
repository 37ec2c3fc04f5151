"""Which answer rule would have been right on the same trees? The vote and the highest-Q
terminal (official ``eval_output.py``), both read off each kept search tree.

    python bench/answer_choice.py RUNS/trees/rstar-ppm --set gsm8k-train

Why: a PPM changes two things at once: the search it guides (first Q of every step) and the
answer it picks (the highest-Q terminal). ``bench/ppm_quality.py`` measures both together;
re-reading its kept trees (``--trees``) with each rule separates them: the vote over a
PPM-guided tree shows what the guidance alone did, the highest-Q terminal what the PPM's
answer choice added. The choice is the search's own (``backend/reward/choice.py``); the
known answer only grades.
"""

from __future__ import annotations

import argparse
import gzip
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend import events as ev
from backend.problems import load_problems
from backend.reward.choice import Candidate, choose_answer
from backend.train.ppm_data import tree_file
from backend.tree import Tree
from backend.verify.answers import answers_equal, normalize_answer

RULES = ("vote", "max_q")


@dataclass(frozen=True)
class Graded:
    """One tree: whether each rule's answer is right, whether any terminal is, and which rules
    give the answer the run itself gave (a check that the fold reproduces the search's choice)."""

    id: str
    right: dict[str, bool]
    in_tree: bool
    same_as_run: dict[str, bool]


def candidates(tree: Tree) -> list[Candidate]:
    """The valid terminal answers of a finished tree, as the search's own answer choice sees them."""
    return [Candidate(node=n.id, answer=n.answer, q=n.q, n=n.n) for n in tree.answer_nodes() if n.terminal]


def grade(events: list[ev.Event], reference: str, problem_id: str) -> Graded:
    """Each rule's answer on the tree the events fold into, graded against ``reference``."""
    tree = Tree.from_events(events)
    cands = candidates(tree)
    own = tree.finished.answer if tree.finished is not None else None
    right, same = {}, {}
    for rule in RULES:
        best, _ = choose_answer(cands, rule)
        answer = None if best is None else normalize_answer(best.answer)
        right[rule] = answer is not None and answers_equal(answer, reference)
        same[rule] = answer == own
    return Graded(problem_id, right, any(answers_equal(c.answer, reference) for c in cands), same)


def table(rows: list[Graded]) -> str:
    n = len(rows)
    if not n:
        return "no trees"
    lines = [f"{n} trees", "| answer rule | right | right answer in the tree |", "|---|---|---|"]
    tree = sum(r.in_tree for r in rows)
    for rule in RULES:
        ok = sum(r.right[rule] for r in rows)
        lines.append(f"| {rule} | {ok}/{n} ({ok / n:.1%}) | {tree}/{n} |")
    won = sum(r.right["max_q"] and not r.right["vote"] for r in rows)
    lost = sum(r.right["vote"] and not r.right["max_q"] for r in rows)
    lines.append(f"max_q vs vote on the same trees: won {won}, lost {lost}")
    lines.append("the run's own answer is " + ", ".join(
        f"{rule}'s on {sum(r.same_as_run[rule] for r in rows)}/{n}" for rule in RULES))
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("trees", type=Path,
                    help="a folder of kept trees (bench/ppm_quality.py --trees DIR: its DIR/METHOD)")
    ap.add_argument("--set", dest="problem_set", default="gsm8k",
                    help="the problems' set (gsm8k, gsm8k-train)")
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--count", type=int, default=10_000)
    args = ap.parse_args()
    rows = []
    for prob in load_problems(args.problem_set, args.count, start=args.start):
        path = tree_file(args.trees, prob)
        if not path.is_file() or prob.answer is None:
            continue
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            _, events = ev.read_jsonl(fh)
        g = grade(events, prob.answer, prob.id)
        rows.append(g)
        print(f"{prob.id}: vote {'+' if g.right['vote'] else '-'} max_q {'+' if g.right['max_q'] else '-'}"
              f" in tree {'+' if g.in_tree else '-'}", flush=True)
    print(table(rows))


if __name__ == "__main__":
    main()
