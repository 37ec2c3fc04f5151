"""Issue 16's page logic without a browser: the replay caption of a typed step, the subtree a
prune redraws, the clusters panel's value, the find handler, teacher mode's handlers."""

from __future__ import annotations

import json

from backend import events as ev
from backend.steering import replay
from backend.teach import lesson
from backend.tree import Tree
from tests.search.test_steering import rstar_spec
from tests.ui.scripted_runs import scripted_engine
from ui.bigtree import find
from ui.clusters import clusters_value
from ui.handlers import _what_happened
from ui.steering import with_pruned_subtrees
from ui.teach import Progress, TeachHandlers


def _events():
    return replay(rstar_spec(), scripted_engine(), [], run_id="taught").log.events


def test_the_replay_caption_says_the_user_added_a_step_escaped():
    said = _what_happened(ev.UserStep(seq=3, node=2, text="Double *it*", code="x = 1"))
    assert said.startswith("the user added a step under #2") and "*" not in said


def test_a_prune_redraws_the_whole_subtree():
    tree = Tree.from_events(_events())
    inner = next(tree.nodes[k] for k in tree.root.children if tree.nodes[k].children)
    assert with_pruned_subtrees(tree, {inner.id}) == {inner.id}  # not pruned: nothing more
    for k in tree.subtree(inner.id):
        tree.nodes[k].pruned = True
    assert with_pruned_subtrees(tree, {inner.id}) == set(tree.subtree(inner.id))


def test_the_clusters_value_escapes_labels_for_plotly_and_keeps_the_raw_answer():
    tree = Tree.from_events(_events())
    tree.nodes[next(iter(n.id for n in tree.answer_nodes()))].answer = "<b>18</b>"
    value = clusters_value(tree, "taught")
    labels = {c["answer"]: c["label"] for c in value["clusters"]}
    assert labels["<b>18</b>"] == "&lt;b&gt;18&lt;/b&gt;" and value["target"] == "tree"


def test_find_and_teacher_mode_handlers_on_a_stored_run(services):
    events = _events()
    for e in events:
        services.store.append("taught", e)
    said, found = find(services, "taught", "status:error")
    ids = json.loads(found)["ids"]
    assert ids and f"{len(ids)} {'node matches' if len(ids) == 1 else 'nodes match'}" in said
    teach = TeachHandlers(services)
    _, text, radio, progress, _ = teach.next("taught", None, True)
    assert "(step 1 of " in text and "expand" in text and isinstance(progress, Progress)
    for _ in range(3):  # expand, evaluate, backpropagate: then the question before the selection
        _, text, radio, progress, _ = teach.next("taught", progress, True)
    assert "Which child of #0" in text and radio["visible"]
    q_answer = next(e for e in events if isinstance(e, ev.NodeSelected)).path[1]
    _, text, _, progress, score = teach.check("taught", progress, str(q_answer))
    assert "✓ Right" in text and "1 of 1" in score


def test_teacher_mode_steps_a_live_run_one_iteration_when_the_lesson_catches_up(services):
    from tests.ui.scripted_runs import PROBLEM
    from ui import handlers as h

    controls = h.algorithm_controls(services.algorithm_names())
    values = [None] * len(controls)
    run_id = h.start_run(services, controls, PROBLEM, "rstar", "vote", "", 0, values, paused=True)
    run = services.runs.get(run_id)
    teach = TeachHandlers(services)
    done = lambda: sum(isinstance(e, ev.IterationDone) for e in run.log.events)  # noqa: E731
    _, text, _, progress, _ = teach.next(run_id, None, False)  # the root, there before any rollout
    assert done() == 0 and "(step 1 of 1)" in text
    _, text, _, progress, _ = teach.next(run_id, progress, False)  # nothing more: one rollout is run
    assert done() == 1 and run.state == "paused" and "(step 2 of " in text
    told = 2
    while done() == 1 and told < 200:
        _, text, _, progress, _ = teach.next(run_id, progress, False)
        told += 1
    phases_of_first = sum(1 for p in lesson(run.log.events) if p.iteration == 0)
    assert done() == 2 and told == phases_of_first + 1  # every phase of rollout 1 told before rollout 2 ran
    run.stop()
    run.wait(10)


class _Click:
    """What Gradio hands a handler of the tree's ``node_click``."""

    def __init__(self, run_id, node_id):
        self._data = {"run_id": run_id, "node_id": node_id}


def _paused_run(services):
    from tests.ui.scripted_runs import PROBLEM
    from ui import handlers as h

    controls = h.algorithm_controls(services.algorithm_names())
    values = [None] * len(controls)
    run_id = h.start_run(services, controls, PROBLEM, "rstar", "vote", "", 0, values, paused=True)
    return run_id, services.runs.get(run_id)


def _wait(cond, timeout=20.0):
    import time

    end = time.monotonic() + timeout
    while not cond() and time.monotonic() < end:
        time.sleep(0.02)
    assert cond(), "timed out"


def test_the_inspectors_steering_buttons_steer_the_clicked_node_of_a_live_run(services):
    """Issue 16 item 2 from the inspector: clicking a node of a live run shows its steering row
    (prune, expand now, go through it next, fork); "Go through it next" makes the next rollout
    walk through that node, recorded as a user action; a finished run's row offers only fork."""
    from ui.steering import SteerHandlers

    run_id, run = _paused_run(services)
    done = lambda: sum(isinstance(e, ev.IterationDone) for e in run.log.events)  # noqa: E731
    run.step()
    _wait(lambda: done() == 1)
    tree = Tree.from_events(run.log.events)
    walked = next(e for e in run.log.events if isinstance(e, ev.NodeSelected)).path
    aside = [k for k in tree.root.children if k not in walked and not tree.nodes[k].terminal]
    target = aside[-1]  # a root child the first rollout did not take (the last of them)
    hs = SteerHandlers(services)
    node, _, group, prune, expand, force, fork, said = hs.pick(run_id, _Click(run_id, target))
    assert node == target and group["visible"] and prune["visible"] and expand["visible"] and force["visible"]
    assert fork["visible"]  # an rStar run can be forked
    assert f"#{target}" in said and "between iterations" in said
    assert "walk the next rollout through" in hs.force(run_id, node)
    run.step()
    _wait(lambda: done() == 2)
    forced = [e for e in run.log.events if isinstance(e, ev.UserAction) and e.action == "force"]
    assert [e.node for e in forced] == [target]
    after = [e for e in run.log.events if isinstance(e, ev.NodeSelected) and e.seq > forced[0].seq]
    assert after and target in after[0].path  # the next selection went through the node
    run.stop()
    run.wait(10)
    _, _, group, prune, expand, force, fork, said = hs.pick(run_id, _Click(run_id, target))
    assert group["visible"] and not (prune["visible"] or expand["visible"] or force["visible"])
    assert fork["visible"]
    assert "forked" in said
    assert "cannot be steered" in hs.prune(run_id, target)


def test_fork_is_offered_only_for_runs_that_can_start_from_a_kept_path(services):
    """A finished greedy run's node offers no fork (only MCTS searches take a prefix), instead
    of a button that answers with an error (a browser walk found it)."""
    from tests.ui.scripted_runs import PROBLEM
    from ui import handlers as h
    from ui.steering import SteerHandlers

    controls = h.algorithm_controls(services.algorithm_names())
    run_id = h.start_run(services, controls, PROBLEM, "greedy", "vote", "", 0, [None] * len(controls))
    assert services.runs.get(run_id).wait(20)
    *_, fork, said = SteerHandlers(services).pick(run_id, _Click(run_id, 1))
    assert not fork["visible"] and "only MCTS runs can be forked" in said


def test_a_new_run_forgets_the_clicked_node_and_hides_the_inspectors_row(services):
    """The clicked node belongs to its run: once another run is on the page the row is hidden
    and the node forgotten, so no button steers node #N of a run nobody clicked in."""
    from ui.steering import SteerHandlers

    node, row = SteerHandlers(services).reset("another-run")
    assert node is None and row["visible"] is False


def test_teacher_mode_off_lets_the_run_go_on_by_itself_and_the_button_says_so(services):
    """On pauses a live run (the lesson steps it) and the Pause button reads Resume; off resumes
    it (a walk found the run left paused with nothing but the button saying so)."""
    from ui.teach import TeachHandlers

    run_id, run = _paused_run(services)
    run.resume()
    hs = TeachHandlers(services)
    panel, label = hs.toggled(True, run_id)
    assert panel["visible"] and label == "Resume"
    _wait(lambda: run.state == "paused")
    panel, label = hs.toggled(False, run_id)
    assert not panel["visible"] and label == "Pause" and run.state == "running"
    run.stop()
    run.wait(10)


def test_a_run_of_an_unknown_or_hostile_algorithm_is_simply_not_forkable(services):
    """An imported run may name an algorithm this Canopy lacks (or markup): clicking its node
    must not raise (a page shows an exception's message, here the markup), only hide Fork."""
    from tests.security.hostile import hostile_events
    from ui.steering import SteerHandlers

    services.store.import_events("hostile-fork", hostile_events("hostile-fork", level="warning"))
    *_, fork, said = SteerHandlers(services).pick("hostile-fork", _Click("hostile-fork", 0))
    assert not fork["visible"] and "only MCTS runs can be forked" in said
