"""The proof of a LIPS run: the chain root -> closed goal checked again, and written out.

A goal closed during the search counts only after ``recheck``: with fresh test points, each
rewrite edge by ``check_rewrite`` (constraints allowed) or else ``check_step``, each scaling
edge by ``check_step`` = "passed" (unknown is a failure), each symbolic edge by deriving it
again (``symtactics.rederive``), then ``close_goal`` on the last goal. ``proof_text`` prints
the re-checked chain for ``SolveResult.proof`` and ``canopy solve``.
"""

from __future__ import annotations

import itertools
from typing import Any

from backend.search.lips.cauchy_cert import certifier
from backend.search.lips.closing import CloseConfig, close_goal
from backend.search.lips.equivalence import check_rewrite
from backend.search.lips.filtering import FilterConfig, check_step
from backend.search.lips.frontier import GoalNode
from backend.search.lips.numeric import PointCache
from backend.search.lips.problem import Inequality
from backend.search.lips.readable_cert import certificate_lines
from backend.search.lips.sos_cert import check_record
from backend.search.lips.symtactics import rederive


def recheck(
    problem: Inequality,
    nodes: dict[int, GoalNode],
    path: list[int],
    *,
    filter_cfg: FilterConfig,
    close_cfg: CloseConfig,
    z3_timeout_s: float,
    certificate: dict[str, Any] | None = None,
) -> tuple[bool, str, list[dict[str, Any]]]:
    """Re-check every step on ``path`` (root first) with fresh test points, then the close:
    (ok, why not, one record per check). A close with an SOS ``certificate`` is re-checked by
    reading its squares back and summing them exactly (``sos_cert.check_record``) instead of
    solving the SDP again; when that fails, the close is run again as for any checker."""
    checks: list[dict[str, Any]] = []
    cache = PointCache()
    for a, b in itertools.pairwise(path):
        old, new = nodes[a].goal, nodes[b].goal
        nb = nodes[b]
        ok = False
        if nb.kind == "symbolic":
            ok, method = rederive(problem, old, new, nb.justification.get("tactic", ""))
            checks.append({"node": b, "ok": ok, "method": method})
            if not ok:
                return False, f"step to node {b} not justified ({method})", checks
            continue
        if nb.kind == "rewrite":
            er = check_rewrite(problem, old, new, use_constraints=True, z3_timeout_s=z3_timeout_s)
            ok, method = er.accepted, f"equivalence:{er.method}"
        if not ok:
            exact = certifier(problem, old, new, nb.kind, nb.justification)
            fr = check_step(problem, old, new, cache, filter_cfg, exact)
            ok, method = fr.status == "passed", f"check_step:{fr.method}:{fr.status}"
        checks.append({"node": b, "ok": ok, "method": method})
        if not ok:
            return False, f"step to node {b} not justified ({method})", checks
    last = path[-1]
    if certificate is not None and certificate.get("kind") == "sos":
        ok, how = check_record(problem, nodes[last].goal, certificate)
        if ok:
            method = f"close:sos certificate ({how})"
            checks.append({"node": last, "ok": True, "method": method, "close": True})
            return True, "", checks
    cr = close_goal(problem, nodes[last].goal, cache, close_cfg)
    checks.append({"node": last, "ok": cr.proved, "method": f"close:{cr.method}", "close": True})
    if not cr.proved:
        return False, f"final goal not closed again ({cr.status})", checks
    return True, "", checks


def proof_text(
    problem: Inequality,
    nodes: dict[int, GoalNode],
    path: list[int],
    chain: list[dict[str, Any]],
    closed_by: str,
    certificate: dict[str, Any] | None = None,
) -> str:
    """The proof as a readable chain of justified steps: for each step the tactic, the lemma and
    its instantiation (or the rewrite / the symbolic tactic's side conditions), how the step was
    justified when it was made and when it was re-checked (``chain``, from ``recheck``); then
    the checker that closed the last goal."""
    recheck_by = {c["node"]: c["method"] for c in chain if not c.get("close")}
    closes = [c["method"] for c in chain if c.get("close")]
    cons = ", ".join(str(c) for c in problem.constraints) or "no constraints"
    lines = [f"Theorem ({cons}): {nodes[path[0]].goal}"]
    if len(path) > 1:
        lines.append("Proof (each new goal implies the goal before it):")
    for i, nid in enumerate(path[1:], 1):
        n = nodes[nid]
        m = n.meta
        lines.append(f"  step {i}: {m.get('tactic') or n.kind}")
        if n.kind == "scale":
            inst = ", ".join(f"{k} = {v}" for k, v in (m.get("instantiation") or {}).items())
            side = m.get("side", "?")
            lines.append(f"    lemma {m.get('lemma')} applied to the {side}; instantiation: {inst}")
        elif n.kind == "rewrite":
            lines.append(f"    rewrite '{m.get('rewrite')}' ({m.get('source')}): lhs - rhs kept equal")
        elif n.kind == "symbolic":
            inst = ", ".join(f"{k} = {v}" for k, v in (m.get("instantiation") or {}).items())
            lines.append(f"    {inst}")
        if n.checked_by:
            lines.append(f"    justified by: {n.checked_by}")
        if nid in recheck_by:
            lines.append(f"    re-checked: {recheck_by[nid]}")
        lines.append(f"    new goal: {n.goal}")
    last = nodes[path[-1]].goal
    again = f" (re-checked with fresh test points: {closes[0]})" if closes else ""
    lines.append(f"  closed: {last} by {closed_by}{again}")
    lines += [f"    {line}" for line in certificate_lines(certificate)]
    return "\n".join(lines)
