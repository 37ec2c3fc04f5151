"""Did the PPM that guided a search tell its right answers from its wrong ones, inside its own
trees? Within-tree pairwise accuracy over finished traces of the same problem.

    python -m bench.ppm_in_tree assets/evolve-300/round-3/trees assets/evolve-300/round-4/trees

Why: an evolve round that finds fewer right answers than the one before changed two things at
once, its policy and the PPM valuing its steps. The PPM's held-out pairwise accuracy
(``round-N/ppm.json``) is measured on other problems' step pairs; this reads the trees the PPM
actually steered. For every tree with both a right and a wrong finished trace, every (right,
wrong) pair is scored three ways: the answer step's PPM score, the mean PPM score over the
trace's steps, and, as the yardstick a search without a PPM has, the policy's own mean token
log-prob over the trace. Ties count a half. The known answer only grades (truth-run trees
record it); trees without one, or with a step the PPM never scored, are left out and counted.
Training trees are the problems the PPM of a later round was trained on: read a round's trees
against the PPM that guided them (round N's trees, round N-1's PPM), not the one built from them.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from statistics import fmean

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.evolve.sft_data import known_answer
from backend.train.ppm_data import read_tree
from backend.tree import Tree
from backend.verify.answers import answers_equal

#: how each (right, wrong) pair is judged: the name, and what of a trace is compared
MEASURES = ("answer step PPM", "mean PPM over the trace", "policy mean log-prob (no PPM)")


@dataclass(frozen=True)
class TraceScores:
    """One finished trace: its answer step's PPM score, the mean PPM over its steps, and the
    policy's mean token log-prob over its steps (None where a step does not record one)."""

    answer_ppm: float
    mean_ppm: float
    mean_logprob: float | None

    def measure(self, i: int) -> float | None:
        return (self.answer_ppm, self.mean_ppm, self.mean_logprob)[i]


@dataclass
class Separation:
    """Pairwise wins of right over wrong traces, per measure, summed over trees."""

    trees: int = 0
    both: int = 0  # trees with a right and a wrong finished trace
    skipped: int = 0  # trees with no known answer or an unscored step
    pairs: tuple[int, int, int] = (0, 0, 0)
    wins: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def accuracy(self, i: int) -> float | None:
        return self.wins[i] / self.pairs[i] if self.pairs[i] else None

    def add(self, right: list[TraceScores], wrong: list[TraceScores]) -> None:
        pairs, wins = list(self.pairs), list(self.wins)
        for i in range(len(MEASURES)):
            for r in right:
                for w in wrong:
                    a, b = r.measure(i), w.measure(i)
                    if a is None or b is None:
                        continue
                    pairs[i] += 1
                    wins[i] += 1.0 if a > b else 0.5 if a == b else 0.0
        self.pairs, self.wins = (pairs[0], pairs[1], pairs[2]), (wins[0], wins[1], wins[2])


def trace_scores(tree: Tree, leaf: int) -> TraceScores | None:
    """The scores of the trace root → ``leaf`` (None: a step the PPM did not score)."""
    steps = [tree.nodes[i] for i in tree.path_to(leaf)[1:]]
    ppm = [s.ppm for s in steps]
    if not steps or any(p is None for p in ppm):
        return None
    logprobs = [s.meta.get("mean_logprob") for s in steps]
    mean_lp = fmean(logprobs) if all(isinstance(x, (int, float)) for x in logprobs) else None
    return TraceScores(float(ppm[-1]), fmean(ppm), mean_lp)  # type: ignore[arg-type]


def separate(tree: Tree, into: Separation, reference: str | None = None) -> None:
    """Add one tree's (right, wrong) pairs to ``into``, graded by ``reference`` (default: the
    known answer the truth run recorded)."""
    into.trees += 1
    reference = reference if reference is not None else known_answer(tree)
    if reference is None:
        into.skipped += 1
        return
    right: list[TraceScores] = []
    wrong: list[TraceScores] = []
    for node in tree.answer_nodes():
        if node.children:
            continue
        scores = trace_scores(tree, node.id)
        if scores is None:
            into.skipped += 1
            return
        (right if answers_equal(node.answer, reference) else wrong).append(scores)
    if right and wrong:
        into.both += 1
        into.add(right, wrong)


def table(rows: dict[str, Separation]) -> str:
    """One Markdown row per folder of trees."""
    head = "| trees | read | with right and wrong | " + " | ".join(MEASURES) + " |"
    lines = [head, "|" + "---|" * (3 + len(MEASURES))]
    for name, s in rows.items():
        cells = []
        for i in range(len(MEASURES)):
            acc = s.accuracy(i)
            cells.append("–" if acc is None else f"{acc:.3f} ({s.pairs[i]} pairs)")
        lines.append(f"| {name} | {s.trees - s.skipped} | {s.both} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", type=Path, nargs="+", help="folders of kept trees (*.jsonl.gz)")
    args = ap.parse_args(argv)
    rows = {}
    for folder in args.folders:
        s = Separation()
        for path in sorted(folder.glob("*.jsonl.gz")):
            separate(read_tree(path), s)
        rows[str(folder)] = s
    print(table(rows))


if __name__ == "__main__":
    main()
