"""Human steering over the real search core: prune, add-my-step, forks, and a run reproduced
from its RunSpec plus its recorded user actions (scripted engine, real sandbox)."""

from __future__ import annotations

import time

import pytest

from backend import events as ev
from backend.run import Run
from backend.runspec import RunSpec, build_search, runspec_from_started
from backend.search.mcts import MCTSConfig
from backend.steering import Steer, apply, fork_spec, recorded_steering, replay, user_completion
from backend.tree import Tree
from tests.search.helpers import Toy, ToySearch
from tests.test_runspec import comparable
from tests.ui.scripted_runs import PROBLEM, scripted_engine


def _binary(depth: int = 3) -> dict[str, list[Toy]]:
    """root -> a, b; every step has two step children and an answer ("1" under a, "2" under
    b) down to ``depth``, where only the answer is left."""
    tree: dict[str, list[Toy]] = {"root": [Toy("a"), Toy("b")]}
    frontier = ["a", "b"]
    for level in range(depth):
        nxt = []
        for label in frontier:
            answer = Toy(label + "!", "answer", "1" if label[0] == "a" else "2")
            steps = [] if level == depth - 1 else [Toy(label + "0"), Toy(label + "1")]
            tree[label] = [*steps, answer]
            nxt += [t.label for t in steps]
        frontier = nxt
    return tree


WIDE = _binary()


def by_label(search):
    return {n.state["label"]: n for n in search.nodes.values()}


def selected_paths(events):
    return [e.path for e in events if isinstance(e, ev.NodeSelected)]


def test_prune_excludes_the_subtree_from_every_later_selection_and_from_the_answer():
    def fresh():
        s = ToySearch(WIDE, config=MCTSConfig(rollouts=12, children=3))
        s.start()
        s.step()  # the root is expanded; the first rollout went down a
        return s

    control = fresh()
    while not control.done:
        control.step()
    b_id = by_label(control)["b"].id
    assert any(b_id in p for p in selected_paths(control.log.events))  # left alone, b is visited

    s = fresh()
    b = by_label(s)["b"]
    apply(s, Steer("prune", b.id))  # what the Run does: the user_action, then the search's steer
    pruned_at = len(s.log) - 1
    while not s.done:
        s.step()
    later = selected_paths(s.log.after(pruned_at))
    assert later and all(b.id not in p for p in later)
    s.finish()
    tree = Tree.from_events(s.log.events)
    assert tree.nodes[b.id].pruned
    assert all(tree.nodes[k].pruned for k in tree.subtree(b.id))
    assert {n.answer for n in tree.answer_nodes()} == {"1"}  # b's "2"s are not the tree's answers
    assert tree.finished.answer == "1"


def test_a_node_added_under_a_pruned_subtree_is_pruned_too():
    s = ToySearch(WIDE, config=MCTSConfig(rollouts=2, children=3))
    s.start()
    s.step()
    a = by_label(s)["a"]
    apply(s, Steer("prune", a.id))
    apply(s, Steer("add_step", a.id, text="mine"))  # refused: a warning, no node
    assert isinstance(s.log.events[-1], ev.Note) and "pruned" in s.log.events[-1].message
    tree = Tree.from_events(s.log.events)
    assert tree.nodes[a.id].pruned and tree.nodes[a.id].children == [k.id for k in a.children]


def _wait(cond, timeout=60.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError("timed out")


def rstar_spec(**changes) -> RunSpec:
    base = RunSpec(
        problem=PROBLEM,
        algorithm="rstar",
        config={"rollouts": 4, "children": 3, "max_depth": 3},
        engine="scripted",
        ppm="none",
        seed=3,
    )
    return base.fork(**changes)


def paused_run(spec, run_id="steered"):
    run = Run(build_search(spec, scripted_engine(), run_id), run_id=run_id, paused=True).start()
    run.step()
    _wait(lambda: sum(isinstance(e, ev.IterationDone) for e in run.log.events) == 1 and run.state == "paused")
    return run


def _verified_user_step(events) -> bool:
    mine = {e.id for e in events if isinstance(e, ev.NodeAdded) and e.meta.get("author") == "user"}
    return any(isinstance(e, ev.NodeVerified) and e.id in mine for e in events)


def test_add_my_step_runs_the_code_in_the_sandbox_and_the_node_shows_its_output():
    run = paused_run(rstar_spec())
    tree = Tree.from_events(run.log.events)
    first = next(tree.nodes[k] for k in tree.root.children if tree.nodes[k].status == "ok")
    run.act("add_step", first.id, text="Sell every egg left at $2", code="print(left * 2)")
    _wait(lambda: _verified_user_step(run.log.events))
    run.stop()
    run.wait(30)
    events = run.log.events
    asked = next(e for e in events if isinstance(e, ev.UserStep))
    added = next(e for e in events if isinstance(e, ev.NodeAdded) and e.seq > asked.seq)
    assert (asked.node, asked.code, added.parent, added.meta["author"]) == (
        first.id,
        "print(left * 2)",
        first.id,
        "user",
    )
    mine = Tree.from_events(events).nodes[added.id]
    assert mine.code.endswith("print(left * 2)") and "Sell every egg" in mine.text
    assert mine.status == "ok" and mine.method == "python"  # run in the sandbox with its path's code
    assert mine.output.strip() == "18" and mine.answer == "18" and mine.terminal


def test_a_run_is_reproduced_from_its_runspec_and_its_recorded_user_actions():
    spec = rstar_spec()
    run = paused_run(spec)
    tree = Tree.from_events(run.log.events)
    kids = [tree.nodes[k] for k in tree.root.children if tree.nodes[k].status == "ok"]
    run.act("prune", kids[0].id)
    run.act("add_step", kids[1].id, text="Double what is left", code="money = left * 2")
    run.act("force", kids[1].id)
    run.resume()
    assert run.wait(120)
    first = run.log.events
    steering = recorded_steering(first)
    assert [(s.action, s.at) for s in steering] == [("prune", 1), ("add_step", 1), ("force", 1)]
    again = replay(runspec_from_started(first[0]), scripted_engine(), steering, run_id="again")
    controls = {"pause", "resume", "step"}

    def kept(events):  # the controls (pause, step, resume) change timing only: left out, with seq
        rows = comparable([e for e in events if not (isinstance(e, ev.UserAction) and e.action in controls)])
        return [{k: v for k, v in row.items() if k != "seq"} for row in rows]

    assert kept(again.log.events) == kept(first)
    assert any(isinstance(e, ev.UserStep) for e in again.log.events)
    # and the steering mattered: without it the same spec grows another tree
    plain = replay(spec, scripted_engine(), [], run_id="plain")
    assert kept(plain.log.events) != kept(first)


def test_a_fork_starts_with_the_source_path_and_searches_below_it():
    source = replay(rstar_spec(), scripted_engine(), [], run_id="source")
    tree = Tree.from_events(source.log.events)
    deep = max((n for n in tree.nodes.values() if n.status == "ok" and not n.terminal), key=lambda n: n.depth)
    assert deep.depth >= 2
    spec = fork_spec(tree, deep.id, seed=11)
    assert spec.parent == "source" and len(spec.prefix) == deep.depth
    fork = replay(spec, scripted_engine(), [], run_id="forked")
    ftree = Tree.from_events(fork.log.events)
    chain = [ftree.root_id]
    while len(chain) <= deep.depth:
        kids = ftree.nodes[chain[-1]].children
        assert len(kids) == 1  # a kept step has no generated siblings
        chain.append(kids[0])
    src = tree.path_to(deep.id)
    for a, b in zip(chain[1:], src[1:], strict=True):
        assert (ftree.nodes[a].text, ftree.nodes[a].code) == (tree.nodes[b].text, tree.nodes[b].code)
        assert ftree.nodes[a].status == tree.nodes[b].status and ftree.nodes[a].meta["author"] == "fork"
    assert ftree.nodes[chain[-1]].children  # the search went on below the kept path
    assert ftree.started.spec["parent"] == "source" and ftree.started.spec["prefix"] == list(spec.prefix)


def test_a_fork_of_a_search_that_is_not_mcts_is_refused():
    with pytest.raises(ValueError, match="kept path"):
        build_search(RunSpec(problem="x", algorithm="lips", engine=None, prefix=[{"text": "t"}]), None)


def test_user_completion_reads_a_typed_step_in_the_format_and_keeps_a_formatted_one():
    stops = ("<end_of_step>", "<end_of_code>", "<end_of_answer>")
    c = user_completion("Double it", "print(left * 2)", stops)
    assert c.text == "\n# Double it\nprint(left * 2)\n" and c.stop_reason == "<end_of_code>"
    c = user_completion("Note", "x = 1", stops)
    assert c.stop_reason == "<end_of_step>"
    c = user_completion("<code>\nx = 1\n<end_of_step>", None, stops)
    assert (c.text, c.stop_reason) == ("<code>\nx = 1\n", "<end_of_step>")
    assert Steer("prune", 1).at == 0


def test_steering_events_survive_export_and_import_and_replay_from_the_file(tmp_path):
    from backend.events import read_jsonl, write_jsonl

    spec = rstar_spec()
    run = paused_run(spec, run_id="exported")
    tree = Tree.from_events(run.log.events)
    first = next(tree.nodes[k] for k in tree.root.children if tree.nodes[k].status == "ok")
    run.act("add_step", first.id, text="Sell the rest", code="print(left * 2)")
    run.act("prune", first.id)
    run.resume()
    assert run.wait(120)
    path = tmp_path / "steered.jsonl"
    write_jsonl(run.log.events, path)
    _, back = read_jsonl(path)  # every field checked, as an import does
    assert [e.to_dict() for e in back] == [e.to_dict() for e in run.log.events]
    folded = Tree.from_events(back)
    assert folded.nodes[first.id].pruned and any(isinstance(a, ev.UserStep) for a in folded.actions)
    again = replay(runspec_from_started(back[0]), scripted_engine(), recorded_steering(back), run_id="again")
    assert Tree.from_events(again.log.events).stats()["nodes"] == folded.stats()["nodes"]
