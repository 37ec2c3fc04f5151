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

import itertools
import logging
import math
import time
from fractions import Fraction

import sympy as sp

from backend.search.lips.closing import Attempt, is_nonneg
from backend.search.lips.problem import Goal, Inequality

log = logging.getLogger(__name__)

MAX_BASIS = 120  # Gram matrix size limit (120 x 120: ~7k unknowns; a few seconds with Clarabel)
MAX_UNKNOWNS = 600  # exact elimination over the rationals is pure Python: ~O(rows^2 x unknowns)
# rounding grids tried in turn: small highly composite numbers first (a Gram matrix with entries
# like 2/3 or 5/12 is found exactly), then powers of two
DENOMINATORS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 36, 48, 60, 64, 120, 128, 256, 360, 512, 720, 1024,
                2520, 4096, 5040, 2**16, 55440, 720720, 2**20, 2**30)


def available() -> bool:
    try:
        import cvxpy  # noqa: F401
    except ImportError:
        return False
    return True


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000


def homogenise(problem: Inequality, p: sp.Expr, syms: list[sp.Symbol]) -> sp.Expr | None:
    """p itself when homogeneous, else p with each lower-degree term times delta^k where delta = 1
    is a homogeneous equality constraint (a+b+c = 3 -> delta = (a+b+c)/3): equal to p on the
    constraints (official `utils.make_homogeneous`); None when no constraint fits."""
    poly = sp.Poly(p, *syms)
    degs = {sum(m) for m in poly.monoms()}
    if len(degs) <= 1:
        return p
    top = max(degs)
    for con in problem.equalities:
        ex = sp.expand(con.expr)
        if not ex.is_polynomial(*syms):
            continue
        const = ex.subs({s: 0 for s in syms})
        head = sp.Poly(ex - const, *syms)
        hdeg = {sum(m) for m in head.monoms()}
        if const == 0 or len(hdeg) != 1:
            continue
        m = hdeg.pop()
        delta = head.as_expr() / (-const)
        if any((top - sum(mon)) % m for mon in poly.monoms()):
            continue
        return sp.expand(sp.Add(*[c * sp.Mul(*[s**e for s, e in zip(syms, mon, strict=True)])
                                  * delta ** ((top - sum(mon)) // m)
                                  for mon, c in zip(poly.monoms(), poly.coeffs(), strict=True)]))
    return None


def _positive(f: sp.Expr, signs: dict) -> bool:
    """f > 0 everywhere it matters: by structure, or an even power, or a one-variable polynomial
    with a positive leading coefficient and no real root (a^2 - 4a + 9)."""
    if is_nonneg(f, signs, strict=True):
        return True
    if f.is_Pow and f.exp.is_Integer and f.exp > 0:
        return _positive(f.base, signs)
    if len(f.free_symbols) == 1:
        x = next(iter(f.free_symbols))
        poly = sp.Poly(f, x)
        return poly.LC() > 0 and poly.count_roots() == 0 if f.is_polynomial(x) else False
    return False


def polynomial_form(problem: Inequality, goal: Goal,
                    max_basis: int | None = None) -> tuple[sp.Poly, str] | str:
    """The polynomial whose global non-negativity proves the goal, or why there is none."""
    syms = problem.symbol_list
    signs = {s: problem.sign_of(s.name) for s in syms}
    num, den = sp.fraction(sp.together(goal.rhs - goal.lhs))
    if not (num.is_polynomial(*syms) and den.is_polynomial(*syms)):
        return "not a rational function (radicals, powers with variable exponents)"
    if den.free_symbols and not all(_positive(f, signs) for f in sp.Mul.make_args(sp.factor(den))):
        return "denominator not positive by structure"
    if den.is_number and den < 0:
        num = -num
    p = sp.expand(num)
    if p.is_number:
        return "constant"
    sq = {s: sp.Symbol(f"{s.name}_sq", real=True) ** 2 for s in syms if signs[s] != "real"}
    if max_basis is not None:  # before the slow steps: the Gram matrix's size at least
        pp = sp.Poly(p, *syms)
        half = pp.total_degree() if sq else pp.total_degree() // 2
        homog = bool(problem.equalities) or len({sum(m) for m in pp.monoms()}) == 1
        size = math.comb(len(syms) - 1 + half, half) if homog else math.comb(len(syms) + half, half)
        if size > 2 * max_basis:  # Newton pruning rarely removes more than half
            return f"Gram matrix of about {size} > {max_basis}"
    how = []
    if problem.equalities:
        h = homogenise(problem, p, syms)
        if h is None:
            return "no equality constraint to homogenise with"
        if h != p:
            how.append("homogenised with the equality constraint")
        p = h
    if sq:
        p = sp.expand(p.xreplace(sq))
        how.append(f"{', '.join(s.name for s in sq)} >= 0 written as squares")
    ys = sorted(p.free_symbols, key=str)
    return sp.Poly(p, *ys), "; ".join(how)


def _basis(poly: sp.Poly) -> list[tuple[int, ...]] | None:
    monoms = poly.monoms()
    n = len(poly.gens)
    if any(sum(m) % 2 for m in monoms) and len({sum(m) for m in monoms}) == 1:
        return None  # odd degree homogeneous: never >= 0 unless 0
    if poly.total_degree() % 2:
        return None
    lo = [min(m[i] for m in monoms) for i in range(n)]
    hi = [max(m[i] for m in monoms) for i in range(n)]
    degs = {sum(m) for m in monoms}
    half_lo, half_hi = (min(degs) + 1) // 2, max(degs) // 2
    out = []
    for e in itertools.product(*[range((lo[i] + 1) // 2, hi[i] // 2 + 1) for i in range(n)]):
        if half_lo <= sum(e) <= half_hi:
            out.append(e)
    return out


def _psd_exact(mat: list[list[Fraction]]) -> bool:
    """Exact PSD test: symmetric Gaussian elimination; a zero pivot needs a zero row."""
    m = [row[:] for row in mat]
    n = len(m)
    for k in range(n):
        piv = m[k][k]
        if piv < 0:
            return False
        if piv == 0:
            if any(m[k][j] != 0 for j in range(k + 1, n)):
                return False
            continue
        for i in range(k + 1, n):
            f = m[i][k] / piv
            if f == 0:
                continue
            row_i, row_k = m[i], m[k]
            for j in range(k + 1, n):
                row_i[j] -= f * row_k[j]
    return True


def _project(q: list[list[Fraction]], cells: dict, coeffs: dict) -> list[list[Fraction]]:
    """The exact orthogonal projection onto {Q symmetric : sum over each monomial's cells = coeff}."""
    out = [row[:] for row in q]
    for mono, ij in cells.items():
        err = Fraction(coeffs.get(mono, 0)) - sum(out[i][j] for i, j in ij)
        if err:
            step = err / len(ij)
            for i, j in ij:
                out[i][j] += step
    return out


def _cells(basis: list[tuple[int, ...]]) -> dict[tuple[int, ...], list[tuple[int, int]]]:
    cells: dict[tuple[int, ...], list[tuple[int, int]]] = {}
    for i, j in itertools.product(range(len(basis)), repeat=2):
        mono = tuple(a + b for a, b in zip(basis[i], basis[j], strict=True))
        cells.setdefault(mono, []).append((i, j))
    return cells


def _prune(basis: list[tuple[int, ...]], coeffs: dict) -> list[tuple[int, ...]]:
    """Drop z_i when the only way to make z_i^2 is Q_ii and p has no such monomial: then
    Q_ii = 0, so row i of a PSD Q is zero (repeat until nothing changes)."""
    while True:
        cells = _cells(basis)
        drop = {i for i, e in enumerate(basis)
                if coeffs.get(tuple(2 * a for a in e), 0) == 0 and cells[tuple(2 * a for a in e)] == [(i, i)]}
        if not drop:
            return basis
        basis = [e for i, e in enumerate(basis) if i not in drop]


def _zeros(poly: sp.Poly) -> list[tuple[int, ...]]:
    """Points with coordinates in {0, 1, -1} where p vanishes (the equality cases a = b = c,
    a = b, c = 0 ... after the squares): z(y) is then in the kernel of every Gram matrix."""
    n = len(poly.gens)
    if 3**n > 300:
        return []
    return [y for y in itertools.product((0, 1, -1), repeat=n)
            if any(y) and poly.eval(dict(zip(poly.gens, y, strict=True))) == 0]


def _monomial_values(basis: list[tuple[int, ...]], y: tuple[int, ...]) -> list[int]:
    out = []
    for e in basis:
        v = 1
        for yi, k in zip(y, e, strict=True):
            v *= yi**k
        out.append(v)
    return out


def _equations(cells: dict, coeffs: dict, cols: list[list[int]], pairs: list[tuple[int, int]]) -> list:
    """The coefficient equations of z^T (N R N^T) z = p in the upper-triangle entries of R:
    for monomial m, sum over (a, b) of r_ab (N^T E_m N)_ab (+ the mirror entry), exactly."""
    import numpy as np

    nmat = np.array(cols, dtype=object).T  # n x k, integers: exact with Python ints
    au = [a for a, _ in pairs]
    bu = [b for _, b in pairs]
    off = np.array([a != b for a, b in pairs])
    rows = []
    for mono, ij in cells.items():
        ii = [i for i, _ in ij]
        jj = [j for _, j in ij]
        gram = nmat[ii].T.dot(nmat[jj])  # k x k: sum over the cells of N_ia N_jb
        v = gram[au, bu] + np.where(off, gram[bu, au], 0)
        rows.append([Fraction(int(x)) for x in v] + [coeffs.get(mono, Fraction(0))])
    return rows


def _rref(rows: list[list[Fraction]], ncols: int,
          deadline: float) -> tuple[list[list[Fraction]], list[int]] | None:
    """Reduced row echelon form (exact) of an augmented matrix with ncols coefficient columns."""
    m = [r[:] for r in rows]
    pivots: list[int] = []
    r = 0
    for c in range(ncols):
        if time.perf_counter() > deadline:
            return None
        piv = next((i for i in range(r, len(m)) if m[i][c] != 0), None)
        if piv is None:
            continue
        m[r], m[piv] = m[piv], m[r]
        inv = 1 / m[r][c]
        m[r] = [x * inv for x in m[r]]
        for i in range(len(m)):
            if i != r and m[i][c] != 0:
                f = m[i][c]
                row_r = m[r]
                m[i] = [a - f * b for a, b in zip(m[i], row_r, strict=True)]
        pivots.append(c)
        r += 1
        if r == len(m):
            break
    for row in m[r:]:
        if row[-1] != 0:
            return None  # inconsistent: no Gram matrix on this face
    return m[:r], pivots


def sos_close(problem: Inequality, goal: Goal, timeout_s: float = 30.0,
              max_basis: int = MAX_BASIS) -> Attempt:
    """Prove the goal by an exactly checked SOS certificate; never refutes."""
    t0 = time.perf_counter()
    deadline = t0 + timeout_s
    if not available():
        return Attempt("sos", "unknown", _ms(t0), "cvxpy not installed (pip install canopy-reasoning[sos])")
    form = polynomial_form(problem, goal, max_basis)
    if isinstance(form, str):
        return Attempt("sos", "unknown", _ms(t0), form)
    poly, how = form
    coeffs = {m: Fraction(int(c.p), int(c.q)) for m, c in zip(poly.monoms(), poly.coeffs(), strict=True)}
    basis = _basis(poly)
    if not basis:
        return Attempt("sos", "unknown", _ms(t0), "odd degree or empty basis")
    basis = _prune(basis, coeffs)
    if len(basis) > max_basis:
        return Attempt("sos", "unknown", _ms(t0), f"Gram matrix {len(basis)} > {max_basis}")
    cells = _cells(basis)
    if any(m not in cells for m in coeffs):
        return Attempt("sos", "unknown", _ms(t0), "a monomial lies outside the basis' products")
    zeros = _zeros(poly)
    n = len(basis)
    if zeros:
        kernel = sp.Matrix([_monomial_values(basis, y) for y in zeros])
        face = kernel.nullspace()  # columns of N: Q = N R N^T
        if not face:
            return Attempt("sos", "unknown", _ms(t0), "the zeros leave no Gram matrix")
        cols = [[int(x) for x in (v * sp.ilcm(1, *[sp.fraction(x)[1] for x in v]))] for v in face]
    else:
        cols = [[int(i == j) for i in range(n)] for j in range(n)]
    k = len(cols)
    pairs = [(a, b) for a in range(k) for b in range(a, k)]
    if len(pairs) > MAX_UNKNOWNS:
        return Attempt("sos", "unknown", _ms(t0), f"{len(pairs)} Gram unknowns > {MAX_UNKNOWNS}")
    rows = _equations(cells, coeffs, cols, pairs)
    ech = _rref(rows, len(pairs), deadline)
    if ech is None:
        return Attempt("sos", "unknown", _ms(t0), "no exact Gram matrix on the face (or out of time)")
    ech_rows, pivots = ech
    rf = _solve_sdp(k, pairs, [[float(x) for x in r[:-1]] for r in rows], [float(r[-1]) for r in rows],
                    max(1.0, deadline - time.perf_counter()))
    if rf is None:
        return Attempt("sos", "unknown", _ms(t0), f"SDP infeasible or failed ({k} x {k} Gram matrix)")
    free = [c for c in range(len(pairs)) if c not in set(pivots)]
    for den in DENOMINATORS:
        if time.perf_counter() > deadline:
            break
        vals = {c: Fraction(round(rf[pairs[c][0]][pairs[c][1]] * den), den) for c in free}
        sol = dict(vals)
        for row, pc in zip(ech_rows, pivots, strict=True):
            sol[pc] = row[-1] - sum(row[c] * vals[c] for c in free if row[c] != 0)
        r_mat = [[Fraction(0)] * k for _ in range(k)]
        for c, (a, b) in enumerate(pairs):
            r_mat[a][b] = r_mat[b][a] = sol[c]
        if _psd_exact(r_mat):
            face_note = f", {len(zeros)} zeros -> face {k} x {k}" if zeros else ""
            detail = f"exact Gram matrix {n} x {n}{face_note}, denominators {den}"
            detail += f" ({how})" if how else ""
            return Attempt("sos", "proved", _ms(t0), detail)
    return Attempt("sos", "unknown", _ms(t0), f"SDP solved ({k} x {k}) but no rounding was exactly PSD")


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
