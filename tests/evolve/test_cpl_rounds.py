"""``canopy evolve --algo cpl`` at smoke scale: the scripted engine searches (over the real CPL
core) and the tiny Qwen2 is fine-tuned (SFT), trained with Step-APO and given a value head;
round 2 searches in the XML format with round 1's policy and value head; a run killed
mid-round and resumed writes the same report. The scripted engine replays the same texts for
every policy: these tests check the pipeline, not that a policy learns."""

from __future__ import annotations

import gzip
import json

import pytest

from backend import events as ev
from backend.engines.scripted import Rule, ScriptedEngine
from backend.evolve.cpl_rounds import CPLSettings, run_cpl_evolve
from backend.evolve.manifest import EvolveSettings, read_json
from backend.evolve.rounds import problem_sets
from backend.reward.step_scorer import MARKER
from tests.evolve.test_rounds import DyingEngine, Killed, ScriptedModels, rules_for

pytest.importorskip("trl")
pytest.importorskip("peft")


def settings(**changes) -> CPLSettings:
    evolve = {
        "rounds": 2,
        "train_count": 3,
        "test_start": 100,
        "test_count": 1,
        "search": {"rollouts": 3, "few_shot": 0},
        "eval_search": {"rollouts": 2, "few_shot": 0},
        "sft": {"max_steps": 1, "grad_accum": 1, "threads": 1, "lora_rank": 4},
        "ppm_train": {"epochs": 1, "threads": 1, "lora": None},
    }
    return CPLSettings(EvolveSettings(**{**evolve, **changes}), apo={"max_steps": 1, "threads": 1})


def cpl_rules(problems) -> list[Rule]:
    """Per problem: one plan step, then a right and a wrong solution, in both formats; the
    rStar rules of test_rounds answer greedy decoding."""
    rules = []
    for p in problems:
        q, a = p.question, p.answer
        right = f"\nDetailed Implementation:\n1. Add.\nThe final answer is \\boxed{{{a}}}.<endsolution>"
        wrong = right.replace(f"{{{a}}}", f"{{{a}1}}")
        xml_right = f"</plan>\n<solution>\n1. Add.\nThe final answer is \\boxed{{{a}}}.\n</solution>"
        xml_wrong = xml_right.replace(f"{{{a}}}", f"{{{a}1}}")
        rules += [
            Rule(
                lambda t, q=q: q in t and t.endswith("assistant\nPlans:\n"),
                ["Plan 1: Add the numbers.<endstep>"],
            ),
            Rule(lambda t, q=q: q in t and t.endswith("<endstep>\n"), [right, wrong]),
            Rule(
                lambda t, q=q: f"{q}\n</question>" in t and t.endswith("assistant\n"),
                ["<plan>\n<step>\nPlan 1: Add the numbers.\n</step>"],
            ),
            Rule(lambda t, q=q: q in t and t.endswith("</step>\n"), [xml_right, xml_wrong]),
        ]
    return rules + rules_for(problems)


@pytest.fixture(scope="module")
def problems():
    return problem_sets(settings().evolve)


def test_two_cpl_rounds_sft_step_apo_value_head_then_xml_with_the_head(tmp_path, problems):
    train, test = problems
    models = ScriptedModels(ScriptedEngine(cpl_rules(train + test)))
    rows = run_cpl_evolve(tmp_path / "run", settings(), models, say=lambda _: None)

    assert [r["round"] for r in rows] == [0, 1, 2]
    one, two = rows[1], rows[2]
    assert one["kind"] == "CPL plan format, terminal-guided" and one["solved_in_search"] == 3
    assert one["sft_examples"] == 3 and one["apo_pairs"] == 3
    assert one["value_examples"] == 6  # the right and the wrong path of each problem
    assert one["policy_trained"] and one["apo_trained"] and one["apo_steps"] == 1 and one["value_trained"]
    assert one["policy"].endswith("round-1/policy-apo")  # Step-APO came after SFT, from its policy
    assert two["kind"] == "CPL xml format, value-head" and two["policy_in"] == one["policy"]
    assert two["value_in"] == one["value"] and two["solved_in_search"] == 3
    run = tmp_path / "run"
    apo = read_json(run / "round-1" / "apo.json")
    marker = json.loads((run / "round-1" / "policy-apo" / "canopy_policy.json").read_text())
    assert (
        marker["start_from"].endswith("round-1/policy") and marker["beta"] == 0.3 and marker["alpha"] == 1.0
    )
    assert apo["trained"] and marker["lr"] == 1e-6
    value_marker = json.loads((run / "round-1" / "value" / MARKER).read_text())
    assert value_marker["gradient_checkpointing"]  # the 12 GB budget (bench/cpl_value.py)
    # every stage that ran recorded its own peak memory, and the report carries them
    assert all(v and v > 0 for v in one["peak_rss_mb"].values()), one["peak_rss_mb"]
    assert set(one["peak_rss_mb"]) == {"search", "data", "fine_tune", "step_apo", "value_head", "eval"}
    # the SFT completion is the XML format; a pair's prompt is the XML search's own prompt
    sft = [json.loads(line) for line in (run / "round-1" / "sft.jsonl").read_text().splitlines()]
    assert sft[0]["completion"].startswith(
        "<plan>\n<step>\nPlan 1: Add the numbers.\n</step>\n</plan>\n<solution>"
    )
    pair = json.loads((run / "round-1" / "apo_pairs.jsonl").read_text().splitlines()[0])
    assert pair["prompt"].endswith("</step>\n") and pair["chosen"].startswith("</plan>\n<solution>")
    assert pair["q_chosen"] == pytest.approx(0.3) and pair["q_rejected"] == pytest.approx(-0.3)
    # round 2's searches were XML and read round 1's value head before each expansion
    tree_file = next((run / "round-2" / "trees").glob("*.jsonl.gz"))
    with gzip.open(tree_file, "rt") as fh:
        _, events = ev.read_jsonl(fh)
    assert any(isinstance(e, ev.NodeScored) and e.source == "value_head" for e in events)
    manifest = read_json(run / "manifest.json")
    assert manifest["settings"]["algo"] == "cpl" and manifest["settings"]["apo"] == {
        "max_steps": 1,
        "threads": 1,
    }
    assert manifest["rounds"]["2"]["search_spec"]["config"]["step_format"] == "xml"
    assert manifest["rounds"]["2"]["search_spec"]["ppm"] == "round-1/value"  # the run's own, relative
    assert one["value"] == str(run / "round-1" / "value")
    report = (run / "report.md").read_text()
    assert "| 1 | CPL plan format, terminal-guided | 3 | 3 | – | 3 | 3 | 6 |" in report
    # round 2 against round 1 on the same training problems: the scripted plans solve all both times
    assert two["solved_in_search_won_lost"] == [0, 0] and one["solved_in_search_won_lost"] is None

    # carried without its weights: the SFT policy is rebuilt from its adapter, but a full
    # Step-APO fine-tune keeps none, so the resume says what to copy instead of failing later
    import shutil

    shutil.rmtree(run / "round-1" / "policy")
    shutil.rmtree(run / "round-1" / "policy-apo")
    with pytest.raises(ValueError, match=r"policy-apo is missing .*delete \S*apo\.json"):
        run_cpl_evolve(run, settings(), models, say=lambda _: None)
    assert (run / "round-1" / "policy").is_dir(), "the SFT policy was rebuilt from policy.adapter/"


def test_a_cpl_run_killed_mid_round_resumes_to_the_same_report(tmp_path, problems):
    train, test = problems
    rules = cpl_rules(train + test)
    reference = ScriptedEngine(rules)
    expected = run_cpl_evolve(tmp_path / "whole", settings(), ScriptedModels(reference), say=lambda _: None)

    dying = DyingEngine(rules, die_at=len(reference.calls) * 2 // 3)
    with pytest.raises(Killed):
        run_cpl_evolve(tmp_path / "killed", settings(), ScriptedModels(dying), say=lambda _: None)
    killed = tmp_path / "killed"
    assert (killed / "round-1" / "apo.json").is_file() and not (killed / "report.json").exists()
    kept = {p: p.stat().st_mtime_ns for p in killed.rglob("*.json*") if not p.name.endswith(".partial")}
    resumed = run_cpl_evolve(killed, settings(), ScriptedModels(ScriptedEngine(rules)), say=lambda _: None)

    def same(rows):
        drop = ("seconds", "peak_rss_mb", "policy", "policy_in", "value", "value_in")
        return [{k: v for k, v in r.items() if k not in drop} for r in rows]

    assert same(resumed) == same(expected)
    # what was finished before the kill was read back, not made again (reports are rewritten)
    remade = ("manifest.json", "report.json")
    assert not [p for p, t in kept.items() if p.name not in remade and p.stat().st_mtime_ns != t]


def test_canopy_evolve_algo_cpl_runs_a_cpl_round(tmp_path, problems, monkeypatch, capsys):
    from backend.cli import main
    from tests.evolve.test_cli_evolve import ARGS

    train, test = problem_sets(EvolveSettings(train_count=2, test_count=1))
    models = ScriptedModels(ScriptedEngine(cpl_rules(train + test)))
    monkeypatch.setattr("backend.evolve.models.LocalModels", lambda engine, model, threads: models)
    run = tmp_path / "run"
    long = ["--max-length", "6000"]  # the XML prompt has 2 demonstrations; the tiny tokenizer is near bytes
    assert main(["evolve", str(run), *ARGS, *long, "--algo", "cpl", "--apo-max-steps", "1"]) == 0
    assert "report:" in capsys.readouterr().out
    manifest = read_json(run / "manifest.json")
    assert manifest["settings"]["algo"] == "cpl" and manifest["settings"]["apo"] == {"max_steps": 1}
    row = read_json(run / "round-1" / "report.json")
    assert row["kind"] == "CPL plan format, terminal-guided" and row["apo_steps"] == 1
    assert main(["evolve", str(tmp_path / "r3"), *ARGS, "--algo", "cpl", "--rounds", "3"]) == 2
    assert "CPL has 2 rounds" in capsys.readouterr().err
