"""``canopy evolve --preset paper-round1..4``: rStar-Math's scale for a GPU with vLLM, one
typed table with the source of every value, so a reader can check each number against the
paper (arXiv 2501.04519) or the official code (github.com/microsoft/rStar, branch
rStar-math; the configs are quoted in docs/ALGORITHMS.md). ``cpu-smoke`` is the other end:
the whole loop (2 rounds of 20 problems x 4 rollouts, LoRA) on a 2-core laptop in under 30
minutes with the embedded model, to check that everything runs, not to learn anything.

``paper-roundN`` runs rounds 1..N with round N's search settings: Canopy's run directory
holds one search setting for all its rounds (``EvolveSettings.search``), so round 1 of a
``paper-round2`` run samples at round 2's temperature (1.0, not round 1's 0.7); docs/EVOLVE.md
says so. Options given on the command line always win over a preset's values (``apply``).

None of the paper presets has run here (no GPU on this machine): they are the paper's scale,
not a measured configuration. ``cpu-smoke``'s time is measured (docs/EVOLVE.md).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from backend.evolve.manifest import EvolveSettings

SAMPLE_MCTS = "official config/sample_mcts.yaml (round-1 data generation)"
SFT_SAMPLE_MCTS = "official config/sft_sample_mcts.yaml (rounds 2-4 data generation)"
EVAL_MCTS = "official config/sft_eval_mcts.yaml (inference)"


@dataclass(frozen=True)
class Setting:
    """One preset value and where it comes from."""

    value: Any
    source: str


@dataclass(frozen=True)
class EvolvePreset:
    """A preset: ``options`` are ``canopy evolve`` option names (what a user could type);
    ``search`` and ``eval_search`` are rStar-Math search fields no option sets."""

    name: str
    options: Mapping[str, Setting]
    search: Mapping[str, Setting]
    eval_search: Mapping[str, Setting]


def _shared_search() -> dict[str, Setting]:
    return {
        "max_depth": Setting(16, "official configs: max_depth 16"),
        "top_p": Setting(1.0, "official config.py: top_p 1.0"),
        "c": Setting(2.0, "official configs: c_puct 2"),
        "max_step_tokens": Setting(2048, "official configs: max_tokens 2048"),
        "exec_timeout_s": Setting(60.0, "official constants.py: TIMEOUT_SECONDS 60"),
        "few_shot": Setting(2, "official configs: num_few_shot 2 (round 1's prompt)"),
        "answer_from_output": Setting(False, "official: the model writes the <answer> step itself"),
    }


def _preset(number: int) -> EvolvePreset:
    data_config = SAMPLE_MCTS if number == 1 else SFT_SAMPLE_MCTS
    options = {
        "rounds": Setting(number, "paper §3.3: four rounds; this preset stops after round "
                                  f"{number}"),
        "engine": Setting("vllm", "issue 20: the paper's scale is for a GPU with vLLM"),
        "policy_engine": Setting("vllm", "the fine-tuned policies search on vLLM too (their merged HF "
                                         "folders), not with HF generate"),
        "model": Setting("Qwen/Qwen2.5-Math-7B", "paper: Qwen2.5-Math-7B, MATH 58.8% -> 90.0% "
                                                "(its round-1 bootstrap policy, DeepSeek-Coder-V2 "
                                                "236B, does not fit one GPU)"),
        "train_start": Setting(0, "all of gsm8k-train (the paper: 747k problems from "
                                  "NuminaMath and MetaMath, not shipped here)"),
        "train_count": Setting(7473, "all of gsm8k-train: 7,473 problems"),
        "test_start": Setting(0, "the whole GSM8K test set"),
        "test_count": Setting(1319, "the whole GSM8K test set: 1,319 problems"),
        "children": Setting(12, f"{data_config}: n_generate_sample 12"),
        "rollouts": Setting(48, f"{data_config}: iterations 48"),
        "eval_rollouts": Setting(12, f"{EVAL_MCTS}: iterations 12"),
        "top_k": Setting(2, "official train/sample_sft_data.py: --n 2 traces per problem"),
        "epochs": Setting(2, "official train_SFT.py run: 2 epochs"),
        "lr": Setting(1e-4, "Canopy's LoRA rate (the paper's 7e-6 is for a full fine-tune; "
                            "Canopy fine-tunes with LoRA)"),
        "max_length": Setting(2048, "official train_SFT.py: 2048 tokens"),
        "retry_rollouts": Setting([64, 128], "paper §4.4 round 4: problems unsolved after the round's "
                                             "search get additional rollouts (64 and even 128) with "
                                             "other seeds; acts from round 4 only"),
    }
    temperature = 0.7 if number == 1 else 1.0
    search = {
        **_shared_search(),
        "temperature": Setting(temperature, f"{data_config}: temperature {temperature}"),
    }
    eval_search = {
        **_shared_search(),
        "children": Setting(32, f"{EVAL_MCTS}: n_generate_sample 32"),
        "temperature": Setting(1.0, f"{EVAL_MCTS}: temperature 1.0"),
    }
    return EvolvePreset(f"paper-round{number}", options, search, eval_search)


def _cpu_smoke() -> EvolvePreset:
    why = "issue 20's smoke scale: 2 rounds x 20 problems x 4 rollouts with LoRA, < 30 min on 2 cores"
    options = {
        "rounds": Setting(2, why),
        "engine": Setting("llamacpp", "the embedded model on llama.cpp: the fastest CPU engine"),
        "model": Setting(None, "the embedded model (ships with the package)"),
        "policy_engine": Setting("llamacpp", "fine-tuned policies exported to GGUF: searches at the "
                                             "embedded model's speed (transformers is ~5x slower)"),
        "train_start": Setting(0, "gsm8k-train 0-19"),
        "train_count": Setting(20, why),
        "test_start": Setting(100, "GSM8K test 100-104: the slice nobody tunes on"),
        "test_count": Setting(5, "5 held-out problems: a check that evaluation runs, not a measure"),
        "children": Setting(2, "half the default width: the search stage is half the round's time"),
        "rollouts": Setting(4, why),
        "eval_rollouts": Setting(2, "the held-out search only has to run"),
        "epochs": Setting(1, "one pass: ~15 s per example on 2 cores is the SFT stage's cost"),
    }
    return EvolvePreset("cpu-smoke", options, {}, {})


PRESETS: dict[str, EvolvePreset] = {
    **{p.name: p for p in (_preset(n) for n in range(1, 5))},
    "cpu-smoke": _cpu_smoke(),
}

#: where each ``canopy evolve`` option lands in EvolveSettings: a field, or (field, key)
_TARGETS: dict[str, str | tuple[str, str]] = {
    "rounds": "rounds",
    "train_start": "train_start",
    "train_count": "train_count",
    "test_start": "test_start",
    "test_count": "test_count",
    "top_k": "top_k",
    "children": ("search", "children"),
    "rollouts": ("search", "rollouts"),
    "eval_rollouts": ("eval_search", "rollouts"),
    "epochs": ("sft", "epochs"),
    "lr": ("sft", "lr"),
    "max_length": ("sft", "max_length"),
    "retry_rollouts": "retry_rollouts",
}


#: options that choose engines and models, not EvolveSettings fields
_ENGINE_OPTIONS = ("engine", "model", "policy_engine")


def preset(name: str) -> EvolvePreset:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}")
    return PRESETS[name]


def apply(
    name: str,
    settings: EvolveSettings,
    engine: str,
    model: str | None,
    explicit: Collection[str],
    policy_engine: str = "transformers",
) -> tuple[EvolveSettings, str, str | None, str]:
    """(settings, engine, model, policy_engine) with the preset's values, except for the
    options in ``explicit`` (those the user typed): what the user typed wins."""
    chosen = preset(name)
    fields: dict[str, Any] = {
        "search": {**{k: s.value for k, s in chosen.search.items()}, **settings.search},
        "eval_search": {**{k: s.value for k, s in chosen.eval_search.items()}, **settings.eval_search},
        "sft": dict(settings.sft),
    }
    for option, setting in chosen.options.items():
        if option in explicit or option in _ENGINE_OPTIONS:
            continue
        target = _TARGETS[option]
        if isinstance(target, tuple):
            fields[target[0]][target[1]] = setting.value
        else:
            fields[target] = setting.value
    if "engine" not in explicit:
        engine = chosen.options["engine"].value
    if "model" not in explicit:
        model = chosen.options["model"].value
    if "policy_engine" not in explicit and "policy_engine" in chosen.options:
        policy_engine = chosen.options["policy_engine"].value
    return dataclasses.replace(settings, **fields), engine, model, policy_engine


def table(name: str) -> list[tuple[str, Any, str]]:
    """(what, value, source) rows of a preset, for ``docs/EVOLVE.md`` and ``--help`` readers."""
    chosen = preset(name)
    rows = [(k, s.value, s.source) for k, s in chosen.options.items()]
    rows += [(f"search.{k}", s.value, s.source) for k, s in chosen.search.items()]
    rows += [(f"eval_search.{k}", s.value, s.source) for k, s in chosen.eval_search.items()]
    return rows
