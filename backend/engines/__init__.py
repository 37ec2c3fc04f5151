"""Engines: one file each, behind the batched interface of ``engines/base.py``.

The registry maps names to ``"module:Class"`` strings resolved on lookup, so
``import backend.engines`` loads no torch, llama.cpp or vllm.
"""

from __future__ import annotations

import importlib
from typing import Any

from backend.engines.base import Completion, Engine, EngineInfo
from backend.names import unknown_name_error

ENGINES: dict[str, str] = {
    "llamacpp": "backend.engines.llamacpp:LlamaCppEngine",
    "transformers": "backend.engines.transformers:TransformersEngine",
    "vllm": "backend.engines.vllm:VLLMEngine",
    "openai": "backend.engines.openai:OpenAIEngine",
    "scripted": "backend.engines.scripted:ScriptedEngine",
}

DEFAULT_ENGINE = "llamacpp"


def engine_class(name: str) -> type:
    if name not in ENGINES:
        raise unknown_name_error("engine", name, ENGINES)
    module, _, cls = ENGINES[name].partition(":")
    return getattr(importlib.import_module(module), cls)


def load_engine(name: str = DEFAULT_ENGINE, model: str | None = None, **options: Any) -> Engine:
    """Build an engine by name; ``model`` is a GGUF path, HF id, local dir or server model."""
    cls = engine_class(name)
    if name == "scripted":
        if not model:
            raise ValueError(
                "the scripted engine needs --model RULES.json (it replays canned text; not a model)"
            )
        return cls.from_file(model)
    return cls.load(model, **options)


__all__ = ["DEFAULT_ENGINE", "ENGINES", "Completion", "Engine", "EngineInfo", "engine_class", "load_engine"]
