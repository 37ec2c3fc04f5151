"""Scaling tactics: apply a library lemma to one side of a goal to get a stronger goal (LIPS §3.1).

For a "left" lemma (input <= output) the goal `k*in + l <= R` becomes `k*out + l <= R`; for a
"right" lemma (input >= output) the goal `L <= k*in + l` becomes `L <= k*out + l`. The new goal
implies the old one whenever the lemma holds for the instantiation and k >= 0; whether that is
so for THIS problem is checked by `backend.search.lips.filter`, which never trusts the library.
Each application is a `ScaleStep`: lemma name, instantiation (variable -> expression), old goal,
new goal, and the instantiated lemma input/output, so the search can log and replay it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import sympy as sp

from backend.search.lips.expr import to_lean, to_plain
from backend.search.lips.lemmas import Lemma, load_lemmas, var_name
from backend.search.lips.matching import MatchConfig, match_lemma_side, same
from backend.search.lips.problem import Goal

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScaleStep:
    """One lemma application; `side` says which side of the goal the lemma rewrote."""

    lemma: str
    direction: str  # the lemma type: "left" rewrites lhs (in <= out), "right" rewrites rhs (in >= out)
    instantiation: tuple[tuple[str, sp.Expr], ...]
    old: Goal
    new: Goal
    lemma_in: sp.Expr  # instantiated input: equals the old side exactly
    lemma_out: sp.Expr  # instantiated output: the new side

    @property
    def side(self) -> str:
        return "lhs" if self.direction == "left" else "rhs"

    def binding(self) -> dict[str, sp.Expr]:
        return dict(self.instantiation)

    def tactic(self) -> str:
        """Lean-style tactic text, as in the reference scripts (`scale NAME (u := a) ... (left := L)`)."""
        args = " ".join(f"({k} := {to_lean(v)})" for k, v in self.instantiation)
        fixed = f"(right := {to_lean(self.old.rhs)})" if self.direction == "left" else \
            f"(left := {to_lean(self.old.lhs)})"
        return f"scale {self.lemma} {args} {fixed}"

    def __str__(self) -> str:
        inst = ", ".join(f"{k}={to_plain(v)}" for k, v in self.instantiation)
        return f"{self.lemma}[{inst}]: {self.old} ==> {self.new}"


def instantiate(lemma: Lemma, binding: dict, old: Goal, output: sp.Expr | None = None) -> ScaleStep:
    """Build the step for a binding of pattern symbols (from the matcher) or of names (from a script)."""
    b = {(lemma.wild(k) if isinstance(k, str) else k): sp.sympify(v, strict=True) for k, v in binding.items()}
    used = lemma.input.free_symbols | lemma.output.free_symbols
    missing = [v for v in lemma.variables if lemma.wild(v) in used and lemma.wild(v) not in b]
    if missing:
        raise ValueError(f"{lemma.name}: no value for lemma variable(s) {missing}")
    lin = lemma.input.xreplace(b)
    lout = output if output is not None else lemma.output.xreplace(b)
    new = Goal(lout, old.rhs) if lemma.direction == "left" else Goal(old.lhs, lout)
    inst = tuple((var_name(w), b[w]) for w in lemma.wilds if w in b)
    return ScaleStep(lemma.name, lemma.direction, inst, old, new, lin, lout)


def _features(e: sp.Expr) -> frozenset[str]:
    """Cheap shape facts: has a radical / a reciprocal (with a numeric exponent)."""
    out = set()
    for node in sp.preorder_traversal(e):
        if node.is_Pow and node.exp.is_Number:
            if not node.exp.is_Integer:
                out.add("radical")
            if node.exp.is_negative:
                out.add("reciprocal")
    return frozenset(out)


_FEATURES: dict[sp.Expr, frozenset[str]] = {}
_MATCHES: dict[tuple[str, sp.Expr, MatchConfig], list] = {}
CACHE_SIZE = 4096  # sides remembered per process (a run re-meets the side a scaling step kept)


def _remember(cache: dict, key: object, value: object) -> None:
    if len(cache) >= CACHE_SIZE:
        cache.clear()
    cache[key] = value


def _side_features(side: sp.Expr) -> frozenset[str]:
    if side not in _FEATURES:
        _remember(_FEATURES, side, _features(side))
    return _FEATURES[side]


def quick_reject(lemma: Lemma, side: sp.Expr) -> bool:
    """A lemma whose input has a sqrt or a 1/(...) cannot match a side without one."""
    return not _features(lemma.input) <= _side_features(side)


def side_matches(lemma: Lemma, side: sp.Expr, config: MatchConfig) -> list:
    """``match_lemma_side``, memoised per (lemma, side, config): a scaling step changes one side
    of the goal, so expanding its new goal matches the kept side against every lemma again
    (issue 18: half the matching of a scaled goal's expansion was such repeats)."""
    key = (lemma.name, side, config)
    if key not in _MATCHES:
        _remember(_MATCHES, key, match_lemma_side(lemma, side, config))
    return _MATCHES[key]


def apply_lemma(goal: Goal, lemma: Lemma, config: MatchConfig | None = None) -> list[ScaleStep]:
    """All distinct, non-trivial applications of `lemma` to the matching side of `goal`."""
    config = config or MatchConfig()
    side = goal.lhs if lemma.direction == "left" else goal.rhs
    if quick_reject(lemma, side):
        return []
    steps, seen = [], set()
    for b, out in side_matches(lemma, side, config):
        if same(out, side):
            continue  # official `check_by_test` cond2: a scaling that changes nothing
        step = instantiate(lemma, b, goal, out)
        key = step.new.key()
        if key in seen:
            continue
        seen.add(key)
        steps.append(step)
    return steps


@dataclass(frozen=True)
class ScaleReport:
    """All steps for a goal plus per-lemma timing, for the UI and for measurements."""

    steps: tuple[ScaleStep, ...]
    ms_by_lemma: tuple[tuple[str, float], ...]
    total_ms: float


def scale_goal(goal: Goal, lemmas: Iterable[Lemma] | None = None,
               config: MatchConfig | None = None, between: Callable[[], None] | None = None) -> ScaleReport:
    """Apply every lemma (default: the whole library) to `goal`; dedupe new goals across lemmas.
    ``between`` runs before each lemma (a search's stop check: it may raise to end the scaling,
    which on a large goal takes tens of seconds and once ran a 30 s search to 58 s)."""
    t0 = time.perf_counter()
    steps: list[ScaleStep] = []
    seen: set[sp.Expr] = set()
    timing = []
    for lemma in (load_lemmas() if lemmas is None else lemmas):
        if between is not None:
            between()
        t = time.perf_counter()
        for s in apply_lemma(goal, lemma, config):
            k = s.new.key()
            if k not in seen:
                seen.add(k)
                steps.append(s)
        timing.append((lemma.name, (time.perf_counter() - t) * 1000))
    total = (time.perf_counter() - t0) * 1000
    log.info("scaling produced %d steps in %.0f ms", len(steps), total)
    return ScaleReport(tuple(steps), tuple(timing), total)


def main() -> None:
    """`python -m backend.search.lips.scaling mo-int`: steps and CPU time per initial goal."""
    import sys

    from backend.search.lips.problems import load_inequalities

    logging.basicConfig(level=logging.WARNING)
    total_steps, cpu = 0, []
    for p in load_inequalities(sys.argv[1] if len(sys.argv) > 1 else "mo-int"):
        t = time.process_time()
        report = scale_goal(p.goal)
        cpu.append(time.process_time() - t)
        total_steps += len(report.steps)
        print(f"{p.id}: {len(report.steps)} steps, {cpu[-1]:.1f} s CPU")
    cpu.sort()
    print(f"total {total_steps} steps; CPU s per goal: median {cpu[len(cpu) // 2]:.1f}, max {cpu[-1]:.1f}")


if __name__ == "__main__":
    main()
