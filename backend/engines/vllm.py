"""vLLM engine: in-process ``vllm.LLM`` on a local GPU (extra [gpu]), prefix caching on.

MCTS prompts share long prefixes (the problem, the few-shot examples, the path so
far), so ``enable_prefix_caching`` is what makes repeated expansions cheap.
vLLM already implements the contract's stop handling (stop strings are excluded
from ``text``; ``stop_reason`` names the string, or the token id for stop tokens);
``to_completions`` maps its outputs and is a pure function, tested without vLLM.
``logprobs=0`` asks for no alternatives but makes vLLM fill ``cumulative_logprob``
(the raw model log-probabilities of the sampled tokens in vLLM's default mode).

- What it loads: an HF id or a local HF folder. A GGUF (the embedded model included) is not
  loaded directly (since vLLM 0.24 that needs the separate vllm-gguf-plugin plus a config and
  tokenizer folder): the transformers engine's converted copy of it is used when there is one
  (``$CANOPY_CACHE/models/hf/<name>``, written by its first load), else ``load`` says how to make one.
- Prompts are tokenized here without special tokens (``chat_prompt``'s text already holds any
  BOS; vLLM would add a second one to a text prompt) and sent as token ids.
- Context guard: a prompt's ``max_tokens`` is cut to what ``max_model_len`` leaves, and a
  prompt that leaves no room gets n empty ``"length"`` completions (logged), instead of vLLM
  refusing the whole batched call.

``VLLMValueHead`` scores texts with rStar-Math's full PPM the official way
(``rstar_deepthink/llms/llm_engine.py: rm_engine``, ``llms.py: rm_generate``): vLLM runs the
PPM's fine-tuned backbone as a pooling model that returns the last token's final hidden
state, and the linear value head is applied on top here, in numpy.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from backend._optional import require
from backend.engines.base import Completion, EngineInfo, GenerationRequest, plain_chat_prompt
from backend.engines.embedded import EMBEDDED_ALIASES, resolve_model

log = logging.getLogger(__name__)


def completion_from_output(out: Any, gen_ms: float = 0.0) -> Completion:
    """One vLLM ``CompletionOutput`` -> Completion."""
    reason = out.finish_reason
    if reason not in ("stop", "length"):  # "abort" and anything newer: not a completion to search over
        raise RuntimeError(f"vLLM finished a sequence with {reason!r}")
    stop_reason = out.stop_reason if isinstance(out.stop_reason, str) else None  # an int is a stop token id
    logprob = out.cumulative_logprob
    return Completion(
        text=out.text,
        tokens=len(out.token_ids),
        logprob=None if logprob is None else float(logprob),
        finish_reason=reason,
        stop_reason=stop_reason if reason == "stop" else None,
        gen_ms=gen_ms,
    )


def to_completions(request_outputs: Sequence[Any], n: int, call_ms: float = 0.0) -> list[list[Completion]]:
    """``LLM.generate``'s RequestOutputs (in prompt order) -> one list of n completions per prompt.

    A request made with n=1 (greedy) is copied to fill n, as the contract allows. ``call_ms``,
    the whole call's wall time, is shared between the prompts (``Completion.gen_ms``).
    """
    gen_ms = call_ms / max(len(request_outputs), 1)
    result = []
    for ro in request_outputs:
        outs = sorted(ro.outputs, key=lambda o: getattr(o, "index", 0))
        comps = [completion_from_output(o, gen_ms) for o in outs]
        if len(comps) == 1 and n > 1:
            comps = comps * n
        if len(comps) != n:
            raise RuntimeError(f"vLLM returned {len(comps)} completions for a prompt, expected {n}")
        result.append(comps)
    return result


def vllm_source(model: str | None) -> str:
    """What vLLM loads for ``model``: an HF id or folder as given; for a GGUF (None: the embedded
    model) the transformers engine's converted folder of it, else a ValueError saying how to get one."""
    source = resolve_model(model)
    if not source.lower().endswith(".gguf"):
        return source
    from backend.engines.transformers import _converted_dir, _load_gguf_source

    where, converted = _load_gguf_source(source, True)
    if converted is not None:
        return where
    what = "the embedded model" if model is None or model.strip().lower() in EMBEDDED_ALIASES else source
    raise ValueError(
        f"the vLLM engine needs an HF model id or folder, e.g. --engine vllm --model "
        f"Qwen/Qwen2.5-Coder-0.5B-Instruct; {what} is a GGUF, which vLLM does not load without a "
        f"config and tokenizer folder. Load it once with the transformers engine (--engine transformers"
        f"{'' if what == 'the embedded model' else ' --model ' + source}), which saves a converted "
        f"folder at {_converted_dir(source)}; --engine vllm then uses that folder.")


def model_len(llm: Any) -> int | None:
    """The loaded model's context length (``max_model_len``), None when vLLM does not say."""
    for path in (("llm_engine", "model_config"), ("model_config",)):
        obj = llm
        for name in path:
            obj = getattr(obj, name, None)
        value = getattr(obj, "max_model_len", None)
        if isinstance(value, int) and value > 0:
            return value
    return None


# The official run gives the PPM what the policy leaves (0.98 − the policy's share); the policy
# engine defaults to 0.85. Both are engine options (``--engine-opt gpu_memory_utilization=...``,
# ``--engine-opt ppm_gpu_memory_utilization=...``); together they may not pass GPU_SHARE_CAP.
POLICY_GPU_SHARE = 0.85
PPM_GPU_SHARE = 0.12
GPU_SHARE_CAP = 0.98


def check_gpu_split(policy: float, ppm: float) -> None:
    """Refuse a GPU memory split vLLM would fail on later (and less clearly)."""
    for name, share in (("gpu_memory_utilization", policy), ("ppm_gpu_memory_utilization", ppm)):
        if not 0 < share < 1:
            raise ValueError(f"{name} must be a fraction of the GPU's memory between 0 and 1, got {share}")
    if policy + ppm > GPU_SHARE_CAP:
        raise ValueError(
            f"the policy ({policy}) and the PPM ({ppm}) would take {policy + ppm:.2f} of the GPU's memory; "
            f"together they may take at most {GPU_SHARE_CAP}: lower one of them"
        )


class VLLMEngine:
    """In-process vLLM; ``.llm`` is the ``vllm.LLM`` for callers that need more."""

    def __init__(self, llm: Any, info: EngineInfo):
        self.llm = llm
        self.info = info
        self._vllm = require("vllm", extra="gpu")
        self._tokenizer = llm.get_tokenizer()
        self.max_model_len = model_len(llm)
        #: the GPU share of a PPM loaded beside this engine (``FullPPM.load`` reads it)
        self.ppm_gpu_memory_utilization = PPM_GPU_SHARE

    @classmethod
    def load(cls, model: str | None = None, *, tensor_parallel_size: int = 1,
             gpu_memory_utilization: float = POLICY_GPU_SHARE, max_model_len: int | None = None,
             dtype: str = "auto", seed: int = 0, batch_invariant: bool = False,
             ppm_gpu_memory_utilization: float = PPM_GPU_SHARE, **llm_kwargs: Any) -> VLLMEngine:
        """Load ``model`` (HF id or local HF folder; a GGUF or None, the embedded model: its
        converted folder, see ``vllm_source``) into vLLM.

        batch_invariant: require vLLM's batch-invariant mode, so that a prompt's samples do not
        depend on what else shares its batch (what same-seed-same-output needs on vLLM; beta,
        slower, compute capability >= 8.0). vLLM reads it from ``VLLM_BATCH_INVARIANT=1`` in the
        environment it starts in; Canopy writes no variable vLLM reads (its one write is the CPU
        engines' OMP_WAIT_POLICY, ``_threads.py``), so the launcher sets it and this refuses to
        start without it.
        ppm_gpu_memory_utilization: the GPU share a PPM scored through vLLM gets (a full PPM
        loads as a second vLLM model next to the policy); with ``gpu_memory_utilization`` it
        may not pass GPU_SHARE_CAP. Extra keyword arguments go to ``vllm.LLM``.
        """
        check_gpu_split(gpu_memory_utilization, ppm_gpu_memory_utilization)
        source = vllm_source(model)
        if batch_invariant and os.environ.get("VLLM_BATCH_INVARIANT") != "1":
            raise ValueError(
                "batch-invariant vLLM needs VLLM_BATCH_INVARIANT=1 in the environment the app starts "
                "in (vLLM reads it at start): e.g. `VLLM_BATCH_INVARIANT=1 python app.py --engine vllm ...`"
            )
        vllm = require("vllm", extra="gpu")
        t0 = time.perf_counter()
        llm = vllm.LLM(
            model=source,
            enable_prefix_caching=True,
            tensor_parallel_size=tensor_parallel_size,
            gpu_memory_utilization=gpu_memory_utilization,
            max_model_len=max_model_len,
            dtype=dtype,
            seed=seed,
            **llm_kwargs,
        )
        info = EngineInfo(
            name="vllm",
            model=source,
            details={
                "vllm": getattr(vllm, "__version__", "?"),
                "tensor_parallel_size": tensor_parallel_size,
                "prefix_caching": True,
                "batch_invariant": os.environ.get("VLLM_BATCH_INVARIANT") == "1",
                "load_s": round(time.perf_counter() - t0, 2),
            },
        )
        engine = cls(llm, info)
        engine.ppm_gpu_memory_utilization = ppm_gpu_memory_utilization
        return engine

    def sampling_params(self, req: GenerationRequest, max_tokens: int | None = None) -> Any:
        greedy = req.temperature == 0
        return self._vllm.SamplingParams(
            n=1 if greedy else req.n,  # greedy samples are identical; older vLLMs refuse n > 1 with greedy
            temperature=req.temperature,
            top_p=1.0 if greedy else req.top_p,
            max_tokens=max_tokens or req.max_tokens,
            stop=list(req.stop) or None,
            seed=req.seed,
            logprobs=0,  # no alternatives, but cumulative_logprob gets filled
        )

    def generate(
        self,
        prompts: Sequence[str],
        *,
        n: int = 1,
        max_tokens: int = 256,
        temperature: float = 0.7,
        top_p: float = 1.0,
        stop: Sequence[str] = (),
        seed: int | None = None,
    ) -> list[list[Completion]]:
        req = GenerationRequest.make(prompts, n=n, max_tokens=max_tokens, temperature=temperature,
                                     top_p=top_p, stop=stop, seed=seed)
        t0 = time.perf_counter()
        # token ids without special tokens: the rendered chat text already holds any BOS
        ids = [list(self._tokenizer.encode(p, add_special_tokens=False)) for p in req.prompts]
        limit = self.max_model_len
        room = [req.max_tokens if limit is None else min(req.max_tokens, limit - len(t)) for t in ids]
        fits = [i for i, r in enumerate(room) if r >= 1]
        for i in set(range(len(ids))) - set(fits):
            log.warning("prompt %d has %d tokens: no room left in max_model_len=%s; its completions are "
                        "empty (finish 'length')", i, len(ids[i]), limit)
        result: list[list[Completion]] = [
            [Completion("", 0, None, "length")] * req.n for _ in req.prompts]
        if fits:
            outputs = self.llm.generate(
                [{"prompt_token_ids": ids[i]} for i in fits],
                [self.sampling_params(req, room[i]) for i in fits],
                use_tqdm=False,
            )
            call_ms = (time.perf_counter() - t0) * 1000
            done = to_completions(outputs, req.n, call_ms * len(fits) / len(ids))
            for i, comps in zip(fits, done, strict=True):
                result[i] = comps
        return result

    def chat_prompt(self, messages: Sequence[dict[str, str]], *, add_generation_prompt: bool = True) -> str:
        tok = self.llm.get_tokenizer()
        if getattr(tok, "chat_template", None):
            return tok.apply_chat_template(list(messages), tokenize=False,
                                           add_generation_prompt=add_generation_prompt)
        return plain_chat_prompt(messages, add_generation_prompt=add_generation_prompt)

    def close(self) -> None:
        self.llm = None


# --- rStar-Math's PPM on vLLM -------------------------------------------------------------

def last_token_states(outputs: Sequence[Any]) -> np.ndarray:
    """``LLM.embed``'s outputs (in prompt order) -> an (n, hidden) float32 array: each prompt's
    last-token hidden state (``output.outputs.embedding``)."""
    if not outputs:
        return np.zeros((0, 0), dtype=np.float32)
    return np.asarray([o.outputs.embedding for o in outputs], dtype=np.float32)


def pooler_config() -> Any:
    """LAST pooling with nothing applied after it: the raw final hidden state of the last token.

    The embed pooler L2-normalises by default, which would lose the norm the head reads. Older
    vLLM releases call that switch ``normalize``, newer ones ``use_activation``; the installed
    ``PoolerConfig``'s fields decide."""
    from vllm.config import PoolerConfig  # imported only once load() has required vllm

    names = {f.name for f in dataclasses.fields(PoolerConfig)}
    flag = "normalize" if "normalize" in names else "use_activation"
    return PoolerConfig(pooling_type="LAST", **{flag: False})


class VLLMValueHead:
    """A PPM backbone in vLLM (runner "pooling", converted to "embed", LAST pooling) + a linear
    value head ``weight · h + bias`` on each text's last-token hidden state h.

    Texts are tokenized here as the transformers path does (no special tokens) and sent as
    token ids; a text longer than the model allows keeps its first ``max_model_len − 1`` tokens
    (official ``prevent_overlength``)."""

    def __init__(self, llm: Any, weight: np.ndarray, bias: float, max_model_len: int):
        self.llm = llm
        self.weight = np.asarray(weight, dtype=np.float32).reshape(-1)
        self.bias = float(bias)
        self.max_model_len = max_model_len
        self._tokenizer = llm.get_tokenizer()

    @classmethod
    def load(cls, directory: str | Path, *, weight: np.ndarray, bias: float,
             gpu_memory_utilization: float = PPM_GPU_SHARE, max_model_len: int | None = None,
             dtype: str = "auto", seed: int = 0, **llm_kwargs: Any) -> VLLMValueHead:
        """The causal LM saved in ``directory`` (``save_ppm``) as a vLLM pooling model.

        Extra keyword arguments go to ``vllm.LLM`` unchanged (``enforce_eager=True`` is what
        the official code passes)."""
        vllm = require("vllm", extra="gpu")
        llm = vllm.LLM(
            model=str(directory),
            runner="pooling",
            convert="embed",
            pooler_config=pooler_config(),
            gpu_memory_utilization=gpu_memory_utilization,
            max_model_len=max_model_len,
            dtype=dtype,
            seed=seed,
            **llm_kwargs,
        )
        length = max_model_len or llm.llm_engine.model_config.max_model_len
        return cls(llm, weight, bias, length)

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        keep = self.max_model_len - 1
        rows = [list(self._tokenizer.encode(t, add_special_tokens=False))[:keep] for t in texts]
        if any(not r for r in rows):
            raise ValueError("a PPM input is empty")
        return rows

    def values(self, texts: Sequence[str]) -> list[float]:
        """The head's raw value of each text, from one ``LLM.embed`` call."""
        if not texts:
            return []
        prompts = [{"prompt_token_ids": ids} for ids in self.token_ids(texts)]
        states = last_token_states(self.llm.embed(prompts, use_tqdm=False))
        if states.shape != (len(texts), self.weight.size):
            raise RuntimeError(f"vLLM returned hidden states of shape {states.shape}, expected "
                               f"({len(texts)}, {self.weight.size}): is this the PPM's backbone?")
        return (states @ self.weight + self.bias).tolist()

    def close(self) -> None:
        self.llm = None
