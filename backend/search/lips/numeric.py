"""Fast numeric test points that satisfy a problem's constraints, and a numeric minimiser.

The LIPS scaler first tests every candidate goal on cached points ("random values, the
equality case, earlier counterexamples") before calling a solver. Canopy does the same: points
are drawn per variable sign (log-uniform for positive variables), pushed onto equality
constraints (exact rescaling when the constraint is homogeneous, e.g. a+b+c = 3 or abc = 1,
else a 1-D root solve, else least squares), and kept only if every constraint holds.
`minimise` (scipy Nelder-Mead from several starts) looks for points where an expression is
negative: it can refute a goal, never prove one.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import pairwise

import sympy as sp

from backend.search.lips.problem import Inequality

log = logging.getLogger(__name__)

Point = dict[str, float]


@lru_cache(maxsize=8192)
def compile_expr(expr: sp.Expr, names: tuple[str, ...]) -> Callable[..., float]:
    """A float function of the named variables (python `math`; complex results mean undefined)."""
    syms = [sp.Symbol(n, real=True) for n in names]
    return sp.lambdify(syms, expr, modules=["math"])


def evaluate(expr: sp.Expr, point: Point, names: Sequence[str] | None = None) -> float | None:
    """Value of expr at point, or None where it is undefined (0 division, sqrt of a negative...)."""
    names = tuple(names or sorted(point))
    try:
        v = compile_expr(expr, names)(*[float(point[n]) for n in names])
    except (ZeroDivisionError, ValueError, OverflowError, TypeError):
        return None
    except RecursionError:  # a deeply nested goal (MO-INT P20) is too deep for Python's compiler
        return None
    if isinstance(v, complex):
        if abs(v.imag) > 1e-12 * (1 + abs(v.real)):
            return None
        v = v.real
    v = float(v)
    return v if math.isfinite(v) else None


def feasible(problem: Inequality, point: Point, tol: float = 1e-9) -> bool:
    """Every constraint holds at point (equalities within tol, strict ones strictly)."""
    for c in problem.constraints:
        v = evaluate(c.expr, point, problem.variables)
        if v is None or not c.holds(v, tol * (1 + _scale(point))):
            return False
    return True


def _scale(point: Point) -> float:
    return max((abs(x) for x in point.values()), default=1.0)


@dataclass
class PointCache:
    """Per-problem (per search run) test points; counterexamples go to the front.

    Mutable by design and owned by one run: the official code shares its list across worker
    processes through a Manager; Canopy keeps one per `SearchRun` so sessions cannot mix.
    """

    points: list[Point] = field(default_factory=list)
    limit: int = 256

    def add(self, point: Point) -> None:
        if point not in self.points:
            self.points.insert(0, dict(point))
            del self.points[self.limit:]

    def extend(self, points: Sequence[Point]) -> None:
        for p in points:
            if p not in self.points and len(self.points) < self.limit:
                self.points.append(dict(p))


class Sampler:
    """Feasible points for one problem, reproducible from `seed`."""

    def __init__(self, problem: Inequality, seed: int = 0):
        self.problem = problem
        self.rng = random.Random(seed)
        self.names = problem.variables
        self.order = _order_pairs(problem)
        self.signs = _infer_signs(problem, self.order)
        self.eqs = [c for c in problem.constraints if c.rel == "=="]
        self._homog = [_homogeneous_form(c.expr) for c in self.eqs]

    def raw(self) -> Point:
        """A point respecting only the sign of each variable (log-uniform for positive ones)."""
        mode = self.rng.random()
        pt = {}
        for n in self.names:
            if self.signs[n] == "real":
                pt[n] = self.rng.gauss(0, 2) if mode > 0.3 else self.rng.uniform(-1.5, 1.5)
            elif mode < 0.5:
                pt[n] = math.exp(self.rng.uniform(math.log(0.05), math.log(20)))
            elif mode < 0.8:
                pt[n] = max(1e-3, 1 + 0.3 * self.rng.gauss(0, 1))
            else:
                pt[n] = self.rng.choice([1e-3, 0.01, 0.1, 1.0, 3.0, 10.0]) * self.rng.uniform(0.5, 2)
        for _ in range(len(self.order)):  # repair orderings x >= y by swapping values
            for hi, lo in self.order:
                if pt[hi] < pt[lo]:
                    pt[hi], pt[lo] = pt[lo], pt[hi]
        return pt

    def project(self, pt: Point) -> Point | None:
        """Move pt onto the equality constraints (None when that fails)."""
        if not self.eqs:
            return pt
        if len(self.eqs) == 1 and self._homog[0] is not None:
            g, c, d = self._homog[0]
            gv = evaluate(g, pt, self.names)
            if gv and c / gv > 0:
                t = (c / gv) ** (1.0 / d)
                return {n: x * t for n, x in pt.items()}
        if len(self.eqs) == 1:
            solved = self._solve_one(pt)
            if solved is not None:
                return solved
        return self._least_squares(pt)

    def _solve_one(self, pt: Point) -> Point | None:
        """Keep all but one variable, find a root for the last one on a grid + bisection."""
        eq = self.eqs[0].expr
        for n in reversed(self.names):
            if not eq.has(sp.Symbol(n, real=True)):
                continue
            grid = _grid(self.signs[n])

            def f(t: float, n: str = n) -> float | None:
                return evaluate(eq, {**pt, n: t}, self.names)

            vals = [(t, f(t)) for t in grid]
            for (t0, v0), (t1, v1) in pairwise(vals):
                if v0 is None or v1 is None or v0 * v1 > 0:
                    continue
                root = _bisect(f, t0, t1, v0)
                if root is not None:
                    cand = {**pt, n: root}
                    if feasible(self.problem, cand):
                        return cand
        return None

    def _least_squares(self, pt: Point) -> Point | None:
        from scipy.optimize import least_squares  # lazy: scipy is heavy

        names = list(self.names)

        def resid(x: Sequence[float]) -> list[float]:
            p = dict(zip(names, x, strict=True))
            return [evaluate(c.expr, p, self.names) or 1e6 for c in self.eqs]

        try:
            sol = least_squares(resid, [pt[n] for n in names], xtol=1e-14, ftol=1e-14, max_nfev=200)
        except (ValueError, FloatingPointError):
            return None
        cand = dict(zip(names, (float(x) for x in sol.x), strict=True))
        return cand if max(abs(r) for r in resid(sol.x)) < 1e-10 else None

    def points(self, n: int, max_tries: int | None = None) -> list[Point]:
        """Up to n feasible points (fewer if the constraints are hard to hit)."""
        out: list[Point] = []
        for _ in range(max_tries or 20 * n):
            if len(out) >= n:
                break
            p = self.project(self.raw())
            if p is not None and feasible(self.problem, p):
                out.append(p)
        return out

    def equality_case(self) -> Point | None:
        """All variables equal (the usual equality case of symmetric inequalities), if feasible."""
        t = sp.Symbol("t", positive=True)
        syms = self.problem.symbol_list
        if not self.eqs:
            cand = {n: 1.0 for n in self.names}
            return cand if feasible(self.problem, cand) else None
        try:
            sols = sp.solve([c.expr.xreplace({s: t for s in syms}) for c in self.eqs], t, dict=True)
        except (NotImplementedError, ValueError, TypeError):
            return None
        for sol in sols:
            val = complex(sol[t].evalf())
            if abs(val.imag) < 1e-12 and val.real > 0:
                cand = {n: float(val.real) for n in self.names}
                if feasible(self.problem, cand):
                    return cand
        return None


def _order_pairs(problem: Inequality) -> list[tuple[str, str]]:
    """Constraints `x - y >= 0` / `> 0` between two variables, as (x, y)."""
    syms = {sp.Symbol(n, real=True): n for n in problem.variables}
    pairs = []
    for c in problem.constraints:
        if c.rel in (">", ">=") and c.expr.is_Add and len(c.expr.args) == 2:
            pos = [syms.get(t) for t in c.expr.args if t in syms]
            neg = [syms.get(-t) for t in c.expr.args if -t in syms]
            if len(pos) == 1 and len(neg) == 1:
                pairs.append((pos[0], neg[0]))
    return pairs


def _infer_signs(problem: Inequality, order: list[tuple[str, str]]) -> dict[str, str]:
    """Direct signs, propagated along orderings: a >= b, b >= c, c >= 0 makes all three nonneg."""
    signs = {n: problem.sign_of(n) for n in problem.variables}
    for _ in range(len(order)):
        for hi, lo in order:
            if signs[hi] == "real" and signs[lo] != "real":
                signs[hi] = signs[lo]
    return signs


def _homogeneous_form(expr: sp.Expr) -> tuple[sp.Expr, float, float] | None:
    """expr == 0 read as g(x) = c with g homogeneous of degree d != 0, else None."""
    if not expr.is_polynomial():
        return None
    const, g = expr.as_coeff_Add()
    if g == 0 or const == 0:
        return None
    poly = sp.Poly(g, *sorted(g.free_symbols, key=str))
    if not poly.is_homogeneous or poly.total_degree() == 0:
        return None
    return g, float(-const), float(poly.total_degree())


def _grid(sign: str) -> list[float]:
    if sign == "real":
        return [-50 + 100 * i / 200 for i in range(201)]
    return [math.exp(math.log(1e-4) + (math.log(1e3) - math.log(1e-4)) * i / 200) for i in range(201)]


def _bisect(f: Callable[[float], float | None], a: float, b: float, fa: float) -> float | None:
    for _ in range(80):
        m = 0.5 * (a + b)
        fm = f(m)
        if fm is None:
            return None
        if fa * fm <= 0:
            b = m
        else:
            a, fa = m, fm
    return 0.5 * (a + b)


def minimise(problem: Inequality, expr: sp.Expr, starts: Sequence[Point],
             max_iter: int = 300) -> tuple[float, Point] | None:
    """Smallest value of expr found over feasible points, by Nelder-Mead from each start.

    Positive variables are optimised in log space; equality constraints are re-imposed by
    `Sampler.project` at every evaluation; infeasible points score +inf.
    """
    from scipy.optimize import minimize  # lazy

    sampler = Sampler(problem)
    names = list(problem.variables)
    logs = [sampler.signs[n] != "real" for n in names]

    def to_point(y: Sequence[float]) -> Point | None:
        raw = {n: (math.exp(min(v, 50)) if lg else v) for n, v, lg in zip(names, y, logs, strict=True)}
        return sampler.project(raw)

    def objective(y: Sequence[float]) -> float:
        p = to_point(y)
        if p is None or not feasible(problem, p):
            return math.inf
        v = evaluate(expr, p, problem.variables)
        return math.inf if v is None else v

    best: tuple[float, Point] | None = None
    for s in starts:
        y0 = [math.log(max(s[n], 1e-12)) if lg else s[n] for n, lg in zip(names, logs, strict=True)]
        res = minimize(objective, y0, method="Nelder-Mead",
                       options={"maxiter": max_iter, "xatol": 1e-10, "fatol": 1e-14})
        p = to_point(res.x)
        if p is not None and math.isfinite(res.fun) and (best is None or res.fun < best[0]):
            best = (float(res.fun), p)
    return best

