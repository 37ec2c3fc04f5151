"""SOS closer: a sum-of-squares certificate, found in floating point, checked in exact rationals.

The official prover closes goals at the end with SOS tools (`closed_by_sos`: Lean's `sos!`,
and the MT-Solver `tsds`/`schd` back ends); Canopy solves a Gram-matrix SDP with cvxpy
(Clarabel, else SCS), an optional dependency (`pip install canopy-reasoning[sos]`).

1. The goal `lhs <= rhs` becomes a polynomial p >= 0: rhs - lhs over one denominator that is
   positive (by structure, or a one-variable factor without real roots); a non-homogeneous
   goal is made homogeneous with an equality constraint (a+b+c = 3: lower-degree terms times
   ((a+b+c)/3)^k, equal on the constraints); variables known >= 0 are written as squares
   (x = y^2), so a global certificate for p(y^2) covers the non-negative orthant. Other
   constraints are not used (the certificate proves a stronger statement).
2. p = z^T Q z with Q PSD, z the monomials of half degree (Newton-box pruned, and monomials
   whose square p cannot contain dropped). Where p vanishes at a point y with coordinates in
   {0, 1, -1} (the equality cases a = b = c, c = 0, ...), z(y) is in the kernel of every such
   Q, so Q = N R N^T with N an exact integer basis of the orthogonal complement (facial
   reduction): without it the rounded Q of a goal with an equality case is never exactly PSD.
3. The SDP is solved for R in floating point. The coefficient equations are put in exact
   reduced row echelon form once; R's free entries are rounded to rationals (denominators
   1, 2, 3, 4, 6, ... 720720, 2^16 ... 2^30 in turn), its pivot entries solved exactly, and R
   is checked PSD by an exact LDL^T pivot test. Only then is the goal "proved": p = z^T N R N^T
   z holds coefficient by coefficient in rationals and R is PSD, whatever the float solution.
"""

from __future__ import annotations

import logging
import time
from fractions import Fraction

import sympy as sp

from backend.search.lips.attempt import Attempt, ms_since
from backend.search.lips.problem import Goal, Inequality
from backend.search.lips.sos_cert import Block, Certificate, record
from backend.search.lips.sos_form import NO_HOMOGENISING, polynomial_form
from backend.search.lips.sos_gram import (
    DENOMINATORS,
    coefficient_equations,
    equality_zeros,
    exact_grams,
    exact_rref,
    gram_cells,
    half_degree_basis,
    monomial_values,
    prune_basis,
)
from backend.search.lips.sos_mult import multiplier_certificate

__all__ = ["DENOMINATORS", "available", "sos_close"]

log = logging.getLogger(__name__)

MAX_BASIS = 120  # Gram matrix size limit (120 x 120: ~7k unknowns; a few seconds with Clarabel)

MAX_UNKNOWNS = 600  # exact elimination over the rationals is pure Python: ~O(rows^2 x unknowns)


def available() -> bool:
    try:
        import cvxpy  # noqa: F401
    except ImportError:
        return False
    return True


def sos_close(problem: Inequality, goal: Goal, timeout_s: float = 30.0,
              max_basis: int = MAX_BASIS) -> Attempt:
    """Prove the goal by an exactly checked SOS certificate; never refutes."""
    t0 = time.perf_counter()
    deadline = t0 + timeout_s
    if not available():
        return Attempt("sos", "unknown", ms_since(t0),
                       "cvxpy not installed (pip install canopy-reasoning[sos])")
    form = polynomial_form(problem, goal, max_basis)
    if form == NO_HOMOGENISING:  # abc = 1 and the like: equality multipliers instead
        cert = multiplier_certificate(problem, goal, deadline)
        if isinstance(cert, str):
            return Attempt("sos", "unknown", ms_since(t0), f"{form}; with equality multipliers: {cert}")
        return Attempt("sos", "proved", ms_since(t0), cert.describe(),
                       certificate=record(problem, goal, cert, "with equality multipliers"))
    if isinstance(form, str):
        return Attempt("sos", "unknown", ms_since(t0), form)
    poly, how = form
    coeffs = {m: Fraction(int(c.p), int(c.q)) for m, c in zip(poly.monoms(), poly.coeffs(), strict=True)}
    basis = half_degree_basis(poly)
    if not basis:
        return Attempt("sos", "unknown", ms_since(t0), "odd degree or empty basis")
    basis = prune_basis(basis, coeffs)
    if len(basis) > max_basis:
        return Attempt("sos", "unknown", ms_since(t0), f"Gram matrix {len(basis)} > {max_basis}")
    cells = gram_cells(basis)
    if any(m not in cells for m in coeffs):
        return Attempt("sos", "unknown", ms_since(t0), "a monomial lies outside the basis' products")
    zeros = equality_zeros(poly)
    n = len(basis)
    if zeros:
        kernel = sp.Matrix([monomial_values(basis, y) for y in zeros])
        face = kernel.nullspace()  # columns of N: Q = N R N^T
        if not face:
            return Attempt("sos", "unknown", ms_since(t0), "the zeros leave no Gram matrix")
        cols = [[int(x) for x in (v * sp.ilcm(1, *[sp.fraction(x)[1] for x in v]))] for v in face]
    else:
        cols = [[int(i == j) for i in range(n)] for j in range(n)]
    k = len(cols)
    pairs = [(a, b) for a in range(k) for b in range(a, k)]
    if len(pairs) > MAX_UNKNOWNS:
        return Attempt("sos", "unknown", ms_since(t0), f"{len(pairs)} Gram unknowns > {MAX_UNKNOWNS}")
    rows = coefficient_equations(cells, coeffs, cols, pairs)
    ech = exact_rref(rows, len(pairs), deadline)
    if ech is None:
        return Attempt("sos", "unknown", ms_since(t0), "no exact Gram matrix on the face (or out of time)")
    rf = _solve_sdp(k, pairs, [[float(x) for x in r[:-1]] for r in rows], [float(r[-1]) for r in rows],
                    max(1.0, deadline - time.perf_counter()))
    if rf is None:
        return Attempt("sos", "unknown", ms_since(t0), f"SDP infeasible or failed ({k} x {k} Gram matrix)")
    floats = [rf[a][b] for a, b in pairs]
    found = exact_grams(ech, floats, [(0, a, b) for a, b in pairs], [k], deadline)
    if found is None:
        why = f"SDP solved ({k} x {k}) but no rounding was exactly PSD"
        return Attempt("sos", "unknown", ms_since(t0), why)
    (gram,), _, den = found
    face_note = f", {len(zeros)} zeros -> face {k} x {k}" if zeros else ""
    detail = f"exact Gram matrix {n} x {n}{face_note}, denominators {den}"
    detail += f" ({how})" if how else ""
    cert = Certificate(tuple(poly.gens), poly.as_expr(), (), (),
                       (Block(tuple(basis), tuple(tuple(c) for c in cols), tuple(tuple(r) for r in gram)),))
    return Attempt("sos", "proved", ms_since(t0), detail, certificate=record(problem, goal, cert, how))


def _solve_sdp(k: int, pairs: list[tuple[int, int]], a_rows: list[list[float]], b: list[float],
               timeout_s: float) -> list[list[float]] | None:
    """R (k x k, PSD) with the coefficient equations in R's upper triangle, in floating point."""
    import cvxpy as cp
    import numpy as np
    import scipy.sparse as sps

    # vec(R) (row-major) -> the upper-triangle unknowns: entry (a, b) and (b, a) map to pair (a, b)
    index = {p: c for c, p in enumerate(pairs)}
    sel_r, sel_c, sel_v = [], [], []
    for a in range(k):
        for bb in range(k):
            c = index[(min(a, bb), max(a, bb))]
            sel_r.append(c)
            sel_c.append(a * k + bb)
            sel_v.append(1.0 if a == bb else 0.5)
    sel = sps.csr_matrix((sel_v, (sel_r, sel_c)), shape=(len(pairs), k * k))
    amat = sps.csr_matrix(np.array(a_rows)) @ sel
    r = cp.Variable((k, k), PSD=True)
    prob = cp.Problem(cp.Minimize(0), [amat @ cp.vec(r, order="C") == np.array(b)])
    for solver in ("CLARABEL", "SCS"):
        if solver not in cp.installed_solvers():
            continue
        try:
            kw = {"time_limit": timeout_s} if solver == "CLARABEL" else {"time_limit_secs": timeout_s}
            prob.solve(solver=solver, **kw)
        except (cp.error.SolverError, ValueError) as exc:
            log.info("sos: %s failed: %s", solver, exc)
            continue
        if prob.status in ("optimal", "optimal_inaccurate") and r.value is not None:
            return r.value.tolist()
    return None


def main() -> None:
    """`python -m backend.search.lips.sos mo-int 60`: SOS alone on every root goal of a set."""
    import collections
    import sys
    import warnings

    from backend.search.lips.problems import load_inequalities

    warnings.filterwarnings("ignore")  # cvxpy's "solution may be inaccurate": checked exactly anyway
    name = sys.argv[1] if len(sys.argv) > 1 else "ineq-easy"
    budget = float(sys.argv[2]) if len(sys.argv) > 2 else 30.0
    tally: collections.Counter = collections.Counter()
    for p in load_inequalities(name):
        a = sos_close(p, p.goal, budget)
        tally[a.status] += 1
        print(f"{p.id}: {a.status} {a.ms:.0f} ms {a.detail}", flush=True)
    print(dict(tally))


if __name__ == "__main__":
    main()
