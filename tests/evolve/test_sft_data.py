"""SFT data selection (backend/evolve/sft_data.py) on a hand-made truth tree a person can
check by eye: which traces the official rule keeps, in which order, and their exact text."""

from __future__ import annotations

from backend import events as ev
from backend.engines.base import plain_chat_prompt
from backend.evolve.sft_data import Trace, read_examples, sft_examples, top_traces, write_examples
from backend.search.rstar_format import load_prompt
from backend.tree import Tree

QUESTION = "Tom has 3 bags with 4 apples each. He eats 2. How many apples are left?"
S_A = "<code>\n# Step 1: apples in the bags\nx = 3 * 4\n<end_of_step>"
S_B = "<code>\n# Step 1: count the bags\nbags = 3\n<end_of_step>"
S_C = "<code>\n# Step 1: twelve apples\nx = 12\n<end_of_step>"
S_D = "<code>\n# Step 1: guess\nx = 10\n<end_of_step>"
RIGHT = "\n# Now print the final answer\nprint(x - 2)\n<end_of_code>"
WRONG = "\n# Now print the final answer\nprint(x)\n<end_of_code>"
PROGRAM = "\n# Step 2: apples\nx = bags * 4 - 2\nprint(x)\n<end_of_code>"
BOXED = "<answer>The answer is \\boxed{10}<end_of_answer>"
ERRORED = "\n# Now print the final answer (no error here)\nprint(x - 2)\n<end_of_code>"
LUCKY = "\n# Now print the final answer\nprint(10)\n<end_of_code>"


def hand_made_tree(few_shot: int = 1) -> Tree:
    """Correct traces (mean Q, min Q): [10, 11] (0.95, 0.9) says "error"; [1, 3] (0.8, 0.6);
    [2, 5, 6] (0.733, 0.2) passes through a finished program; [8, 9] (0.9) is pruned; [1, 4]
    is wrong (12)."""
    log = ev.EventLog(clock=iter(range(1000)).__next__)
    spec = {"problem": QUESTION, "algorithm": "rstar", "reward": "truth", "reference": "10"}
    log.emit(ev.RunStarted, run_id="r1", algorithm="rstar", problem=QUESTION,
             config={"few_shot": few_shot}, reward="truth", spec=spec)
    log.emit(ev.NodeAdded, id=0, parent=None, kind="root", text=QUESTION)

    def step(i, parent, text, q, *, kind="step", step_kind="code", answer=None, output=""):
        log.emit(ev.NodeAdded, id=i, parent=parent, kind=kind, text=text, meta={"step_kind": step_kind},
                 terminal=answer is not None)
        status = "answered" if step_kind == "answer" else "ok"
        log.emit(ev.NodeVerified, id=i, status=status, method="python", output=output, answer=answer)
        log.emit(ev.Backprop, iteration=1, path=[0, i], reward=q, updated=[[i, 1, q]])

    step(1, 0, S_A, 0.6)
    step(3, 1, RIGHT, 1.0, kind="answer", step_kind="final_code", answer="10", output="10")
    step(4, 1, WRONG, -1.0, kind="answer", step_kind="final_code", answer="12", output="12")
    step(2, 0, S_B, 0.2)
    step(5, 2, PROGRAM, 1.0, step_kind="final_code", output="10\n")
    step(6, 5, BOXED, 1.0, kind="answer", step_kind="answer", answer="10")
    step(8, 0, S_C, 0.8)
    step(9, 8, LUCKY, 1.0, kind="answer", step_kind="final_code", answer="10.0", output="10.0")
    step(10, 0, S_D, 0.9)
    step(11, 10, ERRORED, 1.0, kind="answer", step_kind="final_code", answer="10", output="10")
    log.emit(ev.UserAction, action="prune", node=8)
    return Tree.from_events(log.events)


def prompt_of(few_shot: int) -> str:
    return plain_chat_prompt(load_prompt().messages(QUESTION, few_shot))


def test_the_top_traces_by_mean_q_among_correct_ones_are_kept_error_text_dropped_after_the_cut():
    tree = hand_made_tree()
    # k = 2: the top two are [10, 11] (says "error": dropped, not replaced) and [1, 3]
    kept = sft_examples(tree, "toy/0", plain_chat_prompt, k=2)
    assert [e.node_id for e in kept] == [3]
    assert (kept[0].mean_q, kept[0].min_q, kept[0].answer) == (0.8, 0.6, "10")
    # k = 3 reaches [2, 5, 6]; the pruned [8, 9] (mean 0.9) and the wrong [1, 4] never count
    kept = sft_examples(tree, "toy/0", plain_chat_prompt, k=3)
    assert [e.node_id for e in kept] == [3, 6]
    # without the official word filter the "error" trace leads
    kept = sft_examples(tree, "toy/0", plain_chat_prompt, k=3, drop_error_text=False)
    assert [e.node_id for e in kept] == [11, 3, 6]


def test_examples_are_the_searchs_own_prompt_and_the_paths_step_texts():
    tree = hand_made_tree(few_shot=1)
    first, second = sft_examples(tree, "toy/0", plain_chat_prompt, k=3)
    # the prompt is what RStarPolicy sends: the few-shot count the run used, the chat template
    assert first.prompt == second.prompt == prompt_of(1)
    assert first.prompt.endswith(f"Question: {QUESTION}<|im_end|>\n<|im_start|>assistant\n")
    assert first.completion == S_A + RIGHT
    # a finished program that is not the last step carries its output block (official obs_wrap)
    assert second.completion == S_B + PROGRAM + "\n<output>10<end_of_output>\n" + BOXED
    assert sft_examples(tree, "toy/0", plain_chat_prompt, k=2, few_shot=0)[0].prompt == prompt_of(0)


def test_ranking_ties_go_to_the_higher_minimum_q_then_the_earlier_trace():
    a = Trace((0, 1, 2), "1", (0.5, 0.5))
    b = Trace((0, 3, 4), "1", (0.0, 1.0))
    c = Trace((0, 5, 6), "1", (0.5, 0.5))
    assert top_traces([b, a, c], k=3) == [a, c, b]


def test_a_tree_without_a_known_answer_or_a_right_answer_gives_nothing(tmp_path):
    tree = hand_made_tree()
    tree.started = ev.RunStarted(seq=0, t=0, run_id="r1", algorithm="rstar", problem=QUESTION)
    assert sft_examples(tree, "toy/0", plain_chat_prompt) == []
    examples = sft_examples(hand_made_tree(), "toy/0", plain_chat_prompt, k=3)
    assert write_examples(examples, tmp_path / "sft.jsonl") == 2
    assert read_examples(tmp_path / "sft.jsonl") == examples
