"""Parsing problems from plain syntax and LaTeX; clear errors for what cannot be parsed."""

import pytest
import sympy as sp

from backend.search.lips.expr import ExprParseError, make_symbols, parse_expression, to_plain
from backend.search.lips.problem import Goal, ProblemParseError, parse_latex_problem, parse_problem


def test_plain_syntax_with_lists_and_equalities():
    p = parse_problem("a,b,c > 0; a+b+c = 3; prove a^2+b^2+c^2 >= 3")
    a, b, c = p.symbol_list
    assert p.variables == ("a", "b", "c")
    assert [(con.expr, con.rel) for con in p.constraints] == [
        (a, ">"), (b, ">"), (c, ">"), (a + b + c - 3, "==")]
    assert p.goal == Goal(sp.Integer(3), a**2 + b**2 + c**2)  # >= is stored as <=
    assert p.sign_of("a") == "pos"


def test_chains_declarations_and_roundtrip():
    p = parse_problem("x, y real\n0 < x <= 1\nprove x*y <= x^2/2 + y^2/2")
    x = p.symbols["x"]
    assert {(con.expr, con.rel) for con in p.constraints} == {(x, ">"), (1 - x, ">=")}
    assert p.sign_of("y") == "real"
    again = parse_problem(p.to_text())
    assert again.goal == p.goal and again.constraints[0].expr == p.constraints[0].expr


@pytest.mark.parametrize(("text", "fragment"), [
    ("a > 0; a + b >= 2", "exactly one part starting with 'prove'"),
    ("a > 0; prove a + q$ >= 0", "unsupported character"),
    ("a > 0; prove a < 1", "strict goal"),
    ("a > 0; prove a = 1", "must be an inequality"),
    ("a > 0; prove a +* 2 >= 1", "cannot parse"),
    ("a > 0 > ; prove a >= 0", "missing an operand"),
])
def test_errors_name_the_part(text, fragment):
    with pytest.raises(ProblemParseError, match=fragment):
        parse_problem(text)


def test_expression_whitelist_blocks_code():
    syms = make_symbols(["a"])
    with pytest.raises(ExprParseError, match="unsupported character"):
        parse_expression("__import__('os')", syms)
    with pytest.raises(ExprParseError, match="unknown name '__import__'"):
        parse_expression("__import__(a)", syms)
    with pytest.raises(ExprParseError, match="unknown name 'b'"):
        parse_expression("a + b", syms, where="constraint 2")


def test_lean_spellings_and_printing():
    syms = make_symbols(["a", "b"])
    e = parse_expression("sqrt (a * b) + sqrt 2 + a ^ (1 / 3) + 0.5", syms)
    a, b = syms["a"], syms["b"]
    assert e == sp.sqrt(a * b) + sp.sqrt(2) + a ** sp.Rational(1, 3) + sp.Rational(1, 2)
    assert parse_expression(to_plain(e), syms) == e


def test_latex_goal():
    latex = r"\frac{a}{b+c} + \frac{b}{c+a} + \frac{c}{a+b} \geq \frac{3}{2}"
    p = parse_latex_problem(latex, ["a, b, c > 0"])
    a, b, c = p.symbol_list
    assert p.goal.lhs == sp.Rational(3, 2)
    assert sp.simplify(p.goal.rhs - (a / (b + c) + b / (c + a) + c / (a + b))) == 0
    with pytest.raises(ProblemParseError, match="not a <= / >= inequality"):
        parse_latex_problem(r"a + b = 2")


def test_goal_side_form_moves_negative_terms():
    a, b = sp.symbols("a b", real=True)
    g = Goal.from_difference(2 * a * b - a**2 - b**2)
    assert g == Goal(2 * a * b, a**2 + b**2)
