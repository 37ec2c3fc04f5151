"""The convergence panel: the root children's N and Q and the answers' votes over iterations,
or, where nothing converges (LIPS, one-shot runs, no iteration yet), a sentence saying why.
A plain Plotly figure as a dict, drawn by ``ui/static/plot.js``."""

from __future__ import annotations

import math
from typing import Any

from backend.tree import Tree
from ui.escape import esc
from ui.vocabulary import rounds_phrase

#: most points per convergence line: past this many iterations the panel plots every
#: k-th one (k a power of two, so earlier samples stay put) and the last
CONVERGENCE_POINTS = 400


def sampled(items: list[Any], most: int = CONVERGENCE_POINTS) -> list[Any]:
    """Every k-th item (k the smallest power of two that keeps at most ``most``) plus the last."""
    if len(items) <= most:
        return list(items)
    k = 1
    while (len(items) - 1) // k + 1 > most - 1:
        k *= 2
    out = items[::k]
    if (len(items) - 1) % k:
        out.append(items[-1])
    return out


#: algorithms with nothing that converges over iterations: LIPS (a queue of goals, no N or Q)
#: and the one-shot baselines (one iteration: all samples at once, one vote)
NO_CONVERGENCE = frozenset({"lips", "greedy", "sc", "bon"})
#: one colour per root child: its N line (solid) and Q line (dotted) share it
LINE_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]


def convergence_figure(tree: Tree, max_children: int = 8) -> dict[str, Any]:
    """Root children's N and Q, and answer votes, over iterations (three stacked panels); an
    ``empty`` message instead when the run has nothing that converges (``empty_convergence``).

    Each child has one colour for its N (solid) and Q (dotted) lines, both named in the
    legend and toggled together (one legend group). A long run is sampled (``sampled``):
    2,500 iterations of 16 lines made the panel the costliest part of each live update in the
    browser (bench/ui_latency.py)."""
    kids: list[int] = []
    for r in tree.iterations:
        for cid, _, _ in r.root_children:
            if cid not in kids:
                kids.append(cid)
    head = {"run": tree.started.run_id if tree.started else "", "rev": tree.last_seq}
    if not kids or (tree.started and tree.started.algorithm in NO_CONVERGENCE):
        return {**head, **empty_convergence(tree)}
    its = sampled(tree.iterations)
    x = [r.iteration for r in its]
    data: list[dict[str, Any]] = []
    final = {cid: n for cid, n, _ in (its[-1].root_children if its else [])}
    kids = sorted(kids, key=lambda c: -final.get(c, 0))[:max_children]
    for k, cid in enumerate(kids):
        rows = [next(((n, q) for c, n, q in r.root_children if c == cid), (None, None)) for r in its]
        colour = LINE_COLOURS[k % len(LINE_COLOURS)]
        common = {"type": "scatter", "mode": "lines", "x": x, "xaxis": "x", "legendgroup": str(cid)}
        data.append(
            {
                **common,
                "name": f"#{esc(cid)} N",
                "y": [n for n, _ in rows],
                "yaxis": "y",
                "line": {"color": colour},
            }
        )
        data.append(
            {
                **common,
                "name": f"#{esc(cid)} Q",
                "y": [q for _, q in rows],
                "yaxis": "y2",
                "line": {"dash": "dot", "color": colour},
            }
        )
    answers: list[str] = []
    for r in tree.iterations:
        for a in r.votes:
            if a not in answers:
                answers.append(a)
    for a in answers[:max_children]:
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": f"answer {esc(a)}",
                "x": x,
                "y": [r.votes.get(a, 0) for r in its],
                "xaxis": "x",
                "yaxis": "y3",
                "line": {"width": 3},
            }
        )
    last = x[-1] if x else 0
    out = {
        **head,
        "data": data,
        "layout": {
            "uirevision": "conv",
            "height": 460,
            # the legend sits under the x axis's title, never on it
            "margin": {"l": 50, "r": 10, "t": 10, "b": 40},
            "legend": {"orientation": "h", "x": 0, "y": -0.16, "yanchor": "top", "font": {"size": 10}},
            "xaxis": {
                "title": {"text": "iteration", "standoff": 4},
                "anchor": "y3",
                # whole iterations only: at most ~10 ticks, never a fractional one
                "tickmode": "linear",
                "tick0": 0,
                "dtick": max(1, math.ceil((last + 1) / 10)),
                "tickformat": "d",
            },
            "yaxis": {"title": {"text": "root child N"}, "domain": [0.7, 1.0]},
            "yaxis2": {"title": {"text": "Q"}, "domain": [0.38, 0.64], "range": [-1.05, 1.05]},
            "yaxis3": {"title": {"text": "votes"}, "domain": [0.0, 0.32]},
            "plot_bgcolor": "rgba(0,0,0,0)",
            "paper_bgcolor": "rgba(0,0,0,0)",
        },
    }
    if not answers:  # no votes panel: an axis without a trace left the x axis's title mid-chart
        lay = out["layout"]
        del lay["yaxis3"]
        lay["xaxis"]["anchor"] = "y2"
        lay["yaxis"]["domain"], lay["yaxis2"]["domain"] = [0.56, 1.0], [0.0, 0.44]
        out["note"] = "No answer yet: the votes panel appears with the first answer."
    return out


def empty_convergence(tree: Tree) -> dict[str, Any]:
    """What the convergence panel says when nothing converges: no iteration yet, a LIPS run
    (a queue of goals, no visits or values), or a one-shot run (its votes as bars, once)."""
    algorithm = tree.started.algorithm if tree.started else ""
    none: dict[str, Any] = {"data": [], "layout": {}}
    if not tree.started:
        return {**none, "empty": "No run yet: the convergence chart follows an rStar-Math or CPL run."}
    if algorithm == "lips":
        return {
            **none,
            "empty": "No convergence chart for LIPS: it has no visits or values to converge. It pops the "
            "best-ranked goal from a queue, tries to close it, else adds the goals its tactics make "
            f"({rounds_phrase(tree, len(tree.iterations))} so far). The answer panel shows the proof.",
        }
    if algorithm in ("rstar", "cpl"):
        return {**none, "empty": "No iteration has finished yet: the chart starts after the first."}
    votes = tree.answer_votes()
    why = (
        f"No convergence for a one-shot run: {esc(algorithm)} samples its answers at once and votes "
        "once (no iterations). rStar-Math and CPL draw N and Q of the root's children over iterations."
    )
    if not votes:
        return {**none, "empty": why}
    shown = list(votes.items())[:12]
    return {
        "data": [
            {"type": "bar", "x": [esc(a) for a, _ in shown], "y": [v for _, v in shown], "name": "votes"}
        ],
        "layout": {
            "height": 300,
            "margin": {"l": 50, "r": 10, "t": 10, "b": 60},
            "xaxis": {"title": {"text": "answer"}, "type": "category"},
            "yaxis": {"title": {"text": "votes"}},
            "plot_bgcolor": "rgba(0,0,0,0)",
            "paper_bgcolor": "rgba(0,0,0,0)",
        },
        "note": why + " The bars are its final votes.",
    }
