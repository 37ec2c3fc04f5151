"""numpy sampling used by the llama.cpp engine."""

from __future__ import annotations

import numpy as np

from backend.engines._sampling import raw_logprob, sample_rows


def rngs(k, seed=0):
    return [np.random.default_rng([seed, i]) for i in range(k)]


def test_greedy_takes_the_argmax_and_reports_raw_logprob():
    logits = np.array([[0.0, 2.0, 1.0], [3.0, 0.0, 0.0]], dtype=np.float32)
    tokens, lps = sample_rows(logits, 0.0, 1.0, rngs(2))
    assert tokens.tolist() == [1, 0]
    expected = logits[[0, 1], [1, 0]] - np.log(np.exp(logits).sum(axis=1))
    np.testing.assert_allclose(lps, expected, rtol=1e-5)


def test_sampling_follows_the_tempered_distribution():
    logits = np.log(np.array([[0.25, 0.75]], dtype=np.float32))
    rng = np.random.default_rng(0)
    draws = [sample_rows(logits, 1.0, 1.0, [rng])[0][0] for _ in range(4000)]
    assert abs(np.mean(draws) - 0.75) < 0.03
    cold = [sample_rows(logits, 0.25, 1.0, [rng])[0][0] for _ in range(1000)]  # 0.25**4 vs 0.75**4
    assert np.mean(cold) > 0.95


def test_top_p_keeps_the_nucleus_only():
    probs = np.array([0.5, 0.3, 0.15, 0.05] + [0.0] * 200, dtype=np.float64)
    logits = np.log(np.maximum(probs, 1e-30)).astype(np.float32)[None, :]
    rng = np.random.default_rng(1)
    seen = {int(sample_rows(logits, 1.0, 0.7, [rng])[0][0]) for _ in range(500)}
    assert seen == {0, 1}  # 0.5 < 0.7 <= 0.8: the token crossing top_p is kept, the rest are cut
    assert {int(sample_rows(logits, 1.0, 0.01, [rng])[0][0]) for _ in range(50)} == {0}


def test_top_p_over_a_large_flat_vocabulary():
    logits = np.zeros((1, 150_000), dtype=np.float32)  # nucleus larger than the first candidate window
    tok, lp = sample_rows(logits, 1.0, 0.9, rngs(1))
    assert 0 <= tok[0] < 150_000
    np.testing.assert_allclose(lp, -np.log(150_000), rtol=1e-4)


def test_rows_use_their_own_generators():
    logits = np.zeros((3, 1000), dtype=np.float32)
    a, _ = sample_rows(logits, 1.0, 1.0, rngs(3, seed=7))
    b, _ = sample_rows(logits[:2], 1.0, 1.0, rngs(2, seed=7))
    assert a[:2].tolist() == b.tolist()  # a row's draw does not depend on the batch around it


def test_raw_logprob_is_log_softmax():
    logits = np.array([[1.0, 2.0, 3.0]], dtype=np.float32)
    lp = raw_logprob(logits, np.array([2]))
    np.testing.assert_allclose(lp, [3.0 - np.log(np.exp(logits).sum())], rtol=1e-6)
