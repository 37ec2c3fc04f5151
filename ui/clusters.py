"""The answer-clusters panel: one bar per group of equivalent final answers, live.

The clusters are ``backend/answer_clusters.py``'s (a pure function of the tree); this module
turns them into the panel's value and wires the panel below the Solve screen. The bars are
drawn by ``ui/static/clusters.js``, which also sends a click to the tree view
(``canopy-highlight``: that cluster's leaves ringed, their paths drawn), so a click costs no
server round trip. The panel refreshes whenever the run's status line does (each streamed
snapshot), and only recomputes when the tree has new events.
"""

from __future__ import annotations

import threading
from typing import Any

import gradio as gr

from backend.answer_clusters import answer_clusters
from backend.tree import Tree
from ui.escape import esc
from ui.services import Services
from ui.views import _js, encode, plotly_head

TEMPLATE = """
<div class="canopy-clusters" data-count="0" data-selected="" data-run="">
  <div class="canopy-toolbar">
    <label>Weight by <select class="canopy-cluster-weight">
      <option value="visits">visits N</option><option value="q">mean Q</option>
      <option value="ppm">mean PPM</option></select></label>
    <button class="canopy-cluster-clear">Clear highlight</button>
    <span class="canopy-legend">one bar per answer (equivalent answers merged, math-verify);
      click a bar to ring its leaves and draw their paths in the tree</span>
  </div>
  <div class="canopy-cluster-empty">No final answer yet.</div>
  <div class="canopy-cluster-plot"></div>
  <div class="canopy-cluster-list"></div>
</div>
"""

CSS = """
.canopy-clusters .canopy-cluster-plot { height: 260px; width: 100%; }
.canopy-clusters .canopy-cluster { margin: 2px; padding: 1px 8px;
  border: 1px solid var(--border-color-primary); border-radius: 4px; font-size: 0.85em; }
.canopy-clusters .canopy-cluster-on { background: #2a9d8f; color: white; }
.canopy-clusters .canopy-cluster-empty { color: var(--body-text-color-subdued); padding: 0.5em; }
"""


def clusters_value(tree: Tree, run_id: str, target: str = "tree") -> dict[str, Any]:
    """The panel's value: every cluster with its leaves, path nodes and weights; ``label`` is
    the answer escaped for Plotly's labels, ``answer`` the raw text (the page sets it as text)."""
    if tree.started is not None and tree.started.algorithm == "lips":
        # one verdict, reached by no visits, Q or PPM: a bar of height 0 said nothing
        return {"run": run_id, "rev": tree.last_seq, "target": target, "clusters": [], "empty": LIPS_NOTE}
    rows = []
    for c in answer_clusters(tree):
        row = c.to_dict()
        row["label"] = esc(c.answer)
        rows.append(row)
    return {"run": run_id, "rev": tree.last_seq, "target": target, "clusters": rows}


#: the panel's words for a LIPS run (clusters.js shows a value's ``empty`` text)
LIPS_NOTE = (
    "LIPS ends with one verdict (proved or refuted), not answers that vote: nothing to cluster. "
    "The answer panel has the proof."
)


class ClusterHandlers:
    """Recompute a run's clusters only when its tree has new events."""

    def __init__(self, services: Services) -> None:
        self.s = services
        self._last: dict[str, tuple[int, str]] = {}
        self._lock = threading.Lock()

    def value(self, run_id: str | None) -> str:
        if not run_id:
            return ""
        rev = self.s.trees.view(run_id, lambda t: t.last_seq)
        with self._lock:
            cached = self._last.get(run_id)
        if cached is not None and cached[0] == rev:
            return cached[1]
        # the grouping runs math-verify: outside the tree's lock, on a copy of what it reads
        tree = self.s.trees.view(run_id, _answers_only)
        out = encode(clusters_value(tree, run_id))
        with self._lock:
            if len(self._last) > 16:
                self._last.clear()
            self._last[run_id] = (tree.last_seq, out)
        return out

    def refresh(self, run_id: str | None) -> Any:
        """The panel's new value, or no update when nothing changed (no redraw)."""
        if not run_id:
            return ""
        with self._lock:
            before = self._last.get(run_id)
        out = self.value(run_id)
        return gr.skip() if before is not None and before[1] == out else out


def _answers_only(tree: Tree) -> Tree:
    """A small tree holding what ``answer_clusters`` reads: the answer nodes and their paths."""
    from copy import copy

    out = Tree()
    out.started = tree.started  # the algorithm (clusters_value's LIPS note)
    out.last_seq = tree.last_seq
    out.root_id = tree.root_id
    for node in tree.answer_nodes():
        cur: int | None = node.id
        while cur is not None and cur not in out.nodes:
            out.nodes[cur] = copy(tree.nodes[cur])
            cur = tree.nodes[cur].parent
    return out


def clusters_view(elem_id: str = "clusters") -> gr.HTML:
    return gr.HTML(
        value="",
        html_template=TEMPLATE,
        css_template=CSS,
        js_on_load=_js("clusters.js"),
        head=plotly_head(),
        elem_id=elem_id,
        padding=False,
    )


def build_clusters(services: Services, run: gr.State, trigger: gr.Component) -> gr.HTML:
    """The panel, in the current Blocks context, refreshed each time ``trigger`` changes."""
    handlers = ClusterHandlers(services)
    with gr.Accordion("Answer clusters", open=True, elem_id="clusters-panel"):
        view = clusters_view()
    fast = {"concurrency_limit": None, "show_progress": "hidden", "api_visibility": "private"}
    trigger.change(handlers.refresh, run, view, trigger_mode="always_last", **fast)
    return view
