"""The vote reward's formula, its grouping of equivalent answers, and the answer choice."""

from __future__ import annotations

import pytest

from backend.reward import Candidate, TruthReward, choose_answer, make_reward
from backend.reward.vote import AnswerTally, VoteReward, vote_value


def test_formula():
    assert vote_value(1, 1) == 0.0
    assert vote_value(2, 2) == 0.5
    assert vote_value(1, 2) == -0.5
    assert vote_value(3, 4) == pytest.approx(0.25)
    with pytest.raises(ValueError):
        vote_value(0, 3)


def test_batch_counts_siblings_for_each_other():
    r = VoteReward()
    assert r.score(["4"]) == [0.0]
    # total 3: "4" twice (4 - 3 - 1)/3 = 0, "5" once (2 - 3 - 1)/3 = -2/3
    assert r.score(["4.0", "5"]) == [0.0, pytest.approx(-2 / 3)]


def test_equivalent_answers_share_a_group():
    t = AnswerTally()
    assert t.add("0.5") == t.add("\\frac{1}{2}") == t.add("1/2")
    assert t.add("$18.00") == t.add("18")
    assert t.votes() == {"0.5": 3.0, "18": 2.0}


def test_make_reward():
    assert make_reward("vote").name == "vote"
    with pytest.raises(ValueError, match="needs the known answer"):
        make_reward("truth")
    assert make_reward("truth", "3").score(["3", "4"]) == [1.0, -1.0]
    with pytest.raises(ValueError, match="needs a process preference model"):
        make_reward("ppm")
    with pytest.raises(ValueError, match="unknown reward"):
        make_reward("oracle")
    with pytest.raises(ValueError):
        TruthReward("  ")


def test_choose_answer_by_vote_then_q_and_by_max_q():
    cands = [Candidate(1, "7", 0.9, 1), Candidate(2, "5", 0.1, 1), Candidate(3, "5.0", 0.3, 1)]
    best, votes = choose_answer(cands, "vote")
    assert best.node == 3 and votes == {"5": 2.0, "7": 1.0}
    best, _ = choose_answer(cands, "max_q")
    assert best.node == 1
    tie = [Candidate(1, "7", 0.2, 1), Candidate(2, "5", 0.4, 1)]
    assert choose_answer(tie, "vote")[0].node == 2
    assert choose_answer([], "vote") == (None, {})
