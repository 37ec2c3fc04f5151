"""Human steering of a search, recorded so that a run can be reproduced.

A person steers a live search between iterations (``backend/run.py`` queues the requests and
its worker applies them): ``prune`` a subtree, ``expand`` a node now, ``force`` the next
rollout through a node, ``add_step`` (a typed step, run and verified like a generated one).
Each request is an event in the run's stream (``user_action``, or ``user_step`` with the
text and code) written by :func:`apply`, the one code path of the live Run and of
:func:`replay`: a run's ``RunSpec`` plus its recorded steering (:func:`recorded_steering`,
each request with the number of iterations finished before it) runs the same search again.

A fork (``RunSpec.prefix``) starts a new run with a path of an old one: the kept steps are
added under the root before the search begins (``MCTSSearch._start``), read by the
algorithm's own step reader (:func:`user_completion`), so their code runs again.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from backend import events as ev
from backend.engines.base import Completion
from backend.search.prompts import inert_markup

#: requests that change the search (pause/resume/step are controls: they change only timing)
STEERING = frozenset({"prune", "expand", "force", "add_step"})
#: recorded with steering because a replay must end where the run ended
REPLAYED = STEERING | {"stop"}
#: rStar-Math's end of a program (its output is the answer); other formats end steps otherwise
_CODE_END = "<end_of_code>"


@dataclass(frozen=True)
class Steer:
    """One steering request: ``action`` on ``node``, after ``at`` finished iterations."""

    action: str
    node: int | None = None
    text: str = ""
    code: str | None = None
    at: int = 0


def user_completion(text: str, code: str | None, stops: Sequence[str]) -> Completion:
    """A person's step as the completion a model would have written, for the policy's own
    step reader. A text that already ends with one of the format's stop strings is taken
    verbatim (a fork keeps generated steps so); otherwise the text becomes comment lines
    above the code, ended by the format's step end (or, for code that prints, the end of
    the program)."""
    text = inert_markup(text or "")
    code = inert_markup(code) if code else code
    for stop in stops:
        if stop and text.endswith(stop):
            return Completion(text[: -len(stop)], 0, None, "stop", stop)
    first = stops[0] if stops else None
    if code and code.strip():
        comments = "".join(f"# {line}\n" for line in text.strip().splitlines())
        stop = _CODE_END if "print(" in code and _CODE_END in stops else first
        return Completion("\n" + comments + code.strip("\n") + "\n", 0, None, "stop", stop)
    return Completion(text, 0, None, "stop", first)


def apply(search: Any, steer: Steer) -> None:
    """Record one request in the search's event stream, then hand it to the search."""
    if steer.action not in REPLAYED:
        raise ValueError(f"unknown steering action {steer.action!r}; choices: {', '.join(sorted(REPLAYED))}")
    if steer.action == "add_step":
        search.log.emit(ev.UserStep, node=steer.node, text=steer.text, code=steer.code)
    else:
        search.log.emit(ev.UserAction, action=steer.action, node=steer.node)
    if steer.action == "stop":
        search.request_stop()
        return
    fn = getattr(search, "steer", None)
    if not callable(fn):
        search.log.emit(ev.Note, level="warning", message=f"{steer.action}: this search cannot be steered")
    elif steer.action == "add_step":
        fn(steer.action, steer.node, text=steer.text, code=steer.code)
    else:
        fn(steer.action, steer.node)


def recorded_steering(events: Iterable[ev.Event]) -> list[Steer]:
    """A run's steering requests (and a user's stop) in order, each with the number of
    iterations that had finished before it."""
    done, out = 0, []
    for e in events:
        if isinstance(e, ev.IterationDone):
            done += 1
        elif isinstance(e, ev.UserStep):
            out.append(Steer("add_step", e.node, e.text, e.code, at=done))
        elif isinstance(e, ev.UserAction) and e.action in REPLAYED:
            out.append(Steer(e.action, e.node, at=done))
    return out


def replay(
    spec: Any, engine: Any, steering: Sequence[Steer], run_id: str | None = None, **options: Any
) -> Any:
    """Run ``spec`` again with ``steering`` applied at the same iteration boundaries; returns
    the finished search (its ``log`` holds the events). ``options`` go to ``build_search``."""
    from backend.runspec import build_search

    search = build_search(spec, engine, run_id, **options)
    search.start()
    todo = deque(sorted(steering, key=lambda s: s.at))
    done = 0
    seen = len(search.log) - 1
    while True:
        for e in search.log.after(seen):
            done += isinstance(e, ev.IterationDone)
        seen = len(search.log) - 1
        while todo and todo[0].at <= done:
            apply(search, todo.popleft())
        if search.done:
            break
        search.step()
    search.finish()
    return search


def fork_spec(tree: Any, node_id: int, **changes: Any) -> Any:
    """The RunSpec of a fork of ``tree``'s run at ``node_id``: the run's own spec with the path
    from the root to the node kept (``prefix``: each step's text and code), the source run as
    ``parent``, and ``changes`` (another seed, other settings) on top."""
    from backend.runspec import runspec_from_started

    if tree.started is None or node_id not in tree.nodes:
        raise ValueError(f"no node {node_id} in this run")
    path = tree.path_to(node_id)[1:]
    prefix = [{"text": tree.nodes[i].text, "code": tree.nodes[i].code} for i in path]
    spec = runspec_from_started(tree.started)
    return spec.fork(parent=tree.started.run_id, prefix=prefix, **changes)
