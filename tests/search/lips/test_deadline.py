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


def test_a_search_past_its_limit_stops_between_the_candidates_of_one_expansion(monkeypatch):
    """A pop admits its scaling candidates one by one, each checked by z3 (up to 1.25 s): MO-INT
    P14 / chen-no P32 ran to 128 s of 120 in one pop's admissions. The limit is polled before
    each symbolic candidate."""
    from backend.search.base import Stopped
    from backend.search.lips import expand

    s = LipsSearch(CUBIC, engine=None, config=LipsConfig(**SYMBOLIC))
    s.start()
    root = s.nodes[0]
    candidates = list(expand.scale_candidates(root.goal, 48, lambda: None))
    assert len(candidates) > 2
    filtered = []
    real = s._filter

    def watched(parent, child, check):
        filtered.append(child.id)
        return real(parent, child, check)

    monkeypatch.setattr(s, "_filter", watched)
    monkeypatch.setattr(s, "exhausted", lambda: "time" if filtered else None)
    with pytest.raises(Stopped), polling(s.check_stop):
        s._admit(root, candidates)
    assert len(filtered) == 1, filtered  # without the poll: every candidate of the pop


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


# --- the time limit holds through LLM calls (an LLM-preset run with a 60 s limit ran 180 s) ---

LONG = "Rewrite: " + " ".join(["step"] * 600) + r" \boxed{a^2+b^2-2*a*b >= 0}"
#: nothing closes (no proof before the limit) and SOS is off: the run can only end at its limit
OPEN = {"min_proof_depth": 100, "sos_timeout_s": 0.0}
SLACK_S = 2.5


class MeteredEngine:
    """A scripted engine that cannot be cut mid-call (like an HTTP one) and writes ``rate``
    tokens a second: a call's time grows with its ``max_tokens``."""

    def __init__(self, rate: float) -> None:
        from backend.engines.scripted import ScriptedEngine

        self.inner, self.rate = ScriptedEngine([], default=LONG), rate
        self.info, self.chat_prompt = self.inner.info, self.inner.chat_prompt
        self.calls: list[tuple[int, int]] = []

    def generate(self, prompts, **kw):
        import time

        out = self.inner.generate(prompts, **kw)
        self.calls.append((len(prompts), kw["max_tokens"]))
        time.sleep(sum(c.tokens for row in out for c in row) / self.rate)
        return out


def _timed_run(engine, limit_s: float, stop_at_s: float | None = None, **config):
    import threading
    import time

    s = LipsSearch(AMGM, engine=engine, config=LipsConfig(time_limit_s=limit_s, **OPEN, **config))
    if stop_at_s is not None:
        threading.Timer(stop_at_s, s.request_stop).start()
    t0 = time.monotonic()
    fin = s.run()
    return s, fin, time.monotonic() - t0


def test_a_call_an_engine_can_cut_ends_at_the_time_limit():
    # 13 rewrite prompts, a second a sample: 13 s a call; before, the call ran to its end
    from backend.engines.scripted import ScriptedEngine

    engine = ScriptedEngine([], default=LONG, sample_delay_s=1.0)
    _, fin, wall = _timed_run(engine, 3.0)
    assert wall < 3.0 + SLACK_S, wall
    assert (fin.status, fin.stats["budget"]) == ("exhausted", "time")


def test_calls_an_engine_cannot_cut_get_the_tokens_the_time_left_allows():
    # 1000 tokens/s, 13 prompts of 512 tokens: 6.7 s a call uncapped, past a 3 s limit
    engine = MeteredEngine(rate=1000.0)
    _, fin, wall = _timed_run(engine, 3.0)
    assert wall < 3.0 + SLACK_S, (wall, engine.calls)
    assert engine.calls[0] == (1, 512)  # the first call measures the throughput with one prompt
    assert all(mt < 512 for n, mt in engine.calls[1:] if n > 1), engine.calls
    assert (fin.status, fin.stats["budget"]) == ("exhausted", "time")


@pytest.mark.parametrize(
    ("stop_at_s", "status", "budget"), [(0.3, "stopped", None), (1.5, "exhausted", "time")]
)
def test_a_run_ends_with_one_reason_the_stop_or_the_time_limit(stop_at_s, status, budget):
    # one uncuttable 2 s call spans both the stop and the 1 s limit: the earlier one is the reason
    # (before, a stop before the limit finished as "stopped" with budget "time": both said)
    from backend.engines.scripted import ScriptedEngine

    _, fin, _ = _timed_run(ScriptedEngine([], default=LONG, delay_s=2.0), 1.0, stop_at_s)
    assert (fin.status, fin.stats["budget"]) == (status, budget)


def test_token_cap_shares_the_measured_throughput_among_the_prompts():
    from backend.search.lips.deadline import token_cap

    assert token_cap(512, 13, None, 0, 0.0) == 512  # no limit
    assert token_cap(512, 13, 50.0, 0, 0.0) == 512  # nothing measured yet: the call flag cuts it
    assert token_cap(512, 10, 11.0, 1000, 10.0) == 100  # 100 tok/s x 10 s / 10 prompts
    assert token_cap(512, 10, 2.0, 1000, 10.0) == 0  # 10 tokens each: not worth a call
    assert token_cap(512, 1, 0.5, 1000, 1.0) == 0
