"""The policy's fine-tuning data, read off truth-rewarded rStar-Math trees (the official rule).

Official code (github.com/microsoft/rStar, branch rStar-math): ``extra_sft_file.py`` lists
every root-to-leaf trace and keeps the ones whose leaf is a final answer equal to the ground
truth; ``train/sample_sft_data.py`` ranks a question's correct traces by the mean Q of their
steps (ties: the higher minimum Q), keeps the top ``n`` (``--n 2``), then drops any of those
whose text contains "error" (case-insensitive; the drop comes after the cut, so a question
may give fewer than ``n``). Here over Canopy's ``Tree`` (the fold of a run's events):

- a trace is the path from the root to an answer node that is not pruned; it is *correct*
  when its answer equals the run's known answer (math-verify, as the truth reward grades);
- its Q values are those of the path's steps below the root, the answer node included;
- each kept trace becomes one example in the policy's own step format: ``prompt`` is the
  exact text the rStar search asks its policy for a first step (the few-shot prompt with the
  problem, rendered with the engine's chat template, ``backend/search/rstar.py:
  RStarPolicy``), ``completion`` the path's step texts as the search's prompts held them
  (a finished program that was not the last step carries its ``<output>`` block, as the
  official ``obs_wrap`` writes it into the next prompt). So fine-tuning teaches the format the
  search reads, under the prompt the search sends.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from backend.search.rstar_format import load_prompt, output_block
from backend.tree import Node, Tree

#: official ``sample_sft_data.py --n``: traces kept per question
TOP_K = 2
#: the search's default few-shot count, for a tree whose run recorded none
_DEFAULT_FEW_SHOT = 2

ChatPrompt = Callable[[Sequence[Mapping[str, str]]], str]


@dataclass(frozen=True)
class SFTExample:
    """One fine-tuning example: after ``prompt`` the policy should write ``completion``."""

    problem_id: str
    prompt: str
    completion: str
    answer: str
    mean_q: float
    min_q: float
    node_id: int  # the trace's answer node in its tree

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Trace:
    """A root-to-answer path with its steps' Q values (the official ranking key)."""

    path: tuple[int, ...]
    answer: str
    q_values: tuple[float, ...]

    @property
    def mean_q(self) -> float:
        return sum(self.q_values) / len(self.q_values) if self.q_values else 0.0

    @property
    def min_q(self) -> float:
        return min(self.q_values) if self.q_values else 1.0


def known_answer(tree: Tree) -> str | None:
    """The run's known answer: the truth run's recorded spec, else what the finish graded."""
    started = tree.started
    spec = getattr(started, "spec", None) or {}
    if spec.get("reference"):
        return str(spec["reference"])
    finished = tree.finished
    return finished.reference if finished is not None and finished.reference else None


def correct_traces(tree: Tree, reference: str | None = None) -> list[Trace]:
    """Every trace whose answer equals the known answer, in node order."""
    from backend.verify.answers import answers_equal

    reference = reference if reference is not None else known_answer(tree)
    if reference is None or tree.root_id is None:
        return []
    out = []
    for node in sorted(tree.answer_nodes(), key=lambda n: n.id):
        if node.children or not answers_equal(node.answer, reference):
            continue
        path = tuple(tree.path_to(node.id))
        out.append(Trace(path, str(node.answer), tuple(tree.nodes[i].q for i in path[1:])))
    return out


def top_traces(traces: Iterable[Trace], k: int = TOP_K) -> list[Trace]:
    """The official ranking: mean Q, then minimum Q, both highest first (stable: earlier
    nodes first among equals); the first ``k``."""
    return sorted(traces, key=lambda t: (-t.mean_q, -t.min_q))[:k]


def policy_prompt(problem: str, chat_prompt: ChatPrompt, few_shot: int = _DEFAULT_FEW_SHOT) -> str:
    """What the rStar search sends its policy before the first step (``RStarPolicy.prefix``)."""
    return chat_prompt(load_prompt().messages(problem, few_shot))


def trace_completion(tree: Tree, path: Sequence[int]) -> str:
    """The path's steps as the search's prompts held them (``RStarPolicy.context``)."""
    parts = []
    steps = [tree.nodes[i] for i in path[1:]]
    for i, node in enumerate(steps):
        parts.append(node.text)
        if _ends_program(node) and i < len(steps) - 1:
            parts.append(output_block(node.output))
    return "".join(parts)


def _ends_program(node: Node) -> bool:
    return node.meta.get("step_kind") == "final_code" and node.status == "ok"


def sft_examples(
    tree: Tree,
    problem_id: str,
    chat_prompt: ChatPrompt,
    *,
    k: int = TOP_K,
    few_shot: int | None = None,
    drop_error_text: bool = True,
) -> list[SFTExample]:
    """The official SFT examples of one truth-rewarded tree (none when no trace is correct).

    ``few_shot`` defaults to the count the run's search used (its recorded config), so the
    prompt is the one the search sent. ``drop_error_text`` is the official filter on the word
    "error"."""
    if tree.root_id is None:
        return []
    if few_shot is None:
        config = tree.started.config if tree.started is not None else {}
        few_shot = int(config.get("few_shot", _DEFAULT_FEW_SHOT))
    prompt = policy_prompt(tree.nodes[tree.root_id].text, chat_prompt, few_shot)
    out = []
    for trace in top_traces(correct_traces(tree), k):
        completion = trace_completion(tree, trace.path)
        if drop_error_text and "error" in completion.lower():
            continue
        out.append(
            SFTExample(
                problem_id=problem_id,
                prompt=prompt,
                completion=completion,
                answer=trace.answer,
                mean_q=round(trace.mean_q, 6),
                min_q=round(trace.min_q, 6),
                node_id=trace.path[-1],
            )
        )
    return out


def write_examples(examples: Iterable[SFTExample], path: str | Path) -> int:
    """JSON Lines, one example a line; written to a side file and renamed (atomic)."""
    target = Path(path)
    partial = target.with_name(target.name + ".partial")
    count = 0
    with partial.open("w", encoding="utf-8") as fh:
        for example in examples:
            fh.write(json.dumps(example.to_dict(), ensure_ascii=False) + "\n")
            count += 1
    partial.replace(target)
    return count


def read_examples(path: str | Path) -> list[SFTExample]:
    """Examples written by :func:`write_examples`."""
    out = []
    with Path(path).open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                out.append(SFTExample(**json.loads(line)))
    return out
