"""SOS with equality multipliers: p + sum_k lambda_k h_k = sigma, sigma a sum of squares.

For constraint sets like abc = 1 the goal cannot be made homogeneous (`sos_form.homogenise`
needs degree gaps the constraint's degree divides), so the plain certificate p = z^T Q z is
out of reach. Here every equality constraint h_k = 0 gets a polynomial multiplier lambda_k
(free sign, degree <= D - deg h_k): where every h_k vanishes, p = sigma >= 0. Variables known
>= 0 are written as squares first (as in `sos_form`), so p and the h_k are even in each y, and
sigma may then be taken even too (averaging over sign flips keeps a certificate one): its Gram
matrix splits into blocks by the parity of the monomials. Points y in {0, 1, -1}^n where p and
every h_k vanish are zeros of sigma, so z_c(y) is in the kernel of each block (facial
reduction, as in `sos.py`).

Exactly as in `sos.py`: one exact reduced row echelon form of the coefficient equations (Gram
entries and multiplier coefficients together), the float SDP's free entries rounded to
rationals, the pivots solved exactly, every block checked PSD exactly. `Certificate.verify`
checks the identity again in sympy's rational arithmetic, independently of the elimination.
"""

from __future__ import annotations

import itertools
import time
from fractions import Fraction

import sympy as sp

from backend.search.lips.problem import Goal, Inequality
from backend.search.lips.sos_cert import Block, Certificate, monomial
from backend.search.lips.sos_form import IRRATIONAL, goal_numerator, rational_coefficients, squares
from backend.search.lips.sos_gram import exact_grams, exact_rref

__all__ = ["Block", "Certificate", "certify", "multiplier_certificate"]

MAX_UNKNOWNS = 600  # Gram entries + multiplier coefficients (the exact elimination is pure Python)


def multiplier_certificate(problem: Inequality, goal: Goal, deadline: float) -> Certificate | str:
    """A certificate for the goal with a multiplier per equality constraint (variables known >= 0
    as squares), trying degrees D, D + 2, D + 4 until the deadline; verified in sympy."""
    p = goal_numerator(problem, goal)
    if isinstance(p, str):
        return p
    sq = squares(problem)
    target = sp.expand(p.xreplace(sq))
    hs = [sp.expand(c.expr.xreplace(sq)) for c in problem.equalities]
    if not all(h.is_polynomial(*h.free_symbols) for h in hs):
        return "a constraint is not polynomial"
    if not all(rational_coefficients(h, sorted(h.free_symbols, key=str)) for h in hs if h.free_symbols):
        return f"an equality constraint has {IRRATIONAL}"
    gens = tuple(sorted(set().union(target.free_symbols, *[h.free_symbols for h in hs]), key=str))
    why = "out of time"
    for extra in (0, 2, 4):
        if time.perf_counter() > deadline:
            break
        cert = certify(target, hs, gens, deadline, extra)
        if isinstance(cert, Certificate):
            return cert if cert.verify() else "the certificate did not verify in sympy"
        why = cert
    return why


def _monomials(n: int, max_deg: int, even: bool) -> list[tuple[int, ...]]:
    step = 2 if even else 1
    return [e for e in itertools.product(range(0, max_deg + 1, step), repeat=n) if sum(e) <= max_deg]


def _common_zeros(polys: list[dict], n: int) -> list[tuple[int, ...]]:
    """Points in {0, 1, -1}^n, not 0, where every polynomial vanishes (the equality cases)."""
    if 3**n > 300:
        return []

    def value(d: dict, y: tuple[int, ...]) -> Fraction:
        return sum((c * _power_product(y, m) for m, c in d.items()), Fraction(0))

    return [y for y in itertools.product((0, 1, -1), repeat=n)
            if any(y) and all(value(d, y) == 0 for d in polys)]


def _power_product(y: tuple[int, ...], m: tuple[int, ...]) -> int:
    out = 1
    for yi, k in zip(y, m, strict=True):
        out *= yi**k
    return out


def _poly_dict(e: sp.Expr, gens: tuple[sp.Symbol, ...]) -> dict[tuple[int, ...], Fraction]:
    p = sp.Poly(e, *gens)
    return {m: Fraction(int(c.p), int(c.q)) for m, c in zip(p.monoms(), p.coeffs(), strict=True)}


def _blocks(basis: list[tuple[int, ...]], even: bool) -> list[list[tuple[int, ...]]]:
    if not even:
        return [basis]
    groups: dict[tuple[int, ...], list[tuple[int, ...]]] = {}
    for m in basis:
        groups.setdefault(tuple(e % 2 for e in m), []).append(m)
    return list(groups.values())


def _face(basis: list[tuple[int, ...]], zeros: list[tuple[int, ...]]) -> list[tuple[int, ...]]:
    """Integer columns spanning the vectors orthogonal to every z(y), y a zero of sigma."""
    n = len(basis)
    if not zeros:
        return [tuple(int(i == j) for i in range(n)) for j in range(n)]
    values = [[sp.Mul(*[yi**k for yi, k in zip(y, m, strict=True)]) for m in basis] for y in zeros]
    face = sp.Matrix(values).nullspace()
    return [tuple(int(x) for x in v * sp.ilcm(1, *[sp.fraction(x)[1] for x in v])) for v in face]


def certify(target: sp.Expr, constraints: list[sp.Expr], gens: tuple[sp.Symbol, ...], deadline: float,
            extra_degree: int = 0) -> Certificate | str:
    """A certificate of degree D = (the larger of deg p, deg h, even) + extra_degree, or why none."""
    n = len(gens)
    p = _poly_dict(target, gens)
    hs = [_poly_dict(h, gens) for h in constraints]
    even = all(e % 2 == 0 for d in [p, *hs] for m in d for e in m)
    top = max([sum(m) for m in p] + [sum(m) for h in hs for m in h])
    deg = top + top % 2 + extra_degree
    groups = _blocks(_monomials(n, deg // 2, False), even)
    mults = [(k, m) for k, h in enumerate(hs) for m in _monomials(n, deg - max(map(sum, h)), even)]
    most = sum(len(g) * (len(g) + 1) // 2 for g in groups) + len(mults)
    if most > 2 * MAX_UNKNOWNS:  # before the costly part (the zeros rarely cut more than half)
        return f"about {most} unknowns > {MAX_UNKNOWNS} (degree {deg})"
    zeros = _common_zeros([p, *hs], n)  # where p and every h vanish
    blocks = []
    for basis in groups:
        face = _face(basis, zeros)
        if face:
            blocks.append((basis, face))
    pairs = [(c, a, b) for c, (_, face) in enumerate(blocks)
             for a in range(len(face)) for b in range(a, len(face))]
    if len(pairs) + len(mults) > MAX_UNKNOWNS:
        return f"{len(pairs) + len(mults)} unknowns > {MAX_UNKNOWNS} (degree {deg})"
    rows = _equations(p, hs, blocks, pairs, mults)
    ncols = len(pairs) + len(mults)
    ech = exact_rref(rows, ncols, deadline)
    if ech is None:
        return f"no exact certificate of degree {deg} (or out of time)"
    fl = _solve_sdp([len(face) for _, face in blocks], pairs, len(mults),
                    [[float(x) for x in r[:-1]] for r in rows], [float(r[-1]) for r in rows],
                    max(1.0, deadline - time.perf_counter()))
    if fl is None:
        return f"SDP infeasible or failed (degree {deg})"
    found = exact_grams(ech, fl, pairs, [len(face) for _, face in blocks], deadline)
    if found is None:
        return f"SDP solved (degree {deg}) but no rounding was exactly PSD"
    grams, sol, _ = found
    lam = [sp.S.Zero] * len(hs)
    for j, (k, m) in enumerate(mults):
        v = sol[len(pairs) + j]
        lam[k] += sp.Rational(v.numerator, v.denominator) * monomial(gens, m)
    return Certificate(gens, target, tuple(constraints), tuple(lam), tuple(
        Block(tuple(basis), tuple(face), tuple(tuple(r) for r in g))
        for (basis, face), g in zip(blocks, grams, strict=True)))


def _equations(p: dict, hs: list[dict], blocks: list, pairs: list, mults: list) -> list[list[Fraction]]:
    """One row per monomial: its coefficient in sigma - sum lambda_k h_k (unknowns) = its coefficient in p."""
    index: dict[tuple[int, ...], int] = {}
    rows: list[dict[int, int | Fraction]] = []
    rhs: list[Fraction] = []

    def row_of(m: tuple[int, ...]) -> dict:
        if m not in index:
            index[m] = len(rows)
            rows.append({})
            rhs.append(p.get(m, Fraction(0)))
        return rows[index[m]]

    for col, (c, a, b) in enumerate(pairs):
        basis, face = blocks[c]
        for i, j in itertools.product(range(len(basis)), repeat=2):
            v = face[a][i] * face[b][j] + (face[b][i] * face[a][j] if a != b else 0)
            if v:
                m = tuple(x + y for x, y in zip(basis[i], basis[j], strict=True))
                r = row_of(m)
                r[col] = r.get(col, 0) + v
    for j, (k, mono) in enumerate(mults):
        for hm, hc in hs[k].items():
            m = tuple(x + y for x, y in zip(mono, hm, strict=True))
            r = row_of(m)
            r[len(pairs) + j] = r.get(len(pairs) + j, 0) - hc
    for m in p:
        row_of(m)
    ncols = len(pairs) + len(mults)
    return [[Fraction(r.get(c, 0)) for c in range(ncols)] + [rhs[i]] for i, r in enumerate(rows)]


def _solve_sdp(sizes: list[int], pairs: list, n_mult: int, a_rows: list[list[float]], b: list[float],
               timeout_s: float) -> list[float] | None:
    """The unknowns (Gram upper triangles, then multiplier coefficients) in floating point."""
    import cvxpy as cp
    import numpy as np

    grams = [cp.Variable((k, k), symmetric=True) for k in sizes]
    lam = cp.Variable(max(n_mult, 1))
    parts = [grams[c][a, b] for c, a, b in pairs] + [lam[j] for j in range(n_mult)]
    x = cp.hstack(parts)
    # the most interior point (largest smallest eigenvalue, capped): a rounded one stays PSD more
    # often (t may end below 0: then rounding fails, and is checked exactly anyway)
    t = cp.Variable()
    cons = [np.array(a_rows) @ x == np.array(b), t <= 1]
    cons += [g - t * np.eye(g.shape[0]) >> 0 for g in grams]
    prob = cp.Problem(cp.Maximize(t), cons)
    for solver in ("CLARABEL", "SCS"):
        if solver not in cp.installed_solvers():
            continue
        try:
            kw = {"time_limit": timeout_s} if solver == "CLARABEL" else {"time_limit_secs": timeout_s}
            prob.solve(solver=solver, **kw)
        except (cp.error.SolverError, ValueError):
            continue
        if prob.status in ("optimal", "optimal_inaccurate") and x.value is not None:
            return [float(v) for v in x.value]
    return None
