"""The Training tab without a browser (ui/training.py, ui/training_runs.py): which folders a
page may list, the runs and their charts, the live redraw rule, and "use this round", whose
policy and PPM reach the Solve form and a Run's RunSpec (the policy's engine is the scripted
one through ``TrainingSettings.policy_loader``, a test seam: what is tested is what the page
does with a round's folders, not a trained model)."""

from __future__ import annotations

import html
import json
import os

import gradio as gr
import pytest

from backend.tree import Tree
from tests.evolve.run_dirs import break_json, finished_run, mid_eval_run, mid_search_run, start_run
from tests.ui.scripted_runs import PROBLEM, scripted_engine, scripted_ppm
from tests.ui.server import demo_services
from ui import handlers as h
from ui import training_runs as tr
from ui.training import NO_POLICY_YET, TrainingHandlers

SMALL = {"rollouts": 3, "children": 2, "max_depth": 3}


@pytest.fixture
def runs(tmp_path):
    root = tmp_path / "runs"
    finished_run(root / "done")
    mid_search_run(root / "live")
    return root


@pytest.fixture
def services(runs):
    s = demo_services(update_every_s=0.05, step_scorer=scripted_ppm())
    s.training = tr.TrainingSettings(runs, policy_loader=lambda path: scripted_engine())
    yield s
    s.close()


def value(update):
    return update.constructor_args["value"] if hasattr(update, "constructor_args") else update


def choices(update):
    return update.constructor_args["choices"]


def test_the_runs_folder_lists_its_runs_with_where_they_stand(services, runs):
    folder, dropdown, message = TrainingHandlers(services).list_runs("")
    assert folder == runs.resolve() and message == "2 runs."
    labels = dict((v, k) for k, v in choices(dropdown))
    assert labels[str(runs.resolve() / "done")] == "done · finished: 2 round(s)"
    assert labels[str(runs.resolve() / "live")] == "live · round 2, search: 3/5 problems searched"
    folder, _, _ = TrainingHandlers(services).list_runs("done")  # relative: inside the runs folder
    assert folder == (runs / "done").resolve()


def test_a_folder_outside_the_runs_folder_only_on_a_loopback_server(services, runs, tmp_path):
    elsewhere = finished_run(tmp_path / "elsewhere" / "r").parent
    for typed in (str(elsewhere), "../elsewhere"):
        folder, dropdown, message = TrainingHandlers(services).list_runs(typed)
        assert folder is None and choices(dropdown) == [] and "--runs-dir only" in html.unescape(message)
    services.training.anywhere = True
    folder, dropdown, _ = TrainingHandlers(services).list_runs(str(elsewhere))
    assert folder == elsewhere.resolve() and len(choices(dropdown)) == 1
    folder, _, message = TrainingHandlers(services).list_runs(str(tmp_path / "nope"))
    assert folder is None and "No folder" in html.unescape(message)


def test_a_run_shows_its_summary_and_the_report_charts(services, runs):
    hs = TrainingHandlers(services)
    folder, _, _ = hs.list_runs("")
    about, progress, chart, rounds, _, timer = hs.show(folder, str(folder / "done"))
    shown = html.unescape(about)
    assert "**done**" in shown and "gsm8k-train 0-4" in shown and "held out gsm8k 100-101" in shown
    assert "<code>llamacpp · embedded</code>" in about
    assert "PPM: each round trains a full PPM from its own trees" in shown
    assert html.unescape(progress).startswith("**Finished: 2 round(s).**  \nround 1: no PPM trained")
    figure = json.loads(chart)
    greedy = next(t for t in figure["data"] if t["name"] == "greedy")
    assert greedy["x"] == [0, 1, 2] and greedy["y"] == [0.0, 0.5, 0.5]  # rounds 0-2, from the stage files
    assert "held-out accuracy" in json.dumps(figure["layout"])  # charts.py's figure, not another
    assert choices(rounds) == [("round 1: policy", 1), ("round 2: policy + PPM", 2)] and value(rounds) == 2
    assert timer.constructor_args["active"] is False  # a finished run is not polled


def test_a_live_run_is_polled_and_redrawn_only_when_its_files_change(services, runs):
    hs = TrainingHandlers(services)
    folder, _, _ = hs.list_runs("")
    live = str(folder / "live")
    _, progress, chart, _, seen, timer = hs.show(folder, live)
    assert timer.constructor_args["active"] is True
    shown = html.unescape(progress)
    assert "round 2, search: 3/5 problems searched" in shown and "last file written" in shown
    assert [t["x"] for t in json.loads(chart)["data"] if t["name"] == "greedy"] == [[0, 1]]
    again = hs.show(folder, live, seen)
    assert all(isinstance(again[i], type(gr.skip())) for i in (0, 2, 3, 4))  # nothing new: no redraw
    (runs / "live" / "round-2" / "trees" / "gsm8k-train_3.jsonl.gz").write_bytes(b"")
    changed = hs.show(folder, live, seen)
    assert "4/5 problems searched" in html.unescape(changed[1]) and changed[4] != seen


def test_an_unreadable_run_says_why_and_a_run_not_listed_is_refused(services, runs):
    break_json(runs / "done" / "round-2" / "report.json")
    hs = TrainingHandlers(services)
    folder, dropdown, _ = hs.list_runs("")
    assert any("unreadable" in label for label, _ in choices(dropdown))
    about, *_ = hs.show(folder, str(folder / "done"))
    assert "cannot be read" in about and "not valid JSON" in html.unescape(about)
    _, progress, *_ = hs.show(folder, "/etc")
    assert "not in the listed folder" in html.unescape(progress)


def test_use_this_round_fills_the_solve_form(services, runs):
    hs = TrainingHandlers(services)
    folder, _, _ = hs.list_runs("")
    policy, ppm, algorithm, note, tabs = hs.use(folder, str(folder / "done"), 2)
    done = (runs / "done").resolve()
    assert value(policy) == str(done / "round-2" / "policy") and policy.constructor_args["visible"] is True
    rounds = [str(done / "round-1" / "policy"), str(done / "round-2" / "policy")]
    assert [v for _, v in choices(policy)] == ["", *rounds]  # the server's engine, then the run's rounds
    assert value(ppm) == str(done / "round-2" / "ppm")
    offered = [v for _, v in choices(ppm)]
    assert str(done / "round-2" / "ppm") in offered and "none" in offered
    assert algorithm == "rstar" and tabs.constructor_args["selected"] == "solve" and "round 2" in note
    policy, ppm, *_ = hs.use(folder, str(folder / "done"), 1)  # round 1 trained no PPM
    assert value(policy) == str(done / "round-1" / "policy") and value(ppm) == "none"


def test_a_live_stage_shows_its_recent_pace_and_time_to_go(runs):
    trees = sorted((runs / "live" / "round-2" / "trees").iterdir())  # 3 of 5 problems searched
    for i, path in enumerate(trees):
        os.utime(path, (1_000_000 + 30 * i, 1_000_000 + 30 * i))
    shown = html.unescape(tr.run_view(runs / "live").progress)
    assert "3/5 problems searched · 30 s a problem lately: about 1 min to go for the 2 left" in shown


def test_a_run_with_no_trained_round_says_so_in_the_round_control_and_on_use(services, runs):
    fresh = runs / "fresh"
    start_run(fresh)
    (fresh / "round-1" / "trees").mkdir(parents=True)  # round 1 is searching: nothing trained
    hs = TrainingHandlers(services)
    folder, _, _ = hs.list_runs("")
    *_, rounds, _, _ = hs.show(folder, str(fresh))
    assert choices(rounds) == [] and rounds.constructor_args["info"] == NO_POLICY_YET
    *_, note, _ = hs.use(folder, str(fresh), None)
    assert "No round of fresh has trained a policy yet" in html.unescape(note)
    *_, note, _ = hs.use(folder, str(folder / "done"), None)  # rounds exist: one must be picked
    assert "Pick a round first" in html.unescape(note)
    *_, rounds, _, _ = hs.show(folder, str(folder / "done"))
    assert rounds.constructor_args["info"] is None  # cleared once rounds exist


def start(services, **kw):
    controls = h.algorithm_controls(["rstar"])
    values = h.preset_values("rstar", h.algorithm_info("rstar")["default_preset"], controls)
    values = [SMALL.get(c.name, v) for c, v in zip(controls, values, strict=True)]
    run_id = h.start_run(services, controls, PROBLEM, "rstar", "vote", "", 0, values, **kw)
    assert services.runs.get(run_id).wait(60), "the run did not finish"
    return Tree.from_events(services.runs.events(run_id))


def test_a_run_with_a_picked_round_uses_its_policy_and_ppm(services, runs):
    done = (runs / "done").resolve()
    policy, ppm = str(done / "round-2" / "policy"), str(done / "round-2" / "ppm")
    tree = start(services, policy=policy, ppm=ppm)
    assert tree.started.spec["engine"] == "transformers" and tree.started.spec["model"] == policy
    assert tree.started.spec["ppm"] == ppm
    plain = start(services, ppm="none")  # without a pick: the server's engine
    assert plain.started.spec["engine"] == "scripted"


def test_a_run_refuses_a_policy_or_ppm_that_is_not_a_trained_round(services, runs, tmp_path):
    done = (runs / "done").resolve()
    outside = finished_run(tmp_path / "outside")  # a real run, outside --runs-dir
    for kw in ({"policy": str(done / "round-1")}, {"policy": "/etc"}, {"ppm": str(done / "round-1" / "ppm")},
               {"policy": str(outside / "round-1" / "policy")}, {"ppm": str(outside / "round-2" / "ppm")},
               {"ppm": str(done / "round-2")}):
        with pytest.raises(h.UserFacingError):
            start(services, **kw)


def test_a_refresh_puts_a_round_policy_back_on_the_form(services, runs):
    from ui.solve import SolveHandlers

    done = (runs / "done").resolve()
    policy = str(done / "round-2" / "policy")
    controls = h.algorithm_controls(services.algorithm_names())
    plain = start(services, ppm="none")
    tree = start(services, policy=policy, ppm="none")
    values = SolveHandlers(services, controls).form_values(tree.started.run_id)
    restored = values[6]  # problem, algorithm, reward, PPM, known answer, seed, policy, settings...
    assert value(restored) == policy and restored.constructor_args["visible"] is True
    assert len(values) == 7 + len(controls)
    untouched = SolveHandlers(services, controls).form_values(plain.started.run_id)[6]
    assert isinstance(untouched, type(gr.skip()))  # a run on the server's engine leaves it alone


@pytest.mark.parametrize(
    ("flags", "anywhere"),
    [([], True), (["--host", "0.0.0.0", "--no-auth"], False), (["--share", "--no-auth"], False)],
)
def test_runs_dir_flag_and_typed_folders_only_on_loopback(tmp_path, flags, anywhere):
    from ui.app import open_services, parse_args

    args = parse_args(["--runs-dir", str(tmp_path / "mine"), "--db", str(tmp_path / "h.sqlite"), *flags])
    services = open_services(args)
    try:
        assert services.training.root == tmp_path / "mine" and services.training.anywhere is anywhere
    finally:
        services.close()
    assert parse_args([]).runs_dir == "runs"


def test_a_cpl_runs_round_sets_cpl_its_policy_and_its_value_head(services, runs):
    from tests.evolve.run_dirs import cpl_run
    from ui.training_runs import round_ppm_allowed

    cpl = cpl_run(runs / "cpl").resolve()
    hs = TrainingHandlers(services)
    folder, _, _ = hs.list_runs("")
    _, _, _, rounds, _, _ = hs.show(folder, str(cpl))
    assert choices(rounds) == [("round 1: policy + value head", 1), ("round 2: policy", 2)]
    policy, ppm, algorithm, note, _ = hs.use(folder, str(cpl), 1)
    assert algorithm == "cpl" and value(policy) == str(cpl / "round-1" / "policy-apo")
    head = str(cpl / "round-1" / "value")
    assert value(ppm) == head and ("cpl · round 1 value head", head) in choices(ppm)
    assert "with CPL and its value head" in html.unescape(note)
    assert round_ppm_allowed(services, head)  # a Run with it passes the page's path check
    _, ppm, _, note, _ = hs.use(folder, str(cpl), 2)  # round 2 trained no value head
    assert value(ppm) == "none" and "no value head" in html.unescape(note)


def test_names_and_manifest_text_reach_the_page_escaped(services, runs):
    hostile = "<img src=x onerror=alert(1)>"
    run = finished_run(runs / hostile.replace("/", "_"))
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    manifest["models"]["base"]["model"] = hostile
    manifest["canopy"] = "[link](javascript:alert(1))"
    manifest["settings"]["ppm"] = hostile  # a PPM path given late is manifest text too
    (run / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    hs = TrainingHandlers(services)
    folder, _, _ = hs.list_runs("")
    about, progress, *_ = hs.show(folder, str(run.resolve()))
    assert "<img" not in about and "<img" not in progress and "](javascript" not in about
    assert "img src=x" in html.unescape(about)  # shown, as text


def test_a_round_that_exported_its_gguf_runs_on_llamacpp_and_a_rerun_finds_its_policy(runs):
    """``--policy-engine llamacpp`` rounds carry ``policy.gguf``: "use this round" loads it on
    llama.cpp (with the server's llama.cpp options) instead of the float32 folder on
    transformers, says so, and a stored run of that GGUF maps back to its round's policy."""
    from tests.evolve.run_dirs import export_gguf_stub
    from ui.training import restored_policy

    done = (runs / "done").resolve()
    gguf = export_gguf_stub(done, 2)
    settings = tr.TrainingSettings(runs, llamacpp_options={"n_threads": 2})
    services = demo_services()
    services.training = settings
    try:
        slot = tr.policy_slot(services, str(done / "round-2" / "policy"))
        assert (slot.name, slot.model, slot.options) == ("llamacpp", str(gguf), {"n_threads": 2})
        other = tr.policy_slot(services, str(done / "round-1" / "policy"))  # no GGUF: transformers
        assert (other.name, other.model) == ("transformers", str(done / "round-1" / "policy"))
        assert "on llama.cpp (the GGUF the round exported)" in tr.pick_round(done, 2).note
        assert "on the transformers engine" in tr.pick_round(done, 1).note
        control = restored_policy(services, "llamacpp", str(gguf))
        assert value(control) == str(done / "round-2" / "policy")
        assert isinstance(restored_policy(services, "llamacpp", "/elsewhere/model.gguf"), type(gr.skip()))
    finally:
        services.close()


def test_a_round_measured_on_another_cpu_is_flagged_on_the_page_escaped(runs):
    run = runs / "done"
    row = json.loads((run / "round-1" / "report.json").read_text())
    row["heldout_cpu_note"] = "held-out evaluation on <b>EPYC</b> (avx2), round 0 on Xeon (avx512)"
    (run / "round-1" / "report.json").write_text(json.dumps(row))
    progress = tr.run_view(run).progress
    assert "<b>" not in progress
    assert "round 1: held-out evaluation on <b>EPYC</b> (avx2)" in html.unescape(progress).replace("\\", "")


def test_a_running_evaluation_shows_its_results_so_far_beside_earlier_rounds(runs):
    shown = html.unescape(tr.run_view(mid_eval_run(runs / "evaluating")).progress).replace("\\", "")
    assert "round 2 held out: greedy 2/2 right (the same problems: round 0 1/2" in shown
    assert "search 1/1 right so far" in shown
    assert "round 2 held out" not in tr.run_view(runs / "done").progress
