"""``backend/scale/ray_eval.py`` on a local Ray instance (2 CPUs) with the scripted engine over
the real rStar core: the same per-problem results as the in-process eval, a worker killed
mid-problem does not lose it, a rerun asks no worker again, every run lands in the history."""

from __future__ import annotations

import pytest

from backend import events as ev
from backend.engines.scripted import ScriptedEngine
from backend.scale.ray_eval import ray_evaluate_spec
from backend.scale.results import ResultsFile
from backend.solve import evaluate_spec
from backend.store import MemoryStore
from tests.scale.engines import WatchedFactory
from tests.scale.six import CASES, PROBLEMS, same

pytest.importorskip("ray")


def test_a_ray_eval_of_six_problems_matches_the_in_process_eval_and_fills_the_history(ray_local, spec):
    local = evaluate_spec(PROBLEMS, spec, engine=ScriptedEngine.from_file(spec.model), dataset="six")
    store, seen = MemoryStore(), []
    report, stats = ray_evaluate_spec(PROBLEMS, spec, workers=2, dataset="six", store=store,
                                      on_result=lambda p, row: seen.append(p.id))
    assert same(report.results) == same(local.results)
    assert [r["correct"] for r in report.results] == [True, True, False, True, True, False]
    assert report.summary()["accuracy"] == local.summary()["accuracy"] and report.reward == local.reward
    assert sorted(seen) == sorted(p.id for p in PROBLEMS) and stats.submitted == 6 and stats.retried == 0
    # every worker's run is in the history, whole: its tree gives the report's answer
    assert len(store.list_runs()) == 6
    for row in report.results:
        events = store.read(row["run_id"])
        assert isinstance(events[-1], ev.RunFinished) and events[-1].answer == row["answer"]


def test_a_worker_killed_mid_problem_loses_nothing(ray_local, spec, tmp_path):
    crash = WatchedFactory(crash_on="Question: Square 7.", sentinel=tmp_path / "crashed")
    report, stats = ray_evaluate_spec(PROBLEMS, spec, workers=2, engine_factory=crash)
    assert (tmp_path / "crashed").exists()  # the worker did die on that problem
    assert stats.retried == 1 and stats.actors == 3 and stats.submitted == 7
    assert [r["answer"] for r in report.results] == ["5", "24", "11", "4", "49", "10"]


def asked(lines):
    """The problems whose questions the workers' engines were asked."""
    return {q for q, _, _ in CASES if any(q in line for line in lines)}


def test_a_rerun_skips_finished_problems_without_asking_a_worker(ray_local, spec, tmp_path):
    results, log = tmp_path / "report.results.jsonl", tmp_path / "asked.txt"
    watched = WatchedFactory(log=log)
    first, _ = ray_evaluate_spec(PROBLEMS[:4], spec, workers=2, results=results, engine_factory=watched)
    asked_first = log.read_text().splitlines()
    assert asked(asked_first) == {q for q, _, _ in CASES[:4]} and len(ResultsFile(results).finished()) == 4

    again, stats = ray_evaluate_spec(PROBLEMS, spec, workers=2, results=results, engine_factory=watched)
    asked_again = log.read_text().splitlines()[len(asked_first):]
    assert stats.submitted == 2  # only the two new problems went to a worker
    assert asked(asked_again) == {q for q, _, _ in CASES[4:]}
    assert again.results[:4] == first.results  # read back, not run again
    assert [r["answer"] for r in again.results] == ["5", "24", "11", "4", "49", "10"]

    # another seed is another RunSpec: nothing is skipped
    _, other = ray_evaluate_spec(PROBLEMS[:2], spec.fork(seed=5), workers=2, results=results)
    assert other.submitted == 2


def test_a_search_that_raises_is_an_error_line_as_in_process_and_is_tried_again(ray_local, spec, tmp_path):
    refuses = WatchedFactory(raise_on="Question: Square 7.")
    results = tmp_path / "results.jsonl"
    report, _ = ray_evaluate_spec(PROBLEMS, spec, workers=2, engine_factory=refuses, results=results)
    local = evaluate_spec(PROBLEMS, spec, engine=refuses(spec))
    assert [r["status"] for r in report.results] == [r["status"] for r in local.results]
    bad = [r for r in report.results if r["status"] == "error"]
    assert len(bad) == 1 and "n_ctx is 4096" in bad[0]["error"] and bad[0]["answer"] is None
    _, again = ray_evaluate_spec(PROBLEMS, spec, workers=2, results=results)
    assert again.submitted == 1  # not kept: only that problem runs again


def test_an_engine_that_cannot_load_stops_the_eval_with_its_own_error(ray_local, spec, tmp_path):
    missing = spec.fork(model=str(tmp_path / "no-such-rules.json"))
    with pytest.raises(ValueError, match="scripted engine rules file not found"):
        ray_evaluate_spec(PROBLEMS, missing, workers=2)
