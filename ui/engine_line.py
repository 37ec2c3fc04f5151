"""The run status's engine line: which engine, model and servers produced a run.

Why: a page in front of a GPU box (``--engine openai --model URL1,URL2``) or a history of runs
from several engines must say where a run's text came from. Read from the run's own
``run_started`` event (``engine``: name, model, and the servers of an OpenAI-compatible
engine), so a stored run says it too. Every value goes through ``ui.escape``.
"""

from __future__ import annotations

from typing import Any

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
    servers = [s for s in engine.get("servers") or [] if isinstance(s, str)]
    if len(servers) == 1:
        text += f" · server {md_code(servers[0])}"
    elif servers:
        listed = ", ".join(md_code(s) for s in servers[:MAX_LISTED])
        more = f" and {len(servers) - MAX_LISTED} more" if len(servers) > MAX_LISTED else ""
        text += f" · {len(servers)} servers: {listed}{more}"
    return text
