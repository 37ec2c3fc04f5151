"""Step-APO (CPL, arXiv 2409.08642): step preference pairs from a search tree, and the loss.

CPL learns *critical plan steps*: among sibling steps that MCTS explored from the same
prefix, the ones whose value turned out positive are preferred to the ones whose value
turned out negative, and the preference is pushed harder the larger the gap in value.

Pairs follow the official data script (github.com/keesh0410/CPL-Reasoning,
``gen_data/gen_policy_model_round1_apo_data.py``), read off Canopy's ``Tree`` (the fold of
a run's events) instead of the official JSON tree:

- only *valid* children take part: plan steps, and solutions that state an answer (the
  official drops "too many steps" and "does not follow the instruction" leaves);
- below the root and below every valid plan step, when the valid children's Q values
  straddle zero (max > 0 > min): if none of them is a solution, every (Q > 0, Q < 0) pair;
  if some are, only the max-Q child against the min-Q child, and only when both are the
  same kind (the official compares their prompts, which differ between a plan step and a
  solution); at the root, solutions are left out (official: ``continue``);
- a solution pair's Q values are multiplied by ``SOLUTION_WEIGHT`` = 0.3 (official ``sw``);
- prompts use the official round-2 tags (``<question>``, ``<plan><step>…</step>``,
  ``<solution>``); a step's text loses its ``Plan k:`` label and a solution its
  ``Detailed Implementation:`` header and end tags, as the official strips them.

Canopy takes every child of a node; the official loops over the first 3 (5 at the root),
which is all of them with its settings.

Loss (official ``apo/LLaMA-Factory-0.8.3/src/llamafactory/train/dpo/trainer.py``, loss type
``sigmoid_a_1.0``, β = 0.3, α = 1.0):

    L = −(1−ε)·log σ(β·h + α·(Q_l − Q_w)) − ε·log σ(−β·h − α·(Q_l − Q_w)),
    h = (log πθ(w) − log πref(w)) − (log πθ(l) − log πref(l)),

ε being label smoothing (0 by default). The value gap enters as a margin: a pair whose
chosen step is much better must be separated by more. With α = 0 this is DPO's sigmoid
loss (tests/train/test_step_apo.py checks both). With a shared prefix the advantage gap
A_w − A_l equals Q_w − Q_l, which is why Q values serve as advantages.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from backend.tree import Node, Tree

if TYPE_CHECKING:
    import torch

#: official ``sw``: solution pairs count for less than plan-step pairs
SOLUTION_WEIGHT = 0.3
BETA, ALPHA = 0.3, 1.0  # official loss_type "sigmoid_a_1.0", pref_beta 0.3

#: verification statuses that make a node unusable as a preference example
_INVALID = {"error", "timeout", "unknown", "rejected"}
_PLAN_LABEL = re.compile(r"^\s*Plan\s*\d+\s*[:.]\s*", re.IGNORECASE)
_SOLUTION_HEADER = re.compile(r"^\s*Detailed Implementation\s*:\s*", re.IGNORECASE)
_END_TAGS = re.compile(r"\s*(<endstep>|<endsolution>|</step>|</solution>)\s*$")


@dataclass(frozen=True)
class StepPair:
    """One preference example: from ``prompt``, ``chosen`` is better than ``rejected``."""

    prompt: str
    chosen: str
    rejected: str
    q_chosen: float
    q_rejected: float
    solution: bool  # a pair of final solutions (Q values already scaled by SOLUTION_WEIGHT)
    chosen_id: int  # the nodes of the run, to trace a pair back to the tree
    rejected_id: int


def _is_solution(node: Node) -> bool:
    return node.kind == "answer" or node.answer is not None


def _valid(node: Node) -> bool:
    """A plan step that ran and may go on, or a solution that states an answer."""
    if node.pruned or node.status in _INVALID:
        return False
    if _is_solution(node):
        return node.answer is not None
    # a step that ended its path without an answer (too deep, no answer) is the official
    # "too many steps" / "does not follow the instruction" leaf
    return node.kind in ("step", "plan") and not (node.detail or {}).get("reason")


def step_text(node: Node) -> str:
    """A node's text as the official pairs hold it: no ``Plan k:`` label, no header, no end tag."""
    text = _END_TAGS.sub("", node.text.strip())
    pattern = _SOLUTION_HEADER if _is_solution(node) else _PLAN_LABEL
    return pattern.sub("", text, count=1).strip()


def apo_prompt(problem: str, steps: Sequence[str], *, solution: bool) -> str:
    """The official round-2 prompt before the next plan step (or before the solution)."""
    head = f"<question>\n{problem}\n</question>\n<plan>\n"
    body = "".join(f"<step>\n{s}</step>\n" for s in steps)
    return head + body + ("</plan>\n<solution>\n" if solution else "<step>\n")


def step_pairs(tree: Tree, *, solution_weight: float = SOLUTION_WEIGHT) -> list[StepPair]:
    """Step-APO preference pairs of one search tree (see the module docstring)."""
    if tree.root_id is None:
        return []
    nodes = tree.nodes
    problem = nodes[tree.root_id].text
    pairs: list[StepPair] = []
    stack: list[tuple[int, list[str]]] = [(tree.root_id, [])]
    while stack:
        nid, steps = stack.pop()
        at_root = nid == tree.root_id
        kids = [nodes[k] for k in nodes[nid].children if _valid(nodes[k])]
        if at_root:
            kids = [k for k in kids if not _is_solution(k)]
        pairs += _sibling_pairs(problem, steps, kids, solution_weight)
        for k in reversed(kids):
            if not _is_solution(k):
                stack.append((k.id, [*steps, step_text(k)]))
    return pairs


def _sibling_pairs(
    problem: str, steps: list[str], kids: list[Node], solution_weight: float
) -> list[StepPair]:
    qs = [k.q for k in kids]
    if len(kids) < 2 or not (max(qs) > 0 > min(qs)):
        return []

    def pair(w: Node, lose: Node) -> StepPair:
        solution = _is_solution(w)
        scale = solution_weight if solution else 1.0
        return StepPair(
            prompt=apo_prompt(problem, steps, solution=solution),
            chosen=step_text(w),
            rejected=step_text(lose),
            q_chosen=w.q * scale,
            q_rejected=lose.q * scale,
            solution=solution,
            chosen_id=w.id,
            rejected_id=lose.id,
        )

    if not any(_is_solution(k) for k in kids):
        return [pair(w, lose) for w in kids if w.q > 0 for lose in kids if lose.q < 0]
    best, worst = kids[qs.index(max(qs))], kids[qs.index(min(qs))]
    if _is_solution(best) != _is_solution(worst):
        return []  # official: their prompts differ, so no pair
    return [pair(best, worst)]


def step_apo_loss(
    policy_chosen_logps: torch.Tensor,
    policy_rejected_logps: torch.Tensor,
    reference_chosen_logps: torch.Tensor,
    reference_rejected_logps: torch.Tensor,
    q_chosen: torch.Tensor,
    q_rejected: torch.Tensor,
    *,
    beta: float = BETA,
    alpha: float = ALPHA,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """Per-pair Step-APO losses (see the module docstring); log-probs are sequence sums."""
    import torch.nn.functional as F

    h = (policy_chosen_logps - reference_chosen_logps) - (policy_rejected_logps - reference_rejected_logps)
    z = beta * h + alpha * (q_rejected - q_chosen)
    return -F.logsigmoid(z) * (1 - label_smoothing) - F.logsigmoid(-z) * label_smoothing


def sequence_logps(
    model: Any, tokenizer: Any, prompts: Sequence[str], completions: Sequence[str]
) -> torch.Tensor:
    """Sum of the completion tokens' log-probabilities under a causal LM, one per pair.

    The prompt and the completion are tokenised apart and joined, so the boundary is exact
    (tokenising the joined text could merge tokens across it). The batch is built on the model's
    device and the result stays there (float32: log-softmax in full precision)."""
    import torch

    rows, masks = [], []
    for prompt, completion in zip(prompts, completions, strict=True):
        p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        c = tokenizer(completion, add_special_tokens=False)["input_ids"]
        rows.append(p + c)
        masks.append([0] * len(p) + [1] * len(c))
    width = max(len(r) for r in rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    device = next(model.parameters()).device  # the batch goes where the model is (a GPU in training)
    ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows], device=device)
    attention = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows], device=device)
    scored = torch.tensor([m + [0] * (width - len(m)) for m in masks], dtype=torch.float32, device=device)
    logits = model(input_ids=ids, attention_mask=attention).logits[:, :-1]
    logps = torch.log_softmax(logits.float(), dim=-1).gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
    return (logps * scored[:, 1:]).sum(-1)
