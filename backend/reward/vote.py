"""The ``vote`` reward: a terminal is as good as the other terminals agree with it.

Without ground truth and before a PPM exists, the only signal a search has about a final
answer is agreement: independent paths that reach the same answer are more likely right
(self-consistency, Wang et al. 2022, arXiv 2203.11171). rStar-Math's inference mode backs
up the PPM value of each terminal (official code, ``agents/mcts.py: select_next_step``);
Canopy's ``vote`` reward backs up this agreement score in its place.

Formula, for a terminal whose answer falls in a group of ``same`` equivalent answers among
``total`` valid terminal answers found so far (this one and its siblings included):

    reward = (agree - disagree) / total,   agree = same - 1,  disagree = total - same
           = 2 * same / total - 1 - 1 / total                          in (-1, 1)

i.e. ``2·share − 1`` shrunk by one pseudo-vote against, so the first answer found scores 0
(no evidence either way), a second agreeing answer 0.5, a second disagreeing one −0.5,
and k agreeing answers out of k approach +1. Answers are grouped by ``normalize_answer``
keys and merged with ``answers_equal`` (math-verify), so ``0.5`` and ``\\frac{1}{2}`` vote
together.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from backend.verify.answers import answers_equal, normalize_answer


@dataclass
class AnswerTally:
    """Groups of equivalent answers, in first-seen order, with counts."""

    equal: Callable[[str, str], bool] = answers_equal
    keys: list[str] = field(default_factory=list)  # display/vote key of each group
    reps: list[str] = field(default_factory=list)  # first raw answer of each group
    counts: list[int] = field(default_factory=list)
    _by_key: dict[str, int] = field(default_factory=dict)

    def group_of(self, answer: str) -> int | None:
        """The index of the group ``answer`` belongs to, or None if it is new."""
        key = normalize_answer(answer)
        if key in self._by_key:
            return self._by_key[key]
        for index, rep in enumerate(self.reps):
            if self.equal(rep, answer):
                self._by_key[key] = index
                return index
        return None

    def add(self, answer: str) -> int:
        index = self.group_of(answer)
        if index is None:
            index = len(self.reps)
            key = normalize_answer(answer)
            self.keys.append(key)
            self.reps.append(answer)
            self.counts.append(0)
            self._by_key[key] = index
        self.counts[index] += 1
        return index

    @property
    def total(self) -> int:
        return sum(self.counts)

    def key(self, index: int) -> str:
        return self.keys[index]

    def votes(self) -> dict[str, float]:
        """``{key: count}``, most votes first (ties: first seen)."""
        order = sorted(range(len(self.keys)), key=lambda i: (-self.counts[i], i))
        return {self.keys[i]: float(self.counts[i]) for i in order}


def vote_value(same: int, total: int) -> float:
    """The documented formula: ``(2·same − total − 1) / total``; 0 for the first answer."""
    if total <= 0 or not 1 <= same <= total:
        raise ValueError(f"need 1 <= same <= total, got same={same}, total={total}")
    return (2 * same - total - 1) / total


class VoteReward:
    """Per-run state: the tally of every valid terminal answer found so far."""

    name = "vote"
    needs_reference = False

    def __init__(self) -> None:
        self.tally = AnswerTally()

    def score(self, answers: Sequence[str], texts: Sequence[str] | None = None) -> list[float]:
        """Add a batch of new terminal answers (one expansion's), then score each.

        The whole batch joins the tally first, so siblings found together count for each
        other and the order inside one expansion does not matter.
        """
        groups = [self.tally.add(a) for a in answers]
        total = self.tally.total
        return [vote_value(self.tally.counts[g], total) for g in groups]
