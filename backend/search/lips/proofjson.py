"""NeqLIPS ``proof.json`` -> Canopy events, so an official proof tree opens in the viewer.

The file is one nested object per proof state: ``{"name": <Lean goal state>, "children": [...],
"data": {"tactic": <the tactic that produced this state>, "goal": [<goal states>],
"is_golden": <on the final proof>}}`` (a real 443-node, depth-12 tree ships as
``assets/problems/neqlips/proof.json``, MIT). Each state becomes a ``goal`` node whose text is
the ``⊢`` part and whose meta carries the tactic, the hypotheses and the golden flag; the golden
chain from the root becomes ``best_path``. Golden leaves are marked ``proved`` with the method
"neqlips-import": the official prover trusts external solvers, so Canopy says the step was
imported, not re-checked, and the run ends "solved" (never "proved").
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

from backend import events as ev

_TACTIC_NAME = re.compile(r"^\s*([A-Za-z_][\w.']*)")


def _split_state(name: str) -> tuple[str, list[str], str]:
    """(case label, hypotheses, goal) of a Lean goal state; several goals keep the first ⊢."""
    lines = (name or "").split("\n")
    case = ""
    if lines and lines[0].startswith("case "):
        case = lines.pop(0)[5:].strip()
    hyps, goal, in_goal = [], [], False
    for line in lines:
        if line.startswith("⊢"):
            if in_goal:  # a second goal of the same state: keep only the first
                break
            in_goal = True
            goal.append(line[1:].strip())
        elif in_goal:
            goal.append(line.strip())
        elif line.strip():
            hyps.append(line.strip())
    text = " ".join(goal) if goal else (name or "").strip()
    return case, hyps, text


def _walk(tree: dict[str, Any]) -> list[tuple[dict[str, Any], int | None, int]]:
    """(node, parent index, own index) in DFS preorder, iteratively (depth is not bounded)."""
    out: list[tuple[dict[str, Any], int | None, int]] = []
    stack: list[tuple[dict[str, Any], int | None]] = [(tree, None)]
    while stack:
        node, parent = stack.pop()
        if not isinstance(node, dict):
            raise ValueError(f"proof.json: a node must be an object, got {type(node).__name__}")
        idx = len(out)
        out.append((node, parent, idx))
        kids = node.get("children") or []
        if not isinstance(kids, list):
            raise ValueError("proof.json: 'children' must be a list")
        stack.extend((k, idx) for k in reversed(kids))
    return out


def is_proofjson(path: str | Path) -> bool:
    """A JSON object with name/children (not a Canopy events file)."""
    try:
        with open(path, encoding="utf-8") as fh:
            head = fh.read(4096).lstrip()
        if not head.startswith("{") or '"format"' in head.split("\n", 1)[0]:
            return False
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return False
    return isinstance(data, dict) and "name" in data and "children" in data


def proofjson_to_events(path: str | Path, *, run_id: str | None = None) -> list[ev.Event]:
    """Events of one LIPS run that, folded by ``Tree``, give the proof tree of ``path``."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict) or "name" not in data:
        raise ValueError(f"{path}: not a NeqLIPS proof.json (expected an object with 'name' and 'children')")
    nodes = _walk(data)
    _, root_hyps, root_goal = _split_state(data["name"])
    log = ev.EventLog(clock=lambda: 0.0)
    log.emit(
        ev.RunStarted,
        run_id=run_id or uuid.uuid4().hex[:12],
        algorithm="lips",
        problem="; ".join([*root_hyps, f"prove {root_goal}"]),
        config={"imported_from": Path(path).name, "format": "neqlips-proof.json"},
        engine={"name": "neqlips", "model": "imported"},
    )
    golden_children: dict[int, list[int]] = {}
    for node, parent, idx in nodes:
        d = node.get("data") or {}
        case, hyps, goal = _split_state(node.get("name", ""))
        tactic = str(d.get("tactic", "") or "")
        m = _TACTIC_NAME.match(tactic)
        golden = bool(d.get("is_golden"))
        meta = {
            "tactic": tactic,
            "tactic_name": m.group(1) if m else "",
            "lemma": None,
            "instantiation": {},
            "golden": golden,
            "hypotheses": hyps,
        }
        if case:
            meta["case"] = case
        goals = d.get("goal")
        if isinstance(goals, list) and len(goals) > 1:
            meta["goals"] = len(goals)
        leaf = not node.get("children")
        log.emit(ev.NodeAdded, id=idx, parent=parent, kind="goal", text=goal, terminal=leaf, meta=meta)
        if golden and parent is not None:
            golden_children.setdefault(parent, []).append(idx)
        if golden and leaf:
            log.emit(
                ev.NodeVerified,
                id=idx,
                status="proved",
                method="neqlips-import",
                output="closed in the NeqLIPS run (external solver trusted; not re-checked by Canopy)",
            )
    best = [0]
    while golden_children.get(best[-1]):
        best.append(golden_children[best[-1]][0])
    golden_root = bool((data.get("data") or {}).get("is_golden"))
    log.emit(
        ev.RunFinished,
        status="solved" if golden_root else "exhausted",
        answer="proved by NeqLIPS (imported, not re-checked)" if golden_root else None,
        best_path=best,
        stats={"nodes": len(nodes), "golden": sum(len(v) for v in golden_children.values()) + 1},
    )
    return log.events


def proofjson_to_jsonl(path: str | Path, out: str | Path) -> int:
    """Write the events as a Canopy events file (what ``canopy import`` reads)."""
    return ev.write_jsonl(proofjson_to_events(path), out, algorithm="lips")


def main() -> None:
    """`python -m backend.search.lips.proofjson proof.json out.jsonl`."""
    import sys

    n = proofjson_to_jsonl(sys.argv[1], sys.argv[2])
    print(f"wrote {n} events to {sys.argv[2]}")


if __name__ == "__main__":
    main()
