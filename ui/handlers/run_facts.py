"""What every screen asks of a run: its known answer and grader, its length, the tree
at a replay position."""

from __future__ import annotations

from typing import Any

from backend.tree import Tree
from backend.verify.answers import answer_grader
from ui.services import Services


def known_answer(services: Services, run_id: str, tree: Tree) -> str | None:
    """The run's known answer: graded at its end (``run_finished.reference``), held by the
    live Run before that (the search never sees it unless the reward is truth), or in the
    spec (a truth run). None when the run has none."""
    if tree.finished is not None and tree.finished.reference:
        return tree.finished.reference
    run = services.runs.get(run_id)
    if run is not None and run.reference:
        return run.reference
    spec = (tree.started.spec if tree.started else None) or {}
    return spec.get("reference") or None


def replay_view(services: Services, run_id: str, upto: int, fn: Any) -> Any:
    """``fn(tree)`` for the run's tree after event ``upto`` (see ``ui.services.ReplayCache``)."""
    return services.replays.view(run_id, upto, fn)


def event_at(services: Services, run_id: str, upto: int) -> Any:
    """The run's event number ``upto`` (None past its end)."""
    events = services.runs.events(run_id, after=upto - 1, limit=1)
    return events[0] if events else None


def run_grader(services: Services, run_id: str) -> Any:
    """The grader of the whole run's known answer (a replay's prefix may not have reached
    ``run_finished``, where a non-truth run's known answer is written)."""
    return answer_grader(services.trees.view(run_id, lambda t: known_answer(services, run_id, t)))


def run_length(services: Services, run_id: str) -> int:
    """Number of events in a run (the replay slider's range)."""
    return len(services.runs.events(run_id))
