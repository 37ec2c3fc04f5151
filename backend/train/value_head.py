"""CPL's value head: a tanh head on the policy's backbone, trained by regression on MCTS Q.

Official code (GitHub keesh0410/CPL-Reasoning): ``sft_value_head/`` (``data_collator.py:
preprocess_value_dataset``, ``custom_trainer.py: CustomTrainer.compute_loss``), the data of
``gen_data/gen_value_model_round1_sft_data.py`` and the search's ``mcts/modeling_value_model.py``.

- **model**: the backbone + a dropout/linear head on the last hidden layer: the very model of
  rStar-Math's PPM (``backend/reward/ppm.py: ProcessPreferenceModel``, reused here), read
  through tanh: the value of a text is tanh(head(last hidden state of its last token)) ∈ (−1, 1);
- **data** (``value_examples``): every root-to-leaf path of a truth-mode CPL tree that ends in a
  solution stating an answer, its plan steps then that solution rendered as the official value
  data (``cpl_format.value_chunks``), each chunk labelled with its node's Q; invalid leaves
  (too deep, malformed) are left out, as officially;
- **loss** (``value_loss``): the head is read at the last token of each chunk (official: "our
  value model predicts the v based on '\\n'"), and the loss is Σ (tanh(v) − Q)² / (count + 10⁻³)
  over those positions, one sum per batch (official ``mse_loss(reduction='sum') / (mask.sum() +
  1e-3)``); EOS is appended to each text and not scored, texts keep their first 1024 tokens;
- **training** goes through ``transformers.Trainer`` as the PPM's does (``ppm_trainer.py``:
  its arguments, LoRA, thread count and loss log are reused), official lr 1e-5 and 7 epochs
  (the official cosine schedule with 10 % warm-up is the linear one here);
- **search** (:class:`CPLValue`): a ``StepScorer`` (``backend/reward/step_scorer.py``) the CPL
  search gets as its ``step_scorer`` (``RunSpec.ppm`` naming the directory), with ``format``
  ``canopy-cpl-value`` so rStar-Math's PPM and this head are never swapped.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
import transformers

from backend.reward.ppm import HEAD_FILE, ProcessPreferenceModel, head_values, pad_id
from backend.reward.step_scorer import MARKER
from backend.search.cpl import VALUE_FORMAT
from backend.search.cpl_format import plain_step, value_chunks
from backend.train.ppm_trainer import ListDataset, PPMTrainConfig, train_in_place
from backend.tree import Node, Tree

#: official run_sft.py command: lr 1e-5, 7 epochs, cutoff_len 1024
#: the official lr, epochs and length; gradient checkpointing (the same gradients) because
#: without it the 0.5B backbone's value head peaked at 12.0 GB on 4 paths of ~500 tokens, over
#: issue 20's 12 GB budget, and with it at 4.6 GB, 1.6x slower a step (bench/cpl_value.py)
VALUE_TRAIN = {"lr": 1e-5, "epochs": 7, "max_length": 1024, "gradient_checkpointing": True}
_INVALID = {"error", "timeout", "unknown", "rejected"}


@dataclass(frozen=True)
class ValueExample:
    """One path: its chunks (question, steps, solution) and the Q of each chunk after the first."""

    chunks: tuple[str, ...]
    qs: tuple[float, ...]  # len(chunks) - 1: the question has no value


def _usable(node: Node) -> bool:
    return not node.pruned and node.status not in _INVALID and not (node.detail or {}).get("reason")


def value_examples(tree: Tree) -> list[ValueExample]:
    """Every path ending in a solution with an answer (see the module docstring)."""
    if tree.root_id is None:
        return []
    nodes = tree.nodes
    problem = nodes[tree.root_id].text
    out: list[ValueExample] = []
    stack: list[tuple[int, list[Node]]] = [(tree.root_id, [])]
    while stack:
        nid, path = stack.pop()
        for kid in (nodes[k] for k in nodes[nid].children):
            if not _usable(kid) or (not path and kid.answer is not None):
                continue  # official: no value data for a solution straight under the question
            if kid.answer is not None:  # a solution: the path ends here
                steps = [plain_step(n.text) for n in path]
                chunks = value_chunks(problem, steps, plain_step(kid.text))
                out.append(ValueExample(tuple(chunks), tuple(n.q for n in [*path, kid])))
            elif kid.kind == "plan" and not kid.terminal:
                stack.append((kid.id, [*path, kid]))
    return out


def value_loss(values: torch.Tensor, targets: torch.Tensor, scored: torch.Tensor) -> torch.Tensor:
    """Σ (tanh(v) − Q)² over the scored positions / (their count + 10⁻³) (official)."""
    diff = (torch.tanh(values.float()) - targets.float()) * scored.float()
    return (diff**2).sum() / (scored.float().sum() + 1e-3)


@dataclass
class ValueCollator:
    """Examples -> right-padded ids, attention mask, per-token targets and the scored mask."""

    tokenizer: Any
    max_length: int | None = 1024

    def __call__(self, examples: Sequence[ValueExample]) -> dict[str, torch.Tensor]:
        rows, targets, scored = [], [], []
        for ex in examples:
            ids, q, mask = self._encode(ex)
            rows.append(ids)
            targets.append(q)
            scored.append(mask)
        width = max(len(r) for r in rows)

        def padded(seqs: list[list[Any]], fill: Any, dtype: torch.dtype) -> torch.Tensor:
            return torch.tensor([s + [fill] * (width - len(s)) for s in seqs], dtype=dtype)

        return {
            "input_ids": padded(rows, pad_id(self.tokenizer), torch.long),
            "attention_mask": padded([[1] * len(r) for r in rows], 0, torch.long),
            "targets": padded(targets, 0.0, torch.float32),
            "scored": padded(scored, 0, torch.long),
        }

    def _encode(self, ex: ValueExample) -> tuple[list[int], list[float], list[int]]:
        """Each chunk tokenised on its own and joined (official); Q on each chunk's last token."""
        tok = self.tokenizer
        ids = tok(ex.chunks[0], add_special_tokens=False)["input_ids"]
        q, mask = [0.0] * len(ids), [0] * len(ids)
        for chunk, value in zip(ex.chunks[1:], ex.qs, strict=True):
            part = tok(chunk, add_special_tokens=False)["input_ids"]
            ids += part
            q += [0.0] * (len(part) - 1) + [float(value)]
            mask += [0] * (len(part) - 1) + [1]
        if tok.eos_token_id is not None:
            ids, q, mask = [*ids, tok.eos_token_id], [*q, 0.0], [*mask, 0]
        n = self.max_length or len(ids)
        return ids[:n], q[:n], mask[:n]


def token_values(model: ProcessPreferenceModel, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> Any:
    """The head's raw value at every position (before tanh)."""
    decoder = model.backbone.get_decoder()
    hidden = decoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    return model.v_head(hidden)


class ValueTrainer(transformers.Trainer):
    """``Trainer`` with the value head's regression loss (official ``CustomTrainer``)."""

    loss_is_scaled_for_ga = False  # one normalised sum per batch, as ppm_trainer.PPMTrainer

    def compute_loss(self, model: Any, inputs: dict[str, torch.Tensor], return_outputs: bool = False,
                     num_items_in_batch: Any = None) -> Any:
        values = token_values(model, inputs["input_ids"], inputs["attention_mask"])
        loss = value_loss(values, inputs["targets"], inputs["scored"])
        return (loss, {"values": values}) if return_outputs else loss


def fit_value_head(
    model: ProcessPreferenceModel,
    tokenizer: Any,
    examples: Sequence[ValueExample],
    config: PPMTrainConfig | None = None,
    *,
    progress: Callable[[int, int, float], None] | None = None,
) -> list[float]:
    """Train ``model`` in place on ``examples``; every optimiser step's loss. LoRA adapters
    (``config.lora``) are merged afterwards, so the backbone is a plain causal LM."""
    if not examples:
        raise ValueError("no value examples to train on")
    config = config or PPMTrainConfig(**VALUE_TRAIN)
    return train_in_place(
        model, config, ValueTrainer, ListDataset(examples), ValueCollator(tokenizer, config.max_length),
        progress=progress, prefix="canopy-value-",
    )


# --- files and the search's view ------------------------------------------------------------


def save_value_head(
    model: ProcessPreferenceModel, tokenizer: Any, directory: str | Path, **about: Any
) -> Path:
    """Backbone and tokenizer (a plain causal LM folder), the head's weights and the marker."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    model.backbone.save_pretrained(out)
    tokenizer.save_pretrained(out)
    torch.save({k: v.detach().cpu() for k, v in model.v_head.state_dict().items()}, out / HEAD_FILE)
    (out / MARKER).write_text(json.dumps({"format": VALUE_FORMAT, "version": 1, **about}, indent=2))
    return out


class CPLValue:
    """The value head as the CPL search sees it: ``score_steps`` gives tanh(v) per text."""

    name: ClassVar[str] = "value_head"
    format: ClassVar[str] = VALUE_FORMAT

    def __init__(
        self, model: ProcessPreferenceModel, tokenizer: Any, about: dict[str, Any] | None = None
    ) -> None:
        self.model, self.tokenizer = model.eval(), tokenizer
        self.about = dict(about or {"format": VALUE_FORMAT})

    @classmethod
    def load(cls, directory: str | Path) -> CPLValue:
        where = Path(directory).expanduser()
        about = json.loads((where / MARKER).read_text(encoding="utf-8"))
        if about.get("format") != VALUE_FORMAT or not (where / HEAD_FILE).is_file():
            raise ValueError(f"{where} is not a CPL value head directory ({VALUE_FORMAT})")
        backbone = transformers.AutoModelForCausalLM.from_pretrained(where)
        model = ProcessPreferenceModel(backbone)
        model.v_head.load_state_dict(torch.load(where / HEAD_FILE, map_location="cpu", weights_only=True))
        return cls(model, transformers.AutoTokenizer.from_pretrained(where), about)

    def score_steps(self, texts: Sequence[str]) -> list[float]:
        texts = list(texts)
        return [math.tanh(v) for v in head_values(self.model, self.tokenizer, texts)] if texts else []
