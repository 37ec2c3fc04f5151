"""What the History screen hands out about a run besides its replay: the one-file HTML replay
(``backend/html_replay.py``, drawn with the page's own node styles) and the cost view
(``ui/cost.py``) at a replay step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from ui import handlers as h
from ui.escape import md_code, md_esc
from ui.services import Services
from ui.views import encode
from ui.words import count

#: after Export HTML: click the link to this run's file once it is on the page (a big file
#: can take longer to appear than the JSONL's 50 ms; an earlier export's link is not this one)
DOWNLOAD_HTML_JS = """(runId) => {
  const name = 'canopy-run-' + runId + '.html';
  let tries = 0;
  const look = () => {
    const a = [...document.querySelectorAll('#hist-download a')]
      .find((x) => (x.getAttribute('download') || '') === name || (x.href || '').endsWith('/' + name));
    if (a) a.click(); else if (++tries < 200) setTimeout(look, 50);
  };
  setTimeout(look, 50);
}"""


def replay_styler(services: Services, run_id: str) -> Any:
    """How the page draws a node of this run (``ui.figure.node_style`` with the run's grader
    and its algorithm's vocabulary), so the file draws what the History screen draws."""
    from ui.figure import node_style
    from ui.vocabulary import vocabulary

    grade = h.run_grader(services, run_id)
    record = services.store.get(run_id)
    vocab = vocabulary(record.algorithm if record is not None else None)
    return lambda node: node_style(node, grade, vocab)


def export_html(services: Services, run_id: str, path: Path) -> tuple[str, Any, str]:
    """(message, download, the name the download click waits for) after writing ``run_id``'s
    HTML replay to ``path``; a failure is a message and no file on offer."""
    from backend.html_replay import export_replay

    try:
        made = export_replay(services.store, run_id, path, replay_styler(services, run_id))
    except (ValueError, OSError) as exc:
        return f"⚠ Export failed: {md_esc(exc)}", gr.File(value=None, visible=False), ""
    return (
        f"Wrote an HTML replay of run {md_code(run_id)}: {made.bytes / 2**20:.1f} MiB "
        f"({count(made.events, 'event')}; it opens offline in any browser).",
        gr.File(value=str(path), visible=True),
        path.name.removeprefix("canopy-run-").removesuffix(".html"),
    )


def cost_view(services: Services, run_id: str | None, upto: int, mode: str) -> tuple[str, str]:
    """(breakdown, figure) of the cost view of ``run_id`` after event ``upto``."""
    from ui.cost import COST_MODES, breakdown_markdown, cost_figure

    if not run_id or h.run_length(services, run_id) == 0:
        return "", encode({"data": [], "layout": {"height": 60}})
    grade = h.run_grader(services, run_id)
    mode = mode if mode in COST_MODES else "tokens"
    text, fig = h.replay_view(
        services, run_id, upto, lambda tree: (breakdown_markdown(tree), cost_figure(tree, mode, grade))
    )
    return text, encode(fig)
