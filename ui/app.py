"""The Canopy web app: ``build_app(services)`` composes the screens; ``serve`` launches it;
``main(argv)`` is the entrypoint behind ``python app.py`` and ``canopy serve``.

Nothing happens at import: the store, the engine and the Blocks are made by ``main`` (or
by a test, around a memory store and the scripted engine).
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence
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
        history_tab.select(
            history.handlers.rows,
            history.refresh_inputs,
            history.list,
            concurrency_limit=None,
            show_progress="hidden",
        )
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


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="app.py", description="Canopy web app: watch reasoning search trees grow."
    )
    p.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)"
    )
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument(
        "--share", action="store_true", help="also open a public Gradio share link (needs internet)"
    )
    p.add_argument(
        "--engine", default=None, help="llamacpp (default), transformers, vllm, openai or scripted"
    )
    p.add_argument("--model", default=None, help="GGUF path, HF id, served model name or scripted rules file")
    p.add_argument("--db", default=None, help="history database (default $CANOPY_HOME/canopy.sqlite)")
    p.add_argument("--algorithm", default="rstar", help="algorithm selected when the page opens")
    p.add_argument(
        "--ppm",
        default=None,
        help="trained PPM directory for the ppm reward (default $CANOPY_PPM or the cache's ppm/)",
    )
    p.add_argument("--verbose", "-v", action="store_true", help="log progress details")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Open the history, mark runs cut off by an earlier stop as interrupted, serve."""
    args = parse_args(argv)
    if args.ppm:
        os.environ["CANOPY_PPM"] = args.ppm  # where the ppm reward looks (backend/search/rewards.py)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    from backend.engines import DEFAULT_ENGINE
    from backend.store import open_store
    from ui.services import EngineSlot

    store = open_store(args.db)
    closed = store.recover()
    if closed:
        log.warning("%d run(s) cut off by an earlier stop are now marked interrupted", len(closed))
    services = Services(
        store=store,
        engine=EngineSlot(args.engine or DEFAULT_ENGINE, args.model),
        default_algorithm=args.algorithm,
    )
    try:
        serve(services, host=args.host, port=args.port, share=args.share, block=True)
    except KeyboardInterrupt:
        pass
    finally:
        services.close()
    return 0
