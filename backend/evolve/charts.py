"""The run's round-by-round charts (Plotly), from the report rows alone: held-out accuracy,
what each round's search produced, and the fine-tuning loss. ``RUN/report.html`` is one
self-contained file (plotly.js inlined: it opens without a network)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def round_figure(rows: Sequence[Mapping[str, Any]]) -> Any:
    """Three panels over the rounds (round 0 is the base policy); a row marked ``so_far`` is a
    round still running, its tick labelled so."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(
        rows=1, cols=3,
        subplot_titles=("held-out accuracy (GSM8K test)", "search output per round", "fine-tuning loss"),
    )
    rounds = [r["round"] for r in rows]
    # greedy's marker is a wide ring around search's dot: equal accuracies (round 0 of the
    # 300-problem run: 26% and 26%) stay two visible points, not one
    for key, name, marker in (("heldout_greedy_accuracy", "greedy", {"size": 14, "symbol": "circle-open"}),
                              ("heldout_search_accuracy", "search", {"size": 7})):
        fig.add_trace(_line(rounds, [r.get(key) for r in rows], name, marker), 1, 1)
    if any("heldout_sc_accuracy" in r for r in rows):  # self-consistency at the search's tokens
        sc = [r.get("heldout_sc_accuracy") for r in rows]
        marker = {"size": 9, "symbol": "diamond-open"}
        fig.add_trace(_line(rounds, sc, "self-consistency (search's tokens)", marker), 1, 1)
    trained = [r for r in rows if r["round"] > 0]
    later = [r["round"] for r in trained]
    for key, name in (("solved_in_search", "solved in search"), ("sft_examples", "SFT examples"),
                      ("ppm_pairs", "PPM pairs")):
        hover = [_versus_previous(r) for r in trained] if key == "solved_in_search" else None
        fig.add_trace(go.Bar(x=later, y=[r.get(key) for r in trained], name=name, hovertext=hover), 1, 2)
    for key, name in (("train_loss_first", "loss, first step"), ("train_loss_last", "loss, last step")):
        fig.add_trace(_line(later, [r.get(key) for r in trained], name), 1, 3)
    if not trained:  # only round 0 (the base policy) has finished: say so, not empty axes
        for axis in ("x2", "x3"):
            fig.add_annotation(text="drawn when round 1 ends", xref=f"{axis} domain",
                               yref=f"y{axis[1]} domain", x=0.5, y=0.5, showarrow=False)
        fig.update_xaxes(visible=False, row=1, col=2)
        fig.update_xaxes(visible=False, row=1, col=3)
        fig.update_yaxes(visible=False, row=1, col=2)
        fig.update_yaxes(visible=False, row=1, col=3)
    fig.update_xaxes(title_text="round", dtick=1)
    running = [r["round"] for r in rows if r.get("so_far")]
    if running:  # a round still running is drawn with what its finished stages made
        ticks = sorted(set(rounds))
        labels = [f"{n} (so far)" if n in running else str(n) for n in ticks]
        fig.update_xaxes(tickvals=ticks, ticktext=labels)
    fig.update_yaxes(range=[0, 1], row=1, col=1)
    fig.update_layout(height=420, barmode="group", margin={"t": 60, "b": 40})
    return fig


def _versus_previous(row: Mapping[str, Any]) -> str:
    """A "solved in search" bar's hover: what the count hides (``stages.versus_previous_search``)."""
    counts = row.get("solved_in_search_won_lost")  # a run folder's file: only two counts make text
    if not (isinstance(counts, list) and len(counts) == 2
            and all(isinstance(c, int) and not isinstance(c, bool) for c in counts)):
        return ""
    return f"won {counts[0]}, lost {counts[1]} against round {row['round'] - 1} (same problems)"


def _line(x: list[int], y: list[Any], name: str, marker: Mapping[str, Any] | None = None) -> Any:
    import plotly.graph_objects as go

    return go.Scatter(x=x, y=y, name=name, mode="lines+markers", marker=dict(marker or {}))


def write_charts(rows: Sequence[Mapping[str, Any]], path: str | Path) -> Path:
    """``path`` as one HTML file, written beside the target and renamed. The title is fixed
    text: nothing a user named (a run directory) reaches the page."""
    fig = round_figure(rows)
    fig.update_layout(title_text="Evolve run: round by round")
    target = Path(path)
    partial = target.with_name(target.name + ".partial")
    partial.write_text(fig.to_html(include_plotlyjs=True, full_html=True), encoding="utf-8")
    partial.replace(target)
    return target
