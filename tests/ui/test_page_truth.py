"""Issue 15 ("the page tells the truth for every algorithm"), the items a handler test covers:
graded answer nodes and the finished status, timing, the selection table's words, import,
the replay caption, the history's columns."""

from __future__ import annotations

import time

from tests.ui.server import pace
from ui import handlers as h
from ui.figure import STATUS_STYLE, STYLES, node_table

SMALL = {"rollouts": 3, "children": 3, "max_depth": 3}
STYLE = {name: STYLES.index(STATUS_STYLE[name]) for name in ("correct", "incorrect", "answered")}


def start(services, reference="", *, paused=False, algorithm="rstar", **overrides):
    """A run from the page's handlers with the algorithm's default controls and ``overrides``."""
    pace(services, 0.0)
    controls = h.algorithm_controls([algorithm])
    info = h.algorithm_info(algorithm)
    values = h.preset_values(algorithm, info["default_preset"], controls)
    values = [overrides.get(c.name, v) for c, v in zip(controls, values, strict=True)]
    return h.start_run(
        services, controls, "Janet's eggs", algorithm, "vote", reference, 0, values, paused=paused
    )


def answer_styles(fig):
    """{answer style index} of the figure's nodes that state an answer (ids from the tree)."""
    return {row["style"] for row in node_table(fig).values()} & set(STYLE.values())


def step_until_answer(services, run_id, timeout=30):
    """Step a paused run until a node states an answer; the run stays live."""
    run = services.runs.get(run_id)
    deadline = time.monotonic() + timeout
    while not services.trees.view(run_id, lambda t: t.answer_nodes()):
        assert time.monotonic() < deadline, "no answer node appeared"
        if run.state == "paused":
            run.step()
        time.sleep(0.05)


# --- item 4: answers graded in the tree, the status never says "solved" beside "wrong" -----


def test_answer_nodes_are_graded_live_when_the_run_has_a_known_answer(services):
    run_id = start(services, "18", paused=True, **SMALL)
    step_until_answer(services, run_id)
    snap = h.snapshot(services, run_id)
    assert services.trees.view(run_id, lambda t: t.finished) is None  # still live
    styles = answer_styles(snap.tree)
    assert styles and styles <= {STYLE["correct"], STYLE["incorrect"]}  # no "answer (ungraded)"
    services.runs.get(run_id).stop()


def test_answers_are_graded_finished_in_the_inspector_and_the_replay(services):
    run_id = start(services, "18", **SMALL)
    assert services.runs.get(run_id).wait(30)
    tree = services.trees.view(run_id, lambda t: t)
    right = [n.id for n in tree.answer_nodes() if n.answer == "18"]
    wrong = [n.id for n in tree.answer_nodes() if n.answer != "18"]
    assert right and wrong, "the scripted run states 18 and 9"
    table = node_table(h.snapshot(services, run_id).tree)
    assert {table[i]["style"] for i in right} == {STYLE["correct"]}
    assert {table[i]["style"] for i in wrong} == {STYLE["incorrect"]}
    assert "answer correct" in h.inspect(services, run_id, right[0]).title
    assert "answer wrong" in h.inspect(services, run_id, wrong[0]).title
    n = h.run_length(services, run_id)
    replayed = node_table(h.replay(services, run_id, n - 2).tree)  # before run_finished
    assert replayed[wrong[0]]["style"] == STYLE["incorrect"]


def test_without_a_known_answer_answers_stay_ungraded(services):
    run_id = start(services, "", **SMALL)
    assert services.runs.get(run_id).wait(30)
    snap = h.snapshot(services, run_id)
    assert answer_styles(snap.tree) == {STYLE["answered"]}
    assert "finished (solved)" in snap.status


def test_a_wrong_answer_is_not_called_solved(services):
    run_id = start(services, "10", **SMALL)
    assert services.runs.get(run_id).wait(30)
    snap = h.snapshot(services, run_id)
    assert "solved" not in snap.status and "solved" not in snap.answer.split("\n")[0]
    assert "✗ wrong (known 10)" in snap.status and "finished · answer " in snap.status


def test_a_right_answer_says_correct(services):
    run_id = start(services, "18", **SMALL)
    assert services.runs.get(run_id).wait(30)
    answer = services.trees.view(run_id, lambda t: t.finished.answer)
    status = h.snapshot(services, run_id).status
    expect = "✓ correct" if answer == "18" else "✗ wrong (known 18)"
    assert f"finished · answer {answer} · {expect}" in status


# --- item 8: a refresh puts the run's form back ----------------------------------------------


def test_the_form_of_a_run_comes_from_its_runspec_and_its_known_answer(services):
    controls = h.algorithm_controls(services.algorithm_names())
    run_id = start(services, "18", paused=True, children=2, rollouts=5)
    live = h.run_form(services, run_id, controls)
    assert (live.problem, live.algorithm, live.reward, live.seed) == ("Janet's eggs", "rstar", "vote", 0)
    assert live.reference == "18"  # not in a vote run's spec: the live Run holds it
    mine = [c.name for c in controls if c.algorithm == "rstar"]
    settings = dict(zip(mine, live.values, strict=True))
    assert settings["children"] == 2 and settings["rollouts"] == 5
    services.runs.get(run_id).stop()
    assert services.runs.get(run_id).wait(30)
    assert h.run_form(services, run_id, controls).reference == "18"  # run_finished has it now


# --- item 7: live timing -----------------------------------------------------------------------


def timing(panel):
    """{'execution': s, 'verification': s} as the stats panel prints them."""
    import re

    return {
        k: float(v) for v, k in [m[::-1] for m in re.findall(r"(execution|verification) ([\d.]+) s", panel)]
    }


def test_live_stats_file_sandbox_time_under_execution():
    from backend import events as ev
    from backend.tree import Tree
    from ui.inspector import stats_panel

    log = ev.EventLog()
    log.emit(ev.RunStarted, run_id="t", algorithm="rstar", problem="p")
    log.emit(ev.NodeAdded, id=0, parent=None, kind="root")
    log.emit(ev.NodeAdded, id=1, parent=0, kind="step", code="print(1)")
    log.emit(ev.NodeVerified, id=1, status="ok", method="python", ms=2500.0)
    log.emit(ev.NodeAdded, id=2, parent=0, kind="answer")
    log.emit(ev.NodeVerified, id=2, status="answered", method="answer", ms=400.0, answer="1")
    live = timing(stats_panel(Tree.from_events(log.after(-1))))
    assert live == {"execution": 2.5, "verification": 0.4}
    log.emit(ev.RunFinished, status="solved", stats={"exec_s": 3.1, "verify_s": 0.2})
    assert timing(stats_panel(Tree.from_events(log.after(-1)))) == {"execution": 3.1, "verification": 0.2}


# --- item 9: the selection table's words --------------------------------------------------------


def test_selection_rows_explain_zero_scores_and_the_root_gets_a_sentence(services):
    from ui.inspector import ROOT_NOTE, UNVISITED_NOTE, uct_table

    run_id = start(services, **SMALL)
    assert services.runs.get(run_id).wait(30)
    tree = services.trees.view(run_id, lambda t: t)
    pick = next(n for n in tree.nodes.values() if n.selection and any(r["n"] == 0 for r in n.selection))
    view = h.inspect(services, run_id, pick.id)
    assert UNVISITED_NOTE in view.uct_note and uct_table(view.uct).count(" ◀") == 1
    root = h.inspect(services, run_id, tree.root_id)
    assert root.uct == [] and root.uct_note == ROOT_NOTE and uct_table(root.uct) == ""


# --- item 12: import shows the imported run; the same file twice is not a silent duplicate ------


def test_import_opens_the_run_and_a_second_import_says_it_is_there(services, tmp_path):
    import json
    import shutil
    import uuid
    from pathlib import Path

    from backend.export import export_run
    from ui.history import HistoryHandlers, upload_folder

    run_id = start(services, **SMALL)
    assert services.runs.get(run_id).wait(30)
    folder = Path(upload_folder()) / f"canopy-test-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True)
    try:
        export_run(services.store, run_id, folder / "run.jsonl")
        lines = (folder / "run.jsonl").read_text().splitlines()
        started = json.loads(lines[1])
        started["run_id"] = "0123456789ab"  # a run from elsewhere: not in this history yet
        (folder / "other.jsonl").write_text("\n".join([lines[0], json.dumps(started), *lines[2:]]) + "\n")
        hs = HistoryHandlers(services)
        first = hs.import_file(str(folder / "other.jsonl"), "", "", "")
        assert first[0].startswith("Imported as run") and first[2] == "0123456789ab"
        assert first[3] == "0123456789ab" and json.loads(first[6])["count"] > 1  # opened and drawn
        count = len(services.store.list_runs())
        again = hs.import_file(str(folder / "other.jsonl"), "", "", "")
        assert "already in the history" in again[0] and again[3] == "0123456789ab"
        mine = hs.import_file(str(folder / "run.jsonl"), "", "", "")  # exported from here
        assert "already in the history" in mine[0] and mine[3] == run_id
        assert len(services.store.list_runs()) == count  # no silent duplicate
    finally:
        shutil.rmtree(folder)


# --- item 13: the replay caption, the selected path, the history's columns -----------------------


def test_replay_caption_is_words_and_a_selection_shows_its_path(services):
    import re

    from backend import events as ev
    from ui.escape import DOLLAR

    run_id = start(services, "18", **SMALL)
    assert services.runs.get(run_id).wait(30)
    events = services.runs.events(run_id)
    for e in events:
        caption = h.event_caption(services, run_id, e.seq).replace(DOLLAR, "$")
        assert caption.startswith(f"event {e.seq} at ") and not re.search(r"[{}]|\w=", caption), caption
    chosen = next(e for e in events if isinstance(e, ev.NodeSelected) and len(e.path) > 2)
    caption = h.event_caption(services, run_id, chosen.seq)
    assert "selection walked " + " → ".join(f"#{i}" for i in chosen.path) in caption
    assert h.replay(services, run_id, chosen.seq).tree["path"] == list(chosen.path)
    assert h.replay(services, run_id, chosen.seq + 1).tree["path"] == []  # only at the selection
    last = h.event_caption(services, run_id, events[-1].seq)
    assert "run&#95;finished" in last and ("known 18" in last or "✓ correct" in last), last


def test_history_rows_keep_the_problem_and_cut_the_model_name(services):
    services.engine.model = "/very/long/path/to/models/qwen2.5-coder-0.5b-instruct-q4_k_m-some-more.gguf"
    problem = "A problem statement that is longer than seventy characters, so the old list cut it short."
    pace(services, 0.0)
    controls = h.algorithm_controls(["rstar"])
    values = h.preset_values("rstar", "cpu-demo", controls)
    values = [SMALL.get(c.name, v) for c, v in zip(controls, values, strict=True)]
    run_id = h.start_run(services, controls, problem, "rstar", "vote", "", 0, values)
    assert services.runs.get(run_id).wait(30)
    row = dict(zip(h.HISTORY_HEADERS, h.history_rows(services)[0], strict=True))
    assert row["problem"] == problem and len(row["model"]) <= 24 and row["model"].endswith("…")



def test_a_wrong_graded_run_is_never_called_solved_and_an_ungraded_one_shows_its_answer(services):
    """History's status column and the status line (a browser walk saw "solved" beside correct
    "no", and "finished (solved)" with no answer for a run without a known answer)."""
    pace(services, 0.0)
    controls = h.algorithm_controls(["rstar"])
    values = h.preset_values("rstar", "cpu-demo", controls)
    values = [SMALL.get(c.name, v) for c, v in zip(controls, values, strict=True)]
    wrong = h.start_run(services, controls, "A graded problem", "rstar", "vote", "-999", 0, values)
    assert services.runs.get(wrong).wait(30)
    row = dict(zip(h.HISTORY_HEADERS, h.history_rows(services)[0], strict=True))
    assert row["correct"] == "no" and row["status"] == "answered"
    plain = h.start_run(services, controls, "An ungraded problem", "rstar", "vote", "", 0, values)
    assert services.runs.get(plain).wait(30)
    tree = services.trees.view(plain, lambda t: t)
    assert tree.finished.answer is not None and tree.finished.correct is None
    assert f"· answer {tree.finished.answer}" in h.finished_state(tree.finished)


def test_a_search_that_found_no_answer_says_so_in_words():
    """"finished (exhausted)" read as the app failing (a browser walk, 2026-12-05)."""
    from backend.events import RunFinished

    said = h.finished_state(RunFinished(seq=9, status="exhausted", answer=None))
    assert said == "finished · no answer found in its budget"
    graded = h.finished_state(RunFinished(seq=9, status="exhausted", answer=None, reference="<b>7</b>"))
    assert graded == "finished · no answer found in its budget (known &#60;b&#62;7&#60;/b&#62;)"
    assert h.finished_state(RunFinished(seq=9, status="stopped", answer=None)) == "finished (stopped)"


# --- item 3: a goal's '*' is multiplication, not italics ------------------------------------------


def render(markdown):
    """CommonMark's HTML for ``markdown`` (markdown-it, which Gradio ships)."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").render(markdown)


def test_stars_in_goals_stay_multiplication_and_emphasis_still_works():
    from ui.escape import md_esc
    from ui.inspector import md_text

    for goal in ("1/(a*b^3 + c*b^3) >= 0", "a*b + b*c + c*a <= 3", "2*x*y = 6"):
        assert "<em>" not in render(md_text(goal)) and "<em>" not in render(md_esc(goal)), goal
        assert render(md_text(goal)).count("*") == goal.count("*")  # every star shown
    assert "<em>italic</em>" in render(md_text("an *italic* word"))
    assert "<strong>bold</strong>" in render(md_text("some **bold**."))


def test_a_lips_goal_node_shows_its_stars(services):
    from backend import events as ev
    from backend.tree import Tree
    from ui.inspector import node_view

    log = ev.EventLog()
    log.emit(ev.RunStarted, run_id="g", algorithm="lips", problem="p")
    log.emit(ev.NodeAdded, id=0, parent=None, kind="goal", text="prove 1/(a*b^3 + c*b^3) >= 0")
    view = node_view(Tree.from_events(log.after(-1)), 0)
    assert "<em>" not in render(view.text) and render(view.text).count("*") == 2


def test_the_status_says_why_a_run_ended_before_its_rollouts(services):
    """A browser walk pruned a node and the 4-rollout run ended after 1 iteration without a
    word: the run's budget reason ("tree": nothing left to expand) is now said."""
    from backend import events as ev
    from backend.events import EventLog
    from backend.tree import Tree

    log = EventLog()
    log.emit(ev.RunStarted, run_id="early", algorithm="rstar", problem="2+2?")
    log.emit(ev.NodeAdded, id=0, parent=None, kind="root", text="2+2?")
    log.emit(ev.RunFinished, status="exhausted", answer=None, best_path=[0], stats={"budget": "tree"})
    tree = Tree.from_events(log.events)
    assert "ended early: no node was left to expand" in h.run_status(services, "early", tree=tree)
    log = EventLog()
    log.emit(ev.RunStarted, run_id="full", algorithm="rstar", problem="2+2?")
    log.emit(ev.NodeAdded, id=0, parent=None, kind="root", text="2+2?")
    log.emit(ev.RunFinished, status="solved", answer="4", best_path=[0], stats={"budget": "rollouts"})
    assert "ended early" not in h.run_status(services, "full", tree=Tree.from_events(log.events))
