"""The cost view: where a run's tokens and time went, per node and in all.

Every node carries what it cost (``backend/tree.py``): the tokens the model wrote for it and
the generation time (``node_added``), and the time its check took (``node_verified.ms``). A
check that ran the step's Python in the sandbox (method ``python``) is *execution*; every
other check (answer grading, format, z3, sympy...) is *verification*. This module turns
those into colour values for a tree drawn by cost (``cost_figure``, the History screen's
cost panel; ``cost_row``, the live tree's cost columns, so the Solve screen's **Colour by**
offers the same modes without a server round trip) and into a per-run breakdown
(``breakdown``, ``breakdown_markdown``). The one-file HTML replay has the same colour modes
(``assets/html_replay/replay.js``).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from backend.tree import Node, Tree
from ui.escape import esc, md_esc
from ui.words import count

#: checks that ran the step's code (the rest verify)
EXECUTION_METHODS = frozenset({"python"})

#: mode -> (title, unit)
COST_MODES: dict[str, tuple[str, str]] = {
    "tokens": ("tokens generated", "tokens"),
    "gen_ms": ("generation time", "ms"),
    "exec_ms": ("execution time", "ms"),
    "verify_ms": ("verification time", "ms"),
}
#: Plotly's YlOrRd: cheap is pale, costly is dark red
COST_SCALE = [[0.0, "#ffffcc"], [0.25, "#fed976"], [0.5, "#fd8d3c"], [0.75, "#e31a1c"], [1.0, "#800026"]]


def node_cost(node: Node, mode: str) -> float:
    """What ``node`` cost in ``mode`` (``COST_MODES``)."""
    if mode == "tokens":
        return float(node.tokens)
    if mode == "gen_ms":
        return float(node.gen_ms)
    executed = node.method in EXECUTION_METHODS
    if mode == "exec_ms":
        return float(node.verify_ms) if executed else 0.0
    if mode == "verify_ms":
        return 0.0 if executed else float(node.verify_ms)
    raise ValueError(f"unknown cost mode {mode!r} (known: {', '.join(COST_MODES)})")


def cost_row(node: Node) -> tuple[float, ...]:
    """What ``node`` cost in every mode, in ``COST_MODES`` order, rounded as the page gets it
    (ui/figure.py: the node table's cost columns)."""
    executed = node.method in EXECUTION_METHODS
    ms = round(float(node.verify_ms), 1)
    return (node.tokens, round(float(node.gen_ms), 1), ms if executed else 0.0, 0.0 if executed else ms)


def cost_values(tree: Tree, ids: list[int], mode: str) -> list[float]:
    return [node_cost(tree.nodes[i], mode) for i in ids]


def breakdown(tree: Tree) -> dict[str, Any]:
    """Where the run's tokens and time went: totals, the share of the wall time, the tokens
    by node kind and by depth, and the costliest nodes."""
    nodes = list(tree.nodes.values())
    totals = {mode: round(sum(node_cost(n, mode) for n in nodes), 3) for mode in COST_MODES}
    stats = (tree.finished.stats or {}) if tree.finished else {}
    wall_s = float(stats.get("wall_s", 0.0)) or float(tree.last_t)
    # the run's own totals include what no node carries: samples dropped as duplicates, steps
    # that failed to parse, calls cut by a stop (a finished run only; else the nodes' sums)
    run = {
        "tokens": max(float(stats.get("tokens", 0.0)), totals["tokens"]),
        "gen_ms": max(float(stats.get("gen_s", 0.0)) * 1000, totals["gen_ms"]),
        "exec_ms": max(float(stats.get("exec_s", 0.0)) * 1000, totals["exec_ms"]),
        "verify_ms": max(float(stats.get("verify_s", 0.0)) * 1000, totals["verify_ms"]),
    }
    spent_s = (run["gen_ms"] + run["exec_ms"] + run["verify_ms"]) / 1000
    kinds: Counter[str] = Counter()
    depths: Counter[int] = Counter()
    for n in nodes:
        kinds[n.kind] += n.tokens
        depths[n.depth] += n.tokens
    costliest = sorted(nodes, key=lambda n: (-(n.gen_ms + n.verify_ms), n.id))[:5]
    return {
        **totals,
        "nodes": len(nodes),
        #: the run's totals (what the nodes carry plus what they do not)
        "run": {k: round(v, 3) for k, v in run.items()},
        "wall_s": round(wall_s, 3),
        #: time not spent generating, executing or verifying nodes (selection, scoring, waiting)
        "other_s": round(max(wall_s - spent_s, 0.0), 3),
        "tokens_by_kind": dict(kinds.most_common()),
        "tokens_by_depth": {d: depths[d] for d in sorted(depths)},
        "costliest": [(n.id, round((n.gen_ms + n.verify_ms) / 1000, 3)) for n in costliest],
    }


def _share(part_s: float, wall_s: float) -> str:
    return f" ({100 * part_s / wall_s:.0f}% of the wall time)" if wall_s > 0 else ""


def breakdown_markdown(tree: Tree) -> str:
    """The breakdown in words, for the History screen (every value escaped)."""
    if not tree.nodes:
        return "No nodes yet: nothing spent."
    b = breakdown(tree)
    wall, run = b["wall_s"], b["run"]
    head = f"**Where it went:** {count(run['tokens'], 'token')}"
    unkept = run["tokens"] - b["tokens"]
    if unkept > 0:
        head += (f" ({b['tokens']:.0f} on the {count(b['nodes'], 'node')}, {unkept:.0f} on text no node "
                 "kept: duplicate samples, steps that did not parse, calls cut by a stop)")
    else:
        head += f" over {count(b['nodes'], 'node')}"

    def part(name: str, key: str) -> str:
        line = f"- {name} {run[key] / 1000:.2f} s{_share(run[key] / 1000, wall)}"
        if run[key] - b[key] > 0.5:  # some of it went to text no node kept
            line += f", {b[key] / 1000:.2f} s of it on the nodes"
        return line

    lines = [
        head + f" · wall {wall:.2f} s",
        part("generation", "gen_ms"),
        part("execution (sandboxed code)", "exec_ms"),
        part("verification (answers, formats, provers)", "verify_ms"),
        f"- everything else (selection, scoring, waits) {b['other_s']:.2f} s{_share(b['other_s'], wall)}",
        "- tokens by kind: " + ", ".join(f"{md_esc(k)} {v}" for k, v in b["tokens_by_kind"].items()),
        "- tokens by depth: " + ", ".join(f"{d}: {v}" for d, v in b["tokens_by_depth"].items()),
        "- costliest nodes: " + ", ".join(f"#{i} {s:.2f} s" for i, s in b["costliest"]),
    ]
    return "\n".join(lines)


def cost_figure(tree: Tree, mode: str, grade: Any = None) -> dict[str, Any]:
    """The tree at the page's positions and symbols (``ui/figure.py``), coloured by ``mode``."""
    from ui.figure import STYLES, node_table, tree_figure

    title, unit = COST_MODES[mode]
    if not tree.nodes:
        return {
            "data": [],
            "layout": {"height": 200, "annotations": [{"text": "No tree yet.", "showarrow": False}]},
        }
    table = node_table(tree_figure(tree, grade=grade))
    ids = list(table)
    values = cost_values(tree, ids, mode)
    ex: list[float | None] = []
    ey: list[float | None] = []
    for nid in ids:
        parent = table[nid]["parent"]
        if parent is not None:
            ex += [table[parent]["x"], table[nid]["x"], None]
            ey += [-table[parent]["depth"], -table[nid]["depth"], None]
    rows = [table[i] for i in ids]
    edges = {"type": "scatter", "mode": "lines", "x": ex, "y": ey, "hoverinfo": "skip", "name": "edges"}
    edges["line"] = {"color": "#b0b0b0", "width": 1}
    nodes = {
        "type": "scattergl" if len(ids) >= 1500 else "scatter",
        "mode": "markers",
        "name": "nodes",
        "x": [r["x"] for r in rows],
        "y": [-r["depth"] for r in rows],
        "customdata": [[r["id"], v] for r, v in zip(rows, values, strict=True)],
        "hovertemplate": "#%{customdata[0]}: %{customdata[1]:.1f} " + esc(unit) + "<extra></extra>",
        "marker": {
            "size": [r["size"] for r in rows],
            "symbol": [STYLES[r["style"]][0] for r in rows],
            "color": values,
            "colorscale": COST_SCALE,
            "cmin": 0,
            "cmax": max(max(values), 1e-9),
            "line": {"color": "#444444", "width": 1},
            "colorbar": {"title": {"text": esc(f"{title} ({unit})")}, "thickness": 12},
        },
    }
    axis = {"visible": False, "zeroline": False, "showgrid": False}
    layout = {"height": 420, "margin": {"l": 10, "r": 10, "t": 10, "b": 10}, "showlegend": False}
    layout.update(xaxis=axis, yaxis=axis, hovermode="closest", dragmode="pan")
    return {"data": [edges, nodes], "layout": layout}
