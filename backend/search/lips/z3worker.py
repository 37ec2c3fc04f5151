"""A z3 worker process: reads one JSON request a line on stdin, answers one JSON line on stdout.

Started by ``smt.py`` (``python z3worker.py``, no package imports, so it starts in ~0.2 s) and
killed by it when a query runs past its hard time limit: z3's own ``timeout`` is a soft limit
that z3 checks only at some points of its search, so a query can overrun it; a killed process
always stops. Request: {"smt2": SMT-LIB assertions, "vars": [names whose model values to
return], "timeout_ms": z3's soft timeout (0 = none), "rlimit": z3 resource limit (0 = none)}.
Answer: {"status": "sat"|"unsat"|"unknown", "model": {name: float}, "reason": str}.
"""

from __future__ import annotations

import json
import sys


def _value(v) -> float:
    """z3 numeral (rational or algebraic) -> float."""
    f = v.as_fraction() if hasattr(v, "as_fraction") else v.approx(20).as_fraction()
    return float(f.numerator) / float(f.denominator)


def answer(req: dict) -> dict:
    import z3

    s = z3.SolverFor("QF_NRA")
    if req.get("timeout_ms"):
        s.set("timeout", int(req["timeout_ms"]))
    if req.get("rlimit"):
        s.set("rlimit", int(req["rlimit"]))
    s.from_string(req["smt2"])
    res = s.check()
    if res == z3.sat:
        m = s.model()
        by_name = {d.name(): d for d in m.decls()}
        model = {}
        for n in req.get("vars", []):
            d = by_name.get(n)
            model[n] = _value(m.eval(d(), model_completion=True)) if d is not None else 0.0
        return {"status": "sat", "model": model, "reason": "z3 found a model"}
    if res == z3.unsat:
        return {"status": "unsat", "model": {}, "reason": "z3: no such point"}
    return {"status": "unknown", "model": {}, "reason": f"z3: {s.reason_unknown()}"}


def main() -> None:
    import z3  # noqa: F401  (load before the first request: the parent times requests only)

    sys.stdout.write('{"ready": true}\n')
    sys.stdout.flush()
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            out = answer(json.loads(line))
        except Exception as exc:  # a bad request answers, never kills the worker
            out = {"status": "unknown", "model": {}, "reason": f"worker error: {type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
