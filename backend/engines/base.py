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
  engine and machine;
- the arguments are checked by :class:`GenerationRequest` (one place, one message for
  every engine): each engine's ``generate`` starts with ``GenerationRequest.make(...)``.
"""

from __future__ import annotations

import contextlib
import math
import numbers
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


#: wrappers nest rarely more than once or twice (the page's lock around a timer, say)
_MAX_WRAPPERS = 8


def underlying(engine: Any) -> Any:
    """The engine a wrapper stands for. A wrapper that adds behaviour around an engine (the
    page's ``LockedEngine``, a bench's timer) keeps it as ``inner``; code that needs the
    engine's own machinery rather than its ``generate`` (the head PPM's llama.cpp context on
    the loaded model) looks through the wrappers with this."""
    for _ in range(_MAX_WRAPPERS):
        inner = getattr(engine, "inner", None)
        if inner is None or not hasattr(inner, "generate"):
            break
        engine = inner
    return engine


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    """One ``generate`` call's arguments, checked once for every engine.

    Each engine builds one with :meth:`make` at the top of ``generate``, so a setting no
    engine can honour is refused with the same message whichever engine is loaded, and
    the engine's own code reads values that are already sound (empty stop strings dropped).
    """

    prompts: tuple[str, ...]
    n: int = 1
    max_tokens: int = 256
    temperature: float = 0.7
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None

    def __post_init__(self) -> None:
        _check_texts("prompts", self.prompts, "there is nothing to continue from")
        _check_texts("stop", self.stop, "it would end every text at once")
        for name in ("n", "max_tokens"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise ValueError(f"{name} must be an integer of at least 1, got {value!r}")
        if not _is_number(self.temperature) or self.temperature < 0:
            raise ValueError(f"temperature must be a finite number >= 0, got {self.temperature!r}")
        if not _is_number(self.top_p) or not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p!r}")
        if self.seed is not None and (not _is_int(self.seed) or self.seed < 0):
            raise ValueError(f"seed must be a non-negative integer or None, got {self.seed!r}")

    @classmethod
    def make(
        cls,
        prompts: Sequence[str],
        *,
        n: int = 1,
        max_tokens: int = 256,
        temperature: float = 0.7,
        top_p: float = 1.0,
        stop: Sequence[str] = (),
        seed: int | None = None,
    ) -> GenerationRequest:
        """The request of a ``generate(prompts, n=..., ...)`` call; empty stop strings are
        dropped (they would match everywhere). Raises ValueError naming the bad argument."""
        stops = tuple(s for s in _as_tuple("stop", stop) if s != "")
        return cls(_as_tuple("prompts", prompts), n, max_tokens, temperature, top_p, stops, seed)


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    """A finite real number (an integer always is; ``True`` is not a number here)."""
    if _is_int(value):
        return True
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _as_tuple(name: str, value: object) -> tuple[object, ...]:
    """A list argument as a tuple; a lone string is refused (``stop="\\n"`` would be one
    stop string per character)."""
    if not isinstance(value, str | bytes):
        with contextlib.suppress(TypeError):
            return tuple(value)  # type: ignore[arg-type]
    raise ValueError(f"{name} must be a list of strings, got {type(value).__name__}")


def _check_texts(name: str, values: tuple[object, ...], empty: str) -> None:
    for i, text in enumerate(values):
        if not isinstance(text, str):
            raise ValueError(f"{name}[{i}] must be a string, got {type(text).__name__}")
        if not text:
            raise ValueError(f"{name}[{i}] is empty: {empty}")


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
