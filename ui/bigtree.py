"""Big trees on the Solve screen: find nodes (text, answer, status, kind, id), focus on the best
path and its siblings, collapse and expand subtrees.

Finding runs on the server (``backend/node_search.py``: the whole text, code and output of
every node, not just the hover's first lines) and rings the matches in the tree through the
same ``canopy-highlight`` event as the answer clusters. Focus and collapse are the page's
own (``tree.js``: a ``canopy-view`` event): nothing is sent again, the drawn traces just
leave the hidden nodes out, which is what keeps a 10,000-node tree interactive
(bench/ui_latency.py ``--interactions``).
"""

from __future__ import annotations

import json
from typing import Any

import gradio as gr

from backend.node_search import search_nodes
from ui.escape import md_esc
from ui.services import Services
from ui.words import count

HELP = (
    "Find: words in a step's text, code or output, `answer:18`, `status:error`, `kind:answer`, `#12` "
    "(all must hold). **Focus** shows only the best path and its siblings; **Collapse** hides what is "
    "below the node selected in the tree (key **c**); **Zoom** centres the tree on the first match "
    "(double-click the tree to see all of it)."
)
HIGHLIGHT_JS = """(found) => {
  const d = found ? JSON.parse(found) : null;
  if (d) window.dispatchEvent(new CustomEvent('canopy-highlight',
    {detail: {target: 'tree', run: d.run, ids: d.ids, nodes: [], label: 'search'}}));
  return found;
}"""
FOCUS_JS = """(on) => {
  window.dispatchEvent(new CustomEvent('canopy-view', {detail: {target: 'tree', focus: !!on}}));
  return on;
}"""
COLLAPSE_JS = """() => { window.dispatchEvent(new CustomEvent('canopy-view',
  {detail: {target: 'tree', collapse: 'selected'}})); }"""
EXPAND_ALL_JS = """() => { window.dispatchEvent(new CustomEvent('canopy-view',
  {detail: {target: 'tree', collapse: 'none'}})); }"""
ZOOM_JS = """(found) => {
  const d = found ? JSON.parse(found) : null;
  if (d && d.ids.length) window.dispatchEvent(new CustomEvent('canopy-view',
    {detail: {target: 'tree', zoom: d.ids[0]}}));
  return found;
}"""


def find(services: Services, run_id: str | None, query: str) -> tuple[str, str]:
    """(what was found, in words; the matches for the page as JSON)."""
    if not run_id:
        return "Start a run first (or open one from History).", ""
    ids = services.trees.view(run_id, lambda tree: search_nodes(tree, query or ""))
    shown = ", ".join(f"#{i}" for i in ids[:20]) + (" …" if len(ids) > 20 else "")
    said = f"{count(len(ids), 'node')} {'matches' if len(ids) == 1 else 'match'} {md_esc(query)}: {shown}"
    if not ids:
        said = f"No node matches {md_esc(query)}."
    return said, json.dumps({"run": run_id, "ids": ids})


def build_bigtree(services: Services, solve: Any) -> None:
    """The find / focus / collapse row under the Solve screen."""
    fast = {"concurrency_limit": None, "show_progress": "hidden", "api_visibility": "private"}
    with gr.Accordion("Find, focus, collapse (big trees)", open=False, elem_id="bigtree-panel"):
        gr.Markdown(HELP)
        with gr.Row():
            query = gr.Textbox(label="Find nodes", elem_id="find-query", scale=3)
            go = gr.Button("Find", elem_id="find-btn", scale=1)
        found_md = gr.Markdown(elem_id="find-result")
        found = gr.Textbox(visible=False)
        with gr.Row():
            focus = gr.Checkbox(label="Focus: the best path and its siblings", elem_id="focus-toggle")
            collapse = gr.Button("Collapse / expand the selected node", elem_id="collapse-btn")
            expand_all = gr.Button("Expand all", elem_id="expand-all-btn")
            zoom = gr.Button("Zoom to the first match", elem_id="zoom-btn")

    def on_find(run_id: str | None, text: str) -> tuple[str, str]:
        return find(services, run_id, text)

    for trigger in (go.click, query.submit):
        searched = trigger(on_find, [solve.run, query], [found_md, found], **fast)
        searched.then(None, found, None, js=HIGHLIGHT_JS)
    focus.change(None, focus, None, js=FOCUS_JS)
    collapse.click(None, None, None, js=COLLAPSE_JS)
    expand_all.click(None, None, None, js=EXPAND_ALL_JS)
    zoom.click(None, found, None, js=ZOOM_JS)  # double-click the tree to see all of it again
