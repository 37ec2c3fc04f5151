"""The ``truth`` reward: +1 / −1 against the known answer.

rStar-Math's terminal-guided data-generation rounds (official ``agents/mcts.py:
eval_final_answer`` with ``is_sampling``). A training-data mode: the known answer steers the
search, so its accuracy is not an evaluation. This object is the only way a known answer
reaches a search, and ``backend/runspec.py: build_search`` builds it only for ``truth`` runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence


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

    def score(self, answers: Sequence[str], texts: Sequence[str] | None = None) -> list[float]:
        return [1.0 if self._equal(a, self._reference) else -1.0 for a in answers]
