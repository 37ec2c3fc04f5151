"""The PPM diagnostics panel, drawn: the disagreement list (Markdown) and the calibration
and length-bias charts (Plotly dicts for ``ui/static/plot.js``).

The numbers come from ``backend/ppm_diagnostics.py``; this module only words and draws
them. Step text is escaped (``md_esc``); chart texts are numbers only.
"""

from __future__ import annotations

import re
from typing import Any

from backend.ppm_diagnostics import MIN_GAP, MIN_VISITS, Calibration, Disagreement, LengthBias, scored_nodes
from backend.tree import Tree
from ui.escape import md_esc
from ui.words import count, plural

STEP_WIDTH = 70

DISAGREE_HELP = (
    "A new step starts at N = 1 with Q = its PPM score; every rollout through it then moves Q "
    "towards the rewards found below it. A large gap between PPM and Q after several visits means "
    "the rollouts disagreed with what the PPM said about the step. Listed steps have a dotted "
    "ring in the tree."
)


#: a line that is only a format tag (rStar's ``<code>``, ``<end_of_step>``) says nothing of the step
_TAG_ONLY = re.compile(r"^<[^<>\s]+>$")


def _first_line(text: str, code: str | None) -> str:
    """The step's first line that says something (not a bare format tag), shortened."""
    lines = [ln.strip() for ln in (text + "\n" + (code or "")).splitlines()]
    line = next((ln for ln in lines if ln and not _TAG_ONLY.match(ln)), "")
    return line if len(line) <= STEP_WIDTH else line[: STEP_WIDTH - 1] + "…"


def disagreement_panel(tree: Tree, found: list[Disagreement]) -> str:
    """The steps where PPM and Q disagree most (``found``: ``disagreements(tree)``), as a
    Markdown table, or why there is nothing to list."""
    if tree.root_id is None:
        return "_No run yet._"
    if not found:
        scored = scored_nodes(tree)
        if not scored:
            algorithm = tree.started.algorithm if tree.started else "?"
            how = (
                "choose PPM default (the embedded model on llamacpp) or a PPM directory before Run"
                if algorithm == "rstar"
                else f"{md_esc(algorithm)} takes no PPM: only rStar-Math runs are scored"
            )
            return (
                "No step of this run has a PPM score, so there is nothing to compare Q with. "
                f"To get scores: {how}."
            )
        visited = sum(1 for n in scored if n.n >= MIN_VISITS)
        return (
            f"PPM and Q agree within {MIN_GAP:g} on every scored step visited {MIN_VISITS} times or "
            f"more ({visited} of {len(scored)} scored steps so far)."
        )
    rows = [
        "| node | PPM | Q | N | PPM − Q | step |",
        "|---|---|---|---|---|---|",
    ]
    for d in found:
        node = tree.nodes[d.id]
        step = md_esc(_first_line(node.text, node.code)) or "–"
        rows.append(f"| #{d.id} | {d.ppm:.2f} | {d.q:.2f} | {d.n} | {d.gap:+.2f} | {step} |")
    return "\n".join(rows) + "\n\n" + DISAGREE_HELP


def _empty(message: str) -> dict[str, Any]:
    """A chart with nothing to draw: its axes hidden and ``message`` in the middle."""
    return {
        "data": [],
        "layout": {
            "height": 320,
            "xaxis": {"visible": False},
            "yaxis": {"visible": False},
            "annotations": [
                {"text": message, "showarrow": False, "x": 0.5, "y": 0.5, "xref": "paper", "yref": "paper"}
            ],
            "plot_bgcolor": "rgba(0,0,0,0)",
            "paper_bgcolor": "rgba(0,0,0,0)",
        },
    }


def calibration_figure(cal: Calibration) -> dict[str, Any]:
    """Bars: the share of correct final answers per PPM score bin, each labelled k/n."""
    if not cal.terminals:
        return _empty("No PPM-scored final answer of a run with a known answer yet")
    bars = {
        "type": "bar",
        "name": "share correct",
        "x": [(b.lo + b.hi) / 2 for b in cal.bins],
        "width": [0.9 * (b.hi - b.lo) for b in cal.bins],
        "y": [b.share for b in cal.bins],
        "text": [f"{b.correct}/{b.count}" if b.count else "" for b in cal.bins],
        "textposition": "outside",
        "customdata": [[b.correct, b.count, b.lo, b.hi] for b in cal.bins],
        "hovertemplate": (
            "PPM %{customdata[2]:+.1f} to %{customdata[3]:+.1f}<br>"
            "%{customdata[0]} of %{customdata[1]} correct<extra></extra>"
        ),
        "marker": {"color": "#2166ac"},
    }
    lo, hi = cal.bins[0].lo, cal.bins[-1].hi
    return {
        "data": [bars],
        "layout": {
            "height": 320,
            "margin": {"l": 50, "r": 10, "t": 40, "b": 60},
            "title": {"text": f"{cal.terminals} final answers, {_runs(cal.runs)}", "font": {"size": 12}},
            "xaxis": {"title": {"text": "PPM score of the final answer"}, "range": [lo, hi]},
            "yaxis": {"title": {"text": "share correct"}, "range": [0, 1.15]},
            "showlegend": False,
            "plot_bgcolor": "rgba(0,0,0,0)",
            "paper_bgcolor": "rgba(0,0,0,0)",
        },
    }


def length_figure(lb: LengthBias) -> dict[str, Any]:
    """PPM score against step length, one point per scored step, r in the title."""
    if not lb.points:
        return _empty("No PPM-scored step yet")
    r = "r undefined (too few points or no spread)" if lb.r is None else f"Pearson r = {lb.r:+.2f}"
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "markers",
                "name": "steps",
                "x": [p[0] for p in lb.points],
                "y": [p[1] for p in lb.points],
                "marker": {"size": 6, "color": "#2166ac", "opacity": 0.6},
                "hovertemplate": "%{x} characters<br>PPM %{y:.3f}<extra></extra>",
            }
        ],
        "layout": {
            "height": 320,
            "margin": {"l": 50, "r": 10, "t": 40, "b": 45},
            "title": {"text": f"{count(len(lb.points), 'step')} · {r}", "font": {"size": 12}},
            "xaxis": {"title": {"text": "step length (characters the PPM read)"}},
            "yaxis": {"title": {"text": "PPM score"}},
            "showlegend": False,
            "plot_bgcolor": "rgba(0,0,0,0)",
            "paper_bgcolor": "rgba(0,0,0,0)",
        },
    }


def _runs(k: int) -> str:
    return count(k, "run")


def history_summary(cal: Calibration, lb: LengthBias, runs: int, scanned: int) -> str:
    """What the two charts are made of, in words (Markdown)."""
    if not runs:
        return (
            f"None of the {scanned} most recent rStar-Math runs in the history has PPM scores: "
            "run one with a PPM first."
        )
    parts = [f"**{runs}** {plural(runs, 'run')} with PPM scores (of the {scanned} most recent)."]

    if cal.terminals:
        share = cal.correct / cal.terminals
        parts.append(
            f"**Calibration:** {cal.terminals} scored final {plural(cal.terminals, 'answer')} from "
            f"{_runs(cal.runs)} with a "
            f"known answer, {cal.correct} correct ({share:.0%})."
        )
        if cal.ranking is not None:
            parts.append(
                f"A correct answer outscores a wrong one in **{cal.ranking:.0%}** of pairs "
                "(50% is a coin toss)."
            )
    else:
        parts.append("**Calibration:** no run with a known answer has PPM-scored final answers yet.")
    if lb.r is not None:
        steps = f"{len(lb.points)} scored {plural(len(lb.points), 'step')}"
        parts.append(f"**Length bias:** Pearson r = {lb.r:+.2f} over {steps}.")
    return " ".join(parts)
