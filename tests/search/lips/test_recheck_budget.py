"""A proof's re-check: cut to the run's time left, and a step that fails it prunes its subtree."""

from __future__ import annotations

import time

import sympy as sp

from backend import events as ev
from backend.search.lips import search as lips_search
from backend.search.lips.frontier import GoalNode
from backend.search.lips.problem import Goal
from backend.search.lips.search import RECHECK_MIN_Z3_S, LipsConfig, LipsSearch

AMGM = "a,b > 0; prove a^2+b^2 >= 2*a*b"


def _started(**cfg) -> LipsSearch:
    s = LipsSearch(AMGM, engine=None, config=LipsConfig(**{"time_limit_s": 60.0, **cfg}))
    s.start()
    s.frontier.pop()  # the root: these tests pop their own nodes
    return s


def _node(s: LipsSearch, nid: int, parent: int, goal: Goal) -> GoalNode:
    node = GoalNode(nid, goal, parent, s.nodes[parent].depth + 1, 1, kind="scale")
    s.nodes[nid] = node
    return node


def test_goals_queued_below_a_step_that_fails_the_recheck_are_dropped(monkeypatch):
    """MO-INT P8: a closed goal below a Hölder step z3 cannot prove sound failed its re-check,
    and every later goal below that step paid the same failing re-check again (8 s of z3 each)."""
    s = _started()
    a, b = s.problem.symbol_list
    true_goal = Goal(2 * a * b, a**2 + b**2)
    _node(s, 1, 0, Goal(2 * a * b, a**2 + b**2 + 1))  # its step will "fail" the re-check
    closed = _node(s, 2, 1, true_goal)
    below = _node(s, 3, 1, Goal(2 * a * b, a**2 + b**2 + 2))
    deeper = _node(s, 4, 3, Goal(2 * a * b, a**2 + b**2 + 3))
    elsewhere = _node(s, 5, 0, Goal(2 * a * b, a**2 + b**2 + sp.Rational(1, 2)))
    for n in (below, deeper, elsewhere):
        s.frontier.push(n)
    failed = [{"node": 1, "ok": False, "method": "check_step:z3:unknown"}]
    monkeypatch.setattr(s, "recheck", lambda nid, cert=None: (False, "step to node 1 not justified", failed))
    s._pop(closed)
    assert s.proved is None
    assert s.frontier.ranked() == [5]  # 3 and 4 are below node 1; 5 is not
    notes = [e.message for e in s.log.events if isinstance(e, ev.Note)]
    assert any("dropped 2 queued goals below node 1" in m for m in notes)
    # a goal below the failed step that was popped already is not expanded any more
    expanded = []
    monkeypatch.setattr(s, "_expand", lambda node: expanded.append(node.id))
    open_below = _node(s, 6, 1, Goal(a * b, a**2 + b**2 - a * b + 7 * a))  # true, not closed at once
    monkeypatch.setattr(lips_search, "close_goal", lambda *args, **kw: _Unknown())
    s._pop(open_below)
    s._pop(elsewhere)
    assert expanded == [5]


def test_a_close_that_fails_its_recheck_drops_nothing(monkeypatch):
    s = _started()
    a, b = s.problem.symbol_list
    closed = _node(s, 1, 0, Goal(2 * a * b, a**2 + b**2))
    sibling = _node(s, 2, 0, Goal(2 * a * b, a**2 + b**2 + 1))
    s.frontier.push(sibling)
    failed = [{"node": 1, "ok": False, "method": "close:z3", "close": True}]
    monkeypatch.setattr(s, "recheck", lambda nid, cert=None: (False, "final goal not closed again", failed))
    s._pop(closed)
    assert s.frontier.ranked() == [2] and not s.unjustified


def test_the_recheck_is_cut_to_the_time_left(monkeypatch):
    """The re-check ran with the full z3 budget past the limit (MO-INT P3: 123.7 s of 120)."""
    seen = {}

    def fake_recheck(problem, nodes, path, *, filter_cfg, close_cfg, z3_timeout_s, certificate=None):
        seen.update(filter=filter_cfg, close=close_cfg, z3=z3_timeout_s)
        return True, "", []

    monkeypatch.setattr(lips_search, "recheck", fake_recheck)
    s = _started(time_limit_s=60.0, z3_timeout_s=5.0)
    s.recheck(0)  # plenty of time left: the full budget
    assert seen["z3"] == 5.0 and seen["filter"].implication_timeout_s == 5.0
    assert seen["close"].z3_timeout_s == 5.0
    s.state.t0 = time.monotonic() - 59.0  # one second left
    s.recheck(0)
    assert seen["z3"] == RECHECK_MIN_Z3_S == seen["filter"].implication_timeout_s
    assert seen["close"].z3_timeout_s == RECHECK_MIN_Z3_S and seen["close"].sos_timeout_s <= 1.0
    assert 1.5 * seen["z3"] + 0.5 <= 1.25  # z3's hard limit stays close to the time left


class _Unknown:
    status = "unknown"
    method = ""
    ms = 0.0
    counterexample = None
    attempts = ()
    proved = False
