"""Expanding a goal: each tactic's proposals as candidate children, with how each is judged.

First, on the root only, the official homogenisation step (``homogenise_candidates``); then
three tactics, in the order the search runs them: scaling lemmas (``scale_goal``, the best
``max_candidates`` by symbolic score), rewrites (LLM answers judged by ``check_rewrite``, sympy
fallbacks when none is accepted) and the symbolic-only tactics (``symbolic_steps``). Nothing
here emits events or holds run state: the search turns a Candidate into a node, runs its
filter (``check``) and emits the Verdict that ``judge`` gives for the filter's result.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import sympy as sp

from backend.search.lips.expr import to_plain
from backend.search.lips.filtering import FilterResult
from backend.search.lips.homogenise import make_homogeneous, tactic_text
from backend.search.lips.problem import Goal, Inequality
from backend.search.lips.rewriting import Rewrite, fallback_rewrites, parse_rewrites, rewrite_prompts
from backend.search.lips.scaling import scale_goal
from backend.search.lips.score import symbolic_score
from backend.search.lips.symstep import SymResult, SymStep
from backend.search.lips.verdict import Verdict


@dataclass(frozen=True)
class Candidate:
    """A proposed child goal. ``check`` names the filter run on the new node first: "step"
    (``check_step``: counterexample + soundness), "new_goal" (``check_new_goal``) or "" (none)."""

    goal: Goal
    kind: str  # GoalNode.kind: "homogenise", "scale", "rewrite" or "symbolic"
    meta: dict[str, Any]  # as emitted on node_added
    justification: dict[str, Any]  # what proof.recheck needs to re-check the edge
    judge: Callable[[FilterResult | None], Verdict]  # the verdict once the filter found no counterexample
    check: str = ""
    llm_streak: int = 0


@dataclass(frozen=True)
class Refused:
    """A proposal that never became a goal (an unparsable rewrite): a Note on the parent."""

    message: str


def _instantiation(binding: dict) -> dict[str, str]:
    return {k: to_plain(sp.sympify(v, strict=True)) for k, v in binding.items()}


# --- scaling -------------------------------------------------------------------------------


def _judge_scale(fr: FilterResult | None) -> Verdict:
    assert fr is not None
    passed = fr.status == "passed"
    return Verdict(
        "ok" if passed else "unknown",
        fr.method,
        ms=round(fr.ms, 3),
        output=fr.detail,
        detail={"step": fr.status, "new_goal_proved": fr.new_goal_proved},
        checked_by=f"{fr.method}" if passed else f"not proved sound ({fr.detail})",
    )


def _finite(goal: Goal) -> bool:
    """A goal with nan, zoo or oo in it (a lemma instantiated at a point where it divides by
    zero) is no proof state: it once reached the closers as `0 <= nan` and ended the run."""
    bad = (sp.nan, sp.zoo, sp.oo, -sp.oo)
    return not (goal.lhs.has(*bad) or goal.rhs.has(*bad))


def pick_candidates(steps: list, scores: list, limit: int) -> list:
    """The ``limit`` best steps by symbolic score, then the best step of each lemma not among
    them (at most ``limit // 2`` more, best first). Without these, a lemma whose every output
    scores just below the cut is never tried: MO-INT P4's three ``Muirhead_Qeq0_div_onestep``
    steps ranked 61-63 of 269 at the root, and the proof goes through them."""
    order = sorted(range(len(steps)), key=lambda i: scores[i])
    chosen = order[:limit]
    lemmas = {steps[i].lemma for i in chosen}
    extra = []
    for i in order[limit:]:
        if len(extra) >= limit // 2:
            break
        if steps[i].lemma not in lemmas:
            lemmas.add(steps[i].lemma)
            extra.append(i)
    return [steps[i] for i in chosen + extra]


def scale_candidates(goal: Goal, limit: int, check_stop: Callable[[], None]) -> Iterator[Candidate]:
    """Every scaling lemma that applies, simplest new goal first, at most ``limit`` (plus the
    best of each lemma left out: ``pick_candidates``);
    ``check_stop`` runs between lemmas, while scoring and before each candidate, so a stop or
    the time limit falls between them."""
    steps = [s for s in scale_goal(goal, between=check_stop).steps if _finite(s.new)]
    scores = []
    for i, s in enumerate(steps):
        if i % 50 == 0:
            check_stop()
        scores.append(symbolic_score(s.new))
    for st in pick_candidates(steps, scores, limit):
        check_stop()
        meta = {
            "tactic": st.tactic(),
            "lemma": st.lemma,
            "side": st.side,
            "direction": st.direction,
            "instantiation": _instantiation(st.binding()),
        }
        justification = {"lemma": st.lemma, "instantiation": st.instantiation}
        yield Candidate(st.new, "scale", meta, justification, _judge_scale, check="step")


# --- rewriting -----------------------------------------------------------------------------


def gather_rewrites(
    problem: Inequality, goal: Goal, ask: Callable[[list[str]], list[str] | None] | None, prompts: int
) -> list[Rewrite]:
    """The LLM's rewrites (``ask``: one batched call, None = no LLM this time), judged; the sympy
    rewrites stand in when none is accepted."""
    rewrites: list[Rewrite] = []
    if ask is not None:
        pairs = rewrite_prompts(problem, goal)[:prompts]
        texts = ask([p for _, p in pairs])
        if texts is not None:
            rewrites = parse_rewrites(problem, goal, [e for e, _ in pairs], texts)
    if not any(r.accepted for r in rewrites):
        rewrites += fallback_rewrites(problem, goal)
    return rewrites


def _judge_rewrite(r: Rewrite, fr: FilterResult | None) -> Verdict:
    if not r.accepted:
        return Verdict("rejected", r.method, ms=round(r.ms, 3), terminal=True, output=r.reason)
    return Verdict(
        "equivalent", r.method, ms=round(r.ms, 3), output=r.reason, checked_by=f"{r.method} ({r.reason})"
    )


def rewrite_candidates(rewrites: list[Rewrite], llm_streak: int) -> Iterator[Candidate | Refused]:
    """One candidate per parsed rewrite (a rejected one stays visible as a ``rejected`` node);
    a sympy "positive multiple" rewrite changes the goal, so it also goes through ``check_step``."""
    for r in rewrites:
        if r.new is None:
            yield Refused(f"rewrite {r.entry} rejected: {r.reason}")
            continue
        meta = {
            "tactic": f"{'llm' if r.source == 'llm' else 'sym'}_{r.entry}",
            "lemma": None,
            "instantiation": {},
            "rewrite": r.entry,
            "source": r.source,
            "boxed": r.boxed,
        }
        multiple = r.accepted and r.source == "sympy" and r.method.endswith("positive_multiple")
        yield Candidate(
            r.new,
            "rewrite",
            meta,
            {"relation": r.method},
            partial(_judge_rewrite, r),
            check="step" if multiple else "",
            llm_streak=llm_streak + 1 if r.source == "llm" else 0,
        )


# --- symbolic-only tactics -----------------------------------------------------------------


def _judge_symbolic(st: SymStep, fr: FilterResult | None) -> Verdict:
    assert fr is not None
    return Verdict(
        "ok",
        st.tactic,
        output=st.note,
        detail={"checks": [c.to_dict() for c in st.checks], "new_goal_proved": fr.new_goal_proved},
        checked_by="; ".join(f"{c.claim}: {c.status} ({c.method})" for c in st.checks),
    )


def symbolic_candidates(results: list[SymResult]) -> Iterator[Candidate]:
    """The tactics that made a step (side conditions proved); the new goal is still filtered."""
    for r in results:
        st = r.step
        if st is None:
            continue
        meta = {"tactic": st.tactic, "lemma": None, "instantiation": st.instantiation, "source": "symbolic"}
        yield Candidate(
            st.new, "symbolic", meta, {"tactic": st.tactic}, partial(_judge_symbolic, st), check="new_goal"
        )


# --- the initial homogenisation ------------------------------------------------------------


def _judge_homogenise(fr: FilterResult | None) -> Verdict:
    """Official: the step is taken only when z3 proves ``constraints ∧ new ⇒ old`` (unsat);
    anything short of a proof leaves the node settled and the root is expanded as usual."""
    assert fr is not None
    passed = fr.status == "passed"
    return Verdict(
        "ok" if passed else "unknown",
        fr.method,
        ms=round(fr.ms, 3),
        output=fr.detail,
        terminal=None if passed else True,
        detail={"step": fr.status, "new_goal_proved": fr.new_goal_proved},
        checked_by=f"{fr.method} ({fr.detail})" if passed else "",
    )


def homogenise_candidates(problem: Inequality, goal: Goal) -> Iterator[Candidate]:
    """The official first step (``make_by_homogeneous``) when an equality constraint makes the
    goal homogeneous; checked by ``check_step`` (both sides change: the z3 implication)."""
    found = make_homogeneous(problem, goal)
    if found is None:
        return
    new, used = found
    meta = {"tactic": tactic_text(new), "lemma": None, "instantiation": {}, "source": "symbolic",
            "constraint": used}
    yield Candidate(new, "homogenise", meta, {"constraint": used}, _judge_homogenise, check="step")
