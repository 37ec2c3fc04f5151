"""``canopy eval --ray``: the same report file as the in-process eval, the runs in the history,
finished problems kept beside the report and skipped by the next run."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from backend.cli import app
from backend.cli.search import register
from backend.store import open_store
from tests.scale.six import PROBLEMS, RULES

pytest.importorskip("ray")
register(app)
runner = CliRunner()


def test_eval_with_ray_writes_the_in_process_report_and_a_rerun_skips_everything(
    ray_local, tmp_path, monkeypatch
):
    monkeypatch.setenv("CANOPY_HOME", str(tmp_path / "home"))
    rules, data = tmp_path / "rules.json", tmp_path / "six.jsonl"
    rules.write_text(json.dumps(RULES))
    lines = [json.dumps({"question": p.question, "answer": p.answer}) + "\n" for p in PROBLEMS]
    data.write_text("".join(lines))
    args = ["eval", "--dataset", str(data), "--engine", "scripted", "--model", str(rules), "--ppm", "none",
            "--rollouts", "2", "--children", "2", "--set", "few_shot=0"]

    plain = runner.invoke(app, [*args, "--report", str(tmp_path / "plain.json")])
    ray_args = ["--ray", "--ray-workers", "2", "--report", str(tmp_path / "ray.json")]
    spread = runner.invoke(app, [*args, *ray_args])
    assert plain.exit_code == 0 and spread.exit_code == 0, spread.output
    mine, theirs = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("plain", "ray"))
    assert [{k: v for k, v in r.items() if k not in ("run_id", "wall_s")} for r in theirs["problems"]] == [
        {k: v for k, v in r.items() if k != "wall_s"} for r in mine["problems"]
    ]
    assert theirs["accuracy"] == mine["accuracy"] and "accuracy 66.7% (4/6)" in spread.output
    assert "6 problem(s) run on 2 worker(s), 0 already finished" in " ".join(spread.output.split())
    assert (tmp_path / "ray.results.jsonl").is_file() and (tmp_path / "ray.html").is_file()
    store = open_store(tmp_path / "home" / "canopy.sqlite")
    try:
        assert {r.id for r in store.list_runs()} == {r["run_id"] for r in theirs["problems"]}
    finally:
        store.close()

    again = runner.invoke(app, [*args, "--ray", "--report", str(tmp_path / "ray.json")])
    assert again.exit_code == 0, again.output
    assert "0 problem(s) run on 0 worker(s), 6 already finished" in " ".join(again.output.split())
    assert json.loads((tmp_path / "ray.json").read_text())["problems"] == theirs["problems"]


def test_evolve_with_ray_gives_the_rounds_a_ray_search_stage_over_local_models(monkeypatch, tmp_path):
    pytest.importorskip("trl")
    pytest.importorskip("peft")
    from backend.cli import main
    from backend.evolve.models import LocalModels
    from backend.scale.evolve_search import RayModels

    seen = {}

    def run_evolve(run_dir, settings, models, **kw):
        seen["models"] = models
        return [{}]

    monkeypatch.setattr("backend.evolve.rounds.run_evolve", run_evolve)
    assert main(["evolve", str(tmp_path / "run"), "--ray", "--ray-workers", "3", "--threads", "1",
                 "--ray-gpus-per-worker", "1", "--ray-problem-timeout", "600"]) == 0
    models = seen["models"]
    assert isinstance(models, RayModels) and models.workers == 3 and models.address is None
    assert models.num_gpus == 1 and models.timeout_s == 600
    worker = models.worker_models()  # what each worker builds: the run's engine and model
    assert isinstance(worker, LocalModels) and worker.engine_name == "llamacpp" and worker.threads == 1


def test_evolve_algo_cpl_with_ray_gives_cpls_rounds_a_ray_search_stage(monkeypatch, tmp_path):
    pytest.importorskip("trl")
    pytest.importorskip("peft")
    from backend.cli import main
    from backend.evolve.models import LocalModels
    from backend.scale.evolve_search import RayModels

    seen = {}

    def run_cpl_evolve(run_dir, settings, models, **kw):
        seen["models"] = models
        return [{}]

    monkeypatch.setattr("backend.evolve.cpl_rounds.run_cpl_evolve", run_cpl_evolve)
    assert main(["evolve", str(tmp_path / "run"), "--algo", "cpl", "--ray", "--ray-workers", "3",
                 "--threads", "1"]) == 0
    models = seen["models"]  # the search stage on Ray: tests/scale/test_ray_evolve.py runs it
    assert isinstance(models, RayModels) and models.workers == 3
    assert isinstance(models.worker_models(), LocalModels)


def test_evolve_with_vllm_on_workers_without_a_gpu_is_refused(monkeypatch, tmp_path, capsys):
    pytest.importorskip("trl")
    pytest.importorskip("peft")
    from backend.cli import main

    monkeypatch.setattr("backend.evolve.rounds.run_evolve", lambda *a, **kw: pytest.fail("ran"))
    assert main(["evolve", str(tmp_path / "run"), "--engine", "vllm", "--ray"]) == 2
    said = " ".join(capsys.readouterr().err.replace("│", " ").split())  # the words inside typer's box
    assert "vllm on Ray workers needs a GPU each: give --ray-gpus-per-worker 1" in said


def _six(tmp_path):
    data = tmp_path / "six.jsonl"
    lines = [json.dumps({"question": p.question, "answer": p.answer}) + "\n" for p in PROBLEMS]
    data.write_text("".join(lines))
    return str(data)


def test_eval_gives_the_workers_their_gpus_and_time_limit_and_wants_ray_for_them(monkeypatch, tmp_path):
    from backend.solve import EvalReport

    seen = {}

    def ray_eval(console, problems, dataset, spec, **kw):
        seen.update(kw)
        return EvalReport("rstar", dataset, "vote", {}, [], 0.0)

    monkeypatch.setattr("backend.scale.command.ray_eval", ray_eval)
    args = ["eval", "--dataset", _six(tmp_path), "--engine", "scripted", "--model", "rules.json"]
    out = runner.invoke(app, [*args, "--ray", "--ray-gpus-per-worker", "0.5", "--ray-problem-timeout", "90"])
    assert out.exit_code == 0, out.output
    assert seen["gpus"] == 0.5 and seen["timeout_s"] == 90.0
    alone = runner.invoke(app, [*args, "--ray-problem-timeout", "90"])  # not silently ignored
    assert alone.exit_code == 2 and "are for Ray workers: add --ray" in alone.output


def test_eval_of_vllm_on_workers_without_a_gpu_is_refused_before_ray_starts(monkeypatch, tmp_path):
    monkeypatch.setattr("backend.scale.cluster.ray_cluster", lambda *a, **kw: pytest.fail("Ray started"))
    out = runner.invoke(app, ["eval", "--dataset", _six(tmp_path), "--engine", "vllm", "--model",
                              "Qwen/Qwen2.5-Math-1.5B-Instruct", "--ray"])
    assert out.exit_code == 2
    assert "--engine vllm on Ray workers needs a GPU each: give --ray-gpus-per-worker 1" in " ".join(
        out.output.split())


def test_the_summary_line_says_what_failed_and_what_the_cluster_could_not_hold(tmp_path):
    from backend.scale.command import _summary
    from backend.scale.pool import PoolStats

    stats = PoolStats(submitted=9, retried=3, actors=4, timed_out=3, failed=1, width=1)
    line = _summary(stats, 8, 2, tmp_path / "r.results.jsonl")
    assert line.startswith("ray: 6 problem(s) run on 4 worker(s), 2 already finished in ")
    assert "3 retried after a worker died or hung (3 past the time limit)" in line
    assert "1 failed on every try (not kept: the next run tries them again)" in line
    assert "the cluster fits 1 of the 2 worker(s) asked at once" in line
    quiet = _summary(PoolStats(submitted=6, actors=2, width=2), 6, 2, tmp_path / "r.results.jsonl")
    assert "failed" not in quiet and "fits" not in quiet
