"""How far to trust a run's process preference model (PPM): pure computations over folded
trees (``backend/tree.py``) and events, drawn by the web app (``ui/diagnostics.py``).

- ``disagreements``: steps whose PPM score and search value Q differ most once the search
  has visited them more than the PPM's own first visit (N >= 2): there the rollouts below
  the step told the search something the PPM did not see.
- ``last_pick`` / ``pick_driver``: the last selection of a node and whether its value
  (Q term) or its exploration term won it, against the best sibling.
- ``calibration``: over runs with a known answer, PPM score bins against the share of
  correct final answers, and how often a correct answer outscores a wrong one.
- ``length_bias``: PPM score against step length (the text the PPM read), with Pearson's r:
  a PPM that learnt "longer is better" shows up here.
- ``ppm_line``: which PPM values a run's steps, or why none does, in one line.

No UI imports; nothing here loads a model.
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from backend import events as ev
from backend.reward.ppm_input import step_input
from backend.runspec import PPM_NOTE_NONE, PPM_NOTE_VALUED
from backend.tree import Node, Tree

#: a step is listed (and flagged in the tree) when |PPM - Q| is at least this
MIN_GAP = 0.25
#: at most this many steps are listed and flagged
TOP = 8
#: visits before Q can differ from the PPM: a new step starts at N = 1, Q = its PPM value
MIN_VISITS = 2


# --- PPM against Q -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Disagreement:
    """One step where the PPM's score and the search's Q differ (``gap = ppm - q``)."""

    id: int
    ppm: float
    q: float
    n: int

    @property
    def gap(self) -> float:
        return self.ppm - self.q


def disagreements(
    tree: Tree, *, min_visits: int = MIN_VISITS, min_gap: float = MIN_GAP, limit: int = TOP
) -> list[Disagreement]:
    """Scored steps visited at least ``min_visits`` times whose |PPM - Q| >= ``min_gap``,
    largest gap first (ties: lower id first), at most ``limit``. One pass over the nodes:
    the live view calls it on every update."""
    found = []
    for node in tree.nodes.values():
        scores = node.scores
        if scores is None or node.n < min_visits:
            continue
        ppm = scores.get("ppm")
        if ppm is None:
            continue
        gap = abs(ppm - node.q)
        if gap >= min_gap:
            found.append((-gap, node.id, ppm, node.q, node.n))
    return [Disagreement(i, ppm, q, n) for _, i, ppm, q, n in heapq.nsmallest(limit, found)]


def scored_nodes(tree: Tree) -> list[Node]:
    """Nodes with a PPM score, in tree order."""
    return [n for n in tree.nodes.values() if n.scores and n.scores.get("ppm") is not None]


# --- why a node was picked -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pick:
    """The last selection step that chose ``chosen``: its iteration and every sibling's
    row (``id, n, q, prior, q_term, u_term, score``, backend/search/selection.py)."""

    iteration: int
    chosen: int
    rows: list[dict[str, Any]]

    @property
    def row(self) -> dict[str, Any]:
        return next(r for r in self.rows if r.get("id") == self.chosen)

    @property
    def rival(self) -> dict[str, Any] | None:
        """The best sibling that was not chosen (first in order among equal scores)."""
        others = [r for r in self.rows if r.get("id") != self.chosen]
        return max(others, key=lambda r: _num(r.get("score")), default=None)


def last_pick(events: Iterable[ev.Event], node_id: int) -> Pick | None:
    """The last ``node_selected`` event whose path goes through ``node_id`` (not as the
    start of the path, which nobody chose), or None."""
    found = None
    for e in events:
        if not isinstance(e, ev.NodeSelected) or node_id not in e.path[1:]:
            continue
        k = e.path.index(node_id, 1)
        if k - 1 < len(e.children) and any(r.get("id") == node_id for r in e.children[k - 1]):
            found = Pick(e.iteration, node_id, list(e.children[k - 1]))
    return found


def pick_driver(pick: Pick) -> str:
    """What won the pick against the best sibling: ``only`` (no sibling to beat), ``tie``
    (equal scores: the first in order wins), ``value`` (a higher Q term outweighed the
    rival's exploration), ``exploration`` (the other way round) or ``both`` (ahead on both)."""
    rival = pick.rival
    if rival is None:
        return "only"
    row = pick.row
    if math.isclose(_num(row.get("score")), _num(rival.get("score")), abs_tol=1e-9):
        return "tie"
    dq = _num(row.get("q_term")) - _num(rival.get("q_term"))
    du = _num(row.get("u_term")) - _num(rival.get("u_term"))
    if dq >= 0 and du >= 0:
        return "both"
    return "value" if dq > 0 else "exploration"


def _num(v: Any) -> float:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else 0.0


# --- calibration over runs with a known answer ----------------------------------------------


@dataclass(frozen=True, slots=True)
class Bin:
    """PPM scores in [lo, hi) (the last bin includes hi): how many final answers, how many right."""

    lo: float
    hi: float
    count: int
    correct: int

    @property
    def share(self) -> float | None:
        return self.correct / self.count if self.count else None


@dataclass(frozen=True, slots=True)
class Calibration:
    bins: list[Bin]
    #: runs that gave at least one graded, scored final answer
    runs: int
    terminals: int
    correct: int
    #: share of (correct, wrong) pairs in which the correct answer scored higher (ties half);
    #: None without both kinds. 0.5 is a coin, 1.0 a PPM that always ranks right first
    ranking: float | None


def graded_terminals(tree: Tree, equal: Callable[[str, str], bool] | None = None) -> list[tuple[float, bool]]:
    """(PPM score, correct) of each scored final answer of a finished run with a known
    answer (``run_finished.reference``); [] for any other run."""
    ref = tree.finished.reference if tree.finished is not None else None
    if ref is None:
        return []
    if equal is None:
        from backend.verify.answers import answers_equal as equal
    out = []
    for node in scored_nodes(tree):
        if node.answer is not None:
            out.append((float(node.scores["ppm"]), bool(equal(node.answer, ref))))  # type: ignore[index]
    return out


def calibration(
    trees: Iterable[Tree],
    *,
    bins: int = 10,
    lo: float = -1.0,
    hi: float = 1.0,
    equal: Callable[[str, str], bool] | None = None,
) -> Calibration:
    """Bin the graded final answers of ``trees`` by PPM score (``bins`` equal bins over
    [lo, hi]; a score outside goes to the end bin)."""
    counts, right = [0] * bins, [0] * bins
    runs, pairs = 0, []
    for tree in trees:
        graded = graded_terminals(tree, equal)
        runs += bool(graded)
        pairs += graded
        for score, ok in graded:
            k = bin_index(score, bins, lo, hi)
            counts[k] += 1
            right[k] += ok
    edges = [lo + k * (hi - lo) / bins for k in range(bins)] + [hi]
    out = [Bin(round(edges[k], 6), round(edges[k + 1], 6), counts[k], right[k]) for k in range(bins)]
    return Calibration(out, runs, len(pairs), sum(right), ranking_accuracy(pairs))


def bin_index(score: float, bins: int, lo: float, hi: float) -> int:
    """The bin of ``score`` among ``bins`` equal bins over [lo, hi]: a score on an edge goes to
    the bin it opens (0.6 in [0.6, 0.8), however 0.6 rounds in binary), the ends take the rest."""
    k = math.floor((score - lo) * bins / (hi - lo) + 1e-9)
    return min(bins - 1, max(0, k))


def ranking_accuracy(graded: Sequence[tuple[float, bool]]) -> float | None:
    """How often a correct answer outscores a wrong one, over all (correct, wrong) pairs,
    ties counting half (the area under the ROC curve); None without both kinds."""
    good = sorted(s for s, ok in graded if ok)
    bad = [s for s, ok in graded if not ok]
    if not good or not bad:
        return None
    won = 0.0
    for s in bad:
        below, upto = bisect.bisect_left(good, s), bisect.bisect_right(good, s)
        won += (len(good) - upto) + 0.5 * (upto - below)
    return won / (len(good) * len(bad))


# --- length bias ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LengthBias:
    #: (step length in characters, PPM score) per scored step
    points: list[tuple[int, float]]
    #: Pearson's r between length and score; None with fewer than 3 points or no spread
    r: float | None


def step_length(node: Node) -> int:
    """Characters of the step as the PPM read it (its text, plus its code when apart)."""
    return len(step_input(node.text, node.code))


def length_bias(trees: Iterable[Tree]) -> LengthBias:
    """PPM score against step length over every scored step of ``trees``."""
    points = [(step_length(n), float(n.scores["ppm"])) for t in trees for n in scored_nodes(t)]  # type: ignore[index]
    return LengthBias(points, pearson([p[0] for p in points], [p[1] for p in points]))


def pearson(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Pearson's correlation coefficient; None with fewer than 3 pairs or a constant side."""
    n = len(xs)
    if n < 3 or n != len(ys):
        return None
    mx, my = sum(xs) / n, sum(ys) / n
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    if sxx <= 0 or syy <= 0:
        return None
    return max(-1.0, min(1.0, sxy / math.sqrt(sxx * syy)))


# --- which PPM, in one line -----------------------------------------------------------------

_VALUED, _NO_PPM = PPM_NOTE_VALUED, PPM_NOTE_NONE


def ppm_note(tree: Tree) -> ev.Note | None:
    """The root note that says which PPM values the steps, or why none does."""
    for note in tree.notes:
        if note.message.startswith((_VALUED, _NO_PPM)):
            return note
    return None


def ppm_line(tree: Tree, unnamed: str = "a PPM given to the search") -> str | None:
    """Plain text for the page: which PPM values this run's steps, or why none does; None
    for a run of an algorithm that takes no PPM (CPL, LIPS, the baselines). ``unnamed``
    names a PPM that scored steps without a root note saying which (one handed to the
    search directly, as tests and benches do)."""
    started = tree.started
    if started is None or not _takes_ppm(started.algorithm):
        return None
    note = ppm_note(tree)
    scored = sum(1 for n in tree.nodes.values() if n.scores and n.scores.get("ppm") is not None)
    if note is not None and note.message.startswith(_NO_PPM):
        return f"none ({note.message[len(_NO_PPM) :]})"
    chosen = (started.spec or {}).get("ppm", "default")
    if not scored and (chosen is None or str(chosen).strip().lower() in ("", "none")):
        return "none (chosen for this run): Q comes from the rollouts' rewards only"
    if note is None and not scored:  # the run's first moments: its root note comes with the root
        return "not known yet (the run has not said which PPM values its steps)"
    which = note.message[len(_VALUED) :] if note is not None else unnamed
    if not scored:
        return f"{which}; no step scored yet"
    return f"{which}; {scored} step{'s' if scored != 1 else ''} scored"


def _takes_ppm(algorithm: str) -> bool:
    from backend.runspec import uses_ppm

    try:
        return uses_ppm(algorithm)
    except ValueError:  # an imported run of an algorithm this Canopy does not have
        return False
