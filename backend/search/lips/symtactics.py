"""The symbolic-only tactics of LIPS: tangent line, equal value (n-1 EV), pqr method.

The official code lists them in `RewritingLib.json` as `sym_only` entries of type
`rewrite_with_inequation` and runs them on every expansion (`NeSyCore/rewriter.py:
sym_tangent_line, sym_equal_value, sym_pqr_method`); their Lean macros (`Math/Tactics.lean`)
close the side conditions with `closed_by_axiom`, i.e. they trust the external solver.
Canopy has no Lean and no axiom: each tactic here proves its side conditions with the closing
checkers (positivity, exact univariate analysis, z3; never a numeric method) and returns a new
goal only when every side condition is proved. `LipsSearch.recheck` derives the step again.

Goals are `lhs <= rhs`; `d = rhs - lhs` (goal: d >= 0), as the official code works on
`0 <= rhs - lhs`.

* **tangent line** (`sym_tangent_line`). Conditions (official): after using the constraint
  `x1 + ... + xn = S` to rewrite each term into a term of one variable (`make_independent`:
  `sqrt(a+b-c)` -> `sqrt(3-2c)`), d = f(x1) + ... + f(xn) + c0 with the same f for every
  variable (cyclic). Without a sum constraint the official code assumes S = n when the goal is
  homogeneous (and so does Canopy: the result below is an identity either way). For x0 in
  {S/n, 1}: if f(x) >= T(x) = f(x0) + f'(x0)(x - x0) at every feasible x (proved per variable),
  the new goal is `0 <= d - sum_i (f(xi) - T(xi))`, which implies the old one; with a real sum
  constraint it simplifies to the constant c0 + n f(x0) + f'(x0)(S - n x0) (checked equal on
  the constraint surface).
* **equal value** (`sym_equal_value`, Cirtoaje's n-1 equal variable / half convex function
  theorem). Same separable cyclic form with a real sum constraint. Official condition: f'' has
  exactly one real zero on the variable's interval I. Canopy also proves the hypothesis the
  theorem needs (f convex on I at and right of s = S/n, or at and left of it) and that
  n f(s) + c0 >= 0; then sum f(xi) >= n f(s) for all feasible points follows from the one
  variable goal `0 <= f(t) + (n-1) f((S - t)/(n-1)) - n f(s)` in the last variable t (the
  official reduced goal when c0 = -n f(s), the usual equality case). The official code closes
  the goal by axiom once an SMT solver proves the reduced goal; Canopy makes it the new goal,
  which the closers then prove or refute.
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

import logging
import math
import time
from dataclasses import dataclass, field, replace

import sympy as sp
from sympy.polys.polyfuncs import symmetrize

from backend.search.lips.closing import (
    CloseConfig,
    close_goal,
    eliminate_linear,
    is_nonneg,
    project_constraints,
)
from backend.search.lips.expr import to_plain
from backend.search.lips.numeric import PointCache
from backend.search.lips.problem import Constraint, Goal, Inequality
from backend.search.lips.score import get_degree
from backend.search.lips.sos import homogenise
from backend.search.lips.symmetry import constraint_symmetries, cyclic_shifts, is_symmetry

log = logging.getLogger(__name__)

SIDE = CloseConfig(z3_timeout_s=2.0, minimise_starts=0)  # side conditions: prove, do not hunt
MAX_OPS = 200  # larger goals are skipped (sympy's solveset/simplify can take minutes)
TACTICS = ("sym_tangent_line", "sym_equal_value", "sym_pqr_method", "llm_cancel_power")


@dataclass(frozen=True)
class Check:
    """One side condition and the checker that proved it (or did not)."""

    claim: str
    status: str  # "proved", "refuted", "unknown", "by symmetry", "exact"
    method: str
    ms: float = 0.0

    def to_dict(self) -> dict:
        return {"claim": self.claim, "status": self.status, "method": self.method, "ms": round(self.ms, 1)}


@dataclass(frozen=True)
class SymStep:
    tactic: str
    old: Goal
    new: Goal
    instantiation: dict[str, str]
    checks: tuple[Check, ...]
    note: str


@dataclass(frozen=True)
class SymResult:
    """A tactic's answer on one goal: the step, or why it does not apply."""

    tactic: str
    step: SymStep | None
    reason: str
    checks: tuple[Check, ...] = field(default=())

    @property
    def applies(self) -> bool:
        return self.step is not None


def _no(tactic: str, reason: str, checks: list[Check] | tuple = ()) -> SymResult:
    return SymResult(tactic, None, reason, tuple(checks))


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000


# --- shared helpers ------------------------------------------------------------------------


def sum_value(problem: Inequality, vs: list[sp.Symbol]) -> sp.Expr | None:
    """S when an equality constraint says sum(vs) = S (k*(x1+...+xn) + m = 0, other variables absent)."""
    for c in problem.equalities:
        e = sp.expand(c.expr)
        syms = problem.symbol_list
        if not e.is_polynomial(*syms) or sp.Poly(e, *syms).total_degree() != 1:
            continue
        k = e.coeff(vs[0], 1)
        if k == 0 or any(e.coeff(v, 1) != k for v in vs):
            continue
        if any(e.coeff(s, 1) != 0 for s in syms if s not in vs):
            continue
        m = e.subs({s: 0 for s in syms})
        if m.is_Number:
            return sp.nsimplify(-m / k)
    return None


def homogeneous_degree(e: sp.Expr) -> sp.Expr | None:
    """The degree of a homogeneous expression, None when it is not homogeneous (official
    `utils.get_degree`, shared with the score)."""
    try:
        deg = get_degree(e)
    except ValueError:  # a function the degree does not cover (Abs, exp, ...)
        return None
    return None if deg == math.inf else deg


def separate(d: sp.Expr, vs: list[sp.Symbol], total: sp.Expr | None) -> tuple[dict, sp.Expr] | None:
    """d as sum_v f_v(v) + c0, using x1 + ... + xn = total to make a term depend on one variable
    (official `make_independent`: `sqrt(a + b - c)` -> `sqrt(3 - 2c)`). None when impossible."""
    parts: dict[sp.Symbol, sp.Expr] = {v: sp.S.Zero for v in vs}
    c0 = sp.S.Zero
    for t in sp.Add.make_args(d):
        fs = t.free_symbols & set(vs)
        if len(fs) > 1:
            if total is None:
                return None
            for v in vs:
                rest = sp.Add(*[u for u in vs if u != v])
                t2 = t.subs(rest, total - v)
                if len(t2.free_symbols & set(vs)) <= 1:
                    t, fs = t2, t2.free_symbols & set(vs)
                    break
            else:
                return None
        if not fs:
            c0 += t
        else:
            parts[next(iter(fs))] += t
    return parts, c0


def _same_function(parts: dict, vs: list[sp.Symbol]) -> bool:
    """f_v(v) is the same function for every variable (the official cyclic check)."""
    f0 = parts[vs[0]]
    for v in vs[1:]:
        diff = parts[v] - f0.xreplace({vs[0]: v})
        if diff != 0 and (sp.count_ops(diff) > MAX_OPS or sp.simplify(diff) != 0):
            return False
    return True


def equal_on_constraints(problem: Inequality, x: sp.Expr, y: sp.Expr) -> bool:
    """x == y at every feasible point, shown exactly: substitute the linear equality constraints
    and simplify the difference to 0."""
    diff = x - y
    if diff == 0 or sp.expand(diff) == 0:
        return True
    _, red = eliminate_linear(problem, diff)
    red = sp.expand(red)
    if red == 0:
        return True
    if sp.count_ops(red) > MAX_OPS:
        return False
    syms = sorted(red.free_symbols, key=str)
    for k in range(3):  # a cheap numeric look first: simplify is slow, and needless when it differs
        v = complex(red.evalf(subs={s: sp.Rational(3 + 2 * i + k, 7 + k) for i, s in enumerate(syms)}))
        if abs(v) > 1e-9:
            return False
    return sp.simplify(red) == 0


def _prove(problem: Inequality, goal: Goal, claim: str, cache: PointCache | None,
           config: CloseConfig) -> Check:
    r = close_goal(problem, goal, cache, config)
    return Check(claim, r.status, r.method or "-", r.ms)


def _orbit(problem: Inequality, v: sp.Symbol) -> set[sp.Symbol]:
    """Variables the problem's symmetries map v to (v included)."""
    return {v} | {dict(p)[v] for p in constraint_symmetries(problem)}


def _variables(problem: Inequality, d: sp.Expr) -> list[sp.Symbol]:
    return [s for s in problem.symbol_list if s in d.free_symbols]


def interval_of(problem: Inequality, x: sp.Symbol) -> sp.Set:
    """The values x takes at feasible points (a superset: linear constraints are projected exactly)."""
    red, _ = eliminate_linear(problem, x)
    if x.name not in red.variables:
        return sp.Reals
    dom = sp.Reals
    for c in project_constraints(red.constraints, x):
        rel = {">": sp.StrictGreaterThan, ">=": sp.GreaterThan, "==": sp.Eq, "!=": sp.Ne}[c.rel]
        dom = dom.intersect(sp.solveset(rel(c.expr, 0), x, sp.Reals))
    return dom


@dataclass(frozen=True)
class Separable:
    """d = rhs - lhs = f(x1) + ... + f(xn) + c0 on the constraints (x = x1 is f's variable)."""

    d: sp.Expr
    vs: list[sp.Symbol]
    total: sp.Expr  # x1 + ... + xn = total
    real_sum: bool  # a constraint says so (else: the homogeneous normalisation)
    f: sp.Expr
    c0: sp.Expr

    @property
    def x(self) -> sp.Symbol:
        return self.vs[0]


def separable(problem: Inequality, goal: Goal, homogeneous_ok: bool) -> Separable | str:
    """The common form of the tangent line and equal value tactics, or why the goal lacks it."""
    d = goal.rhs - goal.lhs
    if sp.count_ops(d) > MAX_OPS:
        return "goal too large"
    vs = _variables(problem, d)
    if len(vs) < 2:
        return "needs at least two variables"
    total = sum_value(problem, vs)
    real_sum = total is not None
    if not real_sum:
        if not homogeneous_ok:
            return "needs a constraint fixing the sum of the variables"
        if homogeneous_degree(sp.expand(d)) is None:
            return "no constraint fixes the sum of the variables and the goal is not homogeneous"
        total = sp.Integer(len(vs))  # official: a homogeneous goal may assume x1 + ... + xn = n
    sep = separate(d, vs, total)
    if sep is None:
        return "not a sum of one-variable terms"
    parts, c0 = sep
    if not _same_function(parts, vs):
        return "the one-variable terms differ between variables (not cyclic)"
    return Separable(d, vs, total, real_sum, parts[vs[0]], c0)


# --- tangent line --------------------------------------------------------------------------


def tangent_line(problem: Inequality, goal: Goal, cache: PointCache | None = None,
                 config: CloseConfig = SIDE) -> SymResult:
    tac = "sym_tangent_line"
    sf = separable(problem, goal, homogeneous_ok=True)
    if isinstance(sf, str):
        return _no(tac, sf)
    d, vs, total, real_sum, x, f, c0 = sf.d, sf.vs, sf.total, sf.real_sum, sf.x, sf.f, sf.c0
    n = len(vs)
    orbit = _orbit(problem, x)
    tried: list[Check] = []
    for x0 in dict.fromkeys([total / n, sp.Integer(1)]):
        fx0, dfx0 = f.subs(x, x0), sp.diff(f, x).subs(x, x0)
        if not (fx0.is_real and dfx0.is_real and fx0.is_finite and dfx0.is_finite):
            continue
        tline = sp.nsimplify(fx0) + sp.nsimplify(dfx0) * (x - x0)
        checks: list[Check] = []
        for v in vs:
            claim = f"{to_plain(f.xreplace({x: v}))} >= {to_plain(tline.xreplace({x: v}))}"
            if v != x and v in orbit:
                checks.append(Check(claim, "by symmetry", f"the constraints are symmetric in {x}, {v}"))
                continue
            checks.append(_prove(problem, Goal(tline.xreplace({x: v}), f.xreplace({x: v})), claim, cache,
                                 config))
            if checks[-1].status != "proved":
                break
        tried += checks
        if any(c.status not in ("proved", "by symmetry") for c in checks):
            continue
        exact = d - sp.Add(*[(f - tline).xreplace({x: v}) for v in vs])
        new_d = None
        if real_sum:
            const = sp.nsimplify(c0 + n * fx0 + dfx0 * (total - n * x0))
            if equal_on_constraints(problem, exact, const):
                new_d = const
                checks.append(Check(f"d - sum(f - T) = {to_plain(const)} on the constraints", "exact",
                                    "linear elimination + simplify"))
        if new_d is None:  # no simplify: on MO-INT P9 it took 510 s; the closers normalise anyway
            new_d = exact
        inst = {"x0": to_plain(x0), "f": to_plain(f), "tangent": to_plain(tline), "sum": to_plain(total)}
        note = (f"{to_plain(f)} >= {to_plain(tline)} for every variable (tangent at {to_plain(x0)}), "
                f"summed: the goal follows from 0 <= {to_plain(new_d)}")
        return SymResult(tac, SymStep(tac, goal, Goal(sp.S.Zero, new_d), inst, tuple(checks), note), note,
                         tuple(checks))
    return _no(tac, "no tangent line lies below f at every feasible point", tried)


# --- equal value ----------------------------------------------------------------------------


def equal_value(problem: Inequality, goal: Goal, cache: PointCache | None = None,
                config: CloseConfig = SIDE) -> SymResult:
    tac = "sym_equal_value"
    sf = separable(problem, goal, homogeneous_ok=False)
    if isinstance(sf, str):
        return _no(tac, sf)
    vs, total, x, f, c0 = sf.vs, sf.total, sf.x, sf.f, sf.c0
    n = len(vs)
    if not all(is_symmetry(problem, m) for m in cyclic_shifts(vs)):
        return _no(tac, "the constraints are not cyclic in the variables")
    dom = interval_of(problem, x)
    if not isinstance(dom, sp.Interval) or not dom.measure.is_positive:
        return _no(tac, f"the variables' range {dom} is not an interval")
    s = total / n
    if s not in dom:
        return _no(tac, f"the mean {s} is outside the range {dom}")
    try:
        if sp.calculus.util.continuous_domain(f, x, dom) != dom:
            return _no(tac, f"f = {to_plain(f)} is not continuous on {dom}")
        f2 = sp.simplify(sp.diff(f, x, 2))
        roots = sp.solveset(sp.Eq(f2, 0), x, sp.Interval(dom.inf, dom.sup))
        if not isinstance(roots, sp.FiniteSet) or len(roots) != 1:
            return _no(tac, f"f'' does not have exactly one zero on {dom} (official condition): {roots}")
        right = sp.solveset(f2 < 0, x, sp.Interval(s, dom.sup, False, dom.right_open))
        left = sp.solveset(f2 < 0, x, sp.Interval(dom.inf, s, dom.left_open, False))
    except (NotImplementedError, ValueError, TypeError) as exc:
        return _no(tac, f"sympy could not decide convexity: {exc}")
    if right is sp.EmptySet:
        side = f"f convex on [{s}, {dom.sup}]"
    elif left is sp.EmptySet:
        side = f"f convex on [{dom.inf}, {s}]"
    else:
        return _no(tac, f"f is convex on neither side of the mean {s} (half convex function theorem)")
    fs = sp.nsimplify(f.subs(x, s))
    slack = sp.nsimplify(c0 + n * fs)
    if not (slack.is_number and slack >= 0):
        return _no(tac, f"c0 + n f(s) = {slack} < 0: the equal-variable bound is too weak")
    t = vs[-1]
    y = (total - t) / (n - 1)
    reduced = f.xreplace({x: t}) + (n - 1) * f.xreplace({x: y}) - n * fs
    checks = (
        Check(f"f'' = {to_plain(f2)} has one zero on {dom}", "exact", "solveset"),
        Check(side, "exact", "solveset"),
        Check(f"c0 + n f(s) = {slack} >= 0", "exact", "sympy"),
    )
    inst = {"f": to_plain(f), "mean": to_plain(s), "t": t.name, "others": to_plain(y)}
    note = (f"half convex function theorem ({side}): every other variable set to {to_plain(y)}; "
            f"the goal follows from 0 <= {to_plain(reduced)}")
    step = SymStep(tac, goal, Goal(sp.S.Zero, reduced), inst, checks, note)
    return SymResult(tac, step, note, checks)


# --- pqr ------------------------------------------------------------------------------------


def _is_sign_constraint(c: Constraint, syms: list[sp.Symbol]) -> bool:
    return c.expr in syms and c.rel in (">", ">=")


def pqr_method(problem: Inequality, goal: Goal, cache: PointCache | None = None,
               config: CloseConfig = SIDE) -> SymResult:
    tac = "sym_pqr_method"
    syms = problem.symbol_list
    if len(syms) != 3:
        return _no(tac, "needs exactly three variables")
    if any(problem.sign_of(v) == "real" for v in problem.variables):
        return _no(tac, "needs non-negative variables")
    a, b, c = syms
    big = sp.expand(goal.lhs - goal.rhs)  # the goal: big <= 0
    if not big.is_polynomial(*syms) or sp.count_ops(big) > 4 * MAX_OPS:
        return _no(tac, "not a polynomial goal (the official code refuses variable denominators)")
    sym_form, rem, defs = symmetrize(big, *syms, formal=True)
    if rem != 0:
        return _no(tac, "not symmetric in the three variables")
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
        return _no(tac, f"degree {poly_r.degree()} in r (the method needs at most 2)")
    big_a, big_b, big_c = (poly_r.coeff_monomial(s3**k) for k in (2, 1, 0))
    strict = all(problem.sign_of(v) == "pos" for v in problem.variables)
    signs = {s1: "pos" if strict else "nonneg", s2: "pos" if strict else "nonneg"}
    inst = {"p": to_plain(a + b + c), "q": to_plain(a * b + b * c + c * a), "r": to_plain(a * b * c),
            "F": to_plain(poly_r.as_expr().subs(dict(zip((s1, s2, s3), sp.symbols("p q r"), strict=True)))),
            **{f"fixed {k}": to_plain(v) for k, v in fixed.items()}}
    back = {s1: a + b + c, s2: a * b + b * c + c * a}
    if big_a == 0 or is_nonneg(big_a, signs):
        if not constraint_free:
            return _no(tac, "a constraint is not a symmetric function of p and q (r's range would be cut)")
        hom = homogenise(problem, big, syms)
        if hom is None:
            return _no(tac, "not homogeneous and no equality constraint to homogenise with")
        t0 = time.perf_counter()
        edge = sp.expand(hom.xreplace({c: 0, b: 1}))
        sub = Inequality((a.name,), (Constraint(a, ">="),), Goal(edge, sp.S.Zero))
        claim = f"{to_plain(edge)} <= 0 for {a} >= 0 (case {c} = 0, {b} = 1)"
        chk = _prove(sub, sub.goal, claim, None, config)
        chk = replace(chk, ms=_ms(t0))
        if chk.status != "proved":
            return _no(tac, f"the case {c} = 0 is not proved ({chk.status})", [chk])
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
    return _no(tac, f"the sign of A = {to_plain(big_a)} (coefficient of r^2) is not fixed")


# --- cancel power ---------------------------------------------------------------------------


def _exponents(side: sp.Expr) -> list[sp.Expr]:
    """The official `sym_cancel_power` reading: exponents of a product's (or a power's) factors."""
    if side.is_Mul:
        return [f.exp if f.is_Pow else sp.S.One for f in side.args if f.free_symbols]
    if side.is_Pow:
        return [side.exp]
    return []


def cancel_power(problem: Inequality, goal: Goal, cache: PointCache | None = None,
                 config: CloseConfig = SIDE) -> SymResult:
    """lhs <= rhs from lhs^k <= rhs^k, k the lcm of the sides' exponent denominators (official
    `sym_cancel_power` + the Lean `power_k` lemma). Sound when rhs >= 0 (x^k increases on
    [0, inf); lhs < 0 <= rhs is trivial) or k is odd."""
    tac = "llm_cancel_power"
    exps = _exponents(goal.lhs) + _exponents(goal.rhs)
    if not exps or not all(e.is_Rational for e in exps):
        return _no(tac, "the sides are not products of rational powers")
    k = int(sp.ilcm(1, *[sp.fraction(e)[1] for e in exps]))
    if k == 1:
        return _no(tac, "no fractional power to cancel")
    signs = {problem.symbols[v]: problem.sign_of(v) for v in problem.variables}
    if k % 2 == 0 and not is_nonneg(goal.rhs, signs):
        return _no(tac, f"k = {k} is even and rhs >= 0 is not known")
    new = Goal(sp.powdenest(goal.lhs**k), sp.powdenest(goal.rhs**k))
    why = "odd power: x^k increases" if k % 2 else "rhs >= 0 by positivity: x^k increases on [0, inf)"
    checks = (Check(why, "exact", "positivity" if k % 2 == 0 else "-"),)
    note = f"both sides to the power {k}: the goal follows from {new}"
    return SymResult(tac, SymStep(tac, goal, new, {"k": str(k)}, checks, note), note, checks)


# --- all of them ---------------------------------------------------------------------------

FUNCTIONS = {"sym_tangent_line": tangent_line, "sym_equal_value": equal_value, "sym_pqr_method": pqr_method,
             "llm_cancel_power": cancel_power}


def symbolic_steps(problem: Inequality, goal: Goal, cache: PointCache | None = None,
                   config: CloseConfig = SIDE) -> list[SymResult]:
    """Every symbolic tactic on one goal (the official rewriter runs them on every expansion)."""
    out = []
    for name, fn in FUNCTIONS.items():
        try:
            out.append(fn(problem, goal, cache, config))
        except (NotImplementedError, ValueError, TypeError, ZeroDivisionError, sp.PolynomialError) as exc:
            out.append(_no(name, f"sympy: {type(exc).__name__}: {exc}"))
    return out


def rederive(problem: Inequality, old: Goal, new: Goal, tactic: str) -> tuple[bool, str]:
    """Re-check a symbolic step: the tactic, run again on `old`, proves its side conditions again
    and gives the same new goal."""
    fn = FUNCTIONS.get(tactic)
    if fn is None:
        return False, f"unknown tactic {tactic}"
    res = fn(problem, old, PointCache(), SIDE)
    if res.step is None:
        return False, f"{tactic} does not apply again: {res.reason}"
    if res.step.new.key() != new.key():
        return False, f"{tactic} gives another goal: {res.step.new}"
    return True, f"{tactic}: side conditions proved again"
