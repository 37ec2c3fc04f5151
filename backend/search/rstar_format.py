"""rStar-Math's step format: the prompt, and how a generated step is read.

Format (official ``few_shots/mcts_prompt.json`` and ``few_shots.json``; Canopy's own words
and examples are in ``assets/prompts/rstar/``): a solution is Python inside
``<code> … <end_of_code>``; each step is a ``# Step k:`` comment plus code ending in
``<end_of_step>``; the last step (``# Now print the final answer``) prints the answer and
ends with ``<end_of_code>``; then ``<output>…<end_of_output>`` and
``<answer>…\\boxed{…}…<end_of_answer>``. Generation stops at ``<end_of_step>``,
``<end_of_code>`` and ``<end_of_answer>`` (official ``sft_eval_mcts.yaml``), so one completion
is one step; its text keeps the stop string, as the official ``expand_node`` does, so the
next prompt continues the same text.

Chat models: the official prompt is raw text. Canopy renders the instructions as the system
message, each few-shot example as a user/assistant turn, and the problem as the last user
turn with the engine's own chat template (``engine.chat_prompt``); the partial solution is
appended after the open assistant turn. The prompt therefore grows only at its end, so
engines reuse the KV cache of the shared prefix.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from backend.engines.base import Completion
from backend.search.prompts import PROMPTS_DIR, FewShotPrompt, read_few_shot

CODE, CODE_END = "<code>", "<end_of_code>"
STEP_END = "<end_of_step>"
OUTPUT, OUTPUT_END = "<output>", "<end_of_output>"
ANSWER, ANSWER_END = "<answer>", "<end_of_answer>"
FINAL_TAG = "Now print the final answer"
#: official inference stop strings (sft_eval_mcts.yaml)
STEP_STOPS = (STEP_END, CODE_END, ANSWER_END)
#: a whole solution in one call (official sft_eval_greedy.yaml)
SOLUTION_STOPS = (CODE_END, ANSWER_END)

_FENCE_RE = re.compile(r"^\s*```[a-zA-Z]*\s*$", re.MULTILINE)
_TAG_RE = re.compile(r"<(?:/?code|end_of_step|end_of_code)>")


def prompts_dir() -> Path:
    return PROMPTS_DIR / "rstar"


def load_prompt(directory: str | None = None) -> FewShotPrompt:
    """Read ``system.txt`` and ``few_shots.json`` (a list of {question, solution})."""
    return FewShotPrompt(*read_few_shot(Path(directory) if directory else prompts_dir(), "rStar"))


@dataclass(frozen=True)
class Step:
    """One generated step, read.

    kind: "answer" (states a \\boxed{} answer or an <answer> block), "code" (a code step),
    "final_code" (ends the program: ``<end_of_code>`` or the end of the message), "invalid"
    (cut by max_tokens, or empty).
    """

    kind: str
    text: str  # as generated, with the stop string that ended it
    code: str  # this step's own code ("" for answers)
    why: str = ""  # for "invalid": what is wrong; for a cut step: that it was cut


def read_step(c: Completion) -> Step:
    """Classify one completion as rStar-Math's ``rstar_step_result_unwrap`` does, plus the
    cases a small model produces (an <answer> without a box, the end of the message)."""
    text = c.text + (c.stop_reason or "")
    if "boxed" in text or ANSWER in text:
        return Step("answer", text, "")
    if c.finish_reason == "length":
        return _cut_step(text)
    code = extract_code(text)
    if not code.strip():
        if c.stop_reason is None:
            return Step("invalid", text, "", why="the model ended without code or an answer")
        return Step("invalid", text, "", why="empty step")
    ends = c.stop_reason == CODE_END or CODE_END in text or c.stop_reason is None
    return Step("final_code" if ends else "code", text, code)


def _cut_step(text: str) -> Step:
    """A step cut by the token limit: keep its complete lines and close it as a step.

    A small model often writes several sub-steps without ``<end_of_step>`` and runs into the
    limit; the complete lines are still good code, the last partial line is not.
    """
    head = text[: text.rfind("\n") + 1] if "\n" in text else ""
    code = extract_code(head)
    if not code.strip():
        return Step("invalid", text, "", why="cut off at the step's token limit")
    return Step("code", head + STEP_END, code, why="cut at the token limit: kept its complete lines")


def extract_code(text: str) -> str:
    """This step's Python: the text without format tags, markdown fences and the output block."""
    body = text.split(OUTPUT, 1)[0]
    body = _TAG_RE.sub("", body)
    body = _FENCE_RE.sub("", body)
    lines = [ln.rstrip() for ln in body.splitlines()]
    return "\n".join(lines).strip("\n")


def program(codes: Sequence[str]) -> str:
    """The cumulative program of a path: every ancestor's code, then the step's own
    (official ``agents/tree.py: code_execution`` runs the history plus the new snippet)."""
    return "\n".join(c for c in codes if c.strip()) + "\n"


_NON_ANSWERS = frozenset({"none", "nan", "null", "inf", "-inf", "[]", "{}", "()"})


def final_answer(text: str) -> str | None:
    """``extract_answer``, minus what a program prints when it failed to compute anything
    (``None``, ``nan``, an empty list): those would otherwise collect votes."""
    from backend.verify.answers import extract_answer

    answer = extract_answer(text)
    if answer is None or answer.strip().lower() in _NON_ANSWERS:
        return None
    return answer


def output_block(stdout: str) -> str:
    """What the official obs_wrap appends to a step that ends the code."""
    return f"\n{OUTPUT}{stdout.strip()}{OUTPUT_END}\n"
