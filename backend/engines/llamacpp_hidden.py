"""Last-token hidden states from llama.cpp: the features of the head PPM (``backend/reward/ppm_head.py``).

rStar-Math's PPM scores a text with a linear value head on the backbone's last hidden state at
the text's last token. When the backbone is the policy's own model, llama.cpp can compute that
state on the model the policy engine already loaded: :class:`LlamaCppHiddenStates` is a second
llama.cpp context on the *same* model object (``for_engine(engine)``: no second copy of the
weights), created with ``embeddings = true`` and ``pooling_type = NONE``, so
``llama_get_embeddings_ith`` returns a token's output embedding: llama.cpp's ``t_embd``, the
last layer's output after the final RMS norm (``result_norm``), just before the LM head.

How these vectors relate to transformers' ``hidden_states[-1]`` of the same GGUF (HF's last
hidden state is also after the final norm), measured 2026-11 on 5 texts of 29-105 tokens
(problem + steps, some with code; the same token ids both ways: HF's tokenizer agreed on all 5),
against the transformers engine, which dequantises the GGUF to fp32:

- Qwen2.5-Coder-0.5B-Instruct Q4_K_M (the embedded model, hidden size 896): cosine similarity
  0.9996-0.9998 (mean 0.9997), norms within 0.4% (~180-190); for scale, two *different* texts'
  llama.cpp states have cosine 0.58-0.85;
- SmolLM2-135M-Instruct Q4_1 (576): cosine 0.9997-0.9999, norms within 0.6%
  (``tests/engines/test_llamacpp_hidden.py::test_matches_transformers_last_hidden_state``,
  marked slow).

So they are the same features up to ~2-3% relative error (llama.cpp's 8-bit activations
against 4-bit weights versus transformers' fp32), not bit-equal ones: a head is trained on the
features it will score with, these.

Reuse and determinism. The texts of one call share long prefixes (the problem and the path;
siblings differ only in the last step), and the next expansion's texts extend one of the
previous ones. Sequence 0 holds the tokens of the last text decoded; each text keeps the
longest prefix it shares with them and decodes only the rest, and a call takes its texts in the
order that shares most (always the one closest to what is held next), so siblings decode their
shared prefix once. Only one sequence is ever held, so a token's KV cell is its position.

Results do not depend on what was cached (bit-identical, cold against warm:
tests/engines/test_llamacpp_hidden.py), which takes three rules, each measured on
Qwen2.5-Coder-0.5B Q4_K_M, where the 8-bit activations turn any rounding difference into
changes of up to ~1 in a final state of norm ~180:

- flash attention off. With it on (llama.cpp's CPU default, ``flash_attn_type`` auto),
  decoding a 444-token text in chunks of any size from 8 to 200 tokens moved its last hidden
  state by up to 1.2 against one decode; with it off every split into chunks of 8 or more
  tokens was bit-identical. (The policy engine, llamacpp.py, leaves it on: there a 336-token
  prompt gave a different greedy continuation warm than cold.) Speed: the same within noise;
- every decode at least ``MIN_PREFILL_BATCH`` (8) tokens, llamacpp.py's rule: chunks of 4-7
  tokens took another kernel path (differences of ~0.7), so a warm text re-decodes at least its
  last 8 tokens;
- one sequence at a time: two sequences in one decode changed the second one's state by 0.8
  (the attention sums' rounding depends on where a sequence's KV cells lie), so texts are
  decoded one after another, never batched together.

Calls are serialised with the engine's own calls (the engine's lock): on a small CPU two
contexts computing at once only slow each other down, and the engine must not free the model
while a call runs. A closed engine makes calls raise RuntimeError.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from backend.engines.llamacpp import MIN_PREFILL_BATCH, _common_prefix

#: the fewest tokens a decode may hold (module docstring: smaller batches take another kernel path)
MIN_CHUNK = MIN_PREFILL_BATCH


class LlamaCppHiddenStates:
    """A second llama.cpp context on a :class:`~backend.engines.llamacpp.LlamaCppEngine`'s model
    that returns final-norm hidden states; build it with :meth:`for_engine`."""

    def __init__(self, engine: Any, *, n_ctx: int | None = None, n_batch: int = 128,
                 adapter: str | Path | None = None) -> None:
        with engine._lock:  # the engine must not free its model while a context is made on it
            if engine._model is None:
                raise RuntimeError("this llamacpp engine is closed")
            self._open(engine, n_ctx, n_batch, adapter)

    def _open(self, engine: Any, n_ctx: int | None, n_batch: int, adapter: str | Path | None) -> None:
        lib = engine._lib
        self._lib, self._model, self._lock = lib, engine._model, engine._lock
        self._engine = weakref.ref(engine)  # not a strong reference: a cache keyed by the engine can let go
        self.n_ctx = int(n_ctx or engine.n_ctx)
        if self.n_ctx < MIN_CHUNK or n_batch < 2 * MIN_CHUNK:
            raise ValueError(f"need n_ctx >= {MIN_CHUNK} and n_batch >= {2 * MIN_CHUNK}, "
                             f"got {self.n_ctx} and {n_batch}")
        self._n_batch = n_batch
        self.hidden_size = int(lib.llama_model_n_embd(self._model))
        threads = int(engine.info.details.get("n_threads") or 1)
        cp = lib.llama_context_default_params()
        cp.n_ctx = self.n_ctx
        cp.n_batch = cp.n_ubatch = n_batch
        cp.n_seq_max = 1
        cp.n_threads = cp.n_threads_batch = threads
        cp.embeddings = True
        cp.pooling_type = lib.LLAMA_POOLING_TYPE_NONE  # per-token states, not a pooled one
        cp.flash_attn_type = lib.LLAMA_FLASH_ATTN_TYPE_DISABLED  # its results depend on the chunking
        ctx = lib.llama_init_from_model(self._model, cp)
        if not ctx:
            raise RuntimeError(f"llama.cpp could not create a hidden-state context (n_ctx={self.n_ctx})")
        if lib.llama_pooling_type(ctx) != lib.LLAMA_POOLING_TYPE_NONE:
            lib.llama_free(ctx)
            raise RuntimeError("llama.cpp pools this model's embeddings; per-token states are needed")
        # adapters are per context: the states of the model as the engine loaded it, or of the
        # base model with ``adapter`` (a PPM's own LoRA GGUF) in place of the engine's adapter
        lora = getattr(engine, "lora", None)
        if adapter is not None:
            lora = lib.llama_adapter_lora_init(self._model, str(adapter).encode())  # freed with the model
            if not lora:
                lib.llama_free(ctx)
                raise RuntimeError(f"llama.cpp could not load the LoRA adapter {adapter} on this model")
        if lora is not None and lib.llama_set_adapters_lora(
            ctx, (lib.llama_adapter_lora_p_ctypes * 1)(lora), 1, (ctypes.c_float * 1)(1.0)
        ):
            lib.llama_free(ctx)
            raise RuntimeError("llama.cpp could not set a LoRA adapter on a hidden-state context")
        self.adapter = None if adapter is None else str(adapter)
        self._ctx = ctx
        self._mem = lib.llama_get_memory(ctx)
        self._batch = lib.llama_batch_init(n_batch, 0, 1)
        self._held: list[int] = []  # the tokens whose KV sequence 0 holds, at positions 0..len-1
        self.info = {"n_threads": threads, "n_ctx": lib.llama_n_ctx(ctx), "hidden_size": self.hidden_size,
                     "flash_attn": False, "min_chunk": MIN_CHUNK, "adapter": self.adapter}
        #: what the last call did (for tests and the bench): texts, tokens, decoded and reused
        #: tokens, llama_decode calls, milliseconds
        self.last_stats: dict[str, Any] = {}

    @classmethod
    def for_engine(cls, engine: Any, **options: Any) -> LlamaCppHiddenStates:
        """A hidden-state context on ``engine``'s loaded model (same library, model object,
        tokenizer and thread count). ``options``: ``adapter`` (a LoRA GGUF over the engine's base
        model, applied in this context only: a PPM's fine-tuned top layers), ``n_ctx`` (the
        longest text, in tokens; default the engine's), ``n_batch`` (tokens per decode, default
        128: without flash attention a decode's attention scores take n_batch x cells x heads
        floats; measured on Qwen 0.5B after one 4000-token text: +140 MB of RSS at 64, +222 MB
        at 128, +383 MB at 256, and over +670 MB at 512 already after 1500 tokens, at about the
        same speed)."""
        from backend.engines.llamacpp import LlamaCppEngine

        if not isinstance(engine, LlamaCppEngine):
            raise ValueError(f"hidden states come from a llamacpp engine, not {type(engine).__name__}")
        return cls(engine, **options)

    # -- public ------------------------------------------------------------------------------

    def last_hidden(self, texts: Sequence[str]) -> np.ndarray:
        """float32 array (len(texts), hidden_size): each text's hidden state at its last token
        (after the final norm). A text with no tokens, or more than ``n_ctx``: ValueError."""
        if isinstance(texts, str):
            raise TypeError("last_hidden takes a sequence of texts, not one string")
        texts = list(texts)
        out = np.empty((len(texts), self.hidden_size), dtype=np.float32)
        with self._lock:
            self._check_open()
            t0 = time.perf_counter()
            tokens = [self._checked(t, i) for i, t in enumerate(texts)]  # all checked before any decode
            st = self.last_stats = {"texts": len(texts), "tokens": sum(map(len, tokens)),
                                    "decoded_tokens": 0, "reused_tokens": 0, "decode_calls": 0, "ms": 0.0}
            todo = list(range(len(tokens)))
            while todo:  # always the text closest to what sequence 0 holds next
                i = max(todo, key=lambda k: (_common_prefix(self._held, tokens[k]), -k))
                todo.remove(i)
                out[i] = self._hidden_of(tokens[i], st)
            st["ms"] = (time.perf_counter() - t0) * 1000
        return out

    def clear_cache(self) -> None:
        """Forget the held tokens, so the next call decodes from scratch (tests, benchmarks)."""
        with self._lock:
            if self._ctx is not None:
                self._lib.llama_memory_clear(self._mem, True)
            self._held = []

    def close(self) -> None:
        with self._lock:
            self._free()

    def _free(self) -> None:
        if self._ctx is not None:
            self._lib.llama_batch_free(self._batch)
            self._lib.llama_free(self._ctx)
            self._ctx = None
            self._held = []

    def __del__(self) -> None:
        # never wait for the lock here: a garbage collection may run this in a thread that holds it
        with contextlib.suppress(Exception):  # interpreter shutdown: the library may already be gone
            if self._lock.acquire(blocking=False):
                try:
                    self._free()
                finally:
                    self._lock.release()

    # -- inside ------------------------------------------------------------------------------

    def _tokenize(self, text: str) -> list[int]:
        """The engine's tokenization (special tokens parsed, BOS as the model wants)."""
        engine = self._engine()
        if engine is None:
            raise RuntimeError("the llamacpp engine these hidden states read is closed")
        return engine.tokenize(text)

    def _checked(self, text: str, index: int) -> list[int]:
        if not isinstance(text, str):
            raise TypeError(f"text {index} is a {type(text).__name__}, not a str")
        tokens = self._tokenize(text)
        if not tokens:
            raise ValueError(f"text {index} is empty: it has no last token")
        if len(tokens) > self.n_ctx:
            raise ValueError(f"text {index} has {len(tokens)} tokens; the hidden-state context holds "
                             f"{self.n_ctx} (LlamaCppHiddenStates.for_engine(engine, n_ctx=...))")
        return tokens

    def _check_open(self) -> None:
        engine = self._engine()
        if self._ctx is None:
            raise RuntimeError("these hidden states are closed")
        if engine is None or engine._model is None:
            raise RuntimeError("the llamacpp engine these hidden states read is closed")

    def _hidden_of(self, tokens: list[int], st: dict[str, Any]) -> np.ndarray:
        """Put ``tokens`` in sequence 0, keeping the held prefix; the last token's state."""
        lib, mem, n = self._lib, self._mem, len(tokens)
        # re-decode at least MIN_CHUNK tokens (all of a shorter text): the same kernel path as cold
        keep = max(0, min(_common_prefix(self._held, tokens), n - MIN_CHUNK))
        self._held = []  # until this text is decoded, the KV holds nothing we can vouch for
        if keep == 0 or not lib.llama_memory_seq_rm(mem, 0, keep, -1):
            lib.llama_memory_clear(mem, True)
            keep = 0
        for start, end in self._chunks(keep, n):
            self._decode(tokens[start:end], start, last=end == n)
            st["decode_calls"] += 1
        st["decoded_tokens"] += n - keep
        st["reused_tokens"] += keep
        ptr = lib.llama_get_embeddings_ith(self._ctx, -1)
        if not ptr:
            raise RuntimeError("llama.cpp returned no hidden state")
        self._held = tokens
        return np.ctypeslib.as_array(ptr, shape=(self.hidden_size,)).copy()

    def _chunks(self, start: int, end: int) -> list[tuple[int, int]]:
        """[start, end) in decodes of at most n_batch and (where the text allows) at least MIN_CHUNK."""
        bounds = [*range(start, end, self._n_batch), end]
        if len(bounds) > 2 and bounds[-1] - bounds[-2] < MIN_CHUNK:
            bounds[-2] = bounds[-1] - MIN_CHUNK  # borrow from the previous chunk
        return list(itertools.pairwise(bounds))

    def _decode(self, tokens: Sequence[int], pos: int, *, last: bool) -> None:
        b, m = self._batch, len(tokens)
        for i, tok in enumerate(tokens):
            b.token[i] = tok
            b.pos[i] = pos + i
            b.n_seq_id[i] = 1
            b.seq_id[i][0] = 0
            b.logits[i] = last and i == m - 1
        b.n_tokens = m
        rc = self._lib.llama_decode(self._ctx, b)
        if rc != 0:
            self._lib.llama_memory_clear(self._mem, True)
            raise RuntimeError(f"llama_decode failed with code {rc} in the hidden-state context")


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two vectors (the docstring's comparison with transformers)."""
    a64, b64 = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    return float(a64 @ b64 / (np.linalg.norm(a64) * np.linalg.norm(b64) or 1.0))

