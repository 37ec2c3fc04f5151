"""CPL over the core: plan-step reading, prompt, PUCT priors, root width, depth, rewards, CLI."""

from __future__ import annotations

import json
import math

import pytest

from backend import events as ev
from backend.engines.base import Completion
from backend.engines.scripted import Rule, ScriptedEngine
from backend.search.cpl import CPLSearch
from backend.search.cpl_format import STEP_STOPS, load_prompt, read_step
from backend.search.registry import algorithm_names, algorithm_spec, create_search, make_config
from backend.solve import solve
from backend.tree import Tree

PROBLEM = "Tom has 3 bags with 4 apples each. He eats 2. How many apples are left?"
PA = "Plan 1: Count the apples in the bags.<endstep>"
PB = "Plan 1: Subtract the eaten apples from the total.<endstep>"
PA2 = "Plan 2: Subtract the 2 eaten apples.<endstep>"
BAD = "I will just guess.<endstep>"
NOBOX = "\nDetailed Implementation:\n1. There are some apples.<endsolution>"
SOL = (
    "\nDetailed Implementation:\n1. 3 * 4 = 12 apples.\n2. 12 - 2 = {x}.\n"
    "The final answer is \\boxed{{{x}}}.<endsolution>"
)
SOL10, SOL12 = SOL.format(x=10), SOL.format(x=12)
#: log-prob per token of each text: PB is the likeliest first step
LOGPROBS = {PB: -0.1, PA: -0.2, BAD: -1.0, NOBOX: -1.5}


def after(marker):
    return lambda prompt: prompt.endswith(marker)


class PriorEngine(ScriptedEngine):
    """The scripted engine with a log-probability per text (so siblings get different priors)."""

    def _next(self, prompt):
        raw, lp = super()._next(prompt)
        return raw, LOGPROBS.get(raw, lp)


def engine():
    return PriorEngine(
        [
            Rule(after(PA2 + "\n"), [SOL10]),
            Rule(after(PA + "\n"), [SOL10, SOL12, PA2]),
            Rule(after(PB + "\n"), [SOL10, SOL12, SOL10]),
            Rule(after("<|im_start|>assistant\nPlans:\n"), [PA, PB, PA, BAD, NOBOX]),
        ]
    )


def run(cfg=None, eng=None, **kw):
    cfg = cfg or make_config("cpl", rollouts=3)
    s = CPLSearch(PROBLEM, engine=eng or engine(), config=cfg, **kw)
    s.run()
    return s, Tree.from_events(s.log.events)


def by_text(tree):
    return {n.text: n for n in tree.nodes.values()}


# --- the format -------------------------------------------------------------------------


def test_read_step_cases():
    plan = read_step(Completion("Plan 2: Find the total.", 5, -2.0, "stop", "<endstep>"))
    assert plan.kind == "plan" and plan.text == "Plan 2: Find the total.<endstep>"
    assert plan.context == "Plan 2: Find the total.<endstep>\n"  # official step_delim
    sol = read_step(Completion(SOL10.removesuffix("<endsolution>"), 20, None, "stop", "<endsolution>"))
    assert (sol.kind, sol.answer, sol.why) == ("solution", "10", "")
    late = "Detailed Implementation:\n1. x\nso $\\boxed{\\sqrt{2}}$."
    boxed_late = read_step(Completion(late, 9, None, "stop"))
    assert boxed_late.answer == "\\sqrt{2}" and "without <endsolution>" in boxed_late.why
    nobox = read_step(Completion("Detailed Implementation:\n1. 2 = 10.", 9, None, "stop", "<endsolution>"))
    assert nobox.kind == "solution" and nobox.answer is None and "boxed" in nobox.why
    # official: the answer must be boxed; "The final answer is 10" without a box is not one
    unboxed = Completion("Detailed Implementation:\nThe final answer is 10.", 6, None, "stop")
    assert read_step(unboxed).answer is None
    for text, stop, finish, why in [
        ("I think 10.", "<endstep>", "stop", "neither"),
        ("Plan 1: a\nDetailed Implementation:\n1. b", "<endsolution>", "stop", "in one step"),
        ("  \n", "<endstep>", "stop", "empty"),
        ("Plan 1: count the", None, "length", "token limit"),
        ("Plan 1: count them all.", None, "stop", "did not end with <endstep>"),
        ("Plans:\nPlan 1: a header repeated", "<endstep>", "stop", "neither"),
    ]:
        step = read_step(Completion(text, 5, None, finish, stop))
        assert step.kind == "invalid" and why in step.why, text


def test_prompt_holds_the_problem_and_the_official_format():
    p = load_prompt()
    assert "End each step with \"<endstep>\"" in p.system and "<endsolution>" in p.system
    msgs = p.messages(PROBLEM, 2)
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert msgs[1]["content"].startswith("Question: Natalia sold clips")
    demo = msgs[2]["content"]
    assert demo.startswith("Plans:\nPlan 1: Analyze the total number of clips sold in April.<endstep>\n")
    assert "\n\nDetailed Implementation:\n1. " in demo and demo.endswith("\\boxed{72}.<endsolution>")
    assert msgs[-1]["content"] == f"Question: {PROBLEM}"
    raw = p.raw_prompt(PROBLEM, 2)  # the official completion prompt
    assert raw.startswith("You are a powerful agent") and "The following are 2 demonstration examples." in raw
    assert raw.endswith(f"Now! It's your turn.\n\nQuestion: {PROBLEM}\n\nPlans:\n")
    s = CPLSearch(PROBLEM, engine=engine(), config=make_config("cpl"))
    assert s.policy.prefix.endswith(f"Question: {PROBLEM}<|im_end|>\n<|im_start|>assistant\nPlans:\n")


# --- the search -------------------------------------------------------------------------


def test_scripted_run_builds_a_plan_tree_with_answer_terminals():
    s, tree = run()
    t = by_text(tree)
    plans = [n for n in tree.nodes.values() if n.kind == "plan"]
    assert {n.text for n in plans} == {PA, PB, PA2} and all(n.status == "ok" for n in plans)
    answers = [n for n in tree.nodes.values() if n.answer is not None]
    assert {n.answer for n in answers} == {"10", "12"}
    assert all(n.kind == "answer" and n.terminal for n in answers)
    assert t[BAD].terminal and t[BAD].detail["reason"] == "invalid" and t[BAD].kind == "step"
    assert t[NOBOX].terminal and t[NOBOX].detail["reason"] == "no_answer" and t[NOBOX].kind == "answer"
    # the duplicate root candidate was dropped and counted
    assert [tree.nodes[k].text for k in tree.nodes[0].children].count(PA) == 1
    assert t[PA].meta["duplicates"] == 1
    # the path's plans are in the next prompt, each followed by <endstep>\n
    assert any(c["prompts"][0].endswith("Plans:\n" + PA + "\n" + PA2 + "\n") for c in s.engine.calls)
    # votes 10 ×3 (two from PA's subtree), 12 ×2; the tree ran out before the 3rd rollout
    fin = tree.finished
    assert fin.answer == "10" and tree.nodes[fin.best_path[-1]].answer == "10"
    assert s.exhausted() == "tree" and s.state.iteration == 2
    for node in s.nodes.values():  # the events fold to the live tree's statistics
        assert tree.nodes[node.id].n == node.n and tree.nodes[node.id].q == pytest.approx(node.q, abs=1e-6)


def test_puct_rows_carry_priors_from_log_probs():
    s, tree = run()
    t = by_text(tree)
    assert t[PB].prior == pytest.approx(math.exp(-0.1), abs=1e-6)
    assert t[PB].meta["prior_source"] == "exp(mean token log-prob)" and t[PB].meta["mean_logprob"] == -0.1
    # children are listed by prior, highest first
    assert [tree.nodes[k].text for k in tree.nodes[0].children][:2] == [PB, PA]
    first = next(e for e in s.log.events if isinstance(e, ev.NodeSelected))
    rows = first.children[0]
    # BAD and NOBOX were invalid terminals: -1 each backed up to the root (N = 2) before selection
    assert [r["id"] for r in rows] == [t[PB].id, t[PA].id]
    for r, lp in zip(rows, (-0.1, -0.2), strict=True):
        assert r["prior"] == pytest.approx(math.exp(lp), abs=1e-6)
        assert r["u_term"] == pytest.approx(1.5 * math.exp(lp) * math.sqrt(2) / 1, abs=1e-5)
    assert first.path == [0, t[PB].id]  # the likeliest plan is tried first


def test_engine_without_log_probs_leaves_priors_uniform():
    class NoLogprobs(ScriptedEngine):
        @staticmethod
        def _finish(raw, lp, max_tokens, stop):
            c = ScriptedEngine._finish(raw, lp, max_tokens, stop)
            return Completion(c.text, c.tokens, None, c.finish_reason, c.stop_reason)

    eng = NoLogprobs([Rule(after("Plans:\n"), [PA, PB]), Rule(lambda p: True, [SOL10])])
    s, tree = run(make_config("cpl", rollouts=1, root_children=2), eng=eng)
    kids = [tree.nodes[k] for k in tree.nodes[0].children]
    assert [k.text for k in kids] == [PA, PB] and all(k.prior is None for k in kids)
    assert kids[0].meta["prior_source"].startswith("uniform")
    rows = next(e for e in s.log.events if isinstance(e, ev.NodeSelected)).children[0]
    assert all(r["prior"] is None for r in rows)


def test_five_candidates_at_the_root_three_below_one_call_each_with_the_official_stops():
    s, _ = run()
    assert [c["n"] for c in s.engine.calls] == [5, 3, 3, 3]
    assert all(len(c["prompts"]) == 1 and c["stop"] == list(STEP_STOPS) for c in s.engine.calls)
    assert list(STEP_STOPS) == ["<endstep>", "<endsolution>", "Question:"]


def test_parallel_walkers_share_calls_with_the_root_width_kept():
    s, tree = run(make_config("cpl", rollouts=4, parallel=2))
    # the root alone with 5; then both walkers' leaves (PB, PA) in one call with 3 each
    assert [(c["n"], len(c["prompts"])) for c in s.engine.calls] == [(5, 1), (3, 2), (3, 1)]
    assert tree.finished.answer == "10"


def test_depth_limit_makes_any_deeper_step_an_invalid_terminal_backed_up_to_the_root():
    def depth(prompt):
        return prompt.rsplit("assistant\nPlans:\n", 1)[-1].count("<endstep>")

    eng = ScriptedEngine(
        [
            Rule(lambda p: depth(p) == 2, [SOL10]),  # a valid solution, but one step too deep
            Rule(lambda p: True, ["Plan 1: Go on.<endstep>"]),
        ]
    )
    cfg = make_config("cpl", rollouts=4, children=1, root_children=1, max_depth=2)
    s, tree = run(cfg, eng=eng)
    deepest = max(s.nodes.values(), key=lambda n: n.depth)
    assert deepest.depth == 3 and deepest.terminal and deepest.reason == "too_deep"
    assert deepest.answer is None and tree.nodes[deepest.id].status == "error"
    assert not deepest.expanded and len(s.engine.calls) == 3
    # CPL's eval_final_answer: the -1 goes up to the root, not only onto the node
    assert (s.root.n, s.root.q) == (1, -1.0)
    assert s.finish().status == "exhausted"


def test_expansion_budget_counts_official_iterations():
    cfg = make_config("cpl", "paper-round1", expansions=2, max_step_tokens=64)
    s, _ = run(cfg)
    assert len(s.engine.calls) == 2 and s.expansions == 2
    assert s.finish().stats["budget"] == "expansions"


# --- registry, presets, rewards, CLI ----------------------------------------------------


def test_registry_and_presets():
    assert "cpl" in algorithm_names()
    spec = algorithm_spec("cpl")
    assert spec.default_preset == "cpu-demo" and spec.rewards == ("vote", "truth")
    assert {"paper-round1", "paper-round2", "cpu-demo"} <= set(spec.presets)
    for preset in spec.presets:
        cfg = make_config("cpl", preset)
        got = (cfg.selection, cfg.c, cfg.children, cfg.root_children, cfg.max_depth)
        assert got == ("puct", 1.5, 3, 5, 6)
        s = create_search("cpl", PROBLEM, engine=engine(), config=cfg)
        assert isinstance(s, CPLSearch)
    r1, r2 = make_config("cpl", "paper-round1"), make_config("cpl", "paper-round2")
    assert (r1.expansions, r2.expansions, r1.temperature, r1.max_step_tokens) == (200, 100, 0.7, 1500)
    assert make_config("cpl") == make_config("cpl", "cpu-demo")
    with pytest.raises(ValueError, match="cannot use reward 'ppm'"):
        solve(PROBLEM, algorithm="cpl", engine=engine(), reward="ppm")


def test_truth_reward_reads_the_reference_only_when_asked():
    cfg = {"rollouts": 3}
    voted = solve(PROBLEM, algorithm="cpl", engine=engine(), config=cfg, reference="12")
    scored = [e for e in voted.events if isinstance(e, ev.NodeScored)]
    assert scored and all(e.source == "vote" for e in scored)
    assert voted.events[0].reward == "vote" and voted.answer == "10" and voted.correct is False
    # with vote the known answer never steers: the same tree as without it
    blind = solve(PROBLEM, algorithm="cpl", engine=engine(), config=cfg)
    assert [(e.type, getattr(e, "id", None)) for e in blind.events[:-1]] == [
        (e.type, getattr(e, "id", None)) for e in voted.events[:-1]
    ]
    truth = solve(PROBLEM, algorithm="cpl", engine=engine(), config=cfg, reward="truth", reference="12")
    tree = Tree.from_events(truth.events)
    got = {(tree.nodes[e.id].answer, e.score) for e in truth.events if isinstance(e, ev.NodeScored)}
    assert got == {("10", -1.0), ("12", 1.0)} and truth.events[0].reward == "truth"


def test_canopy_solve_with_algo_cpl(tmp_path):
    from typer.testing import CliRunner

    from backend.cli import app
    from backend.cli.search import register

    register(app)
    rules = {"rules": [{"match": "Plan 1: Count", "texts": [SOL10]}, {"match": "Plans:\n", "texts": [PA]}]}
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(rules))
    args = ["solve", "--algo", "cpl", "--preset", "cpu-demo", "--set", "root_children=1", "--rollouts", "1",
            "--engine", "scripted", "--model", str(path), "--answer", "10", PROBLEM]
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 0, out.output
    assert "answer: 10" in out.output and "correct" in out.output and "cpl · reward vote" in out.output
    bad = CliRunner().invoke(app, ["solve", "--algo", "cpl", "--preset", "paper-round3", PROBLEM])
    assert bad.exit_code == 2 and "unknown preset 'paper-round3'" in bad.output
