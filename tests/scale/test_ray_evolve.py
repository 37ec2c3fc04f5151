"""The search stage of ``canopy evolve`` over Ray (``backend/scale/evolve_search.py``) writes
the same trees as the in-process stage, and a rerun sends no problem to a worker."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from backend.engines.scripted import ScriptedEngine
from backend.evolve.manifest import EvolveSettings
from backend.evolve.rounds import problem_sets
from backend.evolve.stages import Round, search_stage
from backend.problems import load_problems
from backend.scale.evolve_search import RayModels
from backend.train.ppm_data import read_tree, tree_file
from tests.scale.engines import HangingPolicies, ScriptedPolicies

pytest.importorskip("ray")

SETTINGS = EvolveSettings(rounds=1, train_count=3, test_count=1,
                          search={"rollouts": 2, "children": 2, "few_shot": 0})


def shape(tree):
    """A tree as the data stage reads it: every node's place, text, visits, value, answer."""
    nodes = [(n.id, n.parent, n.text, n.code, n.n, round(n.q, 6), n.answer, n.status)
             for n in tree.nodes.values()]
    return nodes, tree.finished.answer, tree.finished.correct


def test_the_evolve_search_stage_over_ray_writes_the_same_trees(ray_local, tmp_path):
    problems = load_problems("gsm8k-train", 3)
    models = ScriptedPolicies(tuple((p.question, p.answer) for p in problems))
    here = Round(1, tmp_path / "here", SETTINGS, models, policy_in=None, ppm_in=None, say=lambda _: None)
    spread = RayModels(models, lambda: models, address=None, workers=2)
    there = Round(1, tmp_path / "ray", SETTINGS, spread, policy_in=None, ppm_in=None, say=lambda _: None)

    local, remote = search_stage(here, problems), search_stage(there, problems)
    assert spread.stats.submitted == 3
    measured = ("seconds", "peak_rss_mb")
    assert {k: v for k, v in remote.items() if k not in measured} == {
        k: v for k, v in local.items() if k not in measured
    }
    for problem in problems:
        mine, theirs = (read_tree(tree_file(r.folder / "trees", problem)) for r in (here, there))
        assert shape(theirs) == shape(mine) and len(mine.nodes) > 3

    # the stage's summary gone, its trees kept: nothing goes to a worker again
    (there.folder / "search.json").unlink()
    again = RayModels(models, lambda: models, address=None, workers=2)
    search_stage(Round(1, there.folder, SETTINGS, again, None, None, say=lambda _: None), problems)
    assert again.stats.submitted == 0


@pytest.mark.timeout(120)  # without the limit this test hangs for good
def test_a_hung_search_stops_the_stage_after_the_others_are_written_and_a_rerun_searches_only_it(
    ray_local, tmp_path
):
    problems = load_problems("gsm8k-train", 3)
    cases = tuple((p.question, p.answer) for p in problems)
    hung = HangingPolicies(cases, always=problems[1].question)
    spread = RayModels(hung, lambda: hung, address=None, workers=2, timeout_s=6, max_retries=0)
    there = Round(1, tmp_path / "ray", SETTINGS, spread, policy_in=None, ppm_in=None, say=lambda _: None)
    said = f"1 problem.*{problems[1].id}: ran past the 6 s limit \\(tried once\\)"
    with pytest.raises(RuntimeError, match=said):
        search_stage(there, problems)
    trees = there.folder / "trees"
    assert [tree_file(trees, p).is_file() for p in problems] == [True, False, True]
    assert spread.stats.timed_out == 1 and spread.stats.failed == 1

    fine = ScriptedPolicies(cases)
    again = RayModels(fine, lambda: fine, address=None, workers=2)
    summary = search_stage(Round(1, there.folder, SETTINGS, again, None, None, say=lambda _: None), problems)
    assert again.stats.submitted == 1 and summary["problems"] == 3


@dataclass(frozen=True)
class RulePolicies:
    """What a worker builds: the scripted engine over ``rules`` (made there: an engine holds a
    lock, which does not travel), whichever policy is asked for."""

    rules: tuple

    def engine(self, policy):
        return ScriptedEngine(list(self.rules))


@pytest.mark.slow  # ~22 s: CPL's two whole rounds; the search stage over Ray stays in the suite (above)
def test_cpl_rounds_over_ray_write_the_in_process_trees_and_report(ray_local, tmp_path):
    """Both of CPL's rounds (round 2: the XML format and round 1's value head, read on the
    workers) with the search stage on Ray: the same trees and report rows as in process, and a
    rerun of a search stage whose trees are written sends nothing to a worker."""
    pytest.importorskip("trl")
    from backend.evolve.cpl_rounds import run_cpl_evolve
    from backend.evolve.cpl_stages import cpl_search_stage
    from tests.evolve.test_cpl_rounds import cpl_rules, settings
    from tests.evolve.test_rounds import ScriptedModels

    cpl = settings()
    train, test = problem_sets(cpl.evolve)
    rules = cpl_rules(train + test)
    local = run_cpl_evolve(tmp_path / "here", cpl, ScriptedModels(ScriptedEngine(rules)), say=lambda _: None)
    workers = RulePolicies(tuple(rules))
    spread = RayModels(ScriptedModels(ScriptedEngine(rules)), lambda: workers, address=None, workers=2)
    remote = run_cpl_evolve(tmp_path / "ray", cpl, spread, say=lambda _: None)

    assert spread.stats.submitted == 2 * len(train) and spread.stats.failed == 0
    paths = ("seconds", "policy", "policy_in", "value", "value_in")
    assert [{k: v for k, v in r.items() if k not in paths} for r in remote] == [
        {k: v for k, v in r.items() if k not in paths} for r in local
    ]
    assert remote[2]["value_in"].endswith("ray/round-1/value")  # round 2 searched with the run's own head
    for number in (1, 2):
        for problem in train:
            mine, theirs = (read_tree(tree_file(tmp_path / run / f"round-{number}" / "trees", problem))
                            for run in ("here", "ray"))
            assert shape(theirs) == shape(mine) and len(mine.nodes) > 3
    two = tmp_path / "ray" / "round-2" / "trees"
    assert any("<step>" in n.text for n in read_tree(tree_file(two, train[0])).nodes.values())  # XML

    (tmp_path / "ray" / "round-1" / "search.json").unlink()
    again = RayModels(ScriptedModels(ScriptedEngine(rules)), lambda: workers, address=None, workers=2)
    rnd = Round(1, tmp_path / "ray" / "round-1", cpl.evolve, again, None, None, say=lambda _: None)
    assert cpl_search_stage(rnd, train, "plan")["right_answer_in_tree"] == len(train)
    assert again.stats.submitted == 0
