"""An SOS certificate as data: the Gram blocks, their squares, and the record a proof shows.

Both SOS paths (`sos.py`: p = z^T N R N^T z; `sos_mult.py`: p + sum_k lambda_k h_k = sigma)
end in a `Certificate`: blocks of sigma (monomials z, integer face N, exact PSD R) and the
multipliers. `Certificate.squares` splits every R exactly (R = sum_k d_k l_k l_k^T, d_k > 0,
`sos_gram.ldl_exact`) into weighted squares d_k (l_k . N^T z)^2, so a student reads
"rhs - lhs = 1/2 (a - b)^2 + ..." rather than "a Gram matrix exists". `record` writes it into
the proof's events (strings from sympy's printers: `to_plain`, which the grammar reads back,
and `sp.latex`), back in the problem's variables (x_sq -> sqrt(x)), after checking the shown
identity once more with sympy's exact expand.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import sympy as sp

from backend.search.lips.expr import to_plain
from backend.search.lips.problem import Goal, Inequality
from backend.search.lips.sos_gram import ldl_exact

#: past these sizes the squares are not written into the events (the proof says how many)
MAX_SQUARES = 30
MAX_CHARS = 8000


def _rational(x: Fraction) -> sp.Rational:
    return sp.Rational(x.numerator, x.denominator)


def monomial(gens: tuple[sp.Symbol, ...], exps: tuple[int, ...]) -> sp.Expr:
    return sp.Mul(*[g**e for g, e in zip(gens, exps, strict=True)])


@dataclass(frozen=True)
class Block:
    """sigma's part z^T N R N^T z over one parity class of monomials z (N: integer columns)."""

    basis: tuple[tuple[int, ...], ...]
    face: tuple[tuple[int, ...], ...]  # the columns of N, each of len(basis) integers
    gram: tuple[tuple[Fraction, ...], ...]  # R, k x k, exactly PSD

    def _w(self, gens: tuple[sp.Symbol, ...]) -> list[sp.Expr]:
        z = [monomial(gens, m) for m in self.basis]
        return [sp.Add(*[col[i] * z[i] for i in range(len(z))]) for col in self.face]

    def polynomial(self, gens: tuple[sp.Symbol, ...]) -> sp.Expr:
        w = self._w(gens)
        return sp.expand(sp.Add(*[_rational(r) * w[a] * w[b]
                                  for a, row in enumerate(self.gram) for b, r in enumerate(row) if r]))

    def squares(self, gens: tuple[sp.Symbol, ...]) -> list[tuple[sp.Rational, sp.Expr]]:
        """(weight > 0, q) with this block = sum weight * q^2, q with coprime integer coefficients."""
        w = self._w(gens)
        out = []
        for d, col in ldl_exact([list(r) for r in self.gram]) or []:
            q = sp.expand(sp.Add(*[_rational(c) * w[a] for a, c in enumerate(col) if c]))
            if q == 0:
                continue
            content, prim = q.as_content_primitive()
            out.append((_rational(d) * content**2, prim))
        return out


@dataclass(frozen=True)
class Certificate:
    """p + sum_k multipliers[k] * constraints[k] = sum of the blocks' squares (no constraints and
    multipliers on the plain path)."""

    gens: tuple[sp.Symbol, ...]
    target: sp.Expr
    constraints: tuple[sp.Expr, ...]
    multipliers: tuple[sp.Expr, ...]
    blocks: tuple[Block, ...]

    def describe(self) -> str:
        """The proof's detail line: block sizes and the multipliers."""
        sizes = "+".join(f"{len(b.face)}" for b in self.blocks)
        lam = "; ".join(f"lambda = {to_plain(m)}" for m in self.multipliers)
        return (f"exact Gram blocks {sizes} with equality multipliers ({lam}); identity checked exactly"
                " (x_sq: a variable >= 0 written as a square)")

    def verify(self) -> bool:
        """The identity and every block's PSD-ness, in sympy's exact rational arithmetic."""
        sigma = sp.Add(*[b.polynomial(self.gens) for b in self.blocks])
        lhs = self.target + sp.Add(*[m * h for m, h in zip(self.multipliers, self.constraints, strict=True)])
        if sp.expand(lhs - sigma) != 0:
            return False
        return all(sp.Matrix([[_rational(x) for x in row] for row in b.gram]).is_positive_semidefinite
                   for b in self.blocks)

    def squares(self) -> list[tuple[sp.Rational, sp.Expr]]:
        return [s for b in self.blocks for s in b.squares(self.gens)]


def _split(weight: sp.Rational, q: sp.Expr, gens: tuple[sp.Symbol, ...]) -> tuple[sp.Expr, sp.Expr]:
    """weight * q^2 as factor * base^2 with q's common monomial m moved into the factor (as
    m^2, which is a monomial of the problem's variables after x_sq -> sqrt(x)): so
    (b*sqrt(c) - c^(3/2))^2 reads c*(b - c)^2."""
    exps, rest = sp.Poly(q, *gens).terms_gcd()
    m = monomial(gens, exps)
    return weight * m**2, rest.as_expr()


def _term(factor: sp.Expr, q: sp.Expr) -> tuple[str, str]:
    """One weighted square, plain and LaTeX, from sympy's printers."""
    base = to_plain(q)
    plain = f"({base})^2" if factor == 1 else f"{to_plain(factor)}*({base})^2"
    tex = f"\\left({sp.latex(q)}\\right)^{{2}}"
    return plain, tex if factor == 1 else f"{sp.latex(factor)} {tex}"


def record(problem: Inequality, goal: Goal, cert: Certificate, how: str = "") -> dict[str, Any]:
    """The certificate as the proof shows it, in the problem's variables: rhs - lhs = N / D,
    the certified polynomial P (N itself, or N homogenised with an equality constraint, equal
    on the constraints), the multipliers, and P + sum lambda h = sum of weighted squares,
    re-checked here with sympy's exact expand (``identity_checked``)."""
    from backend.search.lips.sos_form import squares as square_map

    back = {v.base: sp.sqrt(x) for x, v in square_map(problem).items()}  # x_sq -> sqrt(x)
    num, den = sp.fraction(sp.together(goal.rhs - goal.lhs))
    if den.is_number and den < 0:
        num, den = -num, -den
    numerator = sp.expand(num)
    poly = sp.expand(cert.target.xreplace(back))
    split = [_split(w, q, cert.gens) for w, q in cert.squares()]
    terms = [(sp.expand(f.xreplace(back)), sp.expand(q.xreplace(back))) for f, q in split]
    mults = [(sp.expand(m.xreplace(back)), sp.expand(h.xreplace(back)))
             for m, h in zip(cert.multipliers, cert.constraints, strict=True) if m != 0]
    sigma = sp.Add(*[w * q**2 for w, q in terms])
    checked = sp.expand(poly + sp.Add(*[m * h for m, h in mults]) - sigma) == 0
    shown = [(*_term(f, q), to_plain(f), to_plain(q)) for f, q in terms]
    out: dict[str, Any] = {
        "kind": "sos",
        "numerator": to_plain(numerator), "denominator": to_plain(den),
        "numerator_latex": sp.latex(numerator), "denominator_latex": sp.latex(den),
        "polynomial": to_plain(poly), "polynomial_latex": sp.latex(poly),
        "same_as_numerator": sp.expand(poly - numerator) == 0,
        "how": how,
        "multipliers": [{"multiplier": to_plain(m), "constraint": to_plain(h),
                         "multiplier_latex": sp.latex(m), "constraint_latex": sp.latex(h)} for m, h in mults],
        "squares": [{"plain": p, "latex": t, "factor": f, "square": q} for p, t, f, q in shown],
        "count": len(shown),
        "identity_checked": bool(checked),
    }
    if len(shown) > MAX_SQUARES or sum(len(p) + len(t) for p, t, _, _ in shown) > MAX_CHARS:
        out["squares"] = []  # too large to read: the count stays
    return out


def check_record(problem: Inequality, goal: Goal, rec: dict[str, Any]) -> tuple[bool, str]:
    """Re-check an SOS proof from the text it shows (``record``), read with the safe grammar:
    rhs - lhs = N / D with D > 0 by structure; N = P, or N - P vanishing on an equality
    constraint (homogenisation: one variable solved from it); P + sum lambda h = sum of the
    weighted squares (exact expand), each h an equality constraint of the problem, each factor
    a monomial in variables known >= 0 and each square's base real there. The re-check of a
    proof closed by SOS (``proof.recheck``): exact, and no SDP solved again (seconds under load)."""
    from backend.search.lips.positivity import is_nonneg

    signs = {s: problem.sign_of(s.name) for s in problem.symbol_list}
    try:
        read = problem.parse
        num, den, poly = read(rec["numerator"]), read(rec["denominator"]), read(rec["polynomial"])
        mults = [(read(m["multiplier"]), read(m["constraint"])) for m in rec.get("multipliers") or []]
        terms = [(read(q["factor"]), read(q["square"])) for q in rec.get("squares") or []]
    except (KeyError, TypeError, ValueError) as exc:
        return False, f"the certificate does not read: {exc}"
    if not terms:
        return False, "no squares recorded"
    gn, gd = sp.fraction(sp.together(goal.rhs - goal.lhs))
    if sp.expand(num * gd - den * gn) != 0:
        return False, "N / D is not rhs - lhs"
    if not (den.is_number and den > 0) and not is_nonneg(den, signs, strict=True):
        return False, "D is not positive by structure"
    equalities = [sp.expand(c.expr) for c in problem.equalities]
    if any(all(sp.expand(h - e) != 0 and sp.expand(h + e) != 0 for e in equalities) for _, h in mults):
        return False, "a multiplier's constraint is not an equality constraint of the problem"
    if sp.expand(poly - num) != 0 and not any(_vanishes_on(sp.expand(poly - num), e) for e in equalities):
        return False, "P differs from N off the constraints"
    for f, q in terms:  # a square of a real number times a factor >= 0: roots only of x >= 0
        roots = {p.base for p in sp.preorder_traversal(q) if p.is_Pow and not p.exp.is_Integer}
        if not is_nonneg(f, signs) or any(signs.get(r) not in ("pos", "nonneg") for r in roots):
            return False, f"{f}*({q})^2 is not >= 0 by structure"
    sigma = sp.Add(*[f * q**2 for f, q in terms])
    if sp.expand(poly + sp.Add(*[m * h for m, h in mults]) - sigma) != 0:
        return False, "the squares do not sum to the polynomial"
    return True, f"{len(terms)} squares re-read and summed exactly"


def _vanishes_on(diff: sp.Expr, constraint: sp.Expr) -> bool:
    """diff = 0 wherever constraint = 0: a variable of degree 1 in the constraint solved from it."""
    for s in sorted(constraint.free_symbols, key=str):
        if sp.degree(constraint, s) == 1:
            sol = sp.solve(constraint, s)
            if len(sol) == 1:
                return sp.expand(sp.together(diff.xreplace({s: sol[0]})).as_numer_denom()[0]) == 0
    return False
