"""The time limit of an MCTS run (rStar-Math, CPL) holds inside an engine call, not only between
calls: one call of ``children`` samples runs tens of seconds on a CPU, and the run went on to its
end (``Search.generate`` cuts it through ``backend/engines/cancel.py: CallFlag``)."""

from __future__ import annotations

import time

import pytest

from backend.engines.scripted import ScriptedEngine
from backend.search.registry import create_search, make_config
from backend.tree import Tree

P = "What is 6 times 7?"
STEP = "<code>\n# Step 1: multiply\nx = 6 * 7\n<end_of_step>"
PLAN = "Step 1: Multiply 6 by 7.\n"
LIMIT_S, SLACK_S = 1.0, 0.8  # one sample is 1 s: a call of 4 ran 4 s past its start


@pytest.mark.parametrize(("algorithm", "text"), [("rstar", STEP), ("cpl", PLAN)])
def test_a_call_running_at_the_time_limit_ends_there(algorithm, text):
    engine = ScriptedEngine([], default=text, sample_delay_s=1.0)
    config = make_config(algorithm, rollouts=1000, children=4, time_limit_s=LIMIT_S)
    search = create_search(algorithm, P, engine=engine, config=config, seed=0)
    t = time.monotonic()
    search.run()
    wall = time.monotonic() - t
    finished = Tree.from_events(search.log.events).finished
    assert wall < LIMIT_S + SLACK_S, wall
    assert (finished.status, search.stats()["budget"]) == ("exhausted", "time")


def test_a_run_without_a_time_limit_is_not_cut():
    engine = ScriptedEngine([], default=STEP, sample_delay_s=0.05)
    config = make_config("rstar", rollouts=2, children=2)
    search = create_search("rstar", P, engine=engine, config=config, seed=0)
    search.run()
    finished = Tree.from_events(search.log.events).finished
    assert finished.status != "stopped" and search.stats()["budget"] != "time"  # the tree ran out
