"""``--engine-opt KEY=VALUE``: typed against the engine's own ``load``, secrets refused, and
recorded in the run's spec (so a stored run says how its engine was set up)."""

from __future__ import annotations

import json

import pytest

from backend.engines.options import parse_engine_options
from backend.runspec import RunSpec


def test_values_take_the_type_of_the_engines_option():
    got = parse_engine_options(
        "openai",
        ['extra_body={"top_k": 20, "min_p": 0.05}', "timeout=900", "base_url=http://gpu-3:8000/v1",
         "concurrency=16"],
    )
    assert got == {"extra_body": {"top_k": 20, "min_p": 0.05}, "timeout": 900.0,
                   "base_url": "http://gpu-3:8000/v1", "concurrency": 16}
    assert parse_engine_options("vllm", ["batch_invariant=true", "tensor_parallel_size=2"]) == {
        "batch_invariant": True, "tensor_parallel_size": 2}
    assert parse_engine_options("llamacpp", ["n_threads=2"]) == {"n_threads": 2}


def test_repeated_servers_add_up_and_any_other_repeat_is_refused():
    got = parse_engine_options("openai", ["base_url=http://a:8000/v1", "base_url=http://b:8000/v1"])
    assert got == {"base_url": "http://a:8000/v1,http://b:8000/v1"}  # two servers, as the engine reads them
    with pytest.raises(ValueError, match="given twice"):  # not the last one silently winning
        parse_engine_options("llamacpp", ["n_threads=2", "n_threads=4"])


@pytest.mark.parametrize(
    ("engine", "item", "needle"),
    [
        ("vllm", "gpu_memory=0.5", "did you mean 'gpu_memory_utilization'"),
        ("openai", "api_key=sk-123", "OPENAI_API_KEY"),  # a secret never goes on a command line
        ("openai", "extra_body=[1, 2]", "JSON object"),
        ("openai", "extra_body={'top_k': 1}", "JSON object"),  # JSON, not Python: nothing is evaluated
        ("openai", "extra_body=" + "[" * 3000, "JSON object"),  # deep nesting: an error, not a crash
        ("openai", "timeout=nan", "finite"),
        ("vllm", "tensor_parallel_size=two", "integer"),
        ("vllm", "batch_invariant=maybe", "true or false"),
        ("llamacpp", "n_threads", "KEY=VALUE"),
        ("openai", "base_url=" + "x" * 5000, "over 4096"),
    ],
    ids=lambda v: str(v)[:24],
)
def test_a_bad_option_is_one_clear_error(engine, item, needle):
    with pytest.raises(ValueError, match=needle):
        parse_engine_options(engine, [item])


def test_the_spec_records_the_engine_options_and_checks_a_stored_one():
    spec = RunSpec(problem="1+1?", engine="openai", engine_options={"extra_body": {"top_k": 20}})
    again = RunSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again.engine_options == {"extra_body": {"top_k": 20}} and again == spec
    assert RunSpec(problem="1+1?").to_dict()["engine_options"] == {}
    with pytest.raises(ValueError, match="OPENAI_API_KEY"):  # an imported run cannot carry one either
        RunSpec.from_dict({**spec.to_dict(), "engine_options": {"api_key": "sk-1"}})
    with pytest.raises(ValueError, match="option 'gpu_share'"):
        RunSpec(problem="1+1?", engine="vllm", engine_options={"gpu_share": 0.5})
    with pytest.raises(ValueError, match="finite"):
        RunSpec(problem="1+1?", engine="vllm", engine_options={"gpu_memory_utilization": float("nan")})


def test_the_cli_refuses_a_bad_option_before_any_engine_loads(capsys):
    from backend.cli import main

    code = main(["solve", "What is 1+1?", "--engine", "vllm", "--engine-opt", "gpu_memory=0.5"])
    assert code == 2  # vLLM is not installed here: the option was refused before any load
    assert "did you mean 'gpu_memory_utilization'" in capsys.readouterr().err


def test_the_app_refuses_a_bad_option_at_start(capsys):
    from ui.app import main

    assert main(["--engine", "openai", "--engine-opt", "api_key=sk-1"]) == 2
    assert "OPENAI_API_KEY" in capsys.readouterr().err
