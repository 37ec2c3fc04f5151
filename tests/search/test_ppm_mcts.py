"""PPM-augmented MCTS (rStar-Math rounds 2-4 and inference) over the real core, scripted engine.

The PPM here is a rule table (``tests/factories.py: RulePPM``): what is tested is what the
search does with a PPM's values, not a trained model.
"""

from __future__ import annotations

import pytest

from backend import events as ev
from backend.runspec import RunSpec, build_search
from backend.search.registry import make_config
from backend.search.rstar import RStarSearch
from backend.tree import Tree
from tests.factories import RulePPM
from tests.search.test_rstar import PROBLEM, engine

# the wrong first step (bags undefined) fails to run; the two finals print 10 (right) and 12
GOOD_FINAL, BAD_FINAL = "print(apples - 2)", "print(apples)"


def ppm(**rules):
    return RulePPM({"print(apples - 2)": -0.2, "print(apples)": 0.9, "apples = 3 * 4": 0.3, **rules})


def run(scorer, reward="ppm", cfg=None, **kw):
    # "auto" is the official rule (the highest-Q terminal with a PPM); the cpu-demo preset votes
    cfg = cfg or make_config("rstar", rollouts=4, children=3, answer_choice="auto")
    s = RStarSearch(PROBLEM, engine=engine(), config=cfg, reward=_reward(reward), step_scorer=scorer, **kw)
    s.run()
    return s, Tree.from_events(s.log.events)


def _reward(name):
    from backend.reward import make_reward

    return make_reward(name, "10" if name == "truth" else None, scorer=SCORER)


SCORER = ppm()


def test_every_new_step_gets_a_ppm_score_and_starts_at_n1_q_equal_to_it():
    scorer = SCORER
    scorer.calls.clear()
    s, tree = run(scorer)
    events = s.log.events
    scored = {e.id: e.score for e in events if isinstance(e, ev.NodeScored) and e.source == "ppm"}
    invalid = {n.id for n in tree.nodes.values() if n.terminal and n.answer is None}
    non_root = {i for i in tree.nodes if i != tree.root_id}
    assert scored and set(scored) == non_root - invalid  # every step but a failed one is valued
    for node_id in scored:
        first = next(e for e in events if isinstance(e, ev.Backprop) and node_id in e.path)
        if not tree.nodes[node_id].terminal:
            # its own first update: on itself only, N = 1, Q = the PPM value (update_leaf_value)
            assert first.path == [node_id] and first.updated == [[node_id, 1, scored[node_id]]]
    # one batched PPM call per expansion, holding every scored sibling
    expansions = {e.parent for e in events if isinstance(e, ev.NodeAdded) and e.parent is not None}
    assert len(scorer.calls) == len(expansions)
    assert sum(len(c) for c in scorer.calls) == len(scored)


def test_a_terminal_ppm_value_is_backed_up_to_the_root_and_the_answer_is_the_highest_q():
    s, tree = run(SCORER)
    root = tree.root_id
    ups = [e for e in s.log.events if isinstance(e, ev.Backprop) and e.path[0] == root and len(e.path) > 1]
    assert ups and {round(e.reward, 6) for e in ups} <= {0.9, -0.2}
    # the PPM prefers the wrong final (12): with a PPM the answer is the highest-Q terminal
    assert s.answer_choice() == "max_q" and s.outcome().answer == "12"
    best = tree.nodes[s.outcome().best_path[-1]]
    terminals = [n for n in tree.nodes.values() if n.terminal and n.answer]
    assert best.q == max(n.q for n in terminals)


def test_the_cpu_demo_preset_answers_by_the_vote_with_a_ppm_and_the_paper_preset_by_highest_q():
    """The answer rule was chosen on GSM8K train (docs/PPM.md): the embedded model's default
    preset keeps the vote with the shipped PPM; the paper's inference preset keeps eval_output.py.
    Two differently written finals print the right 10; the PPM prefers the one printing 12."""
    from backend.engines.scripted import Rule, ScriptedEngine
    from tests.search.test_rstar import FINAL_10, FINAL_12, S1_BAD, S1_OK, after

    other_10 = FINAL_10.replace("apples - 2", "apples - 1 - 1")
    scorer = ppm(**{"print(apples - 1 - 1)": -0.2})

    def search(cfg):
        two_right = ScriptedEngine([
            Rule(after("apples = 3 * 4\n<end_of_step>"), [FINAL_10, FINAL_12, other_10]),
            Rule(after("<|im_start|>assistant\n"), [S1_OK, S1_BAD, S1_OK]),
        ])
        s = RStarSearch(PROBLEM, engine=two_right, config=cfg, reward=_reward("ppm"), step_scorer=scorer)
        s.run()
        return s

    demo = search(make_config("rstar", rollouts=4, children=3))
    assert demo.answer_choice() == "vote" and demo.outcome().answer == "10"
    assert demo.outcome().votes == {"10": 2.0, "12": 1.0}
    assert any(e.source == "ppm" for e in demo.log.events if isinstance(e, ev.NodeScored))  # still valued
    assert make_config("rstar", preset="paper-inference").answer_choice == "auto"
    official = search(make_config("rstar", rollouts=4, children=3, answer_choice="auto"))
    assert official.answer_choice() == "max_q" and official.outcome().answer == "12"


def test_truth_mode_values_steps_with_the_ppm_and_terminals_with_the_known_answer():
    s, _ = run(SCORER, reward="truth")
    ups = [e for e in s.log.events if isinstance(e, ev.Backprop) and len(e.path) > 1]
    assert ups and {e.reward for e in ups} <= {1.0, -1.0}  # the truth reward, not the PPM's 0.9
    assert any(e.source == "ppm" for e in s.log.events if isinstance(e, ev.NodeScored))
    assert s.outcome().answer == "10"  # highest Q: +1 terminals


def test_without_a_ppm_nothing_is_scored_and_the_vote_answers():
    s = RStarSearch(PROBLEM, engine=engine(), config=make_config("rstar", rollouts=4, children=3))
    s.run()
    assert not [e for e in s.log.events if isinstance(e, ev.NodeScored) and e.source == "ppm"]
    assert s.answer_choice() == "vote" and "ppm_s" not in s.stats()


def test_the_ppm_steers_selection_among_siblings():
    # the PPM likes the right final; a single rollout after expansion goes to the best-valued child
    like_right = RulePPM({"print(apples - 2)": 0.8, "print(apples)": -0.8, "apples = 3 * 4": 0.1})
    s, tree = run(like_right, cfg=make_config("rstar", rollouts=4, children=3))
    assert s.outcome().answer == "10"
    sel = [e for e in s.log.events if isinstance(e, ev.NodeSelected)]
    first_rows = sel[0].children[0]
    best = max(first_rows, key=lambda r: r["score"])
    assert tree.nodes[best["id"]].scores["ppm"] == max(
        tree.nodes[r["id"]].scores.get("ppm", -9) for r in first_rows
    )


def test_the_builder_gives_rstar_the_ppm_and_auto_reward_becomes_ppm():
    spec = RunSpec(PROBLEM, engine="scripted")  # ppm "default", reward "auto"
    search = build_search(spec, engine(), "p1", step_scorer=SCORER)
    assert search.reward.name == "ppm" and search.step_scorer is SCORER
    # the default PPM does not apply to a scripted engine: the vote, and the root says why
    plain = build_search(spec, engine(), "p2")
    plain.start()
    assert plain.reward.name == "vote" and plain.step_scorer is None
    notes = [e.message for e in plain.log.events if isinstance(e, ev.Note)]
    assert any(n.startswith("no PPM:") for n in notes)


def test_cpl_refuses_an_rstar_ppm_its_slot_takes_only_a_cpl_value_head():
    from backend.search.cpl import CPLSearch

    with pytest.raises(ValueError, match="CPL takes a CPL value head"):
        CPLSearch(PROBLEM, engine=engine(), step_scorer=SCORER)
    with pytest.raises(ValueError, match="is not a Canopy PPM directory"):
        build_search(RunSpec(PROBLEM, algorithm="cpl", ppm="/some/dir", engine="scripted"), engine())
