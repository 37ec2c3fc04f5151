"""Round 4's retries of the unsolved training problems (backend/evolve/retry.py; rStar-Math
§4.4: "additional rollouts (64 and even 128) ... with different random seeds"), over the
real rStar core with the scripted engine: which problems are searched again, with what, where
the trees go, what the data stage and the PPM then read, and what resumes."""

from __future__ import annotations

import pytest

from backend.engines.scripted import Rule, ScriptedEngine
from backend.evolve.manifest import EvolveSettings
from backend.evolve.report import markdown, retry_notes
from backend.evolve.retry import problem_trees, retry_folder
from backend.evolve.rounds import problem_sets
from backend.evolve.stages import Round, data_stage, ppm_tree_files, rstar_solved, search_stage
from backend.train.ppm_data import problem_seed, read_tree, tree_file
from tests.evolve.test_rounds import STEP, ScriptedModels


def retry_settings(**changes) -> EvolveSettings:
    base = {"rounds": 4, "train_count": 6, "test_count": 1, "train_ppm": False, "ppm": "unused",
            "search": {"rollouts": 1, "children": 1, "few_shot": 0}, "retry_rollouts": [4]}
    return EvolveSettings(**{**base, **changes})


@pytest.fixture(scope="module")
def train():
    return problem_sets(retry_settings())[0]


def engine_for(train) -> ScriptedEngine:
    """One step, then a final step that is wrong three times in four: one rollout misses the
    answer on most problems, four find it on some."""
    rules = []
    for p in train:
        right = f"\n# Now print the final answer\nprint(x + {p.answer} - 1)\n<end_of_code>"
        wrong = f"\n# Now print the final answer\nprint(x + {p.answer})\n<end_of_code>"
        q = p.question
        finals = [wrong, wrong, wrong, right]
        rules.append(Rule(lambda t, q=q: q in t and t.endswith("<end_of_step>"), finals))
        rules.append(Rule(lambda t, q=q: q in t and t.endswith("assistant\n"), [STEP]))
    return ScriptedEngine(rules)


def round_of(tmp_path, number: int, settings: EvolveSettings, engine: ScriptedEngine, said: list) -> Round:
    models = ScriptedModels(engine)
    return Round(number, tmp_path / f"round-{number}", settings, models, None, None, said.append)


def test_round_4_searches_only_its_unsolved_problems_again_and_learns_from_what_they_find(tmp_path, train):
    said: list[str] = []
    engine = engine_for(train)
    rnd = round_of(tmp_path, 4, retry_settings(), engine, said)
    summary = search_stage(rnd, train)
    first = {p.id: rstar_solved(read_tree(tree_file(rnd.folder / "trees", p))) for p in train}
    unsolved = [p for p in train if not first[p.id]]
    assert 0 < len(unsolved) < len(train)  # the setup: some missed by one rollout
    again = retry_folder(rnd.folder, 4)
    assert sorted(f.name for f in again.iterdir()) == sorted(tree_file(again, p).name for p in unsolved)
    found = [p for p in unsolved if rstar_solved(read_tree(tree_file(again, p)))]
    assert found, "the setup: four rollouts find what one missed"
    assert summary["right_answer_in_tree"] == sum(first.values())  # the first pass: like for like
    assert summary["retries"] == [{"rollouts": 4, "seed": 1, "searched": len(unsolved), "solved": len(found),
                                   "seconds": summary["retries"][0]["seconds"]}]
    assert summary["right_answer_after_retries"] == sum(first.values()) + len(found)
    spec = read_tree(tree_file(again, unsolved[0])).started.spec
    assert spec["config"]["rollouts"] == 4 and spec["reward"] == "truth"
    assert spec["seed"] == problem_seed(unsolved[0], 1) != problem_seed(unsolved[0], 0)  # another seed
    assert said == [f"round 4: retry with 4 rollouts: {len(found)} of {len(unsolved)} unsolved problems "
                    "solved"]
    assert problem_trees(rnd.folder, unsolved[0]) == [tree_file(rnd.folder / "trees", unsolved[0]),
                                                      tree_file(again, unsolved[0])]
    data = data_stage(rnd, train)
    assert data["problems_with_examples"] == summary["right_answer_after_retries"]
    assert set(map(str, ppm_tree_files(rnd))) >= {str(tree_file(again, p)) for p in unsolved}


def test_a_second_pass_takes_only_what_the_first_left_and_a_resume_searches_nothing_again(tmp_path, train):
    engine = engine_for(train)
    settings = retry_settings(retry_rollouts=[2, 4])
    rnd = round_of(tmp_path, 4, settings, engine, [])
    summary = search_stage(rnd, train)
    two, four = summary["retries"]
    assert (two["rollouts"], two["seed"], four["rollouts"], four["seed"]) == (2, 1, 4, 2)
    assert four["searched"] == two["searched"] - two["solved"]
    left = {p.id for p in train if tree_file(retry_folder(rnd.folder, 4), p).is_file()}
    assert all(not rstar_solved(read_tree(tree_file(retry_folder(rnd.folder, 2), p)))
               for p in train if p.id in left)
    (rnd.folder / "search.json").unlink()  # killed before the stage's summary was written
    calls = len(engine.calls)
    again = search_stage(round_of(tmp_path, 4, settings, engine, []), train)
    assert len(engine.calls) == calls  # every tree was on disk
    assert {k: v for k, v in again.items() if k not in ("seconds", "peak_rss_mb")} == {
        k: v for k, v in summary.items() if k not in ("seconds", "peak_rss_mb")}


def test_rounds_before_4_search_once(tmp_path, train):
    rnd = round_of(tmp_path, 3, retry_settings(), engine_for(train), [])
    summary = search_stage(rnd, train)
    assert "retries" not in summary and not retry_folder(rnd.folder, 4).exists()


def test_the_report_says_what_the_retries_found_and_ignores_what_is_not_counts():
    row = {"round": 4, "retries": [{"rollouts": 64, "searched": 150, "solved": 20},
                                   {"rollouts": 128, "searched": 130, "solved": 5}],
           "solved_after_retries": 160}
    assert retry_notes([row]) == [
        "", "Retries of the unsolved training problems:",
        "- round 4: 150 searched with 64 rollouts, 20 solved; 130 searched with 128 rollouts, 5 solved; "
        "a right answer in 160 trees after the retries (the table's count is the first search's)"]
    assert "Retries of the unsolved" in markdown([row])
    for hostile in ("<b>x</b>", [{"rollouts": "64", "searched": 1, "solved": 0}], [True], []):
        assert retry_notes([{**row, "retries": hostile}]) == []


@pytest.mark.parametrize("bad", [[128, 64], [0], [True], [4, 4], "64", [1, 2, 3, 4, 5]])
def test_retry_settings_are_checked(bad):
    with pytest.raises(ValueError, match="retry_rollouts"):
        EvolveSettings(retry_rollouts=bad)


def test_the_training_tab_and_evolve_status_show_a_retry_pass_in_progress(tmp_path):
    """The first pass's 5/5 trees are written hours before the retries end: the line says
    the retry pass is going on rather than sitting at 5/5 with no pace."""
    from backend.evolve import runs_index as ri
    from tests.evolve.run_dirs import mid_search_run

    run = mid_search_run(tmp_path / "live", searched=5)
    for rollouts, count in ((16, 3), (64, 2)):
        sub = run / "round-2" / f"trees-retry-{rollouts}"
        sub.mkdir()
        for i in range(count):
            (sub / f"gsm8k-train_{i}.jsonl.gz").write_bytes(b"")
    (run / "round-2" / "trees-retry-999").symlink_to(run / "round-2" / "trees")  # a link: not read
    state = ri.read_run(run)
    assert state.round(2).retried == ((16, 3), (64, 2))
    assert ri.progress_line(state) == (
        "round 2, search: 5/5 problems searched; unsolved ones again with 64 rollouts: 2 searched")
    assert state.round(2).pace is None  # the first pass is done; how many the retry takes is not on disk


def test_retries_may_be_decided_until_round_4_begins_and_not_after(tmp_path):
    """Like the PPM settings until round 3: a run's first rounds, then its round 4 planned.
    The change is recorded in the manifest's edits; once round 4 has a folder it is refused."""
    from backend.evolve.manifest import new_manifest, open_manifest, read_json

    def opened(settings):
        fresh = new_manifest(settings, train_ids=["gsm8k-train/0"], test_ids=["gsm8k/100"],
                             base={"engine": "scripted", "model": "tiny", "sha256": None})
        return open_manifest(tmp_path, settings, fresh)

    def planned(**changes):
        return EvolveSettings(**{"rounds": 4, "train_count": 1, "test_count": 1, "train_ppm": False,
                                 "ppm": "p", **changes})

    opened(planned(rounds=3))
    (tmp_path / "round-3").mkdir()
    assert opened(planned(retry_rollouts=[16]))["settings"]["retry_rollouts"] == [16]
    assert read_json(tmp_path / "manifest.json")["edits"][-1]["what"] == (
        "settings.retry_rollouts [] -> [16] before round 4 began (the stages already done stay as they were)")
    (tmp_path / "round-4").mkdir()
    with pytest.raises(ValueError, match="other settings"):
        opened(planned(retry_rollouts=[32]))
    assert opened(planned(retry_rollouts=[16]))["settings"]["retry_rollouts"] == [16]  # the same: resumes
