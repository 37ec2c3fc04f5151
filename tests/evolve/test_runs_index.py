"""The evolve run reader (backend/evolve/runs_index.py) on hand-made run directories:
a finished run, one in the middle of a round's search, broken JSON, links that lead out."""

from __future__ import annotations

import json
import os

import pytest

from backend.evolve import runs_index as ri
from tests.evolve.run_dirs import (
    break_json,
    cpl_run,
    eval_result,
    finished_run,
    mid_eval_run,
    mid_search_run,
    start_run,
)


def test_a_finished_run_lists_its_rounds_rows_and_models(tmp_path):
    run = finished_run(tmp_path / "done")
    state = ri.read_run(run)
    assert state.finished and ri.progress_line(state) == "finished: 2 round(s)"
    assert [r["round"] for r in state.rows] == [0, 1, 2]
    assert state.rows[0]["heldout_greedy_accuracy"] == 0.0 and state.rows[2]["heldout_search_accuracy"] == 1.0
    one, two = state.round(1), state.round(2)
    assert one.policy == run / "round-1" / "policy" and one.ppm is None
    assert any("no PPM trained" in note for note in one.notes)
    assert two.policy == run / "round-2" / "policy" and two.ppm == run / "round-2" / "ppm"


def test_a_run_mid_search_says_the_stage_and_the_problems_done(tmp_path):
    run = mid_search_run(tmp_path / "live", searched=3)
    state = ri.read_run(run)
    assert not state.finished and state.working_on.number == 2
    assert state.round(2).current == "search"
    assert ri.progress_line(state) == "round 2, search: 3/5 problems searched"
    assert [r["round"] for r in state.rows] == [0, 1]  # only finished rounds are charted
    assert state.round(2).policy is None
    before = state.fingerprint
    (run / "round-2" / "trees" / "gsm8k-train_3.jsonl.gz").write_bytes(b"")
    after = ri.read_run(run)
    assert ri.progress_line(after) == "round 2, search: 4/5 problems searched"
    assert after.fingerprint != before  # the page redraws only when this changes


def test_later_stages_and_the_evaluation_progress(tmp_path):
    run = mid_search_run(tmp_path / "live", searched=5)
    (run / "round-2" / "search.json").write_text('{"problems": 5}', encoding="utf-8")
    assert ri.progress_line(ri.read_run(run)) == "round 2, data"
    for name in ("data", "policy", "ppm"):
        (run / "round-2" / f"{name}.json").write_text('{"trained": false}', encoding="utf-8")
    (run / "round-2" / "eval" / "greedy").mkdir(parents=True)
    (run / "round-2" / "eval" / "greedy" / "gsm8k_100.json").write_text("{}", encoding="utf-8")
    assert ri.progress_line(ri.read_run(run)) == "round 2, eval: 1/4 held-out solves (greedy and search)"
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    manifest["settings"]["eval_sc"] = True  # self-consistency asked for: a third evaluation to wait for
    (run / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    state = ri.read_run(run)
    assert (state.round(2).evaluated, state.round(2).to_evaluate) == (1, 6)
    assert state.round(2).eval_kinds == ("greedy", "search", "sc")


def _stamp(files, start: float, every_s: float) -> None:
    for i, path in enumerate(files):
        os.utime(path, (start + i * every_s, start + i * every_s))


def test_the_stage_in_progress_is_timed_from_its_newest_files(tmp_path):
    run = mid_search_run(tmp_path / "live", searched=2)
    trees = sorted((run / "round-2" / "trees").iterdir())
    _stamp(trees, 1_000_000, 20)
    assert ri.read_run(run).round(2).pace is None and ri.pace_line(ri.read_run(run)) is None  # 2 files
    (run / "round-2" / "trees" / "gsm8k-train_2.jsonl.gz").write_bytes(b"")
    _stamp(sorted((run / "round-2" / "trees").iterdir()), 1_000_000, 20)
    state = ri.read_run(run)
    assert state.round(2).pace == ("problem", 2, 20.0)
    assert ri.pace_line(state) == "20 s a problem lately: about 1 min to go for the 2 left"


def _mid_eval_run(root, searched: int):
    """Round 2 between held-out evaluations: greedy done on 100 problems, ``searched`` searches."""
    run = mid_search_run(root, searched=5)
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    manifest["test_problems"] = [f"gsm8k/{100 + i}" for i in range(100)]
    (run / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    for name in ("search", "data", "policy", "ppm"):
        (run / "round-2" / f"{name}.json").write_text('{"trained": false}', encoding="utf-8")
    for kind, done in (("greedy", 100), ("search", searched)):
        folder = run / "round-2" / "eval" / kind
        folder.mkdir(parents=True)
        for i in range(done):
            (folder / f"gsm8k_{100 + i}.json").write_text("{}", encoding="utf-8")
    _stamp(sorted((run / "round-2" / "eval" / "greedy").iterdir()), 1_000_000, 7)
    return run, sorted((run / "round-2" / "eval" / "search").iterdir())


def test_a_pause_among_the_newest_files_does_not_swell_the_pace(tmp_path):
    """A run stopped and resumed an hour later: the mean gap of its newest ten files read 217 s a
    solve for a run going at 62 (2026-12-07); the median gap is the pace. Files copied together
    (``cp -r`` stamps them within milliseconds) are not solves either."""
    run, searches = _mid_eval_run(tmp_path / "live", searched=12)
    _stamp(searches[:6], 2_000_000, 0.001)  # copied into the run folder together
    _stamp(searches[6:], 2_000_000 + 3_600, 62)  # the run resumed an hour later: 62 s a solve
    state = ri.read_run(run)
    assert state.round(2).pace == ("search solve", 88, 62.0)
    assert ri.pace_line(state) == "62 s a search solve lately: about 1 h 31 min to go for the 88 left"
    _stamp(searches, 2_000_000, 0.001)  # nothing but copied files: no pace to tell
    assert ri.read_run(run).round(2).pace is None


def test_the_evaluation_is_timed_by_the_kind_in_progress(tmp_path):
    run, searches = _mid_eval_run(tmp_path / "live", searched=12)
    # the first two search files are old (a pause): only the newest ten set the pace
    _stamp(searches, 2_000_000, 48)
    os.utime(searches[0], (1_000, 1_000))
    state = ri.read_run(run)
    assert state.round(2).pace == ("search solve", 88, 48.0)
    assert ri.pace_line(state) == "48 s a search solve lately: about 1 h 10 min to go for the 88 left"


def test_a_fine_tuning_stage_shows_its_newest_whole_checkpoints_step_and_loss(tmp_path):
    run = mid_search_run(tmp_path / "live", searched=5)
    for name in ("search", "data"):
        (run / "round-2" / f"{name}.json").write_text("{}", encoding="utf-8")
    assert ri.progress_line(ri.read_run(run)) == "round 2, policy"  # no checkpoint yet
    saved = run / "round-2" / "policy.checkpoints"
    state = {"global_step": 10, "max_steps": 107,
             "log_history": [{"loss": 0.9}, {"loss": 0.41}, {"train_loss": 1}]}
    (saved / "checkpoint-10").mkdir(parents=True)
    (saved / "checkpoint-10" / "trainer_state.json").write_text(json.dumps(state), encoding="utf-8")
    (saved / "checkpoint-15").mkdir()  # cut off while being written: no trainer_state.json
    before = ri.read_run(run)
    assert ri.progress_line(before) == "round 2, policy: step 10/107 saved, loss 0.410"
    (saved / "checkpoint-15" / "trainer_state.json").write_text("{not json", encoding="utf-8")
    assert ri.progress_line(ri.read_run(run)).startswith("round 2, policy: step 10/107")  # still readable
    (saved / "checkpoint-15" / "trainer_state.json").write_text(
        json.dumps({**state, "global_step": 15, "log_history": [{"loss": 0.3}]}), encoding="utf-8")
    after = ri.read_run(run)
    assert ri.progress_line(after) == "round 2, policy: step 15/107 saved, loss 0.300"
    assert after.fingerprint != before.fingerprint  # the page redraws
    # the chart's loss panel follows the checkpoints too, until policy.json has the whole run's
    first = before.chart_rows[-1]
    assert (first["train_loss_first"], first["train_loss_last"]) == (0.9, 0.41)
    assert after.chart_rows[-1]["train_loss_last"] == 0.3
    (saved / "checkpoint-20").mkdir()
    (saved / "checkpoint-20" / "trainer_state.json").write_text(
        '{"global_step": 20, "max_steps": 107, "log_history": [{"loss": NaN}, {"loss": 0.2}]}',
        encoding="utf-8")
    nan = ri.read_run(run)  # a NaN loss is a progress detail: left out, not an unreadable run
    assert nan.chart_rows[-1]["train_loss_first"] == 0.2 and ri.progress_line(nan).endswith("loss 0.200")


@pytest.mark.parametrize(("seconds", "words"), [(5, "1 min"), (95, "2 min"), (3600, "1 h 0 min"),
                                                (5400, "1 h 30 min")])
def test_durations_in_words(seconds, words):
    assert ri.duration_words(seconds) == words


def test_broken_json_is_an_unreadable_run_with_the_reason(tmp_path):
    run = finished_run(tmp_path / "r")
    break_json(run / "round-1" / "policy.json")
    with pytest.raises(ri.UnreadableRun, match=r"round-1/policy\.json is not valid JSON"):
        ri.read_run(run)
    other = tmp_path / "m"
    other.mkdir()
    (other / "manifest.json").write_text('{"format": "something else"}', encoding="utf-8")
    with pytest.raises(ri.UnreadableRun, match="not an evolve manifest"):
        ri.read_run(other)


def test_listing_finds_runs_one_level_down_and_follows_no_link(tmp_path):
    root = tmp_path / "runs"
    finished_run(root / "a")
    mid_search_run(root / "b")
    (root / "not-a-run").mkdir()
    outside = finished_run(tmp_path / "outside")
    (root / "link").symlink_to(outside, target_is_directory=True)
    assert sorted(p.name for p in ri.list_runs(root)) == ["a", "b"]
    assert ri.list_runs(root / "a") == [root / "a"]  # a run directory given itself
    with pytest.raises(FileNotFoundError):
        ri.list_runs(tmp_path / "missing")


def test_a_round_folder_that_is_a_link_is_not_read(tmp_path):
    run = tmp_path / "r"
    start_run(run)
    elsewhere = finished_run(tmp_path / "x") / "round-1"
    (run / "round-1").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(ri.UnreadableRun, match="not a plain directory"):
        ri.read_run(run)


def test_round_model_accepts_only_a_trained_rounds_folder(tmp_path):
    run = finished_run(tmp_path / "r")
    assert ri.round_model(run / "round-2" / "ppm", "ppm") == (run, 2)
    assert ri.round_model(run / "round-1" / "policy", "policy") == (run, 1)
    for bad, kind in ((run / "round-1" / "ppm", "ppm"), (run / "round-1", "policy"),
                      (tmp_path / "policy", "policy"), (run / "round-0" / "policy", "policy")):
        with pytest.raises(ri.UnreadableRun):
            ri.round_model(bad, kind)


def test_a_cpl_run_has_cpls_stages_and_its_step_apo_policy_and_value_head(tmp_path):
    run = cpl_run(tmp_path / "cpl")
    state = ri.read_run(run)
    assert state.algo == "cpl" and not state.finished
    one, two = state.round(1), state.round(2)
    assert one.finished and one.policy == run / "round-1" / "policy-apo"  # Step-APO's, not SFT's
    assert one.ppm == run / "round-1" / "value"  # the value head in the PPM's place
    assert two.current == "apo" and ri.progress_line(state) == "round 2, apo"
    assert two.policy == run / "round-2" / "policy"  # SFT done, Step-APO not yet
    assert ri.round_model(run / "round-1" / "value", "ppm") == (run, 1)
    assert ri.round_model(run / "round-1" / "policy-apo", "policy") == (run, 1)
    with pytest.raises(ri.UnreadableRun):
        ri.round_model(run / "round-1" / "policy", "policy")  # superseded by the Step-APO policy


def test_a_rounds_exported_gguf_is_found_only_when_it_records_that_policy(tmp_path):
    from tests.evolve.run_dirs import export_gguf_stub

    run = finished_run(tmp_path / "done")
    policy = run / "round-2" / "policy"
    assert ri.round_gguf(policy) is None  # the round exported none
    gguf = export_gguf_stub(run, 2)
    assert ri.round_gguf(policy) == gguf
    export_gguf_stub(run, 2, records="1" * 64)  # exported from another policy (stale)
    assert ri.round_gguf(policy) is None
    export_gguf_stub(run, 1)
    (run / "round-1" / "policy.gguf").rename(run / "round-1" / "elsewhere.gguf")
    (run / "round-1" / "policy.gguf").symlink_to(run / "round-1" / "elsewhere.gguf")
    assert ri.round_gguf(run / "round-1" / "policy") is None  # links are not followed


def _eval_files(run, number, cpu):
    for kind in ("greedy", "search"):
        folder = run / f"round-{number}" / "eval" / kind
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "gsm8k_100.json").write_text(json.dumps({"id": "gsm8k/100", "correct": True, "cpu": cpu}))


def test_a_round_evaluated_on_another_cpu_than_round_0_carries_the_warning(tmp_path):
    run = finished_run(tmp_path / "done")
    _eval_files(run, 0, "Xeon (avx512)")
    _eval_files(run, 1, "EPYC (avx2)")
    _eval_files(run, 2, "Xeon (avx512)")
    # rows written before the CPU was recorded: the reader works it out from the result files
    for number in (1, 2):
        row = json.loads((run / f"round-{number}" / "report.json").read_text())
        del row["heldout_cpu_note"]
        (run / f"round-{number}" / "report.json").write_text(json.dumps(row))
    assert not any("CPU" in n for n in ri.read_run(run).round(1).notes)  # a listing reads no result file
    state = ri.read_run(run, cpu_from_files=True)
    warned = [n for n in state.round(1).notes if "CPU" in n]
    assert len(warned) == 1 and "EPYC (avx2)" in warned[0] and "round 0 on Xeon (avx512)" in warned[0]
    assert not any("CPU" in n for n in state.round(2).notes)  # same CPU as round 0
    # a row that recorded its note (None: same machine) is believed over the files
    row = json.loads((run / "round-1" / "report.json").read_text())
    row["heldout_cpu_note"] = None
    (run / "round-1" / "report.json").write_text(json.dumps(row))
    assert not any("CPU" in n for n in ri.read_run(run, cpu_from_files=True).round(1).notes)
    row["heldout_cpu_note"] = ["not", "text"]
    (run / "round-1" / "report.json").write_text(json.dumps(row))
    with pytest.raises(ri.UnreadableRun, match="heldout_cpu_note"):
        ri.read_run(run)


def test_a_run_copied_without_its_weights_says_the_trained_models_are_missing(tmp_path):
    import shutil

    run = finished_run(tmp_path / "done")
    shutil.rmtree(run / "round-2" / "policy")
    shutil.rmtree(run / "round-2" / "ppm")
    two = ri.read_run(run).round(2)
    assert two.policy is None and two.ppm is None
    assert "the trained policy is not here: no folder policy/" in two.notes
    assert "the trained PPM is not here: no folder ppm/" in two.notes
    assert not any(n.startswith("no ") for n in two.notes)  # it was trained: not "no policy trained"


def test_a_running_rounds_finished_stages_are_charted_so_far(tmp_path):
    # the round's report comes hours after its search: until then the chart showed nothing of it
    from backend.evolve.charts import round_figure

    run = mid_search_run(tmp_path / "live", searched=5)
    stage = run / "round-2"
    search = {"problems": 5, "right_answer_in_tree": 3}
    (stage / "search.json").write_text(json.dumps(search), encoding="utf-8")
    state = ri.read_run(run)
    assert [r["round"] for r in state.rows] == [0, 1]  # report rows: finished rounds only
    so_far = state.chart_rows[-1]
    assert so_far["round"] == 2 and so_far["so_far"] and so_far["solved_in_search"] == 3
    assert so_far["sft_examples"] is None and so_far["train_loss_last"] is None
    (stage / "data.json").write_text(json.dumps({"sft_examples": 4, "ppm_pairs": 2}), encoding="utf-8")
    (stage / "policy.json").write_text(json.dumps({"trained": True, "first_loss": 0.5, "last_loss": 0.25}),
                                       encoding="utf-8")
    so_far = ri.read_run(run).chart_rows[-1]
    assert (so_far["sft_examples"], so_far["ppm_pairs"], so_far["train_loss_last"]) == (4, 2, 0.25)
    fig = round_figure(ri.read_run(run).chart_rows)
    solved = next(t for t in fig.data if t.name == "solved in search")
    assert list(solved.x) == [1, 2] and solved.y[-1] == 3
    assert "2 (so far)" in fig.layout.xaxis2.ticktext and "1" in fig.layout.xaxis2.ticktext
    (stage / "data.json").write_text(json.dumps({"sft_examples": "<b>4</b>"}), encoding="utf-8")
    with pytest.raises(ri.UnreadableRun, match="sft_examples not a finite number"):
        ri.read_run(run)


def test_a_held_out_kind_finished_before_its_stage_is_charted_and_a_partial_one_is_not(tmp_path):
    """Greedy ends hours before the search and eval.json comes only with both: the chart drew
    no held-out point for a round whose greedy was done (evo-300's round 4, greedy 27/100).
    A finished kind is drawn; one still running is not (14 of 100 problems is not a point on
    the same axis as a whole round's)."""
    from backend.evolve.charts import round_figure

    run = mid_eval_run(tmp_path / "run")  # round 2: greedy right on both problems, search on 1 of 2
    so_far = ri.read_run(run).chart_rows[-1]
    assert so_far["round"] == 2 and so_far["so_far"]
    assert so_far["heldout_greedy_accuracy"] == 1.0 and so_far["heldout_search_accuracy"] is None
    greedy = next(t for t in round_figure(ri.read_run(run).chart_rows).data if t.name == "greedy")
    assert list(greedy.x)[-1] == 2 and greedy.y[-1] == 1.0
    eval_result(run, 2, "greedy", 1, "yes")  # a file that does not say: no accuracy to draw
    assert ri.read_run(run).chart_rows[-1]["heldout_greedy_accuracy"] is None
    eval_result(run, 2, "greedy", 1, False)
    eval_result(run, 2, "search", 1, False)
    so_far = ri.read_run(run).chart_rows[-1]
    assert (so_far["heldout_greedy_accuracy"], so_far["heldout_search_accuracy"]) == (0.5, 0.5)


def test_a_round_not_yet_past_its_search_or_already_reported_has_no_so_far_row(tmp_path):
    run = mid_search_run(tmp_path / "live", searched=2)
    assert all(r.so_far is None for r in ri.read_run(run).rounds)
    done = ri.read_run(finished_run(tmp_path / "done"))
    assert all(r.so_far is None for r in done.rounds) and done.chart_rows == list(done.rows)


def test_a_running_evaluation_is_compared_with_earlier_rounds_on_the_same_problems_so_far(tmp_path):
    run = mid_eval_run(tmp_path / "run")
    state = ri.read_run(run)
    assert state.working_on.number == 2 and state.working_on.current == "eval"
    assert ri.held_out_so_far(state) == (
        "round 2 held out: greedy 2/2 right (the same problems: round 0 1/2, round 1 1/2 on another CPU); "
        "search 1/1 right so far (the same problems: round 0 1/1, round 1 0/1 on another CPU)")
    # a result file that does not say right or wrong, or is not JSON, is not counted; a link is not read
    eval_result(run, 2, "search", 1, "yes")
    assert "search 1/1 right so far" in ri.held_out_so_far(ri.read_run(run))
    (run / "round-2" / "eval" / "search" / "gsm8k_101.json").write_text("{", encoding="utf-8")
    assert "search 1/1 right so far" in ri.held_out_so_far(ri.read_run(run))
    (run / "round-2" / "eval" / "search" / "gsm8k_101.json").unlink()
    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps({"id": "gsm8k/101", "correct": True}), encoding="utf-8")
    (run / "round-2" / "eval" / "search" / "gsm8k_101.json").symlink_to(outside)
    assert "search 1/1 right so far" in ri.held_out_so_far(ri.read_run(run))


def test_no_held_out_line_outside_an_evaluation(tmp_path):
    assert ri.held_out_so_far(ri.read_run(finished_run(tmp_path / "done"))) is None
    assert ri.held_out_so_far(ri.read_run(mid_search_run(tmp_path / "live"))) is None
    run = mid_eval_run(tmp_path / "fresh")  # in the evaluation, but no result file of its own yet
    for kind in ("greedy", "search"):
        for path in (run / "round-2" / "eval" / kind).iterdir():
            path.unlink()
    assert ri.held_out_so_far(ri.read_run(run)) is None


def test_self_consistency_asked_after_the_rounds_puts_their_evaluation_back_in_progress(tmp_path):
    """``canopy evolve --eval-sc`` on a finished run: round 0 gains self-consistency first, then
    each round. The tab follows it (stage, count, right so far) and keeps every chart row."""
    run = finished_run(tmp_path / "run")
    assert ri.read_run(run).finished
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    manifest["settings"]["eval_sc"] = True
    (run / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    for number in (0, 1, 2):
        for kind in ("greedy", "search"):
            for i in range(2):
                eval_result(run, number, kind, i, True)
    eval_result(run, 0, "sc", 0, False)

    state = ri.read_run(run)
    assert not state.finished and state.working_on.number == 0 and state.working_on.current == "eval"
    words = "held-out solves (greedy, search and self-consistency)"
    assert ri.progress_line(state) == f"round 0, eval: 5/6 {words}"
    assert "self-consistency 0/1 right so far" in ri.held_out_so_far(state)
    assert [r["round"] for r in state.chart_rows] == [0, 1, 2]  # still charted meanwhile

    evaluation = json.loads((run / "round-0" / "eval.json").read_text(encoding="utf-8"))
    evaluation["sc"] = {"accuracy": 0.5, "correct": 1, "seconds": 4.0}
    (run / "round-0" / "eval.json").write_text(json.dumps(evaluation), encoding="utf-8")
    state = ri.read_run(run)
    assert state.round(0).finished and state.working_on.number == 1
    assert ri.progress_line(state) == f"round 1, eval: 4/6 {words}"
