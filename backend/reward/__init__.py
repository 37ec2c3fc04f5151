"""Rewards for terminal answers, and the final-answer choice that goes with each.

Every run states its reward (``RunStarted.reward``) because it changes what a tree means:

- ``vote`` (default, ``vote.py``): agreement with the other terminal answers found so far.
  Needs no ground truth.
- ``truth`` (``truth.py``): +1 / −1 against the known answer, rStar-Math's data-generation
  rounds. A training-data mode: the known answer steers the search.
- ``ppm`` (``ppm_reward.py``; the PPM is ``step_scorer.py``): the run's process preference
  model values each terminal step in context. Needs no ground truth.
- ``auto`` (a run spec's default, resolved by ``backend/runspec.py``): ``ppm`` when the run
  has a PPM, else ``vote``.

The gold answer reaches a search only inside a ``TruthReward``, and ``backend/runspec.py:
build_search`` is the one place that decides to build one (only for ``reward == "truth"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from backend.reward.choice import Candidate, choose_answer
from backend.reward.ppm_reward import PPMReward
from backend.reward.truth import TruthReward
from backend.reward.vote import VoteReward

REWARDS = ("vote", "truth", "ppm")
#: a run spec's default: ``ppm`` with a PPM, else ``vote`` (``backend/runspec.py: reward_name``)
AUTO_REWARD = "auto"
DEFAULT_REWARD = AUTO_REWARD


class Reward(Protocol):
    name: str
    #: True when the reward reads a known answer (then its runs are training-data runs)
    needs_reference: bool

    def score(self, answers: Sequence[str], texts: Sequence[str] | None = None) -> list[float]:
        """Values for a batch of new valid terminal answers, in order (state may grow);
        ``texts`` are the terminals in context (problem + path), for rewards that read steps."""
        ...


def make_reward(name: str, reference: str | None = None, *, scorer: Any = None) -> Reward:
    """Build a run's reward; only ``truth`` ever sees ``reference``; ``scorer`` is the run's
    PPM (``step_scorer.py``) for the ``ppm`` reward."""
    if name == "vote":
        return VoteReward()
    if name == "truth":
        if reference is None:
            raise ValueError("--reward truth needs the known answer: give it with --answer")
        return TruthReward(reference)
    if name == "ppm":
        return PPMReward(scorer)
    raise ValueError(f"unknown reward '{name}'; choices: {', '.join(REWARDS)}")


__all__ = [
    "AUTO_REWARD",
    "DEFAULT_REWARD",
    "REWARDS",
    "Candidate",
    "PPMReward",
    "Reward",
    "TruthReward",
    "VoteReward",
    "choose_answer",
    "make_reward",
]
