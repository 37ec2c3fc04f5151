"""Token sampling from raw logits in numpy, one generator per sequence.

Used by the llama.cpp engine, which reads the logits of all live sequences of a
batched decode step as one (rows, vocab) array. Sampling in numpy keeps each
sequence's random stream independent of how sequences are batched, and gives the
log-probability of the sampled token for free. (Measured against llama.cpp's own
sampler chain: bench/engine.py ``--sampler``.)

Order follows transformers and vLLM: temperature first, then top-p (nucleus) on
the tempered distribution, keeping the token that crosses ``top_p``. The reported
log-probability is log-softmax of the *raw* logits (temperature 1, before top-p):
a property of the model, comparable across sampling settings.
"""

from __future__ import annotations

import numpy as np


def raw_logprob(logits: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """log softmax(logits)[token] per row, at temperature 1."""
    m = logits.max(axis=1)
    lse = m + np.log(np.exp(logits - m[:, None]).sum(axis=1))
    return logits[np.arange(len(tokens)), tokens] - lse


def _nucleus(probs: np.ndarray, top_p: float, u: float) -> int:
    """Sample from the smallest set of most likely tokens whose mass reaches top_p."""
    k = 64
    vocab = probs.shape[0]
    while True:
        k = min(k, vocab)
        # argpartition finds the k largest in O(vocab); a full sort of 150k entries costs ~10 ms a row
        cand = np.argpartition(-probs, k - 1)[:k] if k < vocab else np.arange(vocab)
        cand = cand[np.argsort(-probs[cand], kind="stable")]
        mass = np.cumsum(probs[cand])
        if mass[-1] >= top_p or k == vocab:
            cut = min(int(np.searchsorted(mass, top_p)) + 1, k)
            kept = mass[:cut]
            i = min(int(np.searchsorted(kept, u * kept[-1], side="right")), cut - 1)
            return int(cand[i])
        k *= 4


def sample_rows(
    logits: np.ndarray, temperature: float, top_p: float, rngs: list[np.random.Generator]
) -> tuple[np.ndarray, np.ndarray]:
    """Pick one token per row of ``logits``; returns (tokens, raw log-probabilities).

    ``temperature == 0`` is greedy (argmax); otherwise row i draws from ``rngs[i]``.
    """
    logits = np.asarray(logits, dtype=np.float32)
    if temperature == 0:
        tokens = logits.argmax(axis=1)
        return tokens, raw_logprob(logits, tokens)
    scaled = logits / np.float32(temperature)
    scaled -= scaled.max(axis=1, keepdims=True)
    probs = np.exp(scaled)
    probs /= probs.sum(axis=1, keepdims=True)
    tokens = np.empty(len(rngs), dtype=np.int64)
    for r, rng in enumerate(rngs):
        u = rng.random()
        if top_p < 1.0:
            tokens[r] = _nucleus(probs[r], top_p, u)
        else:
            cdf = np.cumsum(probs[r])
            tokens[r] = min(int(np.searchsorted(cdf, u * cdf[-1], side="right")), len(cdf) - 1)
    return tokens, raw_logprob(logits, tokens)
