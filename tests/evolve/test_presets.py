"""``canopy evolve --preset paper-roundN``: the table's values and sources, and the rule that
an option typed on the command line wins over the preset (the run itself is captured, not run)."""

from __future__ import annotations

import dataclasses

import pytest

from backend.cli import main
from backend.evolve import presets
from backend.evolve.manifest import EvolveSettings
from backend.search.rstar import PRESETS as RSTAR_PRESETS
from backend.search.rstar import RStarConfig

pytest.importorskip("trl")


def test_every_value_has_a_source_and_the_rounds_follow_the_paper():
    for number in range(1, 5):
        rows = presets.table(f"paper-round{number}")
        assert all(source.strip() for _, _, source in rows)
        values = {what: value for what, value, _ in rows}
        assert values["rounds"] == number
        assert (values["children"], values["rollouts"]) == (12, 48)  # sample_mcts / sft_sample_mcts
        assert values["search.temperature"] == (0.7 if number == 1 else 1.0)
        assert values["engine"] == "vllm" and values["train_count"] == 7473
    with pytest.raises(ValueError, match="unknown preset"):
        presets.preset("paper-round5")


def test_the_search_fields_agree_with_the_rstar_paper_presets():
    """One source of truth for the official search numbers: the evolve preset and the
    search's own paper presets must not drift apart."""
    defaults = dataclasses.asdict(RStarConfig())  # c = 2 is the search's default, as officially
    data = {**defaults, **RSTAR_PRESETS["paper-data"]}
    inference = {**defaults, **RSTAR_PRESETS["paper-inference"]}
    for number in range(1, 5):
        chosen = presets.preset(f"paper-round{number}")
        for key, setting in chosen.search.items():
            if key != "temperature":  # round 1 0.7, later 1.0: paper-data holds round 1's
                assert data[key] == setting.value, key
        assert chosen.options["children"].value == data["children"]
        assert chosen.options["rollouts"].value == data["rollouts"]
        assert chosen.options["eval_rollouts"].value == inference["rollouts"]
        for key, setting in chosen.eval_search.items():
            assert inference[key] == setting.value, key


def test_apply_fills_what_was_not_typed_and_keeps_what_was():
    typed = EvolveSettings(rounds=1, search={"rollouts": 3, "children": 4}, sft={"epochs": 5, "lr": 1e-4})
    settings, engine, model, policy_engine = presets.apply(
        "paper-round3", typed, "llamacpp", "my-model", explicit={"rollouts", "epochs", "model"}
    )
    assert settings.rounds == 3 and settings.train_count == 7473 and settings.test_count == 1319
    assert settings.search["rollouts"] == 3  # typed
    assert settings.search["children"] == 12 and settings.search["temperature"] == 1.0  # preset
    assert settings.sft["epochs"] == 5 and settings.sft["max_length"] == 2048
    assert settings.eval_search["rollouts"] == 12 and settings.eval_search["children"] == 32
    assert engine == "vllm" and model == "my-model" and policy_engine == "vllm"  # policies on vLLM too


@pytest.fixture
def captured(monkeypatch):
    seen = {}

    class Models:
        def __init__(self, engine, model, threads, policy_engine="transformers"):
            seen["engine"], seen["model"], seen["policy_engine"] = engine, model, policy_engine

        def close(self):
            pass

    def run_evolve(run_dir, settings, models, **kw):
        seen["settings"] = settings
        return [{"round": 1}]

    monkeypatch.setattr("backend.evolve.models.LocalModels", Models)
    monkeypatch.setattr("backend.evolve.rounds.run_evolve", run_evolve)
    return seen


def test_the_command_line_preset_and_an_explicit_override(tmp_path, captured):
    assert main(["evolve", str(tmp_path / "r"), "--preset", "paper-round2", "--rollouts", "5",
                 "--engine", "transformers"]) == 0
    settings = captured["settings"]
    assert settings.rounds == 2 and settings.search["children"] == 12
    assert settings.search["rollouts"] == 5  # typed: wins over the preset's 48
    assert settings.search["temperature"] == 1.0
    assert captured["engine"] == "transformers" and captured["model"] == "Qwen/Qwen2.5-Math-7B"


def test_typing_a_default_value_still_overrides(tmp_path, captured):
    """--rounds 2 is also the option's default: typed, it must still beat the preset's 4."""
    assert main(["evolve", str(tmp_path / "r"), "--preset", "paper-round4", "--rounds", "2"]) == 0
    assert captured["settings"].rounds == 2


def test_no_preset_changes_nothing_and_an_unknown_one_is_refused(tmp_path, captured, capsys):
    assert main(["evolve", str(tmp_path / "r")]) == 0
    assert captured["settings"].search == {"rollouts": 4, "children": 4}
    assert captured["engine"] == "llamacpp"
    assert main(["evolve", str(tmp_path / "s"), "--preset", "paper-round9"]) == 2
    assert "unknown preset" in capsys.readouterr().err


def test_a_preset_is_refused_for_cpl(tmp_path, captured, capsys):
    """The presets hold rStar-Math's search numbers: a CPL run must not quietly take them."""
    assert main(["evolve", str(tmp_path / "c"), "--algo", "cpl", "--preset", "paper-round1"]) == 2
    assert "rStar-Math's" in capsys.readouterr().err and "settings" not in captured


def test_cpu_smoke_is_the_small_loop_on_the_embedded_model(tmp_path, captured):
    assert main(["evolve", str(tmp_path / "s"), "--preset", "cpu-smoke"]) == 0
    settings = captured["settings"]
    sizes = (settings.rounds, settings.train_count, settings.test_start, settings.test_count)
    assert sizes == (2, 20, 100, 5)
    assert settings.search == {"rollouts": 4, "children": 2} and settings.eval_search == {"rollouts": 2}
    assert settings.sft["epochs"] == 1 and settings.sft["lora_rank"] == 16  # LoRA, the option's default
    engines = (captured["engine"], captured["model"], captured["policy_engine"])
    assert engines == ("llamacpp", None, "llamacpp")
    assert all(source.strip() for _, _, source in presets.table("cpu-smoke"))


def test_cpu_smoke_keeps_a_typed_policy_engine(tmp_path, captured):
    assert main(["evolve", str(tmp_path / "s"), "--preset", "cpu-smoke", "--policy-engine", "transformers",
                 "--test-count", "3"]) == 0
    assert captured["policy_engine"] == "transformers" and captured["settings"].test_count == 3


def test_the_paper_presets_retry_round_4s_unsolved_problems_and_the_option_can_say_otherwise(
        tmp_path, captured, capsys):
    """Paper §4.4, round 4: 64, then 128 rollouts for the problems still unsolved. Every paper
    preset carries it (it acts from round 4 only), so a paper-round3 run can go on as paper-round4."""
    for number in range(1, 5):
        assert {w: v for w, v, _ in presets.table(f"paper-round{number}")}["retry_rollouts"] == [64, 128]
    assert main(["evolve", str(tmp_path / "p"), "--preset", "paper-round4"]) == 0
    assert captured["settings"].retry_rollouts == [64, 128]
    assert main(["evolve", str(tmp_path / "q"), "--preset", "paper-round4", "--retry-rollouts", "16"]) == 0
    assert captured["settings"].retry_rollouts == [16]
    assert main(["evolve", str(tmp_path / "r"), "--retry-rollouts", " 8, 32 "]) == 0
    assert captured["settings"].retry_rollouts == [8, 32]
    assert main(["evolve", str(tmp_path / "s")]) == 0
    assert captured["settings"].retry_rollouts == []  # off by default: hours on a CPU
    for bad in ("32,16", "8,8", "0", "x", "1,2,3,4,5", "1e3", "٣"):
        assert main(["evolve", str(tmp_path / "t"), "--retry-rollouts", bad]) == 2
        assert "increasing rollout counts" in _flat(capsys.readouterr().err)
    assert main(["evolve", str(tmp_path / "c"), "--algo", "cpl", "--retry-rollouts", "8"]) == 2
    assert "not with --algo cpl" in _flat(capsys.readouterr().err)


def _flat(err: str) -> str:
    """rich's error box, unwrapped: its borders gone, its lines joined."""
    return " ".join(err.replace("│", " ").split())
