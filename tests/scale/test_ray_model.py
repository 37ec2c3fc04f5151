"""``canopy eval --ray``'s path with the real embedded model (llama.cpp) on two Ray workers:
the same answers as the in-process eval of the same spec (slow: each worker loads the model).
One llama.cpp thread per engine: on a loaded 2-core machine, 2 threads crawl."""

from __future__ import annotations

import functools

import pytest

from backend.problems import load_problems
from backend.runspec import RunSpec
from backend.scale.ray_eval import ray_evaluate_spec, spec_engine
from backend.solve import evaluate_spec

pytestmark = [pytest.mark.slow, pytest.mark.model, pytest.mark.timeout(1200)]


def test_two_gsm8k_problems_on_two_ray_workers_match_the_in_process_eval(ray_local):
    pytest.importorskip("llama_cpp")
    problems = load_problems("gsm8k", 2)
    spec = RunSpec(problem="", algorithm="greedy", config={"max_tokens": 160, "few_shot": 0}, ppm="none",
                   engine="llamacpp")
    one_thread = functools.partial(spec_engine, threads=1)
    engine = one_thread(spec)
    try:
        here = evaluate_spec(problems, spec, engine=engine)
    finally:
        engine.close()
    there, stats = ray_evaluate_spec(problems, spec, workers=2, engine_factory=one_thread)
    assert stats.actors == 2 and stats.submitted == 2
    assert [r["answer"] for r in there.results] == [r["answer"] for r in here.results]
    assert [r["tokens"] for r in there.results] == [r["tokens"] for r in here.results]
    assert all(r["tokens"] > 0 for r in there.results)
