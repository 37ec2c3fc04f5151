"""Refuse, before a run starts, a problem too long for the model to read.

Why: a 40,000-character problem used to start a run that ended at once in "error" with the
engine's "prompt has 14585 tokens; n_ctx is 4096: load with a larger n_ctx" (and stayed in
History as a failed run). The search's prompt is the problem plus its instructions, worked
examples and the steps so far, so the problem itself must leave room for those: a run is
refused when the problem alone takes more than the model's context less ``RESERVED_TOKENS``.
Only engines that can count tokens here (``tokenize`` and ``n_ctx``: llama.cpp) are checked;
for the others the engine's own error still stops the run. LIPS reads the problem with its
grammar and its own limits, and sends the model only goals, so it is not checked here; but a
goal can grow past the context as the proof search rewrites it (MO-INT P19: a 6,847-token
rewriting prompt ended a whole ``canopy eval`` with the engine's error), and an rStar path grows
step by step, so every search asks :func:`prompt_fits` before each engine call
(``Search.generate``) and leaves out the prompts that do not fit.
"""

from __future__ import annotations

from typing import Any

#: fewest tokens a prompt must leave the model to write (a step, a boxed rewrite, a ranking)
MIN_ROOM_TOKENS = 16
#: tokens kept for the instructions, two worked examples (~800 tokens) and a few steps
RESERVED_TOKENS = 1536
#: problems under this many UTF-8 bytes always fit: a token is at least one byte, not one
#: character (a character outside ASCII is 2-4 bytes, and a byte-level BPE may spend a token on each)
_SURELY_FITS_BYTES = 512


def problem_too_long(engine: Any, problem: str, algorithm: str) -> str | None:
    """A sentence saying why ``problem`` cannot be run on ``engine``, or None when it fits."""
    n_ctx = getattr(engine, "n_ctx", None)
    tokenize = getattr(engine, "tokenize", None)
    if algorithm == "lips" or not isinstance(n_ctx, int) or not callable(tokenize):
        return None
    if len(problem) < _SURELY_FITS_BYTES // 4 or len(problem.encode("utf-8")) < _SURELY_FITS_BYTES:
        return None
    room = max(n_ctx - RESERVED_TOKENS, 0)
    tokens = len(tokenize(problem))
    if tokens <= room:
        return None
    return (
        f"The problem is too long for this model: {tokens:,} tokens, and the model reads at most "
        f"{n_ctx:,}, of which about {RESERVED_TOKENS:,} go to the instructions, worked examples "
        f"and the search's steps (so at most {room:,} for the problem). Shorten it."
    )


def prompt_fits(engine: Any, prompt: str, room: int = 0) -> bool:
    """Whether ``engine`` can read ``prompt`` and still write ``room`` tokens after it. True when
    the engine cannot count tokens here (its own error then speaks)."""
    n_ctx = getattr(engine, "n_ctx", None)
    tokenize = getattr(engine, "tokenize", None)
    if not isinstance(n_ctx, int) or not callable(tokenize):
        return True
    if len(prompt.encode("utf-8")) + room < n_ctx:  # a token is at least one byte
        return True
    return len(tokenize(prompt)) + room < n_ctx
