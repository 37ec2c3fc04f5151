"""The final-answer choice of a finished tree: which terminal answers, and the votes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from backend.reward.vote import AnswerTally


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
