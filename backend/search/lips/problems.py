"""Inequality problem sets (JSONL) and their loader.

The sets are registered once, in the problem catalogue (``backend/problems.py``, which also
serves them to ``canopy eval`` as plain Problems); this module reads them as ``Inequality``
objects. Sets live in `assets/problems/`:
  ineq-easy   ineq_easy.jsonl    textbook inequalities written for Canopy (all true, z3-checked)
  ineq-false  ineq_false.jsonl   false inequalities that hold at most random points (for tests)
  mo-int      ineq_mo_int.jsonl  the 20 NeqLIPS MO-INT theorems (converted from INT_MO.lean)
  chen-no     ineq_chen_no.jsonl the 42 NeqLIPS Evan Chen theorems (from Evan_chen.lean)

One JSON object per line: id, statement (plain syntax), variables, constraints (plain strings),
lhs, rhs (the goal is lhs <= rhs), source, reference_proof (Lean tactic lines, may be empty).
Regenerate the two Lean-derived sets with `python -m backend.search.lips.problems`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from backend.names import unknown_name_error
from backend.paths import assets_dir
from backend.problems import inequality_sets
from backend.search.lips.expr import lean_to_plain, make_symbols, parse_expression, to_plain
from backend.search.lips.lean import parse_lean_file
from backend.search.lips.problem import Goal, Inequality, parse_constraint

log = logging.getLogger(__name__)

ASSETS = assets_dir() / "problems"
PROBLEM_SETS = inequality_sets()  # name -> file under ASSETS
LEAN_SOURCES = {  # set name -> (Lean file, id prefix)
    "mo-int": ("INT_MO.lean", "mo-int"),
    "chen-no": ("Evan_chen.lean", "chen-no"),
}


def problem_to_record(p: Inequality) -> dict:
    """JSON-ready dict; constraints keep their source wording in plain syntax."""
    cons = [lean_to_plain(c.text) if c.text else f"{to_plain(c.expr)} {c.rel} 0" for c in p.constraints]
    lhs, rhs = to_plain(p.goal.lhs), to_plain(p.goal.rhs)
    return {
        "id": p.id,
        "statement": "; ".join([*cons, f"prove {lhs} <= {rhs}"]),
        "variables": list(p.variables),
        "constraints": cons,
        "lhs": lhs,
        "rhs": rhs,
        "source": p.source,
        "reference_proof": list(p.reference_proof),
        **dict(p.meta),
    }


def record_to_problem(rec: dict) -> Inequality:
    """Inverse of `problem_to_record`; errors name the record id and the failing field."""
    rid = rec.get("id", "?")
    names = tuple(rec["variables"])
    symbols = make_symbols(names)
    cons = []
    for i, c in enumerate(rec.get("constraints", []), start=1):
        cons += parse_constraint(c, symbols, where=f"{rid} constraint {i}")
    goal = Goal(parse_expression(rec["lhs"], symbols, where=f"{rid} lhs"),
                parse_expression(rec["rhs"], symbols, where=f"{rid} rhs"))
    known = {"id", "statement", "variables", "constraints", "lhs", "rhs", "source", "reference_proof"}
    meta = tuple((k, str(v)) for k, v in rec.items() if k not in known)
    return Inequality(names, tuple(cons), goal, id=rid, source=rec.get("source", ""),
                      statement=rec.get("statement", ""),
                      reference_proof=tuple(rec.get("reference_proof", [])), meta=meta)


def _path(name: str) -> Path:
    if name not in PROBLEM_SETS:
        raise unknown_name_error("inequality set", name, PROBLEM_SETS)
    return ASSETS / PROBLEM_SETS[name]


def load_inequalities(name: str) -> list[Inequality]:
    """All problems of a named set, in file order."""
    lines = _path(name).read_text(encoding="utf-8").splitlines()
    return [record_to_problem(json.loads(line)) for line in lines if line.strip()]


def lean_set_records(name: str) -> list[dict]:
    """Convert a NeqLIPS Lean file to records (theorems that fail to parse are logged and skipped)."""
    file, prefix = LEAN_SOURCES[name]
    out = []
    for t in parse_lean_file(ASSETS / "neqlips" / file):
        if t.problem is None:
            log.warning("%s: %s not converted: %s", file, t.name, t.error)
            continue
        rec = problem_to_record(t.problem)
        rec["id"] = f"{prefix}-{t.name}"
        rec["source"] = f"NeqLIPS {file} {t.name} (MIT, github.com/Lizn-zn/NeqLIPS@ad657df)"
        out.append(rec)
    return out


def write_jsonl(records: list[dict], path: Path) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    for name in LEAN_SOURCES:
        recs = lean_set_records(name)
        write_jsonl(recs, _path(name))
        log.info("wrote %d problems to %s", len(recs), _path(name))


if __name__ == "__main__":
    main()
