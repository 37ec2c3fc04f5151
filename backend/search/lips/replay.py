"""Replay the `scale` steps of NeqLIPS reference proofs with Canopy's lemma engine.

A reference script is a list of Lean tactics. The goal between two steps is not printed, but
it is determinable around most `scale` steps:
* before `scale NAME (vars := ...) (left := L)` (a "right" lemma) the goal is `L <= k*in + l`,
  i.e. L against the lemma input instantiated with the script's values (mirrored for `right :=`);
* after it the goal is `L <= k*out + l` (our engine instantiates the output);
* a rewrite `llm_xxx A = B` starts from the goal `A <= 0` and leaves `B <= 0`;
* `make_homogeneous E <= 0` sets the goal; `intro_by_homogeneous EQ` adds a hypothesis.
Per scale step we record: `applies` (the script's pre-goal equals the goal we track),
`matched` (our matcher, run on the pre-goal, finds a step giving the same new goal) and
`next_ok` (our new goal equals the next determinable goal). Goals are compared by their
difference lhs - rhs: equal as functions, equal on the feasible set, or a provably positive
multiple (what `llm_cancel_denom` / `llm_cancel_factor` do); all numeric at sample points.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

import sympy as sp

from backend.search.lips.expr import ExprParseError
from backend.search.lips.lemmas import lemma_by_name
from backend.search.lips.matching import MatchConfig, numerically_same
from backend.search.lips.numeric import Sampler, evaluate
from backend.search.lips.positivity import is_nonneg
from backend.search.lips.problem import Goal, Inequality, parse_constraint, parse_goal
from backend.search.lips.reading import ProblemParseError
from backend.search.lips.scaling import apply_lemma, instantiate

log = logging.getLogger(__name__)

_REWRITE = re.compile(r"^(llm_\w+|sym_simplify)\s+(.*)$", re.S)
_RESET = ("sym_tangent_line", "sym_pqr_method", "sym_equal_value", "llm_cancel_power", "llm_rearrange")
_END = ("try close", "closed_by_sos", "closed_by_eval", "sorry", "cycle_close", "close")


@dataclass(frozen=True)
class ScaleReplay:
    line: int
    lemma: str
    applies: bool | None  # None: the goal before the step was not determinable
    matched: bool
    next_ok: bool | None  # None: the goal after the step was not determinable
    detail: str = ""

    @property
    def replays(self) -> bool:
        return self.applies is not False and self.matched and self.next_ok is not False


@dataclass
class ScriptReplay:
    theorem: str
    steps: list[ScaleReplay] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    final_goal: Goal | None = None

    @property
    def replays(self) -> bool:
        """Every scale step applied, was found by the matcher and led to the next goal."""
        return bool(self.steps) and not self.errors and all(s.replays for s in self.steps)


def split_args(text: str) -> tuple[dict[str, str], str]:
    """'(u := a) (v := (b + c)) (left := L)' -> ({'u': 'a', 'v': '(b + c)', 'left': 'L'}, rest)."""
    out: dict[str, str] = {}
    i = 0
    while True:
        m = re.compile(r"\s*\(\s*(\w+)\s*:=\s*").match(text, i)
        if not m:
            return out, text[i:].strip()
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += text[j] == "("
            depth -= text[j] == ")"
            j += 1
        out[m.group(1)] = text[m.end():j - 1].strip()
        i = j


def split_equation(text: str) -> tuple[str, str]:
    """'A = B' at the top level (not inside parentheses, not part of <=, >=, !=)."""
    depth = 0
    for k, ch in enumerate(text):
        depth += ch == "("
        depth -= ch == ")"
        if ch == "=" and depth == 0 and text[k - 1] not in "<>!≤≥:" and text[k + 1:k + 2] != "=":
            return text[:k].strip(), text[k + 1:].strip()
    raise ValueError(f"no top-level '=' in {text[:60]!r}")


def same_goal(problem: Inequality, d1: sp.Expr, d2: sp.Expr, n: int = 8) -> bool:
    """d1 <= 0 and d2 <= 0 say the same: equal, equal on the feasible set, or a positive multiple."""
    if d1 == d2 or numerically_same(d1, d2):
        return True
    pts = Sampler(problem, seed=1).points(n)
    ratios = []
    for p in pts:
        v1, v2 = evaluate(d1, p, problem.variables), evaluate(d2, p, problem.variables)
        if v1 is None or v2 is None:
            continue
        if abs(v1 - v2) <= 1e-9 * (1 + abs(v1) + abs(v2)):
            ratios.append(1.0)
        elif abs(v2) > 1e-12 and v1 / v2 > 0:
            ratios.append(v1 / v2)
        else:
            return False
    if not ratios:
        return False
    if max(ratios) <= min(ratios) * (1 + 1e-7):
        return True  # a positive constant on the feasible set
    # a non-constant factor: accept when it is >= 0 by structure and > 0 at every sample point
    signs = {problem.symbols[v]: problem.sign_of(v) for v in problem.variables}
    r = sp.factor(sp.cancel(sp.together(d1 / d2)))
    return is_nonneg(r, signs) or is_nonneg(sp.factor(1 / r), signs)


def _scale_step(problem: Inequality, body: str, cur: Goal | None, config: MatchConfig
                ) -> tuple[Goal, Goal, str, dict, bool | None, bool]:
    name, _, rest = body.partition(" ")
    lemma = lemma_by_name(name)
    args, _ = split_args(rest)
    fixed = {k: args.pop(k) for k in ("left", "right") if k in args}
    binding = {k: problem.parse(v, where=f"{name} ({k} := ...)") for k, v in args.items()}
    b = {lemma.wild(k): v for k, v in binding.items()}
    lin = lemma.input.xreplace(b)
    if lemma.direction == "right":
        pre = Goal(problem.parse(fixed["left"], where=f"{name} (left := ...)"), lin)
    else:
        pre = Goal(lin, problem.parse(fixed["right"], where=f"{name} (right := ...)"))
    step = instantiate(lemma, binding, pre)
    applies = None if cur is None else same_goal(problem, cur.diff, pre.diff)
    matched = any(numerically_same(s.new.diff, step.new.diff) for s in apply_lemma(pre, lemma, config))
    return pre, step.new, name, binding, applies, matched


def replay_script(problem: Inequality, script: tuple[str, ...] | None = None,
                  config: MatchConfig | None = None) -> ScriptReplay:
    """Replay the scale steps of `problem.reference_proof` (or `script`)."""
    config = config or MatchConfig()
    out = ScriptReplay(problem.id)
    cur: Goal | None = problem.goal
    pending: dict | None = None  # the last scale step, waiting for the next determinable goal

    def settle(goal: Goal | None) -> None:
        nonlocal pending
        if pending is not None:
            ok = None if goal is None else same_goal(problem, pending["new"].diff, goal.diff)
            out.steps.append(ScaleReplay(pending["line"], pending["lemma"], pending["applies"],
                                         pending["matched"], ok, pending["detail"]))
            pending = None

    for i, line in enumerate(script if script is not None else problem.reference_proof):
        try:
            if line.startswith("scale "):
                pre, new, name, _, applies, matched = _scale_step(problem, line[len("scale "):], cur, config)
                settle(pre)
                pending = {"line": i, "lemma": name, "new": new, "applies": applies, "matched": matched,
                           "detail": f"{pre} ==> {new}"}
                cur = new
            elif line.startswith("make_homogeneous "):
                g = parse_goal(line[len("make_homogeneous "):], problem.symbols, where="make_homogeneous")
                settle(g)
                cur = g
            elif line.startswith("intro_by_homogeneous"):
                for c in parse_constraint(line[len("intro_by_homogeneous"):], problem.symbols):
                    problem = problem.with_constraint(c)
            elif line.startswith(_RESET):
                settle(None)
                cur = None
            elif m := _REWRITE.match(line):
                a, bexpr = split_equation(m.group(2))
                start = Goal(problem.parse(a, where=m.group(1)), sp.S.Zero)
                settle(start)
                cur = Goal.from_difference(problem.parse(bexpr, where=m.group(1)))
            elif line.startswith(_END):
                settle(None)
                break
            else:
                out.errors.append(f"line {i}: unknown tactic {line[:40]!r}")
                settle(None)
                cur = None
        except (ExprParseError, ProblemParseError, KeyError, ValueError) as exc:
            out.errors.append(f"line {i}: {type(exc).__name__}: {exc}")
            settle(None)
            cur = None
    settle(None)
    out.final_goal = cur
    return out


def replay_census(results: list[ScriptReplay]) -> dict[str, int]:
    """Counts over replayed scripts: scale steps, how many apply / are matched / reach the next goal."""
    steps = [s for r in results for s in r.steps]
    return {
        "scripts_with_scale_steps": sum(1 for r in results if r.steps),
        "scripts_replayed": sum(r.replays for r in results),
        "scale_steps": len(steps),
        "applies": sum(s.applies is True for s in steps),
        "applies_determinable": sum(s.applies is not None for s in steps),
        "matched": sum(s.matched for s in steps),
        "next_ok": sum(s.next_ok is True for s in steps),
        "next_determinable": sum(s.next_ok is not None for s in steps),
        "errors": sum(len(r.errors) for r in results),
    }


def main() -> None:
    """`python -m backend.search.lips.replay mo-int`: print per-script results and the census."""
    import json
    import sys

    from backend.search.lips.problems import load_inequalities

    logging.basicConfig(level=logging.WARNING)
    results = []
    for p in load_inequalities(sys.argv[1] if len(sys.argv) > 1 else "mo-int"):
        r = replay_script(p)
        results.append(r)
        bad = [(s.lemma, s.applies, s.matched, s.next_ok) for s in r.steps if not s.replays]
        print(f"{p.id}: {len(r.steps)} scale steps, replays={r.replays} {bad or ''} {r.errors or ''}")
    print(json.dumps(replay_census(results)))


if __name__ == "__main__":
    main()
