"""The text a process preference model scores: one definition for training pairs
(``backend/train/ppm_pairs.py``) and for the search's ``ppm`` reward (``mcts.py``), so a PPM
is asked about exactly the kind of text it was trained on. No torch here: the core imports it."""

from __future__ import annotations

from collections.abc import Iterable


def step_input(text: str, code: str | None) -> str:
    """A step as the PPM reads it: its text, plus its code when the text does not hold it."""
    return text + code if code and code not in text else text


def ppm_input(problem: str, steps: Iterable[str]) -> str:
    """The problem, a newline, then the steps so far (the last one is the step being judged)."""
    return problem + "\n" + "".join(steps)
