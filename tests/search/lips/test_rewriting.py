"""LLM rewriting: prompts with the official constraints, robust \\boxed parsing, equivalence gate."""

from __future__ import annotations

from backend.search.lips.problem import parse_problem
from backend.search.lips.rewriting import (
    fallback_rewrites,
    judge_rewrite,
    last_boxed,
    load_rewriting_lib,
    parse_boxed,
    rewrite_prompts,
)

P = parse_problem("a,b > 0; prove a^2+b^2 >= 2*a*b")


def _entry(name: str):
    return next(e for e in load_rewriting_lib() if e.name == name)


def test_library_and_prompts():
    names = [e.name for e in load_rewriting_lib()]
    assert "factor" in names and "cancel_denominators" in names
    assert "tangent_line" not in names and "REWRITE_NAME" not in names  # symbolic-only / schema row
    (_entry, prompt), *_ = rewrite_prompts(P, P.goal)
    assert "\\boxed{}" in prompt and "+, -, *, /" in prompt and "a, b" in prompt


def test_last_boxed_nested_and_latex():
    assert last_boxed("x \\boxed{1} then \\boxed{\\frac{a}{b}}") == "\\frac{a}{b}"
    assert last_boxed("no box") is None
    e, why = parse_boxed(P, "so \\boxed{-\\left(a - b\\right)^{2}}")
    assert e is not None, why
    e2, _ = parse_boxed(P, "\\boxed{-(a-b)^2 \\le 0}")
    assert e2 is not None


def test_equivalent_rewrite_accepted():
    r = judge_rewrite(P, P.goal, _entry("factor"), "Factoring: \\boxed{-(a-b)^2}")
    assert r.accepted and r.new is not None, r.reason


def test_wrong_rewrite_rejected_with_reason():
    r = judge_rewrite(P, P.goal, _entry("factor"), "\\boxed{-(a+b)^2}")
    assert not r.accepted and r.reason


def test_new_variable_and_garbage_rejected():
    r = judge_rewrite(P, P.goal, _entry("factor"), "\\boxed{-(a-c)^2}")
    assert not r.accepted
    r2 = judge_rewrite(P, P.goal, _entry("factor"), "I don't know")
    assert not r2.accepted and r2.new is None and "boxed" in r2.reason


def test_sympy_fallbacks():
    q = parse_problem("a > 0; b > 0; prove (a + b)*(1/a + 1/b) >= 4")
    rs = fallback_rewrites(q, q.goal)
    assert rs and all(r.accepted and r.source == "sympy" for r in rs)


def test_rewrite_prompts_default_and_cap_are_the_library_size():
    # 13 LLM entries (cancel_power and the other three symbolic-only entries are not prompts);
    # the knob once defaulted and capped at 14, one more prompt than the library has
    import dataclasses

    import pytest

    from backend.search.lips.config import REWRITE_ENTRIES, LipsConfig

    lib = load_rewriting_lib()
    assert len(lib) == REWRITE_ENTRIES == 13 and "cancel_power" not in [e.name for e in lib]
    field = next(f for f in dataclasses.fields(LipsConfig) if f.name == "rewrite_prompts")
    assert LipsConfig().rewrite_prompts == len(lib) == field.metadata["max"]
    with pytest.raises(ValueError, match="rewrite_prompts"):
        LipsConfig(rewrite_prompts=len(lib) + 1)
    assert len(rewrite_prompts(P, P.goal)[:LipsConfig().rewrite_prompts]) == len(lib)
