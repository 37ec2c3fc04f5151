"""llama.cpp engine: the fast CPU path, with real batched decoding of n continuations.

Built on llama-cpp-python's low-level ctypes bindings, because the high-level
``Llama.create_completion`` has no ``n``: eight calls in a row give single-sequence
throughput, while one decode step over eight sequences costs little more than one
(memory bandwidth, not arithmetic, bounds a 0.5B model on CPU). So for each prompt:

1. tokenize; keep the longest token prefix shared with the last call's prompt in
   sequence 0's KV cache (MCTS prompts share long prefixes), decode the rest;
2. copy sequence 0's KV to sequences 1..k-1 (``llama_memory_seq_cp``; in the
   unified cache this shares cells, it does not copy tensors);
3. one ``llama_decode`` per step for all live sequences, each sampling with its
   own numpy generator (``_sampling.py``) seeded from (seed, prompt index,
   sequence index), so a sequence's text does not depend on the batch size.

n > max_batch runs in chunks that reuse the prompt's logits. Greedy (temperature
0) decodes one sequence and returns n copies, which the contract allows.

Several prompts in one call (parallel MCTS rollouts expand several leaves at once) decode
together when all their sequences fit (prompts x n <= max_batch, and the KV cells): prompt
i > 0 gets sequence i*n, starts from a copy of the KV its tokens share with prompt 0 and
decodes only the rest, and every step is one ``llama_decode`` over all prompts' sequences.
On 2 CPU cores a step of 16 sequences costs about 2x one of 4, so four 4-candidate leaves
decode ~1.4-1.9x faster together than in turn (bench/engine.py ``--prompts``). Otherwise
prompts run one after another.

Models load with ``use_extra_bufts=False``: on CPUs with AMX, llama.cpp's default
weight repacking segfaults on the first multi-token prompt
(``ggml_backend_amx_mul_mat``; /work/shared/MODELS.md, measured: no speed cost).
tests/engines/test_llamacpp.py decodes a multi-token prompt to keep it that way.
"""

from __future__ import annotations

import ctypes
import itertools
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from backend._optional import require
from backend.engines._sampling import sample_rows
from backend.engines._threads import available_cores, passive_openmp_wait
from backend.engines.base import Completion, EngineInfo, GenerationRequest, cut_at_stop, plain_chat_prompt
from backend.engines.cancel import GenerationCancelled, cancel_requested
from backend.engines.embedded import resolve_model
from backend.gguf_header import lora_base

_llama_log = logging.getLogger("llama.cpp")
_LOG_CALLBACK: Any = None  # the ctypes callback must outlive every model, so it lives here

#: llama.cpp's CPU matmuls take another kernel path for batches under 8 tokens (measured on
#: Qwen2.5-0.5B Q4_K_M: last-token logits moved by up to 0.5 when a prompt's final chunk had 1-7
#: tokens; any split into chunks of 8 or more gave bit-identical logits). Prompts are therefore
#: always decoded in chunks of at least this many tokens, and only prompt tokens are reused from
#: the cache (never sampled ones, which are decoded one per sequence per step), so a call gives
#: the same result whether its prefix was cached or not.
MIN_PREFILL_BATCH = 8

#: more threads than this gain little for small models and starve the verifier's sandbox workers
MAX_DEFAULT_THREADS = 8


def default_threads() -> int:
    """Cores this process may use, capped at MAX_DEFAULT_THREADS.

    Not llama-cpp-python's ``cpu_count() // 2`` (meant to skip hyperthreads): on the
    2-vCPU machines Canopy targets that would leave one core idle.
    """
    return min(available_cores(), MAX_DEFAULT_THREADS)


@dataclass
class _Seq:
    seq_id: int
    rng: np.random.Generator
    plen: int = 0  # its prompt's length: the position of its first sampled token
    tokens: list[int] = field(default_factory=list)  # sampled so far (all but the last are in the KV)
    raw: bytearray = field(default_factory=bytearray)  # detokenised bytes (a UTF-8 char may span tokens)
    text: str = ""
    logprob: float = 0.0
    finish: str | None = None
    stop_reason: str | None = None


def _route_logs(lib: Any) -> None:
    """Send llama.cpp's log lines to the "llama.cpp" Python logger instead of stderr."""
    global _LOG_CALLBACK
    if _LOG_CALLBACK is None:
        # ggml_log_level: 1 debug, 2 info, 3 warn, 4 error, 5 continues the previous line's level.
        # Its warnings are routine (e.g. "n_ctx_seq > n_ctx_train" for a shared cache): INFO here;
        # its errors precede a failure that load()/generate() raise anyway.
        levels = {1: logging.DEBUG, 2: logging.DEBUG, 3: logging.INFO, 4: logging.WARNING}
        last = [logging.DEBUG]

        def emit(level: int, text: bytes, _user: Any) -> None:
            last[0] = levels.get(level, last[0])
            _llama_log.log(last[0], "%s", text.decode("utf-8", "replace").rstrip())

        _LOG_CALLBACK = lib.llama_log_callback(emit)
    lib.llama_log_set(_LOG_CALLBACK, ctypes.c_void_p(0))


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class LlamaCppEngine:
    """Batched parallel sampling over llama.cpp; build it with :meth:`load`."""

    def __init__(self, lib: Any, model: Any, ctx: Any, info: EngineInfo, *, n_ctx: int, max_batch: int,
                 n_batch: int, seed: int):
        self._lib, self._model, self._ctx = lib, model, ctx
        self.info = info
        self.n_ctx, self.max_batch, self._n_batch = n_ctx, max_batch, n_batch
        self.kv_cells = lib.llama_n_ctx(ctx)
        self._vocab = lib.llama_model_get_vocab(model)
        self._n_vocab = lib.llama_vocab_n_tokens(self._vocab)
        self._mem = lib.llama_get_memory(ctx)
        self._batch = lib.llama_batch_init(max(n_batch, max_batch), 0, 1)
        self._work = np.empty((2, max_batch, self._n_vocab), dtype=np.float32)  # sampling scratch, reused
        # seeds for calls with seed=None: a session replays from load's seed
        self._rng = np.random.default_rng(seed)
        self._pieces: dict[int, bytes] = {}
        self._cache: list[int] = []  # the last prompt, whose KV sequence 0 holds
        self._chat: Any = None
        self._lock = threading.Lock()
        #: the LoRA adapter applied at load (a LoRA GGUF as the model), or None
        self.lora: Any = None
        #: what the last generate() did: prompt/reused tokens and timings (for tests and bench)
        self.last_stats: dict[str, Any] = {}

    @classmethod
    def load(cls, model: str | None = None, *, n_threads: int | None = None, n_ctx: int = 4096,
             max_batch: int = 16, seed: int = 0, kv_cells: int | None = None, n_gpu_layers: int = 0,
             verbose: bool = False) -> LlamaCppEngine:
        """Load a GGUF (None or "embedded": the embedded model).

        n_threads: default :func:`default_threads`. n_ctx: the longest prompt +
        completion one sequence may use. max_batch: sequences decoded together
        (n_seq_max). kv_cells: size of the KV cache all sequences share (default
        4 * n_ctx; the shared prompt is stored once; ~12 KB a cell for the 0.5B
        model). seed: seeds calls made with seed=None. n_gpu_layers: layers to offload
        with a GPU build of llama.cpp (-1: all). llama.cpp's own log goes to the
        "llama.cpp" Python logger (its warnings at INFO, the rest at DEBUG);
        ``verbose=True`` prints all of it to stderr.
        """
        passive_openmp_wait("llama_cpp")  # before the import: libgomp reads it when it loads
        lib = require("llama_cpp", package="llama-cpp-python==0.3.36")

        t0 = time.perf_counter()
        path = resolve_model(model)
        if path.lower().endswith(".gguf") and not Path(path).is_file():
            raise ValueError(f"model file not found: {path!r}")
        if not (path.lower().endswith(".gguf") and Path(path).is_file()):
            raise ValueError(f"the llamacpp engine loads .gguf files; {model!r} is not one "
                             "(for a Hugging Face id or directory use --engine transformers)")
        adapter = None
        if (base := lora_base(path)) is not None:  # a LoRA GGUF: its base model, then the adapter
            adapter, path = path, resolve_model(None if base == "embedded" else base)
            if not (path.lower().endswith(".gguf") and Path(path).is_file()):
                raise ValueError(f"the LoRA adapter {adapter} belongs to {base!r}, which is not a GGUF here")
        if max_batch < 1 or n_ctx < 16:
            raise ValueError(f"need max_batch >= 1 and n_ctx >= 16, got {max_batch} and {n_ctx}")
        _route_logs(lib)  # process-wide: llama.cpp has one log callback
        if verbose:
            _llama_log.setLevel(logging.DEBUG)
            if not _llama_log.handlers:
                _llama_log.addHandler(logging.StreamHandler())
        lib.llama_backend_init()
        threads = n_threads or default_threads()
        mp = lib.llama_model_default_params()
        mp.use_extra_bufts = False  # AMX repacking segfaults on multi-token prompts (module docstring)
        mp.n_gpu_layers = n_gpu_layers
        mdl = lib.llama_model_load_from_file(path.encode(), mp)
        if not mdl:
            raise RuntimeError(f"llama.cpp could not load {path} (run with verbose=True for its log)")
        lora = lib.llama_adapter_lora_init(mdl, adapter.encode()) if adapter else None
        if adapter and not lora:  # freed with the model otherwise
            lib.llama_model_free(mdl)
            raise RuntimeError(f"llama.cpp could not apply the LoRA adapter {adapter} to {path}")
        n_batch = max(512, max_batch)
        cp = lib.llama_context_default_params()
        cp.n_ctx = kv_cells or 4 * n_ctx
        cp.n_batch = cp.n_ubatch = n_batch
        cp.n_seq_max = max_batch
        cp.kv_unified = True  # one cell pool: the shared prefix is held once for all sequences
        cp.n_threads = cp.n_threads_batch = threads
        # flash attention (llama.cpp's CPU default, "auto") makes results depend on how a long
        # prompt is split into decode batches: a warm call (prefix reused) and a cold one then
        # differ (measured: logprob -2.28 vs -2.33 on a 336-token prompt). Off, every split of
        # MIN_PREFILL_BATCH+ tokens is bit-identical, at the same prefill speed.
        cp.flash_attn_type = lib.LLAMA_FLASH_ATTN_TYPE_DISABLED
        ctx = lib.llama_init_from_model(mdl, cp)
        if not ctx:
            lib.llama_model_free(mdl)
            raise RuntimeError(
                f"llama.cpp could not create a context (kv_cells={cp.n_ctx}, n_seq_max={max_batch})")
        if lora and lib.llama_set_adapters_lora(
            ctx, (lib.llama_adapter_lora_p_ctypes * 1)(lora), 1, (ctypes.c_float * 1)(1.0)
        ):
            lib.llama_free(ctx)
            lib.llama_model_free(mdl)
            raise RuntimeError(f"llama.cpp could not set the LoRA adapter {adapter}")
        info = EngineInfo(
            name="llamacpp",
            model=adapter or path,
            details={
                **({"lora_base": path} if adapter else {}),
                "n_threads": threads,
                "n_ctx": n_ctx,
                "kv_cells": lib.llama_n_ctx(ctx),
                "max_batch": max_batch,
                "extra_bufts": False,
                "flash_attn": False,
                "llama_cpp_python": getattr(lib, "__version__", "?"),
                "load_s": round(time.perf_counter() - t0, 3),
            },
        )
        engine = cls(lib, mdl, ctx, info, n_ctx=n_ctx, max_batch=max_batch, n_batch=n_batch, seed=seed)
        engine.lora = lora  # other contexts on this model (llamacpp_hidden) apply it too
        return engine

    def clear_cache(self) -> None:
        """Forget the KV cache, so the next call decodes its prompt from scratch (tests, benchmarks)."""
        with self._lock:
            if self._ctx is not None:
                self._lib.llama_memory_clear(self._mem, True)
            self._cache = []

    # -- text <-> tokens -------------------------------------------------------------------

    def tokenize(self, text: str) -> list[int]:
        """Prompt text -> tokens, special tokens parsed (chat markup), BOS as the model wants."""
        lib, data = self._lib, text.encode("utf-8")
        cap = len(data) + 8
        buf = (lib.llama_token * cap)()
        k = lib.llama_tokenize(self._vocab, data, len(data), buf, cap, True, True)
        if k < 0:
            cap = -k
            buf = (lib.llama_token * cap)()
            k = lib.llama_tokenize(self._vocab, data, len(data), buf, cap, True, True)
        tokens = list(buf[:k])
        bos = lib.llama_vocab_bos(self._vocab)
        if len(tokens) > 1 and tokens[0] == tokens[1] == bos:  # a chat template that writes BOS itself
            tokens = tokens[1:]
        return tokens

    def _piece(self, token: int, special: bool = False) -> bytes:
        key = token if not special else -1 - token
        piece = self._pieces.get(key)
        if piece is None:
            buf = ctypes.create_string_buffer(64)
            k = self._lib.llama_token_to_piece(self._vocab, token, buf, 64, 0, special)
            if k < 0:
                buf = ctypes.create_string_buffer(-k)
                k = self._lib.llama_token_to_piece(self._vocab, token, buf, -k, 0, special)
            piece = self._pieces[key] = buf.raw[:k]
        return piece

    def chat_prompt(self, messages: Sequence[dict[str, str]], *, add_generation_prompt: bool = True) -> str:
        """The GGUF's own chat template (``tokenizer.chat_template``), else ChatML."""
        if self._chat is None:
            template = self._lib.llama_model_chat_template(self._model, None)
            self._chat = template.decode("utf-8") if template else ""
        if not self._chat:
            return plain_chat_prompt(messages, add_generation_prompt=add_generation_prompt)
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        v = self._vocab
        fmt = Jinja2ChatFormatter(
            self._chat,
            eos_token=self._piece(self._lib.llama_vocab_eos(v), True).decode("utf-8", "replace"),
            bos_token=self._piece(self._lib.llama_vocab_bos(v), True).decode("utf-8", "replace"),
            add_generation_prompt=add_generation_prompt,
        )
        return fmt(messages=list(messages)).prompt

    # -- decoding ----------------------------------------------------------------------------

    def _decode(self, tokens: Sequence[int], positions: Sequence[int], seq_ids: Sequence[int],
                all_logits: bool) -> None:
        """One llama_decode; logits for every token (all_logits) or for the last only."""
        b, m = self._batch, len(tokens)
        for i in range(m):
            b.token[i] = tokens[i]
            b.pos[i] = positions[i]
            b.n_seq_id[i] = 1
            b.seq_id[i][0] = seq_ids[i]
            b.logits[i] = all_logits or i == m - 1
        b.n_tokens = m
        rc = self._lib.llama_decode(self._ctx, b)
        if rc != 0:
            self._cache = []
            hint = " (KV cache full: load with a larger kv_cells or lower max_batch)" if rc == 1 else ""
            raise RuntimeError(f"llama_decode failed with code {rc}{hint}")

    def _logits(self, rows: int) -> np.ndarray:
        ptr = self._lib.llama_get_logits(self._ctx)
        return np.ctypeslib.as_array(ptr, shape=(rows, self._n_vocab))

    def _chunks(self, start: int, end: int) -> list[tuple[int, int]]:
        """Split [start, end) into decode batches of at most n_batch and (when possible) at least
        MIN_PREFILL_BATCH tokens, so every prompt token takes the same kernel path."""
        bounds = [*range(start, end, self._n_batch), end]
        if len(bounds) > 2 and bounds[-1] - bounds[-2] < MIN_PREFILL_BATCH:
            bounds[-2] = bounds[-1] - MIN_PREFILL_BATCH  # borrow from the previous chunk
        return list(itertools.pairwise(bounds))

    def _prefill(self, tokens: list[int]) -> tuple[np.ndarray, int]:
        """Put ``tokens`` in sequence 0, reusing the cached prefix; returns (last logits, reused)."""
        lib, mem = self._lib, self._mem
        # re-decode at least MIN_PREFILL_BATCH tokens: a cold call decodes its last tokens in a batch
        # that large, and the same kernel path keeps warm and cold results identical
        keep = _common_prefix(self._cache, tokens)
        common = max(0, min(keep, len(tokens) - MIN_PREFILL_BATCH))
        self._cache = []  # until this call finishes, the KV holds nothing we can vouch for
        lib.llama_memory_seq_keep(mem, 0)
        if common == 0 or not lib.llama_memory_seq_rm(mem, 0, common, -1):  # partial removal may fail
            lib.llama_memory_clear(mem, True)
            common = 0
        self._prefill_chunks(tokens, common, 0)
        return self._logits(1)[0].copy(), common

    def _prefill_chunks(self, tokens: list[int], start: int, seq: int) -> None:
        """Decode ``tokens[start:]`` into sequence ``seq`` chunk by chunk, ending the call between
        two chunks once its caller asks (a 4,000-token prompt is ~20 s of prefill on 2 cores: a
        LIPS run with a 120 s limit ran 169 s; backend/engines/cancel.py)."""
        for a, b in self._chunks(start, len(tokens)):
            if cancel_requested():
                raise GenerationCancelled([], 0)
            self._decode(tokens[a:b], range(a, b), [seq] * (b - a), all_logits=False)

    def _step(self, s: _Seq, token: int, lp: float, stop: Sequence[str], limit: int) -> None:
        """Record one sampled token; decide whether the sequence is finished and why."""
        s.tokens.append(token)
        s.logprob += lp
        if self._lib.llama_vocab_is_eog(self._vocab, token):
            s.finish = "stop"  # end of sequence: not part of the text
            return
        s.raw += self._piece(token)
        text = s.raw.decode("utf-8", errors="ignore")  # drops a multi-byte char until its last byte arrives
        cut, hit = cut_at_stop(text, stop)  # on the whole text: a stop string may span tokens
        s.text = cut
        if hit is not None:
            s.finish, s.stop_reason = "stop", hit
        elif len(s.tokens) >= limit:
            s.finish = "length"

    def _run(self, seqs: list[_Seq], rows: np.ndarray, req: GenerationRequest, limit: int) -> bool:
        """Sample all ``seqs`` to the end, one batched decode per step; ``rows``: their first logits.
        False when the caller asked to stop first (backend/engines/cancel.py): the sequences still
        running are left unfinished."""
        live = seqs
        while live:
            if cancel_requested():
                return False
            toks, lps = sample_rows(rows, req.temperature, req.top_p, [s.rng for s in live], self._work)
            for s, t, lp in zip(live, toks.tolist(), lps.tolist(), strict=True):
                self._step(s, t, lp, req.stop, limit)
            live = [s for s in live if s.finish is None]
            if live:
                self._decode([s.tokens[-1] for s in live], [s.plen + len(s.tokens) - 1 for s in live],
                             [s.seq_id for s in live], all_logits=True)
                rows = self._logits(len(live))
        return True

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
        with self._lock:
            if self._ctx is None:
                raise RuntimeError("this llamacpp engine is closed")
            base = int(self._rng.integers(2**62)) if req.seed is None else req.seed
            self.last_stats = {"prompt_tokens": 0, "reused_tokens": 0, "generated_tokens": 0,
                               "prefill_ms": 0.0, "decode_ms": 0.0}
            tokens = [self._checked_tokens(p) for p in req.prompts]
            done: list[list[Completion]] = []
            try:
                if self._fits_together(tokens, req):
                    return self._together(tokens, req, base)
                for i, t in enumerate(tokens):
                    done.append(self._one(t, i, req, base))
                return done
            except GenerationCancelled as exc:  # keep the prompts answered before the stop
                rows = done + exc.finished
                rows += [[] for _ in range(len(tokens) - len(rows))]
                raise GenerationCancelled(rows, self.last_stats["generated_tokens"]) from None

    def _checked_tokens(self, prompt: str) -> list[int]:
        tokens = self.tokenize(prompt)
        if not tokens:
            raise ValueError("empty prompt: there is nothing to continue from")
        if len(tokens) >= self.n_ctx:
            raise ValueError(
                f"prompt has {len(tokens)} tokens; n_ctx is {self.n_ctx}: load with a larger n_ctx")
        return tokens

    def _fits_together(self, tokens: list[list[int]], req: GenerationRequest) -> bool:
        """Whether several prompts can decode as one batch: sequences and KV cells suffice."""
        n = req.n
        if len(tokens) < 2 or req.temperature == 0 or len(tokens) * n > self.max_batch:
            return False
        if min(len(t) for t in tokens) < MIN_PREFILL_BATCH:
            return False
        first = tokens[0]
        cells = len(first) + sum(len(t) - _common_prefix(first, t) + MIN_PREFILL_BATCH for t in tokens[1:])
        cells += len(tokens) * n * min(req.max_tokens, self.n_ctx)
        return cells <= self.kv_cells

    def _together(self, tokens: list[list[int]], req: GenerationRequest, base: int) -> list[list[Completion]]:
        """All prompts' n sequences in one batched decode per step (see the module docstring)."""
        lib, mem, n = self._lib, self._mem, req.n
        t0 = time.perf_counter()
        first, reused = self._prefill(tokens[0])  # sequence 0; drops every other sequence
        firsts = [first]
        for i, toks in enumerate(tokens[1:], 1):
            sid = i * n
            shared = max(0, min(_common_prefix(tokens[0], toks), len(toks) - MIN_PREFILL_BATCH))
            if shared:
                lib.llama_memory_seq_cp(mem, 0, sid, 0, shared)
            self._prefill_chunks(toks, shared, sid)
            firsts.append(self._logits(1)[0].copy())
            reused += shared
        seqs, rows = [], []
        for i, toks in enumerate(tokens):
            for j in range(1, n):
                lib.llama_memory_seq_cp(mem, i * n, i * n + j, -1, -1)
            for j in range(n):
                seqs.append(_Seq(i * n + j, np.random.default_rng([base, i, j]), len(toks)))
                rows.append(firsts[i])
        t1 = time.perf_counter()
        limit = min(req.max_tokens, self.n_ctx - max(len(t) for t in tokens))
        finished = self._run(seqs, np.stack(rows), req, limit)
        self._cache = tokens[0]
        t2 = time.perf_counter()
        st = self.last_stats
        st["prompt_tokens"] += sum(len(t) for t in tokens)
        st["reused_tokens"] += reused
        st["generated_tokens"] += sum(len(s.tokens) for s in seqs)
        st["prefill_ms"] += (t1 - t0) * 1000
        st["decode_ms"] += (t2 - t1) * 1000
        st["together"] = len(tokens)
        gen_ms = (t2 - t0) * 1000 / len(tokens)  # the call's time, shared between its prompts
        out = [Completion(s.text, len(s.tokens), s.logprob, s.finish or "length", s.stop_reason, gen_ms)
               if s.finish else None for s in seqs]
        rows_out = [out[i * n:(i + 1) * n] for i in range(len(tokens))]
        if not finished:
            raise GenerationCancelled([[c for c in row if c is not None] for row in rows_out], 0)
        return rows_out

    def _one(self, tokens: list[int], index: int, req: GenerationRequest, base: int) -> list[Completion]:
        plen, n = len(tokens), req.n
        t0 = time.perf_counter()
        first, reused = self._prefill(tokens)
        t1 = time.perf_counter()
        limit = min(req.max_tokens, self.n_ctx - plen)  # past n_ctx a sequence ends with "length"
        fit = max(1, (self.kv_cells - plen) // limit)  # each live sequence needs `limit` cells of its own
        distinct = 1 if req.temperature == 0 else n  # greedy: one sequence, n copies
        chunk = min(self.max_batch, distinct, fit)
        done: list[_Seq] = []
        while len(done) < distinct:
            k = min(chunk, distinct - len(done))
            if done:  # back to just the prompt in sequence 0
                self._lib.llama_memory_seq_keep(self._mem, 0)
                self._lib.llama_memory_seq_rm(self._mem, 0, plen, -1)
            for j in range(1, k):
                self._lib.llama_memory_seq_cp(self._mem, 0, j, -1, -1)
            seqs = [_Seq(j, np.random.default_rng([base, index, len(done) + j]), plen) for j in range(k)]
            finished = self._run(seqs, np.broadcast_to(first, (k, first.shape[0])), req, limit)
            done.extend(seqs)
            if not finished:
                break
        # sequence 0 holds the prompt (and its own sampled tokens, trimmed next call); a prompt under
        # MIN_PREFILL_BATCH tokens went through the small-batch kernels, so it is not offered for reuse
        self._cache = tokens if plen >= MIN_PREFILL_BATCH else []
        t2 = time.perf_counter()
        st = self.last_stats
        st["prompt_tokens"] += plen
        st["reused_tokens"] += reused
        st["generated_tokens"] += sum(len(s.tokens) for s in done)
        st["prefill_ms"] += (t1 - t0) * 1000
        st["decode_ms"] += (t2 - t1) * 1000
        gen_ms = (t2 - t0) * 1000
        out = [Completion(s.text, len(s.tokens), s.logprob, s.finish or "length", s.stop_reason, gen_ms)
               if s.finish else None for s in done]
        if not finished:
            raise GenerationCancelled([[c for c in out if c is not None]], 0)
        return out * n if distinct == 1 and n > 1 else out

    def close(self) -> None:
        with self._lock:
            if self._ctx is not None:
                self._lib.llama_batch_free(self._batch)
                self._lib.llama_free(self._ctx)
                self._lib.llama_model_free(self._model)
                self._ctx = self._model = None
                self._cache = []

    def __del__(self) -> None:
        # at interpreter shutdown the library, and even modules like contextlib, may be gone
        try:  # noqa: SIM105 - a plain try: contextlib.suppress may itself be gone at exit
            self.close()
        except Exception:
            pass
