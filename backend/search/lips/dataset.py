"""Inequality sets as Canopy problems (``canopy eval --dataset ineq-easy --algo lips``).

A record of ``assets/problems/ineq_*.jsonl`` becomes a ``Problem`` whose question is the plain
statement the LIPS search parses and whose gold answer is "proved" (true sets) or "refuted"
(``ineq-false``): a false inequality counts as right only when the run finds it false, and a
run that proves it is wrong. No sympy is imported here (dataset listing stays cheap).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def inequality_record(record: Mapping[str, Any], dataset: str, index: int) -> Any:
    from backend.problems import Problem

    statement = record.get("statement")
    if not isinstance(statement, str) or not statement.strip():
        raise ValueError(f"{dataset} record {index}: no statement")
    local_id = str(record.get("id", index))
    answer = "refuted" if "false" in dataset else "proved"
    meta = {k: v for k, v in record.items() if k not in ("statement", "id")}
    return Problem(
        id=f"{dataset}/{local_id}", dataset=dataset, question=statement.strip(), answer=answer, meta=meta
    )
