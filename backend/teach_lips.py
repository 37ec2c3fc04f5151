"""Teacher mode for LIPS (``backend/teach.py`` has the MCTS lesson): LIPS is best-first over a
goal queue, with no selection scores, so each iteration is told as the LLM's **rank** of the
queue's best goals, the goal **pop**ped, the goals its **tactics** made and what the **filter**
(the checks) said of them, from the events of that iteration.
"""

from __future__ import annotations

from collections.abc import Sequence

from backend import events as ev
from backend.teach import Phase


def lips_lesson(events: Sequence[ev.Event]) -> list[Phase]:
    """Per iteration: the LLM's ranking of the queue, the goal popped, the goals its tactics
    made, and what the filter kept."""
    phases: list[Phase] = []
    group: list[ev.Event] = []
    iteration = 0
    for e in events[1:]:
        if isinstance(e, ev.IterationDone):
            phases += _lips_iteration(group, iteration)
            group, iteration = [], e.iteration + 1
        elif isinstance(e, ev.NodeAdded | ev.NodeVerified | ev.NodeScored):
            group.append(e)
    return phases


def _lips_iteration(group: list[ev.Event], iteration: int) -> list[Phase]:
    out: list[Phase] = []
    ranked = [e for e in group if isinstance(e, ev.NodeScored) and e.source == "llm_rank"]
    added = [e for e in group if isinstance(e, ev.NodeAdded) and e.parent is not None]
    checked = [e for e in group if isinstance(e, ev.NodeVerified)]
    if ranked:
        order = sorted(ranked, key=lambda e: e.score)
        out.append(
            Phase(
                "rank",
                iteration,
                ranked[0].seq,
                ranked[-1].seq,
                [
                    "The model ranks the best goals in the queue: "
                    + ", ".join(f"#{e.id}" for e in order)
                    + "."
                ],
                [],
                [e.id for e in order],
            )
        )
    popped = next((e.id for e in ranked if e.detail.get("popped")), None)
    if popped is None and added:
        popped = added[0].parent
    if popped is None and checked:
        popped = checked[0].id
    if popped is not None:
        seq = (ranked[-1].seq if ranked else group[0].seq) if group else 0
        out.append(
            Phase(
                "pop",
                iteration,
                seq,
                seq,
                [f"Goal #{popped} is taken off the queue to be worked on."],
                [],
                [popped],
            )
        )
    if added:
        out.append(
            Phase(
                "tactics",
                iteration,
                added[0].seq,
                added[-1].seq,
                [
                    f"Tactics rewrite #{popped} into {len(added)} new goal(s): "
                    + ", ".join(f"#{e.id}" for e in added)
                    + "."
                ],
                [],
                [e.id for e in added],
            )
        )
    if checked:
        out.append(
            Phase(
                "filter",
                iteration,
                checked[0].seq,
                checked[-1].seq,
                [f"#{e.id}: {e.status} by {e.method}." for e in checked],
                [],
                [e.id for e in checked],
            )
        )
    return out
