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

**Round 2: the XML format** (official ``FEWSHOT_XML``, ``prompt_wrap``, ``step_unwrap`` and
``mcts_round2.yaml``), what the round-1 SFT and Step-APO data teach the policy:
``<question>…</question>``, then ``<plan>`` with one ``<step>…</step>`` per plan step, then
``</plan><solution>… \\boxed{} …</solution>``. Generation stops at ``</step>``, ``</solution>``
and ``<question>``; a step is a plan step when it names ``Plan k`` (one plan, or a later one
citing an earlier) and has no ``<solution>``, the solution when it has ``<solution>`` and no
``Plan k``. The demonstrations are the round-1 ones rewritten in XML (``xml_solution``); the
chat form adds a two-line system message saying the format (the official prompt has none: its
round-2 policy was fine-tuned on it). ``value_chunks`` renders a path as the official value
data does (the CPL value head's input, ``backend/train/value_head.py``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from backend.engines.base import Completion
from backend.search.prompts import PROMPTS_DIR, FewShotPrompt, inert_markup, read_few_shot

STEP_END = "<endstep>"
SOLUTION_END = "<endsolution>"
PLANS = "Plans:\n"
SOLUTION_HEAD = "Detailed Implementation:"
#: official round-1 stop strings (mcts_round1.yaml)
STEP_STOPS = (STEP_END, SOLUTION_END, "Question:")
#: official step_delim: what follows each plan step in the next prompt
STEP_DELIM = STEP_END + "\n"

_PLAN_RE = re.compile(r"^Plan \d+:\s*\S")

#: the round-2 XML format (official mcts_round2.yaml: stop strings and step_delim)
XML = "xml"
ROUND1 = "plan"
XML_STEP_END = "</step>"
XML_SOLUTION_END = "</solution>"
XML_STOPS = (XML_STEP_END, XML_SOLUTION_END, "<question>")
XML_DELIM = XML_STEP_END + "\n"
XML_SYSTEM = (
    "Solve the question. First write a plan inside <plan>...</plan>, one <step>...</step> per plan "
    "step (\"Plan 1: ...\"), then the detailed solution inside <solution>...</solution>, ending "
    "with \"The final answer is \\boxed{answer}.\""
)
_XML_PLAN_RE = re.compile(r"Plan \d+")
_TAGS = re.compile(r"</?(?:plan|step|solution)>|<endstep>|<endsolution>")


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
        question = inert_markup(problem)
        return f"{self.system}\n\n{intro}{demos}Now! It's your turn.\n\nQuestion: {question}\n\n{PLANS}"


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
    fmt: str = ROUND1  # "plan" (round 1) or "xml" (round 2)

    @property
    def context(self) -> str:
        """What this step adds to the next prompt (official partial solution + step_delim)."""
        if self.fmt == XML:
            return self.text.removesuffix(XML_STEP_END) + XML_DELIM
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



# --- round 2: the XML format ----------------------------------------------------------------


def xml_question(problem: str) -> str:
    """The official instruction of the XML data: ``<question>\\n…\\n</question>\\n``."""
    return f"<question>\n{problem.strip()}\n</question>\n"


def xml_plan(steps: Sequence[str]) -> str:
    """Plan steps (plain text) in XML: ``<plan>`` then one ``<step>…</step>`` each."""
    return "<plan>\n" + "".join(f"<step>\n{s.strip()}\n</step>\n" for s in steps)


def xml_answer(solution: str) -> str:
    """The solution step (plain text) in XML, closing the plan."""
    return f"</plan>\n<solution>\n{solution.strip()}\n</solution>"


def plain_step(text: str) -> str:
    """A step without its format: no XML or round-1 tags, no ``Detailed Implementation:``
    header (the ``Plan k:`` label stays, as the official value data keeps it)."""
    body = _TAGS.sub("", text).strip()
    return body.removeprefix(SOLUTION_HEAD).strip()


def xml_solution(round1_solution: str) -> str:
    """A round-1 demonstration (``Plans: … Detailed Implementation: …``) rewritten in XML."""
    plans, _, implementation = round1_solution.partition(SOLUTION_HEAD)
    steps = [s.strip() for s in plans.strip().removeprefix("Plans:").split(STEP_END) if s.strip()]
    return xml_plan(steps) + xml_answer(implementation.replace(SOLUTION_END, ""))


def value_chunks(problem: str, steps: Sequence[str], solution: str | None = None) -> list[str]:
    """A path as the official value data renders it (``gen_value_model_round1_sft_data.py``):
    the question, each plan step, then the solution; the value head reads the last token of
    each chunk. ``steps`` and ``solution`` are plain texts (``plain_step``)."""
    chunks = [xml_question(problem)]
    for i, step in enumerate(steps):
        chunks.append(("<plan>\n" if i == 0 else "") + f"<step>\n{step.strip()}\n</step>\n")
    if solution is not None:
        chunks.append(xml_answer(solution) + "\n")
    return chunks


@dataclass(frozen=True)
class XMLPrompt(FewShotPrompt):
    """The round-2 prompt: the round-1 demonstrations in XML (``xml_solution``)."""

    @classmethod
    def from_round1(cls, prompt: FewShotPrompt) -> XMLPrompt:
        return cls(XML_SYSTEM, tuple((q, xml_solution(s)) for q, s in prompt.examples))

    def messages(self, problem: str, few_shot: int) -> list[dict[str, str]]:
        msgs = [{"role": "system", "content": self.system}]
        for question, solution in self.examples[:few_shot]:
            msgs += [{"role": "user", "content": xml_question(question)},
                     {"role": "assistant", "content": solution}]
        return [*msgs, {"role": "user", "content": xml_question(inert_markup(problem))}]

    def raw_prompt(self, problem: str, few_shot: int) -> str:
        """Official ``FEWSHOT_XML + prompt_wrap``: the demonstrations, then the question."""
        demos = "".join(f"{xml_question(q)}{s}\n\n" for q, s in self.examples[:few_shot])
        return demos + xml_question(inert_markup(problem))


def read_xml_step(c: Completion) -> PlanStep:
    """Classify one completion as the official ``step_unwrap`` does (see the module doc)."""
    from backend.verify.answers import boxed_answer

    tag = c.stop_reason if c.stop_reason in (XML_STEP_END, XML_SOLUTION_END) else ""
    text = c.text + tag
    body = c.text.strip()
    plans = [int(m.split()[1]) for m in _XML_PLAN_RE.findall(body)]
    solution = "<solution>" in body
    if not body:
        return PlanStep("invalid", text, why="empty step", fmt=XML)
    if solution and not plans:
        answer = boxed_answer(body)
        if answer is None:
            return PlanStep("solution", text, None, "the solution states no \\boxed{} answer", fmt=XML)
        why = "" if c.stop_reason == XML_SOLUTION_END else f"ended without {XML_SOLUTION_END}"
        return PlanStep("solution", text, answer, why, fmt=XML)
    if plans and not solution:
        if len(plans) >= 2 and not plans[0] > plans[1]:  # official: a later plan may cite an earlier
            return PlanStep("invalid", text, why="several plan steps in one step", fmt=XML)
        if c.stop_reason == XML_STEP_END:
            return PlanStep("plan", text, fmt=XML)
        return PlanStep("invalid", text, why=f"plan step did not end with {XML_STEP_END}", fmt=XML)
    if plans:
        return PlanStep("invalid", text, why="a plan step and the solution in one step", fmt=XML)
    return PlanStep("invalid", text, why="neither 'Plan k' nor '<solution>'", fmt=XML)
