"""The algorithm registry and config fields: what the CLI and the UI build options from."""

from __future__ import annotations

import subprocess
import sys

import pytest

from backend.search.config import build_config
from backend.search.registry import algorithm_names, algorithm_spec, config_fields, make_config
from backend.search.rstar import RStarConfig


def test_names_and_specs():
    assert {"rstar", "cpl", "greedy", "sc", "bon"} <= set(algorithm_names())
    spec = algorithm_spec("rstar")
    assert spec.config_cls is RStarConfig and spec.default_preset == "cpu-demo"
    assert {"paper-data", "paper-inference", "cpu-demo"} <= set(spec.presets)
    assert spec.rewards[0] == "vote"


def test_unknown_algorithm_suggests_a_close_name():
    with pytest.raises(ValueError, match=r"did you mean 'rstar'.*choices: bon, cpl, greedy, "):
        algorithm_spec("rsta")


def test_every_registry_says_an_unknown_name_the_same_way():
    """Engines, algorithms, presets, options and datasets share backend/names.py's sentence."""
    from backend.engines import engine_class
    from backend.problems import load_problems

    cases = [
        (
            lambda: engine_class("llama"),
            "unknown engine 'llama'; did you mean 'llamacpp'? choices: llamacpp, ",
        ),
        (lambda: algorithm_spec("zzz"), "unknown algorithm 'zzz'; choices: bon, "),
        (lambda: make_config("rstar", preset="zzz"), "unknown preset 'zzz'; choices: cpu-demo, "),
        (lambda: make_config("rstar", rolouts=2), "unknown option 'rolouts' for RStarConfig; did you mean"),
        (lambda: load_problems("gsm8"), "unknown dataset 'gsm8'; did you mean 'gsm8k'? choices: "),
    ]
    for call, start in cases:
        with pytest.raises(ValueError) as err:
            call()
        assert str(err.value).startswith(start)


def test_unknown_name_error_keeps_a_config_in_field_order_and_says_none():
    from backend.names import unknown_name_error

    assert str(unknown_name_error("option", "b", ["z", "a"], owner="C", sort=False)) == (
        "unknown option 'b' for C; choices: z, a"
    )
    assert str(unknown_name_error("preset", "x", {})) == "unknown preset 'x'; choices: none"


def test_config_fields_carry_help_bounds_and_choices():
    fields = {f["name"]: f for f in config_fields("rstar")}
    assert fields["rollouts"]["min"] == 1 and fields["rollouts"]["help"]
    assert fields["selection"]["choices"] == ["uct", "puct"]
    assert fields["c"]["default"] == 2.0
    assert all(f["help"] for f in fields.values())


def test_overrides_are_coerced_and_checked():
    cfg = make_config("rstar", rollouts="3", temperature="0.5", answer_from_output="false")
    assert (cfg.rollouts, cfg.temperature, cfg.answer_from_output) == (3, 0.5, False)
    with pytest.raises(ValueError, match=r"unknown option 'rollout'.*did you mean 'rollouts'"):
        make_config("rstar", rollout=3)
    with pytest.raises(ValueError, match="children must be at most 64"):
        make_config("rstar", children=100)
    with pytest.raises(ValueError, match="rollouts must be a whole number"):
        make_config("rstar", rollouts="2.5")
    with pytest.raises(ValueError, match="unknown preset 'cpu-dem'; did you mean 'cpu-demo'"):
        build_config(RStarConfig, algorithm_spec("rstar").presets, "cpu-dem")


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", float("nan"), "1e999"])
def test_non_finite_numbers_are_refused(value):
    # nan compares False with every bound, so without its own check it slipped through them all
    with pytest.raises(ValueError, match="c must be a finite number"):
        make_config("rstar", c=value)


def test_importing_search_loads_no_heavy_dependency():
    code = (
        "import sys, backend.search.registry, backend.search.rstar, backend.search.baselines, backend.solve;"
        "heavy = {'torch', 'vllm', 'gradio', 'z3', 'llama_cpp', 'transformers', 'sympy'} & set(sys.modules);"
        "print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
