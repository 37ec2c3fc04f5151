"""A LIPS proof a student can read, from the run's events alone (issue 15 item 5).

The search proves ``root goal`` by a chain root → g1 → … → gk where each new goal implies the
one before it, and gk is closed by a checker. Everything needed to explain that chain is in
the events: each goal's ``node_added`` (its text and the tactic that made it: lemma and
instantiation, rewrite, symbolic method) and its ``node_verified`` events, in order: the check
made when the goal was created (why the step is valid, with the side conditions of a
symbolic method), then the close when it was popped (which checkers were tried, which one
closed it, and the re-check of the whole chain with fresh test points). A ``node_verified``
overwrites the previous one in the folded tree, so this module reads the events, not the tree.

``readable_proof(events)`` gathers that into a ``ReadableProof``; ``proof_markdown`` renders it
for the page (goals and the closing certificate in LaTeX), ``proof_plain`` for ``canopy
solve``. Goal texts are parsed with LIPS's own safe grammar (``problem.parse_goal``), never
with ``sympify`` on a string; a text that does not parse is shown as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import sympy as sp

from backend import events as ev
from backend.search.lips.problem import MAX_CONSTRAINTS
from backend.search.lips.readable_cert import (
    CHECKER_WORDS,
    Certificate,
    closing_certificate,
    parse_goal_text,
)
from backend.search.lips.reading import MAX_VARIABLES

__all__ = ["CHECKER_WORDS", "Certificate", "ProofStep", "ReadableProof", "goal_latex", "proof_markdown",
           "proof_plain", "readable_proof"]

@dataclass(frozen=True)
class ProofStep:
    number: int
    node: int
    goal: str  # the new goal, plain text
    how: str  # the tactic in words: a lemma on one side, a rewrite, a symbolic method
    instantiation: dict[str, str]
    valid: str  # why the new goal implies the previous one, as checked when it was made
    side_conditions: list[dict[str, Any]] = field(default_factory=list)  # claim, status, method
    rechecked: str = ""


@dataclass(frozen=True)
class ReadableProof:
    variables: list[str]
    constraints: list[str]
    theorem: str  # the root goal, plain text
    steps: list[ProofStep]
    certificate: Certificate


@dataclass
class _Goal:
    id: int
    parent: int | None
    text: str
    meta: dict[str, Any]
    checks: list[ev.NodeVerified] = field(default_factory=list)


def _goals(events: Iterable[ev.Event]) -> tuple[dict[int, _Goal], list[int] | None]:
    goals: dict[int, _Goal] = {}
    path = None
    for e in events:
        if isinstance(e, ev.NodeAdded):
            goals[e.id] = _Goal(e.id, e.parent, e.text, dict(e.meta or {}))
        elif isinstance(e, ev.NodeVerified) and e.id in goals:
            goals[e.id].checks.append(e)
        elif isinstance(e, ev.RunFinished) and e.status == "proved":
            path = list(e.best_path)
    return goals, path


def _closed(goals: dict[int, _Goal]) -> int | None:
    for g in goals.values():
        if any(c.status == "proved" for c in g.checks):
            return g.id
    return None


def _path_to(goals: dict[int, _Goal], nid: int) -> list[int]:
    out = [nid]
    while goals[out[-1]].parent is not None:
        out.append(goals[out[-1]].parent)  # type: ignore[arg-type]
    return out[::-1]


def _how(meta: dict[str, Any]) -> str:
    if meta.get("lemma"):
        side = {"lhs": "left-hand side", "rhs": "right-hand side"}.get(str(meta.get("side")), "goal")
        return f"lemma {meta['lemma']} applied to the {side}"
    if meta.get("rewrite"):
        source = f" ({meta['source']})" if meta.get("source") else ""
        return f"rewrite {meta['rewrite']}{source}: the same inequality in another form"
    tactic = str(meta.get("tactic") or "a tactic")
    return f"symbolic method {tactic}" if meta.get("source") == "symbolic" else tactic


def _valid(check: ev.NodeVerified | None) -> str:
    """Why the step is valid, from the check made when the goal was created."""
    if check is None:
        return "not checked"
    said = check.output.strip() if check.output else ""
    if check.status == "equivalent":
        return f"equivalent to the previous goal ({check.method}{': ' + said if said else ''})"
    if check.status == "ok":
        return f"the new goal implies the previous one: {said or 'checked'} ({check.method})"
    return f"{check.status} by {check.method}{': ' + said if said else ''}"


#: steps a proof may have (``LipsConfig.max_depth`` is at most 100); 5,000 took 3.6 s per render
MAX_PROOF_STEPS = 100


def _dicts(value: Any) -> list[dict[str, Any]]:
    """The objects of a stored event's list (a run's own are lists of objects; an import's: any JSON)."""
    return [x for x in value if isinstance(x, dict)][:MAX_PROOF_STEPS] if isinstance(value, list) else []


def readable_proof(events: Iterable[ev.Event]) -> ReadableProof | None:
    """The proof of a LIPS run whose goal was closed, or None (no goal closed)."""
    goals, path = _goals(events)
    last = path[-1] if path else _closed(goals)
    if last is None or last not in goals or not goals:
        return None
    path = _path_to(goals, last)
    if len(path) - 1 > MAX_PROOF_STEPS:  # not a LIPS run's (an imported file's): each step is parsed to show
        return None
    root = goals[path[0]]
    close = next((c for c in reversed(goals[last].checks) if c.status == "proved"), None)
    if close is None:
        return None
    chain = _dicts((close.detail or {}).get("chain"))
    again = {c.get("node"): c.get("method", "") for c in chain if not c.get("close")}
    steps = []
    for k, nid in enumerate(path[1:], 1):
        g = goals[nid]
        made = g.checks[0] if g.checks else None
        side = _dicts((made.detail or {}).get("checks")) if made else []
        given = g.meta.get("instantiation")
        inst = {str(a): str(b) for a, b in (given.items() if isinstance(given, dict) else ())}
        steps.append(ProofStep(k, nid, g.text, _how(g.meta), inst, _valid(made), side, again.get(nid, "")))
    named, given = root.meta.get("variables") or [], root.meta.get("constraints") or []
    if not isinstance(named, list) or not isinstance(given, list) or len(named) > MAX_VARIABLES \
            or len(given) > MAX_CONSTRAINTS:  # not a LIPS problem's: each goal shown makes their symbols
        return None
    variables, constraints = [str(v) for v in named], [str(c) for c in given]
    cert = closing_certificate(goals[last].text, close, variables)
    return ReadableProof(variables, constraints, root.text, steps, cert)


# --- the closing certificate ------------------------------------------------------------------


def goal_latex(text: str, variables: list[str]) -> str:
    """``lhs \\le rhs`` in LaTeX, or '' when the text does not parse."""
    goal = parse_goal_text(text, variables)
    return "" if goal is None else f"{sp.latex(goal.lhs)} \\le {sp.latex(goal.rhs)}"


# --- rendering ----------------------------------------------------------------------------------


def _md(text: str) -> str:
    """Plain proof text for Markdown: backslash-escape what Markdown or KaTeX would read."""
    return "".join("\\" + c if c in "\\`*_{}[]<>()#+!|$~" else c for c in str(text))


def _math(text: str, variables: list[str], esc: Callable[[str], str]) -> str:
    tex = goal_latex(text, variables)
    return f"$${tex}$$" if tex else esc(text)


def proof_markdown(proof: ReadableProof, esc: Callable[[str], str] = _md) -> str:
    """The proof for the page: numbered goals with their tactic, why each step is valid and
    the side conditions checked, then the closing certificate, formulas in LaTeX (made here
    from the parsed goals). ``esc`` escapes every text from the run (the page passes its own,
    ``ui.escape.md_esc``, which also keeps links and stray dollars from forming)."""
    v = proof.variables
    cons = ", ".join(esc(c) for c in proof.constraints) or "no constraints"
    lines = [
        f"**Proof** ({len(proof.steps)} step{'s' if len(proof.steps) != 1 else ''}; each new goal "
        "implies the one before it, so closing the last proves the first)",
        "",
        f"**Goal 0** (the problem; {cons}):",
        "",
        _math(proof.theorem, v, esc),
    ]
    for s in proof.steps:
        lines += ["", f"**Goal {s.number}**, by {esc(s.how)}" + (":" if not s.instantiation else "")]
        if s.instantiation:
            inst = ", ".join(f"{esc(k)} := {esc(val)}" for k, val in s.instantiation.items())
            lines[-1] += f" with {inst}:"
        lines += ["", _math(s.goal, v, esc), "", f"- *why valid:* {esc(s.valid)}"]
        for c in s.side_conditions:
            lines.append(
                f"- *side condition:* {esc(c.get('claim', ''))}: {esc(c.get('status', ''))} "
                f"by {esc(c.get('method', ''))}"
            )
        if s.rechecked:
            lines.append(f"- *re-checked at the end:* {esc(s.rechecked)}")
    c = proof.certificate
    last = proof.steps[-1].number if proof.steps else 0
    lines += ["", f"**Closed** (goal {last}) by **{esc(c.method)}**: {esc(c.words)}."]
    for tex in c.latex.split("\n") if c.latex else []:
        lines += ["", f"$${tex}$$"]
    if c.squares is not None and not c.latex:  # an SOS record that did not read: its text, escaped
        lines += ["", *[f"- {esc(line)}" for line in c.plain.split("\n")]]
    if c.tried:
        lines += ["", "Checkers tried: " + ", ".join(f"{esc(m)} ({esc(st)})" for m, st in c.tried)]
    if c.rechecked:
        lines.append(f"  \nRe-checked with fresh test points: {esc(c.rechecked)}.")
    return "\n".join(lines)


def proof_plain(proof: ReadableProof) -> str:
    """The same proof as plain text (``canopy solve``)."""
    cons = ", ".join(proof.constraints) or "no constraints"
    lines = [
        f"Theorem ({cons}): {proof.theorem}",
        "Proof, step by step (each new goal implies the one before it):",
    ]
    lines.append(f"  goal 0: {proof.theorem}")
    for s in proof.steps:
        lines.append(f"  step {s.number}: {s.how}")
        if s.instantiation:
            lines.append("    instantiation: " + ", ".join(f"{k} := {v}" for k, v in s.instantiation.items()))
        lines.append(f"    goal {s.number}: {s.goal}")
        lines.append(f"    justified by: {s.valid}")
        for c in s.side_conditions:
            claim, status, how = c.get("claim", ""), c.get("status", ""), c.get("method", "")
            lines.append(f"    side condition: {claim}: {status} by {how}")
        if s.rechecked:
            lines.append(f"    re-checked: {s.rechecked}")
    c = proof.certificate
    lines.append(f"  closed: goal {proof.steps[-1].number if proof.steps else 0} by {c.method}: {c.words}")
    if c.plain:
        first, *more = c.plain.split("\n")
        lines.append(f"    certificate: {first}")
        lines += [f"      {m}" for m in more]
    if c.tried:
        lines.append("    checkers tried: " + ", ".join(f"{m} ({st})" for m, st in c.tried))
    if c.rechecked:
        lines.append(f"    re-checked with fresh test points: {c.rechecked}")
    return "\n".join(lines)
