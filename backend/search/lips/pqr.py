"""The pqr (uvw) symbolic-only tactic.

* **pqr** (`sym_pqr_method`, uvw). Three non-negative variables and a symmetric polynomial
  goal D = lhs - rhs <= 0, written in p = a+b+c, q = ab+bc+ca, r = abc (Canopy: sympy's exact
  `symmetrize`; official: a table of 40 symmetric forms); p, q fixed by equality constraints
  are substituted; D = A r^2 + B r + C. If A >= 0 (convex in r), D is largest at an end of
  r's range for fixed p, q, i.e. where one variable is 0 or two are equal: the case c = 0 is
  proved at once (after homogenising with an equality constraint, b = 1) and the new goal is
  D(a, b, b) <= 0. If A < 0 (concave), D <= 0 for every r when B^2 - 4AC <= 0, which becomes
  the new goal. Canopy requires every other constraint to be a symmetric function of p and q
  (so fixing p, q leaves r's whole range feasible); the official code does not check this.
"""

from __future__ import annotations

import time
from dataclasses import replace

import sympy as sp
from sympy.polys.polyfuncs import symmetrize

from backend.search.lips.attempt import ms_since
from backend.search.lips.closing import CloseConfig
from backend.search.lips.expr import to_plain
from backend.search.lips.numeric import PointCache
from backend.search.lips.positivity import is_nonneg
from backend.search.lips.problem import Constraint, Goal, Inequality
from backend.search.lips.sos_form import homogenise
from backend.search.lips.symstep import MAX_OPS, SIDE, Check, SymResult, SymStep, prove_side, refuse


def _is_sign_constraint(c: Constraint, syms: list[sp.Symbol]) -> bool:
    return c.expr in syms and c.rel in (">", ">=")


def pqr_method(problem: Inequality, goal: Goal, cache: PointCache | None = None,
               config: CloseConfig = SIDE) -> SymResult:
    tac = "sym_pqr_method"
    syms = problem.symbol_list
    if len(syms) != 3:
        return refuse(tac, "needs exactly three variables")
    if any(problem.sign_of(v) == "real" for v in problem.variables):
        return refuse(tac, "needs non-negative variables")
    a, b, c = syms
    big = sp.expand(goal.lhs - goal.rhs)  # the goal: big <= 0
    if not big.is_polynomial(*syms) or sp.count_ops(big) > 4 * MAX_OPS:
        return refuse(tac, "not a polynomial goal (the official code refuses variable denominators)")
    sym_form, rem, defs = symmetrize(big, *syms, formal=True)
    if rem != 0:
        return refuse(tac, "not symmetric in the three variables")
    (s1, _), (s2, _), (s3, _) = defs
    fixed: dict[sp.Symbol, sp.Expr] = {}
    constraint_free = True  # every other constraint is a function of p and q only
    for con in problem.constraints:
        if _is_sign_constraint(con, syms):
            continue
        e = sp.expand(con.expr)
        form, crem, _ = symmetrize(e, *syms, formal=True) if e.is_polynomial(*syms) else (None, 1, None)
        if crem != 0 or form is None or form.has(s3):
            constraint_free = False
            continue
        if con.rel == "==":
            for sv in (s1, s2):
                if form.has(sv) and not form.has(s2 if sv == s1 else s1):
                    sol = sp.solve(form, sv)
                    if len(sol) == 1 and sol[0].is_number:
                        fixed[sv] = sol[0]
    poly_r = sp.Poly(sp.expand(sym_form.subs(fixed)), s3)
    if poly_r.degree() > 2:
        return refuse(tac, f"degree {poly_r.degree()} in r (the method needs at most 2)")
    big_a, big_b, big_c = (poly_r.coeff_monomial(s3**k) for k in (2, 1, 0))
    strict = all(problem.sign_of(v) == "pos" for v in problem.variables)
    signs = {s1: "pos" if strict else "nonneg", s2: "pos" if strict else "nonneg"}
    inst = {"p": to_plain(a + b + c), "q": to_plain(a * b + b * c + c * a), "r": to_plain(a * b * c),
            "F": to_plain(poly_r.as_expr().subs(dict(zip((s1, s2, s3), sp.symbols("p q r"), strict=True)))),
            **{f"fixed {k}": to_plain(v) for k, v in fixed.items()}}
    back = {s1: a + b + c, s2: a * b + b * c + c * a}
    if big_a == 0 or is_nonneg(big_a, signs):
        if not constraint_free:
            return refuse(tac, "a constraint is not a symmetric function of p and q (r's range would be cut)")
        hom = homogenise(problem, big, syms)
        if hom is None:
            return refuse(tac, "not homogeneous and no equality constraint to homogenise with")
        t0 = time.perf_counter()
        edge = sp.expand(hom.xreplace({c: 0, b: 1}))
        sub = Inequality((a.name,), (Constraint(a, ">="),), Goal(edge, sp.S.Zero))
        claim = f"{to_plain(edge)} <= 0 for {a} >= 0 (case {c} = 0, {b} = 1)"
        chk = prove_side(sub, sub.goal, claim, None, config)
        chk = replace(chk, ms=ms_since(t0))
        if chk.status != "proved":
            return refuse(tac, f"the case {c} = 0 is not proved ({chk.status})", [chk])
        new_big = sp.expand(hom.xreplace({c: b}))
        checks = (Check(f"A = {to_plain(big_a)} >= 0: convex in r", "exact", "symmetrize"), chk)
        note = (f"D = {inst['F']} is convex in r (A = {to_plain(big_a)} >= 0): its maximum for fixed p, q is "
                f"where a variable is 0 (proved) or two are equal; the goal follows from "
                f"{to_plain(new_big)} <= 0")
        step = SymStep(tac, goal, Goal.from_difference(new_big), inst, checks, note)
        return SymResult(tac, step, note, checks)
    if is_nonneg(-big_a, signs, strict=True):
        delta = sp.expand((big_b**2 - 4 * big_a * big_c).subs(back))
        checks = (Check(f"A = {to_plain(big_a)} < 0: concave in r", "exact", "symmetrize"),)
        note = (f"D = {inst['F']} is concave in r (A < 0): D <= 0 for every r when B^2 - 4AC <= 0; "
                f"the goal follows from {to_plain(delta)} <= 0")
        step = SymStep(tac, goal, Goal.from_difference(delta), inst, checks, note)
        return SymResult(tac, step, note, checks)
    return refuse(tac, f"the sign of A = {to_plain(big_a)} (coefficient of r^2) is not fixed")
