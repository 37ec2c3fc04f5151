"""Greedy, self-consistency and best-of-N: same prompt family, one call, events like a tree."""

from __future__ import annotations

import pytest

from backend import events as ev
from backend.engines.scripted import ScriptedEngine
from backend.reward import TruthReward
from backend.search.registry import create_search, make_config
from backend.tree import Tree

P = "What is 6 times 7?"
RIGHT = (
    "<code>\n# Step 1: multiply\nx = 6 * 7\n<end_of_step>\n\n"
    "# Now print the final answer\nprint(x)\n<end_of_code>"
)
WRONG = "<code>\n# Now print the final answer\nprint(6 + 7)\n<end_of_code>"
BROKEN = "<code>\nprint(y)\n<end_of_code>"
BOXED = "<answer>It is \\boxed{42}.<end_of_answer>"


def run(algo, texts, reward=None, **cfg):
    eng = ScriptedEngine([("Question: What is 6", texts)])
    s = create_search(algo, P, engine=eng, config=make_config(algo, **cfg), reward=reward, seed=0)
    s.run()
    return s, Tree.from_events(s.log.events), eng


def test_greedy_is_one_sample_at_temperature_zero():
    _, tree, eng = run("greedy", [RIGHT])
    assert len(eng.calls) == 1 and eng.calls[0]["n"] == 1
    assert eng.calls[0]["stop"] == ["<end_of_code>", "<end_of_answer>"]
    assert len(tree.nodes) == 2 and tree.finished.answer == "42"
    leaf = tree.nodes[1]
    assert leaf.kind == "answer" and leaf.status == "ok" and leaf.output.strip() == "42"


def test_self_consistency_takes_the_majority_of_its_samples():
    s, tree, eng = run("sc", [WRONG, RIGHT, BROKEN, BOXED, RIGHT], samples=3)
    assert len(eng.calls) == 1 and eng.calls[0]["n"] == 3
    assert len(tree.nodes[0].children) == 3
    assert tree.finished.answer == "42"
    votes = s.outcome().votes
    assert votes["42"] > votes.get("13", 0) and sum(votes.values()) == 3 - sum(
        n.answer is None for n in tree.nodes.values() if n.parent is not None
    )


def test_self_consistency_draws_per_call_samples_and_a_stop_comes_between_calls():
    from backend.search.baselines import chunks

    assert chunks(9, 0.7) == [9] and chunks(9, 0.7, 4) == [4, 4, 1] and chunks(9, 0.0, 4) == [9]
    _, tree, eng = run("sc", [WRONG, RIGHT, BROKEN, BOXED, RIGHT], samples=9)
    assert [c["n"] for c in eng.calls] == [9]  # by default one batched call (fastest)
    _, tree, eng = run("sc", [WRONG, RIGHT, BROKEN, BOXED, RIGHT], samples=9, per_call=4)
    assert [c["n"] for c in eng.calls] == [4, 4, 1] and len(tree.nodes[0].children) == 9

    class StopAfterFirstCall(ScriptedEngine):  # the user presses Stop while the first call runs
        search = None

        def generate(self, prompts, **kw):
            out = super().generate(prompts, **kw)
            self.search.request_stop()
            return out

    eng = StopAfterFirstCall([("Question: What is 6", [RIGHT, WRONG])])
    s = create_search("sc", P, engine=eng, config=make_config("sc", samples=16, per_call=4), seed=0)
    eng.search = s
    s.run()
    tree = Tree.from_events(s.log.events)
    assert len(eng.calls) == 1  # not the other 12 samples
    assert len(tree.nodes[0].children) == 4 and tree.finished.status == "stopped"
    assert tree.finished.answer is not None  # the samples drawn before the stop still vote


def test_best_of_n_by_vote_and_by_truth():
    _, tree, _ = run("bon", [WRONG, RIGHT, RIGHT], samples=3)
    assert tree.finished.answer == "42"
    scores = {n.id: n.scores["vote"] for n in tree.nodes.values() if n.scores}
    # 3 answers: "13" alone (2 - 3 - 1)/3 = -2/3; "42" twice (4 - 3 - 1)/3 = 0
    assert scores == {1: pytest.approx(-2 / 3, abs=1e-6), 2: 0.0, 3: 0.0}
    _, tree, _ = run("bon", [WRONG, RIGHT, RIGHT], reward=TruthReward("13"), samples=3)
    assert tree.finished.answer == "13" and tree.started.reward == "truth"


def test_no_answer_is_exhausted():
    s, tree, _ = run("sc", [BROKEN], samples=2)
    assert tree.finished.answer is None and tree.finished.status == "exhausted"
    assert any(isinstance(e, ev.Backprop) for e in s.log.events)


def test_greedy_copies_of_one_completion_count_their_tokens_once():
    # engines answer greedy n > 1 with n references to one completion (the contract allows it)
    from backend.engines.base import Completion

    class Copies(ScriptedEngine):
        def generate(self, prompts, *, n=1, **kw):
            one = Completion(RIGHT, 17, None, "stop", "<end_of_code>")
            return [[one] * n for _ in prompts]

    eng = Copies([("Question", [RIGHT])])
    s = create_search("sc", P, engine=eng, config=make_config("sc", samples=4, temperature=0.0), seed=0)
    s.run()
    assert s.state.tokens == 17 and s.stats()["tokens"] == 17  # one generation, not four


def test_a_stop_during_one_batched_sc_call_ends_it_and_keeps_the_finished_samples():
    # issue 15 item 13: Stop sat at "stopping" while one batched call drew every sample
    import threading
    import time

    eng = ScriptedEngine([("Question: What is 6", [RIGHT, WRONG])], sample_delay_s=0.05)
    s = create_search("sc", P, engine=eng, config=make_config("sc", samples=64), seed=0)
    threading.Timer(0.3, s.request_stop).start()
    t = time.monotonic()
    s.run()
    took = time.monotonic() - t
    tree = Tree.from_events(s.log.events)
    drawn = len(tree.nodes[0].children)
    assert len(eng.calls) == 1 and eng.calls[0]["n"] == 64  # one call, cut short inside
    assert 1 <= drawn < 64 and tree.finished.status == "stopped"
    assert took < 64 * 0.05 / 2  # well before the call would have ended on its own
    assert tree.finished.answer is not None  # the samples drawn before the stop still vote
    assert s.stats()["tokens"] >= sum(n.tokens or 0 for n in tree.nodes.values())


def test_a_stop_before_any_sample_finished_stops_with_no_answer():
    import threading

    eng = ScriptedEngine([("Question: What is 6", [RIGHT])], sample_delay_s=0.2)
    s = create_search("sc", P, engine=eng, config=make_config("sc", samples=8), seed=0)
    threading.Timer(0.05, s.request_stop).start()
    s.run()
    tree = Tree.from_events(s.log.events)
    assert tree.nodes[0].children == [] and tree.finished.status == "stopped"
    assert tree.finished.answer is None
