"""The History screen: the run list, replay at an event, its caption, and the PPM
diagnostics over past runs."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from backend.tree import Tree
from ui.escape import md_esc, md_esc_code
from ui.figure import convergence_figure, tree_figure
from ui.handlers.run_facts import event_at, replay_view, run_grader
from ui.handlers.runs import finished_state
from ui.handlers.screens import Snapshot, proof_events
from ui.inspector import answer_panel, stats_panel
from ui.services import Services
from ui.words import count

log = logging.getLogger(__name__)


HISTORY_HEADERS = [
    "id", "created", "algorithm", "status", "answer", "correct", "nodes", "time s", "model", "problem",
]  # fmt: skip


def short(text: str, most: int) -> str:
    """``text`` cut to ``most`` characters, an ellipsis saying so."""
    return text if len(text) <= most else text[: most - 1] + "…"


def history_rows(services: Services, text: str = "", algorithm: str = "", status: str = "") -> list[list]:
    rows = []
    for r in services.store.list_runs(text=text.strip(), algorithm=algorithm or "", status=status or ""):
        problem = " ".join(r.problem.split())
        rows.append(
            [
                r.id,
                time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created)),
                r.algorithm,
                # a graded wrong answer is "answered", never "solved" beside correct "no"
                "answered" if r.status == "solved" and r.correct is False else r.status,
                r.answer or "",
                {True: "yes", False: "no", None: ""}[r.correct],
                r.nodes,
                round(r.wall_s, 1),
                short(r.model.replace("\\", "/").rsplit("/", 1)[-1], 24),  # a GGUF path: its file name
                short(problem, 160),
            ]
        )
    return rows


def _ids(ids: Sequence[Any]) -> str:
    return " → ".join(f"#{md_esc(i)}" for i in ids)


def _first(text: str, width: int = 80) -> str:
    line = next((ln.strip() for ln in (text or "").splitlines() if ln.strip()), "")
    return md_esc(line if len(line) <= width else line[: width - 1] + "…")


def _what_happened(e: Any) -> str:
    """One event in words (the replay caption), escaped for Markdown."""
    from backend import events as ev

    if isinstance(e, ev.RunStarted):
        return f"run started: {md_esc(e.algorithm)}, reward {md_esc(e.reward or '?')}"
    if isinstance(e, ev.NodeAdded):
        under = "as the root" if e.parent is None else f"under #{md_esc(e.parent)}"
        return f"node #{md_esc(e.id)} ({md_esc(e.kind)}) added {under}: {_first(e.text or e.code or '')}"
    if isinstance(e, ev.NodeVerified):
        said = f", answer {md_esc(e.answer)}" if e.answer is not None else ""
        return f"node #{md_esc(e.id)} checked: {md_esc(e.status)} by {md_esc(e.method)}{said}"
    if isinstance(e, ev.NodeScored):
        return f"node #{md_esc(e.id)} scored {e.score:.3f} by {md_esc(e.source)}"
    if isinstance(e, ev.NodeSelected):
        return f"selection walked {_ids(e.path)} (the dashed purple line)"
    if isinstance(e, ev.Backprop):
        return (
            f"backpropagation updated N and Q of {count(len(e.updated), 'node')} "
            f"({_ids([r[0] for r in e.updated])})"
        )
    if isinstance(e, ev.IterationDone):
        votes = ", ".join(f"{md_esc(a)}: {v:g}" for a, v in list(e.votes.items())[:4])
        best = md_esc(e.best_answer) if e.best_answer is not None else "none yet"
        return f"iteration {md_esc(e.iteration)} done: best answer {best}" + (
            f" (votes {votes})" if votes else ""
        )
    if isinstance(e, ev.UserAction):
        on = f" on #{md_esc(e.node)}" if e.node is not None else ""
        return f"the user pressed {md_esc(e.action)}{on}"
    if isinstance(e, ev.UserStep):  # steering (issue 16): the step follows as its own node
        return f"the user added a step under #{md_esc(e.node)}: {_first(e.text or e.code or '')}"
    if isinstance(e, ev.Note):
        return f"{md_esc(e.level)}: {md_esc_code(e.message)}"
    if isinstance(e, ev.RunFinished):
        return finished_state(e)
    return md_esc(e.type)


def event_caption(services: Services, run_id: str, upto: int) -> str:
    """The replay caption: which event this is, when, and what it did, in words."""
    e = event_at(services, run_id, upto)
    if e is None:
        return ""
    return f"event {e.seq} at {e.t:.2f} s · **{md_esc(e.type)}**: {_what_happened(e)}"


def replay(services: Services, run_id: str, upto: int) -> Snapshot:
    from backend import events as ev

    grade = run_grader(services, run_id)
    e = event_at(services, run_id, upto)
    path = list(e.path) if isinstance(e, ev.NodeSelected) else None

    def draw(tree: Tree) -> Snapshot:
        return Snapshot(
            tree=tree_figure(tree, fresh_after=upto - 1, grade=grade, path=path),
            convergence=convergence_figure(tree),
            stats=stats_panel(tree),
            answer=answer_panel(tree, proof_events(services, run_id, tree)),
            status=event_caption(services, run_id, upto),
            rev=tree.last_seq,
        )

    return replay_view(services, run_id, upto, draw)


#: how many of the newest runs in the history the PPM diagnostics read
PPM_HISTORY_RUNS = 200


def ppm_history(services: Services, limit: int = PPM_HISTORY_RUNS) -> tuple[list[Tree], int]:
    """(the folded trees of the history's PPM-scored runs, how many rStar-type runs were
    read) among the ``limit`` newest runs; runs of algorithms without a PPM are not read,
    and a run that does not fold (damaged) is skipped."""
    from backend.events import EventError
    from backend.ppm_diagnostics import scored_nodes
    from backend.runspec import uses_ppm

    takes: dict[str, bool] = {}
    trees, scanned = [], 0
    for rec in services.store.list_runs(limit=limit):
        if rec.algorithm not in takes:
            try:
                takes[rec.algorithm] = uses_ppm(rec.algorithm)
            except ValueError:
                takes[rec.algorithm] = False
        if not takes[rec.algorithm]:
            continue
        scanned += 1
        try:
            tree = Tree.from_events(services.runs.events(rec.id))
        except (EventError, ValueError) as exc:
            log.warning("PPM diagnostics skip run %s: %s", rec.id, exc)
            continue
        if scored_nodes(tree):
            trees.append(tree)
    return trees, scanned


def ppm_history_panel(services: Services) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(summary, calibration chart, length-bias chart) over the history's PPM-scored runs."""
    from backend.ppm_diagnostics import calibration, length_bias
    from ui.diagnostics import calibration_figure, history_summary, length_figure

    trees, scanned = ppm_history(services)
    cal, lb = calibration(trees), length_bias(trees)
    return history_summary(cal, lb, len(trees), scanned), calibration_figure(cal), length_figure(lb)
