"""Teacher mode's lesson over real scripted searches: phases in order, the recorded numbers in
the sentences, each sibling's UCT/PUCT arithmetic, predictions scored."""

from __future__ import annotations

import itertools
import math
import re

from backend import events as ev
from backend.steering import replay
from backend.teach import MCTS_PHASES, check, lesson
from backend.tree import Tree
from tests.search.test_steering import rstar_spec
from tests.ui.scripted_runs import scripted_engine


def _run(**changes):
    return replay(rstar_spec(**changes), scripted_engine(), []).log.events


def test_each_iteration_is_told_as_select_expand_evaluate_backpropagate_in_event_order():
    events = _run(config={"rollouts": 3, "children": 3, "max_depth": 3})
    phases = lesson(events)
    assert {p.kind for p in phases} == set(MCTS_PHASES)
    seqs = [(p.first_seq, p.last_seq) for p in phases]
    assert all(a <= b for a, b in seqs) and all(b < c for (_, b), (c, _) in itertools.pairwise(seqs))
    # every selection, expansion and backpropagation of the run has its phase
    assert sum(p.kind == "select" for p in phases) == sum(isinstance(e, ev.NodeSelected) for e in events)
    assert sum(p.kind == "backpropagate" for p in phases) == sum(isinstance(e, ev.Backprop) for e in events)
    # within an iteration: expand, evaluate, backpropagate, then select goes one level down
    first = [p.kind for p in phases if p.iteration == 0][:5]
    assert first == ["expand", "evaluate", "backpropagate", "select", "expand"]


def test_select_sentences_use_the_recorded_scores_and_the_reveal_is_the_uct_arithmetic():
    events = _run(config={"rollouts": 6, "children": 3, "max_depth": 3})
    by_seq = {e.seq: e for e in events}
    checked = 0
    for phase in lesson(events):
        if phase.kind != "select" or phase.question is None:
            continue
        e = by_seq[phase.first_seq]
        rows = {r["id"]: r for r in e.children[-1]}
        chosen = rows[phase.question.answer]
        assert phase.question.answer == e.path[-1] and phase.question.options == list(rows)
        assert f"{chosen['score']:.2f}" in phase.sentences[0]
        # the parent's N printed in each visited sibling's formula gives back its recorded U
        parent_n = Tree.from_events(events[: phase.first_seq]).nodes[phase.question.parent].n
        for line, row in zip(phase.question.reveal, rows.values(), strict=True):
            if row["n"]:
                n_parent, n = map(int, re.search(r"ln (\d+) / (\d+)\)", line).groups())
                assert (n_parent, n) == (parent_n, row["n"])
                assert math.isclose(2.0 * math.sqrt(math.log(n_parent) / n), row["u_term"], abs_tol=1e-4)
                assert f"= {row['score']:.2f}" in line
                checked += 1
    assert checked >= 2


def test_backpropagation_says_the_new_n_and_q_of_each_node():
    events = _run(config={"rollouts": 2, "children": 3, "max_depth": 3})
    by_seq = {e.seq: e for e in events}
    up = [p for p in lesson(events) if p.kind == "backpropagate" and len(p.path) > 1]
    assert up
    for phase in up:
        e = by_seq[phase.first_seq]
        assert phase.path == e.path
        for node, n, q in e.updated:
            assert f"#{int(node)} N {int(n)} Q {q:.2f}" in phase.sentences[1]


def test_cpl_selection_is_explained_with_the_puct_formula():
    from tests.search.test_cpl import engine
    from tests.test_runspec import cpl_spec

    events = replay(cpl_spec(), engine(), []).log.events
    reveals = [line for p in lesson(events) if p.question for line in p.question.reveal]
    assert reveals and all("·√" in line and "/(1+" in line for line in reveals)


def test_a_prediction_is_scored_right_or_wrong():
    phase = next(p for p in lesson(_run(config={"rollouts": 2})) if p.question)
    right, said = check(phase.question, phase.question.answer)
    assert right and said.startswith("Right")
    other = next(o for o in phase.question.options if o != phase.question.answer)
    right, said = check(phase.question, other)
    assert not right and f"#{phase.question.answer}" in said


def test_lips_phases_are_rank_pop_tactics_filter():
    log = ev.EventLog()
    log.emit(ev.RunStarted, run_id="l", algorithm="lips", problem="a>0")
    log.emit(ev.NodeAdded, id=0, parent=None, kind="goal", text="a^2 >= 0")
    log.emit(ev.NodeScored, id=0, score=1.0, source="llm_rank", detail={"popped": True})
    log.emit(ev.NodeAdded, id=1, parent=0, kind="goal", text="a*a >= 0")
    log.emit(ev.NodeVerified, id=1, status="proved", method="z3")
    log.emit(ev.IterationDone, iteration=0)
    phases = lesson(log.events)
    assert [p.kind for p in phases] == ["rank", "pop", "tactics", "filter"]
    assert phases[1].nodes == [0] and phases[2].nodes == [1] and "proved" in phases[3].sentences[0]


def test_a_real_lips_run_is_told_in_lips_phases():
    from backend.runspec import RunSpec, build_search
    from backend.teach import LIPS_PHASES

    spec = RunSpec(problem="a, b > 0; prove a^3 + b^3 >= a^2*b + a*b^2", algorithm="lips", engine=None)
    search = build_search(spec, None)
    search.run()
    phases = lesson(search.log.events)
    assert phases and {p.kind for p in phases} <= set(LIPS_PHASES)
    assert phases[0].kind == "pop" and phases[0].nodes == [0]
