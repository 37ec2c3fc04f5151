"""Issue 18: the time limit reaches inside the matcher and the closers (cooperative polls), the
re-check of a found proof is exempt, and the matcher's cheap numeric paths avoid sympy work."""

from __future__ import annotations

import pytest
import sympy as sp

import backend.search.lips.search as search_mod
from backend.search.lips import matching, scaling
from backend.search.lips.deadline import poll, polling
from backend.search.lips.exprtools import fast_eval, same
from backend.search.lips.search import LipsConfig, LipsSearch

CUBIC = "a,b,c > 0; prove a^3+b^3+c^3 >= a^2*b + b^2*c + c^2*a"
AMGM = "a,b > 0; prove a^2+b^2 >= 2*a*b"
SYMBOLIC = {"llm_rewrite": False, "llm_rank": False}


class Expired(Exception):
    pass


def test_poll_outside_a_search_does_nothing_and_inside_runs_the_check():
    poll()  # no search: the library functions work on their own
    with pytest.raises(Expired), polling(lambda: (_ for _ in ()).throw(Expired())):
        poll()
    poll()  # the check is gone after the block


def test_a_search_past_its_limit_stops_inside_a_lemma_match(monkeypatch):
    # the limit passes as the first lemma match starts; before, the match (up to 20,000 steps,
    # seconds on a large side) ran to its end and only the check between lemmas stopped it
    monkeypatch.setattr(matching, "POLL_EVERY", 1)
    monkeypatch.setattr(scaling, "_MATCHES", {})  # no memoised matches from other tests
    started, finished = [], []
    real = scaling.match_lemma_side

    def watched(lemma, side, config):
        started.append(lemma.name)
        out = real(lemma, side, config)
        finished.append(lemma.name)
        return out

    monkeypatch.setattr(scaling, "match_lemma_side", watched)
    s = LipsSearch(CUBIC, engine=None, config=LipsConfig(
        **SYMBOLIC, min_proof_depth=1, homogenise=False, symbolic_tactics=False))
    monkeypatch.setattr(s, "exhausted", lambda: "time" if started else None)
    s.run()
    assert started and not finished, (started, finished)
    assert s.proved is None


def test_the_recheck_of_a_proof_found_at_the_limit_is_not_cut(monkeypatch):
    real = search_mod.recheck
    entered = []

    def recheck(*a, **k):
        entered.append(1)
        return real(*a, **k)

    monkeypatch.setattr(search_mod, "recheck", recheck)
    s = LipsSearch(AMGM, engine=None, config=LipsConfig(**SYMBOLIC))
    monkeypatch.setattr(s, "exhausted", lambda: "time" if entered else None)
    s.run()
    assert entered and s.proved is not None  # the re-check's positivity polls, but is exempt


def test_fast_eval_reads_sympy_numbers_without_their_complex_conversion(monkeypatch):
    # sympy's complex(Rational) goes through evalf: 7 s of a 30 s MO-INT P19 run (cProfile)
    a, b = sp.symbols("a b", real=True)
    e = sp.Rational(1, 3) * a**2 + sp.sqrt(a * b) / 7 + sp.Integer(2) ** sp.Rational(1, 2)

    def boom(self):
        raise AssertionError("sympy complex() used")

    monkeypatch.setattr(sp.Expr, "__complex__", boom)
    v = fast_eval(e, {a: 2.0, b: 8.0})
    assert v is not None and abs(v - (4 / 3 + 4 / 7 + 2**0.5)) < 1e-12


def test_same_decides_different_expressions_at_a_point_before_expanding(monkeypatch):
    a, b = sp.symbols("a b", real=True)
    x, y = a**2 + b, a * b + b
    assert not same(x, y, numeric=False)

    def boom(*args, **kw):
        raise AssertionError("sympy expand used")

    monkeypatch.setattr(sp, "expand", boom)
    assert not same(x, y, numeric=False)
    assert same(x, b + a**2, numeric=False)  # equal: decided structurally, no expand either


def test_expansion_bound_bounds_the_terms_of_the_expansion():
    from backend.search.lips.exprtools import expansion_bound

    a, b, c = sp.symbols("a b c", real=True)
    for e in [(a + b + c) ** 4, (a + b) * (b + c) * (c + a) + a**3, (a + 1) ** 3 * (b - c) ** 2, a * b + 3]:
        assert len(sp.Add.make_args(sp.expand(e))) <= expansion_bound(e)
    assert expansion_bound((a + b + c) ** 4) == 15  # C(3 + 4 - 1, 4): exact for distinct monomials


def test_sos_and_positivity_do_not_expand_a_numerator_past_the_bound(monkeypatch):
    # MO-INT P19 homogenised: expanding its common numerator (455 terms) took 4.9 s in SOS's
    # goal_numerator and in positivity's forms, past the time limit (no check reaches inside sympy)
    from backend.search.lips.homogenise import make_homogeneous
    from backend.search.lips.positivity import positivity
    from backend.search.lips.problems import load_inequalities
    from backend.search.lips.sos_form import goal_numerator

    p = {q.id: q for q in load_inequalities("mo-int")}["mo-int-P19"]
    goal, _ = make_homogeneous(p, p.goal)

    def boom(*args, **kw):
        raise AssertionError("sympy expand of a huge numerator")

    monkeypatch.setattr(sp, "expand", boom)
    assert "too large" in goal_numerator(p, goal)
    assert positivity(p, goal).status == "unknown"


def test_expansion_bound_saturates_on_nested_powers_instead_of_computing_a_giant_integer():
    # the exact bound of ((a + b + c)^20 + 1)^20 ... is astronomically large: computing it ran a
    # 120 s MO-INT search past its limit by minutes (Karatsuba on giant ints)
    from backend.search.lips.exprtools import BOUND_CAP, expansion_bound

    a, b, c = sp.symbols("a b c", real=True)
    e = a + b + c
    for _ in range(6):
        e = (e**20 + 1) * (e + a) ** 30
    assert expansion_bound(e) == BOUND_CAP
