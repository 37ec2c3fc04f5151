"""bench/ppm_in_tree.py: how well a search's own PPM told its right traces from its wrong ones,
read off real scripted PPM-guided searches and a hand-made tree whose numbers are worked by hand."""

from __future__ import annotations

from backend import events as ev
from backend.events import EventLog
from backend.tree import Tree
from bench.ppm_in_tree import Separation, main, separate, table
from tests.search.test_ppm_mcts import ppm, run


def test_a_ppm_that_prefers_the_wrong_final_scores_zero_and_one_that_prefers_the_right_scores_one():
    # the scripted problem's finals print 10 (right) and 12 (wrong) after the same first step
    wrong_first, right_first = Separation(), Separation()
    separate(run(ppm())[1], wrong_first, reference="10")  # rule PPM: right final -0.2, wrong 0.9
    separate(run(ppm(**{"print(apples - 2)": 0.9, "print(apples)": -0.2}))[1], right_first, reference="10")
    for s in (wrong_first, right_first):
        assert (s.trees, s.both, s.skipped) == (1, 1, 0) and s.pairs[0] == s.pairs[1] == s.pairs[2] > 0
    assert wrong_first.accuracy(0) == wrong_first.accuracy(1) == 0.0
    assert right_first.accuracy(0) == right_first.accuracy(1) == 1.0
    assert wrong_first.accuracy(2) is not None  # the scripted engine's steps carry log-probs too


def test_a_search_without_a_ppm_or_a_known_answer_is_left_out_and_counted():
    no_ppm = Separation()
    separate(run(None, reward="vote")[1], no_ppm, reference="10")
    no_answer = Separation()
    separate(run(ppm())[1], no_answer)  # not a truth run: it recorded no known answer
    for s in (no_ppm, no_answer):
        assert (s.trees, s.both, s.skipped, s.pairs) == (1, 0, 1, (0, 0, 0))


def _hand_made_events() -> list[ev.Event]:
    """root -> 1 (PPM 0.9, log-prob -0.1) -> 3 answers "7" (0.8, -0.3)
            -> 2 (0.2, -0.5) -> 4 answers "9" (0.1, -0.2)
            -> 5 answers "9" (0.82, -0.9)          graded against 7"""
    log = EventLog(clock=iter(range(1000)).__next__)
    log.emit(ev.RunStarted, run_id="r", algorithm="rstar", problem="p")
    log.emit(ev.NodeAdded, id=0, parent=None, kind="root", text="p")
    for nid, parent, ppm_score, lp, answer in ((1, 0, 0.9, -0.1, None), (2, 0, 0.2, -0.5, None),
                                               (3, 1, 0.8, -0.3, "7"), (4, 2, 0.1, -0.2, "9"),
                                               (5, 0, 0.82, -0.9, "9")):
        log.emit(ev.NodeAdded, id=nid, parent=parent, kind="answer" if answer else "step",
                 terminal=answer is not None, meta={"mean_logprob": lp})
        if answer:
            log.emit(ev.NodeVerified, id=nid, status="answered", method="python", answer=answer)
        log.emit(ev.NodeScored, id=nid, score=ppm_score, source="ppm")
    log.emit(ev.RunFinished, status="solved", answer="9", reference="7", correct=False)
    return log.events


def _hand_made() -> Tree:
    return Tree.from_events(_hand_made_events())


def test_the_three_measures_by_hand():
    s = Separation()
    separate(_hand_made(), s)
    # one right trace (1, 3) against two wrong ones (2, 4) and (5)
    assert (s.both, s.pairs) == (1, (2, 2, 2))
    assert s.accuracy(0) == 0.5  # answer step 0.8: beats 0.1, loses to 0.82
    assert s.accuracy(1) == 1.0  # mean 0.85: beats 0.15 and 0.82
    assert s.accuracy(2) == 1.0  # mean log-prob -0.2: beats -0.35 and -0.9
    text = table({"r": s})
    assert "| r | 1 | 1 | 0.500 (2 pairs) | 1.000 (2 pairs) | 1.000 (2 pairs) |" in text


def test_the_command_reads_a_folder_of_kept_trees(tmp_path, capsys):
    import gzip

    tree_events = _hand_made_events()
    with gzip.open(tmp_path / "a.jsonl.gz", "wt", encoding="utf-8") as fh:
        ev.write_jsonl(tree_events, fh)
    main([str(tmp_path)])
    out = capsys.readouterr().out
    assert f"| {tmp_path} | 1 | 1 | 0.500 (2 pairs) |" in out
