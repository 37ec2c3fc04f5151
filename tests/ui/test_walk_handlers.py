"""What a new user's walk through the page found (2026-12-03), at the handler level
(tests/ui/test_browser_walk.py has what only the page shows)."""

from __future__ import annotations

import gradio as gr

from tests.ui import test_vocabulary
from ui.solve import SolveHandlers

# test_vocabulary's module fixtures: a real LIPS proof and a CPL run
cpl_events, lips_events = test_vocabulary.cpl_events, test_vocabulary.lips_events


def test_typing_ones_own_problem_empties_the_known_answer_a_picked_example_filled(services):
    """A GSM8K pick filled "3"; the user then typed an inequality for LIPS and its proof read
    "✗ wrong (known 3)". The known answer goes with the example; one typed with no example
    picked stays."""
    hs = SolveHandlers(services, [])
    example, reference = hs.unpick("gsm8k/1")
    assert example is None and reference == ""
    example, reference = hs.unpick(None)
    assert example is None and isinstance(reference, type(gr.skip()))


def test_the_votes_are_a_paragraph_of_their_own_under_the_final_answer():
    """One newline ran "Votes: 6: 16, 3: 3" on after "known answer 3" in the rendered panel."""
    import markdown_it

    from backend.tree import Tree
    from tests.ui.test_figure import small_run
    from ui.inspector import answer_panel

    html = markdown_it.MarkdownIt().render(answer_panel(Tree.from_events(small_run())))
    assert "<p>Votes: 2: " in html


def test_colour_by_offers_only_what_means_something_for_the_algorithm(lips_events, cpl_events):
    """A LIPS run offered "Colour by Q" (and PPM, visits): its goals have none of them (N and Q
    stay 0, no PPM). LIPS is coloured by depth unless the user picks a cost; CPL runs no code,
    so it has no execution time; rStar keeps every mode."""
    from backend.tree import Tree
    from tests.factories import small_run
    from ui.figure import default_color_mode, tree_figure

    lips = tree_figure(Tree.from_events(lips_events))
    assert list(lips["colors"]) == ["depth", "tokens", "gen_ms", "verify_ms"]
    assert default_color_mode(lips) == "depth"
    cpl = tree_figure(Tree.from_events(cpl_events))
    assert "exec_ms" not in cpl["colors"] and {"q", "ppm", "visits"} <= set(cpl["colors"])
    assert default_color_mode(cpl) == "q"
    rstar = tree_figure(Tree.from_events(small_run()))
    assert list(rstar["colors"]) == ["q", "ppm", "visits", "depth", "tokens", "gen_ms", "exec_ms",
                                     "verify_ms"]


def test_teacher_mode_names_phases_by_the_rollout_not_by_a_number_that_runs_backwards(services):
    """The lesson began "expand (phase 2 of 4)", then "verify (phase 3 of 4)", then "select (phase
    1 of 4)": the numbers ran backwards. Phases now say where they are in the rollout (down, back
    up), and where a rollout starts the lesson says what one is and why the first one expands."""
    from tests.ui.test_teach_steer_handlers import _events
    from ui.teach import ROLLOUT, TeachHandlers

    for e in _events():
        services.store.append("taught", e)
    teach = TeachHandlers(services)
    texts, progress = [], None
    for _ in range(6):
        _, text, _, progress, _ = teach.next("taught", progress, False)
        texts.append(text)
    assert not any(" of 4)" in t for t in texts), texts
    assert texts[0].startswith("**Iteration 1 · expand ↓") and ROLLOUT in texts[0]
    assert ROLLOUT not in texts[1]  # once per rollout
    assert any("backpropagate ↑" in t for t in texts) and any("select ↓" in t for t in texts)
    backprop = next(k for k, t in enumerate(texts) if "backpropagate ↑" in t)
    assert ROLLOUT in texts[backprop + 1]  # after a backpropagation a rollout starts again


def test_the_rollout_note_comes_after_the_last_of_several_backpropagations():
    """CPL backs up each failed plan step at once: two backpropagations in a row, and the second
    was told as a new rollout."""
    from backend.teach import Phase
    from ui.teach import _starts_rollout

    kinds = ["expand", "evaluate", "backpropagate", "backpropagate", "select", "rank"]
    phases = [Phase(k, 0, i, i, []) for i, k in enumerate(kinds)]
    assert [_starts_rollout(phases, i) for i in range(len(kinds))] == [True, False, False, False, True, False]


def test_a_fork_is_graded_by_its_parents_known_answer_and_clears_the_inspector(services):
    """Forking a run graded against 26 gave an "ungraded" fork (the stored spec of a non-truth
    run holds no known answer), and the inspector went on showing the parent's node #2 beside
    the fork's tree."""
    from tests.ui.scripted_runs import PROBLEM
    from ui import handlers as h
    from ui.steering import SteerHandlers

    controls = h.algorithm_controls(services.algorithm_names())
    values = [None] * len(controls)
    run_id = h.start_run(services, controls, PROBLEM, "rstar", "vote", "18", 0, values)
    assert services.runs.get(run_id).wait(60)
    node = next(k for k in services.trees.view(run_id, lambda t: t.root.children))
    new_id, _, said, title, text, *_ = SteerHandlers(services).fork(run_id, node, 1)
    assert f"#{node}" in said and new_id != run_id
    run = services.runs.get(new_id)
    assert run.reference == "18" and run.wait(60)
    assert services.trees.view(new_id, lambda t: t.finished.reference) == "18"
    assert title.startswith("Forked run") and "Click a node of its tree" in title and text == ""


def test_a_lips_run_has_no_answer_clusters_and_the_panel_says_why(lips_events, services):
    """A LIPS proof drew one "proved" bar of height 0 (weighted by visits, which LIPS goals do
    not have); the panel says why there is nothing to cluster instead."""
    import json

    from backend.tree import Tree
    from ui.clusters import LIPS_NOTE, ClusterHandlers, clusters_value

    value = clusters_value(Tree.from_events(lips_events), "proof")
    assert value["clusters"] == [] and value["empty"] == LIPS_NOTE
    run_id = lips_events[0].run_id
    for e in lips_events:
        services.store.append(run_id, e)
    assert json.loads(ClusterHandlers(services).value(run_id))["empty"] == LIPS_NOTE  # the live panel's way


def test_picking_an_inequality_puts_lips_on_the_form_and_a_word_problem_takes_it_off(services):
    """An MO-INT example picked while rStar-Math was chosen ran rStar on an inequality."""
    hs = SolveHandlers(services, [])
    skip = type(gr.skip())
    ineq = services.problems("mo-int", 1)[0]
    problem, answer, algorithm = hs.pick("mo-int", ineq.id, "rstar")
    assert problem == ineq.question and answer == "proved" and algorithm == "lips"
    assert isinstance(hs.pick("mo-int", ineq.id, "lips")[2], skip)  # already there
    word = services.problems("gsm8k", 1)[0]
    assert hs.pick("gsm8k", word.id, "lips")[2] == services.default_algorithm == "rstar"
    assert isinstance(hs.pick("gsm8k", word.id, "sc")[2], skip)  # the user's own choice stays


def test_a_lips_lesson_counts_pops_not_iterations(lips_events, services):
    """LIPS takes goals off a queue (its status line counts pops); its lesson said "Iteration 1"."""
    from ui.teach import TeachHandlers

    run_id = lips_events[0].run_id
    for e in lips_events:
        services.store.append(run_id, e)
    _, text, *_ = TeachHandlers(services).next(run_id, None, False)
    assert text.startswith("**Pop 1 · ") and "Iteration" not in text


def test_step_on_an_ended_run_keeps_its_status_and_says_it_has_ended(lips_events, services):
    """Step or Pause on a reopened, ended run replaced its status line ("finished (proved) ...")
    with "Run X is not running in this server"."""
    from ui.handlers import control_run

    run_id = lips_events[0].run_id
    for e in lips_events:
        services.store.append(run_id, e)
    said = control_run(services, run_id, "step")
    assert "finished (proved)" in said and "This run has ended" in said
    assert "is not running" in control_run(services, "no-such-run", "step")


def test_the_training_tab_lists_a_relative_runs_dir_as_its_box_shows_it(services, tmp_path, monkeypatch):
    """With the default --runs-dir runs (relative) the box shows "runs", which was read as
    runs/runs: the tab opened on "⚠ No folder runs on the server" beside an existing ./runs."""
    from pathlib import Path

    from ui.training import TrainingHandlers
    from ui.training_runs import TrainingSettings

    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    services.training = TrainingSettings(Path("runs"), anywhere=True)
    folder, _, message = TrainingHandlers(services).list_runs("runs")  # the box's value on open
    assert folder == (tmp_path / "runs").resolve() and "No evolve run in runs yet" in message
    (tmp_path / "runs").rmdir()
    _, _, message = TrainingHandlers(services).list_runs("runs")
    assert "canopy evolve runs/NAME" in message  # the hint, since it is the runs folder itself


def test_a_deleted_run_leaves_the_history_replay_view(services):
    """History's Delete said "Deleted run X." and kept drawing X's tree, answer and caption."""
    from tests.ui.scripted_runs import PROBLEM
    from ui import handlers as h
    from ui.history import HistoryHandlers

    controls = h.algorithm_controls(services.algorithm_names())
    run_id = h.start_run(services, controls, PROBLEM, "greedy", "vote", "", 0, [None] * len(controls))
    assert services.runs.get(run_id).wait(20)
    hs = HistoryHandlers(services)
    _, _, caption, tree, _, _, answer, *_ = hs.open(run_id)
    assert caption and tree and answer
    message, _, opened = hs.delete(run_id, "", "", "")
    assert opened is None and "Deleted" in message
    _, caption, tree, _, stats, answer, title, *_ = hs.after_delete(opened)
    assert (tree, stats, answer) == ("", "", "") and run_id not in caption
    assert title.startswith("Click a node")
    assert all(isinstance(v, type(gr.skip())) for v in hs.after_delete("still-open"))  # a refused delete


def test_the_inspector_shows_code_boxes_only_for_a_node_with_code_or_output():
    """The first page (and a new run's inspector) showed two big empty code boxes under "Click a
    node in the tree to inspect it"."""
    from ui.inspector import NodeView
    from ui.solve import Inspector

    def boxes(view):
        _, _, code, output, *_ = Inspector.values(view)
        return code["visible"], output["visible"]

    assert boxes(NodeView()) == (False, False)  # nothing clicked yet
    assert boxes(NodeView(code="x = 1")) == (True, True)
    assert boxes(NodeView(output="Traceback ...")) == (True, True)
    assert boxes(NodeView(code="x = 1", runs_code=False)) == (False, False)


def test_a_lips_run_takes_only_proved_or_refuted_as_its_known_answer(services):
    """A known answer of 3 graded a LIPS proof "✗ wrong (known 3)"; the Run says what LIPS takes."""
    import pytest

    from ui import handlers as h

    controls = h.algorithm_controls(services.algorithm_names())
    values = [None] * len(controls)
    problem = "a,b > 0; prove a^2+b^2 >= 2*a*b"
    with pytest.raises(h.UserFacingError, match="known answer is proved, refuted or empty"):
        h.start_run(services, controls, problem, "lips", "auto", "3", 0, values)
    run_id = h.start_run(services, controls, problem, "lips", "auto", "Proved", 0, values)
    assert services.runs.get(run_id).wait(60)
    assert services.trees.view(run_id, lambda t: t.finished.correct) is True


def test_next_says_at_once_that_the_model_is_working_when_it_must_step_the_run(services):
    """Next, at the end of what a live run has done, steps it and waits up to 30 s for the
    iteration with nothing on the page; the lesson now says the model is working first."""
    from tests.ui.scripted_runs import PROBLEM
    from ui import handlers as h
    from ui.teach import TeachHandlers

    controls = h.algorithm_controls(services.algorithm_names())
    values = [None] * len(controls)
    run_id = h.start_run(services, controls, PROBLEM, "rstar", "vote", "", 0, values, paused=True)
    teach = TeachHandlers(services)
    _, _, _, progress, _ = teach.next(run_id, None, False)  # the root's expansion, there before any rollout
    assert "the model is working" in teach.waiting(run_id, progress)  # the next phase needs a step
    _, _, _, progress, _ = teach.next(run_id, progress, False)  # stepped: a rollout's phases are there
    assert isinstance(teach.waiting(run_id, progress), type(gr.skip()))
    services.runs.get(run_id).stop()
    assert services.runs.get(run_id).wait(10)


def test_the_examples_picker_shows_each_problem_not_its_answer(services):
    """Every label read "gsm8k/0: Janet's ducks … [answer: 18]": a student saw the answer before
    solving. The label is the problem; picking it still fills the known answer, which grades the run."""
    from backend.problems import load_problems

    for dataset in services.datasets():
        problems = load_problems(dataset, 60)
        labels = [label for label, _ in SolveHandlers(services, []).examples(dataset).choices]
        assert len(labels) == len(problems)
        for label, p in zip(labels, problems, strict=True):
            assert "[answer:" not in label and p.id in label
            if p.answer and p.answer not in p.question:
                assert not label.rstrip().endswith(p.answer), label
    problem, reference, _ = SolveHandlers(services, []).pick("gsm8k", "gsm8k/0")
    assert "Janet" in problem and reference == "18"


def test_the_ppm_line_and_notes_show_code_in_a_code_font_not_with_backticks(services):
    """The status's PPM line read "none (no PPM ships in … (build one with `canopy build-ppm`))"
    with its backticks: the backend writes commands as Markdown code spans and the page escaped
    them. They are drawn as code; everything else in the message stays literal text."""
    import markdown_it

    from backend import events as ev
    from backend.tree import Tree
    from tests.factories import small_run
    from ui import handlers as h

    events = small_run()
    last = events[-1]
    said = "no PPM: no PPM ships in /x/assets/ppm (build one with `canopy build-ppm`) *not bold* <b>"
    notes = [ev.Note(seq=last.seq + 1, t=last.t, level="info", message=said),
             ev.Note(seq=last.seq + 2, t=last.t, level="warning",
                     message="try `canopy runs` then _x_ `<img src=x>`")]
    tree = Tree.from_events([*events, *notes])
    html = markdown_it.MarkdownIt().render(h.run_status(services, "r1", tree))
    assert "`" not in html and "<b>" not in html and "<em>" not in html and "<img" not in html
    assert "build one with <code>canopy build-ppm</code>" in html
    assert "try <code>canopy runs</code> then _x_" in html
    assert html.count("<code>") == 4  # the run id too


def test_counts_of_one_are_singular_in_the_status_stats_and_captions(services):
    """The status of a one-iteration run read "1 iterations"; a count of one is singular wherever
    the page counts (status, statistics, the History caption, find, the words helper)."""
    from backend import events as ev
    from backend.tree import Tree
    from tests.factories import small_run
    from ui import handlers as h
    from ui.bigtree import find
    from ui.inspector import stats_panel
    from ui.words import count

    tree = Tree.from_events(small_run())
    assert len(tree.iterations) == 1
    assert "· 1 iteration · 4 nodes" in h.run_status(services, "r1", tree)
    assert "**1** iteration ·" in stats_panel(tree)
    one = ev.Backprop(seq=1, t=0.0, iteration=1, path=[0], reward=1.0, updated=[[0, 1, 1.0]])
    assert "updated N and Q of 1 node (" in h._what_happened(one)
    for e in small_run():
        services.store.append("r1", e)
    said, _ = find(services, "r1", "guess")
    assert said.startswith("1 node matches")
    assert [count(k, "node") for k in (0, 1, 2)] == ["0 nodes", "1 node", "2 nodes"]
    assert count(1, "leaf") == "1 leaf" and count(3, "leaf") == "3 leaves"
    assert count(1.0, "token") == "1 token"


def test_run_while_the_tabs_run_is_going_stops_that_run_and_says_so(services):
    """Run pressed while the tab's run was going started a second search; the first went on
    unwatched, eating the CPU. Run now replaces it: the old run is stopped (it ends "stopped",
    History keeps it) and the new run's status says so. One tab never has two live searches,
    even when the page lost its run id; other tabs' runs are not touched, even one this tab shows
    (a shared link); a Run refused for bad input stops nothing."""
    from types import SimpleNamespace

    from backend.tree import Tree
    from tests.ui.test_handlers import ENDLESS, controls_and_defaults, pace

    controls, values = controls_and_defaults("rstar")
    values = [ENDLESS.get(c.name, v) for c, v in zip(controls, values, strict=True)]
    pace(services, 0.02)
    hs = SolveHandlers(services, controls)
    tab, other_tab = SimpleNamespace(session_hash="tab-1"), SimpleNamespace(session_hash="tab-2")

    def run(request, old, problem="What is 16 - 7?"):
        return hs.start(request, old, problem, "rstar", "vote", "", 0, *values)

    try:
        first = run(tab, None)[0]
        assert services.runs.get(first).state == "running"
        second, status = run(tab, first, "What is 9 + 9?")[:2]
        assert second and second != first
        assert services.runs.get(first).wait(10)
        assert Tree.from_events(services.runs.events(first)).finished.status == "stopped"
        assert services.runs.live_ids() == [second]
        assert first in status and "stopped" in status and "replaced" in status
        assert first in h_status(services, second)  # and it stays said while the new run streams
        third = run(tab, None)[0]  # the page's run id lost (a double Run): still one search per tab
        services.runs.get(second).wait(10)
        assert services.runs.live_ids() == [third]
        other = run(other_tab, None)[0]
        assert sorted(services.runs.live_ids()) == sorted([third, other])
        # a tab showing another tab's run (a shared ?run= link) does not stop it by pressing Run
        watcher = SimpleNamespace(session_hash="tab-3")
        own = run(watcher, other, "What is 2 + 2?")[0]
        assert sorted(services.runs.live_ids()) == sorted([third, other, own])
        services.runs.get(own).stop()
        services.runs.get(own).wait(10)
        refused = run(tab, third, "   ")
        assert refused[0] is None and "Run not started" in refused[1]
        assert sorted(services.runs.live_ids()) == sorted([third, other])
    finally:
        services.runs.shutdown()


def h_status(services, run_id):
    from ui.handlers import run_status

    return run_status(services, run_id)
