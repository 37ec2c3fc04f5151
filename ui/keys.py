"""Keyboard shortcuts for the Solve screen: one small script (``ui/static/keys.js``) loaded
by an empty gr.HTML, as the tree view loads ``tree.js``.

s: Step · p or space: Pause/Resume · n: teacher mode's Next phase · c: collapse/expand · ←/→: previous/next
sibling · ↑: parent · ↓: first child. Keys typed into a text box are left alone.
"""

from __future__ import annotations

import gradio as gr

from ui.views import _js

HELP = (
    "Keys: **s** step · **p** or **space** pause/resume · **n** next phase (teacher mode) · "
    "**c** collapse/expand the selected node · **← →** previous/next sibling · **↑** parent · "
    "**↓** first child"
)


def build_keys() -> gr.HTML:
    """The script's carrier (it draws nothing) and a line saying which keys do what."""
    gr.Markdown(HELP, elem_id="keys-help")
    return gr.HTML(
        value="", html_template="<div></div>", js_on_load=_js("keys.js"), elem_id="keys", padding=False
    )
