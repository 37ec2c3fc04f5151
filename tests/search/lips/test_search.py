"""LIPS best-first search: proofs, refutations, re-checked chains, events, registry/CLI plumbing."""

from __future__ import annotations

import sympy as sp

from backend import events as ev
from backend.engines.scripted import ScriptedEngine
from backend.search.lips.problem import Goal
from backend.search.lips.search import LipsConfig, LipsSearch
from backend.search.registry import algorithm_names, make_config
from backend.solve import solve
from backend.tree import Tree

AMGM = "a,b > 0; prove a^2+b^2 >= 2*a*b"
RECIP = "a > 0; b > 0; prove (a + b)*(1/a + 1/b) >= 4"
FALSE = "a,b,c > 0; prove 301/100 <= a/b + b/c + c/a"


def _run(problem: str, engine=None, **cfg) -> LipsSearch:
    s = LipsSearch(problem, engine=engine, config=LipsConfig(**{"time_limit_s": 60.0, **cfg}))
    s.run()
    return s


def test_registered_with_presets():
    assert "lips" in algorithm_names()
    cfg = make_config("lips", "symbolic")
    assert cfg.llm_rewrite is False and cfg.max_iterations == 200


def test_amgm_proved_symbolically():
    res = solve(AMGM, algorithm="lips", engine=None)
    assert res.status == "proved" and res.answer == "proved"
    tree = Tree.from_events(res.events)
    closed = tree.nodes[res.best_path[-1]]
    assert closed.status == "proved" and closed.method  # the checker that closed it is named


def test_reciprocal_sum_proved_symbolically():
    res = solve(RECIP, algorithm="lips", engine=None)
    assert res.status == "proved"


def test_scaling_step_then_close_is_a_rechecked_chain():
    # min_proof_depth=1 forces one tactic: AM-GM on the lhs turns 2ab <= a^2+b^2 into a trivial goal
    s = _run(AMGM, min_proof_depth=1, max_candidates=8)
    fin = s.state.finished
    assert fin.status == "proved"
    assert len(fin.best_path) >= 2
    tree = Tree.from_events(s.log.events)
    last = tree.nodes[fin.best_path[-1]]
    assert last.kind == "goal" and last.status == "proved"
    assert last.detail["chain"] and all(c["ok"] for c in last.detail["chain"])
    step = tree.nodes[fin.best_path[1]]
    assert step.meta["tactic"] and "instantiation" in step.meta
    # dropped candidates stay visible with their counterexample
    dropped = [n for n in tree.nodes.values() if n.status == "counterexample"]
    assert dropped and all(n.detail.get("counterexample") for n in dropped)
    assert "symbolic" in (tree.nodes[0].scores or {})
    assert "<=" in s.proof_text()


def test_false_inequality_is_refuted_never_proved():
    res = solve(FALSE, algorithm="lips", engine=None)
    assert res.status != "proved" and res.answer == "refuted"
    tree = Tree.from_events(res.events)
    assert tree.nodes[0].status == "refuted" and tree.nodes[0].detail["counterexample"]


def test_recheck_rejects_an_unsound_chain():
    s = LipsSearch(AMGM, engine=None, config=LipsConfig())
    s.start()
    a, b = sp.symbols("a b", real=True)
    root = s.nodes[0]
    # an unjustified "scaling" to a trivially true goal: the chain must not re-check
    bogus = s._child(root, Goal(sp.Integer(0), sp.Integer(1)), "scale", {"tactic": "bogus"}, {})
    bogus.goal = Goal(sp.Integer(0), sp.Integer(1))
    ok, _why, checks = s.recheck(bogus.id)
    # 0 <= 1 does not imply 2ab <= a^2+b^2 by a side change: check_step must not pass it blindly
    assert isinstance(ok, bool) and checks
    # a step to a FALSE goal can never re-check
    wrong = s._child(root, Goal(a**2 + b**2 + 1, a**2 + b**2), "scale", {"tactic": "bogus"}, {})
    ok2, _, _ = s.recheck(wrong.id)
    assert not ok2


def test_events_replay_to_the_same_tree():
    s = _run(AMGM, min_proof_depth=1, max_candidates=8)
    events = s.log.events
    again = [ev.event_from_json(e.to_json()) for e in events]
    t1, t2 = Tree.from_events(events), Tree.from_events(again)
    assert [n.summary() for n in t1.nodes.values()] == [n.summary() for n in t2.nodes.values()]
    assert isinstance(events[0], ev.RunStarted) and events[0].algorithm == "lips"
    assert any(isinstance(e, ev.IterationDone) for e in events)


def test_with_scripted_engine_rewrites_and_ranks():
    eng = ScriptedEngine(
        [
            ("Rank the given", ["I think \\boxed{(2),(1)}"]),
            ("factor the expression", ["The answer is \\boxed{-(a-b)^2}"]),
        ],
        default="no idea",
    )
    s = _run(AMGM, engine=eng, min_proof_depth=1, max_candidates=8)
    assert s.state.finished.status == "proved"
    tree = Tree.from_events(s.log.events)
    llm = [n for n in tree.nodes.values() if n.meta.get("source") == "llm"]
    # the accepted rewrite, ranked (2) = the LLM's first pick, was popped next and closed
    assert llm and any(n.status in ("equivalent", "proved") for n in llm)
    assert eng.calls  # the LLM was asked
    ranked = [n for n in tree.nodes.values() if "llm_rank" in (n.scores or {})]
    assert ranked and s.popped[1] == next(n.id for n in ranked if n.scores["llm_rank"] == 1.0)


def test_unusable_ranking_falls_back_with_a_note():
    eng = ScriptedEngine([], default="I cannot rank these.")
    s = _run(AMGM, engine=eng, min_proof_depth=1, max_candidates=8, llm_rewrite=False)
    notes = [e.message for e in s.log.events if isinstance(e, ev.Note)]
    assert any("symbolic order kept" in m for m in notes)
    assert s.state.finished.status == "proved"


class _SmallContext(ScriptedEngine):
    """A scripted engine that reads at most ``n_ctx`` tokens, one token per character."""

    def __init__(self, n_ctx: int, *args, **kw):
        super().__init__(*args, **kw)
        self.n_ctx = n_ctx

    def tokenize(self, text: str) -> list[int]:
        return [ord(ch) for ch in text]


def test_prompts_longer_than_the_context_are_left_out_not_fatal():
    """MO-INT P19's 6,847-token rewriting prompt ended a whole `canopy eval` with the engine's
    "prompt has ... tokens; n_ctx is 4096": now such prompts are not sent, a warning says so,
    and the symbolic search goes on."""
    eng = _SmallContext(64, [], default="\\boxed{(1)}")
    s = _run(AMGM, engine=eng, min_proof_depth=1, max_candidates=8)
    assert s.state.finished.status == "proved" and eng.calls == []
    notes = [e.message for e in s.log.events if isinstance(e, ev.Note) and e.level == "warning"]
    assert any("longer than the model reads (64 tokens)" in m for m in notes)


def test_only_the_prompts_that_fit_are_sent_and_answers_stay_in_place():
    eng = _SmallContext(0, [("short", ["A"]), ("tiny", ["B"])], default="?")
    s = LipsSearch(AMGM, engine=eng, config=LipsConfig(time_limit_s=60.0))
    fits = len(eng.chat_prompt([{"role": "user", "content": "short"}])) + 40
    eng.n_ctx = fits
    answers = s._llm_texts(["short", "x" * fits, "tiny"])
    assert answers == ["A", "", "B"]
    sent = [eng.chat_prompt([{"role": "user", "content": p}]) for p in ("short", "tiny")]
    assert eng.calls[-1]["prompts"] == sent


def test_eval_datasets_are_registered():
    from backend.problems import load_problems

    easy = load_problems("ineq-easy", 2)
    assert easy[0].answer == "proved" and "prove" in easy[0].question
    assert load_problems("ineq-false", 1)[0].answer == "refuted"


def test_renamed_copies_are_duplicates_only_when_the_constraints_are_symmetric():
    a, b, c = sp.symbols("a b c", real=True)
    g = Goal(a**2 + b, c**3)
    swapped = Goal(b**2 + a, c**3)  # a <-> b
    shifted = Goal(b**2 + c, a**3)  # a -> b -> c -> a
    s = LipsSearch("a,b,c > 0; a+b+c = 3; prove a^2+b^2+c^2 >= 3", engine=None, config=LipsConfig())
    s.start()
    root = s.nodes[0]
    assert s._child(root, g, "scale", {}, {}) is not None
    assert s._child(root, swapped, "scale", {}, {}) is None
    assert s._child(root, shifted, "scale", {}, {}) is None
    assert s.frontier.dropped["renamed"] == 2
    # a <= 1 breaks the symmetry: the renamed goals are different proof states
    t = LipsSearch("a,b,c > 0; a <= 1; a+b+c = 3; prove a^2+b^2+c^2 >= 3", engine=None, config=LipsConfig())
    t.start()
    assert t._child(t.nodes[0], g, "scale", {}, {}) is not None
    assert t._child(t.nodes[0], shifted, "scale", {}, {}) is not None
    # only b <-> c fixes {a <= 1}: a copy under it is still a duplicate
    assert t._child(t.nodes[0], Goal(a**2 + c, b**3), "scale", {}, {}) is None


def test_symbolic_tactic_step_is_a_rechecked_chain():
    s = _run(
        "a,b,c > 0; a+b+c = 3; prove 1/(1+a^2) + 1/(1+b^2) + 1/(1+c^2) >= 3/2",
        min_proof_depth=1,
        max_candidates=1,
        homogenise=False,  # the tangent line works on the sum constraint, not the homogenised goal
    )
    tree = Tree.from_events(s.log.events)
    sym = [n for n in tree.nodes.values() if n.meta.get("source") == "symbolic"]
    assert {n.meta["tactic"] for n in sym} >= {"sym_tangent_line", "sym_equal_value"}
    tl = next(n for n in sym if n.meta["tactic"] == "sym_tangent_line")
    assert tl.text == "0 <= 0" and tl.status in ("ok", "proved")
    assert s.state.finished.status == "proved" and s.state.finished.best_path == [0, tl.id]
    assert [c["ok"] for c in tree.nodes[tl.id].detail["chain"]] == [True, True]
    text = s.proof_text()
    assert "step 1:" in text and "justified by:" in text and "closed:" in text


def test_closer_budgets_shrink_to_the_time_left():
    s = LipsSearch(AMGM, engine=None, config=LipsConfig(time_limit_s=1.0))
    s.start()
    cfg = s._close_config()
    assert cfg.z3_timeout_s <= 1.0 and cfg.sos_timeout_s <= 1.0
    free = LipsSearch(AMGM, engine=None, config=LipsConfig(time_limit_s=0))
    free.start()
    assert free._close_config().z3_timeout_s == free.close_cfg.z3_timeout_s


def test_a_scaling_that_divides_by_zero_never_reaches_the_closers():
    # scaling an LLM rewrite `-(a-b)^2` of AM-GM once produced the goal `0 <= nan`, and the
    # positivity check's NaN comparison raised and ended the run
    from backend.search.lips.problems import load_inequalities

    problem = next(p for p in load_inequalities("ineq-easy") if p.id == "easy-am-gm-square").to_text()
    eng = ScriptedEngine(
        [("Rank the given", ["I think \\boxed{(2),(1)}"]),
         ("factor the expression", ["The answer is \\boxed{-(a-b)^2}"])],
        default="no idea",
    )
    s = _run(problem, engine=eng, min_proof_depth=3, max_candidates=3, rewrite_streak=1, max_iterations=8)
    assert s.state.finished.status != "error", s.state.finished
    goals = [e.text for e in s.log.events if isinstance(e, ev.NodeAdded)]
    assert goals and not any("nan" in g or "zoo" in g for g in goals)


def test_how_ambiguous_text_was_read_is_a_note_on_the_root():
    s = _run("a, b, c > 0; prove a^2 + b^2 + c^2 >= ab + bc + ca", llm_rewrite=False, llm_rank=False)
    notes = [e for e in s.log.events if isinstance(e, ev.Note) and e.node == 0]
    assert any("ab read as a*b" in n.message for n in notes)
    assert s.state.finished.status == "proved"


# --- the official pop order (issue 18) -----------------------------------------------------


def _pop_record(events) -> list[dict]:
    """Replay the events into the queue the search should hold, and per pop: the queue in
    symbolic order (score, then insertion) just before it, the goals the LLM ranked, the pop.
    A pop is the first node_verified of an iteration on a queued goal; a new goal joins the
    queue when its admission verdict leaves it open."""
    scores: dict[int, float] = {}
    queue: dict[int, tuple[float, int]] = {}
    seq = 0
    pops: list[dict] = []
    ranked: list[int] = []
    popped_this_iteration = False
    for e in events:
        if isinstance(e, ev.NodeScored) and e.source == "symbolic":
            scores[e.id] = e.score
        elif isinstance(e, ev.NodeScored) and e.source == "llm_rank":
            ranked.append(e.id)
        elif isinstance(e, ev.NodeAdded) and e.parent is None:
            queue[e.id], seq = (0.0, seq), seq + 1  # the root; its score follows
        elif isinstance(e, ev.NodeVerified):
            if e.id in queue and not popped_this_iteration:
                order = sorted(queue, key=lambda i: (scores[i], queue[i][1]))
                pops.append({"queue": order, "ranked": ranked, "popped": e.id})
                del queue[e.id]
                popped_this_iteration, ranked = True, []
            elif e.id not in queue and not e.terminal and e.id not in [p["popped"] for p in pops]:
                queue[e.id], seq = (scores[e.id], seq), seq + 1
        elif isinstance(e, ev.IterationDone):
            popped_this_iteration = False
    return pops


def _top_k(order: list[int], scores: dict[int, float], k: int) -> list[int]:
    if len(order) <= k:
        return order
    return [i for i in order if scores[i] <= scores[order[k - 1]]]


ORDER_RUN = {"min_proof_depth": 3, "max_iterations": 6, "max_candidates": 6, "llm_rewrite": False,
             "sos_timeout_s": 0.0, "z3_timeout_s": 1.0}


def test_llm_first_pick_of_the_global_top_k_is_popped():
    # The ranker always answers "(2) first": the official search pops the second goal of the
    # whole queue's top k at every pop. The old code ranked only the last expansion's children
    # and pinned the picks at the front, ordered by score (so it popped the first of them).
    eng = ScriptedEngine([("Rank the given", ["\\boxed{(2),(1)}"])], default="no idea")
    s = _run(AMGM, engine=eng, top_k=3, **ORDER_RUN)
    scores = {e.id: e.score for e in s.log.events if isinstance(e, ev.NodeScored) and e.source == "symbolic"}
    pops = _pop_record(s.log.events)
    assert [p["popped"] for p in pops] == s.popped and len(pops) >= 4
    assert pops[0]["popped"] == 0 and not pops[0]["ranked"]  # the root, alone in the queue
    spanning = 0
    for p in pops[1:]:
        top = _top_k(p["queue"], scores, 3)
        assert sorted(p["ranked"]) == sorted(top)  # the whole queue's top k went to the ranker
        assert p["popped"] == (top[1] if len(top) > 1 else top[0])  # the LLM's first pick
        parents = {s.nodes[i].parent for i in top}
        spanning += len(parents) > 1
    assert spanning  # goals from different expansions competed in one ranking
    # the same run without an LLM pops the symbolic first of the whole queue every time
    plain = _run(AMGM, **ORDER_RUN)
    plain_pops = _pop_record(plain.log.events)
    assert len(plain_pops) >= 4 and [p["popped"] for p in plain_pops] == plain.popped
    assert all(p["popped"] == p["queue"][0] and not p["ranked"] for p in plain_pops)
    assert plain.popped[:2] != s.popped[:2]  # the ranker's picks changed what was popped


def test_a_nonsense_ranking_pops_the_symbolic_first_with_a_warning():
    eng = ScriptedEngine([("Rank the given", ["I would pick \\boxed{(17)}"])], default="no idea")
    s = _run(AMGM, engine=eng, **ORDER_RUN)
    pops = _pop_record(s.log.events)
    assert len(pops) >= 3 and all(p["popped"] == p["queue"][0] for p in pops)
    notes = [e.message for e in s.log.events if isinstance(e, ev.Note) and e.level == "warning"]
    assert len([m for m in notes if "symbolic order kept" in m]) == len(pops) - 1


# --- the initial homogenisation step (official make_by_homogeneous) ------------------------

SUMSQ = "a,b,c > 0; a+b+c = 3; prove a^2+b^2+c^2 >= 3"


def test_make_homogeneous_lifts_lower_degree_terms_with_the_equality():
    from backend.search.lips.homogenise import make_homogeneous
    from backend.search.lips.problem import parse_problem
    from backend.search.lips.score import get_degree

    p = parse_problem(SUMSQ)
    new, used = make_homogeneous(p, p.goal)
    a, b, c = p.symbol_list
    assert used.replace(" ", "") == "a+b+c=3"
    # 3 <= a^2+b^2+c^2 becomes 3 ((a+b+c)/3)^2 <= a^2+b^2+c^2: degree 2 on both sides
    assert sp.simplify(new.lhs - (a + b + c) ** 2 / 3) == 0 and new.rhs == p.goal.rhs
    assert get_degree(new.diff) == 2
    # abc = 1: a fractional power of delta, as the official nsimplify((top - d) / m) gives
    q = parse_problem("a,b,c > 0; a*b*c = 1; prove a + b + c >= 3")
    assert make_homogeneous(q, q.goal)[0].lhs == 3 * (a * b * c) ** sp.Rational(1, 3)
    # nothing to do: a homogeneous goal, no equality, or an equality that is not P = k with P homogeneous
    assert make_homogeneous(p, Goal(2 * a * b, a**2 + b**2)) is None
    free = parse_problem("a,b > 0; prove a + 1/a >= 2")
    assert make_homogeneous(free, free.goal) is None
    r = parse_problem("a,b > 0; a + b^2 = 2; prove a + b >= 1")
    assert make_homogeneous(r, r.goal) is None


def test_an_inequality_constraint_homogenises_when_no_equality_fits():
    """MO-INT P15 (official: the first inequality when no equality fits): the 1s of
    (1 + ab)/(a+b)^2 are lifted with a^2+b^2+c^2+(a+b+c)^2 <= 4 (so the new goal is stronger),
    and z3 proves the step sound."""
    from backend.search.lips.filtering import FilterConfig, check_step
    from backend.search.lips.homogenise import make_homogeneous
    from backend.search.lips.problem import parse_problem
    from backend.search.lips.score import get_degree

    p = parse_problem("a,b,c > 0; a^2+b^2+c^2+(a+b+c)^2 <= 4; "
                      "prove (a*b+1)/(a+b)^2 + (b*c+1)/(b+c)^2 + (c*a+1)/(c+a)^2 >= 3")
    new, _ = make_homogeneous(p, p.goal)
    assert get_degree(new.diff) == 0
    a, b, c = p.symbol_list
    delta = (a**2 + b**2 + c**2 + (a + b + c) ** 2) / 4
    want = (a * b + delta) / (a + b) ** 2 + (b * c + delta) / (b + c) ** 2 + (c * a + delta) / (c + a) ** 2
    assert new.lhs == 3 and sp.simplify(new.rhs - want) == 0
    assert check_step(p, p.goal, new, config=FilterConfig()).status == "passed"


def test_homogenisation_is_the_first_z3_checked_proof_step():
    s = _run(SUMSQ, min_proof_depth=1, sos_timeout_s=0.0)
    tree = Tree.from_events(s.log.events)
    root_children = [n for n in tree.nodes.values() if n.parent == 0]
    assert len(root_children) == 1  # the root's expansion is the homogenisation alone
    hom = root_children[0]
    assert hom.meta["tactic"].startswith("make_homogeneous ") and hom.meta["constraint"]
    assert hom.method == "z3" and s.nodes[hom.id].kind == "homogenise"
    assert s.popped[:2] == [0, hom.id]
    fin = s.state.finished
    assert fin.status == "proved" and fin.best_path[:2] == [0, hom.id]
    chain = tree.nodes[fin.best_path[-1]].detail["chain"]
    assert all(c["ok"] for c in chain) and chain[0]["method"].startswith("check_step:z3")
    assert "make_homogeneous" in s.proof_text()
    # switched off: the root is expanded by the tactics
    off = _run(SUMSQ, min_proof_depth=1, sos_timeout_s=0.0, homogenise=False, max_candidates=4)
    assert not any(n.kind == "homogenise" for n in off.nodes.values())
    assert len([n for n in off.nodes.values() if n.parent == 0]) > 1


def test_candidates_get_a_short_z3_budget_and_the_proof_path_the_full_one():
    s = LipsSearch(AMGM, engine=None, config=LipsConfig(filter_z3_s=0.25, pop_z3_s=0.5, z3_timeout_s=4.0))
    s.start()
    assert s.filter_cfg.refute_timeout_s == s.filter_cfg.implication_timeout_s == 0.25
    assert s.recheck_cfg.implication_timeout_s == 4.0  # the chain's re-check is not cut
    assert s._close_config(root=True).z3_timeout_s == s.close_cfg.z3_timeout_s  # the root: full budget
    assert s._close_config(root=False).z3_timeout_s == 0.5


def test_contradicting_constraints_prove_nothing():
    """x > 0 and x < 0 admit no point, so z3 and every closer "prove" any goal from them (a
    univariate check once proved x >= 5); the run ends as an error that says why, without a proof."""
    res = solve("x > 0; x < 0; prove x >= 5", algorithm="lips", engine=None)
    assert res.status == "error" and res.answer is None
    tree = Tree.from_events(res.events)
    assert "constraints contradict each other" in tree.finished.error
    assert [n.level for n in tree.notes] == ["error"] and "nothing is proved" in tree.notes[0].message
    assert all(n.status != "proved" for n in tree.nodes.values())
    # satisfiable constraints are untouched
    assert solve("x > 0; x < 1; prove x^2 <= 1", algorithm="lips", engine=None).status == "proved"
