"""Hugging Face transformers engine: any HF id, local directory or GGUF file, CPU or GPU.

This is the slow-but-general path and the one training (PPM, Step-APO) builds on,
so the loaded ``.model`` and ``.tokenizer`` are public.

- GGUF files load through transformers' GGUF support (``gguf_file=``), which
  dequantises every weight to full precision: slow (tens of seconds for 0.5B on
  2 cores). After the first load a ``save_pretrained`` copy is kept under
  ``$CANOPY_CACHE/models/hf/<name>`` and later loads read that instead.
- On CPU the torch thread count is set deliberately: on 2 cores, oversubscribed
  intra-op threads cost 10x or more (docs/MODELS.md). ``torch.set_num_threads``
  is process-wide; the last engine loaded wins. OpenMP waits passively when torch
  is first imported here (``_threads.passive_openmp_wait``): on 2 busy cores,
  2 spinning threads ran SmolLM2 at 1.9 tok/s, passive ones at 5.9.
- Sampling: one ``generate`` call per chunk with ``num_return_sequences=n`` (and
  left padding when several prompts share a call). Stop strings use transformers'
  ``stop_strings`` (token-aware), and the decoded text is then cut with
  ``cut_at_stop``. A seeded call runs inside ``torch.random.fork_rng`` over the
  CPU and the model's own GPU (``seeded_rng``) and seeds only those generators, so
  neither the caller's CPU RNG nor any CUDA RNG is disturbed (``torch.manual_seed``
  would reseed every GPU, which ``fork_rng(devices=[])`` does not restore).
- ``Completion.gen_ms``: the call's wall time shared between its prompts, also when
  a prompt's n samples take several ``generate`` chunks (past ``max_batch``).
- ``Completion.logprob`` is the sum of log-softmax of the model's raw logits
  (temperature 1, before top-p) at each sampled token, the same definition the
  llama.cpp engine uses. It is recorded by a logits processor that keeps one
  step of log-probabilities, not ``output_scores`` (which would hold
  batch x vocab floats for every step: gigabytes for a 150k vocabulary).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from backend._optional import require
from backend.engines._threads import available_cores, passive_openmp_wait
from backend.engines.base import Completion, EngineInfo, GenerationRequest, cut_at_stop, plain_chat_prompt
from backend.engines.cancel import GenerationCancelled, cancel_requested
from backend.engines.embedded import models_dir, resolve_model

log = logging.getLogger(__name__)


def _set_torch_threads(torch: Any, threads: int) -> None:
    torch.set_num_threads(threads)
    # Inter-op parallelism only helps graphs with independent branches; a decoder has none,
    # and extra pools compete with the intra-op threads on small machines.
    with contextlib.suppress(RuntimeError):  # may only be set once, before any parallel work has run
        torch.set_num_interop_threads(1)


class _LogprobRecorder:
    """A logits processor that sums log p(sampled token) under the raw logits.

    At step t it sees the raw logits (custom processors run before temperature
    and top-p) and the tokens sampled so far; the token sampled at step t-1 is
    the last column of ``input_ids``. Only one step of log-softmax is kept.
    """

    def __init__(self, torch: Any):
        self.torch = torch
        self.prev = None  # log-softmax from the previous step, (batch, vocab)
        self.steps: list[Any] = []  # per generated token: (batch,) log-probabilities

    def __call__(self, input_ids, scores):
        if self.prev is not None:
            self.steps.append(self.prev.gather(1, input_ids[:, -1:]).squeeze(1))
        self.prev = self.torch.log_softmax(scores.float(), dim=-1)
        return scores

    def finish(self, sequences) -> Any:
        """(batch, generated) log-probabilities, given the final sequences."""
        if self.prev is not None:
            self.steps.append(self.prev.gather(1, sequences[:, -1:]).squeeze(1))
            self.prev = None
        return self.torch.stack(self.steps, dim=1) if self.steps else None


@contextlib.contextmanager
def seeded_rng(torch: Any, seed: int | None, device: Any):
    """Run the block with torch's CPU RNG and ``device``'s CUDA RNG seeded with ``seed``, and
    restore both afterwards; other GPUs' generators are not touched. ``seed`` None: the block
    draws from the global RNGs as they are (unseeded sampling moves them on)."""
    if seed is None:
        yield
        return
    cuda = [device.index if device.index is not None else torch.cuda.current_device()] \
        if getattr(device, "type", "cpu") == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.random.default_generator.manual_seed(seed)
        for d in cuda:
            torch.cuda.default_generators[d].manual_seed(seed)
        yield


def _cancel_criteria(torch: Any) -> Any:
    """A stopping criterion that ends every row once the caller asks to stop (backend/engines/cancel.py)."""
    from transformers import StoppingCriteria, StoppingCriteriaList

    class _Cancel(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            stop = cancel_requested()
            return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([_Cancel()])


def _cancelled(rows: list[list[Completion]], max_tokens: int) -> GenerationCancelled:
    """The stop's exception: rows that ended on their own (a stop, EOS or the token limit) are
    kept; rows the stop cut short are not samples and are dropped."""
    kept = [[c for c in row if c.finish_reason == "stop" or c.tokens >= max_tokens] for row in rows]
    return GenerationCancelled(kept, sum(c.tokens for row in rows for c in row))


class TransformersEngine:
    """Batched sampling with transformers' ``generate``; see the module docstring."""

    def __init__(self, model: Any, tokenizer: Any, info: EngineInfo, *, max_batch: int = 16):
        self.model = model
        self.tokenizer = tokenizer
        self.info = info
        self.max_batch = max_batch
        self._lock = threading.Lock()
        import torch  # already imported by load()

        self._torch = torch
        eos = model.generation_config.eos_token_id
        eos = [eos] if isinstance(eos, int) else list(eos or [])
        if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in eos:
            eos.append(tokenizer.eos_token_id)
        self._eos = set(eos)
        self._pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos[0]

    @classmethod
    def load(
        cls,
        model: str | None = None,
        *,
        device: str | None = None,
        dtype: str | None = None,
        threads: int | None = None,
        trust_remote_code: bool = False,
        max_batch: int = 16,
        cache_converted: bool = True,
    ) -> TransformersEngine:
        """Load ``model`` (HF id, local dir, ``.gguf`` path, or None for the embedded model).

        device: "cpu" or "cuda" (default: cuda when available). dtype: "float32",
        "bfloat16", "float16" (default: float32 on CPU, bfloat16 on GPU). threads:
        torch intra-op threads on CPU (default: the cores this process may use).
        max_batch: most sequences in one generate call. cache_converted: keep a
        save_pretrained copy of a GGUF's dequantised weights for faster later loads.
        """
        passive_openmp_wait("torch")  # before the import: torch's libgomp reads it when it loads
        torch = require("torch", extra="hf")
        transformers = require("transformers", extra="hf")
        t0 = time.perf_counter()
        source = resolve_model(model)
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if dtype is None:
            dtype = "float32" if device == "cpu" else "bfloat16"
        torch_dtype = getattr(torch, dtype)
        if device == "cpu":
            threads = threads or available_cores()
            _set_torch_threads(torch, threads)
        kwargs: dict[str, Any] = {"trust_remote_code": trust_remote_code}
        where, converted = source, None
        if source.lower().endswith(".gguf") and Path(source).is_file():
            where, converted = _load_gguf_source(source, cache_converted)
            if converted is None:  # no cached copy: load from the GGUF itself
                require("gguf", extra="hf")
                kwargs["gguf_file"] = Path(source).name
                where = str(Path(source).parent)
        tok = transformers.AutoTokenizer.from_pretrained(where, **kwargs)
        mdl = transformers.AutoModelForCausalLM.from_pretrained(where, dtype=torch_dtype, **kwargs)
        mdl.to(device).eval()
        if "gguf_file" in kwargs:
            _drop_gguf_marker(mdl)
            if cache_converted:
                converted = _save_converted(source, mdl, tok)
        tok.padding_side = "left"  # decoder-only batches pad on the left so every row ends at its prompt
        info = EngineInfo(
            name="transformers",
            model=source,
            details={
                "device": device,
                "dtype": dtype,
                "threads": threads if device == "cpu" else None,
                "converted_copy": str(converted) if converted else None,
                "load_s": round(time.perf_counter() - t0, 2),
            },
        )
        return cls(mdl, tok, info, max_batch=max_batch)

    def chat_prompt(self, messages: Sequence[dict[str, str]], *, add_generation_prompt: bool = True) -> str:
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(
                list(messages), tokenize=False, add_generation_prompt=add_generation_prompt
            )
        return plain_chat_prompt(messages, add_generation_prompt=add_generation_prompt)

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
        prompts = req.prompts
        out: list[list[Completion]] = [[] for _ in prompts]
        t0 = time.perf_counter()
        greedy = req.temperature == 0
        # greedy gives one answer per prompt; copies fill n (transformers refuses n > 1 without sampling)
        per_prompt = 1 if greedy else req.n
        per_call = min(per_prompt, self.max_batch)
        group = max(1, self.max_batch // per_call)
        with self._lock:
            chunk_index = 0
            for g in range(0, len(prompts), group):
                idx = list(range(g, min(g + group, len(prompts))))
                done = 0
                while done < per_prompt:
                    k = min(per_call, per_prompt - done)
                    chunk_seed = None if req.seed is None else req.seed + chunk_index
                    rows = self._generate_chunk([prompts[i] for i in idx], k, req, chunk_seed)
                    for j, i in enumerate(idx):
                        out[i].extend(rows[j * k : (j + 1) * k])
                    done += k
                    chunk_index += 1
                    if cancel_requested():
                        raise _cancelled(out, req.max_tokens)
        if greedy:
            out = [c * req.n for c in out]
        # the call's wall time shared by its prompts: a prompt whose samples took several chunks
        # carries all of them, not its last chunk's
        gen_ms = (time.perf_counter() - t0) * 1000 / max(len(prompts), 1)
        timed: dict[int, Completion] = {}  # a greedy copy stays one object (copies are the same one)
        return [[timed.setdefault(id(c), dataclasses.replace(c, gen_ms=gen_ms)) for c in row] for row in out]

    def _generate_chunk(self, prompts: list[str], k: int, req: GenerationRequest,
                        seed: int | None) -> list[Completion]:
        """k samples for each of ``prompts`` in one ``model.generate`` (``seed``: this chunk's)."""
        torch = self._torch
        temperature, stop = req.temperature, list(req.stop)
        enc = self.tokenizer(prompts, return_tensors="pt", padding=len(prompts) > 1, add_special_tokens=False)
        enc = {key: v.to(self.model.device) for key, v in enc.items()}
        recorder = _LogprobRecorder(torch)
        sampling = temperature > 0
        gen_kwargs: dict[str, Any] = dict(
            max_new_tokens=req.max_tokens,
            do_sample=sampling,
            num_return_sequences=k,
            pad_token_id=self._pad,
            eos_token_id=sorted(self._eos),
            logits_processor=[recorder],
            repetition_penalty=1.0,
            return_dict_in_generate=True,
        )
        if sampling:
            # top_k=0: no top-k cut (transformers' default is 50), like the other engines
            gen_kwargs.update(temperature=temperature, top_p=req.top_p, top_k=0)
        else:
            gen_kwargs.update(temperature=None, top_p=None, top_k=None)
        if stop:
            gen_kwargs.update(stop_strings=stop, tokenizer=self.tokenizer)
        gen_kwargs["stopping_criteria"] = _cancel_criteria(torch)
        t0 = time.perf_counter()
        with seeded_rng(torch, seed, self.model.device), torch.inference_mode():
            result = self.model.generate(**enc, **gen_kwargs)
        gen_ms = (time.perf_counter() - t0) * 1000 / max(len(prompts), 1)  # shared by the chunk's prompts
        seqs = result.sequences[:, enc["input_ids"].shape[1] :]
        logprobs = recorder.finish(result.sequences)
        rows = []
        for r in range(seqs.shape[0]):
            ids = seqs[r].tolist()
            rows.append(self._completion(ids, None if logprobs is None else logprobs[r], stop, gen_ms))
        return rows

    def _completion(self, ids: list[int], logprobs: Any, stop: Sequence[str], gen_ms: float) -> Completion:
        """One row of generate's output -> Completion, trimming padding after the row finished."""
        length = len(ids)
        ended_eos = False
        for i, t in enumerate(ids):
            if t in self._eos:
                length, ended_eos = i + 1, True
                break
        else:
            while length and ids[length - 1] == self._pad:  # rows that stopped early are padded
                length -= 1
        text = self.tokenizer.decode(ids[:length], skip_special_tokens=True)
        text, hit = cut_at_stop(text, stop)
        finish = "stop" if hit is not None or ended_eos else "length"
        lp = float(logprobs[:length].sum()) if logprobs is not None and length else None
        return Completion(text, length, lp, finish, hit, gen_ms)

    def close(self) -> None:
        self.model = None
        self.tokenizer = None


def _source_key(path: Path) -> dict[str, Any]:
    st = path.stat()
    return {"source": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _converted_dir(source: str) -> Path:
    return models_dir() / "hf" / Path(source).stem


def _load_gguf_source(source: str, use_cache: bool) -> tuple[str, Path | None]:
    """Where to load a GGUF from: its cached converted copy when one matches, else the file."""
    conv = _converted_dir(source)
    if use_cache and (conv / "config.json").is_file():
        try:
            stamp = json.loads((conv / "canopy-source.json").read_text())
        except (OSError, json.JSONDecodeError):
            stamp = None
        if stamp == _source_key(Path(source)):
            return str(conv), conv
    return source, None


def _drop_gguf_marker(model: Any) -> None:
    """A GGUF whose weights transformers dequantised is a plain float model that transformers
    still marks "quantized with gguf": its Trainer then refuses to fine-tune it (SFT, the PPM)
    and ``save_pretrained`` to save it. The marker goes; weights kept in GGUF blocks (with the
    ``kernels`` package installed) keep it, since those cannot be trained or saved."""
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is None or getattr(quantizer, "packed_modules", None):
        return
    quantizer.remove_quantization_config(model)  # what transformers' own dequantize() ends with
    if getattr(model.config, "_is_quantized", False):
        model.config._is_quantized = False


def _save_converted(source: str, model: Any, tokenizer: Any) -> Path | None:
    """Write a save_pretrained copy next to the cache atomically (temp dir + rename)."""
    conv = _converted_dir(source)
    tmp = conv.with_name(conv.name + f".tmp{os.getpid()}")
    quantizer = getattr(model, "hf_quantizer", None)
    if getattr(quantizer, "packed_modules", None):  # weights kept in GGUF blocks: nothing plain to save
        return None
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / "canopy-source.json").write_text(json.dumps(_source_key(Path(source))))
        shutil.rmtree(conv, ignore_errors=True)
        os.replace(tmp, conv)
        log.info("saved a converted copy of %s to %s", source, conv)
        return conv
    except OSError as exc:  # a full disk must not fail the load itself
        log.warning("could not cache a converted copy of %s: %s", source, exc)
        shutil.rmtree(tmp, ignore_errors=True)
        return None
