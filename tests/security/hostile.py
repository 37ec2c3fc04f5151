"""A run whose every content field holds what an attacker would put there (a generated step,
an imported file): HTML tags, Markdown images and links, autolinks, entities, backticks.

Shared by the escaping tests (``test_html_escape.py``) and the real-browser test.
"""

from __future__ import annotations

from backend import events as ev
from backend.events import EventLog

EVIL = "evil.example"  # the host every hostile URL names; no request may ever go there
PARTS = [
    f"<img src=http://{EVIL}/img onerror=alert(1)>",
    '"><script>alert(1)</script>',
    f"![x](http://{EVIL}/md-image)",
    "[l](javascript:alert(1))",
    f'<a href="http://{EVIL}/a">a</a>',
    f"&lt;img src=http://{EVIL}/entity&gt;",
    "`code` ``` ```` *star* _under_ **bold**",
    f"<http://{EVIL}/auto> http://{EVIL}/bare www.{EVIL} someone@{EVIL}",
    f"[ref]: http://{EVIL}/ref",
    "![r][ref]",
    f"$![m](http://{EVIL}/in-math)$ \\[ ![d](http://{EVIL}/in-display) \\]",
    f"\\\\[x](http://{EVIL}/after-backslashes)",
    f"<svg><image href=http://{EVIL}/svg /></svg>",
    f"```mermaid\ngraph TD; A[<img src=http://{EVIL}/mermaid>]\n```",
]
#: one value holding every attack, over several lines
HOSTILE = "\n".join(PARTS)
#: the same on one line (a field that is one line in practice: an answer, a method)
HOSTILE_LINE = " ".join(PARTS).replace("\n", " ")


def hostile_events(
    run_id: str = "hostile-run", *, level: str = "warning", finished: bool = True
) -> list[ev.Event]:
    """A small finished run (root, a code step, an answer) with hostile content everywhere
    a value is free text. ``level``: a note's level (a closed word list, checked when the event
    is created, so it cannot carry content)."""
    h, line = HOSTILE, HOSTILE_LINE
    log = EventLog(clock=iter(range(1000)).__next__)
    log.emit(
        ev.RunStarted,
        run_id=run_id,
        algorithm=line,
        problem=h,
        config={line: line},
        engine={"name": line, "model": line},
        reward=line,
    )
    log.emit(ev.NodeAdded, id=0, parent=None, kind="root", text=h)
    log.emit(ev.NodeAdded, id=1, parent=0, kind="step", text=h, code=h, tokens=5, meta={line: line})
    log.emit(ev.NodeVerified, id=1, status="ok", method=line, output=h, ms=3.0, detail={line: line})
    log.emit(ev.NodeScored, id=1, score=0.5, source=line, detail={line: line})
    log.emit(
        ev.NodeSelected,
        iteration=1,
        path=[0, 1],
        children=[[{"id": 1, "n": 0, "q": 0.0, "q_term": 0.0, "u_term": 0.0, "score": 0.0}]],
    )
    log.emit(ev.NodeAdded, id=2, parent=1, kind="answer", text=h, tokens=3, terminal=True)
    log.emit(ev.NodeVerified, id=2, status="answered", method=line, output=h, answer=line)
    log.emit(ev.NodeScored, id=2, score=0.8, source="ppm")
    log.emit(
        ev.Backprop, iteration=1, path=[0, 1, 2], reward=1.0, updated=[[2, 1, 1.0], [1, 1, 1.0], [0, 1, 1.0]]
    )
    log.emit(ev.IterationDone, iteration=1, best_answer=line, votes={line: 1.0}, tokens=8)
    log.emit(ev.Note, level=level, message=h, node=1)
    if finished:
        log.emit(
            ev.RunFinished,
            status="error",
            answer=line,
            best_path=[0, 1, 2],
            reference=line,
            correct=False,
            error=h,
        )
    return log.events
