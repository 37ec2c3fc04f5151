"""The scripted test double runs the engine contract too (fast; no model)."""

from __future__ import annotations

import time

import pytest

from backend.engines.scripted import Rule, ScriptedEngine
from tests.engines.contract import EngineContract

COUNT = ", ".join(str(i) for i in range(1, 41))


class TestScriptedContract(EngineContract):
    @pytest.fixture
    def engine(self):
        return ScriptedEngine(
            [
                Rule("Count from 1 to 40", [COUNT]),
                Rule("What is 2+2", ["4"]),
                Rule("Name three animals", ["cat dog cow and more words here"]),
                Rule("about trees", ["Trees are tall and green.", "Trees give shade."]),
            ],
            default="some default text",
        )


def _texts(engine, seed, n=2, prompt="about trees"):
    return [c.text for c in engine.generate([prompt], n=n, seed=seed)[0]]


def test_a_seeded_call_repeats_and_new_seeds_go_on_cycling():
    engine = ScriptedEngine([Rule("about trees", ["one", "two", "three"])])
    first = _texts(engine, seed=0)
    assert first == ["one", "two"]
    assert _texts(engine, seed=0) == first  # the contract's seed clause
    assert _texts(engine, seed=1) == ["three", "one"]  # the next seed draws the next canned texts
    assert _texts(engine, seed=2) == ["two", "three"]
    assert _texts(engine, seed=0, n=3) == ["one", "two", "three"]


def test_unseeded_calls_repeat_like_seed_zero():
    engine = ScriptedEngine([Rule("about trees", ["one", "two", "three"])])
    assert _texts(engine, seed=None) == _texts(engine, seed=None) == _texts(engine, seed=0)


def test_a_run_draws_the_same_texts_whatever_ran_before():
    engine = ScriptedEngine([Rule("about trees", ["one", "two", "three"]), Rule("about rivers", ["a", "b"])])

    def run_a():
        return [_texts(engine, seed=s, prompt=p) for s in (5, 6) for p in ("about trees", "about rivers")]

    first = run_a()
    for s in range(7):  # run B: other seeds and prompts in between
        _texts(engine, seed=s, n=3)
        _texts(engine, seed=s, prompt="about rivers")
    assert run_a() == first


def test_delay_makes_each_call_take_that_long():
    engine = ScriptedEngine([Rule("about trees", ["one"])], delay_s=0.05)
    t = time.monotonic()
    _texts(engine, seed=1)
    assert time.monotonic() - t >= 0.05
