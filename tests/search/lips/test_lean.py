"""Lean theorem statements of the NeqLIPS benchmark files: every theorem parses."""

from pathlib import Path

import pytest

from backend.search.lips.lean import parse_lean_file, parse_lean_text

DATA = Path(__file__).resolve().parents[3] / "assets" / "problems" / "neqlips"


@pytest.mark.parametrize(("file", "count"), [("INT_MO.lean", 20), ("Evan_chen.lean", 42), ("567_P1.lean", 30),
                                             ("567_P2.lean", 31), ("567_P3.lean", 31)])
def test_all_theorems_parse(file, count):
    theorems = parse_lean_file(DATA / file)
    assert len(theorems) == count
    assert [t.error for t in theorems if t.error] == []


def test_statement_and_script_of_mo_int_p1():
    t = parse_lean_file(DATA / "INT_MO.lean")[0]
    p = t.problem
    assert t.name == "P1" and p.variables == ("a", "b", "c", "d")
    assert [c.rel for c in p.constraints] == [">", ">", ">", ">", "=="]
    assert str(p.goal).startswith("1/3 <= a^3/(b + c + d)")
    assert t.proof[0].startswith("make_homogeneous")
    assert t.proof[1].startswith("scale Titu_variant2_right_4vars")
    assert t.proof[-1] == "try close"


def test_multiline_statement_and_ge_conclusion():
    text = "theorem Q {a b : ℝ} (ha : a > 0)\n  (hb : b > 0) :\n  a + b ≥ 2 * sqrt (a * b) := by\n  sorry\n"
    ts = parse_lean_text(text)
    assert ts[0].error is None and str(ts[0].problem.goal) == "2*sqrt(a*b) <= a + b"


def test_bad_hypothesis_is_named():
    ts = parse_lean_text("theorem Bad {a : ℝ} (h : a > foo) : a ≤ 1 := by\n  sorry\n")
    assert ts[0].problem is None
    assert "Bad hypothesis (h : a > foo)" in ts[0].error and "unknown name 'foo'" in ts[0].error
