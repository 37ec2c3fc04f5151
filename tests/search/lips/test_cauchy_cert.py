"""Titu (Engel-form Cauchy-Schwarz) steps proved sound by the Lagrange identity, exactly."""

from __future__ import annotations

import pytest
import sympy as sp

from backend.search.lips.cauchy_cert import certifier, lagrange_form, titu_certificate
from backend.search.lips.filtering import FilterConfig, check_step
from backend.search.lips.homogenise import make_homogeneous
from backend.search.lips.lemmas import lemma_by_name
from backend.search.lips.problem import Goal
from backend.search.lips.problems import load_inequalities
from backend.search.lips.scaling import apply_lemma

SHORT = FilterConfig(implication_timeout_s=0.5, refute_timeout_s=0.5)


def _p1_titu_step():
    """MO-INT P1 homogenised, then Titu_variant2_right_4vars: the reference proof's first scale."""
    p = next(q for q in load_inequalities("mo-int") if q.id == "mo-int-P1")
    goal = make_homogeneous(p, p.goal)[0]
    steps = apply_lemma(goal, lemma_by_name("Titu_variant2_right_4vars"))
    a, b, c, d = p.symbol_list
    want = (a**2 + b**2 + c**2 + d**2) ** 2
    step = next(s for s in steps if sp.simplify(sp.numer(sp.together(s.new.rhs)) - want) == 0)
    return p, step


def test_the_lagrange_form_is_the_cauchy_schwarz_gap():
    x1, x2, x3, y1, y2, y3 = sp.symbols("x1 x2 x3 y1 y2 y3", positive=True)
    xs, ys = [x1, x2, x3], [y1, y2, y3]
    gap = sum(x**2 / y for x, y in zip(xs, ys, strict=True)) - sum(xs) ** 2 / sum(ys)
    assert sp.simplify(gap - lagrange_form(xs, ys)) == 0


def test_mo_int_p1_titu_step_is_proved_sound_where_z3_times_out():
    p, step = _p1_titu_step()
    how = titu_certificate(p, step.old, step.new, step.lemma, step.instantiation)
    assert how and "Lagrange identity" in how
    plain = check_step(p, step.old, step.new, config=SHORT)
    assert plain.status == "unknown"  # z3 alone: not proved in its budget
    just = {"lemma": step.lemma, "instantiation": step.instantiation}
    exact = certifier(p, step.old, step.new, "scale", just)
    fr = check_step(p, step.old, step.new, config=SHORT, implied_by=exact)
    assert fr.status == "passed" and fr.method == "identity"


def test_a_step_that_is_not_the_lemma_gets_no_certificate():
    p, step = _p1_titu_step()
    inst = dict(step.instantiation)
    # the new goal moved a little: the identity no longer holds exactly
    nudged = Goal(step.new.lhs, step.new.rhs * sp.Rational(101, 100))
    assert titu_certificate(p, step.old, nudged, step.lemma, step.instantiation) is None
    # k < 0 turns the inequality round: refused by structure before any identity
    neg = tuple((n, -v if n == "k" else v) for n, v in {**inst, "k": sp.Integer(1)}.items())
    assert titu_certificate(p, step.old, step.new, step.lemma, neg) is None
    # another lemma family, or a rewrite node: no certifier
    assert titu_certificate(p, step.old, step.new, "AM_GM_normal_right_2vars", step.instantiation) is None
    assert certifier(p, step.old, step.new, "rewrite", {"lemma": step.lemma}) is None


# --- the pop order: a certified Titu goal is not buried by its long sums ------------------------


def test_the_goal_of_a_step_proved_by_an_identity_queues_at_its_parents_score():
    # MO-INT P1: the certified Titu goal scored 123 against 68 for the AM-GM goals beside it,
    # ranked 55th, and was never popped in 120 s; at its parent's score it is popped 4th
    from backend import events as ev
    from backend.search.lips.frontier import GoalNode
    from backend.search.lips.search import LipsConfig, LipsSearch

    s = LipsSearch("a,b > 0; prove a^2+b^2 >= 2*a*b", engine=None, config=LipsConfig())
    s.start()
    s.frontier.pop()  # the root: the test queues its own children
    a, b = s.problem.symbol_list
    root = s.nodes[0].score
    certified = GoalNode(1, Goal(2 * a * b, a**2 + b**2 + 1), 0, 1, root + 50, "scale", checked_by="identity")
    by_z3 = GoalNode(2, Goal(2 * a * b, a**2 + b**2 + 2), 0, 1, root + 10, "scale", checked_by="z3")
    unsound = GoalNode(3, Goal(2 * a * b, a**2 + b**2 + 3), 0, 1, root + 5, "rewrite", checked_by="identity")
    for n in (certified, by_z3, unsound):
        s.nodes[n.id] = n
    s._queue([by_z3, unsound, certified])
    assert s.frontier.ranked() == [1, 3, 2]  # only a scaling step proved by an identity moves
    assert (certified.score, by_z3.score) == (root, root + 10)
    moved = [e for e in s.log.events if isinstance(e, ev.NodeScored) and e.detail.get("from_parent") == 0]
    assert [(e.id, e.score) for e in moved] == [(1, float(root))]


@pytest.mark.slow
def test_mo_int_p1_is_proved_through_its_certified_titu_step():
    # the symbolic preset, as `canopy eval --dataset mo-int --limit 1 --preset symbolic` runs it
    from backend.search.lips.config import PRESETS
    from backend.search.lips.search import LipsConfig, LipsSearch

    p = next(q for q in load_inequalities("mo-int") if q.id == "mo-int-P1")
    s = LipsSearch(p.statement, engine=None, config=LipsConfig(**PRESETS["symbolic"], time_limit_s=600.0))
    assert s.run().status == "proved"
    lemmas = [s.nodes[i].justification.get("lemma") or "" for i in s.path(s.proved)]
    assert any(name.startswith("Titu_") for name in lemmas), lemmas
    assert all(c["ok"] for c in s.proof_chain), s.proof_chain  # every step re-checked from scratch
