"""Rewards for terminal answers, and the final-answer choice that goes with each.

Every run states its reward (``RunStarted.reward``) because it changes what a tree means:

- ``vote`` (default): agreement with the other terminal answers found so far
  (``backend/reward/vote.py`` has the formula). Needs no ground truth.
- ``truth``: +1 / −1 against the known answer: rStar-Math's terminal-guided data-generation
  rounds (official ``agents/mcts.py: eval_final_answer`` with ``is_sampling``). A training-data
  mode: the known answer steers the search, so its accuracy is not an evaluation.
- ``ppm``: a trained process preference model (``canopy train-ppm``) scores each terminal
  step in context, tanh(value / 5) ∈ (−1, 1), and that value is backed up (rStar-Math's
  inference mode, official ``agents/mcts.py``). Needs no ground truth.

The gold answer reaches a search only inside a :class:`TruthReward`, built by
:func:`make_reward` when ``truth`` is asked for; no search takes a reference otherwise.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from backend.reward.vote import AnswerTally, VoteReward

REWARDS = ("vote", "truth", "ppm")
DEFAULT_REWARD = "vote"


class Reward(Protocol):
    name: str
    #: True when the reward reads a known answer (then its runs are training-data runs)
    needs_reference: bool

    def score(self, answers: Sequence[str], texts: Sequence[str] | None = None) -> list[float]:
        """Values for a batch of new valid terminal answers, in order (state may grow);
        ``texts`` are the terminals in context (problem + path), for rewards that read steps."""
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

    def score(self, answers: Sequence[str], texts: Sequence[str] | None = None) -> list[float]:
        return [1.0 if self._equal(a, self._reference) else -1.0 for a in answers]


class PPMReward:
    """A trained PPM's score of each terminal in context (``backend/reward/ppm.py``). The model
    loads on first use and stays loaded per directory (a web app's runs share it)."""

    name = "ppm"
    needs_reference = False
    reads_steps = True  # the search passes each terminal in context (problem + path)

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def score(self, answers: Sequence[str], texts: Sequence[str] | None = None) -> list[float]:
        if texts is None or len(texts) != len(answers):
            raise ValueError("the ppm reward scores steps in context: this search does not give them")
        from backend.reward.ppm import score

        model, tokenizer = _load_ppm(str(self.directory))
        return score(model, tokenizer, list(texts))


@functools.lru_cache(maxsize=2)
def _load_ppm(directory: str) -> tuple[Any, Any]:
    from backend.reward.ppm import load_ppm

    return load_ppm(directory)


def default_ppm_dir() -> Path:
    """Where ``canopy train-ppm`` saves and ``--reward ppm`` looks: ``$CANOPY_PPM``, else
    ``ppm`` in Canopy's cache (``$CANOPY_CACHE``, default ``~/.cache/canopy``)."""
    from backend.engines.embedded import cache_dir

    env = os.environ.get("CANOPY_PPM")
    return Path(env).expanduser() if env else cache_dir() / "ppm"


def find_ppm(directory: str | Path | None = None) -> Path:
    """The PPM directory to use, or a ValueError that says how to get one."""
    from backend.reward.ppm import HEAD_FILE, MARKER

    where = Path(directory).expanduser() if directory else default_ppm_dir()
    if not (where / MARKER).is_file() or not (where / HEAD_FILE).is_file():
        raise ValueError(
            f"reward 'ppm' needs a trained process preference model and {where} holds none: train one "
            "with `canopy pairs --kind ppm` + `canopy train-ppm` (it saves there by default), or give "
            "--ppm DIR / set CANOPY_PPM; or use --reward vote"
        )
    return where


def make_reward(name: str, reference: str | None = None, *, ppm: str | Path | None = None) -> Reward:
    """Build a run's reward; only ``truth`` ever sees ``reference``; ``ppm`` is the PPM
    directory for the ``ppm`` reward (default: ``default_ppm_dir()``)."""
    if name == "vote":
        return VoteReward()
    if name == "truth":
        if reference is None:
            raise ValueError("--reward truth needs the known answer: give it with --answer")
        return TruthReward(reference)
    if name == "ppm":
        return PPMReward(find_ppm(ppm))
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
