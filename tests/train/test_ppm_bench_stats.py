"""The clustered standard error that bench/ppm_top_layers.py prints for held-out reference pairs:
a problem gives several pairs whose outcomes move together, so counting them as independent
would overstate how sure a pairwise accuracy is."""

from __future__ import annotations

import math

import pytest

from bench.ppm_top_layers import clustered_se


def test_one_pair_a_problem_gives_the_ordinary_binomial_error():
    hits = [1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0]
    p = sum(hits) / len(hits)
    expected = math.sqrt(p * (1 - p) / len(hits))
    assert clustered_se(hits, [f"gsm8k/{i}" for i in range(len(hits))]) == pytest.approx(expected)


def test_pairs_that_agree_within_a_problem_widen_the_error():
    hits = [1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0]
    alone = clustered_se(hits, [str(i) for i in range(12)])
    grouped = clustered_se(hits, [str(i // 3) for i in range(12)])  # four problems of three pairs each
    assert grouped == pytest.approx(math.sqrt(3) * alone)


def test_pairs_that_cancel_within_each_problem_leave_no_error():
    assert clustered_se([1.0, 0.0, 0.0, 1.0], ["a", "a", "b", "b"]) == 0.0
