"""bench/answer_choice.py: both answer rules re-read off a finished tree, over real scripted
searches (the fold must give the answer the search itself gave under its own rule)."""

from __future__ import annotations

from backend import events as ev
from backend.events import EventLog
from backend.search.registry import make_config
from backend.search.rstar import RStarSearch
from bench.answer_choice import Graded, grade, table
from tests.search.test_ppm_mcts import SCORER, run
from tests.search.test_rstar import PROBLEM, engine


def test_each_rule_gives_what_the_search_gives_when_it_answers_by_that_rule():
    # the same PPM-guided search (the rule-table PPM prefers the wrong final, which prints 12),
    # answered by each rule in turn: the tree is the same, only the final choice differs
    for rule in ("max_q", "vote"):
        search, _ = run(SCORER, cfg=make_config("rstar", rollouts=4, children=3, answer_choice=rule))
        graded = grade(search.log.events, "10", "p")
        assert graded.same_as_run[rule], rule
        assert graded.right[rule] == (search.outcome().answer == "10")
        assert graded.in_tree  # a terminal printed 10
    assert search.outcome().answer == "12"  # the vote's tie (10 and 12 once each) goes to the higher Q


def test_where_the_rules_differ_the_vote_takes_the_most_terminals_and_max_q_the_highest_q():
    """root -> {1: "7" (Q -0.2), 2: "7" (Q 0.1), 3: "9.0" (Q 0.8)}; the run answered by max_q."""
    log = EventLog(clock=iter(range(1000)).__next__)
    log.emit(ev.RunStarted, run_id="r", algorithm="rstar", problem="p")
    log.emit(ev.NodeAdded, id=0, parent=None, kind="root", text="p")
    for nid, answer in ((1, "7"), (2, "7"), (3, "9.0")):
        log.emit(ev.NodeAdded, id=nid, parent=0, kind="answer", terminal=True)
        log.emit(ev.NodeVerified, id=nid, status="answered", method="python", answer=answer)
    log.emit(ev.Backprop, iteration=0, path=[1], reward=0.0, updated=[[1, 1, -0.2], [2, 1, 0.1], [3, 1, 0.8]])
    log.emit(ev.RunFinished, status="solved", answer="9")
    seven, nine = grade(log.events, "7", "p"), grade(log.events, "9", "p")
    assert seven.right == {"vote": True, "max_q": False} and nine.right == {"vote": False, "max_q": True}
    assert seven.same_as_run == {"vote": False, "max_q": True}  # "9.0" is the run's "9"
    assert seven.in_tree and nine.in_tree and not grade(log.events, "8", "p").in_tree


def test_a_vote_run_is_reproduced_by_the_vote():
    search = RStarSearch(PROBLEM, engine=engine(), config=make_config("rstar", rollouts=4, children=3))
    search.run()
    graded = grade(search.log.events, "10", "p")
    assert graded.same_as_run["vote"]
    assert graded.right["vote"] == (search.outcome().answer == "10")


def test_the_table_counts_each_rule_and_their_wins_and_losses():
    rows = [
        Graded("a", {"vote": True, "max_q": False}, True, {"vote": True, "max_q": False}),
        Graded("b", {"vote": False, "max_q": True}, True, {"vote": True, "max_q": False}),
        Graded("c", {"vote": False, "max_q": True}, True, {"vote": True, "max_q": True}),
        Graded("d", {"vote": False, "max_q": False}, False, {"vote": True, "max_q": True}),
    ]
    text = table(rows)
    assert "| vote | 1/4 (25.0%) | 3/4 |" in text
    assert "| max_q | 2/4 (50.0%) | 3/4 |" in text
    assert "max_q vs vote on the same trees: won 2, lost 1" in text
    assert "the run's own answer is vote's on 4/4, max_q's on 2/4" in text
    assert table([]) == "no trees"
