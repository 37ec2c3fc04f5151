"""What a symbolic-only tactic returns: its step with every side condition and its checker.

Shared by the tactic modules (`sumtactics.py`, `pqr.py`, `cancel_power.py`) and the registry
`symtactics.py`. A side condition counts only when a sound closer proved it (`prove_side`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from backend.search.lips.closing import CloseConfig, close_goal
from backend.search.lips.numeric import PointCache
from backend.search.lips.problem import Goal, Inequality

SIDE = CloseConfig(z3_timeout_s=2.0, minimise_starts=0)  # side conditions: prove, do not hunt
MAX_OPS = 200  # larger goals are skipped (sympy's solveset/simplify can take minutes)


@dataclass(frozen=True)
class Check:
    """One side condition and the checker that proved it (or did not)."""

    claim: str
    status: str  # "proved", "refuted", "unknown", "by symmetry", "exact"
    method: str
    ms: float = 0.0

    def to_dict(self) -> dict:
        return {"claim": self.claim, "status": self.status, "method": self.method, "ms": round(self.ms, 1)}


@dataclass(frozen=True)
class SymStep:
    tactic: str
    old: Goal
    new: Goal
    instantiation: dict[str, str]
    checks: tuple[Check, ...]
    note: str


@dataclass(frozen=True)
class SymResult:
    """A tactic's answer on one goal: the step, or why it does not apply."""

    tactic: str
    step: SymStep | None
    reason: str
    checks: tuple[Check, ...] = field(default=())

    @property
    def applies(self) -> bool:
        return self.step is not None


def refuse(tactic: str, reason: str, checks: list[Check] | tuple = ()) -> SymResult:
    """The tactic does not apply here, and why (with the side conditions it tried)."""
    return SymResult(tactic, None, reason, tuple(checks))


def prove_side(problem: Inequality, goal: Goal, claim: str, cache: PointCache | None,
               config: CloseConfig) -> Check:
    """A side condition as a goal for the closers (a numeric method never proves it)."""
    r = close_goal(problem, goal, cache, config)
    return Check(claim, r.status, r.method or "-", r.ms)
