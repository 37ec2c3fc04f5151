"""PPM diagnostics over hand-made event streams (backend/ppm_diagnostics.py): numbers a person
can check by eye, so each assertion says what a teacher would read off the panel."""

from __future__ import annotations

import pytest

from backend import events as ev
from backend.events import EventLog
from backend.ppm_diagnostics import (
    MIN_GAP,
    Pick,
    calibration,
    disagreements,
    last_pick,
    length_bias,
    pearson,
    pick_driver,
    ppm_line,
    ranking_accuracy,
    step_length,
)
from backend.tree import Tree

SHIPPED = "steps valued by Canopy's shipped PPM (canopy-ppm-head)"


def ppm_run(
    *,
    reference: str | None = "18",
    note: str | None = SHIPPED,
    algorithm: str = "rstar",
    ppm: str = "default",
    scores: bool = True,
) -> list[ev.Event]:
    """Root 0; steps 1 (PPM 0.8) and 2 (PPM -0.4); answers 3 (under 1: "18", PPM 0.9) and 4
    (under 2: "9", PPM -0.6); 5 a failed step under 1 (no score). Step 1 was visited 3 times
    (Q 0.2: far below its PPM 0.8), step 2 twice (Q -0.5: close to its PPM)."""
    log = EventLog(clock=iter(range(1000)).__next__)
    spec = {"problem": "16 - 7 eggs at $2?", "algorithm": algorithm, "ppm": ppm}
    log.emit(ev.RunStarted, run_id="d1", algorithm=algorithm, problem="16 - 7 eggs at $2?", spec=spec)
    log.emit(ev.NodeAdded, id=0, parent=None, kind="root", text="16 - 7 eggs at $2?")
    if note:
        log.emit(ev.Note, level="info", message=note, node=0)
    log.emit(ev.NodeAdded, id=1, parent=0, kind="step", text="# eggs left\n", code="left = 9")
    long_guess = "# a long guess, written out at length\nleft = 7"
    log.emit(ev.NodeAdded, id=2, parent=0, kind="step", text=long_guess)
    if scores:
        log.emit(ev.NodeScored, id=1, score=0.8, source="ppm")
        log.emit(ev.NodeScored, id=2, score=-0.4, source="ppm")
    rows0 = [
        {"id": 1, "n": 1, "q": 0.8, "q_term": 0.8, "u_term": 0.0, "score": 0.8},
        {"id": 2, "n": 1, "q": -0.4, "q_term": -0.4, "u_term": 0.0, "score": -0.4},
    ]
    log.emit(ev.NodeSelected, iteration=0, path=[0, 1], children=[rows0])
    log.emit(ev.NodeAdded, id=3, parent=1, kind="answer", text="print(left * 2)", terminal=True)
    log.emit(ev.NodeAdded, id=5, parent=1, kind="step", text="oops", terminal=True)
    log.emit(ev.NodeVerified, id=3, status="answered", method="python", output="18", answer="18")
    log.emit(ev.NodeVerified, id=5, status="error", method="python", output="NameError", terminal=True)
    if scores:
        log.emit(ev.NodeScored, id=3, score=0.9, source="ppm")
    log.emit(ev.Backprop, iteration=0, path=[0, 1, 3], reward=0.9, updated=[[3, 1, 0.9], [1, 3, 0.2]])
    # iteration 1 goes to step 2 although its Q is lower: exploration (fewer visits) wins it
    rows1 = [
        {"id": 1, "n": 3, "q": 0.2, "q_term": 0.2, "u_term": 0.6, "score": 0.8},
        {"id": 2, "n": 1, "q": -0.4, "q_term": -0.4, "u_term": 1.5, "score": 1.1},
    ]
    log.emit(ev.NodeSelected, iteration=1, path=[0, 2], children=[rows1])
    log.emit(ev.NodeAdded, id=4, parent=2, kind="answer", text="print(left)", terminal=True)
    log.emit(ev.NodeVerified, id=4, status="answered", method="python", output="9", answer="9")
    if scores:
        log.emit(ev.NodeScored, id=4, score=-0.6, source="ppm")
    log.emit(ev.Backprop, iteration=1, path=[0, 2, 4], reward=-0.6, updated=[[4, 1, -0.6], [2, 2, -0.5]])
    log.emit(ev.RunFinished, status="solved", answer="18", best_path=[0, 1, 3], reference=reference)
    return log.events


def tree_of(**kw) -> Tree:
    return Tree.from_events(ppm_run(**kw))


# --- PPM against Q ---------------------------------------------------------------------------


def test_disagreements_list_steps_visited_twice_or_more_by_the_size_of_the_gap():
    tree = tree_of()
    found = disagreements(tree)
    # step 1: PPM 0.8, Q 0.2 after 3 visits (gap 0.6); step 2: PPM -0.4, Q -0.5 (gap 0.1 < MIN_GAP);
    # the answers have N = 1: their Q is their PPM score, nothing to disagree about yet
    assert [(d.id, d.n) for d in found] == [(1, 3)]
    assert found[0].gap == pytest.approx(0.6) and found[0].ppm == 0.8 and found[0].q == 0.2
    everything = disagreements(tree, min_gap=0.0)
    assert [d.id for d in everything] == [1, 2]  # largest |gap| first
    assert disagreements(tree, min_gap=0.0, limit=1) == everything[:1]
    assert MIN_GAP > 0.1


def test_a_run_without_ppm_scores_has_nothing_to_disagree_about():
    assert disagreements(tree_of(scores=False), min_gap=0.0) == []


# --- why a node was picked ---------------------------------------------------------------------


def test_last_pick_is_the_latest_selection_through_the_node():
    events = ppm_run()
    pick = last_pick(events, 2)
    assert pick.iteration == 1 and pick.row["score"] == 1.1 and pick.rival["id"] == 1
    assert last_pick(events, 1).iteration == 0
    assert last_pick(events, 0) is None  # the root starts every path: nobody picks it
    assert last_pick(events, 4) is None  # an answer is never selected
    # a prefix of the run (replay) sees the pick of that moment
    assert last_pick(events[:12], 2) is None


def row(i, q_term, u_term, score=None):
    return {"id": i, "q_term": q_term, "u_term": u_term, "score": q_term + u_term if score is None else score}


@pytest.mark.parametrize(
    ("rows", "driver"),
    [
        ([row(1, 0.2, 0.6), row(2, -0.4, 1.5)], "exploration"),  # node 2 chosen below
        ([row(2, 0.9, 0.3), row(1, 0.1, 0.6)], "value"),
        ([row(2, 0.9, 0.9), row(1, 0.1, 0.6)], "both"),
        ([row(2, 0.5, 0.5), row(1, 0.5, 0.5)], "tie"),
        ([row(2, 0.5, 0.5)], "only"),
    ],
)
def test_pick_driver_says_which_term_won_against_the_best_sibling(rows, driver):
    assert pick_driver(Pick(iteration=3, chosen=2, rows=rows)) == driver


def test_pick_driver_survives_rows_from_a_hostile_file():
    rows = [{"id": 2, "q_term": "x", "u_term": None, "score": True}, {"id": 1, "score": "1"}]
    assert pick_driver(Pick(0, 2, rows)) in {"tie", "value", "exploration", "both"}


# --- calibration -------------------------------------------------------------------------------


def test_calibration_bins_graded_answers_by_ppm_score():
    cal = calibration([tree_of(), tree_of(reference=None)], bins=4)  # the second run is not graded
    assert (cal.runs, cal.terminals, cal.correct) == (1, 2, 1)
    # bins over [-1, 1] of width 0.5: "9" scored -0.6 (wrong) in the first, "18" 0.9 (right) in the last
    assert [(b.lo, b.hi, b.count, b.correct) for b in cal.bins] == [
        (-1.0, -0.5, 1, 0),
        (-0.5, 0.0, 0, 0),
        (0.0, 0.5, 0, 0),
        (0.5, 1.0, 1, 1),
    ]
    assert cal.bins[0].share == 0.0 and cal.bins[1].share is None and cal.bins[3].share == 1.0
    assert cal.ranking == 1.0  # the right answer outscored the wrong one


def test_calibration_grades_with_answer_equivalence_and_clamps_scores():
    # "18.00" is the same answer as "18" (backend/verify/answers.answers_equal)
    graded = calibration([tree_of(reference="18.00")], bins=2)
    assert graded.correct == 1
    # a score of exactly 1 is in the last bin; scores outside [lo, hi] go to the end bins
    narrow = calibration([tree_of()], bins=2, lo=-0.5, hi=0.5, equal=lambda a, b: a == b)
    assert [b.count for b in narrow.bins] == [1, 1]


def test_a_score_on_a_bin_edge_opens_that_bin_whatever_binary_rounding_does():
    from backend.ppm_diagnostics import bin_index

    # (0.6 - -1) // 0.2 is 7.0 in floating point: 0.6 would land in [0.4, 0.6)
    assert [bin_index(s, 10, -1.0, 1.0) for s in (-1.0, -0.8, 0.6, 0.8, 0.99, 1.0)] == [0, 1, 8, 9, 9, 9]
    assert bin_index(-3.0, 10, -1.0, 1.0) == 0 and bin_index(7.0, 10, -1.0, 1.0) == 9


def test_ranking_accuracy_counts_ties_half_and_needs_both_kinds():
    assert ranking_accuracy([(0.9, True), (0.1, False), (0.5, False)]) == 1.0
    assert ranking_accuracy([(0.1, True), (0.9, False)]) == 0.0
    assert ranking_accuracy([(0.5, True), (0.5, False)]) == 0.5
    assert ranking_accuracy([(0.9, True), (0.3, False), (0.95, False)]) == 0.5
    assert ranking_accuracy([(0.9, True)]) is None


# --- length bias -------------------------------------------------------------------------------


def test_step_length_is_what_the_ppm_read():
    tree = tree_of()
    assert step_length(tree.nodes[1]) == len("# eggs left\n") + len("left = 9")  # code apart: added
    assert step_length(tree.nodes[2]) == len("# a long guess, written out at length\nleft = 7")


def test_length_bias_pairs_length_with_score_and_gives_pearson_r():
    lb = length_bias([tree_of()])
    assert sorted(lb.points) == sorted([(20, 0.8), (46, -0.4), (15, 0.9), (11, -0.6)])
    assert lb.r == pytest.approx(pearson([20, 46, 15, 11], [0.8, -0.4, 0.9, -0.6]))
    assert pearson([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert pearson([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert pearson([1, 2, 3], [5, 5, 5]) is None and pearson([1, 2], [1, 2]) is None
    assert length_bias([tree_of(scores=False)]).r is None


# --- which PPM ---------------------------------------------------------------------------------


def test_ppm_line_names_the_ppm_or_says_why_there_is_none():
    assert ppm_line(tree_of()) == "Canopy's shipped PPM (canopy-ppm-head); 4 steps scored"
    why = "no PPM: the shipped PPM values the embedded model's steps on the llamacpp engine"
    assert ppm_line(tree_of(note=why, scores=False)).startswith("none (the shipped PPM values")
    chosen = ppm_line(tree_of(note=None, ppm="none", scores=False))
    assert chosen.startswith("none (chosen for this run)")
    assert ppm_line(tree_of(note=None), unnamed="a test PPM") == "a test PPM; 4 steps scored"
    assert ppm_line(tree_of(algorithm="cpl", note=None, scores=False)) is None  # CPL takes no PPM
    # a run's first moments, before its root note: not "a PPM given to the search" when none ships
    assert ppm_line(tree_of(note=None, scores=False)).startswith("not known yet")
