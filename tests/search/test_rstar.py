"""rStar-Math over the core: step format, cumulative execution, failing steps, seeds, replay."""

from __future__ import annotations

import pytest

from backend import events as ev
from backend.engines.base import Completion
from backend.engines.scripted import Rule, ScriptedEngine
from backend.search.registry import make_config
from backend.search.rstar import RStarSearch
from backend.search.rstar_format import extract_code, final_answer, load_prompt, program, read_step
from backend.tree import Tree
from tests.search.helpers import SeededEngine

PROBLEM = "Tom has 3 bags with 4 apples each. He eats 2. How many apples are left?"
S1_OK = "<code>\n# Step 1: apples in the bags\napples = 3 * 4\n<end_of_step>"
S1_BAD = "<code>\n# Step 1: apples\napples = bags * 4\n<end_of_step>"
FINAL_10 = "\n\n# Now print the final answer\nprint(apples - 2)\n<end_of_code>"
FINAL_12 = "\n\n# Now print the final answer\nprint(apples)\n<end_of_code>"


def after(marker):
    """Match prompts whose partial solution ends with ``marker``."""
    return lambda prompt: prompt.endswith(marker)


def engine():
    return ScriptedEngine(
        [
            Rule(after("apples = 3 * 4\n<end_of_step>"), [FINAL_10, FINAL_12, FINAL_10]),
            Rule(after("<|im_start|>assistant\n"), [S1_OK, S1_BAD, S1_OK]),
        ]
    )


def run(cfg=None, seed=0, eng=None, **kw):
    cfg = cfg or make_config("rstar", rollouts=4, children=3)
    s = RStarSearch(PROBLEM, engine=eng or engine(), config=cfg, seed=seed, **kw)
    s.run()
    return s, Tree.from_events(s.log.events)


def test_read_step_classifies_completions():
    assert (
        read_step(Completion("<code>\n# Step 1: x\nx = 1\n", 5, None, "stop", "<end_of_step>")).kind == "code"
    )
    final = read_step(Completion("\nprint(x)\n", 3, None, "stop", "<end_of_code>"))
    assert final.kind == "final_code" and final.text.endswith("<end_of_code>") and final.code == "print(x)"
    assert read_step(Completion("<answer>so \\boxed{4}", 5, None, "stop", "<end_of_answer>")).kind == "answer"
    assert read_step(Completion("x = (1 +", 5, None, "length")).kind == "invalid"
    cut = read_step(Completion("# Step 1: a\nx = 1\n# Step 2: b\ny = (x +", 9, None, "length"))
    assert cut.kind == "code" and cut.code == "# Step 1: a\nx = 1\n# Step 2: b"
    assert cut.text.endswith("x = 1\n# Step 2: b\n<end_of_step>")
    assert read_step(Completion("  \n", 1, None, "stop", "<end_of_step>")).kind == "invalid"
    # the end of the message after code ends the program (small models skip <end_of_code>)
    assert read_step(Completion("```python\nprint(2)\n```", 5, None, "stop", None)).kind == "final_code"


def test_extract_code_and_cumulative_program():
    assert extract_code("<code>\n# Step 1: a\nx = 1\n<end_of_step>") == "# Step 1: a\nx = 1"
    assert extract_code("```python\nprint(x)\n```\n<end_of_code>") == "print(x)"
    assert program(["x = 1", "", "print(x)"]) == "x = 1\nprint(x)\n"


def test_final_answer_ignores_what_failed_programs_print():
    assert final_answer("12\n10\n") == "10"
    assert final_answer("None\n") is None and final_answer("nan") is None and final_answer("[]") is None
    assert final_answer("so \\boxed{7}") == "7"


def test_prompt_uses_the_chat_template_and_few_shots():
    p = load_prompt()
    msgs = p.messages(PROBLEM, 2)
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert "<end_of_step>" in msgs[2]["content"] and msgs[-1]["content"].endswith(PROBLEM)
    assert len(p.messages(PROBLEM, 0)) == 2


def test_code_runs_cumulatively_and_answers_come_from_output():
    _, tree = run()
    answers = [n for n in tree.nodes.values() if n.answer is not None]
    assert {n.answer for n in answers} == {"10", "12"}
    ten = next(n for n in answers if n.answer == "10")
    assert ten.status == "ok" and ten.method == "python" and ten.output.strip() == "10"
    assert ten.kind == "answer" and ten.terminal
    # the step itself only holds its own code; 10 needs the parent's `apples`
    assert "apples = 3 * 4" not in ten.code


def test_failing_step_kept_with_its_error_and_never_expanded():
    s, tree = run()
    bad = [n for n in tree.nodes.values() if n.status == "error"]
    assert len(bad) == 1 and "NameError" in bad[0].output and bad[0].terminal
    assert bad[0].detail["reason"] == "error"
    assert not bad[0].children
    assert not any("bags * 4" in c["prompts"][0].split("Question: " + PROBLEM)[-1] for c in s.engine.calls)


def test_duplicates_dropped_and_votes_and_answer():
    _, tree = run()
    root_kids = tree.nodes[0].children
    assert len(root_kids) == 2  # S1_OK twice: one node, the copy counted in meta
    assert tree.nodes[root_kids[0]].meta.get("duplicates") == 1
    fin = tree.finished
    assert fin.answer in {"10", "12"} and fin.best_path[0] == 0
    assert tree.nodes[fin.best_path[-1]].answer == fin.answer


def test_one_call_per_expansion_with_the_step_stops():
    s, _ = run()
    assert all(c["n"] == 3 and len(c["prompts"]) == 1 for c in s.engine.calls)
    assert all(c["stop"] == ["<end_of_step>", "<end_of_code>", "<end_of_answer>"] for c in s.engine.calls)


def test_answer_step_written_by_the_model_when_answer_from_output_is_off():
    eng = ScriptedEngine(
        [
            Rule(after("<end_of_output>\n"), ["<answer>There are \\boxed{10} apples left.<end_of_answer>"]),
            Rule(after("apples = 3 * 4\n<end_of_step>"), [FINAL_10]),
            Rule(after("<|im_start|>assistant\n"), [S1_OK]),
        ]
    )
    cfg = make_config("rstar", rollouts=2, children=1, answer_from_output=False)
    s, tree = run(cfg, eng=eng)
    final = next(n for n in tree.nodes.values() if n.code and "print" in n.code)
    assert not final.terminal and final.kind == "step"
    ans = tree.nodes[final.children[0]]
    assert ans.kind == "answer" and ans.answer == "10" and ans.status == "answered"
    assert "<output>10<end_of_output>" in s.engine.calls[-1]["prompts"][0]


def test_same_seed_same_tree_and_replay():
    texts = [S1_OK, S1_BAD, FINAL_10, FINAL_12, "\n\n# Step 2: eaten\neaten = 2\n<end_of_step>"]
    cfg = make_config("rstar", rollouts=3, children=2)

    def shape(seed):
        s, tree = run(cfg, seed=seed, eng=SeededEngine(texts))
        return [(e.type, getattr(e, "id", None), getattr(e, "text", None)) for e in s.log.events], tree, s

    a, tree_a, s_a = shape(7)
    b, tree_b, _ = shape(7)
    c, _, _ = shape(8)
    assert a == b and a != c
    assert {k: v.summary() for k, v in tree_a.nodes.items()} == {
        k: v.summary() for k, v in tree_b.nodes.items()
    }
    for node in s_a.nodes.values():
        assert tree_a.nodes[node.id].n == node.n
        assert tree_a.nodes[node.id].q == pytest.approx(node.q, abs=1e-6)


def test_presets_match_the_official_configs():
    data = make_config("rstar", "paper-data")
    assert (data.children, data.rollouts, data.max_depth, data.temperature, data.c) == (12, 48, 16, 0.7, 2.0)
    inf = make_config("rstar", "paper-inference")
    assert (inf.children, inf.rollouts, inf.temperature, inf.max_step_tokens) == (32, 12, 1.0, 2048)
    assert make_config("rstar") == make_config("rstar", "cpu-demo")


def test_run_started_states_config_engine_and_reward():
    s, tree = run()
    started = tree.started
    assert started.algorithm == "rstar" and started.reward == "vote"
    assert started.config["children"] == 3 and started.engine["name"] == "scripted"
    assert isinstance(s.log.events[-1], ev.RunFinished)


class _SmallContext(ScriptedEngine):
    """``engine()``'s rules on a model that reads ``n_ctx`` tokens, one per character."""

    def __init__(self, n_ctx: int):
        super().__init__(engine().rules)
        self.n_ctx = n_ctx

    def tokenize(self, text: str) -> list[int]:
        return [ord(ch) for ch in text]


def test_a_path_grown_past_the_models_context_ends_there_not_the_run():
    """A deep path's prompt can outgrow the context; the engine's refusal ("prompt has N
    tokens; n_ctx is 4096") used to end the run in error. Now that node gets no children (it
    ends there), a warning says why, and the search goes on to its answer elsewhere."""
    root = engine()
    s0 = RStarSearch(PROBLEM, engine=root, config=make_config("rstar", rollouts=1, children=3))
    s0.run()
    first = len(root.calls[0]["prompts"][0])
    eng = _SmallContext(first + 16 + len(S1_OK) // 2)  # the root's prompt fits, a step's does not
    s, _ = run(eng=eng)
    assert s.state.finished.status in ("solved", "exhausted") and s.state.finished.error is None
    notes = [e.message for e in s.log.events if isinstance(e, ev.Note) and e.level == "warning"]
    assert any("longer than the model reads" in m for m in notes)
    assert all(len(p) < eng.n_ctx for call in eng.calls for p in call["prompts"])
    assert all(n.dead or n.terminal for n in s.root.children)


# --- the greedy program as one candidate of each expansion (issue 14's search setting) ------

PROGRAM_10 = S1_OK + FINAL_10  # a whole solution in one completion


class _GreedyAware(ScriptedEngine):
    """``engine()``'s rules for sampled calls; temperature 0 answers ``greedy`` instead, as a
    model's argmax differs from its samples. Records each call's temperature and max_tokens."""

    def __init__(self, greedy: str, rules=None):
        super().__init__(rules or engine().rules)
        self.greedy = ScriptedEngine(greedy if isinstance(greedy, list) else [Rule(lambda p: True, [greedy])])
        self.temperatures: list[tuple[float, int]] = []

    def generate(self, prompts, *, temperature=0.7, max_tokens=256, **kw):
        self.temperatures.append((temperature, max_tokens))
        if temperature == 0:
            rows = self.greedy.generate(prompts, temperature=0, max_tokens=max_tokens, **kw)
            self.calls.append(self.greedy.calls[-1])
            return rows
        return super().generate(prompts, temperature=temperature, max_tokens=max_tokens, **kw)


def test_greedy_program_joins_each_expansion_as_one_whole_solution():
    eng = _GreedyAware(PROGRAM_10)
    cfg = make_config("rstar", rollouts=3, children=3, greedy_program_tokens=300)
    s, tree = run(cfg, eng=eng)
    greedy_calls = [c for c, (t, _) in zip(eng.calls, eng.temperatures, strict=True) if t == 0]
    sampled = [c for c, (t, _) in zip(eng.calls, eng.temperatures, strict=True) if t > 0]
    # one greedy call and one sampled call of children - 1 per expansion
    assert greedy_calls and len(greedy_calls) == len(sampled)
    assert all(c["n"] == 1 and c["stop"] == ["<end_of_code>", "<end_of_answer>"] for c in greedy_calls)
    assert all(c["n"] == 2 and "<end_of_step>" in c["stop"] for c in sampled)
    assert {m for t, m in eng.temperatures if t == 0} == {300}
    # the root's first child is the greedy baseline's own program: run whole, answered 10
    first = tree.nodes[tree.nodes[0].children[0]]
    assert first.meta.get("greedy_program") is True
    assert first.terminal and first.answer == "10" and first.status == "ok"
    assert "apples = 3 * 4" in first.code and "print(apples - 2)" in first.code
    marked = [n for n in tree.nodes.values() if n.meta.get("greedy_program")]
    assert len(marked) == len(greedy_calls)  # one per expansion (none was a duplicate here)
    assert s.state.tokens == sum(n.tokens for n in tree.nodes.values())
    from ui.inspector import node_view  # the inspector names it

    assert "greedy program" in node_view(tree, first.id).title
    assert "greedy" not in node_view(tree, tree.nodes[0].children[1]).title


def test_greedy_program_with_one_child_is_the_greedy_path_alone():
    eng = _GreedyAware(PROGRAM_10)
    cfg = make_config("rstar", rollouts=2, children=1, greedy_program_tokens=300)
    _, tree = run(cfg, eng=eng)
    assert all(t == 0 for t, _ in eng.temperatures)
    assert tree.finished.answer == "10"


def test_a_sample_equal_to_the_greedy_program_is_a_duplicate_of_it():
    eng = _GreedyAware(S1_OK)  # the greedy rest of the program is the sampled first step
    cfg = make_config("rstar", rollouts=1, children=3, greedy_program_tokens=300)
    _, tree = run(cfg, eng=eng)
    first = tree.nodes[tree.nodes[0].children[0]]
    assert first.meta.get("greedy_program") is True and first.meta.get("duplicates") == 1
    assert len(tree.nodes[0].children) == 2


def test_greedy_program_off_by_default_makes_no_greedy_call():
    eng = _GreedyAware(PROGRAM_10)
    run(make_config("rstar", rollouts=3, children=3), eng=eng)
    assert all(t > 0 for t, _ in eng.temperatures)


def test_greedy_program_rows_stay_with_their_nodes_when_walkers_expand_together():
    s1_b = "<code>\n# Step 1: apples in the bags\napples = 4 * 3\n<end_of_step>"
    rules = [Rule(after("<end_of_step>"), [FINAL_10, FINAL_12]),
             Rule(after("<|im_start|>assistant\n"), [S1_OK, s1_b])]
    # the greedy rest of the program differs by node, so a row given to the wrong node shows
    greedy = [Rule(after("3 * 4\n<end_of_step>"), [FINAL_10]),
              Rule(after("4 * 3\n<end_of_step>"), [FINAL_12]),
              Rule(lambda p: True, [PROGRAM_10])]
    eng = _GreedyAware(greedy, rules)
    cfg = make_config("rstar", rollouts=4, children=3, parallel=2, greedy_program_tokens=300)
    _, tree = run(cfg, eng=eng)
    temps = [t for t, _ in eng.temperatures]
    multi = [c for c, t in zip(eng.calls, temps, strict=True) if t == 0 and len(c["prompts"]) > 1]
    assert multi, "two walkers' leaves were expanded in one call"
    checked = 0
    for node in tree.nodes.values():
        if node.parent is None or not node.children or not node.code:
            continue
        first = tree.nodes[node.children[0]]
        assert first.meta.get("greedy_program") is True
        assert first.text == (FINAL_10 if "3 * 4" in node.code else FINAL_12)
        assert first.answer == ("10" if "3 * 4" in node.code else "12")
        checked += 1
    assert checked == 2
