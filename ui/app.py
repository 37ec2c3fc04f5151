"""The Canopy web app: ``build_app(services)`` composes the screens; ``serve`` launches it.

Nothing happens at import: the store, the engine and the Blocks are made by the caller
(``app.py`` / ``canopy serve``), so tests build the same app around a memory store and the
scripted engine.
"""

from __future__ import annotations

import logging
from typing import Any

import gradio as gr

from ui.history import build_history
from ui.services import Services
from ui.solve import build_solve
from ui.views import CSS, plotly_js_path

log = logging.getLogger(__name__)

HEADER = (
    "## Canopy · watch LLM reasoning search grow\n"
    "Type a problem, pick an algorithm, press **Run**; click any node to inspect it."
)


def build_app(services: Services) -> gr.Blocks:
    with gr.Blocks(title="Canopy", analytics_enabled=False) as demo:
        gr.Markdown(HEADER)
        with gr.Tabs():
            with gr.Tab("Solve", id="solve"):
                build_solve(services, demo)
            with gr.Tab("History", id="history") as history_tab:
                history = build_history(services)
        history_tab.select(history.handlers.rows, history.refresh_inputs, history.list,
                           concurrency_limit=None, show_progress="hidden")
    return demo


def launch_options() -> dict[str, Any]:
    """What ``Blocks.launch`` needs for Canopy: local plotly.js, CSS, no telemetry."""
    return {
        "allowed_paths": [str(plotly_js_path())],
        "css": CSS,
        "theme": gr.themes.Default(),  # its fonts ship with Gradio: no request leaves the machine
        "show_error": True,
        "footer_links": ["settings"],
    }


def serve(
    services: Services, *, host: str = "127.0.0.1", port: int = 7860, share: bool = False, block: bool = True
) -> gr.Blocks:
    """Build and launch; with ``block=False`` returns at once (tests, notebooks)."""
    demo = build_app(services)
    demo.queue(default_concurrency_limit=None)
    demo.launch(
        server_name=host,
        server_port=port,
        share=share,
        prevent_thread_lock=not block,
        quiet=not block,
        **launch_options(),
    )
    return demo
