"""rStar-Math's process preference model (PPM): a causal LM with a scalar value head.

Official code (github.com/microsoft/rStar, branch rStar-math): ``train/rm.py``
(``ValueHead``, ``RewardModelWithValueHead``, ``RMTrainer.compute_loss``),
``rstar_deepthink/llms/llm_engine.py: rm_engine`` and ``llms.py: rm_generate``.

- the head is dropout(0.1) then one linear layer from the last hidden state to a scalar,
  initialised near zero (weights N(5e-7, 1e-6), bias 1e-6) so training starts from a flat
  score; the score of a text is the head's value at its last real token;
- loss over a batch of pairs: Σ −log σ(s_chosen − s_rejected) · 1 / (pos_count · neg_count)
  (the pair's weight from ``backend/train/ppm_pairs.py``), the Bradley-Terry ranking loss;
- at search time a step's reward is tanh(value / 5) ∈ (−1, 1) ("PPM use 5 as the scale").

Training goes through a ``transformers.Trainer`` subclass (``backend/train/ppm_trainer.py``;
``train_ppm`` here is a thin wrapper over it). :class:`FullPPM` is the search's view of a
saved PPM (the ``StepScorer`` of ``step_scorer.py``): transformers on CPU, or, on a CUDA GPU
with vLLM installed, the official pattern: vLLM runs the backbone as a pooling model that
returns the last token's hidden state and the head is applied on top
(``backend/engines/vllm.py: VLLMValueHead``). torch and transformers are imported with this
module, which nothing imports at start-up (``pip install 'canopy-reasoning[hf]'``).
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import nn

from backend.reward.step_scorer import MARKER

SCORE_SCALE = 5.0  # rm_generate: rewards / 5, then tanh
HEAD_DROPOUT = 0.1
FORMAT = "canopy-ppm"  # the marker's "format" (step_scorer.py tells PPM kinds apart by it)


class ValueHead(nn.Module):
    """Dropout + Linear(hidden, 1), initialised as the official head."""

    def __init__(self, hidden_size: int, dropout: float = HEAD_DROPOUT) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.summary = nn.Linear(hidden_size, 1)
        nn.init.normal_(self.summary.weight, mean=5e-7, std=1e-6)
        nn.init.constant_(self.summary.bias, 1e-6)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        out = self.dropout(hidden)
        return self.summary(out.to(self.summary.weight.dtype)).squeeze(-1)


class ProcessPreferenceModel(nn.Module):
    """``backbone`` (a transformers causal LM, or a PEFT model over one) + ``ValueHead`` on its
    last hidden layer."""

    def __init__(self, backbone: Any, dropout: float = HEAD_DROPOUT) -> None:
        super().__init__()
        self.backbone = backbone
        self.v_head = ValueHead(backbone.config.hidden_size, dropout)

    @property
    def config(self) -> Any:
        """The backbone's config (``transformers.Trainer`` reads ``model.config``)."""
        return self.backbone.config

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The value at each text's last real token (right padding), one per row.

        The decoder's ``last_hidden_state`` is the causal LM's ``hidden_states[-1]`` (after the
        final norm; what vLLM's pooler returns too), without the vocabulary logits at every
        position that the official forward computes and drops."""
        decoder = self.backbone.get_decoder()
        hidden = decoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        values = self.v_head(hidden)
        last = attention_mask.sum(-1, keepdim=True) - 1
        return values.gather(-1, last).squeeze(-1)


def token_rows(tokenizer: Any, texts: Sequence[str], max_length: int | None = None) -> list[list[int]]:
    """Each text's token ids (no special tokens added), cut to the first ``max_length`` as the
    official ``preprocess_value_dataset`` and ``prevent_overlength`` do."""
    rows = [tokenizer(t, add_special_tokens=False)["input_ids"][:max_length] for t in texts]
    if any(not r for r in rows):
        raise ValueError("a PPM input is empty")
    return rows


def pad_rows(rows: Sequence[Sequence[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded input ids and attention mask."""
    width = max(len(r) for r in rows)
    ids = torch.tensor([list(r) + [pad] * (width - len(r)) for r in rows])
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
    return ids, mask


def pad_id(tokenizer: Any) -> int:
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0


def encode(tokenizer: Any, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded input ids and attention mask."""
    return pad_rows(token_rows(tokenizer, texts), pad_id(tokenizer))


def ppm_loss(chosen: torch.Tensor, rejected: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Σ −log σ(chosen − rejected) · weight (official ``RMTrainer.compute_loss``)."""
    return (-F.logsigmoid(chosen.float() - rejected.float()) * weights).sum()


@torch.no_grad()
def head_values(
    model: ProcessPreferenceModel, tokenizer: Any, texts: Sequence[str], batch_size: int = 8
) -> list[float]:
    """The head's raw value of each text, on the model's device."""
    model.eval()
    device = next(model.parameters()).device
    out: list[float] = []
    for i in range(0, len(texts), batch_size):
        ids, mask = encode(tokenizer, texts[i : i + batch_size])
        out += model(ids.to(device), mask.to(device)).float().tolist()
    return out


def score(
    model: ProcessPreferenceModel, tokenizer: Any, texts: Sequence[str], batch_size: int = 8
) -> list[float]:
    """tanh(value / 5) of each text (prefix + step), in (−1, 1)."""
    return [math.tanh(v / SCORE_SCALE) for v in head_values(model, tokenizer, texts, batch_size)]


def train_ppm(
    model: ProcessPreferenceModel,
    tokenizer: Any,
    pairs: Sequence[Any],
    *,
    epochs: int = 2,
    lr: float = 7e-6,
    batch_size: int = 4,
    seed: int = 0,
    progress: Callable[[int, int, float], None] | None = None,
) -> list[float]:
    """Train on ``PPMPair``s through the trainer (``backend/train/ppm_trainer.py: fit``); the
    loss of every step. Defaults are the official 2 epochs at lr 7e-6 (AdamW)."""
    from backend.train.ppm_trainer import PPMTrainConfig, fit

    config = PPMTrainConfig(epochs=epochs, lr=lr, batch_size=batch_size, seed=seed)
    return fit(model, tokenizer, pairs, config, progress=progress)


# --- files -------------------------------------------------------------------------------

HEAD_FILE = "value_head.pt"


def load_backbone(base: str | None = None) -> tuple[Any, Any]:
    """(causal LM, tokenizer) to put a head on: an HF model id or directory, a ``.gguf`` file,
    or None for the embedded model (transformers dequantises its GGUF; the transformers
    engine keeps a converted copy so later loads are fast)."""
    from backend.engines.transformers import TransformersEngine

    # float32 master weights on every device: AdamW on pure bf16 weights rounds the official
    # lr 7e-6 updates away; on a GPU the Trainer's bf16 mode does the mixed precision
    engine = TransformersEngine.load(
        base, device="cpu" if not torch.cuda.is_available() else None, dtype="float32"
    )
    return engine.model, engine.tokenizer


def save_ppm(model: ProcessPreferenceModel, tokenizer: Any, directory: str | Path, **about: Any) -> Path:
    """The backbone and tokenizer (``save_pretrained``: a plain causal LM directory that
    transformers and vLLM load), the head's weights, and the marker file
    (``{"format": "canopy-ppm", ...}`` plus ``about``: base model, pairs, epochs...)."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    model.backbone.save_pretrained(out)
    tokenizer.save_pretrained(out)
    head = {k: v.detach().cpu() for k, v in model.v_head.state_dict().items()}  # loadable without a GPU
    torch.save(head, out / HEAD_FILE)
    (out / MARKER).write_text(json.dumps({"format": FORMAT, "version": 1, **about}, indent=2))
    return out


def _check_dir(where: Path) -> dict[str, Any]:
    """The marker of a full PPM directory; a ValueError when ``where`` is not one."""
    if not (where / MARKER).is_file() or not (where / HEAD_FILE).is_file():
        raise ValueError(
            f"{where} is not a Canopy PPM directory (no {MARKER} / {HEAD_FILE}; see `canopy train-ppm`)"
        )
    about = json.loads((where / MARKER).read_text(encoding="utf-8"))
    if not isinstance(about, dict) or about.get("format") != FORMAT:
        kind = about.get("format") if isinstance(about, dict) else None
        raise ValueError(f"{where / MARKER} says format {kind!r}, not {FORMAT!r} (a full PPM)")
    return about


def load_head(directory: str | Path) -> ValueHead:
    """The saved value head alone (what the vLLM path puts on top of vLLM's hidden states)."""
    where = Path(directory)
    _check_dir(where)
    state = torch.load(where / HEAD_FILE, map_location="cpu", weights_only=True)
    head = ValueHead(state["summary.weight"].shape[-1])
    head.load_state_dict(state)
    return head.eval()


def load_ppm(directory: str | Path, device: str | None = None) -> tuple[ProcessPreferenceModel, Any]:
    """A PPM saved by ``save_ppm``, in eval mode, on ``device`` (default CPU); a directory that
    is not one says so."""
    import transformers

    where = Path(directory)
    _check_dir(where)
    backbone = transformers.AutoModelForCausalLM.from_pretrained(where)
    tokenizer = transformers.AutoTokenizer.from_pretrained(where)
    model = ProcessPreferenceModel(backbone)
    model.v_head.load_state_dict(torch.load(where / HEAD_FILE, map_location="cpu", weights_only=True))
    return model.to(device or "cpu").eval(), tokenizer


# --- the search's view: a StepScorer ------------------------------------------------------

Runtime = Literal["auto", "transformers", "vllm"]


class FullPPM:
    """The paper's full PPM as a ``StepScorer`` (``step_scorer.py``): one value tanh(v / 5) per
    text, from one batched call. ``values`` gives the head's raw value of each text: the
    transformers model, or vLLM's last-token hidden state with the head on top."""

    name: ClassVar[str] = "ppm"

    def __init__(
        self,
        values: Callable[[list[str]], list[float]],
        *,
        runtime: str,
        directory: Path | None = None,
        about: dict[str, Any] | None = None,
    ) -> None:
        self._values = values
        #: "transformers" or "vllm": what computes the hidden states
        self.runtime = runtime
        self.directory = directory
        #: the directory's marker (format, base model, training settings...)
        self.about = dict(about or {"format": FORMAT})

    @classmethod
    def from_model(cls, model: ProcessPreferenceModel, tokenizer: Any, *, batch_size: int = 8) -> FullPPM:
        """A PPM in memory (just trained, or loaded by ``load_ppm``)."""
        values = functools.partial(head_values, model, tokenizer, batch_size=batch_size)
        return cls(values, runtime="transformers")

    @classmethod
    def load(
        cls,
        directory: str | Path,
        *,
        runtime: Runtime = "auto",
        gpu_memory_utilization: float | None = None,
        max_model_len: int | None = None,
    ) -> FullPPM:
        """The ``canopy-ppm`` directory's PPM, loaded once per directory (and runtime) and kept
        (a web app's runs share it; a directory saved again is loaded again).

        ``runtime="auto"``: vLLM when it is installed and a CUDA GPU is visible, else
        transformers (on the GPU when there is one). ``gpu_memory_utilization`` and
        ``max_model_len`` are vLLM's (``backend/engines/vllm.py: VLLMValueHead.load``)."""
        where = Path(directory).expanduser().resolve()
        _check_dir(where)
        if runtime == "auto":
            runtime = "vllm" if _vllm_usable() else "transformers"
        if runtime not in ("transformers", "vllm"):
            raise ValueError(f"unknown PPM runtime {runtime!r} (auto, transformers, vllm)")
        stamp = (where / MARKER).stat().st_mtime_ns
        return _load_cached(str(where), stamp, runtime, gpu_memory_utilization, max_model_len)

    @staticmethod
    def cache_clear() -> None:
        """Forget every loaded PPM (tests; a process that wants the memory back)."""
        _load_cached.cache_clear()

    def score_steps(self, texts: Sequence[str]) -> list[float]:
        texts = list(texts)
        if not texts:
            return []
        return [math.tanh(v / SCORE_SCALE) for v in self._values(texts)]


def _vllm_usable() -> bool:
    from backend._optional import is_available

    return is_available("vllm") and torch.cuda.is_available()


@functools.lru_cache(maxsize=4)
def _load_cached(
    directory: str, stamp: int, runtime: str, gpu_memory_utilization: float | None, max_model_len: int | None
) -> FullPPM:
    where = Path(directory)
    about = _check_dir(where)
    if runtime == "vllm":
        from backend.engines.vllm import PPM_GPU_SHARE, VLLMValueHead

        head = load_head(where).summary
        scorer = VLLMValueHead.load(
            where,
            weight=head.weight.detach().float().numpy().reshape(-1),
            bias=float(head.bias.detach().float().item()),
            gpu_memory_utilization=gpu_memory_utilization or PPM_GPU_SHARE,
            max_model_len=max_model_len,
        )
        return FullPPM(scorer.values, runtime="vllm", directory=where, about=about)
    model, tokenizer = load_ppm(where, device="cuda" if torch.cuda.is_available() else "cpu")
    values = functools.partial(head_values, model, tokenizer)
    return FullPPM(values, runtime="transformers", directory=where, about=about)
