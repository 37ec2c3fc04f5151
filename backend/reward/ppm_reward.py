"""The ``ppm`` reward: the run's process preference model values each terminal in context.

tanh(value / 5) ∈ (−1, 1) is backed up to the root (rStar-Math's inference mode, official
``agents/mcts.py: select_next_step``). The MCTS core takes the value from the same batched
PPM call that values the expansion's other new steps (``mcts.py: _value_steps``), so this
object mostly names the reward; :meth:`PPMReward.score` serves searches that score terminals
on their own. The PPM itself comes from ``RunSpec.ppm`` through ``backend/runspec.py``
(``step_scorer.py`` loads it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class PPMReward:
    """A PPM's value of each terminal answer in context (problem + path)."""

    name = "ppm"
    needs_reference = False
    reads_steps = True  # the search passes each terminal in context (problem + path)

    def __init__(self, scorer: Any) -> None:
        if scorer is None:
            raise ValueError(
                "reward 'ppm' needs a process preference model: run with --ppm default (the shipped "
                "one, embedded model) or --ppm DIR (`canopy build-ppm`, `canopy train-ppm`); "
                "or use --reward vote"
            )
        self.scorer = scorer

    def score(self, answers: Sequence[str], texts: Sequence[str] | None = None) -> list[float]:
        if texts is None or len(texts) != len(answers):
            raise ValueError("the ppm reward scores steps in context: this search does not give them")
        return list(self.scorer.score_steps(list(texts)))
