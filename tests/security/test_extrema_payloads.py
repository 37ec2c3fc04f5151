"""Max and Min in LIPS input (``backend/search/lips/grammar.py``): sympy compares a Max's
arguments pairwise when it builds one, so their number is bounded (``Limits.max_extrema_args``)
in each expression and in a problem's parts together, and checked before anything is built."""

from __future__ import annotations

import time

import pytest
import sympy as sp

from backend.search.lips.expr import ExprParseError, parse_expression
from backend.search.lips.problem import ProblemParseError, parse_latex_problem, parse_problem

BOUND_S = 0.5  # as tests/security/test_parser_payloads.py: wall time allowed to refuse one payload
MAX64 = "Max(" + ",".join(f"(a+b+c)^{k % 12 + 1}*a^{k // 12}" for k in range(64)) + ")"  # ~6 s to build
SIXTEENS = "; ".join("Max(" + ",".join(f"(a+b+c)^{k + j}" for k in range(1, 17)) + ") >= 0" for j in range(8))

PAYLOADS = {
    "one Max of 64": lambda: parse_problem(f"Let a, b, c be positive reals. Prove that {MAX64} >= b"),
    "nested Min of Max": lambda: parse_problem("a, b, c > 0; prove Min(" + ",".join(
        f"Max(a^{k},b^{k},c^{k})" for k in range(1, 60)) + ") >= b"),
    "8 constraints of 16": lambda: parse_problem(f"a, b, c > 0; {SIXTEENS}; prove Max(a, b) >= b"),
    "LaTeX max": lambda: parse_problem("Let $a,b,c$ be positive reals. Prove that $\\max(" + ",".join(
        f"(a+b+c)^{{{k % 12 + 1}}}" for k in range(40)) + ") \\ge b$"),
    "LaTeX goal and constraints": lambda: parse_latex_problem(
        "\\max(a, b) \\ge b", ["Max(" + ",".join(f"(a+b)^{k}" for k in range(1, 17)) + ") >= 0"]),
    "one expression": lambda: parse_expression(MAX64, {n: sp.Symbol(n, positive=True) for n in "abc"}),
}


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_many_max_and_min_arguments_are_refused_before_sympy_compares_them(name):
    start = time.perf_counter()
    with pytest.raises((ExprParseError, ProblemParseError), match="max_extrema_args"):
        PAYLOADS[name]()
    assert time.perf_counter() - start < BOUND_S


def test_a_few_max_and_min_still_read():
    text = "a, b, c > 0; Max(a, b, c) <= a + b + c; prove Min(a, b) + Max(a, b) >= 2*Min(a, b)"
    problem = parse_problem(text)
    assert len(problem.constraints) == 4 and problem.goal is not None
