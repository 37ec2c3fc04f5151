"""Verdicts: what one check concluded about a node, as the fields of its ``node_verified`` event.

Every check in a LIPS run (the close on pop, a candidate's filter, a tactic's own judgement)
ends in a Verdict, and the search emits each through one helper (``LipsSearch._verified``), so
the event's shape is decided by these builders and nowhere else. Defaults equal the event's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from backend.search.lips.closing import CloseResult
from backend.search.lips.filtering import FilterResult


@dataclass(frozen=True)
class Verdict:
    status: str
    method: str
    ms: float = 0.0
    output: str = ""
    terminal: bool | None = None  # True: the node is settled and never expanded
    answer: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    checked_by: str = ""  # how the step into the node was justified, for the proof text (not emitted)


def point(p: Any) -> dict[str, float] | None:
    return None if p is None else {k: float(v) for k, v in dict(p).items()}


def _attempts(res: CloseResult) -> list[dict[str, Any]]:
    return [{"method": a.method, "status": a.status, "ms": round(a.ms, 3)} for a in res.attempts]


def refuted(res: CloseResult, root: bool) -> Verdict:
    """A popped goal with a counterexample: the root is ``refuted`` (the run ends), others dropped."""
    return Verdict(
        "refuted" if root else "counterexample",
        res.method,
        ms=round(res.ms, 3),
        terminal=True,
        detail={"counterexample": point(res.counterexample), "attempts": _attempts(res)},
    )


def certificate(res: CloseResult) -> dict[str, Any] | None:
    """What the deciding checker showed (SOS: the squares, ``sos_cert.record``), or None."""
    return next((a.certificate for a in res.attempts if a.status == res.status and a.certificate), None)


def proved(res: CloseResult, chain: list[dict[str, Any]]) -> Verdict:
    """A popped goal closed, and the chain that leads to it re-checked (``proof.recheck``);
    ``detail.certificate`` when the checker gave one (issue 15: the SOS squares)."""
    detail: dict[str, Any] = {"attempts": _attempts(res), "chain": chain}
    cert = certificate(res)
    if cert is not None:
        detail["certificate"] = cert
    return Verdict("proved", res.method, ms=round(res.ms, 3), terminal=True, answer="proved", detail=detail)


def not_rechecked(chain: list[dict[str, Any]]) -> Verdict:
    """Closed, but the chain did not re-check: never reported as proved."""
    return Verdict("unknown", "recheck", detail={"chain": chain})


def still_open(res: CloseResult) -> Verdict:
    """No checker decided the popped goal (or it is too shallow to close): expand it."""
    return Verdict("unknown", "close_goal", ms=round(res.ms, 3), detail={"attempts": _attempts(res)})


def counterexample(fr: FilterResult) -> Verdict:
    """A candidate the filter refuted: it stays visible, with the point, and is not queued."""
    return Verdict(
        "counterexample",
        fr.method,
        ms=round(fr.ms, 3),
        terminal=True,
        output=fr.detail,
        detail={"counterexample": point(fr.counterexample), "kind": fr.kind},
    )
