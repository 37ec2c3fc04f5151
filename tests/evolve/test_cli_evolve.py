"""``canopy evolve``: the options reach the run's settings and manifest, the run writes its
report, and a resume with other options is one error line (models: the scripted test seam)."""

from __future__ import annotations

import pytest

from backend.cli import main
from backend.engines.scripted import ScriptedEngine
from backend.evolve.manifest import read_json
from backend.evolve.rounds import problem_sets
from tests.evolve.test_rounds import ScriptedModels, rules_for, settings

pytest.importorskip("trl")


@pytest.fixture
def scripted(monkeypatch):
    train, test = problem_sets(settings(train_count=2, test_count=1))
    models = ScriptedModels(ScriptedEngine(rules_for(train + test)))
    monkeypatch.setattr("backend.evolve.models.LocalModels", lambda engine, model, threads: models)
    return models


ARGS = ["--rounds", "1", "--train-count", "2", "--test-count", "1", "--rollouts", "2", "--children", "2",
        "--eval-rollouts", "2", "--max-steps", "1", "--grad-accum", "1", "--lora-rank", "4", "--threads", "1",
        "--no-base-eval"]


def test_evolve_runs_a_round_and_refuses_a_resume_with_other_options(tmp_path, scripted, capsys):
    run = tmp_path / "run"
    assert main(["evolve", str(run), *ARGS]) == 0
    out = capsys.readouterr().out
    assert "report:" in out and (run / "report.md").is_file()
    assert "round 1: search: 2/2" in out  # not a terminal: progress as plain log lines
    manifest = read_json(run / "manifest.json")
    assert manifest["settings"]["search"] == {"rollouts": 2, "children": 2}
    assert manifest["settings"]["sft"]["max_steps"] == 1 and manifest["settings"]["evaluate_base"] is False
    assert "threads" not in manifest["settings"]["sft"]  # the machine's, so a resume may change it
    assert read_json(run / "round-1" / "report.json")["train_steps"] == 1

    assert main(["evolve", str(run), *ARGS, "--top-k", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "other settings" in err and err.count("\n") == 1


def test_no_ppm_training_reaches_the_settings_and_the_round(tmp_path, scripted, capsys):
    run = tmp_path / "run"
    assert main(["evolve", str(run), *ARGS, "--no-ppm-training"]) == 0
    assert read_json(run / "manifest.json")["settings"]["train_ppm"] is False
    assert "--no-ppm-training" in read_json(run / "round-1" / "ppm.json")["why"]


def test_ppm_epochs_reach_the_settings_only_when_given(tmp_path, scripted):
    assert main(["evolve", str(tmp_path / "e"), *ARGS, "--ppm-epochs", "1"]) == 0
    assert read_json(tmp_path / "e" / "manifest.json")["settings"]["ppm_train"] == {"epochs": 1}
    assert main(["evolve", str(tmp_path / "d"), *ARGS]) == 0
    assert read_json(tmp_path / "d" / "manifest.json")["settings"]["ppm_train"] == {}


def test_bf16_reaches_the_settings_and_the_policy_record_and_is_absent_when_not_given(
    tmp_path, scripted, monkeypatch
):
    """``--bf16`` is part of the experiment (the manifest) and of what the round trained
    with; a run that does not give it keeps the manifest it had before the option existed."""
    # the plumbing, on any CPU: the tiny model's step is quick even where bfloat16 is emulated
    monkeypatch.setattr("backend.train.ppm_trainer.cpu_has_fast_bf16", lambda: True)
    assert main(["evolve", str(tmp_path / "bf16"), *ARGS, "--bf16"]) == 0
    assert read_json(tmp_path / "bf16" / "manifest.json")["settings"]["sft"]["bf16"] is True
    marker = "round-1/policy.adapter/canopy_policy.json"  # the adapter's record of its training
    assert read_json(tmp_path / "bf16" / marker)["bf16"] is True
    assert main(["evolve", str(tmp_path / "plain"), *ARGS]) == 0
    assert "bf16" not in read_json(tmp_path / "plain" / "manifest.json")["settings"]["sft"]
    assert read_json(tmp_path / "plain" / marker)["bf16"] is None


def test_log_lines_print_each_stage_at_most_every_interval_and_at_its_end():
    from backend.cli.evolve import LogLines

    now, lines = [0.0], []
    log = LogLines(lines.append, every_s=60.0, clock=lambda: now[0])
    for done, at in ((0, 0.0), (1, 10.0), (2, 70.0), (3, 80.0), (4, 90.0), (4, 95.0)):
        now[0] = at
        log("round 1: search", done, 4)
    log("round 1: fine-tune", 1, 9)
    now[0] = 695.0
    log("round 1: fine-tune", 4, 9)  # resumed at 1/9: the pace is this process's, 200 s a step
    for done in range(0, 131):  # a resumed search reports the 130 problems done before at once
        now[0] = 1000.0 + done * 0.001
        log("round 2: search", done, 300)
    now[0] = 1000.13 + 3 * 25.0
    log("round 2: search", 133, 300)  # three problems searched by this process, 25 s each
    now[0] += 3600.0  # paused an hour (SIGSTOP), then 11 more problems at 30 s each
    for done in range(134, 145):  # the pause weighs less with each problem, then leaves the window
        log("round 2: search", done, 300)
        now[0] += 30.0
    got = [line.split(" ", 1)[1] for line in lines]  # without the clock time
    assert got == ["round 1: search: 0/4", "round 1: search: 2/4 · 35 s each, about 1 min to go",
                   "round 1: search: 4/4", "round 1: fine-tune: 1/9",
                   "round 1: fine-tune: 4/9 · 200 s each, about 17 min to go",
                   "round 2: search: 0/300", "round 2: search: 133/300 · 25 s each, about 1 h 10 min to go",
                   "round 2: search: 134/300 · 919 s each, about 42 h 22 min to go",
                   "round 2: search: 136/300 · 622 s each, about 28 h 22 min to go",
                   "round 2: search: 138/300 · 474 s each, about 21 h 21 min to go",
                   "round 2: search: 140/300 · 386 s each, about 17 h 8 min to go",
                   "round 2: search: 142/300 · 326 s each, about 14 h 19 min to go",
                   "round 2: search: 144/300 · 30 s each, about 1 h 18 min to go"]



def test_evolve_status_shows_a_live_run_a_finished_one_and_refuses_other_folders(tmp_path, capsys):
    import json
    import os

    from tests.evolve.run_dirs import break_json, finished_run, mid_eval_run, mid_search_run

    live = mid_search_run(tmp_path / "live", searched=3)
    for i, path in enumerate(sorted((live / "round-2" / "trees").iterdir())):
        os.utime(path, (1_000_000 + 40 * i, 1_000_000 + 40 * i))
    assert main(["evolve-status", str(live)]) == 0
    out = capsys.readouterr().out
    assert "live · gsm8k-train 0-4 → held out gsm8k 100-101" in out
    assert "round 2, search: 3/5 problems searched · 40 s a problem lately: about 1 min to go" in out
    assert "| 1 | terminal-guided |" in out  # round 1 finished: its row is in the table
    # round 1's reason for no PPM is said once, under the table, not again above it
    assert "- round 1: 12 PPM pairs; a PPM needs at least 30" in out and out.count("12 PPM pairs") == 1
    assert "PPM: each round trains a full PPM from its own trees\n" in out

    done = finished_run(tmp_path / "done")
    assert main(["evolve-status", str(done), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["finished"] and status["stage"] == "finished: 2 round(s)" and status["pace"] is None
    assert [r["round"] for r in status["finished_rounds"]] == [0, 1, 2] and status["rounds"] == 2
    assert status["held_out_so_far"] is None
    assert status["notes"] == ["round 1: no PPM trained: 12 PPM pairs; a PPM needs at least 30"]  # JSON: all

    import shutil

    shutil.rmtree(done / "round-2" / "ppm")  # a note the table does not carry is still said
    assert main(["evolve-status", str(done)]) == 0
    assert "round 2: the trained PPM is not here: no folder ppm/\n" in capsys.readouterr().out

    manifest = json.loads((done / "manifest.json").read_text())  # a CPU run given a PPM late
    manifest["settings"].update(train_ppm=True, ppm="round-2-ppm", ppm_method="top-layers",
                                ppm_data="all-rounds")
    (done / "manifest.json").write_text(json.dumps(manifest))
    assert main(["evolve-status", str(done)]) == 0
    assert ("PPM: each round trains a top-layers PPM from every round's trees so far; rounds from 3 search "
            "with round-2-ppm until a round has trained one") in capsys.readouterr().out

    evaluating = mid_eval_run(tmp_path / "evaluating")
    assert main(["evolve-status", str(evaluating)]) == 0
    out = capsys.readouterr().out
    assert "round 2 held out: greedy 2/2 right (the same problems: round 0 1/2, round 1 1/2 on another CPU)" \
        in out
    assert "; search 1/1 right so far" in out

    assert main(["evolve-status", str(tmp_path)]) == 2
    assert "holds no evolve run" in capsys.readouterr().err
    break_json(done / "round-1" / "policy.json")
    assert main(["evolve-status", str(done)]) == 2
    assert "not valid JSON" in capsys.readouterr().err


def test_bf16_on_a_cpu_that_would_emulate_it_is_one_error_line_before_any_search(
    tmp_path, scripted, monkeypatch, capsys
):
    """Where bfloat16 is emulated (100x slower, measured on an AVX2 CPU), ``--bf16`` is
    refused at once, not after hours of searches when the SFT begins."""
    monkeypatch.setattr("backend.train.ppm_trainer.cpu_has_fast_bf16", lambda: False)
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert main(["evolve", str(tmp_path / "run"), *ARGS, "--bf16"]) == 2
    err = " ".join(capsys.readouterr().err.replace("│", " ").split())  # typer's box, unwrapped
    assert "no fast bfloat16" in err and "--fp32" in err
    assert not (tmp_path / "run").exists()


def test_eval_sc_reaches_the_settings_and_is_refused_for_cpl(tmp_path, scripted, capsys):
    run = tmp_path / "run"
    assert main(["evolve", str(run), *ARGS, "--eval-sc"]) == 0
    assert read_json(run / "manifest.json")["settings"]["eval_sc"] is True
    assert read_json(run / "round-1" / "report.json")["heldout_sc_samples"] >= 2
    assert "self-consistency" in capsys.readouterr().out  # the closing line names it
    assert main(["evolve", str(tmp_path / "cpl"), *ARGS, "--algo", "cpl", "--eval-sc"]) == 2
    err = capsys.readouterr().err
    assert "--eval-sc" in err and "cpl" in err and not (tmp_path / "cpl").exists()
