"""The one engine interface every search talks to.

Search is batched (an MCTS expansion asks for n continuations of one prefix, a
level of beam search for many prefixes), so the interface is batched too:

    engine.generate(prompts, n=8, max_tokens=256, temperature=0.7, top_p=1.0,
                    stop=["<end_of_step>"], seed=0) -> list[list[Completion]]

Contract, shared by every engine and checked by tests/engines/test_contract.py:
- the result has one list per prompt, in prompt order, each with exactly ``n``
  completions;
- a completion's ``text`` excludes the stop string that ended it; ``stop_reason``
  names that string and ``finish_reason`` is ``"stop"``; a completion cut by
  ``max_tokens`` has ``finish_reason == "length"``; end of sequence is ``"stop"``
  with ``stop_reason`` None;
- ``temperature == 0`` is greedy (n identical completions are allowed);
- the same ``seed`` with the same inputs gives the same completions on the same
  engine and machine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

FinishReason = Literal["stop", "length"]


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    tokens: int
    #: sum of the sampled tokens' log-probabilities (None when the engine cannot say)
    logprob: float | None
    finish_reason: FinishReason
    #: the stop string that ended the text, when one did
    stop_reason: str | None = None
    #: wall time of its prompt's generation, in milliseconds: a call with several prompts
    #: shares its time between them, and a prompt's n completions each carry its share
    #: (so a node's cost is gen_ms / n; every engine follows this, tests/engines/)
    gen_ms: float = 0.0

    @property
    def mean_logprob(self) -> float | None:
        """Mean token log-probability (CPL's prior is exp of this)."""
        if self.logprob is None or self.tokens == 0:
            return None
        return self.logprob / self.tokens


@dataclass(frozen=True, slots=True)
class EngineInfo:
    name: str  # engine kind: "llamacpp", "transformers", "vllm", "openai", "scripted"
    model: str  # what is loaded: a path, an HF id or a served model name
    details: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Engine(Protocol):
    """What a search needs from a language model."""

    info: EngineInfo

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
    ) -> list[list[Completion]]: ...

    def chat_prompt(self, messages: Sequence[dict[str, str]], *, add_generation_prompt: bool = True) -> str:
        """Render chat messages with the model's own template into one prompt string.

        Searches build prompts as plain strings so that engines can reuse the KV cache
        of a shared prefix; this keeps the model's chat format while doing so.
        """
        ...

    def close(self) -> None: ...


def check_sampling(n: int, max_tokens: int, temperature: float, top_p: float) -> None:
    """Reject sampling settings no engine can honour, with a message that says why."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be at least 1, got {max_tokens}")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")


def cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, str | None]:
    """Cut ``text`` at the earliest stop string; returns (text before it, that stop)."""
    best: tuple[int, str] | None = None
    for s in stop:
        if not s:
            continue
        i = text.find(s)
        if i >= 0 and (best is None or i < best[0]):
            best = (i, s)
    if best is None:
        return text, None
    return text[: best[0]], best[1]


def plain_chat_prompt(messages: Sequence[dict[str, str]], *, add_generation_prompt: bool = True) -> str:
    """A ChatML rendering (Qwen's format) for engines without a tokenizer template."""
    parts = [f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages]
    if add_generation_prompt:
        parts.append("<|im_start|>assistant\n")
    return "".join(parts)
