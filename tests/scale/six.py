"""Six scripted problems (four right, two wrong) over the real rStar core: the problem set
of tests/scale's Ray evals."""

from __future__ import annotations

from backend.problems import Problem

FINAL = "\n\n# Now print the final answer\nprint(x)\n<end_of_code>"
PROGRAM = "<code>\n# Step 1: compute\nx = {expr}\n<end_of_step>" + FINAL
#: (question, known answer, what the scripted model computes): four right, two wrong
CASES = [
    ("Add 2 and 3.", "5", "2 + 3"),
    ("Multiply 4 by 6.", "24", "4 * 6"),
    ("Subtract 5 from 15.", "10", "15 - 4"),
    ("Divide 12 by 3.", "4", "12 // 3"),
    ("Square 7.", "49", "7 * 7"),
    ("Halve 30.", "15", "30 // 3"),
]
PROBLEMS = [Problem(f"six/{i}", "six", q, a) for i, (q, a, _) in enumerate(CASES)]
RULES = {
    "rules": [{"match": f"x = {expr}\n<end_of_step>", "texts": [FINAL]} for _, _, expr in CASES]
    + [{"match": f"Question: {q}", "texts": [PROGRAM.format(expr=expr)]} for q, _, expr in CASES]
}
#: what differs between two runs of the same spec: ids and measured times
MEASURED = ("run_id", "wall_s")


def same(rows):
    """Report lines without what differs between two runs of the same spec."""
    return [{k: v for k, v in row.items() if k not in MEASURED} for row in rows]
