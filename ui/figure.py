"""Plotly figures as plain dicts: the search tree and the convergence panel.

The browser side (``ui/static/tree.js``) only picks the colour mode and calls
``Plotly.react``; everything a test may want to check is decided here. Encodings:

- position: tidy layout (``ui/layout.py``), root on top, one row per depth;
- colour: Q by default (diverging, white at 0, with a colour bar); the page can switch to
  PPM, visits or depth without asking the server (``colors`` carries every mode);
- size: visits N (square root, capped);
- symbol and outline: verification status (``STATUS_STYLE``); pruned nodes are greyed;
- hover: id, N, Q, PPM, status and the first lines of the step;
- the best path is a thick gold line, nodes added since the previous update get a ring
  that the page fades out ("newest nodes flash").

Big trees switch to WebGL (``scattergl``) past ``WEBGL_FROM`` nodes: SVG redraws of
thousands of markers are what made full updates slow (issue 6: ~0.7 s at 10k nodes).
"""

from __future__ import annotations

import html
import math
from typing import Any

from backend.tree import Node, Tree
from ui.layout import tidy_layout

WEBGL_FROM = 1500
HOVER_LINES = 3
HOVER_WIDTH = 72
# hover text is half of a big figure's bytes: past WEBGL_FROM nodes, one short line each
# (the inspector shows everything on click)
BIG_HOVER_LINES, BIG_HOVER_WIDTH = 1, 48

# status -> (marker symbol, outline colour, legend label)
GOOD, BAD, PLAIN, NONE = "#1a9850", "#d73027", "#444444", "#9e9e9e"
STATUS_STYLE: dict[str, tuple[str, str, str]] = {
    "ok": ("circle", PLAIN, "code ran"),
    "error": ("x", BAD, "code failed"),
    "timeout": ("x", BAD, "code timed out"),
    "correct": ("star", GOOD, "answer correct"),
    "incorrect": ("diamond-x", BAD, "answer wrong"),
    "answered": ("diamond", PLAIN, "answer (ungraded)"),
    "proved": ("star", GOOD, "proved"),
    "refuted": ("triangle-down", BAD, "refuted"),
    "counterexample": ("triangle-down", BAD, "counterexample"),
    "equivalent": ("circle", GOOD, "equivalent rewrite"),
    "rejected": ("circle-x", BAD, "rejected rewrite"),
    "unknown": ("circle-dot", NONE, "unknown"),
    None: ("circle", NONE, "unverified"),  # type: ignore[dict-item]
}
PRUNED_STYLE = ("circle-open", NONE, "pruned")

DIVERGING = [[0.0, "#b2182b"], [0.25, "#ef8a62"], [0.5, "#f7f7f7"], [0.75, "#67a9cf"], [1.0, "#2166ac"]]
SEQUENTIAL = "Viridis"


def node_style(node: Node) -> tuple[str, str, str]:
    if node.pruned:
        return PRUNED_STYLE
    if node.answer is not None and node.status in (None, "ok"):
        return STATUS_STYLE["answered"]  # its program ran and printed the answer: show it as one
    return STATUS_STYLE.get(node.status, STATUS_STYLE[None])


def marker_size(n: int) -> float:
    return round(min(9 + 4 * math.sqrt(max(n, 0)), 30), 2)


def hover_text(node: Node, lines: int = HOVER_LINES, width: int = HOVER_WIDTH) -> str:
    """The first lines of a step, escaped (Plotly hover labels understand a little HTML)."""
    first = [ln for ln in node.text.splitlines() if ln.strip()][:lines] or ["(no text)"]
    if node.code and len(first) < lines:
        first += [ln for ln in node.code.splitlines() if ln.strip()][: lines - len(first)]
    short = [ln if len(ln) <= width else ln[: width - 1] + "…" for ln in first]
    return "<br>".join(html.escape(s) for s in short)


def _round(v: float | None) -> float | None:
    return None if v is None else round(float(v), 4)


def tree_figure(tree: Tree, *, fresh_after: int | None = None, title: str = "") -> dict[str, Any]:
    """The live tree as ``{data, layout, colors, ...}``; ``fresh_after`` marks newer nodes.

    Nodes are split into one trace per verification style (a constant symbol and outline
    each) instead of one trace with per-point symbol arrays: per-point symbols made WebGL
    redraws of 10k nodes 3-4x slower (measured with bench/ui.py's figures in chromium).
    ``node_traces`` lists those traces; ``colors`` holds each colour mode's scale.
    """
    run_id = tree.started.run_id if tree.started else ""
    if tree.root_id is None:
        return {
            "run": run_id,
            "rev": tree.last_seq,
            "count": 0,
            "data": [],
            "layout": _tree_layout(run_id, title),
        }
    pos = tidy_layout(tree.root_id, {i: n.children for i, n in tree.nodes.items()})
    kind = "scattergl" if len(pos) >= WEBGL_FROM else "scatter"
    ex: list[float | None] = []
    ey: list[float | None] = []
    groups: dict[tuple[str, str, str], list[Node]] = {}
    for node_id, (x, depth) in pos.items():  # pre-order: parents before children
        node = tree.nodes[node_id]
        groups.setdefault(node_style(node), []).append(node)
        if node.parent is not None:
            px, pd = pos[node.parent]
            ex += [round(px, 3), round(x, 3), None]
            ey += [-pd, -depth, None]
    best = [i for i in tree.best_path() if i in pos]
    data: list[dict[str, Any]] = [
        {
            "type": kind,
            "name": "edges",
            "mode": "lines",
            "x": ex,
            "y": ey,
            "hoverinfo": "skip",
            "line": {"color": "#b0b0b0", "width": 1},
        },
        {
            "type": kind,
            "name": "best path",
            "mode": "lines",
            "hoverinfo": "skip",
            "x": [pos[i][0] for i in best],
            "y": [-pos[i][1] for i in best],
            "line": {"color": "#f2b705", "width": 5},
        },
    ]
    node_traces = []
    for (symbol, outline, label), nodes in groups.items():
        node_traces.append(len(data))
        data.append(
            _node_trace(
                kind, label, symbol, outline, nodes, pos, first=len(node_traces) == 1, big=kind == "scattergl"
            )
        )
    fresh = [i for i in pos if fresh_after is not None and tree.nodes[i].added_seq > fresh_after]
    data.append(
        {
            "type": kind,
            "name": "new",
            "mode": "markers",
            "hoverinfo": "skip",
            "x": [pos[i][0] for i in fresh],
            "y": [-pos[i][1] for i in fresh],
            "marker": {"size": 26, "symbol": "circle-open", "color": "#ff7f0e", "line": {"width": 3}},
        }
    )
    return {
        "run": run_id,
        "rev": tree.last_seq,
        "count": len(pos),
        "node_traces": node_traces,
        "fresh_trace": len(data) - 1,
        "fresh": fresh,
        "best": best,
        "data": data,
        "layout": _tree_layout(run_id, title),
        "colors": color_modes(tree),
    }


HOVER = (
    "#%{customdata[0]} %{customdata[4]} · %{meta}<br>N=%{customdata[1]} Q=%{customdata[2]:.3f} "
    "PPM=%{customdata[3]}<br>%{text}<extra></extra>"
)


def _node_trace(
    kind: str,
    label: str,
    symbol: str,
    outline: str,
    nodes: list[Node],
    pos: dict[int, tuple[float, int]],
    *,
    first: bool,
    big: bool,
) -> dict[str, Any]:
    lines, width = (BIG_HOVER_LINES, BIG_HOVER_WIDTH) if big else (HOVER_LINES, HOVER_WIDTH)
    return {
        "type": kind,
        "name": f"nodes: {label}",
        "meta": label,
        "mode": "markers",
        "x": [round(pos[n.id][0], 3) for n in nodes],
        "y": [-pos[n.id][1] for n in nodes],
        "customdata": [[n.id, n.n, round(n.q, 4), _round(n.ppm), n.kind] for n in nodes],
        "text": [hover_text(n, lines, width) for n in nodes],
        "hovertemplate": HOVER,
        "opacity": 0.35 if label == PRUNED_STYLE[2] else 1.0,
        "marker": {
            "size": [marker_size(n.n) for n in nodes],
            "symbol": symbol,
            "line": {"color": outline, "width": 1 if outline == NONE else 2.5},
            "colorbar": {"thickness": 12, "len": 0.8, "title": {"text": "Q"}},
            "showscale": first,  # one colour bar; every node trace shares cmin/cmax/scale
        },
    }


# Colour modes: the page computes each node's value from its customdata row
# [id, N, Q, PPM, kind] (or its row, for depth), so switching needs no server round trip
# and the values are not sent twice.
COLOR_MODES: dict[str, dict[str, Any]] = {
    "q": {"scale": DIVERGING, "cmin": -1, "cmax": 1, "title": "Q"},
    "ppm": {"scale": DIVERGING, "cmin": -1, "cmax": 1, "title": "PPM"},
    "visits": {"scale": SEQUENTIAL, "cmin": 0, "title": "N"},
    "depth": {"scale": SEQUENTIAL, "cmin": 0, "title": "depth"},
}


def color_modes(tree: Tree) -> dict[str, dict[str, Any]]:
    """Scales and bounds of each colour mode (maxima of visits and depth from the tree)."""
    modes = {k: dict(v) for k, v in COLOR_MODES.items()}
    modes["visits"]["cmax"] = max((n.n for n in tree.nodes.values()), default=1) or 1
    modes["depth"]["cmax"] = max((n.depth for n in tree.nodes.values()), default=1) or 1
    return modes


def color_values(fig: dict[str, Any], mode: str) -> list[list[float]]:
    """What the page computes for ``mode``, per node trace (used by tests and docs)."""
    out = []
    for i in fig["node_traces"]:
        t = fig["data"][i]
        if mode == "depth":
            out.append([-y for y in t["y"]])
            continue
        col = {"q": 2, "ppm": 3, "visits": 1}[mode]
        out.append([row[col] if row[col] is not None else 0.0 for row in t["customdata"]])
    return out


def _tree_layout(run_id: str, title: str) -> dict[str, Any]:
    axis = {"visible": False, "zeroline": False, "showgrid": False}
    return {
        # same uirevision = Plotly keeps the user's zoom and pan across updates of one run
        "uirevision": run_id or "empty",
        "title": {"text": title, "font": {"size": 13}, "x": 0.01} if title else None,
        "margin": {"l": 10, "r": 10, "t": 30 if title else 10, "b": 10},
        "xaxis": axis,
        "yaxis": axis,
        "showlegend": False,
        "hovermode": "closest",
        "dragmode": "pan",
        "height": 560,
        "plot_bgcolor": "rgba(0,0,0,0)",
        "paper_bgcolor": "rgba(0,0,0,0)",
    }


def convergence_figure(tree: Tree, max_children: int = 8) -> dict[str, Any]:
    """Root children's N and Q, and answer votes, over iterations (two stacked panels)."""
    its = tree.iterations
    x = [r.iteration for r in its]
    data: list[dict[str, Any]] = []
    kids: list[int] = []
    for r in its:
        for cid, _, _ in r.root_children:
            if cid not in kids:
                kids.append(cid)
    final = {cid: n for cid, n, _ in (its[-1].root_children if its else [])}
    kids = sorted(kids, key=lambda c: -final.get(c, 0))[:max_children]
    for cid in kids:
        rows = [next(((n, q) for c, n, q in r.root_children if c == cid), (None, None)) for r in its]
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": f"#{cid} N",
                "x": x,
                "y": [n for n, _ in rows],
                "xaxis": "x",
                "yaxis": "y",
                "legendgroup": str(cid),
            }
        )
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": f"#{cid} Q",
                "x": x,
                "y": [q for _, q in rows],
                "xaxis": "x",
                "yaxis": "y2",
                "line": {"dash": "dot"},
                "legendgroup": str(cid),
                "showlegend": False,
            }
        )
    answers: list[str] = []
    for r in its:
        for a in r.votes:
            if a not in answers:
                answers.append(a)
    for a in answers[:max_children]:
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": f"answer {a}",
                "x": x,
                "y": [r.votes.get(a, 0) for r in its],
                "xaxis": "x",
                "yaxis": "y3",
                "line": {"width": 3},
            }
        )
    return {
        "run": tree.started.run_id if tree.started else "",
        "rev": tree.last_seq,
        "data": data,
        "layout": {
            "uirevision": "conv",
            "height": 420,
            "margin": {"l": 50, "r": 10, "t": 10, "b": 35},
            "legend": {"orientation": "h", "y": -0.12, "font": {"size": 10}},
            "xaxis": {"title": {"text": "iteration"}, "anchor": "y3"},
            "yaxis": {"title": {"text": "root child N"}, "domain": [0.7, 1.0]},
            "yaxis2": {"title": {"text": "Q"}, "domain": [0.38, 0.64], "range": [-1.05, 1.05]},
            "yaxis3": {"title": {"text": "votes"}, "domain": [0.0, 0.32]},
            "plot_bgcolor": "rgba(0,0,0,0)",
            "paper_bgcolor": "rgba(0,0,0,0)",
        },
    }
