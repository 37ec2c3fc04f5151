"""The scripted test double runs the engine contract too (fast; no model)."""

from __future__ import annotations

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



def _texts(engine, seed, n=2):
    return [c.text for c in engine.generate(["about trees"], n=n, seed=seed)[0]]


def test_a_seeded_call_repeats_and_new_seeds_go_on_cycling():
    engine = ScriptedEngine([Rule("about trees", ["one", "two", "three"])])
    first = _texts(engine, seed=7)
    assert first == ["one", "two"]
    assert _texts(engine, seed=7) == first  # the contract's seed clause
    assert _texts(engine, seed=8) == ["three", "one"]  # a new seed draws the next canned texts
    assert _texts(engine, seed=7, n=3) == ["one", "two", "two"]  # more than before: drawn on from the cycle


def test_unseeded_calls_cycle_through_the_texts():
    engine = ScriptedEngine([Rule("about trees", ["one", "two", "three"])])
    assert _texts(engine, seed=None) == ["one", "two"]
    assert _texts(engine, seed=None) == ["three", "one"]
