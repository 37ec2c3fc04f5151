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


#: probability floors (relative to the total) tried in turn for the nucleus: the tokens above a floor
#: are a prefix of the sorted order, so once their mass reaches top_p the nucleus lies among them.
#: A comparison pass is far cheaper than sorting or partitioning a 150k vocabulary; the last floor,
#: 0, takes everything.
_FLOORS = (1e-4, 1e-6, 1e-9, 0.0)


def _pick(cdf: np.ndarray, u: float) -> int:
    """Index i with cdf[i-1] <= u * total < cdf[i]."""
    return min(int(np.searchsorted(cdf, u * cdf[-1], side="right")), len(cdf) - 1)


def _nucleus(p: np.ndarray, top_p: float, u: float) -> int:
    """Sample from the smallest set of most likely tokens whose mass reaches top_p (p need not sum to 1)."""
    total = float(p.sum(dtype=np.float64))
    for floor in _FLOORS:
        cand = np.flatnonzero(p >= floor * total)
        if floor == 0.0 or p[cand].sum(dtype=np.float64) >= top_p * total:
            break
    cand = cand[np.argsort(-p[cand], kind="stable")]
    mass = np.cumsum(p[cand], dtype=np.float64)
    cut = min(int(np.searchsorted(mass, top_p * total)) + 1, len(cand))  # keep the token that crosses top_p
    return int(cand[_pick(mass[:cut], u)])


def sample_rows(
    logits: np.ndarray,
    temperature: float,
    top_p: float,
    rngs: list[np.random.Generator],
    work: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Pick one token per row of ``logits``; returns (tokens, raw log-probabilities).

    ``temperature == 0`` is greedy (argmax); otherwise row i draws from ``rngs[i]``.
    ``work``: an optional float32 scratch array of shape (2, >= rows, vocab), reused
    between calls. Fresh 5 MB temporaries page-fault on every step, which costs as
    much as the exp passes themselves (numpy's float32 exp is the rest of the bill).
    """
    logits = np.asarray(logits, dtype=np.float32)
    k = len(logits)
    if work is None:
        work = np.empty((2, *logits.shape), dtype=np.float32)
    rows = np.arange(k)
    m = logits.max(axis=1, keepdims=True)
    x = np.subtract(logits, m, out=work[0, :k])
    raw = np.exp(x, out=work[1, :k])
    log_z = np.log(raw.sum(axis=1, dtype=np.float64))  # log-sum-exp at temperature 1
    if temperature == 0:
        tokens = x.argmax(axis=1)
    else:
        # tempered weights (unnormalised); the second exp reuses x's buffer
        p = raw if temperature == 1 else np.exp(np.multiply(x, np.float32(1 / temperature), out=x), out=x)
        tokens = np.empty(k, dtype=np.int64)
        for r, rng in enumerate(rngs):
            u = rng.random()
            tokens[r] = _nucleus(p[r], top_p, u) if top_p < 1.0 else _pick(np.cumsum(p[r]), u)
    return tokens, logits[rows, tokens] - m[:, 0] - log_z
