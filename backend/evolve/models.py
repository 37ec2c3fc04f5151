"""Where an evolve run gets its models: an engine to search and evaluate with a policy, and
the policy's weights to fine-tune. One seam, so the rounds' code is the same for the
embedded model on this CPU, an HF model on a GPU, and the tests (scripted engine + tiny Qwen2).

A policy is ``None`` (the base model) or a fine-tuned policy folder (``backend/train/sft.py:
save_policy``). The base model searches on the run's engine (llama.cpp by default: the
embedded model at its own speed); a fine-tuned folder is an HF folder, so it searches on the
transformers engine, with ``policy_engine="vllm"`` on vLLM (a GPU: the paper presets), or with
``policy_engine="llamacpp"`` on llama.cpp from a GGUF written beside it
(``RUN/round-N/policy.gguf``, backend/evolve/gguf_export.py; docs/EVOLVE.md).
"""

from __future__ import annotations

from typing import Any, Protocol

#: the engines a fine-tuned policy folder can search on
POLICY_ENGINES = ("transformers", "vllm", "llamacpp")


class Models(Protocol):
    def engine(self, policy: str | None) -> Any:
        """A loaded engine that generates with ``policy`` (kept until ``close``)."""

    def trainable(self, policy: str | None) -> tuple[Any, Any]:
        """(causal LM in float32, tokenizer) of ``policy``, to fine-tune or to put a PPM head on."""

    def describe(self, policy: str | None) -> dict[str, Any]:
        """What the manifest records of ``policy``: engine, model, sha256."""

    def close(self) -> None: ...


class CachedEngine:
    """Keeps the last engine loaded and closes it when another policy is asked for: one
    model in memory at a time (the rounds ask for the same policy several times in a row)."""

    def __init__(self) -> None:
        self._key: Any = object()
        self._engine: Any = None

    def get(self, key: Any, load: Any) -> Any:
        if key != self._key or self._engine is None:
            self.close()
            self._engine = load()
            self._key = key
        return self._engine

    def close(self) -> None:
        if self._engine is not None and hasattr(self._engine, "close"):
            self._engine.close()
        self._engine, self._key = None, object()


class LocalModels:
    """The base model on ``engine`` (llama.cpp and the embedded model by default), fine-tuned
    folders on ``policy_engine`` (transformers, or llamacpp from the policy's exported GGUF);
    weights to train through the transformers engine."""

    def __init__(self, engine: str = "llamacpp", base: str | None = None, threads: int | None = None,
                 policy_engine: str = "transformers") -> None:
        if policy_engine not in POLICY_ENGINES:
            raise ValueError(f"the policy engine must be one of {', '.join(POLICY_ENGINES)}, "
                             f"not {policy_engine!r}")
        if policy_engine == "llamacpp" and base is not None and not base.lower().endswith(".gguf"):
            raise ValueError("policies run on llama.cpp only from a GGUF base model (the export's template)")
        self.engine_name = engine
        self.base = base
        self.threads = threads
        self.policy_engine = policy_engine
        self._cache = CachedEngine()

    def prepare_policy(self, policy: str) -> dict[str, Any]:
        """What a new policy needs before it searches: its GGUF when it runs on llama.cpp."""
        if self.policy_engine != "llamacpp":
            return {}
        import time

        from backend.evolve.gguf_export import ensure_policy_gguf

        start = time.perf_counter()
        path = ensure_policy_gguf(policy, self.base)
        return {"gguf": str(path), "gguf_seconds": round(time.perf_counter() - start, 1)}

    def engine(self, policy: str | None) -> Any:
        from backend.engines import load_engine

        def load() -> Any:
            if policy is None:
                opts = {"n_threads": self.threads} if self.threads and self.engine_name == "llamacpp" else {}
                return load_engine(self.engine_name, self.base, **opts)
            if self.policy_engine == "llamacpp":
                from backend.evolve.gguf_export import ensure_policy_gguf

                gguf = str(ensure_policy_gguf(policy, self.base))
                return load_engine("llamacpp", gguf, **({"n_threads": self.threads} if self.threads else {}))
            if self.policy_engine == "vllm":  # the merged HF folder, as vLLM loads any HF model
                return load_engine("vllm", policy)
            return load_engine("transformers", policy, **({"threads": self.threads} if self.threads else {}))

        return self._cache.get(policy, load)

    def trainable(self, policy: str | None) -> tuple[Any, Any]:
        import torch

        from backend.engines.transformers import TransformersEngine

        self._cache.close()  # training wants the memory more than a cached engine does
        device = None if torch.cuda.is_available() else "cpu"
        loaded = TransformersEngine.load(
            policy or self.base, device=device, dtype="float32", threads=self.threads
        )
        loaded.tokenizer.padding_side = "right"  # training pads on the right
        return loaded.model, loaded.tokenizer

    def describe(self, policy: str | None) -> dict[str, Any]:
        from backend.evolve.manifest import folder_sha256
        from backend.runspec import model_checksum

        if policy is None:
            return {"engine": self.engine_name, "model": self.base or "embedded",
                    "sha256": model_checksum(self.engine_name, self.base)}
        return {"engine": self.policy_engine, "model": policy, "sha256": folder_sha256(policy)}

    def close(self) -> None:
        self._cache.close()
