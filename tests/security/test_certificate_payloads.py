"""The closing certificate of a LIPS proof as the page shows it (``readable_cert.py``), from an
imported events file whose SOS record is not one ``sos_cert.record`` wrote: thousands of squares
(each read with the grammar and printed by sympy, on every render) or parts of the wrong shape."""

from __future__ import annotations

import time

from backend import events as ev
from backend.search.lips.readable_cert import closing_certificate

GOAL = "a^2+b^2 >= 2*a*b"
SQUARE = {"plain": "(a-b)^2", "latex": "x", "factor": "1", "square": "(a+b+c)^6-a*b*c*(a+b)"}


def _close(record) -> ev.NodeVerified:
    return ev.NodeVerified(seq=3, t=0.0, id=2, status="proved", method="sos", detail={"certificate": record})


def test_a_record_of_thousands_of_squares_is_not_read_on_every_render():
    record = {"kind": "sos", "numerator": "a^2-2*a*b+b^2", "denominator": "1", "polynomial": "a^2-2*a*b+b^2",
              "squares": [SQUARE] * 5000, "count": 5000}
    start = time.perf_counter()
    cert = closing_certificate(GOAL, _close(record), ["a", "b", "c"])  # ~2 s before, per render
    assert time.perf_counter() - start < 0.5
    assert "(a+b+c)" not in cert.latex and cert.latex  # the goal's own difference is shown instead


def test_a_record_of_the_wrong_shape_shows_the_goals_difference_instead_of_failing():
    for squares in ([{}], [{"plain": 1, "factor": "1", "square": "a"}], ["(a-b)^2"], {"a": 1}):
        record = {"kind": "sos", "numerator": "a^2-2*a*b+b^2", "denominator": "1",
                  "polynomial": "a^2-2*a*b+b^2", "squares": squares}
        cert = closing_certificate(GOAL, _close(record), ["a", "b"])  # raised KeyError / TypeError
        assert "a - b" in cert.plain or "rhs - lhs" in cert.plain, cert.plain


def test_a_proof_deeper_than_any_lips_run_is_not_rendered_step_by_step():
    """An imported file's chain of 5,000 goals: each is parsed to be shown (3.6 s per render)."""
    from backend.search.lips.readable import MAX_PROOF_STEPS, readable_proof

    def chain(n: int) -> list[ev.Event]:
        out: list[ev.Event] = [ev.RunStarted(seq=0, t=0.0, run_id="r", algorithm="lips", problem="a > 0")]
        out.append(ev.NodeAdded(seq=1, t=0.0, id=0, parent=None, kind="root", text="a^2+1 >= 2*a",
                                meta={"variables": ["a"], "constraints": ["a > 0"]}))
        for i in range(1, n + 1):
            out.append(ev.NodeAdded(seq=len(out), t=0.0, id=i, parent=i - 1, kind="step",
                                    text=f"(a+{i})^2+1 >= 2*a*{i}", meta={"tactic": "t"}))
        out.append(ev.NodeVerified(seq=len(out), t=0.0, id=n, status="proved", method="z3"))
        return out

    assert len(readable_proof(chain(MAX_PROOF_STEPS)).steps) == MAX_PROOF_STEPS
    start = time.perf_counter()
    assert readable_proof(chain(5000)) is None
    assert time.perf_counter() - start < 0.5


def test_a_root_naming_more_variables_than_a_problem_can_have_is_not_rendered():
    """50,000 variables in an imported root's meta: every goal shown made their symbols (5 s)."""
    from backend.search.lips.readable import readable_proof

    def run(variables) -> list[ev.Event]:
        out: list[ev.Event] = [ev.RunStarted(seq=0, t=0.0, run_id="r", algorithm="lips", problem="a > 0")]
        out.append(ev.NodeAdded(seq=1, t=0.0, id=0, parent=None, kind="root", text="a^2+1 >= 2*a",
                                meta={"variables": variables, "constraints": ["a > 0"]}))
        out.append(ev.NodeAdded(seq=2, t=0.0, id=1, parent=0, kind="step", text="(a-1)^2 >= 0",
                                meta={"tactic": "t"}))
        out.append(ev.NodeVerified(seq=3, t=0.0, id=1, status="proved", method="z3"))
        return out

    assert readable_proof(run(["a"])).variables == ["a"]
    for hostile in ([f"v{i}" for i in range(50_000)], 5, "abc"):
        assert readable_proof(run(hostile)) is None  # 5 raised TypeError


def test_a_goal_is_not_read_over_more_variables_than_a_problem_can_have():
    """The inspector shows each goal as LaTeX over the root's variables (a stored run's, any size)."""
    from backend.search.lips.readable import goal_latex

    assert goal_latex("a^2 >= 0", ["a"]) == "0 \\le a^{2}"
    start = time.perf_counter()
    assert goal_latex("a^2 >= 0", [f"v{i}" for i in range(50_000)] + ["a"]) == ""
    assert time.perf_counter() - start < 0.2


def test_the_inspector_story_of_a_stored_lips_run_with_odd_variables_does_not_fail():
    from backend.tree import Tree
    from ui.stories import node_story
    from ui.vocabulary import vocabulary

    for named in (5, "ab", {"a": 1}, [f"v{i}" for i in range(50_000)]):
        events = [ev.RunStarted(seq=0, t=0.0, run_id="r", algorithm="lips", problem="a > 0"),
                  ev.NodeAdded(seq=1, t=0.0, id=0, parent=None, kind="root", text="a^2 >= 0",
                               meta={"variables": named})]
        tree = Tree.from_events(events)
        start = time.perf_counter()
        story = node_story(vocabulary("lips"), tree, tree.nodes[0], events)  # 5 raised TypeError
        assert time.perf_counter() - start < 0.5 and "$$" not in story


ODD = (5, "text", ["x", 1], {"a": "not a number"}, [{"method": "<b>m</b>"}] * 10_000)


def test_odd_shapes_in_a_stored_lips_runs_details_neither_fail_nor_flood_the_page():
    """Counterexamples, instantiations, attempts, side conditions and chains are free JSON in a
    stored run; each was read as the shape Canopy writes (AttributeError, ValueError, or 10,000
    entries shown)."""
    from backend.search.lips.readable import proof_markdown, readable_proof
    from backend.tree import Tree
    from ui.stories import lips_answer, node_story
    from ui.vocabulary import vocabulary

    for odd in ODD:
        events = [
            ev.RunStarted(seq=0, t=0.0, run_id="r", algorithm="lips", problem="a > 0"),
            ev.NodeAdded(seq=1, t=0.0, id=0, parent=None, kind="root", text="a^2+1 >= 2*a",
                         meta={"variables": ["a"], "constraints": ["a > 0"]}),
            ev.NodeAdded(seq=2, t=0.0, id=1, parent=0, kind="step", text="(a-1)^2 >= 0",
                         meta={"tactic": "t", "instantiation": odd}),
            ev.NodeVerified(seq=3, t=0.0, id=1, status="ok", method="z3", detail={"checks": odd}),
            ev.NodeVerified(seq=4, t=0.0, id=0, status="counterexample", method="z3",
                            detail={"counterexample": odd}),
            ev.NodeVerified(seq=5, t=0.0, id=1, status="proved", method="z3",
                            detail={"attempts": odd, "chain": odd}),
        ]
        tree = Tree.from_events(events)
        shown = [node_story(vocabulary("lips"), tree, tree.nodes[n], events) for n in (0, 1)]
        shown += [lips_answer(tree, events), proof_markdown(readable_proof(events))]
        assert all(len(text) < 20_000 for text in shown), [len(t) for t in shown]
        assert "<b>" not in "".join(shown)
