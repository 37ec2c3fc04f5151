"""backend/train/reference_pairs.py: step pairs labelled by a GSM8K worked solution's values,
whose counts docs/PPM.md quotes (bench/reference_pairs.py). Steps run in the real sandbox."""

from __future__ import annotations

import pytest

from backend import events as ev
from backend.events import EventLog
from backend.train.pair_equivalence import effect
from backend.train.reference_pairs import Reference, label, reference, reference_pairs
from backend.tree import Tree
from backend.verify.sandbox import run_code

QUESTION = ("Natalia sold clips to 48 of her friends in April, and then she sold half as many clips "
            "in May. How many clips did Natalia sell altogether in April and May?")
SOLUTION = ("Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n"
            "Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72")


def test_the_reference_is_the_annotated_values_and_the_answer_less_the_given_numbers():
    ref = reference(QUESTION, SOLUTION)
    assert ref.computed == {24.0, 72.0} and ref.given == {48.0}
    # a value the question already states is no evidence of progress
    tom = reference("Tom has 3 apples and 4 pears.", "<<3+4=7>>7 <<4-1=3>>3\n#### 1,200")
    assert tom.computed == {7.0, 1200.0}
    # text that is not an annotation is not read as one, and nothing is evaluated
    assert reference("Q", "<<__import__('os')=1>>\n#### x").computed == {1.0}


def test_a_step_is_on_the_path_off_it_or_unlabelled():
    ref = Reference(computed=frozenset({24.0, 72.0}), given=frozenset({48.0}))
    assert label(("", '["24"]'), ref) is True  # computes a reference value
    assert label(("72", "[]"), ref) is True  # prints the answer
    assert label(("", '["96"]'), ref) is False  # a new number off the path
    assert label(("", '["48"]'), ref) is None  # only restates the question
    assert label(("", "[]"), ref) is None
    assert label(None, ref) is None  # did not run


def _tree() -> Tree:
    log = EventLog()
    log.emit(ev.RunStarted, run_id="r", algorithm="rstar", problem=QUESTION, reward="truth")
    log.emit(ev.NodeAdded, id=0, parent=None, kind="root", text=QUESTION)
    steps = [  # (id, parent, code, q)
        (1, 0, "april = 48", 0.2),
        (2, 1, "may = april / 2", 0.9),  # on the path
        (3, 1, "may = april * 2", -0.7),  # off it
        (4, 1, "may = april / 2.0", 0.1),  # on the path, lower Q
        (5, 1, "may_clips = april", -0.2),  # restates 48: no label
        (6, 1, "may = april + 1", -0.9),  # off it, lowest Q
        (7, 1, "may = april - 1", -0.1),  # off it
        (8, 2, "print(april + may)", 1.0),  # only one child: no pair
    ]
    for nid, parent, code, q in steps:
        log.emit(ev.NodeAdded, id=nid, parent=parent, kind="step", code=code,
                 text=f"<code>\n# Step\n{code}\n<end_of_step>")
        log.emit(ev.NodeVerified, id=nid, status="ok", method="python")
        log.emit(ev.Backprop, iteration=1, path=[0, nid], reward=q, updated=[[nid, 1, q]])
    return Tree.from_events(log.events)


def test_sibling_pairs_take_two_of_each_side_by_q_and_run_each_step_after_its_prefix():
    pairs = reference_pairs(_tree(), reference(QUESTION, SOLUTION), run_code)
    # two on the path (2, 4) x the two lowest-Q off it (6, 3); 5 and 7 left out; 8 has no sibling
    assert sorted((p.chosen_id, p.rejected_id) for p in pairs) == [(2, 3), (2, 6), (4, 3), (4, 6)]
    assert all(p.pos_count == 2 and p.neg_count == 2 and p.weight == 0.25 for p in pairs)
    # the prefix is the path so far: the chosen step's values come from running after it
    assert all("april = 48" in p.prefix for p in pairs)
    assert effect(pairs[0].prefix, pairs[0].chosen, run_code) == ("", '["24"]')


def test_an_expansion_all_on_or_all_off_the_path_gives_no_pair():
    ref = Reference(computed=frozenset({24.0}), given=frozenset({48.0}))
    log = EventLog()
    log.emit(ev.RunStarted, run_id="r", algorithm="rstar", problem=QUESTION, reward="truth")
    log.emit(ev.NodeAdded, id=0, parent=None, kind="root", text=QUESTION)
    for nid, code in [(1, "may = 48 / 2"), (2, "may = 48 // 2")]:
        log.emit(ev.NodeAdded, id=nid, parent=0, kind="step", code=code,
                 text=f"<code>\n{code}\n<end_of_step>")
    assert reference_pairs(Tree.from_events(log.events), ref, run_code) == []


@pytest.mark.timeout(20)
def test_a_hostile_solution_is_read_only_up_to_its_cap_and_never_backtracks_for_long():
    from backend.train.reference_pairs import MAX_SOLUTION_CHARS

    late = "x" * MAX_SOLUTION_CHARS + "<<1+1=2>>2"
    assert reference("Q", late).computed == set()  # past the cap: not read
    nested = "<<" * 200_000 + "=" + "9" * 200_000  # no closing ">>": no annotation, and no hang
    assert reference("Q", nested).computed == set()
