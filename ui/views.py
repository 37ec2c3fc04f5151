"""The two Plotly views (tree, plain figure) as gr.HTML components, and where plotly.js lives.

gr.Plot has only a ``change`` event, no click, so the tree is a gr.HTML whose value is the
figure dict: ``js_on_load`` (ui/static/tree.js) draws it with Plotly, redraws on every new
value (``watch('value', ...)``) and sends clicks back with ``trigger('node_click', ...)``,
which Python receives through ``tree.node_click(fn)``. Gradio only creates that listener
when the event name appears quoted in the js_on_load text (``HTML.__getattr__``).

plotly.js is served from the installed plotly package's own copy (no CDN: the page works
offline). Its file must be allowed in ``launch(allowed_paths=...)``; see ``ui/app.py``.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import gradio as gr

STATIC = Path(__file__).resolve().parent / "static"

TREE_TEMPLATE = """
<div class="canopy-tree" data-nodes="0">
  <div class="canopy-toolbar">
    <label>Colour by <select class="canopy-mode">
      <option value="q">Q (value)</option><option value="ppm">PPM score</option>
      <option value="visits">visits N</option><option value="depth">depth</option>
      <option value="tokens">tokens</option><option value="gen_ms">generation time</option>
      <option value="exec_ms">execution time</option><option value="verify_ms">verification time</option>
    </select></label>
    <span class="canopy-scale" title="colour scale"><span class="canopy-scale-title">Q</span>
      <span class="canopy-scale-min"></span><span class="canopy-scale-bar"></span>
      <span class="canopy-scale-max"></span></span>
    <span class="canopy-unscored" style="display: none"></span>
    <span class="canopy-legend">size = visits N · ● code ran · ✕ code failed · ◆ answer ·
      ★ correct · ◇ wrong (✕ inside) · ○ grey = unverified · faded = pruned ·
      gold line = best path · orange ring = new · purple ring = selected ·
      dotted ring = PPM and Q disagree (PPM diagnostics)</span>
  </div>
  <div class="canopy-empty">No tree yet: start a run (or open one in History).</div>
  <div class="canopy-plot"></div>
</div>
"""

PLOT_TEMPLATE = (
    '<div class="canopy-plot-note" style="display: none"></div><div class="canopy-simple-plot"></div>'
)

CSS = """
.canopy-uct table { font-size: 0.85em; width: auto; }
.canopy-uct th, .canopy-uct td { white-space: nowrap; padding: 2px 6px; }
.canopy-tree .canopy-toolbar {
  display: flex; gap: 1em; align-items: center; font-size: 0.85em; flex-wrap: wrap;
}
.canopy-tree .canopy-legend { color: var(--body-text-color-subdued); }
.canopy-tree .canopy-scale { display: inline-flex; gap: 0.4em; align-items: center; }
.canopy-tree .canopy-scale-title { font-weight: 600; }
.canopy-tree .canopy-unscored { color: var(--body-text-color-subdued); }
.canopy-tree .canopy-unscored::before {
  content: ""; display: inline-block; width: 0.8em; height: 0.8em; margin-right: 0.3em;
  background: #bdbdbd; border: 1px solid var(--border-color-primary); vertical-align: middle;
}
.canopy-tree .canopy-scale-bar {
  display: inline-block; width: 9em; height: 0.8em; border: 1px solid var(--border-color-primary);
}
.canopy-tree .canopy-plot { height: 560px; width: 100%; }
/* Plotly's focus and pick canvases serve parcoords-like traces, never scattergl; hidden,
   software compositing does not read them back every frame (bench/ui_latency.py) */
.canopy-tree .canopy-plot .gl-canvas-focus, .canopy-tree .canopy-plot .gl-canvas-pick { display: none; }
.canopy-tree .canopy-empty { padding: 3em; text-align: center; color: var(--body-text-color-subdued); }
.canopy-simple-plot { height: 420px; width: 100%; }
.canopy-plot-note { padding: 1em; color: var(--body-text-color-subdued); font-size: 0.9em; }
.canopy-tree .canopy-empty.canopy-error { color: #d73027; font-weight: 600; }
"""


@cache
def plotly_js_path() -> Path:
    """The installed plotly package's own plotly.min.js."""
    import plotly

    path = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise FileNotFoundError(f"plotly.min.js not found at {path}: reinstall plotly (pip install plotly)")
    return path


def plotly_head() -> str:
    return f'<script src="/gradio_api/file={quote(str(plotly_js_path()))}"></script>'


def encode(figure: dict[str, Any]) -> str:
    """The figure as the tree view's value: a JSON string, not a dict.

    Gradio diffs successive values of a streaming output element by element in Python;
    for a figure of a few thousand nodes that diff is slower and bigger than the figure
    itself (measured: 41 ms and 0.73 MB vs 0.47 MB at 2,000 nodes), while two strings are
    compared in C. "<" is escaped so no step text can look like markup.
    """
    return json.dumps(figure, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")


@cache
def _js(name: str) -> str:
    return (STATIC / name).read_text(encoding="utf-8")


#: the tree view's parts (ui/static/tree.js, then the minimap's minimap.js) are declared first,
#: then it starts: watch its value and draw the first one
TREE_START = "\nwatch('value', onValue);\nonValue();\n"


def tree_view(elem_id: str) -> gr.HTML:
    """The live tree (see module docstring); its click event is ``.node_click``."""
    return gr.HTML(
        value="",
        html_template=TREE_TEMPLATE,
        js_on_load=_js("tree.js") + _js("minimap.js") + TREE_START,
        head=plotly_head(),
        elem_id=elem_id,
        min_height=600,
        padding=False,
    )


def plot_view(elem_id: str) -> gr.HTML:
    return gr.HTML(
        value="",
        html_template=PLOT_TEMPLATE,
        js_on_load=_js("plot.js"),
        head=plotly_head(),
        elem_id=elem_id,
        padding=False,
    )
