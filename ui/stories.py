"""What a node of an algorithm that runs no code went through, in words, for the inspector
(issue 15 item 5): a CPL plan step is checked for its format only; a LIPS goal was made by a
tactic (a lemma and its instantiation, a rewrite, a symbolic method), checked when it was
made (does it imply its parent? with which side conditions?), then refuted at a point,
closed, or left open. A folded tree keeps only a node's last check, so the LIPS story is
read from the run's events.
"""

from __future__ import annotations

from typing import Any

from backend import events as ev
from backend.tree import Node, Tree
from ui.escape import md_esc
from ui.vocabulary import Vocabulary

#: entries of a stored event's list or object shown (a run's own hold a few)
MAX_LISTED = 50


def _dicts(value: Any) -> list[dict[str, Any]]:
    """The objects of a stored event's list, the first ``MAX_LISTED`` (anything else: none)."""
    return [x for x in value if isinstance(x, dict)][:MAX_LISTED] if isinstance(value, list) else []


def node_story(vocab: Vocabulary, tree: Tree, node: Node, events: list[Any] | None) -> str:
    """Markdown to append to the verification section ('' when there is nothing to add)."""
    if vocab.family == "cpl":
        return _cpl(node)
    if vocab.family == "lips":
        return _lips(tree, node, events or [])
    return ""


def _cpl(node: Node) -> str:
    if node.parent is None:
        return ""
    if node.status == "ok":
        return "\n\nA plan step: CPL checks its format only (plan steps are never run)."
    if node.status == "error" and node.method == "format":
        return f"\n\n**Format failure** (not a plan step or a solution): {md_esc(node.output or '?')}"
    if node.status == "error" and node.method == "depth":
        return f"\n\n**Too deep:** {md_esc(node.output)}"
    if node.output and node.status in ("answered", "unknown", "correct", "incorrect"):
        return f"\n\nThe solution's boxed answer: **{md_esc(node.output)}**"
    return ""


def _point(p: Any) -> str:
    if not isinstance(p, dict) or not p:  # a stored run's detail: any JSON
        return "a point the event does not give"
    return ", ".join(f"{md_esc(k)} = " + (f"{v:.4g}" if isinstance(v, (int, float)) else md_esc(v))
                     for k, v in list(p.items())[:MAX_LISTED])


def _variables(tree: Tree) -> list[str]:
    root = tree.nodes.get(tree.root_id) if tree.root_id is not None else None
    named = root.meta.get("variables") if root is not None else None
    return [str(v) for v in named] if isinstance(named, list) else []  # a stored run's meta: any JSON


def _made_by(node: Node) -> str:
    m = node.meta or {}
    if node.parent is None:
        cons = ", ".join(md_esc(c) for c in m.get("constraints") or []) or "none"
        return f"**The problem's goal.** Constraints: {cons}."
    given = m.get("instantiation")
    pairs = given.items() if isinstance(given, dict) else ()
    inst = ", ".join(f"{md_esc(k)} := {md_esc(v)}" for k, v in pairs)
    if m.get("lemma"):
        side = {"lhs": "left-hand side", "rhs": "right-hand side"}.get(str(m.get("side")), "goal")
        made = f"**Tactic:** scale by lemma **{md_esc(m['lemma'])}** on the {side}"
    elif m.get("rewrite"):
        made = f"**Tactic:** rewrite **{md_esc(m['rewrite'])}** ({md_esc(m.get('source') or '?')})"
    else:
        made = f"**Tactic:** {md_esc(m.get('tactic') or '?')}"
    return made + (f"; instantiation: {inst}" if inst else "") + "."


def _check(e: ev.NodeVerified, first: bool) -> str:
    detail = e.detail or {}
    said = f": {md_esc(e.output)}" if e.output else ""
    if e.status in ("counterexample", "refuted"):
        where = _point(detail.get("counterexample"))
        what = "the problem is false" if e.status == "refuted" else "this goal is false"
        return f"**Counterexample** ({md_esc(e.method)}): {what} at {where}, so it is dropped."
    if e.status == "proved":
        return f"**Closed** by **{md_esc(e.method)}** ({_attempts(detail)})."
    if e.status == "unknown" and not first:
        return f"**Popped, not closed:** {_attempts(detail) or md_esc(e.method)}; then its tactics ran."
    head = "**Step check** (made when the goal was created)" if first else "**Check**"
    out = f"{head}: {md_esc(e.status)} by {md_esc(e.method)}{said}"
    for c in _dicts(detail.get("checks")):
        out += (
            f"  \n· side condition {md_esc(c.get('claim', ''))}: {md_esc(c.get('status', ''))} "
            f"by {md_esc(c.get('method', ''))}"
        )
    return out


def _attempts(detail: dict[str, Any]) -> str:
    tried = _dicts(detail.get("attempts"))
    if not tried:
        return ""
    return "tried " + ", ".join(f"{md_esc(a.get('method'))} ({md_esc(a.get('status'))})" for a in tried)


def _lips(tree: Tree, node: Node, events: list[Any]) -> str:
    from backend.search.lips.readable import goal_latex, proof_markdown, readable_proof

    tex = goal_latex(node.text, _variables(tree))
    parts = [f"$${tex}$$"] if tex else []
    parts.append(_made_by(node))
    checks = [e for e in events if isinstance(e, ev.NodeVerified) and e.id == node.id]
    first = node.parent is not None
    for e in checks:
        parts.append(_check(e, first))
        first = False
    if node.status == "proved":
        proof = readable_proof(events)
        if proof is not None and (proof.steps[-1].node if proof.steps else tree.root_id) == node.id:
            parts.append(proof_markdown(proof, esc=md_esc))
    return "\n\n" + "\n\n".join(parts)


def lips_answer(tree: Tree, events: list[Any] | None) -> str:
    """The LIPS verdict in words and, once a goal is closed, the proof step by step."""
    from backend.search.lips.readable import proof_markdown, readable_proof

    fin = tree.finished
    root = tree.nodes.get(tree.root_id) if tree.root_id is not None else None
    if root is not None and root.status == "refuted":
        where = _point((root.detail or {}).get("counterexample"))
        head = f"**Refuted:** the inequality is false at {where} ({md_esc(root.method)})."
    elif fin is None:
        head = "**Searching:** no goal closed yet."
    elif fin.status == "proved":
        head = "**Proved.**"
    else:
        head = f"**Not proved** (the run ended: {md_esc(fin.status)}); no chain of goals was closed."
    if fin is not None and fin.error:
        head += f"\n\nError: {md_esc(fin.error)}"
    proof = readable_proof(events) if events else None
    return head if proof is None else f"{head}\n\n{proof_markdown(proof, esc=md_esc)}"
