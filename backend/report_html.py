"""The HTML report of a comparison (``canopy compare``) or an evaluation (``canopy eval``):
one self-contained file with a Plotly chart of accuracy against tokens per problem for each
method, a table of accuracy, tokens and wall time, and for a comparison the problems won and
lost pairwise and every problem's answers.

Like the HTML replay (``backend/html_replay.py``) it carries plotly.js and its data (escaped
JSON in a ``<script type="application/json">`` block) and fetches nothing; every value from
a report (questions, answers, labels) is HTML-escaped where it is written.
"""

from __future__ import annotations

import html
from typing import Any

from backend.html_replay import script_json

#: Plotly's default colours, one per method
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]

_STYLE = """body { font-family: system-ui, sans-serif; margin: 1rem 1.5rem; color: #222; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: .9rem; }
th, td { border: 1px solid #ddd; padding: .25rem .5rem; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.right { color: #1a9850; } .wrong { color: #d73027; } .note { color: #666; font-size: .85rem; }
#chart { width: 100%; max-width: 60rem; height: 460px; }"""

_DRAW = """const spec = JSON.parse(document.getElementById('report-chart').textContent);
Plotly.newPlot('chart', spec.data, spec.layout, {displaylogo: false, responsive: true})
  .then(() => { document.body.dataset.ready = '1'; });"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def accuracy_chart(methods: list[dict[str, Any]], per_problem: dict[str, list[dict[str, Any]]]) -> dict:
    """Plotly figure: for each method, its problems as dots (x: tokens, y: 1 right / 0 wrong,
    spread a little so methods do not hide each other) and a big marker at (mean tokens,
    accuracy)."""
    data = []
    n = max(len(methods), 1)
    for k, m in enumerate(methods):
        color, label = PALETTE[k % len(PALETTE)], m["label"]
        rows = per_problem.get(label, [])
        offset = (k - (n - 1) / 2) * 0.03
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": _e(label) + " · per problem",
                "legendgroup": _e(label),
                "x": [r.get("tokens", 0) for r in rows],
                "y": [(1.0 if r.get("correct") else 0.0) + offset for r in rows],
                "text": [_e(r.get("id")) for r in rows],
                "hovertemplate": "%{text}<br>%{x} tokens<extra>" + _e(label) + "</extra>",
                "marker": {"color": color, "size": 8, "opacity": 0.45},
            }
        )
        data.append(
            {
                "type": "scatter",
                "mode": "markers+text",
                "name": _e(label) + " · accuracy",
                "legendgroup": _e(label),
                "x": [m.get("mean_tokens", 0)],
                "y": [m.get("accuracy", 0)],
                "text": [_e(label)],
                "textposition": "top center",
                "hovertemplate": "accuracy %{y:.0%} at %{x:.0f} tokens per problem<extra>"
                + _e(label)
                + "</extra>",
                "marker": {
                    "color": color,
                    "size": 16,
                    "symbol": "diamond",
                    "line": {"color": "#222", "width": 1},
                },
            }
        )
    layout = {
        "margin": {"l": 60, "r": 20, "t": 30, "b": 50},
        "xaxis": {"title": {"text": "tokens per problem"}, "rangemode": "tozero"},
        "yaxis": {
            "title": {"text": "accuracy (dots: each problem, right = 1, wrong = 0)"},
            "range": [-0.15, 1.15],
        },
        "legend": {"orientation": "h", "y": -0.2},
    }
    return {"data": data, "layout": layout}


def _table(head: list[str], rows: list[list[Any]], numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    out = ["<table><thead><tr>", *(f"<th>{_e(h)}</th>" for h in head), "</tr></thead><tbody>"]
    for row in rows:
        out.append("<tr>")
        for k, cell in enumerate(row):
            cls = ' class="num"' if k in numeric else ""
            out.append(f"<td{cls}>{cell if isinstance(cell, Markup) else _e(cell)}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


class Markup(str):
    """A table cell that is HTML this module wrote itself (values inside already escaped)."""


def failed(r: dict[str, Any]) -> bool:
    """A problem whose run never finished (e.g. the Ray pool gave it up): status ``error``."""
    return r.get("status") == "error"


def _verdict(r: dict[str, Any]) -> Markup:
    mark = '<span class="right">✓</span>' if r.get("correct") else '<span class="wrong">✗</span>'
    if failed(r):  # no answer to show: say so, and why (the reason is data: escaped)
        why = f": {_e(r['error'])}" if r.get("error") else ""
        return Markup(f'{mark} <span class="wrong">failed</span> (status error){why}')
    if r.get("answer") is None:
        status = f", {r['status']}" if r.get("status") else ""
        return Markup(f"{mark} {_e('(none' + status + ')')} · {_e(r.get('tokens'))} tok")
    return Markup(f"{mark} {_e(r.get('answer'))} · {_e(r.get('tokens'))} tok")


def _short(text: Any, most: int = 160) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= most else text[: most - 1] + "…"


def _right(m: dict[str, Any]) -> str:
    """Right out of all, and how many of all failed (counted wrong) when some did."""
    lost = f" ({m['failed']} failed)" if m.get("failed") else ""
    return f"{m['correct']}/{m['total']}{lost}"


def _method_rows(methods: list[dict[str, Any]]) -> list[list[Any]]:
    return [
        [
            m["label"],
            f"{m['accuracy']:.1%}",
            _right(m),
            m["mean_tokens"],
            f"{m['mean_wall_s']:.2f}",
            f"{m['wall_s']:.1f}",
            m.get("in_tree", ""),
            m.get("budget_rule", ""),
        ]
        for m in methods
    ]


def _document(title: str, body: str, chart: dict) -> str:
    from plotly.offline import get_plotlyjs

    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; img-src data: blob:\">\n"
        f"<title>{_e(title)}</title>\n<style>{_STYLE}</style>\n"
        f"<script>{get_plotlyjs()}</script>\n</head><body>\n{body}\n"
        f'<script type="application/json" id="report-chart">{script_json(chart)}</script>\n'
        f"<script>{_DRAW}</script>\n</body></html>\n"
    )


_METHOD_HEAD = [
    "method",
    "accuracy",
    "right",
    "mean tokens",
    "mean s",
    "wall s",
    "right answer in tree",
    "budget",
]


def compare_html(report: dict[str, Any]) -> str:
    """The HTML report of ``backend.compare.CompareReport.to_dict()``."""
    methods = report["methods"]
    labels = [m["label"] for m in methods]
    per_problem = {
        label: [{"id": p["id"], **p["results"][label]} for p in report["problems"]] for label in labels
    }
    methods = [{**m, "failed": sum(failed(r) for r in per_problem[m["label"]])} for m in methods]
    budget = report.get("budget") or {}
    said = ", ".join(f"{k} = {v}" for k, v in budget.items()) or "none"
    head = (
        f"<h1>Canopy compare: {_e(report.get('dataset'))}, {len(report['problems'])} problems</h1>"
        f"<p>budget {_e(said)} · engine {_e(report.get('engine'))} · model "
        f"{_e(report.get('model') or 'the embedded model')}"
        f" (sha256 {_e(report.get('model_sha256') or '-')}) · seed {_e(report.get('seed'))} · PPM "
        f"{_e(report.get('ppm'))} · wall {_e(report.get('wall_s'))} s · Canopy {_e(report.get('canopy'))}</p>"
        '<p class="note">Every method ran on the same problems with the same seeds and engine; each run '
        "was graded with the known answer after it finished (no search saw it).</p>"
    )
    pairs = [
        [f"{p['a']} vs {p['b']}", p["a_won"], p["b_won"], p["both"], p["neither"]] for p in report["pairwise"]
    ]
    problems = [
        [
            p["id"],
            _short(p.get("question")),
            p["reference"],
            *(_verdict(p["results"][label]) for label in labels),
        ]
        for p in report["problems"]
    ]
    body = (
        head
        + '<div id="chart"></div>'
        + "<h2>Methods</h2>"
        + _table(_METHOD_HEAD, _method_rows(methods), {1, 2, 3, 4, 5, 6})
        + "<h2>Problems won and lost, pairwise</h2>"
        + _table(
            ["pair (A vs B)", "A right, B wrong", "B right, A wrong", "both right", "both wrong"],
            pairs,
            {1, 2, 3, 4},
        )
        + "<h2>Every problem</h2>"
        + _table(["problem", "question", "known answer", *labels], problems)
    )
    return _document(f"Canopy compare: {report.get('dataset')}", body, accuracy_chart(methods, per_problem))


def eval_html(report: dict[str, Any]) -> str:
    """The HTML report of ``backend.solve.EvalReport.to_dict()`` (one method)."""
    label = report.get("algorithm", "method")
    rows = report.get("problems", [])
    lost = sum(failed(r) for r in rows)
    method = {**report, "label": label, "failed": lost}
    counts = f"{report.get('correct', 0)} right, {lost} failed (no answer, counted wrong) of {len(rows)}"
    head = (
        f"<h1>Canopy eval: {_e(label)} on {_e(report.get('dataset'))}, {len(rows)} problems</h1>"
        f"<p>{_e(counts)} · reward {_e(report.get('reward'))} · Canopy eval report</p>"
    )
    problems = [
        [r.get("id"), _short(r.get("question")), r.get("reference"), _verdict(r), r.get("wall_s")]
        for r in rows
    ]
    body = (
        head
        + '<div id="chart"></div>'
        + _table(_METHOD_HEAD[:-1], [row[:-1] for row in _method_rows([method])], {1, 2, 3, 4, 5, 6})
        + _table(["problem", "question", "known answer", "answer", "wall s"], problems, {4})
    )
    return _document(f"Canopy eval: {label}", body, accuracy_chart([method], {label: rows}))
