"""Problem text is attacker input: the parser must refuse code, huge powers and deep nesting, fast."""

from __future__ import annotations

import ast
import time
from pathlib import Path

import pytest
import sympy as sp

from backend.search.lips import grammar
from backend.search.lips.expr import (
    ExprParseError,
    make_symbols,
    parse_expression,
    parse_latex_expression,
    to_plain,
)
from backend.search.lips.lean import parse_lean_file
from backend.search.lips.lemmas import DEFAULT_LIBRARY, load_lemmas
from backend.search.lips.problem import Goal, parse_latex_problem, parse_problem
from backend.search.lips.problems import ASSETS, PROBLEM_SETS, load_inequalities
from backend.search.lips.reading import ProblemParseError

BOUND_S = 0.5  # wall time allowed to refuse one payload
SYMS = make_symbols("abc")
SYMS12 = make_symbols("abcdefghijkl")
A, B, C = SYMS["a"], SYMS["b"], SYMS["c"]
MKDIR = "canopymarker"  # the directory the old-parser exploit creates in the working directory


def _chars(s: str) -> str:
    """A string written without quotes, as `chr(..)+chr(..)`: how a payload dodges a quote filter."""
    return "+".join(f"chr({ord(ch)})" for ch in s)


# Each class: payloads that must be refused. MARKER is replaced by a path under tmp_path.
CODE = [
    # worked against the former parse_expr parser: creates ./canopymarker without quotes or brackets
    f"sqrt.__globals__.get(__builtins__.name).get(__import__.name).__call__(os.name).mkdir({MKDIR}.name)",
    "f.__globals__", "a.__class__.__mro__", "sqrt.__globals__", "Symbol.name", "a.name", "a . name",
    "sqrt.__code__", "a.__class__.__subclasses__()", "().__class__", "(1).__class__", "a.__dict__",
    "chr(97)", "__import__(os.name)", "__import__('os').system('touch MARKER')",
    "__import__(" + _chars("os") + ").system(" + _chars("touch MARKER") + ")",
    "getattr(a, b)", "exec(a)", "eval(a)", "compile(a)", "globals()", "vars()", "open(a)", "breakpoint()",
    "lambda: 0", "lambda x: x", "(x := 1)", "[x for x in a]", "(x for x in a)", "{a: b}", "a[0]",
    "'a'", '"a"', "a if b else c", "a;b", "`a`", "a @ b", "a % b", "a & b", "a | b", "~a", "a $ b",
    "a\\b", "a # b", "a\x00b", "\x00", "a\nb", "\u0430 + b",  # Cyrillic a
    "\uff41 + b",  # fullwidth a (Python's NFKC would read it as `a`)
    "\U0001d41a + b",  # mathematical bold a
    "a\u200bb",  # zero-width space
    "0x10", "0b11", "1e5", "1_000", "__builtins__", "_a", "a__b", "Symbol(a)", "sympify(a)", "type(a)",
    "math", "os",
]
POWERS = [
    "9^9^9^9", "9**9**9**9", "10^10^10", "2^(2^100)", "(a+b)^100000", "99999999999999999999999^999",
    "2^4097", "a^(10^9)", "(2^64)^64", "((2^100)^100)^100", "sqrt(10^4000)", "2^sqrt(10^400)",
    "2^(a - a + 10^300)", "a^(1/10^9)", "2^(1/1000)", "(-1)^(10^100)", "1^(10^100)", "0^(10^100)",
    "exp(a)^100000", "Max(a, b)^1000", "(((a^8)^8)^8)^8", "a^100*a^100", "2^-(10^9)", "-(9^9^9)",
    "1/0", "0^-1", "1/(a-a)", "(a-a)^(-1)", "cbrt(2)^(3*10^9)", "log(2^(10^9))",
    # sympy turns exp(c*log(y)) into y^c, and E^x into exp(x)
    "exp(10^300*log(2))", "exp(log(2)/(1/10^300))", "exp(1)^(10^300*log(3))", "exp(70*log(a))",
    "exp(64*log(a))^64", "exp(1)^(64*log(a+b))",
    # roots of big numbers: sympy factors the base (0.3 s for 4,000 bits)
    "*".join(f"(2^4000+{k})^(1/{k + 1})" for k in range(1, 40)), "sqrt(2^257)",
]
NESTING = [
    "(" * 5000 + "a" + ")" * 5000, "-" * 5000 + "a", "+-" * 2000 + "a", "a^" * 1000 + "a",
    "sqrt(" * 100 + "a" + ")" * 100, "(" * 51 + "a" + ")" * 51, "(" * 50000 + ")" * 50000,
    "Max(" * 60 + "a" + ",b)" * 60,
]
LONG = [
    "a+" * 500_000 + "a", " " * 1_000_000 + "a", "1" * 1_000_000, "a" * 100_000, "1" * 101,
    "a" * 33, "a*" * 1001 + "a", "(a+b)*" * 400 + "a",
]
TERMS = [  # parsed over the 12 variables a..l
    "(a+b+c+d+e+f+g+h+i+j+k+l)^6", "(a+b+c+1)^40", "(a+b)*(a+c)*(b+c)*(a+1)*(b+1)*(c+1)*" * 12 + "a",
    "(a+b+c+d+e+f+g+h+i+j+k+l)^2*" * 3 + "1", "(a*b+c*d+e*f+g*h+i*j+k*l+1)^12", "(a+b+c+d+e+f)^16",
]
LATEX = [
    r"9^{9^{9^{9}}} \ge 0", r"2^{2^{100}} \ge a", r"\frac{1}{0} \ge a",
    "{" * 5000 + "a" + "}" * 5000 + r" \ge 0", r"\frac{" * 2000 + "a",
    r"\sqrt{" * 1000 + "a" + "}" * 1000 + r" \ge 0", r"\text{a} \ge 0",
    r"\input{/etc/passwd} \ge 0", r"\def\x{a} \x \ge 0", r"a^{\__class__} \ge 0", "a" * 100_000 + r" \ge 0",
    r"|a| \ge 0", r"a! \ge 0", r"a' \ge 0", r"\left\{ a \right\} \ge 0",
]
PROBLEMS = [
    "prove " + CODE[0] + " >= 0", "prove f.__globals__ >= 0", "prove sqrt.__globals__ >= 0",
    "prove chr(97) >= 0", "variables __class__; prove a >= 0", "variables sqrt; prove a >= 0",
    "vars lambda; prove a >= 0", "prove 9^9^9^9 >= 0", "prove " + "(" * 5000 + "a" + ")" * 5000 + " >= 0",
    "a > 0;" * 200_000 + "prove a >= 0",
    ",".join(["a"] * 100) + " > " + ",".join(["a"] * 100) + "; prove a >= 0",
    "prove " + "+".join(f"x{i}" for i in range(13)) + " >= 0", "prove a >= 0; prove b >= 0",
    "prove (a+b)^100000 >= 0",
]

#: the phrasing layer (regexes over the whole text, before the grammar): 10,000 characters of
#: what makes a backtracking regex slow (runs of spaces between keywords, lists, sentence ends)
PHRASES = [
    "a" + " " * 9990 + "x", "a" + " " * 9990 + "real", "x" + " in " * 2400 + "R", "for " * 2499,
    ("for" + " " * 200) * 45, "a, " * 3300, ". " * 4999, ("." + " " * 300 + "a") * 30, "prove " * 1666,
    "$" * 10_000, "\\text{" * 1000, "\\text{" + "a" * 9000, "a and " * 1666, "a, " * 3000 + "be positive",
    "positive " * 1100, "non-" * 2500, "Let a be positive. " * 500 + "prove a >= 0",
    "Let " + ", ".join(f"x{i}" for i in range(1500)) + " be positive. prove x0 >= 0",
    "a,b,c>0; prove " + "abc+" * 450 + "a >= 0", "a>0; prove $" + "\\frac{a}{" * 500 + "$",
    "prove a >= 0 " + "where such that with " * 400, "a > 0. " * 1400 + "prove a >= 0",
    "a" + "\t " * 4990 + "be", " " * 9990 + "prove", "prove that" + " " * 9980 + "x",
]


def _sub(payload: str, tmp_path: Path) -> str:
    return payload.replace("MARKER", str(tmp_path / "marker"))


@pytest.fixture(autouse=True)
def _sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Run in tmp_path (the mkdir exploit writes there) and check no marker appeared afterwards."""
    monkeypatch.chdir(tmp_path)
    parse_expression("a+b", SYMS)  # warm-up: the first sympy call pays for caches
    yield
    assert not (tmp_path / "marker").exists()
    assert not (tmp_path / MKDIR).exists()


def _refused(call, errors=(ExprParseError, ProblemParseError)) -> str:
    t0 = time.perf_counter()
    with pytest.raises(errors) as info:
        call()
    elapsed = time.perf_counter() - t0
    assert elapsed < BOUND_S, f"took {elapsed:.2f}s"
    return str(info.value)


@pytest.mark.parametrize("payload", CODE, ids=range(len(CODE)))
def test_code_payloads_are_refused(payload: str, tmp_path: Path) -> None:
    _refused(lambda: parse_expression(_sub(payload, tmp_path), SYMS))
    _refused(lambda: parse_problem(f"prove {_sub(payload, tmp_path)} >= 0"))


@pytest.mark.parametrize("payload", POWERS, ids=range(len(POWERS)))
def test_huge_powers_are_refused_before_computing(payload: str) -> None:
    message = _refused(lambda: parse_expression(payload, SYMS))
    assert any(w in message for w in ("max_", "by zero", "not supported")), message


@pytest.mark.parametrize("payload", NESTING, ids=range(len(NESTING)))
def test_deep_nesting_is_refused(payload: str) -> None:
    message = _refused(lambda: parse_expression(payload, SYMS))
    assert "max_depth" in message or "max_chars" in message, message


@pytest.mark.parametrize("payload", LONG, ids=range(len(LONG)))
def test_long_inputs_are_refused(payload: str) -> None:
    message = _refused(lambda: parse_expression(payload, SYMS))
    assert "max_" in message, message


@pytest.mark.parametrize("payload", TERMS, ids=range(len(TERMS)))
def test_expansions_that_explode_are_refused(payload: str) -> None:
    message = _refused(lambda: parse_expression(payload, SYMS12))
    assert "max_terms" in message or "max_degree" in message or "max_tokens" in message, message


@pytest.mark.parametrize("payload", LATEX, ids=range(len(LATEX)))
def test_latex_payloads_are_refused(payload: str) -> None:
    _refused(lambda: parse_latex_expression(payload, SYMS))
    _refused(lambda: parse_latex_problem(payload, ["a > 0"]))


def test_latex_problem_constraint_lists_are_bounded() -> None:
    _refused(lambda: parse_latex_problem(r"a \ge 0", ["a > 0"] * 100_000))
    _refused(lambda: parse_latex_problem(r"a \ge 0", ["a > " + "0" * 1_000_000]))
    _refused(lambda: parse_latex_problem(r"a \ge 0", [",".join("a" * 9) + " > " + ",".join("a" * 9)]))


@pytest.mark.parametrize("payload", PROBLEMS, ids=range(len(PROBLEMS)))
def test_problem_payloads_are_refused(payload: str) -> None:
    _refused(lambda: parse_problem(payload))


def test_limits_are_named_in_the_messages() -> None:
    assert "max_bits" in _refused(lambda: parse_expression("9^9^9^9", SYMS))
    assert "max_exponent" in _refused(lambda: parse_expression("a^65", SYMS))
    assert "max_root" in _refused(lambda: parse_expression("a^(1/65)", SYMS))
    assert "max_digits" in _refused(lambda: parse_expression("1" * 101, SYMS))
    assert "at most 12" in _refused(lambda: parse_problem("prove " + "+".join("abcdefghjkmnp") + " >= 0"))


def test_no_code_path_in_the_parser_modules() -> None:
    """No eval/exec/parse_expr/sympify call and no sympy.parsing import in the parsing modules."""
    names = {"eval", "exec", "compile", "parse_expr", "sympify", "S", "literal_eval", "__import__", "getattr"}
    attributes = {"parse_expr", "sympify", "S", "literal_eval", "parse_latex", "latex2sympy"}
    root = Path(grammar.__file__).parent
    modules = ("grammar.py", "expr.py", "problem.py", "limits.py", "tokenizer.py", "sympy_build.py",
               "latex.py", "reading.py", "implicit_products.py")
    for name in modules:
        tree = ast.parse((root / name).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                f = node.func
                bad = f.id in names if isinstance(f, ast.Name) else (
                    isinstance(f, ast.Attribute) and f.attr in attributes)
                strict = any(k.arg == "strict" and getattr(k.value, "value", None) is True
                             for k in node.keywords)
                assert not bad or strict, f"{name}:{node.lineno} calls {ast.unparse(f)}"
            if isinstance(node, ast.ImportFrom):
                assert "parsing" not in (node.module or ""), f"{name} imports {node.module}"
                assert "latex2sympy" not in (node.module or ""), f"{name} imports {node.module}"


# -- what must keep working -----------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("a^2+b^2", A**2 + B**2),
    ("sqrt(a*b)", sp.sqrt(A * B)),
    ("(a+b)/2", (A + B) / 2),
    ("2a", 2 * A),
    ("2(a+b)", 2 * (A + B)),
    ("(a+b)(a-b)", (A + B) * (A - B)),
    ("a b c", A * B * C),
    ("2 sqrt(a) b", 2 * sp.sqrt(A) * B),
    ("a^2b", A**2 * B),
    ("0.1 + 1.25a", sp.Rational(1, 10) + sp.Rational(5, 4) * A),
    (".5", sp.Rational(1, 2)),
    ("-a^2", -(A**2)),
    ("--a", A),
    ("+a", A),
    ("a^-2", A**-2),
    ("2^3^2", sp.Integer(512)),
    ("a^b^c", A ** (B**C)),
    ("a**b**c", A ** (B**C)),
    ("a/b/c", A / (B * C)),
    ("a - b - c", A - B - C),
    ("2^-1", sp.Rational(1, 2)),
    ("cbrt(a) + Abs(b) + abs(c)", A ** sp.Rational(1, 3) + sp.Abs(B) + sp.Abs(C)),
    ("Max(a, b, c) - Min(a, b)", sp.Max(A, B, C) - sp.Min(A, B)),
    ("exp(a) + log(b) + log(8, 2)", sp.exp(A) + sp.log(B) + 3),
    ("√a + Real.sqrt (a * b) + a · b", sp.sqrt(A) + sp.sqrt(A * B) + A * B),
    ("sqrt 2 * a", sp.sqrt(2) * A),
    ("2^4095 - 2^4095 + 0^4096 + 1^4096", sp.Integer(1)),
    ("a^64 + a^(1/64)", A**64 + A ** sp.Rational(1, 64)),
    ("exp(log(2)*10 + log(3)*10) + exp(1)^a", 6**10 + sp.exp(A)),
    ("sqrt(2^256)", sp.Integer(2**128)),
])
def test_ordinary_expressions_parse_exactly(text: str, expected: sp.Expr) -> None:
    assert parse_expression(text, SYMS) == expected


def test_ordinary_problems_parse() -> None:
    p = parse_problem("a,b,c > 0; a+b+c = 3; prove a^2+b^2 >= 2*a*b")
    assert p.variables == ("a", "b", "c") and len(p.constraints) == 4
    assert p.goal == Goal(2 * A * B, A**2 + B**2)
    p = parse_problem("0 < a <= b; prove sqrt(a*b) <= (a+b)/2")
    assert [c.rel for c in p.constraints] == [">", ">="]
    assert p.goal == Goal(sp.sqrt(A * B), (A + B) / 2)
    assert parse_problem("x, y real; prove 2x y <= x^2 + y^2").variables == ("x", "y")


def test_latex_inequalities_parse() -> None:
    p = parse_latex_problem(r"\frac{a}{b+c} + \frac{b}{c+a} + \frac{c}{a+b} \ge \frac{3}{2}", ["a, b, c > 0"])
    assert p.goal.lhs == sp.Rational(3, 2)
    assert p.goal.rhs == A / (B + C) + B / (C + A) + C / (A + B)
    p = parse_latex_problem(r"$\sqrt{ab} \leq \frac{a+b}{2}$")
    assert p.goal == Goal(sp.sqrt(A * B), (A + B) / 2)
    x1 = make_symbols(["x_1"])
    e = parse_latex_expression(r"\sqrt[3]{abc} + \left(a \cdot b\right) \times c^{2} + x_1", {**SYMS, **x1})
    assert e == (A * B * C) ** sp.Rational(1, 3) + A * B * C**2 + x1["x_1"]


def test_every_shipped_lemma_parses() -> None:
    import json

    entries = json.loads(DEFAULT_LIBRARY.read_text(encoding="utf-8"))
    assert len(load_lemmas()) == len(entries) - 1  # the template entry is skipped


@pytest.mark.parametrize("name", sorted(PROBLEM_SETS))
def test_every_shipped_problem_parses_and_round_trips(name: str) -> None:
    problems = load_inequalities(name)
    assert problems
    for p in problems:
        for side in (p.goal.lhs, p.goal.rhs):
            assert parse_expression(to_plain(side), p.symbols) == side


def test_every_shipped_lean_theorem_parses() -> None:
    for path in sorted((ASSETS / "neqlips").glob("*.lean")):
        theorems = parse_lean_file(path)
        assert theorems
        assert all(t.problem is not None for t in theorems), [t.error for t in theorems if t.error]


@pytest.mark.parametrize("payload", PHRASES, ids=range(len(PHRASES)))
def test_phrasings_are_read_in_linear_time(payload: str) -> None:
    """Refused or read, within the bound, and the message never repeats the input."""
    t0 = time.perf_counter()
    try:
        message = str(parse_problem(payload[:10_000]).goal)
    except (ExprParseError, ProblemParseError) as exc:
        message = str(exc)
    elapsed = time.perf_counter() - t0
    assert elapsed < BOUND_S, f"took {elapsed:.2f}s"
    assert len(message) < 400, message[:400]
