"""CPL's training data from one truth-mode plan tree: SFT plans, Step-APO pairs, value examples.

Official scripts (GitHub keesh0410/CPL-Reasoning, ``gen_data/``):

- **SFT** (``gen_policy_model_round1_sft_data.py``): the paths whose plan steps all have
  Q ≠ −1 and that end in a solution with Q = 1 (the truth reward's +1), in the XML format
  (``<plan><step>…</step>…</plan><solution>…</solution>``); a solution straight under the
  question is not one. Officially up to 4 per problem at random; here the best 4 by mean Q
  (then minimum Q), so a round's data does not hang on a random draw;
- **Step-APO pairs**: ``backend/train/step_apo.py: step_pairs`` (the official rule), each
  rendered as the round-2 search will see it: the policy's XML prompt and the path so far,
  then the chosen / rejected step with its tags (the ``Plan k:`` label kept, as the SFT data
  and the search keep it; the official APO data drops it);
- **value examples**: ``backend/train/value_head.py: value_examples``.

Every prompt is the search's own (``backend/search/cpl.py: policy_prefix`` in the XML format,
rendered with the engine's chat template), so what is learned is what the next round sends.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from backend.evolve.sft_data import SFTExample
from backend.search.cpl_format import plain_step, xml_answer, xml_plan
from backend.train.step_apo import step_pairs
from backend.tree import Node, Tree

#: official: at most 4 SFT solutions per problem
PLANS_PER_PROBLEM = 4
_TRUE = 1.0 - 1e-9  # a truth-rewarded solution's Q (+1)


def _ancestors(tree: Tree, node: Node) -> list[Node]:
    """The plan steps above ``node`` (root excluded), top first."""
    out, parent = [], node.parent
    while parent is not None and parent != tree.root_id:
        out.append(tree.nodes[parent])
        parent = tree.nodes[parent].parent
    return out[::-1]


def xml_context(steps: Sequence[Node]) -> str:
    """The path's plan steps as the XML search's prompt holds them (empty at the root)."""
    return xml_plan([plain_step(n.text) for n in steps]) if steps else ""


def xml_step(node: Node, *, first: bool) -> str:
    """One step as the XML search generates it, closing tag included."""
    text = plain_step(node.text)
    if node.answer is not None:
        return xml_answer(text)
    return ("<plan>\n" if first else "") + f"<step>\n{text}\n</step>"


def best_plans(tree: Tree, problem_id: str, prefix: str, k: int = PLANS_PER_PROBLEM) -> list[SFTExample]:
    """The official SFT paths of one tree, best ``k`` by mean Q (see the module docstring)."""
    found: list[tuple[float, float, int, SFTExample]] = []
    for node in tree.nodes.values():
        if node.answer is None or node.q < _TRUE or node.pruned:
            continue
        steps = _ancestors(tree, node)
        if not steps or any(s.q <= -_TRUE or s.kind != "plan" for s in steps):
            continue
        qs = [s.q for s in steps] + [node.q]
        mean_q, min_q = sum(qs) / len(qs), min(qs)
        example = SFTExample(
            problem_id=problem_id, prompt=prefix, completion=xml_context(steps) + xml_step(node, first=False),
            answer=node.answer, mean_q=round(mean_q, 6), min_q=round(min_q, 6), node_id=node.id,
        )
        found.append((-mean_q, -min_q, node.id, example))
    return [e for *_, e in sorted(found, key=lambda t: t[:3])[:k]]


def apo_rows(tree: Tree, problem_id: str, prefix: str) -> list[dict[str, Any]]:
    """The official Step-APO pairs of one tree, rendered for the XML policy."""
    rows = []
    for pair in step_pairs(tree):
        chosen, rejected = tree.nodes[pair.chosen_id], tree.nodes[pair.rejected_id]
        steps = _ancestors(tree, chosen)
        rows.append({
            "problem": problem_id,
            "prompt": prefix + xml_context(steps),
            "chosen": xml_step(chosen, first=not steps),
            "rejected": xml_step(rejected, first=not steps),
            "q_chosen": pair.q_chosen,
            "q_rejected": pair.q_rejected,
            "solution": pair.solution,
            "chosen_id": pair.chosen_id,
            "rejected_id": pair.rejected_id,
        })
    return rows


def write_lines(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """JSON Lines written beside the target and renamed."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    partial.replace(path)


def read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
