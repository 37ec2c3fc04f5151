"""What the Solve screen draws: one snapshot of a run, the live stream of them, the
inspector for a clicked node."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from backend.ppm_diagnostics import disagreements, last_pick
from backend.tree import Tree
from backend.verify.answers import answer_grader
from ui.diagnostics import disagreement_panel
from ui.escape import md_esc
from ui.figure import FigureStream, convergence_figure, touched_by, tree_figure
from ui.handlers.run_facts import known_answer, replay_view, run_grader
from ui.handlers.runs import run_status
from ui.inspector import NodeView, answer_panel, node_view, stats_panel
from ui.services import Services

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Snapshot:
    """One stream update; a status-only one (the run's state changed, its tree did not) has
    None for every other panel: the page keeps what it shows."""

    tree: dict[str, Any] | None
    convergence: dict[str, Any] | None
    stats: str | None
    answer: str | None
    status: str
    rev: int
    #: the PPM diagnostics panel's disagreement list (Markdown)
    disagreements: str | None = ""


def snapshot(
    services: Services, run_id: str, fresh_after: int | None = None, figure: FigureStream | None = None
) -> Snapshot:
    """The screens' values for the run's current tree; with ``figure`` (one page's
    ``FigureStream``) the tree is a delta from what that page was sent last."""

    def draw(tree: Tree) -> Snapshot:
        found = disagreements(tree)  # listed in the panel and ringed in the tree: found once
        flags = [d.id for d in found]
        reference = known_answer(services, run_id, tree)
        if figure is None:
            fig = tree_figure(tree, fresh_after=fresh_after, flags=flags, grade=answer_grader(reference))
        else:
            if figure.grade is None and reference:  # a stream grades with one grader
                figure.grade = answer_grader(reference)
            touched = None
            if figure.run == run_id and figure.rev is not None:  # what changed since the last figure
                touched = touched_by(
                    e for e in services.runs.events(run_id, figure.rev) if e.seq <= tree.last_seq
                )
                from ui.steering import with_pruned_subtrees  # here: ui.steering imports this module

                touched = with_pruned_subtrees(tree, touched)  # a prune fades its whole subtree
            fig = figure.figure(tree, fresh_after=fresh_after, touched=touched, flags=flags)
        return Snapshot(
            tree=fig,
            convergence=convergence_figure(tree),
            stats=stats_panel(tree),
            answer=answer_panel(tree, proof_events(services, run_id, tree)),
            status=run_status(services, run_id, tree),
            rev=tree.last_seq,
            disagreements=disagreement_panel(tree, found),
        )

    return services.trees.view(run_id, draw)


def proof_events(services: Services, run_id: str, tree: Tree) -> list[Any] | None:
    """The events a LIPS proof is read from (``ui/stories.py: lips_answer``), once a goal of
    the tree is closed; None otherwise (no other panel needs them)."""
    if tree.started is None or tree.started.algorithm != "lips":
        return None
    if not any(n.status == "proved" for n in tree.nodes.values()):
        return None
    return services.runs.events(run_id, -1, tree.last_seq + 1)


#: how often a stream looks for news other than events (a resync, an ended watch) while it
#: may send; a live run's next event wakes it at once (the rate bound is
#: ``Services.update_every_s`` between two updates)
POLL_S = 0.05


def stream_run(
    services: Services, run_id: str | None, *, viewer: str | None = None, idle_limit_s: float = 3600.0
) -> Iterator[Snapshot]:
    """Snapshots of a run, at most one per ``update_every_s``, newest state wins, until it ends.

    Nothing is yielded while nothing changed (a paused run costs one cheap check per
    poll). The first snapshot is a whole figure with no "new" rings; later ones are
    deltas (``ui.figure.FigureStream``) that ring the nodes added since. A page that
    missed one asks for the whole figure again (``Services.request_resync``), which the
    next snapshot sends. ``viewer`` (a browser tab's session) has one stream at a time:
    starting another one for the same viewer (a new run in that tab) ends this one, so
    two runs never take turns drawing into one tree. The run itself goes on; History or
    its ``?run=`` URL shows it.
    """
    if not run_id:
        return
    ticket = services.watch(viewer) if viewer else 0
    try:
        yield from _stream(services, run_id, viewer, ticket, idle_limit_s)
    finally:
        if viewer:
            services.unwatch(viewer, ticket)


def _stream(
    services: Services, run_id: str, viewer: str | None, ticket: int, idle_limit_s: float
) -> Iterator[Snapshot]:
    figure = FigureStream()
    shown = -1
    shown_state: str | None = None  # the run's state the last snapshot's status line said
    idle_since = time.monotonic()
    period = services.update_every_s
    last_sent = -math.inf
    resends: list[float] = []  # when to say the live status again, once nothing else is sent
    while True:
        if viewer and not services.watching(viewer, ticket):
            return
        t = time.monotonic()
        wait = period - (t - last_sent)
        if wait > 0:  # the rate bound: newest state wins
            time.sleep(wait)
            continue
        resync = bool(viewer) and services.take_resync(viewer, ticket)
        if resync:
            figure.reset()
        last = services.trees.view(run_id, lambda tree: (tree.last_seq, tree.finished is not None))
        # a run's state can change with no event after it (pausing -> paused once the rollout
        # under way ends, stepping -> paused): the status line must say so too
        state = _live_state(services, run_id, finished=last[1])
        if last[0] == shown and not resync and state != shown_state:
            resends = _resend_times(t, was_live=shown_state is not None)
            shown_state = state  # the status line alone: no tree update (a page's deltas stay in step)
            yield Snapshot(None, None, None, None, run_status(services, run_id), shown, None)
        elif last[0] != shown or resync:
            snap = snapshot(services, run_id, fresh_after=shown if shown >= 0 else None, figure=figure)
            resends = _resend_times(t, was_live=shown_state is not None or state is not None)
            shown, shown_state = snap.rev, state
            idle_since = last_sent = t
            # drawing a big tree costs server time that the search (same process, same GIL)
            # needs too: never spend more than about half of the time drawing
            period = max(services.update_every_s, 2 * (time.monotonic() - t))
            yield snap
        elif resends and t >= resends[0]:
            resends.pop(0)  # the last word on the status line is the stream's (see STATUS_RESEND_S)
            yield Snapshot(None, None, None, None, run_status(services, run_id), shown, None)
        elif last[1] or services.runs.get(run_id) is None:
            # finished and fully shown, or nobody will ever add to it here; a resync asked
            # for meanwhile is still answered
            if not viewer or services.end_stream(viewer, ticket):
                return
        elif t - idle_since > idle_limit_s:
            return
        else:
            _wait_for_news(services, run_id, shown, min(POLL_S, period))


#: after an update of a live run, the stream says the status line again this many seconds
#: later (if nothing else was sent meanwhile): a Pause / Step / Stop click's own answer ("pausing")
#: is a separate request whose reply can reach the page after the stream's "paused", and would
#: otherwise stay on the page as the run's state
STATUS_RESEND_S = (1.0, 4.0)


def _resend_times(now: float, *, was_live: bool) -> list[float]:
    return [now + s for s in STATUS_RESEND_S] if was_live else []


def _live_state(services: Services, run_id: str, *, finished: bool) -> str | None:
    """The live run's state, as its status line words it; None once the tree has finished
    (the status then says how it ended, whatever the worker's last state)."""
    run = services.runs.get(run_id)
    return None if finished or run is None else run.state


def _wait_for_news(services: Services, run_id: str, shown: int, timeout: float) -> None:
    """Sleep up to ``timeout``, waking at once when a live run emits past ``shown``."""
    run = services.runs.get(run_id)
    if run is None:
        time.sleep(timeout)
    else:
        run.log.wait_after(shown, timeout)


def inspect(services: Services, run_id: str | None, node_id: Any, upto: int | None = None) -> NodeView:
    """The inspector for a clicked node, live or at replay position ``upto``."""
    if not run_id or node_id is None:
        return NodeView()
    try:
        nid = int(node_id)
    except (TypeError, ValueError):
        return NodeView(title=f"Not a node id: {md_esc(node_id)}")

    grade = run_grader(services, run_id)

    def view(tree: Tree) -> NodeView:
        # the events the tree was folded from: the last pick of the node, as of this tree
        events = services.runs.events(run_id, -1, tree.last_seq + 1)
        return node_view(tree, nid, last_pick(events, nid), grade, events)

    if upto is None:
        return services.trees.view(run_id, view)
    return replay_view(services, run_id, int(upto), view)
