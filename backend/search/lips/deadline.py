"""A run's stop check, reachable from deep inside the sympy work no timeout reaches (issue 18).

The search's time limit is checked by ``Search.check_stop`` between steps, but one step (a
lemma match on a large side, a positivity form, a symbolic tactic, a sympy rewrite) could run
far past it: MO-INT P19 took 113 s with a 30 s limit. ``LipsSearch`` runs each iteration
inside ``polling(self.check_stop)``; the matcher (every ``POLL_EVERY`` steps), the closers and
the tactics call ``poll()``, which raises the search's ``Stopped`` once the limit has passed.
Outside a search ``poll()`` does nothing, so the library functions keep working on their own.
A context variable (not a global) keeps concurrent searches in threads apart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

POLL_EVERY = 64  # matcher steps between two polls (a step is ~0.1 ms; a poll ~1 us)

_CHECK: ContextVar[Callable[[], None] | None] = ContextVar("lips_stop_check", default=None)


@contextmanager
def polling(check: Callable[[], None]) -> Iterator[None]:
    """Within the block, ``poll()`` calls ``check`` (which raises to stop the work)."""
    token = _CHECK.set(check)
    try:
        yield
    finally:
        _CHECK.reset(token)


def poll() -> None:
    """Raise the search's stop exception when its time is up; nothing outside a search."""
    check = _CHECK.get()
    if check is not None:
        check()


#: the fewest tokens worth asking the LLM for (a boxed rewrite or a ranking list)
MIN_CALL_TOKENS = 24
#: seconds of a call's time kept back for parsing and admitting its answers
CALL_MARGIN_S = 1.0


def token_cap(max_tokens: int, prompts: int, left_s: float | None, tokens: int, gen_s: float) -> int:
    """Most tokens per answer of a call of ``prompts`` prompts that fits in ``left_s``: the
    run's measured throughput (``tokens / gen_s``, batching included) shared by the prompts.
    ``max_tokens`` when there is no limit or nothing is measured yet (the call flag still
    cuts that call at the deadline); 0 when less than ``MIN_CALL_TOKENS`` would fit."""
    if left_s is None:
        return max_tokens
    if left_s <= CALL_MARGIN_S:
        return 0
    if tokens <= 0 or gen_s <= 0:
        return max_tokens
    fit = int((tokens / gen_s) * (left_s - CALL_MARGIN_S) / max(1, prompts))
    return min(max_tokens, fit) if fit >= MIN_CALL_TOKENS else 0
