"""Issue 15 items 2, 5, 6 and 13 at the handler level: each algorithm's own words for its nodes
(CPL plan steps and solutions, LIPS goals, tactics, counterexamples and closed goals), the LIPS
proof a student can read (page and plain text), the convergence panel and its empty states, a
Run that does not start, and a lone ``$`` in model text."""

from __future__ import annotations

import dataclasses
import json

import pytest

from backend import events as ev
from backend.engines.scripted import ScriptedEngine
from backend.search.lips.readable import proof_markdown, proof_plain, readable_proof
from backend.solve import solve
from backend.tree import Tree
from tests.ui.scripted_runs import make_run
from ui.figure import LINE_COLOURS, STYLES, convergence_figure, node_table, tree_figure
from ui.inspector import answer_panel, md_text, node_view, stats_panel

RSTAR_WORDS = ("code ran", "code failed", "code timed out")


def labels(fig):
    return {nid: STYLES[row["style"]][2] for nid, row in node_table(fig).items()}


def finished(search):
    search.run()
    return search.log.events


@pytest.fixture(scope="module")
def cpl_events():
    return finished(make_run(algorithm="cpl", rollouts=6, children=3, max_depth=3))


@pytest.fixture(scope="module")
def lips_events():
    """A real LIPS proof (symbolic preset: no model call): AM-GM on the left, then positivity."""
    res = solve(
        "a,b > 0; prove a^2+b^2 >= 2*a*b",
        algorithm="lips",
        engine=ScriptedEngine([]),
        preset="symbolic",
        config={"min_proof_depth": 1, "max_candidates": 8},
    )
    assert res.status == "proved"
    return res.events


# --- item 5: CPL's words ------------------------------------------------------------------------


def test_cpl_nodes_are_plan_steps_and_solutions_never_code(cpl_events):
    tree = Tree.from_events(cpl_events)
    fig = tree_figure(tree)
    named = labels(fig)
    assert not set(named.values()) & set(RSTAR_WORDS)
    assert "plan step (format ok)" in named.values()
    assert any(w.startswith("solution") for w in named.values())
    failed = [n for n in tree.nodes.values() if n.status == "error" and n.method == "format"]
    assert failed, "the scripted CPL run writes one malformed step"
    assert named[failed[0].id] == "not a plan step (format failure)"
    assert "plan step" in fig["legend"] and "code" not in fig["legend"]
    assert "plan step" in set(fig["nodes"]["kind"]) and "solution" in set(fig["nodes"]["kind"])
    view = node_view(tree, failed[0].id)
    assert "not a plan step" in view.title and "code failed" not in view.title
    assert "**Format failure**" in view.verification and view.runs_code is False
    plan = next(n for n in tree.nodes.values() if n.status == "ok")
    assert "plan step" in node_view(tree, plan.id).title and not node_view(tree, plan.id).runs_code


def test_rstar_keeps_its_code_words_and_boxes():
    tree = Tree.from_events(finished(make_run(rollouts=3, children=3, max_depth=3)))
    fig = tree_figure(tree)
    assert "code ran" in labels(fig).values() and "code ran" in fig["legend"]
    assert "refuted" not in fig["legend"]  # rStar's legend lists rStar's symbols only
    step = next(n for n in tree.nodes.values() if n.code)
    assert node_view(tree, step.id).runs_code is True


# --- item 5: LIPS's words, the goal's story, the proof, pops -----------------------------------------


def test_lips_nodes_are_goals_made_by_tactics(lips_events):
    tree = Tree.from_events(lips_events)
    fig = tree_figure(tree)
    named = labels(fig)
    assert not set(named.values()) & set(RSTAR_WORDS)
    assert "counterexample: goal false at a point" in named.values()
    assert "goal closed (proved)" in named.values()
    assert "N=" not in fig["hover"] and "goal" in fig["legend"]
    assert any(k.startswith("goal via AM_GM") for k in fig["nodes"]["kind"])
    bad = next(n for n in tree.nodes.values() if n.status == "counterexample")
    view = node_view(tree, bad.id, events=lips_events)
    assert "**Counterexample**" in view.verification and "a = " in view.verification
    assert "**Tactic:** scale by lemma" in view.verification and ":=" in view.verification
    assert view.runs_code is False and "queue" in view.why and "UCT" not in view.numbers


def test_the_closed_goal_and_the_answer_panel_show_the_readable_proof(lips_events):
    tree = Tree.from_events(lips_events)
    closed = next(n for n in tree.nodes.values() if n.status == "proved")
    view = node_view(tree, closed.id, events=lips_events)
    assert "**Step check**" in view.verification and "**Closed** by **positivity**" in view.verification
    assert "**Proof**" in view.verification and "**Goal 1**" in view.verification
    panel = answer_panel(tree, lips_events)
    assert panel.startswith("**Proved.**") and "$$" in panel and "\\le" in panel
    assert "pops" in stats_panel(tree) and "iterations" not in stats_panel(tree)


def test_a_readable_proof_numbers_the_goals_says_why_and_gives_the_certificate(lips_events):
    proof = readable_proof(lips_events)
    assert proof is not None and proof.theorem == "2*a*b <= a^2 + b^2"
    step = proof.steps[0]
    assert step.number == 1 and step.how.startswith("lemma AM_GM") and step.instantiation
    assert "implies the previous one" in step.valid and step.rechecked
    cert = proof.certificate
    assert cert.method == "positivity" and ("positivity", "proved") in cert.tried
    assert cert.latex.endswith("\\ge 0") and cert.plain.startswith("rhs - lhs = ")
    plain = proof_plain(proof)
    for words in ("goal 0:", "step 1: lemma", "instantiation:", "justified by:",
                  "closed: goal 1 by positivity", "certificate: rhs - lhs"):
        assert words in plain
    md = proof_markdown(proof)
    assert md.count("$$") >= 6  # goal 0, goal 1 and the certificate, each in display math


def test_a_refuted_problem_gives_its_point():
    res = solve("a, b > 0; prove a >= b", algorithm="lips", engine=ScriptedEngine([]), preset="symbolic")
    tree = Tree.from_events(res.events)
    panel = answer_panel(tree, res.events)
    assert panel.startswith("**Refuted:**") and "a = " in panel and "b = " in panel
    assert readable_proof(res.events) is None


def test_the_cli_prints_the_readable_proof_and_pops(tmp_path):
    from typer.testing import CliRunner

    from backend.cli import app
    from backend.cli.search import register

    register(app)
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"rules": []}))
    out = CliRunner().invoke(app, [
        "solve", "a,b > 0; prove a^2+b^2 >= 2*a*b", "--algo", "lips", "--preset", "symbolic",
        "--engine", "scripted", "--model", str(rules), "--set", "min_proof_depth=1",
        "--set", "max_candidates=8",
    ]).output  # fmt: skip
    assert "Proof, step by step" in out and "certificate: rhs - lhs" in out
    assert "pops (goals taken from the queue)" in out and " iterations" not in out


# --- item 6: the convergence panel ---------------------------------------------------------------------


def test_convergence_lines_share_their_childs_colour_and_ticks_are_whole():
    tree = Tree.from_events(finished(make_run(rollouts=5, children=3, max_depth=3)))
    fig = convergence_figure(tree)
    by_child: dict[str, set] = {}
    for trace in fig["data"]:
        if trace.get("legendgroup"):
            by_child.setdefault(trace["legendgroup"], set()).add(trace["line"]["color"])
            assert trace.get("showlegend", True)  # N and Q both named in the legend
    assert by_child and all(len(c) == 1 for c in by_child.values())
    assert len({next(iter(c)) for c in by_child.values()}) == len(by_child)  # one colour per child
    assert {next(iter(c)) for c in by_child.values()} <= set(LINE_COLOURS)
    x = fig["layout"]["xaxis"]
    assert x["tickformat"] == "d" and isinstance(x["dtick"], int) and x["dtick"] >= 1
    legend = fig["layout"]["legend"]
    assert legend["y"] < 0 and legend["yanchor"] == "top"  # under the x axis and its title


def test_lips_and_one_shot_runs_say_why_there_is_no_convergence(lips_events):
    lips = convergence_figure(Tree.from_events(lips_events))
    assert lips["data"] == [] and "No convergence chart for LIPS" in lips["empty"]
    from tests.search.test_baselines import RIGHT, WRONG, run

    _, voted, _ = run("sc", [WRONG, RIGHT, RIGHT], samples=3)
    sc = convergence_figure(voted)
    assert "one-shot" in sc["note"] and [t["type"] for t in sc["data"]] == ["bar"]
    assert dict(zip(sc["data"][0]["x"], sc["data"][0]["y"], strict=True)) == voted.answer_votes()
    unvoted = convergence_figure(Tree.from_events(finished(make_run(algorithm="sc", samples=2))))
    assert unvoted["data"] == [] and "one-shot" in unvoted["empty"]
    fresh = Tree.from_events(make_run().log.events)
    assert "No run yet" in convergence_figure(fresh)["empty"]


# --- item 2: a Run that does not start ----------------------------------------------------------------


def test_a_run_that_does_not_start_clears_the_old_result_and_says_why(services):
    from ui import handlers as h
    from ui.solve import SolveHandlers

    controls = h.algorithm_controls(services.algorithm_names())
    hs = SolveHandlers(services, controls)
    values = []
    for name in services.algorithm_names():
        info = h.algorithm_info(name)
        values += h.preset_values(name, info["default_preset"], [c for c in controls if c.algorithm == name])
    out = hs.start(None, "old-run", "a, b, c > 0, a^2 >= ", "lips", "vote", "", 0, *values)
    run, status = out[0], out[1]
    tree, convergence, stats, answer = out[-4:]
    assert run is None  # the previous run's stream does not come back over the error
    assert status.startswith("⚠ ") and status.endswith("**Run not started.**")
    fig = json.loads(tree)
    assert fig["count"] == 0 and fig["empty"].startswith("Run not started:")
    assert json.loads(convergence)["data"] == [] and stats == "" and answer == ""


# --- item 13: a lone $ in model text -------------------------------------------------------------------


def test_a_lone_dollar_does_not_turn_a_sentence_into_a_formula():
    from tests.ui.test_page_truth import render

    for text in ("Let $x be the number of apples.\nThen 2x$ dollars", "He has $x apples, and y$ pears"):
        html = render(md_text(text))
        assert html.count("canopy-dollar") == 2, text  # both dollars literal, no formula
    assert md_text("$x^2 + y$ and $\\frac{a}{b}$") == "$x^2 + y$ and $\\frac{a}{b}$"
    assert md_text("$f(x) = x \\text{ for all } x$").startswith("$f(x)")


def test_without_answers_the_chart_has_two_panels_and_the_x_axis_under_the_last():
    log = ev.EventLog()
    log.emit(ev.RunStarted, run_id="c", algorithm="cpl", problem="p")
    log.emit(ev.NodeAdded, id=0, parent=None, kind="root", text="p")
    log.emit(ev.NodeAdded, id=1, parent=0, kind="plan", text="Plan 1: think.")
    log.emit(ev.Backprop, iteration=0, path=[0, 1], reward=-1.0, updated=[[0, 1, -1.0], [1, 1, -1.0]])
    log.emit(ev.IterationDone, iteration=0, best_answer=None, votes={}, tokens=0)
    fig = convergence_figure(Tree.from_events(log.after(-1)))
    assert fig["data"] and "yaxis3" not in fig["layout"] and fig["layout"]["xaxis"]["anchor"] == "y2"
    assert "No answer yet" in fig["note"]


def test_a_lips_run_with_hostile_fields_stays_inert(lips_events):
    from tests.security.test_html_escape import assert_inert_markdown
    from ui.solve import LATEX

    bad = "<img src=x onerror=alert(1)> $\\href{http://x.test}{y}$ [l](http://x.test) **b**"
    events = []
    for e in lips_events:
        if isinstance(e, ev.NodeAdded):
            meta = {k: bad for k in e.meta} | {"instantiation": {bad: bad}, "constraints": [bad]}
            e = dataclasses.replace(e, meta=meta)
        elif isinstance(e, ev.NodeVerified):
            e = dataclasses.replace(e, output=bad, method=bad)
        events.append(e)
    tree = Tree.from_events(events)
    for node in tree.nodes.values():
        assert_inert_markdown(node_view(tree, node.id, events=events).verification, f"goal {node.id}", LATEX)
    assert_inert_markdown(answer_panel(tree, events), "the LIPS answer panel", LATEX)


def test_a_lips_pop_cut_short_by_the_time_limit_still_counts(lips_events):
    from ui.vocabulary import rounds_phrase

    first = next(k for k, e in enumerate(lips_events) if isinstance(e, ev.IterationDone))
    cut = lips_events[:first]
    tree = Tree.from_events(cut)  # the root was popped (its closers ran) but no iteration ended
    assert not tree.iterations and rounds_phrase(tree, 0) == "1 pop (goals taken from the queue)"
    assert "**1** pop (goals" in stats_panel(tree)
    assert "(1 pop (goals taken from the queue) so far)" in convergence_figure(tree)["empty"]


def test_the_inspector_of_a_new_lips_or_cpl_run_has_no_code_box(services):
    from ui import handlers as h
    from ui.solve import SolveHandlers

    controls = h.algorithm_controls(services.algorithm_names())
    values = []
    for name in services.algorithm_names():
        info = h.algorithm_info(name)
        values += h.preset_values(name, info["default_preset"], [c for c in controls if c.algorithm == name])
    out = SolveHandlers(services, controls).start(None, None, "a, b > 0; prove a >= b", "lips", "vote", "", 0,
                                                   *values)
    code, output = out[6], out[7]
    assert code["visible"] is False and output["visible"] is False
    services.runs.shutdown()
