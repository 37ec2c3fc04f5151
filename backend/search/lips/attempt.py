"""What one closing checker says about a goal: the record every checker returns.

Kept apart from `closing.py` so the checkers in their own modules (`positivity.py`,
`univariate.py`, `sos.py`) and `close_goal`, which runs them, share it without an import cycle.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

Status = Literal["proved", "refuted", "unknown"]


@dataclass(frozen=True)
class Attempt:
    method: str
    status: Status
    ms: float
    detail: str = ""
    point: tuple[tuple[str, float], ...] | None = None  # the counterexample when refuted
    certificate: dict[str, Any] | None = None  # what a proof shows (SOS: the squares, `sos_cert.record`)


def ms_since(t0: float) -> float:
    """Milliseconds since ``time.perf_counter()`` returned t0."""
    return (time.perf_counter() - t0) * 1000
