"""Replay of the `scale` steps in NeqLIPS reference proofs with Canopy's lemma engine."""

import pytest

from backend.search.lips.problems import load_inequalities
from backend.search.lips.replay import replay_census, replay_script, split_args, split_equation


def test_argument_and_equation_splitting():
    args, rest = split_args("(u := a) (v := ((b + c) + d)) (left := 2 * a) tail")
    assert args == {"u": "a", "v": "((b + c) + d)", "left": "2 * a"} and rest == "tail"
    assert split_equation("(a = b) - c ≤ 0 = 3 * (x)") == ("(a = b) - c ≤ 0", "3 * (x)")


@pytest.mark.parametrize("pid", ["mo-int-P2", "mo-int-P4", "mo-int-P7", "mo-int-P15"])
def test_scripts_replay(pid):
    p = next(q for q in load_inequalities("mo-int") if q.id == pid)
    r = replay_script(p)
    assert r.steps and r.replays, [(s.lemma, s.applies, s.matched, s.next_ok) for s in r.steps]


@pytest.mark.slow
def test_mo_int_replay_census():
    census = replay_census([replay_script(p) for p in load_inequalities("mo-int")])
    assert census["scale_steps"] == 51 and census["scripts_with_scale_steps"] == 15
    assert census["applies"] == 51 and census["matched"] >= 50
    assert census["next_ok"] >= 43  # of 44 determinable; P10's library entry differs from its Lean lemma
    assert census["scripts_replayed"] >= 12
