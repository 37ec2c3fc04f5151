"""Small hand-made event streams for tests (a tree a person can check by eye)."""

from __future__ import annotations

from backend import events as ev
from backend.events import EventLog


def small_run() -> list[ev.Event]:
    """A root with two steps; step 1 has an answer child. Q/N hand-written."""
    log = EventLog(clock=iter(range(1000)).__next__)
    log.emit(ev.RunStarted, run_id="r1", algorithm="rstar", problem="1+1?", config={"c": 2}, reward="vote")
    log.emit(ev.NodeAdded, id=0, parent=None, kind="root", text="1+1?")
    log.emit(ev.NodeAdded, id=1, parent=0, kind="step", text="# Step 1: add", code="x = 1 + 1", tokens=5)
    log.emit(ev.NodeAdded, id=2, parent=0, kind="step", text="# Step 1: guess", code="x = 3", tokens=4)
    log.emit(ev.NodeVerified, id=1, status="ok", method="python", output="", ms=3.0)
    log.emit(ev.NodeVerified, id=2, status="error", method="python", output="NameError", ms=2.0)
    log.emit(
        ev.NodeSelected,
        iteration=1,
        path=[0, 1],
        children=[[{"id": 1, "n": 0, "q": 0.0, "q_term": 0.0, "u_term": 0.0, "score": 0.0}]],
    )
    log.emit(ev.NodeAdded, id=3, parent=1, kind="answer", text="print(x)", tokens=3, terminal=True)
    log.emit(ev.NodeVerified, id=3, status="answered", method="python", output="2", answer="2")
    log.emit(ev.NodeScored, id=3, score=0.8, source="ppm")
    log.emit(
        ev.Backprop, iteration=1, path=[0, 1, 3], reward=1.0, updated=[[3, 1, 1.0], [1, 1, 1.0], [0, 1, 1.0]]
    )
    log.emit(ev.IterationDone, iteration=1, best_answer="2", votes={"2": 1.0}, tokens=12)
    log.emit(ev.RunFinished, status="solved", answer="2", best_path=[0, 1, 3], reference="2", correct=True)
    return log.events


class RulePPM:
    """A test's process preference model (a fixture, never shipped): a text's value is the
    value of the first rule whose needle occurs anywhere in it (the problem and the whole
    path, so order rules from the deepest step's needle up), else ``default``. Records each
    call's texts so a test can check one batched call per expansion."""

    name = "ppm"

    def __init__(self, rules: dict[str, float] | None = None, default: float = 0.0) -> None:
        self.rules = dict(rules or {})
        self.default = default
        self.calls: list[list[str]] = []

    def score_steps(self, texts):
        self.calls.append(list(texts))
        return [self._value(t) for t in texts]

    def _value(self, text: str) -> float:
        for needle, value in self.rules.items():
            if needle in text:
                return value
        return self.default
