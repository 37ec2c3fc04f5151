"""The figures as plain dicts: the search tree (a node table, sent whole or as a delta)
and the convergence panel.

The tree is not sent as Plotly traces but as a table of nodes, one column per field
(``COLUMNS``); ``ui/static/tree.js`` keeps that table, turns it into Plotly traces and
draws them. Everything a test may want to check about a node is decided here:

- position: tidy layout (``ui/layout.py``), root on top, one row per depth;
- colour: Q by default (diverging, white at 0); the page can switch to PPM, visits or
  depth without asking the server (``colors`` carries every mode's scale and bounds);
- size: visits N (square root, capped);
- symbol and outline: verification status (``STYLES``, one row per style; a node
  carries its row number); pruned nodes are faded;
- hover: id, N, Q, PPM, status and the first lines of the step;
- the best path (gold line) and the nodes added since the previous update (``fresh``,
  a ring that the page fades out);
- ``flags``: the steps whose PPM score and Q disagree most (``backend/ppm_diagnostics.py:
  disagreements``; a dotted ring), and ``has_ppm``: whether any node has a PPM score, which
  makes PPM the page's default colour mode (a node without one is drawn grey there).

Live updates are incremental (issue 6): ``FigureStream`` remembers what one page has
been sent and answers the next state of the tree with a *delta* keyed by revision
(``base`` = the revision the page must hold): new nodes whole, then only the changed
fields of known nodes, and the new x of the nodes the tidy layout moved (adding a node
can shift whole subtrees sideways; the layout itself is updated incrementally, see
``ui/layout.py``). A page whose revision is not ``base`` asks for the
whole figure again (``tree.js``: resync); a new run, a switch between SVG and WebGL
drawing, or a delta that would touch most nodes is sent whole.

Trees of ``WEBGL_FROM`` nodes or more are drawn with WebGL (``scattergl``), with short
hover texts (half of a big figure's bytes otherwise). Measured in chromium
(bench/ui_latency.py): per-point colours cost Plotly most of a 10k-node redraw, so in
WebGL the page groups nodes by colour band (``COLOR_BANDS``) and draws each group with
one colour; the colour legend (HTML, not a Plotly colour bar, which cost a redraw of its
own on every update) shows the bands.
"""

from __future__ import annotations

import itertools
import math
import operator
from typing import Any

from backend import events as ev
from backend.ppm_diagnostics import disagreements
from backend.tree import Node, Tree
from ui import vocabulary as voc
from ui.convergence import (  # noqa: F401  (the convergence panel: its names stay importable from here)
    CONVERGENCE_POINTS,
    LINE_COLOURS,
    NO_CONVERGENCE,
    convergence_figure,
    empty_convergence,
    sampled,
)
from ui.cost import COST_MODES, COST_SCALE, cost_row
from ui.escape import esc
from ui.layout import TidyLayout

WEBGL_FROM = 1500
HOVER_LINES = 3
HOVER_WIDTH = 72
# hover text is half of a big figure's bytes: past WEBGL_FROM nodes, one short line each
# (the inspector shows everything on click)
BIG_HOVER_LINES, BIG_HOVER_WIDTH = 1, 48
#: colour bands of WebGL drawing (bench/ui_latency.py: Plotly's per-point colour
#: conversion was ~2/3 of a 10k-node redraw); SVG drawing keeps exact colours
COLOR_BANDS = 11

# status -> (marker symbol, outline colour, legend label): rStar-Math's words; other algorithms
# name and draw their nodes with their own (``ui/vocabulary.py``)
GOOD, BAD, PLAIN, NONE = voc.GOOD, voc.BAD, voc.PLAIN, voc.NONE
#: the fill of a node without a PPM score in PPM colouring (tree.js: UNSCORED): off the
#: diverging scale, so "not scored" never reads as a score of 0
UNSCORED = "#bdbdbd"
STATUS_STYLE: dict[str, tuple[str, str, str]] = voc.RSTAR_STYLES  # type: ignore[assignment]
PRUNED_STYLE = voc.PRUNED
#: every style of every algorithm once; a node's ``style`` column is its index here
STYLES: list[tuple[str, str, str]] = voc.all_styles()
_STYLE_INDEX = {s: i for i, s in enumerate(STYLES)}
_SIZES: dict[bool, dict[int, float]] = {False: {}, True: {}}  # marker_size by N, memoised

DIVERGING = [[0.0, "#b2182b"], [0.25, "#ef8a62"], [0.5, "#f7f7f7"], [0.75, "#67a9cf"], [1.0, "#2166ac"]]
# Plotly's Viridis, spelt out: the page interpolates colour bands itself
_VIRIDIS = ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58",
            "#b5de2b", "#fde725"]  # fmt: skip
SEQUENTIAL = [[round(i / (len(_VIRIDIS) - 1), 4), c] for i, c in enumerate(_VIRIDIS)]

#: what a node cost, one column per cost colour mode (``ui/cost.py``: tokens, generation,
#: execution and verification ms)
COST_COLUMNS = tuple(COST_MODES)
#: the node table's columns, in the order of ``FigureStream`` rows
COLUMNS = ("id", "parent", "x", "depth", "n", "q", "ppm", "kind", "style", "size", "text", *COST_COLUMNS)
#: what a known node may change (a delta's ``upd``), besides x (``mv`` / ``xs``): a node's
#: execution or verification time comes with its check, after it was added
CHANGING = ("n", "q", "ppm", "style", "size", *COST_COLUMNS)

HOVER = (
    "#%{customdata[0]} %{customdata[4]} · %{meta}<br>N=%{customdata[1]} Q=%{customdata[2]:.3f} "
    "PPM=%{customdata[3]}<br>%{text}<extra></extra>"
)


#: LIPS goals have no visits, values or PPM scores: the hover names the goal and how it was made
LIPS_HOVER = "#%{customdata[0]} %{customdata[4]} · %{meta}<br>%{text}<extra></extra>"


#: grades a stated answer; the drawn status and style of a node (``backend/vocabulary.py``)
Grade, drawn_status, node_style = voc.Grade, voc.drawn_status, voc.node_style


def marker_size(n: int, big: bool = False) -> float:
    """Marker diameter in pixels from visits N; smaller in big (WebGL) trees, where the
    pixels to fill are most of a frame's cost without a GPU and markers overlap anyway."""
    if big:
        return round(min(6 + 2.5 * math.sqrt(max(n, 0)), 20), 2)
    return round(min(9 + 4 * math.sqrt(max(n, 0)), 30), 2)


def hover_text(node: Node, lines: int = HOVER_LINES, width: int = HOVER_WIDTH) -> str:
    """The first lines of a step, escaped (Plotly hover labels understand a little HTML)."""
    first = [ln for ln in node.text.splitlines() if ln.strip()][:lines] or ["(no text)"]
    if node.code and len(first) < lines:
        first += [ln for ln in node.code.splitlines() if ln.strip()][: lines - len(first)]
    short = [ln if len(ln) <= width else ln[: width - 1] + "…" for ln in first]
    return "<br>".join(esc(s) for s in short)


def _round(v: float | None) -> float | None:
    return None if v is None else round(float(v), 4)


def _style_rows() -> list[list[Any]]:
    """[symbol, outline colour, label, opacity, outline width] per style."""
    return [
        [sym, outline, label, 0.35 if label == PRUNED_STYLE[2] else 1.0, 1 if outline == NONE else 2.5]
        for sym, outline, label in STYLES
    ]


def _columns(rows: list[list[Any]]) -> dict[str, list[Any]]:
    return {name: [r[k] for r in rows] for k, name in enumerate(COLUMNS)}


def touched_by(events: Any) -> set[int]:
    """Ids of the nodes whose drawing ``events`` may change (besides their position)."""
    out: set[int] = set()
    for e in events:
        if isinstance(e, ev.NodeAdded | ev.NodeVerified | ev.NodeScored):
            out.add(e.id)
        elif isinstance(e, ev.Backprop):
            out.update(int(row[0]) for row in e.updated)
        elif isinstance(e, ev.UserAction) and e.node is not None:
            out.add(e.node)
    return out


class FigureStream:
    """What one page has been sent of one tree view, and what to send it next.

    ``figure(tree)`` returns the whole figure (``kind: "full"``) the first time, after
    ``reset()`` (the page asked to resync), when the run changes, or when drawing switches
    between SVG and WebGL; otherwise a delta (``kind: "delta"``) from revision ``base``
    (the previous answer's ``rev``) holding:

    - ``add``: the new nodes, every column (``COLUMNS``), in the order the page stores them;
    - ``upd``: id plus every ``CHANGING`` column of known nodes whose N, Q, PPM, style, size or
      cost (a check's execution or verification time) changed;
    - ``mv``: ``{"id": [...], "x": [...]}`` for known nodes the layout moved, or ``xs``: the
      x of every known node in the page's order when more than a third of them moved;
    - ``best``, ``fresh``, ``flags``, ``has_ppm``, ``colors``, ``count`` as in a full figure.

    Applying a delta to the table of revision ``base`` gives exactly the table of the full
    figure of revision ``rev`` (tests/ui/test_figure.py folds both ways and compares).
    ``touched`` (``touched_by`` of the events since the previous figure) lets a big tree
    skip re-reading the nodes that no event changed; without it every node is re-read.
    """

    def __init__(self, title: str = "", grade: Grade | None = None) -> None:
        self.title = title
        self.grade = grade  # the run's known answer, as a grader of answer nodes (None: ungraded)
        self.vocab = voc.RSTAR  # the words and symbols of the run's algorithm (set per run)
        # the layout survives reset(): a run's tree only grows (ui/layout.py: TidyLayout)
        self._tidy, self._tidy_run = TidyLayout(), None
        self.reset()

    def reset(self) -> None:
        """Forget what was sent: the next figure is a full one."""
        self.run: str | None = None
        self.rev: int | None = None
        self.big: bool | None = None
        self.sent: dict[int, tuple[Any, ...]] = {}  # id -> _state as sent, page order
        self.sent_x: list[float] = []  # x as sent, page order (= layout slot order)
        self._texts: dict[int, str] = {}
        self._texts_big: bool | None = None
        self._ppm_seen = False  # a node with a PPM score was sent (it stays: scores are not taken back)

    def _layout(self, tree: Tree, run_id: str) -> TidyLayout:
        """The tidy layout of ``tree``, brought up to date by adding its new nodes."""
        lay, nodes = self._tidy, tree.nodes
        if (
            self._tidy_run != run_id
            or len(lay) > len(nodes)
            or (len(lay) and lay.ids[-1] not in nodes)  # another tree (a replay's prefix of another run)
        ):
            lay, self._tidy_run = TidyLayout(), run_id
            self._tidy = lay
        if len(lay) < len(nodes):
            # tree.nodes keeps insertion order and a parent comes before its children
            for node in itertools.islice(nodes.values(), len(lay), None):
                lay.add(node.id, node.parent)
        lay.update()
        return lay

    def _text(self, node: Node, big: bool) -> str:
        if big != self._texts_big:
            self._texts, self._texts_big = {}, big
        text = self._texts.get(node.id)
        if text is None:
            lines, width = (BIG_HOVER_LINES, BIG_HOVER_WIDTH) if big else (HOVER_LINES, HOVER_WIDTH)
            text = self._texts[node.id] = hover_text(node, lines, width)
        return text

    def _state(self, node: Node, size: dict[int, float], big: bool) -> tuple[Any, ...]:
        """(n, q, ppm, style, size, then the cost columns) of a node as the page gets them
        (x is kept apart: moves are the commonest change and need no new tuple)."""
        n = node.n
        s = size.get(n)
        if s is None:
            s = size[n] = marker_size(n, big)
        style = _STYLE_INDEX[self.vocab.style(node, drawn_status(node, self.grade))]
        scores = node.scores
        ppm = scores.get("ppm") if scores else None
        return (n, round(node.q, 4), None if ppm is None else round(ppm, 4), style, s, *cost_row(node))

    def figure(
        self,
        tree: Tree,
        *,
        fresh_after: int | None = None,
        touched: set[int] | None = None,
        flags: list[int] | None = None,
    ) -> dict[str, Any]:
        """The next figure for this page; ``flags`` (ids to ring as PPM/Q disagreements)
        when the caller has them already, else they are found here."""
        run_id = tree.started.run_id if tree.started else ""
        self.vocab = voc.of_tree(tree)
        if tree.root_id is None:
            self.reset()
            self.run, self.rev = run_id, tree.last_seq
            return {
                "kind": "full",
                "run": run_id,
                "rev": tree.last_seq,
                "count": 0,
                "best": [],
                "fresh": [],
                "flags": [],
                "has_ppm": False,
                "colors": _color_modes(1, 1),
                "big": False,
                "nodes": _columns([]),
                "styles": _style_rows(),
                "hover": LIPS_HOVER if self.vocab.family == "lips" else HOVER,
                "layout": _tree_layout(run_id, self.title),
                "legend": self.vocab.legend(),
            }
        lay = self._layout(tree, run_id)
        ids = lay.ids
        count = len(ids)
        big = count >= WEBGL_FROM
        nodes = tree.nodes
        size = _SIZES[big]
        follows = self.rev is not None and run_id == self.run and big == self.big
        slot = lay.slot
        best = [i for i in tree.best_path() if i in slot]
        fresh: list[int] = []
        if fresh_after is not None:  # nodes arrive in event order: the newest are last
            for nid in reversed(ids):
                if nodes[nid].added_seq <= fresh_after:
                    break
                fresh.append(nid)
            fresh.reverse()
        rx = list(map(round, lay.final, itertools.repeat(3)))  # x as the page gets it
        delta = self._delta(tree, lay, rx, touched, big) if follows else None
        if delta is None:
            make = self._state
            self.sent = {nid: make(nodes[nid], size, big) for nid in ids}
            self._ppm_seen = any(s[2] is not None for s in self.sent.values())
        self.sent_x = rx
        if flags is None:
            flags = [d.id for d in disagreements(tree)]
        common = {
            "run": run_id,
            "rev": tree.last_seq,
            "count": count,
            "best": best,
            "fresh": fresh,
            "flags": [i for i in flags if i in slot],
            "has_ppm": self._ppm_seen,
            "colors": offered(
                _color_modes(max(map(_N, self.sent.values())), max(lay.depth), self._cost_maxima()),
                self.vocab,
            ),
        }
        if delta is None:
            sent = self.sent
            out = {
                "kind": "full",
                **common,
                "big": big,
                "nodes": _columns([self._row(nodes[i], rx[k], sent[i], big) for k, i in enumerate(ids)]),
                "styles": _style_rows(),
                "hover": LIPS_HOVER if self.vocab.family == "lips" else HOVER,
                "layout": _tree_layout(run_id, self.title),
                "legend": self.vocab.legend(),
            }
        else:
            out = {"kind": "delta", "base": self.rev, **common, **delta}
        self.run, self.rev, self.big = run_id, tree.last_seq, big
        return out

    def _row(self, node: Node, x: float, s: tuple[Any, ...], big: bool) -> list[Any]:
        n, q, ppm, style, size, *costs = s
        kind = esc(self.vocab.kind_word(node))  # in the hover label, which Plotly reads as HTML
        text = self._text(node, big)
        return [node.id, node.parent, x, node.depth, n, q, ppm, kind, style, size, text, *costs]

    def _cost_maxima(self) -> list[float]:
        """The largest value of each cost column sent (the top of its colour scale)."""
        states = self.sent.values()
        return [max(map(operator.itemgetter(_COST_AT + k), states)) for k in range(len(COST_COLUMNS))]

    def _delta(
        self, tree: Tree, lay: TidyLayout, rx: list[float], touched: set[int] | None, big: bool
    ) -> dict[str, Any] | None:
        """The delta from what was sent, or None when the whole figure is due; updates
        ``sent`` in place. Its cost follows what changed: the page's nodes are the
        layout's first ``len(sent)`` slots (both in insertion order), so moved nodes are
        found by comparing two lists of floats at C speed, and only nodes touched by an
        event or new are read again."""
        sent, old_x = self.sent, self.sent_x
        ids, nodes = lay.ids, tree.nodes
        known = len(sent)
        if known > len(ids) or len(old_x) != known or (known and next(reversed(sent)) != ids[known - 1]):
            return None  # nodes vanished: not a fold of the same run
        size, make = _SIZES[big], self._state
        if touched is None:
            touched = set(ids[:known])  # re-read every known node
        upd: list[int] = []
        for nid in touched:
            old = sent.get(nid)
            if old is None:
                continue  # a new node (or one the layout does not have): sent whole below
            new = make(nodes[nid], size, big)
            if new != old:
                upd.append(nid)
                sent[nid] = new
                self._ppm_seen = self._ppm_seen or new[2] is not None
        added = ids[known:]
        if len(added) + len(upd) > max(64, len(ids) // 2):
            return None  # most of the tree changed: the whole figure is about as small
        for nid in added:
            new = sent[nid] = make(nodes[nid], size, big)
            self._ppm_seen = self._ppm_seen or new[2] is not None
        out: dict[str, Any] = {
            "add": _columns([self._row(nodes[i], rx[k], sent[i], big) for k, i in enumerate(added, known)]),
            "upd": {"id": upd, **{name: [sent[i][k] for i in upd] for k, name in enumerate(CHANGING)}},
        }
        moved = list(itertools.compress(range(known), map(operator.ne, rx, old_x)))
        if len(moved) * 3 > known:
            out["xs"] = rx[:known]
        else:
            out["mv"] = {"id": [ids[k] for k in moved], "x": [rx[k] for k in moved]}
        return out


_N = operator.itemgetter(0)  # N in a sent state tuple
_COST_AT = 5  # where the cost columns start in a sent state tuple


def tree_figure(
    tree: Tree,
    *,
    fresh_after: int | None = None,
    title: str = "",
    flags: list[int] | None = None,
    grade: Grade | None = None,
    path: list[int] | None = None,
) -> dict[str, Any]:
    """The whole tree figure (``kind: "full"``); ``fresh_after`` marks newer nodes as fresh,
    ``grade`` grades answer nodes against the run's known answer, ``path`` (a replay at a
    selection) is drawn as the selected path (tree.js: a purple line)."""
    fig = FigureStream(title, grade).figure(tree, fresh_after=fresh_after, flags=flags)
    fig["path"] = [i for i in path or [] if i in tree.nodes]
    return fig


def message_figure(message: str) -> dict[str, Any]:
    """An empty tree that says why it is empty (a run that did not start: tree.js shows
    ``empty`` where the tree would be, as text, in the error colour)."""
    fig = FigureStream().figure(Tree())
    return {**fig, "empty": message}


def node_table(fig: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """{node id: its row} of a full figure (for tests and tools)."""
    cols = fig["nodes"]
    return {nid: {name: cols[name][k] for name in COLUMNS} for k, nid in enumerate(cols["id"])}


def apply_delta(fig: dict[str, Any], delta: dict[str, Any]) -> dict[str, Any]:
    """What ``tree.js`` does with a delta, on a full figure: the next full figure's node
    table (test oracle for the page's code; raises ValueError when out of sync)."""
    if delta["kind"] == "full":
        return delta
    if delta["run"] != fig["run"] or delta["base"] != fig["rev"]:
        raise ValueError(f"out of sync: page at {fig['run']}@{fig['rev']}, delta from {delta['base']}")
    cols = {name: list(v) for name, v in fig["nodes"].items()}
    slot = {nid: k for k, nid in enumerate(cols["id"])}
    if "xs" in delta:
        if len(delta["xs"]) != len(cols["x"]):
            raise ValueError("xs does not cover every node")
        cols["x"] = list(delta["xs"])
    else:
        for nid, x in zip(delta["mv"]["id"], delta["mv"]["x"], strict=True):
            cols["x"][slot[nid]] = x
    upd = delta["upd"]
    for k, nid in enumerate(upd["id"]):
        for name in CHANGING:
            cols[name][slot[nid]] = upd[name][k]
    for name in COLUMNS:
        cols[name] += delta["add"][name]
    kept = ("rev", "count", "best", "fresh", "flags", "has_ppm", "colors")
    out = {**fig, **{k: delta[k] for k in kept}, "nodes": cols}
    if len(cols["id"]) != out["count"]:
        raise ValueError(f"{len(cols['id'])} nodes after the delta, the server has {out['count']}")
    return out


# Colour modes: the page takes each node's value from its column (q, ppm, n, depth or a
# cost column), so switching needs no server round trip.
COLOR_MODES: dict[str, dict[str, Any]] = {
    "q": {"scale": DIVERGING, "cmin": -1, "cmax": 1, "title": "Q"},
    "ppm": {"scale": DIVERGING, "cmin": -1, "cmax": 1, "title": "PPM"},
    "visits": {"scale": SEQUENTIAL, "cmin": 0, "title": "N"},
    "depth": {"scale": SEQUENTIAL, "cmin": 0, "title": "depth"},
}
COLOR_MODES.update(
    {mode: {"scale": COST_SCALE, "cmin": 0, "title": title if unit == "tokens" else f"{title} ({unit})"}
     for mode, (title, unit) in COST_MODES.items()}
)
_MODE_COLUMN = {"q": "q", "ppm": "ppm", "visits": "n", "depth": "depth", **{c: c for c in COST_COLUMNS}}


def color_modes(tree: Tree) -> dict[str, dict[str, Any]]:
    """Scales and bounds of each colour mode (maxima of visits and depth from the tree)."""
    costs = [cost_row(n) for n in tree.nodes.values()]
    return _color_modes(
        max((n.n for n in tree.nodes.values()), default=1),
        max((n.depth for n in tree.nodes.values()), default=1),
        [max(col, default=0) for col in zip(*costs, strict=True)] if costs else None,
    )


def _color_modes(
    most_n: int, most_depth: int, most_cost: list[float] | None = None
) -> dict[str, dict[str, Any]]:
    modes = {k: dict(v) for k, v in COLOR_MODES.items()}
    modes["visits"]["cmax"] = most_n or 1
    modes["depth"]["cmax"] = most_depth or 1
    for k, mode in enumerate(COST_COLUMNS):  # an all-zero column still gets a scale
        modes[mode]["cmax"] = (most_cost[k] if most_cost else 0) or 1
    return modes


def meaningful_modes(vocab: voc.Vocabulary) -> list[str]:
    """The colour modes that mean something for a run of ``vocab``'s algorithm: LIPS goals have
    no visits, Q or PPM (they are ranked in a queue: those columns are 0 or empty), and only
    algorithms that run code have execution times."""
    modes = list(COLOR_MODES)
    if vocab.family == "lips":
        modes = [m for m in modes if m not in ("q", "ppm", "visits")]
    if not vocab.runs_code:
        modes.remove("exec_ms")
    return modes


def offered(modes: dict[str, dict[str, Any]], vocab: voc.Vocabulary) -> dict[str, dict[str, Any]]:
    """``modes`` cut to those the page offers for ``vocab``'s runs (tree.js hides the rest of
    **Colour by** and falls back to the first one offered when the picked one is not)."""
    return {k: v for k, v in modes.items() if k in meaningful_modes(vocab)}


def color_values(fig: dict[str, Any], mode: str) -> list[float | None]:
    """What the page colours each node by in ``mode``, in node-table order; None: no PPM
    score, drawn in ``UNSCORED`` grey (tree.js), not as the scale's middle."""
    return list(fig["nodes"][_MODE_COLUMN[mode]])


def default_color_mode(fig: dict[str, Any]) -> str:
    """The page's colour mode until the user picks one (tree.js: ``modeOf``): PPM when a node has
    a PPM score, else Q, else (LIPS) the first mode offered."""
    colors = fig.get("colors") or COLOR_MODES
    if fig.get("has_ppm") and "ppm" in colors:
        return "ppm"
    return "q" if "q" in colors else next(iter(colors))


def _tree_layout(run_id: str, title: str) -> dict[str, Any]:
    axis = {"visible": False, "zeroline": False, "showgrid": False}
    return {
        # same uirevision = Plotly keeps the user's zoom and pan across updates of one run
        "uirevision": run_id or "empty",
        "title": {"text": esc(title), "font": {"size": 13}, "x": 0.01} if title else None,
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

