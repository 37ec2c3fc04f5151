"""The Gram-matrix problem of an SOS certificate, in exact integers and rationals (`sos.py` step 2-3).

p = z^T Q z with z the half-degree monomials (`half_degree_basis`, Newton-box; `prune_basis`
drops z_i whose square p cannot contain); `equality_zeros` finds the equality cases, whose
monomial vectors span the kernel every Gram matrix shares (facial reduction: Q = N R N^T);
`coefficient_equations` are the coefficient equations in R's upper triangle, `exact_rref` their
exact reduced row echelon form, and `psd_exact` the exact LDL^T pivot test a rounded R must pass.
"""

from __future__ import annotations

import itertools
import time
from fractions import Fraction

import sympy as sp


def half_degree_basis(poly: sp.Poly) -> list[tuple[int, ...]] | None:
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


def psd_exact(mat: list[list[Fraction]]) -> bool:
    """Exact PSD test: symmetric Gaussian elimination; a zero pivot needs a zero row."""
    return ldl_exact(mat) is not None


def ldl_exact(mat: list[list[Fraction]]) -> list[tuple[Fraction, list[Fraction]]] | None:
    """R = sum_k d_k l_k l_k^T with every d_k > 0 (exact LDL^T; l_k has 1 at k and zeros above),
    or None when R is not PSD. So w^T R w = sum_k d_k (l_k . w)^2: the squares of the proof."""
    m = [row[:] for row in mat]
    n = len(m)
    out = []
    for k in range(n):
        piv = m[k][k]
        if piv < 0:
            return None
        if piv == 0:
            if any(m[k][j] != 0 for j in range(k + 1, n)):
                return None
            continue
        col = [Fraction(0)] * k + [Fraction(1)] + [m[i][k] / piv for i in range(k + 1, n)]
        out.append((piv, col))
        for i in range(k + 1, n):
            f = col[i]
            if f == 0:
                continue
            row_i, row_k = m[i], m[k]
            for j in range(k + 1, n):
                row_i[j] -= f * row_k[j]
    return out


# rounding grids tried in turn: small highly composite numbers first (a Gram matrix with entries
# like 2/3 or 5/12 is found exactly), then powers of two
DENOMINATORS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 36, 48, 60, 64, 120, 128, 256, 360, 512, 720, 1024,
                2520, 4096, 5040, 2**16, 55440, 720720, 2**20, 2**30)


def exact_grams(ech: tuple[list[list[Fraction]], list[int]], floats: list[float],
                pairs: list[tuple[int, int, int]], sizes: list[int], deadline: float
                ) -> tuple[list[list[list[Fraction]]], dict[int, Fraction], int] | None:
    """The float SDP solution made exact: its free unknowns rounded to each grid in turn, the
    pivot unknowns solved from the exact echelon form ``ech``, the Gram blocks (``pairs``: column
    -> (block, a, b), upper triangles first) filled in; the first rounding whose blocks are all
    exactly PSD wins: (blocks, every unknown, the denominator), else None. One tail for the
    plain certificate (one block) and the one with equality multipliers (extra columns)."""
    ech_rows, pivots = ech
    free = [c for c in range(len(floats)) if c not in set(pivots)]
    for den in DENOMINATORS:
        if time.perf_counter() > deadline:
            break
        sol = {c: Fraction(round(floats[c] * den), den) for c in free}
        for row, pc in zip(ech_rows, pivots, strict=True):
            sol[pc] = row[-1] - sum(row[c] * sol[c] for c in free if row[c] != 0)
        grams = [[[Fraction(0)] * k for _ in range(k)] for k in sizes]
        for col, (c, a, b) in enumerate(pairs):
            grams[c][a][b] = grams[c][b][a] = sol[col]
        if all(psd_exact(g) for g in grams):
            return grams, sol, den
    return None


def gram_cells(basis: list[tuple[int, ...]]) -> dict[tuple[int, ...], list[tuple[int, int]]]:
    cells: dict[tuple[int, ...], list[tuple[int, int]]] = {}
    for i, j in itertools.product(range(len(basis)), repeat=2):
        mono = tuple(a + b for a, b in zip(basis[i], basis[j], strict=True))
        cells.setdefault(mono, []).append((i, j))
    return cells


def prune_basis(basis: list[tuple[int, ...]], coeffs: dict) -> list[tuple[int, ...]]:
    """Drop z_i when the only way to make z_i^2 is Q_ii and p has no such monomial: then
    Q_ii = 0, so row i of a PSD Q is zero (repeat until nothing changes)."""
    while True:
        cells = gram_cells(basis)
        drop = {i for i, e in enumerate(basis)
                if coeffs.get(tuple(2 * a for a in e), 0) == 0 and cells[tuple(2 * a for a in e)] == [(i, i)]}
        if not drop:
            return basis
        basis = [e for i, e in enumerate(basis) if i not in drop]


def equality_zeros(poly: sp.Poly) -> list[tuple[int, ...]]:
    """Points with coordinates in {0, 1, -1} where p vanishes (the equality cases a = b = c,
    a = b, c = 0 ... after the squares): z(y) is then in the kernel of every Gram matrix."""
    n = len(poly.gens)
    if 3**n > 300:
        return []
    return [y for y in itertools.product((0, 1, -1), repeat=n)
            if any(y) and poly.eval(dict(zip(poly.gens, y, strict=True))) == 0]


def monomial_values(basis: list[tuple[int, ...]], y: tuple[int, ...]) -> list[int]:
    out = []
    for e in basis:
        v = 1
        for yi, k in zip(y, e, strict=True):
            v *= yi**k
        out.append(v)
    return out


def coefficient_equations(cells: dict, coeffs: dict, cols: list[list[int]],
                          pairs: list[tuple[int, int]]) -> list:
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


def exact_rref(rows: list[list[Fraction]], ncols: int,
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
