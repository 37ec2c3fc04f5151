"""Parsing problems from plain syntax and LaTeX; clear errors for what cannot be parsed."""

import pytest
import sympy as sp

from backend.search.lips.expr import ExprParseError, make_symbols, parse_expression, to_plain
from backend.search.lips.problem import (
    Goal,
    parse_latex_problem,
    parse_problem,
)
from backend.search.lips.reading import ProblemParseError, describe_reading


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
    ("a > 0; a + b", "no goal found .*Write constraints and the goal separated by ';'"),
    ("a > 0; prove a + q$ >= 0", "unsupported character"),
    ("a > 0; prove a < 1", "strict goal"),
    ("a > 0; prove a = 1", "must be an inequality"),
    ("a > 0; prove a +* 2 >= 1", "cannot parse"),
    ("a > 0 > ; prove a >= 0", "missing an operand"),
    # the second reading (a goal at the end of a condition) finds none either
    ("a, b > 0", "no goal found"),
    ("For positive reals a, b: hello", "no goal found"),
    ("For positive reals a, b:", "no goal found"),
])
def test_errors_name_the_part(text, fragment):
    with pytest.raises(ProblemParseError, match=fragment):
        parse_problem(text)


@pytest.mark.parametrize("text", [
    "sqrt(-1)*x >= 0",  # reached the SOS prover's exact arithmetic and crashed it (AttributeError)
    "x >= sqrt(-2)",
    "(-8)^(1/3)*x >= 0",  # the principal cube root: complex, with no I in it
    "log(-1)*x >= 0",
    "x >= 0; prove x + \\sqrt{-3} >= 0",
])
def test_a_constant_that_is_not_real_is_refused_with_why(text):
    with pytest.raises(ProblemParseError, match=r"not real .*an inequality compares real values"):
        parse_problem(text)


def test_roots_of_variables_and_real_constants_still_parse():
    assert parse_problem("x >= 0; prove sqrt(x) + (-8)^(1/3)*0 + sqrt(2) >= 0").variables == ("x",)
    assert parse_problem("a >= 0; b >= 0; prove sqrt(-a-1) >= b").variables == ("a", "b")


def test_a_name_that_looks_like_a_constant_is_said_to_be_a_variable():
    """`pi >= 3` is refuted (pi is a variable): the reading must say so, or the answer looks wrong."""
    assert any("pi read as a variable, not the constant π" in r for r in parse_problem("pi >= 3").readings)
    assert any("Euler" in r for r in parse_problem("x > 0; prove x*e >= 0").readings)
    assert parse_problem("a,b,c,d,e > 0; prove a+b+c+d+e >= 0").readings == ()  # e plainly a variable


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


# -- what people type: implicit products, phrasings, LaTeX, teaching errors ----------------------

A, B, C = sp.symbols("a b c", real=True)


def _cons(p):
    return {(con.expr, con.rel) for con in p.constraints}


def test_implicit_products_of_variables_are_read_and_recorded():
    p = parse_problem("a, b, c > 0; prove a^2 + b^2 + c^2 >= ab + bc + ca")
    assert p.variables == ("a", "b", "c")
    assert p.goal == Goal(A * B + B * C + C * A, A**2 + B**2 + C**2)
    assert p.readings == ("ab read as a*b", "bc read as b*c", "ca read as c*a")
    assert parse_problem("a,b,c > 0; prove 2abc <= a^3+b^3+c^3").readings == ("abc read as a*b*c",)


def test_products_divide_and_raise_as_a_whole():
    x, y = sp.symbols("x y", real=True)
    assert parse_problem("x, y > 0; prove 1/xy >= 0").goal == Goal(sp.Integer(0), 1 / (x * y))
    assert parse_problem("x, y > 0; prove xy^2 >= 0").goal == Goal(sp.Integer(0), x * y**2)


@pytest.mark.parametrize("text", [
    "variables xy; x, y > 0; prove xy >= 0",  # declared as itself
    "x, y, xy > 0; prove xy >= 0",  # stated about as itself in a constraint
    "x > 0; prove xy >= 0",  # y is not a variable: xy cannot split
])
def test_a_declared_multi_letter_name_stays_a_variable(text):
    p = parse_problem(text)
    assert "xy" in p.variables and p.readings == ()
    assert p.goal == Goal(sp.Integer(0), p.symbols["xy"])


def test_an_equation_does_not_declare_its_name():
    """'abc = 1' is the classic condition a*b*c = 1; it once made `abc` a fourth variable, and
    the search then refuted a + b + c >= 3 with a point where a*b*c was not 1."""
    for text in ("a, b, c > 0; abc = 1; prove a + b + c >= 3", "a, b, c > 0, abc = 1; prove a + b + c >= 3"):
        p = parse_problem(text)
        assert p.variables == ("a", "b", "c") and (A * B * C - 1, "==") in _cons(p), text
        assert p.readings == ("abc read as a*b*c",)


def test_relation_groups_cut_a_comma_list_after_each_relation():
    from backend.search.lips.reading import _relation_groups

    assert _relation_groups("a, b >= 0, a + b = 2") == ["a, b >= 0", "a + b = 2"]
    assert _relation_groups("x > 0, y > 0") == ["x > 0", "y > 0"]
    assert _relation_groups("0 < a, b") == ["0 < a, b"]  # names after the last relation join it
    assert _relation_groups("a, b") == ["a, b"]


def test_names_with_digits_and_function_names_never_split():
    p = parse_problem("s, q, r, t, x > 0; prove sqrt(x1) + sqrt(x) >= 0")
    assert "x1" in p.variables and p.readings == ()


TWO_POSITIVE = {(A, ">"), (B, ">")}
AB_GOAL = Goal(2 * A * B, A**2 + B**2)


@pytest.mark.parametrize("text", [
    "a, b > 0, prove a^2 + b^2 >= 2ab",
    "a, b > 0. Prove that a^2 + b^2 >= 2ab.",
    "a, b > 0\nshow a^2 + b^2 >= 2ab",
    "Prove that a^2 + b^2 >= 2ab for a, b > 0",
    "prove a^2 + b^2 >= 2ab for all a, b > 0",
    "prove a^2 + b^2 >= 2ab where a, b > 0",
    "For a, b > 0, prove a^2 + b^2 >= 2ab",
    "Let a, b be positive reals. Prove that a^2 + b^2 >= 2ab.",
    "Let a and b be positive real numbers. Show that a^2 + b^2 >= 2ab",
    "For positive reals a, b, show that a^2 + b^2 >= 2ab",
    "If a > 0 and b > 0, prove that a^2 + b^2 >= 2ab",
    "a, b are positive; prove: a^2 + b^2 >= 2ab",
    # no 'prove': the relation a part leads with, before its conditions, is the goal
    "a^2 + b^2 >= 2ab with a, b > 0",
    "a^2 + b^2 >= 2ab for all positive reals a, b",
    r"$a^2 + b^2 \ge 2ab$ where $a, b > 0$",
])
def test_natural_phrasings(text):
    p = parse_problem(text)
    assert _cons(p) == TWO_POSITIVE and p.goal == AB_GOAL, text


@pytest.mark.parametrize("text", [
    # the goal at the end of a condition, after ':', 'then' or a comma (read only when the text
    # has no other reading: found by a browser walk, 2026-12-05)
    "For positive reals a, b: a^2 + b^2 >= 2ab",
    "For all positive reals a and b: a^2 + b^2 >= 2ab",
    "For positive reals a, b, a^2 + b^2 >= 2ab",
    "If a, b > 0 then a^2 + b^2 >= 2ab",
    "a, b > 0: a^2 + b^2 >= 2ab",
    "a, b > 0, a^2 + b^2 >= 2ab",
    "Show that for positive reals a, b, a^2 + b^2 >= 2ab",
    "Prove that if a, b > 0 then a^2 + b^2 >= 2ab",
    r"For $a, b > 0$: $a^2 + b^2 \ge 2ab$",
    "a, b > 0 => a^2 + b^2 >= 2ab",
    "a, b > 0 ⇒ a² + b² ≥ 2ab",
])
def test_a_goal_that_ends_a_condition(text):
    p = parse_problem(text)
    assert _cons(p) == TWO_POSITIVE and p.goal == AB_GOAL, text


def test_a_sentence_that_starts_with_then_or_hence_is_the_goal():
    """"Then" once read as a variable: 'Suppose a, b > 0. Then a/b + b/a >= 2.' proved
    2 <= b/a + Then*a/b, silently."""
    for text in ("Suppose a, b > 0. Then a/b + b/a >= 2.", "a, b > 0. Hence, a/b + b/a >= 2",
                 "Let a, b be positive reals. Therefore a/b + b/a >= 2"):
        p = parse_problem(text)
        assert p.variables == ("a", "b") and p.goal == Goal(sp.Integer(2), A / B + B / A), text


def test_filler_words_are_not_variables():
    """'Prove the inequality a^2 + b^2 >= 2ab' once proved b^2 + inequality*the*a^2 >= 2ab."""
    for text in ("Prove the inequality a^2 + b^2 >= 2ab", "Prove the following inequality: a^2 + b^2 >= 2ab",
                 "Prove that the inequality a^2 + b^2 >= 2ab holds for all reals a, b"):
        p = parse_problem(text)
        assert p.variables == ("a", "b") and p.goal == AB_GOAL, text
    words = r"the word\(s\) 'Find', 'minimum', 'the' would be read as variables"
    with pytest.raises(ProblemParseError, match=words):
        parse_problem("Find the minimum of x + 1/x for x > 0")


def test_the_root_sign_is_sqrt():
    p = parse_problem("a, b > 0 ⇒ a + b ≥ 2√(ab)")
    assert _cons(p) == TWO_POSITIVE and p.goal == Goal(2 * sp.sqrt(A * B), A + B)
    assert parse_problem("a >= 0; prove a + 1 >= 2√a").goal == Goal(2 * sp.sqrt(A), A + 1)


def test_superscript_digits_are_powers():
    p = parse_problem("Let a, b, c ≥ 0. Prove that a³ + b³ + c³ ≥ 3abc.")
    assert p.goal == Goal(3 * A * B * C, A**3 + B**3 + C**3)
    assert parse_problem("a² + b² ≥ 2ab").goal == AB_GOAL


def test_a_condition_in_parentheses_after_the_goal():
    p = parse_problem("a/b + b/a >= 2 (a, b > 0)")
    assert _cons(p) == TWO_POSITIVE and p.goal == Goal(sp.Integer(2), A / B + B / A)
    assert parse_problem("(a+b)^2 >= 4ab").constraints == ()  # a parenthesis that is part of the goal


def test_a_goal_after_a_quantifier_over_reals():
    x = sp.symbols("x", real=True)
    p = parse_problem("Prove that for all real x, x^2 + 1 >= 2x")
    assert p.constraints == () and p.goal == Goal(2 * x, x**2 + 1)


def test_a_comma_list_of_relations_is_that_many_constraints():
    """'x > 0, y > 0' once read as the chain x > (0, y) > 0, which holds 0 > 0: constraints
    that contradict each other, from which any goal follows."""
    x, y = sp.symbols("x y", real=True)
    p = parse_problem("x > 0, y > 0; x + y >= 2*sqrt(x*y)")
    assert {(c.expr, c.rel) for c in p.constraints} == {(x, ">"), (y, ">")}
    p = parse_problem("a >= 1, b >= 2, prove a*b >= 2")
    assert _cons(p) == {(A - 1, ">="), (B - 2, ">=")}
    # names, then a relation, then another constraint: "a, b >= 0, a + b = 2" once held 0 = 2
    p = parse_problem("a, b >= 0, a + b = 2, prove ab <= 1")
    assert _cons(p) == {(A, ">="), (B, ">="), (A + B - 2, "==")}
    p = parse_problem("a, b > 0, ab = 1; prove a + b >= 2")
    assert _cons(p) == {(A, ">"), (B, ">"), (A * B - 1, "==")}
    # a list of names between two relations is still a list: 0 < a, b < 1 bounds both
    p = parse_problem("0 < a, b < 1; prove a*b <= 1")
    assert _cons(p) == {(A, ">"), (B, ">"), (1 - A, ">"), (1 - B, ">")}


def test_phrasings_with_equalities_and_non_negative():
    p = parse_problem("Let a,b,c be positive reals with a+b+c=3. Prove that a^2+b^2+c^2 >= 3.")
    assert _cons(p) == {(A, ">"), (B, ">"), (C, ">"), (A + B + C - 3, "==")}
    p = parse_problem("Let a, b and c be non-negative real numbers such that a + b + c = 1. "
                      "Prove that ab + bc + ca <= 1/3")
    assert _cons(p) == {(A, ">="), (B, ">="), (C, ">="), (A + B + C - 1, "==")}
    assert p.goal == Goal(A * B + B * C + C * A, sp.Rational(1, 3))
    p = parse_problem("a, b, c > 0; prove abc <= 1 if a+b+c = 3")
    assert (A + B + C - 3, "==") in _cons(p)
    x, y = sp.symbols("x y", real=True)
    p = parse_problem("x, y in R; prove x^2 + y^2 >= 2xy")
    assert p.constraints == () and p.goal == Goal(2 * x * y, x**2 + y**2)


@pytest.mark.parametrize("text", [
    r"a, b > 0; prove \sqrt{ab} \le \frac{a+b}{2}",
    r"a, b > 0, prove $\sqrt{ab} \leq \frac{a+b}{2}$",
    r"Let $a, b$ be positive reals. Prove that $\sqrt{a \cdot b} \le \frac{a+b}{2}$.",
    r"$a, b > 0$; prove $\frac{a+b}{2} \geq \sqrt{ab}$",
])
def test_latex_in_the_problem_text(text):
    p = parse_problem(text)
    assert _cons(p) == TWO_POSITIVE
    assert p.goal == Goal(sp.sqrt(A * B), (A + B) / 2)


def test_latex_letter_runs_are_recorded_as_readings():
    p = parse_problem(r"a, b > 0; prove \frac{1}{ab} \ge \frac{4}{(a+b)^2}")
    assert p.readings == ("ab read as a*b",)
    x, y = sp.symbols("x y", real=True)
    p = parse_problem(r"Let $x, y \in \mathbb{R}$. Prove that $x^2+y^2 \geq 2xy$.")
    assert p.constraints == () and p.goal == Goal(2 * x * y, x**2 + y**2)
    assert p.readings == ("xy read as x*y",)


def test_latex_words_and_negative_numbers():
    for text in (r"$\forall a, b > 0$, prove $a^2+b^2 \ge 2ab$",
                 r"prove $a^2+b^2 \ge 2ab$ \text{ for all } $a, b > 0$"):
        p = parse_problem(text)
        assert _cons(p) == TWO_POSITIVE and p.goal == AB_GOAL, text
    p = parse_problem("a is negative; prove a^3 <= 0")
    assert _cons(p) == {(-A, ">")}


def test_a_lone_dollar_is_not_latex():
    with pytest.raises(ProblemParseError, match="unsupported character"):
        parse_problem("a > 0; prove a + q$ >= 0")


@pytest.mark.parametrize("text", [
    "a, b, c > 0",  # ("a, b, c > 0, a^2 + b^2 >= 2ab" reads since 2026-12-05: the goal ends the list)
    "a^2 + b^2",
    "hello",
    "a > 0; 0 < a <= 1",
    "",
])
def test_a_missing_goal_shows_the_format_with_an_example(text):
    with pytest.raises(ProblemParseError) as info:
        parse_problem(text)
    message = str(info.value)
    assert "no goal found" in message and "separated by ';'" in message
    assert "a, b, c > 0; prove a^2+b^2+c^2 >= a*b+b*c+c*a" in message


def test_two_goals_and_an_empty_goal_are_explained():
    with pytest.raises(ProblemParseError, match="2 goals"):
        parse_problem("prove a >= 0; prove b >= 0")
    with pytest.raises(ProblemParseError, match="nothing after 'prove'"):
        parse_problem("a > 0; prove")


@pytest.mark.parametrize("text", [
    "x" * 10_000,
    "a > 0; prove " + "a+" * 4000 + "a >= 0",
    "a > 0; " + "b" * 3000 + " >= 1; prove a >= 0",
    "a > 0; prove " + "q$" * 2000 + " >= 0",
    "prove " + "+".join(f"x{i}" for i in range(2000)) + " >= 0",
], ids=["no-goal", "long-goal", "long-name", "dollars", "many-variables"])
def test_error_messages_never_echo_a_long_input(text):
    with pytest.raises(ProblemParseError) as info:
        parse_problem(text)
    message = str(info.value)
    assert len(message) < 400, message
    assert not any(text[i:i + 90] in message for i in range(0, len(text), 10)), message


def test_describe_reading_says_how_the_text_was_read():
    p = parse_problem("a, b, c > 0, prove a^2 + b^2 + c^2 >= ab + bc + ca")
    assert describe_reading(p).splitlines() == [
        "variables: a, b, c",
        "constraints: a > 0; b > 0; c > 0",
        "goal: prove a*b + a*c + b*c <= a^2 + b^2 + c^2",
        "read: ab read as a*b",
        "read: bc read as b*c",
        "read: ca read as c*a",
    ]


# --- a bare inequality is the goal (no 'prove': "no goal found" before) --------------------------


@pytest.mark.parametrize(("text", "constraints"), [
    ("a^2+b^2>=2ab", []),
    ("a^2 + b^2 >= 2*a*b", []),
    ("a^2+b^2 ≥ 2ab", []),
    ("$a^2+b^2 \\ge 2ab$", []),
    ("a, b > 0; a^2 + b^2 >= 2*a*b", ["a > 0", "b > 0"]),
    ("a^2 + b^2 >= 2*a*b; a, b > 0", ["a > 0", "b > 0"]),  # lists stay constraints
])
def test_a_bare_inequality_is_the_goal(text, constraints):
    p = parse_problem(text)
    a, b = p.symbols["a"], p.symbols["b"]
    assert p.goal == Goal(2 * a * b, a**2 + b**2)
    assert [str(c) for c in p.constraints] == constraints
    assert any("read as the goal (no 'prove' given)" in r for r in p.readings)


def test_without_prove_the_last_inequality_is_the_goal_and_the_rest_constraints():
    p = parse_problem("a, b > 0; a + b = 2; a*b <= 1")
    a, b = p.symbols["a"], p.symbols["b"]
    assert p.goal == Goal(a * b, sp.Integer(1))
    assert [(c.expr, c.rel) for c in p.constraints] == [(a, ">"), (b, ">"), (a + b - 2, "==")]
    p = parse_problem("x^2+1 >= 2x for real x")
    x = p.symbols["x"]
    assert p.goal == Goal(2 * x, x**2 + 1) and p.constraints == ()


@pytest.mark.parametrize(("text", "fragment"), [
    ("a, b > 0; a > b", "strict goal 'a > b' is not supported"),  # the last part, named
    ("a, b > 0; a + b = 2", "the goal must be an inequality"),
    ("a > 0; 0 < a <= 1", "no goal found"),  # a chain is a constraint, not a goal
    ("a^2 >= __import__(a)", "unknown name '__import__'"),  # the goal is parsed by the safe grammar
    ("a^2 + b^2 >= 2*a*b " + "+ a" * 6000, "too long"),  # the text cap comes before any reading
])
def test_a_bare_text_without_a_usable_goal_gets_a_clear_error(text, fragment):
    with pytest.raises(ProblemParseError, match=fragment):
        parse_problem(text)
