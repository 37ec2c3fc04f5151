"""The search stage of ``canopy evolve`` over Ray (``backend/scale/evolve_search.py``) writes
the same trees as the in-process stage, and a rerun sends no problem to a worker."""

from __future__ import annotations

import pytest

from backend.evolve.manifest import EvolveSettings
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
    assert {k: v for k, v in remote.items() if k != "seconds"} == {
        k: v for k, v in local.items() if k != "seconds"
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
