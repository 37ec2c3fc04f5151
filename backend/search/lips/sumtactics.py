"""Two symbolic-only tactics on separable goals (`separable.py`): tangent line and equal value.

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
"""

from __future__ import annotations

import sympy as sp

from backend.search.lips.closing import CloseConfig
from backend.search.lips.expr import to_plain
from backend.search.lips.numeric import PointCache
from backend.search.lips.problem import Goal, Inequality
from backend.search.lips.separable import equal_on_constraints, interval_of, orbit, separable
from backend.search.lips.symmetry import cyclic_shifts, is_symmetry
from backend.search.lips.symstep import SIDE, Check, SymResult, SymStep, prove_side, refuse


def tangent_line(problem: Inequality, goal: Goal, cache: PointCache | None = None,
                 config: CloseConfig = SIDE) -> SymResult:
    tac = "sym_tangent_line"
    sf = separable(problem, goal, homogeneous_ok=True)
    if isinstance(sf, str):
        return refuse(tac, sf)
    d, vs, total, real_sum, x, f, c0 = sf.d, sf.vs, sf.total, sf.real_sum, sf.x, sf.f, sf.c0
    n = len(vs)
    same_orbit = orbit(problem, x)
    tried: list[Check] = []
    for x0 in dict.fromkeys([total / n, sp.Integer(1)]):
        fx0, dfx0 = f.subs(x, x0), sp.diff(f, x).subs(x, x0)
        if not (fx0.is_real and dfx0.is_real and fx0.is_finite and dfx0.is_finite):
            continue
        tline = sp.nsimplify(fx0) + sp.nsimplify(dfx0) * (x - x0)
        checks: list[Check] = []
        for v in vs:
            claim = f"{to_plain(f.xreplace({x: v}))} >= {to_plain(tline.xreplace({x: v}))}"
            if v != x and v in same_orbit:
                checks.append(Check(claim, "by symmetry", f"the constraints are symmetric in {x}, {v}"))
                continue
            checks.append(prove_side(problem, Goal(tline.xreplace({x: v}), f.xreplace({x: v})), claim, cache,
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
    return refuse(tac, "no tangent line lies below f at every feasible point", tried)


def equal_value(problem: Inequality, goal: Goal, cache: PointCache | None = None,
                config: CloseConfig = SIDE) -> SymResult:
    tac = "sym_equal_value"
    sf = separable(problem, goal, homogeneous_ok=False)
    if isinstance(sf, str):
        return refuse(tac, sf)
    vs, total, x, f, c0 = sf.vs, sf.total, sf.x, sf.f, sf.c0
    n = len(vs)
    if not all(is_symmetry(problem, m) for m in cyclic_shifts(vs)):
        return refuse(tac, "the constraints are not cyclic in the variables")
    dom = interval_of(problem, x)
    if not isinstance(dom, sp.Interval) or not dom.measure.is_positive:
        return refuse(tac, f"the variables' range {dom} is not an interval")
    s = total / n
    if s not in dom:
        return refuse(tac, f"the mean {s} is outside the range {dom}")
    try:
        if sp.calculus.util.continuous_domain(f, x, dom) != dom:
            return refuse(tac, f"f = {to_plain(f)} is not continuous on {dom}")
        f2 = sp.simplify(sp.diff(f, x, 2))
        roots = sp.solveset(sp.Eq(f2, 0), x, sp.Interval(dom.inf, dom.sup))
        if not isinstance(roots, sp.FiniteSet) or len(roots) != 1:
            return refuse(tac, f"f'' does not have exactly one zero on {dom} (official condition): {roots}")
        right = sp.solveset(f2 < 0, x, sp.Interval(s, dom.sup, False, dom.right_open))
        left = sp.solveset(f2 < 0, x, sp.Interval(dom.inf, s, dom.left_open, False))
    except (NotImplementedError, ValueError, TypeError) as exc:
        return refuse(tac, f"sympy could not decide convexity: {exc}")
    if right is sp.EmptySet:
        side = f"f convex on [{s}, {dom.sup}]"
    elif left is sp.EmptySet:
        side = f"f convex on [{dom.inf}, {s}]"
    else:
        return refuse(tac, f"f is convex on neither side of the mean {s} (half convex function theorem)")
    fs = sp.nsimplify(f.subs(x, s))
    slack = sp.nsimplify(c0 + n * fs)
    if not (slack.is_number and slack >= 0):
        return refuse(tac, f"c0 + n f(s) = {slack} < 0: the equal-variable bound is too weak")
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
