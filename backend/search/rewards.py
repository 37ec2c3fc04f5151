"""Rewards for terminal answers, and the final-answer choice that goes with each.

Every run states its reward (``RunStarted.reward``) because it changes what a tree means:

- ``vote`` (default): agreement with the other terminal answers found so far
  (``backend/reward/vote.py`` has the formula). Needs no ground truth.
- ``truth``: +1 / −1 against the known answer: rStar-Math's terminal-guided data-generation
  rounds (official ``agents/mcts.py: eval_final_answer`` with ``is_sampling``). A training-data
  mode: the known answer steers the search, so its accuracy is not an evaluation.
- ``ppm``: the process preference model; reserved for the PPM issue.

The gold answer reaches a search only inside a :class:`TruthReward`, built by
:func:`make_reward` when ``truth`` is asked for; no search takes a reference otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from backend.reward.vote import AnswerTally, VoteReward

REWARDS = ("vote", "truth", "ppm")
DEFAULT_REWARD = "vote"


class Reward(Protocol):
    name: str
    #: True when the reward reads a known answer (then its runs are training-data runs)
    needs_reference: bool

    def score(self, answers: Sequence[str]) -> list[float]:
        """Values for a batch of new valid terminal answers, in order (state may grow)."""
        ...


class TruthReward:
    """+1 for an answer equal to the known one, −1 otherwise (official positive/negative_reward)."""

    name = "truth"
    needs_reference = True

    def __init__(self, reference: str, equal: Callable[[str, str], bool] | None = None) -> None:
        if not str(reference).strip():
            raise ValueError("the truth reward needs a known answer (give --answer)")
        if equal is None:
            from backend.verify.answers import answers_equal as equal
        self._reference = str(reference)
        self._equal = equal

    def score(self, answers: Sequence[str]) -> list[float]:
        return [1.0 if self._equal(a, self._reference) else -1.0 for a in answers]


def make_reward(name: str, reference: str | None = None) -> Reward:
    """Build a run's reward; only ``truth`` ever sees ``reference``."""
    if name == "vote":
        return VoteReward()
    if name == "truth":
        if reference is None:
            raise ValueError("--reward truth needs the known answer: give it with --answer")
        return TruthReward(reference)
    if name == "ppm":
        raise ValueError(
            "reward 'ppm' is not available yet: Canopy has no trained process preference model "
            "(the PPM issue adds it); use --reward vote"
        )
    raise ValueError(f"unknown reward '{name}'; choices: {', '.join(REWARDS)}")


@dataclass(frozen=True)
class Candidate:
    """A valid terminal answer of a finished tree, as the answer choice sees it."""

    node: int
    answer: str
    q: float
    n: int


def choose_answer(cands: Sequence[Candidate], how: str) -> tuple[Candidate | None, dict[str, float]]:
    """The run's final answer and the votes per answer key.

    ``vote``: the answer group with the most terminals (each terminal was visited once, so
    this equals the visit-weighted vote); ties go to the group with the higher best Q, then
    to the first found. Within the group, the highest-Q terminal gives the best path.
    ``max_q``: the highest-Q terminal, as the official ``eval_output.py`` does.
    """
    tally = AnswerTally()
    groups = [tally.add(c.answer) for c in cands]
    votes = tally.votes()
    if not cands:
        return None, votes
    if how == "max_q":
        return max(cands, key=lambda c: (c.q, -c.node)), votes
    if how != "vote":
        raise ValueError(f"unknown answer choice '{how}'; choices: vote, max_q")
    best_q = {g: max(c.q for c, gg in zip(cands, groups, strict=True) if gg == g) for g in set(groups)}
    first = {g: groups.index(g) for g in set(groups)}
    winner = max(set(groups), key=lambda g: (tally.counts[g], best_q[g], -first[g]))
    members = [c for c, g in zip(cands, groups, strict=True) if g == winner]
    return max(members, key=lambda c: (c.q, -c.node)), votes
