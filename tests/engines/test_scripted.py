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

    @pytest.mark.xfail(
        strict=True,
        reason="ScriptedEngine hands a rule's texts out in turn (a cursor), so a repeated call with the "
        "same seed continues the cycle instead of repeating it (base.py's seed clause)",
    )
    def test_same_seed_same_completions(self, engine):
        super().test_same_seed_same_completions(engine)
