"""One self-contained HTML file that replays a run offline: ``canopy export RUN --html FILE``
and the History screen's "Export HTML" button.

The file holds plotly.js (from the installed ``plotly`` package), the page's script and
style (``assets/html_replay/``) and the run's events as JSON in a
``<script type="application/json">`` block. The page folds the events itself, as
``backend/tree.py`` does, and lays the tree out with a port of the app's tidy layout
(``ui/layout.py``), so the slider replays to the same tree the app draws at every event
(tests/ui/test_browser_compare.py compares both in chromium) and the file stays about the
size of the events: no per-step positions are stored. Nodes are drawn and named in the run's
own algorithm's words (``backend/vocabulary.py``, the page's tables: a CPL "plan step", a LIPS
"goal made by a tactic"), so the command line's file says what the History screen's does.

Content is data: the JSON block escapes ``<``, ``>``, ``&`` and the two JavaScript line
separators, so no text in a run (a step that prints ``</script>``) can end the block, and the
page inserts every value as a text node (never ``innerHTML``). Nothing is fetched: the
page works from ``file://`` with the network off.

What the page does not have that the .jsonl export has: the sibling statistics of each
selection (``node_selected.children``, the app's UCT table), left out to keep a big run's
file small (they were most of its bytes).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backend import __version__
from backend import events as ev
from backend import vocabulary as vocab
from backend.paths import assets_dir
from backend.tree import Node, Tree

#: (Plotly marker symbol, outline colour, legend label)
Style = vocab.Style
#: how a node is drawn, from its state in the folded tree
Styler = Callable[[Node], Style]
PRUNED_STYLE: Style = vocab.PRUNED


def default_styler(grade: Callable[[str], bool] | None, algorithm: str | None = None) -> Styler:
    """How the app draws a node (``backend/vocabulary.node_style``): pruned, else by its status
    in ``algorithm``'s words (a CPL "plan step", a LIPS "goal made by a tactic"; rStar-Math's
    for the baselines), an ungraded answer graded against the run's known answer when there is one."""
    words = vocab.vocabulary(algorithm)
    return lambda node: vocab.node_style(node, grade, words)


#: characters that could end or confuse a <script> block, as JSON escapes (same string after JSON.parse)
_SCRIPT_SAFE = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def script_json(value: Any) -> str:
    """``value`` as JSON that is safe inside ``<script type="application/json">``."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for ch, sub in _SCRIPT_SAFE.items():
        text = text.replace(ch, sub)
    return text


def _event_data(e: ev.Event) -> dict[str, Any]:
    """The event as the page gets it: empty fields (None, {}, []) left out, a root's null
    parent kept; a selection without its sibling tables (the app's UCT table: most of a big
    run's bytes, not drawn here)."""
    data = {k: v for k, v in e.to_dict().items() if k == "parent" or v not in (None, {}, [])}
    if isinstance(e, ev.NodeSelected):
        data.pop("children", None)
    return data


def known_answer(events: list[ev.Event]) -> str | None:
    """The run's known answer: graded at the end (``run_finished.reference``) or in its spec."""
    for e in reversed(events):
        if isinstance(e, ev.RunFinished) and e.reference:
            return e.reference
    started = events[0] if events and isinstance(events[0], ev.RunStarted) else None
    spec = (started.spec if started else None) or {}
    return spec.get("reference") or None


def answer_grader(events: list[ev.Event]) -> Callable[[str], bool] | None:
    """A grader of stated answers against the run's known answer; None without one."""
    from backend.verify.answers import answer_grader as grader_for

    return grader_for(known_answer(events))


def styled_events(events: list[ev.Event], styler: Styler) -> tuple[list[dict[str, Any]], list[Style]]:
    """(the events as the page gets them, the style table): a node's look changes only when it
    is added, verified or pruned, so those events carry its style number after them
    (``style``), computed here on the folded tree; the page needs no table of statuses."""
    tree, table, index, out = Tree(), [], {}, []
    for e in events:
        tree.apply(e)
        data = _event_data(e)
        nid = getattr(e, "id", None) if isinstance(e, ev.NodeAdded | ev.NodeVerified) else None
        if isinstance(e, ev.UserAction) and e.action == "prune":
            nid = e.node
        if nid is not None:
            look = tuple(styler(tree.nodes[nid]))
            if look not in index:
                index[look] = len(table)
                table.append(look)
            data["style"] = index[look]
        out.append(data)
    return out, table


def _asset(name: str) -> str:
    return (assets_dir() / "html_replay" / name).read_text(encoding="utf-8")


def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def replay_document(
    events: list[ev.Event], header: dict[str, Any] | None = None, styler: Styler | None = None
) -> str:
    """The whole HTML file of a run's events (``events[0]`` is its ``run_started``); ``styler``
    draws a node (default: ``default_styler`` in the run's algorithm's words, with its known answer)."""
    if not events or not isinstance(events[0], ev.RunStarted):
        raise ValueError("a replay needs a run's events, run_started first")
    styler = styler or default_styler(answer_grader(events), events[0].algorithm)
    data_events, styles = styled_events(events, styler)
    data = {
        "format": "canopy-html-replay",
        "version": 1,
        "canopy": __version__,
        "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "header": header or {},
        "styles": styles,
        "events": data_events,
    }
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
        # nothing may be fetched: no connection, image or font from anywhere
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; img-src data: blob:; "
        'font-src data:; worker-src blob:">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        "<title>Canopy run replay</title>\n"
        f"<style>\n{_asset('replay.css')}</style>\n"
        "<script>window.canopyPlotlyMs = performance.now();</script>\n"  # bench/html_replay.py
        f"<script>{_plotly_js()}</script>\n"
        "<script>window.canopyPlotlyMs = performance.now() - window.canopyPlotlyMs;</script>\n"
        "</head><body>\n"
        f"{_asset('replay.html')}\n"
        f'<script type="application/json" id="canopy-data">{script_json(data)}</script>\n'
        f"<script>\n{_asset('replay.js')}</script>\n"
        "</body></html>\n"
    )


@dataclass(frozen=True)
class ReplayFile:
    path: Path
    bytes: int
    events: int


def write_replay(
    events: list[ev.Event],
    path: str | Path,
    header: dict[str, Any] | None = None,
    styler: Styler | None = None,
) -> ReplayFile:
    """Write the replay of ``events`` to ``path``; returns where, its size and its event count."""
    text = replay_document(events, header, styler)
    p = Path(path)
    p.write_text(text, encoding="utf-8")
    return ReplayFile(p, p.stat().st_size, len(events))


def export_replay(store: Any, run_id: str, path: str | Path, styler: Styler | None = None) -> ReplayFile:
    """Write stored run ``run_id`` as an HTML replay (the id is checked before any file is opened)."""
    if not ev.valid_run_id(run_id):
        raise ValueError(f"{str(run_id)[:80]!r} is not a run id ({ev.RUN_ID_RULE})")
    record = store.get(run_id)
    if record is None:
        raise ValueError(f"no run with id {run_id!r} in the history")
    header = {"run_id": run_id, "algorithm": record.algorithm, "model": record.model, "status": record.status}
    return write_replay(store.read(run_id), path, header, styler)
