"""vLLM engine: in-process ``vllm.LLM`` on a local GPU (extra [gpu]), prefix caching on.

MCTS prompts share long prefixes (the problem, the few-shot examples, the path so
far), so ``enable_prefix_caching`` is what makes repeated expansions cheap.
vLLM already implements the contract's stop handling (stop strings are excluded
from ``text``; ``stop_reason`` names the string, or the token id for stop tokens);
``to_completions`` maps its outputs and is a pure function, tested without vLLM.
``logprobs=0`` asks for no alternatives but makes vLLM fill ``cumulative_logprob``
(the raw model log-probabilities of the sampled tokens in vLLM's default mode).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from backend._optional import require
from backend.engines.base import Completion, EngineInfo, GenerationRequest, plain_chat_prompt
from backend.engines.embedded import resolve_model


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


class VLLMEngine:
    """In-process vLLM; ``.llm`` is the ``vllm.LLM`` for callers that need more."""

    def __init__(self, llm: Any, info: EngineInfo):
        self.llm = llm
        self.info = info
        self._vllm = require("vllm", extra="gpu")

    @classmethod
    def load(cls, model: str | None = None, *, tensor_parallel_size: int = 1,
             gpu_memory_utilization: float = 0.85, max_model_len: int | None = None, dtype: str = "auto",
             seed: int = 0, **llm_kwargs: Any) -> VLLMEngine:
        """Load ``model`` (HF id, local dir, GGUF path; None: the embedded GGUF) into vLLM.

        Extra keyword arguments go to ``vllm.LLM`` unchanged (e.g. ``tokenizer=`` for a GGUF).
        """
        vllm = require("vllm", extra="gpu")
        t0 = time.perf_counter()
        source = resolve_model(model)
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
                "load_s": round(time.perf_counter() - t0, 2),
            },
        )
        return cls(llm, info)

    def sampling_params(self, req: GenerationRequest) -> Any:
        greedy = req.temperature == 0
        return self._vllm.SamplingParams(
            n=1 if greedy else req.n,  # greedy samples are identical; older vLLMs refuse n > 1 with greedy
            temperature=req.temperature,
            top_p=1.0 if greedy else req.top_p,
            max_tokens=req.max_tokens,
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
        outputs = self.llm.generate(list(req.prompts), self.sampling_params(req), use_tqdm=False)
        return to_completions(outputs, req.n, (time.perf_counter() - t0) * 1000)

    def chat_prompt(self, messages: Sequence[dict[str, str]], *, add_generation_prompt: bool = True) -> str:
        tok = self.llm.get_tokenizer()
        if getattr(tok, "chat_template", None):
            return tok.apply_chat_template(list(messages), tokenize=False,
                                           add_generation_prompt=add_generation_prompt)
        return plain_chat_prompt(messages, add_generation_prompt=add_generation_prompt)

    def close(self) -> None:
        self.llm = None
