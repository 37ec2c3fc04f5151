"""A found proof in NeqLIPS's tactic-script form, next to its Lean statement, so it can be run in
their Lean environment (``Neq/math/Math/Tactics.lean``; the benchmark files hold such scripts).

One line per step of the proved path, as the official prover writes them (macros in
Tactics.lean):

* homogenise: ``make_homogeneous E ≤ 0`` (E = the new lhs - rhs; ``suffices ... by axiom``).
* scale: ``scale LEMMA (u := ...) ... (left := L)`` or ``(right := R)`` (the lemma, positivity).
* rewrite: ``TACTIC A = B`` (A = old lhs - rhs, B = new lhs - rhs): the RewritingLib entry's
  tactic (``llm_simplify``, ``llm_cancel_denom``, ...); sympy's equal forms ``sym_simplify``,
  its positive multiples ``llm_cancel_denom`` / ``llm_cancel_factor``.
* symbolic: ``sym_tangent_line T ≤ (rhs) - (lhs)`` (new goal 0 ≤ T), ``sym_equal_value NEW``,
  ``sym_pqr_method NEW``, ``llm_cancel_power k``.
* the close: positivity, univariate ``try close``; z3 ``closed_by_eval`` (``smt_decide!``);
  SOS ``closed_by_sos`` (``sos!``).

Expressions are printed with ``expr.to_lean`` (``^``, ``sqrt (x)``, ``/`` read over ℝ by the
file's ``macro_rules``). Canopy checks every step itself (``proof.recheck``); whether Lean's
automation replays each line (``automation``, ``positivity``) is not checked here: no Lean in
this environment.
"""

from __future__ import annotations

import itertools

from backend.search.lips.expr import to_lean
from backend.search.lips.frontier import GoalNode
from backend.search.lips.problem import Constraint, Goal, Inequality

CLOSERS = {"sos": "closed_by_sos", "z3": "closed_by_eval"}  # anything else: "try close"
#: sympy's positive-multiple rewrites; its equal forms are ``sym_simplify``
SYMPY_REWRITES = {"cancel_denom": "llm_cancel_denom", "cancel_factor": "llm_cancel_factor"}
_REL = {">": ">", ">=": "≥", "==": "=", "!=": "≠", "<": "<", "<=": "≤"}


def lean_goal(goal: Goal) -> str:
    return f"{to_lean(goal.lhs)} ≤ {to_lean(goal.rhs)}"


def _hypothesis(c: Constraint) -> str:
    return f"{to_lean(c.expr)} {_REL.get(c.rel, c.rel)} 0"


def lean_statement(problem: Inequality, name: str = "canopy_proof") -> str:
    """The theorem's Lean header up to ``:= by``: the benchmark's own statement when the problem
    came from a Lean file, else one built from the variables, constraints and goal."""
    if problem.statement.startswith("theorem "):
        return problem.statement.split(":= by")[0].strip()
    binders = f"{{{' '.join(problem.variables)} : ℝ}}"
    hyps = " ".join(f"(h{i} : {_hypothesis(c)})" for i, c in enumerate(problem.constraints))
    return " ".join(p for p in (f"theorem {name}", binders, hyps, f": {lean_goal(problem.goal)}") if p)


def _rewrite_tactic(node: GoalNode) -> str:
    from backend.search.lips.rewriting import load_rewriting_lib

    entry = node.meta.get("rewrite", "")
    if node.meta.get("source") == "llm":
        tactics = {e.name: e.tactic for e in load_rewriting_lib()}
        return tactics.get(entry, "llm_simplify")
    return SYMPY_REWRITES.get(entry, "sym_simplify")


def step_line(old: Goal, node: GoalNode) -> str:
    """The tactic line for the step old -> node.goal."""
    new = node.goal
    if node.kind == "homogenise":
        return f"make_homogeneous {to_lean(new.lhs - new.rhs)} ≤ 0"
    if node.kind == "scale":
        return str(node.meta.get("tactic", "")).replace("<=", "≤")
    if node.kind == "rewrite":
        before = f"({to_lean(old.lhs)}) - ({to_lean(old.rhs)})"
        return f"{_rewrite_tactic(node)} {before} = {to_lean(new.lhs - new.rhs)}"
    tactic = str(node.meta.get("tactic", node.kind))
    if tactic == "sym_tangent_line":
        return f"{tactic} {to_lean(new.rhs - new.lhs)} ≤ ({to_lean(old.rhs)}) - ({to_lean(old.lhs)})"
    if tactic == "llm_cancel_power":
        return f"{tactic} {node.meta.get('instantiation', {}).get('k', '')}".strip()
    return f"{tactic} {lean_goal(new)}"


def tactic_lines(nodes: dict[int, GoalNode], path: list[int], closed_by: str) -> list[str]:
    """One line per step of ``path`` (root first), then the closing tactic."""
    lines = [step_line(nodes[a].goal, nodes[b]) for a, b in itertools.pairwise(path)]
    return [*lines, CLOSERS.get(closed_by, "try close")]


def tactic_script(problem: Inequality, nodes: dict[int, GoalNode], path: list[int], closed_by: str,
                  name: str = "canopy_proof") -> str:
    """The Lean statement and the proof as a NeqLIPS tactic script (two-space indented)."""
    body = "\n".join(f"  {line}" for line in tactic_lines(nodes, path, closed_by))
    return f"{lean_statement(problem, name)} := by\n{body}"


def tactic_names(script: list[str] | tuple[str, ...] | str) -> list[str]:
    """The tactic word of each line (``scale`` with its lemma, ``try close`` whole), to compare
    an export with a reference script."""
    lines = script.splitlines() if isinstance(script, str) else list(script)
    out = []
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith(("theorem ", "--")):
            continue
        words = line.split()
        if words[0] == "scale" and len(words) > 1:
            out.append(f"scale {words[1]}")
        elif words[0] == "try" and len(words) > 1:
            out.append(f"try {words[1]}")
        else:
            out.append(words[0])
    return out
