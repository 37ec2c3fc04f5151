"""bench/evolve_same_machine.py --kind sc: a round's self-consistency measured outside the run,
with the run's problems and seeds and k matched to the round's own search tokens."""

from __future__ import annotations

import json

import pytest

from backend.engines.scripted import ScriptedEngine
from backend.evolve.manifest import EvolveSettings, new_manifest, write_json
from backend.evolve.rounds import problem_sets
from bench import evolve_same_machine
from tests.evolve.test_rounds import ScriptedModels, rules_for

pytest.importorskip("trl")


def test_a_rounds_self_consistency_runs_with_k_from_its_own_search_and_greedy(tmp_path, monkeypatch, capsys):
    settings = EvolveSettings(rounds=1, train_count=1, test_count=2)
    _, test = problem_sets(settings)
    run = tmp_path / "run"
    write_json(run / "manifest.json", new_manifest(settings, train_ids=["gsm8k-train/0"],
                                                   test_ids=[p.id for p in test], base={}))
    for kind, tokens in (("greedy", 100), ("search", 1000)):
        for p in test:
            write_json(run / "round-0" / "eval" / kind / (p.id.replace("/", "_") + ".json"),
                       {"id": p.id, "correct": kind == "search", "tokens": tokens})
    engine = ScriptedEngine(rules_for(test))
    models = ScriptedModels(engine)
    monkeypatch.setattr("backend.evolve.models.LocalModels", lambda *a, **k: models)

    out = tmp_path / "sc"
    assert evolve_same_machine.main([str(run), "--round", "0", "--kind", "sc", "--out", str(out)]) == 0
    assert [call["n"] for call in engine.calls] == [10, 10]  # 1000 / 100 tokens: ten samples a problem
    rows = [json.loads(p.read_text()) for p in sorted(out.glob("*.json"))]
    assert [r["id"] for r in rows] == [p.id for p in test] and all(r["correct"] for r in rows)
    printed = capsys.readouterr().out
    assert 'spec: sc {"samples": 10}, PPM none' in printed and "sc, round 0, this machine: 2/2" in printed
