"""The run status's engine line: which engine, model and servers produced a run.

Why: a page in front of a GPU box (``--engine openai --model URL1,URL2``) or a history of runs
from several engines must say where a run's text came from. Read from the run's own
``run_started`` event (``engine``: name, model, and the servers of an OpenAI-compatible
engine), so a stored run says it too. Every value goes through ``ui.escape``.
"""

from __future__ import annotations

from typing import Any

from backend.engines.server_pool import shown_url
from ui.escape import md_code, md_esc

#: servers listed by URL; more are counted
MAX_LISTED = 4


def engine_line(started: Any) -> str:
    """``**Engine:** openai · Qwen2.5-Math-7B-Instruct · 2 servers: <url>, <url>`` (Markdown), or ""
    for a run that names no engine (an imported proof)."""
    engine = getattr(started, "engine", None)
    if not isinstance(engine, dict) or not engine.get("name"):
        return ""
    text = f"**Engine:** {md_esc(engine['name'])}"
    if engine.get("model"):
        text += f" · {md_esc(engine['model'])}"
    return text + servers_text(engine.get("servers"))


def servers_text(servers: Any) -> str:
    """`` · 2 servers: <url>, <url>`` (Markdown) for an OpenAI-compatible engine's base URLs, or ""."""
    listed = servers if isinstance(servers, (list, tuple)) else []
    urls = [shown_url(s) for s in listed if isinstance(s, str)]  # a stored run's login or token: not shown
    if len(urls) == 1:
        return f" · server {md_code(urls[0])}"
    if not urls:
        return ""
    listed = ", ".join(md_code(s) for s in urls[:MAX_LISTED])
    more = f" and {len(urls) - MAX_LISTED} more" if len(urls) > MAX_LISTED else ""
    return f" · {len(urls)} servers: {listed}{more}"
