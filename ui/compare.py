"""The Compare screen: one problem, two to four algorithms started together on one token
budget (same engine, same seed), their trees side by side and a table of outcome, tokens,
time and nodes; and the tree diff of two History runs of the same problem.

Each run is started like the Solve screen's (``ui.handlers.start_run``: a RunSpec built by
``backend/runspec.py: build_search``); the budget is put on each algorithm as
``canopy compare`` does (``backend/compare.py: budget_overrides``). A timer redraws the
trees and the table while a run goes on. The diff is ``backend/tree_diff.py`` drawn with the
page's tidy layout: shared steps grey, only in A blue, only in B orange.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import gradio as gr

from backend.tree import Tree
from ui import handlers as h
from ui.escape import esc, md_code, md_esc
from ui.services import Services
from ui.views import encode, plot_view, tree_view
from ui.words import count

MOST = 4
#: colours of the diff: shared, only in A, only in B
SIDE_COLOURS = {"both": "#bdbdbd", "a": "#1f77b4", "b": "#ff7f0e"}
TABLE_HEADERS = ["method", "status", "answer", "correct", "tokens", "wall s", "nodes", "iterations", "run id"]


def method_controls(method: Any, problem: str, tokens: int) -> tuple[list[h.Control], list[Any], str | None]:
    """(controls, values, PPM choice) that start ``method`` (``backend/compare.py: Method``) on
    ``tokens``, the way ``start_run`` takes them: the budget fitted to the method's settings as
    ``canopy compare`` does; a ``ppm=...`` setting is the run's PPM choice, not a config field."""
    from backend.compare import method_spec
    from backend.runspec import RunSpec

    spec, _ = method_spec(RunSpec(problem=problem), method, ("tokens", tokens))
    config = dict(spec.config)
    ppm = spec.ppm if "ppm" in method.overrides else None
    return [h.Control(method.algorithm, k, "str", None) for k in config], list(config.values()), ppm


def run_row(tree: Tree, label: str, run_id: str) -> list[Any]:
    fin, stats = tree.finished, tree.stats()
    wall = (fin.stats or {}).get("wall_s", tree.last_t) if fin else tree.last_t
    correct = "" if fin is None or fin.correct is None else ("yes" if fin.correct else "no")
    return [
        label,
        ("answered" if fin.status == "solved" and fin.correct is False else fin.status) if fin else "running",
        (fin.answer if fin else None) or "-",
        correct,
        stats["tokens"],
        round(float(wall), 2),
        stats["nodes"],
        stats["iterations"],
        run_id,
    ]


def slot_updates(count: int) -> list[Any]:
    """The tree slots' columns, then their rows, shown for ``count`` methods (at least two):
    two methods compared show two trees, not two and two empty frames."""
    shown = max(2, min(count, MOST))
    columns = [gr.Column(visible=k < shown) for k in range(MOST)]
    return [*columns, *(gr.Row(visible=2 * r < shown) for r in range(MOST // 2))]


def diff_figure(g: Any) -> dict[str, Any]:
    """The merged tree at tidy-layout positions (``ui/layout.py``), one trace per side."""
    from ui.layout import tidy_layout

    pos = tidy_layout(0, {m: list(g.successors(m)) for m in g.nodes})
    ex: list[Any] = []
    ey: list[Any] = []
    for u, v in g.edges:
        ex += [pos[u][0], pos[v][0], None]
        ey += [-pos[u][1], -pos[v][1], None]
    data: list[dict[str, Any]] = [
        {"type": "scatter", "mode": "lines", "name": "edges", "x": ex, "y": ey, "hoverinfo": "skip"}
    ]
    data[0]["line"] = {"color": "#b0b0b0", "width": 1}
    names = {"both": "in both runs", "a": "only in A", "b": "only in B"}
    for side, colour in SIDE_COLOURS.items():
        ms = [m for m, d in g.nodes(data=True) if d["side"] == side]
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": names[side],
                "x": [pos[m][0] for m in ms],
                "y": [-pos[m][1] for m in ms],
                "customdata": [[m, g.nodes[m]["a"], g.nodes[m]["b"]] for m in ms],
                "text": [esc(" ".join(g.nodes[m]["text"].split())[:80]) for m in ms],
                "hovertemplate": "A %{customdata[1]} · B %{customdata[2]}<br>%{text}<extra></extra>",
                "marker": {"color": colour, "size": 12, "line": {"color": "#444444", "width": 1}},
            }
        )
    axis = {"visible": False, "zeroline": False, "showgrid": False}
    layout = {"height": 460, "margin": {"l": 10, "r": 10, "t": 10, "b": 10}, "xaxis": axis, "yaxis": axis}
    layout.update(legend={"orientation": "h"}, hovermode="closest", dragmode="pan")
    return {"data": data, "layout": layout}


def linked_clusters(views: list[tuple[str, str, Tree]]) -> dict[str, list[dict[str, Any]]]:
    """{answer: a ``canopy-highlight`` detail per tree view that states it}: each run's answer
    clusters (``backend/answer_clusters.py``) joined across runs when their answers are equal
    (math-verify), so one choice rings the same answer in every tree."""
    from backend.answer_clusters import answer_clusters
    from backend.verify.answers import answers_equal

    groups: dict[str, list[dict[str, Any]]] = {}
    for target, run_id, tree in views:
        for c in answer_clusters(tree):
            key = next((k for k in groups if answers_equal(k, c.answer)), c.answer)
            detail = {
                "target": target,
                "run": run_id,
                "ids": list(c.leaves),
                "nodes": list(c.nodes),
                "label": key,
            }
            groups.setdefault(key, []).append(detail)
    return groups


def convergence_overlay(runs: list[tuple[str, list[Any]]]) -> dict[str, Any]:
    """One line per run: the leading answer's share of the votes after each iteration,
    against the tokens spent by then (the runs' own convergence on one budget axis)."""
    data = []
    for label, iterations in runs:
        xs, ys, texts = [], [], []
        for r in iterations:
            total = sum(r.votes.values())
            if not total:
                continue
            lead = max(r.votes, key=r.votes.get)
            xs.append(r.tokens)
            ys.append(round(r.votes[lead] / total, 4))
            texts.append(esc(lead))
        data.append(
            {"type": "scatter", "mode": "lines+markers", "name": esc(label), "x": xs, "y": ys, "text": texts}
        )
        data[-1]["hovertemplate"] = "%{y:.0%} for %{text} at %{x} tokens<extra>" + esc(label) + "</extra>"
    layout = {"height": 300, "margin": {"l": 50, "r": 10, "t": 10, "b": 40}, "legend": {"orientation": "h"}}
    layout["xaxis"] = {"title": {"text": "tokens spent"}, "rangemode": "tozero"}
    layout["yaxis"] = {"title": {"text": "leading answer's vote share"}, "range": [0, 1.05]}
    return {"data": data, "layout": layout}


#: sends each tree view its highlight (tree.js listens for 'canopy-highlight')
HIGHLIGHT_JS = """(value) => {
  for (const d of JSON.parse(value || '[]')) {
    window.dispatchEvent(new CustomEvent('canopy-highlight', {detail: d}));
  }
}"""


class CompareHandlers:
    def __init__(self, services: Services) -> None:
        self.s = services

    def start(
        self, problem: str, reference: str, algos: list[str], budget: float, seed: float, methods: str = ""
    ) -> tuple:
        """(run ids, status, timer): every method started on the same budget and seed. ``methods``
        (``ALGO`` or ``ALGO:KEY=VALUE``, comma-separated, as ``canopy compare --algos``; ``ppm=none``
        picks the PPM) replaces the ticked algorithms when given."""
        from backend.compare import Method, parse_methods

        try:
            chosen = (
                parse_methods(methods) if (methods or "").strip() else [Method(a, a) for a in algos or []]
            )
        except ValueError as exc:
            return gr.skip(), f"⚠ {md_esc(exc)}", gr.Timer(active=False)
        chosen = list({m.label: m for m in chosen}.values())
        if not 2 <= len(chosen) <= MOST:
            return gr.skip(), f"⚠ Pick two to {MOST} algorithms.", gr.Timer(active=False)
        tokens = int(budget or 0)
        if tokens < 1:
            return gr.skip(), "⚠ The token budget must be at least 1.", gr.Timer(active=False)
        started: list[list[str]] = []
        try:
            plans = [(m, *method_controls(m, problem or "", tokens)) for m in chosen]  # all checked first
            for m, controls, values, ppm in plans:
                run_id = h.start_run(
                    self.s, controls, problem, m.algorithm, "auto", reference, seed, values, ppm=ppm
                )
                started.append([m.label, run_id])
        except (h.UserFacingError, ValueError) as exc:
            for _, run_id in started:  # all or none: a comparison of a subset is not the one asked for
                h.control_run(self.s, run_id, "stop")
            return gr.skip(), f"⚠ {md_esc(exc)}", gr.Timer(active=False)
        ids = " · ".join(f"{md_esc(a)} {md_code(r)}" for a, r in started)
        return started, f"Started on {tokens} tokens, seed {int(seed or 0)}: {ids}", gr.Timer(active=True)

    def _clusters(self, runs: list[list[str]]) -> dict[str, list[dict[str, Any]]]:
        views = [
            (f"cmp-tree-{k}", r, Tree.from_events(self.s.runs.events(r))) for k, (_, r) in enumerate(runs)
        ]
        return linked_clusters(views)

    def highlight(self, runs: list[list[str]] | None, answer: str | None) -> str:
        """The ``canopy-highlight`` details that ring ``answer`` in every tree (and clear the rest)."""
        runs = runs or []
        chosen = self._clusters(runs).get(answer or "", []) if answer else []
        lit = {d["target"] for d in chosen}
        targets = [(f"cmp-tree-{k}", r) for k, (_, r) in enumerate(runs)]
        return json.dumps(chosen + [{"target": t, "run": r, "ids": []} for t, r in targets if t not in lit])

    def refresh(self, runs: list[list[str]] | None) -> list[Any]:
        """Every tree (tree views beyond the runs empty), the slots shown (``slot_updates``), the
        table, the convergence overlay, the answers to highlight, the timer (off when all ended)
        and the status (said again when all ended, so "Started on ..." does not stay after the runs)."""
        runs = runs or []
        trees, rows, live, folded = [], [], False, []
        for label, run_id in runs:
            grade = h.run_grader(self.s, run_id)

            def draw(tree: Tree, label: str = label, run_id: str = run_id, grade: Any = grade) -> tuple:
                from ui.figure import tree_figure

                fig = tree_figure(tree, title=label, grade=grade)
                return fig, run_row(tree, label, run_id), list(tree.iterations)

            fig, row, iterations = self.s.trees.view(run_id, draw)
            trees.append(encode(fig))
            rows.append(row)
            live = live or row[1] == "running"
            folded.append((label, iterations))
        trees += [None] * (MOST - len(trees))
        trees += slot_updates(len(runs))
        overlay = encode(convergence_overlay(folded))
        answers = [] if live else list(self._clusters(runs))
        status = gr.skip() if live or not runs else (
            f"All {len(runs)} runs ended: " + " · ".join(f"{md_esc(r[0])} {md_esc(r[1])}" for r in rows)
            + " (the table has their answers, tokens and times)."
        )
        return [*trees, rows, overlay, gr.Dropdown(choices=answers), gr.Timer(active=live), status]

    def diff(self, run_a: str, run_b: str) -> tuple[str, Any]:
        """(summary, figure) of the tree diff of two stored runs."""
        from backend.tree_diff import sides, tree_diff

        run_a, run_b = (run_a or "").strip(), (run_b or "").strip()
        if not run_a or not run_b:
            return "Give two run ids (from History).", gr.skip()
        from backend.events import valid_run_id

        try:
            for r in (run_a, run_b):
                if not valid_run_id(r) or h.run_length(self.s, r) == 0:
                    raise ValueError(f"no run {r[:40]!r} in the history")
            g = tree_diff(*(Tree.from_events(self.s.runs.events(r)) for r in (run_a, run_b)))
        except ValueError as exc:
            return f"⚠ {md_esc(exc)}", gr.skip()
        n = sides(g)
        text = (
            f"A {md_code(run_a)} vs B {md_code(run_b)}: {count(n['both'], 'step')} in both, "
            f"{n['a']} only in A (blue), {n['b']} only in B (orange)."
        )
        return text, encode(diff_figure(g))


@dataclass
class CompareScreen:
    handlers: CompareHandlers


def build_compare(services: Services) -> CompareScreen:
    ch = CompareHandlers(services)
    names = services.algorithm_names()
    with gr.Row():
        problem = gr.Textbox(label="Problem", lines=3, scale=3, elem_id="cmp-problem")
        with gr.Column(scale=1):
            reference = gr.Textbox(
                label="Known answer (grades each run; no search sees it)", elem_id="cmp-reference"
            )
            budget = gr.Number(label="Token budget (each run)", value=1500, precision=0, elem_id="cmp-budget")
            seed = gr.Number(label="Seed", value=0, precision=0, elem_id="cmp-seed")
    algos = gr.CheckboxGroup(
        choices=names,
        value=[a for a in ("greedy", "sc", "rstar") if a in names],
        label="Algorithms (2 to 4)",
        elem_id="cmp-algos",
    )
    methods = gr.Textbox(
        label="Or methods with settings (replaces the ticks): ALGO or ALGO:KEY=VALUE, comma-separated",
        placeholder="rstar, rstar:ppm=none, rstar:children=2",
        elem_id="cmp-methods",
    )
    start = gr.Button("Start together", variant="primary", elem_id="cmp-start")
    status = gr.Markdown(elem_id="cmp-status")
    runs = gr.State([])
    table = gr.Dataframe(headers=TABLE_HEADERS, interactive=False, elem_id="cmp-table")
    views, columns, rows = [], [], []
    for r in range(MOST // 2):  # a slot per method compared, two a row; the rest hidden (slot_updates)
        with gr.Row(equal_height=False, visible=r == 0) as row:
            rows.append(row)
            for k in (2 * r, 2 * r + 1):
                with gr.Column(visible=k < 2) as column:
                    columns.append(column)
                    views.append(tree_view(f"cmp-tree-{k}"))
    with gr.Row(equal_height=False):
        convergence = plot_view("cmp-convergence")
        with gr.Column(scale=0, min_width=260):
            answer = gr.Dropdown(
                choices=[], label="Ring this answer in every tree (when all have ended)", elem_id="cmp-answer"
            )
            lights = gr.Textbox(visible=False)
    timer = gr.Timer(1.0, active=False)
    gr.Markdown("### Tree diff of two History runs of the same problem")
    with gr.Row():
        run_a = gr.Textbox(label="Run A", elem_id="cmp-diff-a")
        run_b = gr.Textbox(label="Run B", elem_id="cmp-diff-b")
        diff_btn = gr.Button("Diff", scale=0, elem_id="cmp-diff-btn")
    diff_text = gr.Markdown(elem_id="cmp-diff-text")
    diff_plot = plot_view("cmp-diff-plot")

    fast = {"concurrency_limit": None, "show_progress": "hidden", "api_visibility": "private"}
    shown = [*views, *columns, *rows, table, convergence, answer, timer, status]
    start.click(
        ch.start, [problem, reference, algos, budget, seed, methods], [runs, status, timer], **fast
    ).then(ch.refresh, runs, shown, **fast)
    timer.tick(ch.refresh, runs, shown, **fast)
    answer.change(ch.highlight, [runs, answer], lights, **fast).then(None, lights, None, js=HIGHLIGHT_JS)
    diff_btn.click(ch.diff, [run_a, run_b], [diff_text, diff_plot], **fast)
    return CompareScreen(ch)
