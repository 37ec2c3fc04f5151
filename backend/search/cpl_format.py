"""CPL's plan format: the prompt, and how one generated step is read.

Format (official ``mcts_plan/prompt.py: FEWSHOT_INST``, round 1; kept verbatim in
``assets/prompts/cpl/``: ``system.txt`` is the instruction block, ``few_shots.json`` the two
demonstrations): a solution is ``Plans:`` followed by steps ``Plan k: …<endstep>``, then one
final step ``Detailed Implementation:`` … ``The final answer is \\boxed{…}.<endsolution>``.
Generation stops at ``<endstep>``, ``<endsolution>`` and ``Question:`` (``mcts_round1.yaml``),
so one completion is one plan step or the whole implementation. The partial solution is the
path's plan texts, each followed by ``<endstep>\\n`` (official ``round1_prompt_wrap`` with
``step_delim``).

Reading a step follows ``utils.py: round1_step_unwrap``: a text that starts with
``Plan k:`` and does not contain ``Detailed Implementation:`` is a plan step; one that
contains ``Detailed Implementation:`` and does not start with ``Plan k:`` is the solution,
whose answer is its last ``\\boxed{}``; anything else is malformed. Canopy also requires a
plan step to have ended at ``<endstep>`` (a plan cut by the token limit or by the end of the
message is not a finished step; the official code, with 1500 tokens, does not check).

Chat models: the instruction block is the system message, each demonstration a
user/assistant turn and the problem the last user turn, rendered with the engine's chat
template; the assistant turn starts with ``Plans:\\n``. ``raw_prompt`` is the official
completion prompt text, for base models.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from backend.engines.base import Completion
from backend.search.prompts import PROMPTS_DIR, FewShotPrompt, read_few_shot

STEP_END = "<endstep>"
SOLUTION_END = "<endsolution>"
PLANS = "Plans:\n"
SOLUTION_HEAD = "Detailed Implementation:"
#: official round-1 stop strings (mcts_round1.yaml)
STEP_STOPS = (STEP_END, SOLUTION_END, "Question:")
#: official step_delim: what follows each plan step in the next prompt
STEP_DELIM = STEP_END + "\n"

_PLAN_RE = re.compile(r"^Plan \d+:\s*\S")


def prompts_dir() -> Path:
    return PROMPTS_DIR / "cpl"


@dataclass(frozen=True)
class CPLPrompt(FewShotPrompt):
    """The few-shot prompt (examples: question and "Plans: …<endsolution>"), plus the official raw text."""

    def raw_prompt(self, problem: str, few_shot: int) -> str:
        """The official completion prompt: FEWSHOT_INST + ``Question: …\\n\\nPlans:\\n``."""
        shots = self.examples[:few_shot]
        demos = "".join(f"Question: {q}\n\n{s}\n\n" for q, s in shots)
        intro = f"The following are {len(shots)} demonstration examples.\n\n" if shots else ""
        return f"{self.system}\n\n{intro}{demos}Now! It's your turn.\n\nQuestion: {problem}\n\n{PLANS}"


def load_prompt(directory: str | None = None) -> CPLPrompt:
    """Read ``system.txt`` and ``few_shots.json`` (a list of {question, solution})."""
    return CPLPrompt(*read_few_shot(Path(directory) if directory else prompts_dir(), "CPL"))


@dataclass(frozen=True)
class PlanStep:
    """One generated step, read.

    kind: "plan" (``Plan k: …<endstep>``), "solution" (``Detailed Implementation: …``; its
    ``answer`` is None when it has no ``\\boxed{}``) or "invalid" (``why`` says what is wrong).
    """

    kind: str
    text: str  # as generated, with the format tag that ended it
    answer: str | None = None
    why: str = ""

    @property
    def context(self) -> str:
        """What this step adds to the next prompt (official partial solution + step_delim)."""
        return self.text.removesuffix(STEP_END) + STEP_DELIM


def read_step(c: Completion) -> PlanStep:
    """Classify one completion as the official ``round1_step_unwrap`` does (see module doc)."""
    from backend.verify.answers import boxed_answer

    tag = c.stop_reason if c.stop_reason in (STEP_END, SOLUTION_END) else ""
    text = c.text + tag
    body = c.text.strip()
    if not body:
        return PlanStep("invalid", text, why="empty step")
    plan = bool(_PLAN_RE.match(body))
    solution = SOLUTION_HEAD in body
    if solution and not plan:
        answer = boxed_answer(body)
        if answer is None:
            why = "cut off at the step's token limit" if c.finish_reason == "length" else ""
            return PlanStep("solution", text, None, why or "the implementation states no \\boxed{} answer")
        why = "" if c.stop_reason == SOLUTION_END else "ended without <endsolution>"
        return PlanStep("solution", text, answer, why)
    if plan and not solution:
        if c.stop_reason == STEP_END:
            return PlanStep("plan", text)
        if c.finish_reason == "length":
            return PlanStep("invalid", text, why="plan step cut off at the step's token limit")
        return PlanStep("invalid", text, why=f"plan step did not end with {STEP_END}")
    if plan:
        return PlanStep("invalid", text, why="a plan step and the implementation in one step")
    return PlanStep("invalid", text, why="neither 'Plan k: …' nor 'Detailed Implementation:'")
