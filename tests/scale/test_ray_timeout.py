"""A worker stuck in one problem (a server that never answers, a deadlock) no longer stalls the
eval: past ``timeout_s`` its actor is killed and replaced and the problem given again; after
the last try it is a failed line of the report, with the reason, and is not kept, so the next
run tries it again. The other problems finish as they would."""

from __future__ import annotations

import time

import pytest

from backend.scale.ray_eval import ray_evaluate_spec
from backend.scale.results import ResultsFile
from tests.scale.engines import HangingFactory
from tests.scale.six import PROBLEMS

pytest.importorskip("ray")

#: past this a problem hangs: a scripted problem takes well under a second, a loaded machine's
#: actor start is not counted (the clock starts when the worker has its engine)
LIMIT_S = 6.0


@pytest.mark.timeout(120)  # without the limit this test hangs for good
def test_a_hung_problem_is_retried_then_failed_and_the_others_finish(ray_local, spec, tmp_path):
    hangs = HangingFactory(always="Question: Square 7.", once="Question: Multiply 4 by 6.",
                           sentinel=tmp_path / "hung-once")
    results = tmp_path / "r.results.jsonl"
    t0 = time.monotonic()
    report, stats = ray_evaluate_spec(PROBLEMS, spec, workers=2, engine_factory=hangs, max_retries=1,
                                      timeout_s=LIMIT_S, results=results)
    took = time.monotonic() - t0
    assert (tmp_path / "hung-once").exists()
    # "Multiply" hung once and was answered on its second try; "Square" hung on both and failed
    assert [r["answer"] for r in report.results] == ["5", "24", "11", "4", None, "10"]
    failed = report.results[4]
    assert failed["status"] == "error" and failed["correct"] is False and failed["run_id"] is None
    assert failed["error"] == f"ran past the {LIMIT_S:g} s limit (tried 2 times)"
    assert stats.timed_out == 3 and stats.retried == 2 and stats.failed == 1
    assert report.summary()["total"] == 6 and report.summary()["correct"] == 3
    assert len(ResultsFile(results).finished()) == 5  # the failed problem is not kept
    assert took < 60, took
