"""The default engine on the real embedded model (Qwen2.5-Coder-0.5B GGUF).

These run in the default suite on purpose: ``test_multi_token_prompt_decodes`` is
the guard against llama.cpp's AMX weight repacking, which segfaults on the first
multi-token prompt unless models load with ``use_extra_bufts=False``.
"""

from __future__ import annotations

import threading
import time

import pytest

from backend.engines.llamacpp import MIN_PREFILL_BATCH
from tests.engines.conftest import requires_llamacpp
from tests.engines.contract import EngineContract

pytestmark = [pytest.mark.model, requires_llamacpp]

FRUITS = [{"role": "user", "content": "List five fruits, one per line, nothing else."}]


class TestLlamaCppContract(EngineContract):
    @pytest.fixture
    def engine(self, llama_engine):
        return llama_engine


def test_loads_without_extra_buffer_types(llama_engine):
    details = llama_engine.info.details
    assert details["extra_bufts"] is False
    assert details["n_threads"] >= 1 and details["load_s"] < 30


def test_multi_token_prompt_decodes(llama_engine):
    """Would segfault on AMX CPUs with the default (repacking) load."""
    prompt = "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n" * 8
    assert len(llama_engine.tokenize(prompt)) > 100
    llama_engine.clear_cache()
    (c,) = llama_engine.generate([prompt], max_tokens=4, temperature=0)[0]
    assert c.tokens >= 1


def test_n_different_continuations_that_stop_at_the_stop_string(llama_engine):
    prompt = llama_engine.chat_prompt([{"role": "user", "content": "Write one sentence about the sea."}])
    comps = llama_engine.generate([prompt], n=6, max_tokens=40, temperature=0.8, seed=3, stop=["."])[0]
    assert len(comps) == 6
    assert len({c.text for c in comps}) >= 2, [c.text for c in comps]
    stopped = [c for c in comps if c.stop_reason == "."]
    assert len(stopped) >= 5, comps
    for c in stopped:
        assert c.finish_reason == "stop" and "." not in c.text and c.text
        assert c.logprob is not None and c.logprob < 0


def test_seeds_reproduce_and_differ(llama_engine):
    prompt = [llama_engine.chat_prompt(FRUITS)]
    a = llama_engine.generate(prompt, n=3, max_tokens=8, temperature=1.0, seed=11)[0]
    b = llama_engine.generate(prompt, n=3, max_tokens=8, temperature=1.0, seed=11)[0]
    c = llama_engine.generate(prompt, n=3, max_tokens=8, temperature=1.0, seed=12)[0]
    assert [x.text for x in a] == [x.text for x in b]
    assert [x.logprob for x in a] == pytest.approx([x.logprob for x in b], abs=1e-3)
    assert [x.text for x in a] != [x.text for x in c]


def test_prefix_reuse_matches_a_cold_call(llama_engine):
    e = llama_engine
    prompt = e.chat_prompt([{"role": "user", "content": "Write a Python function that reverses a string."}])
    e.clear_cache()
    (cold,) = e.generate([prompt], max_tokens=12, temperature=0)[0]
    assert e.last_stats["reused_tokens"] == 0
    (warm,) = e.generate([prompt], max_tokens=12, temperature=0)[0]
    assert e.last_stats["reused_tokens"] == e.last_stats["prompt_tokens"] - MIN_PREFILL_BATCH
    assert (warm.text, warm.logprob) == (cold.text, cold.logprob)  # bit-identical, not just close

    # a child prompt (the prompt plus a step) decodes only what is new
    child = prompt + cold.text
    (warm_child,) = e.generate([child], max_tokens=8, temperature=1.0, seed=4)[0]
    assert e.last_stats["reused_tokens"] >= len(e.tokenize(prompt)) - MIN_PREFILL_BATCH
    e.clear_cache()
    (cold_child,) = e.generate([child], max_tokens=8, temperature=1.0, seed=4)[0]
    assert (warm_child.text, warm_child.logprob) == (cold_child.text, cold_child.logprob)


def test_a_long_prompt_gives_the_same_text_warm_and_cold(llama_engine):
    # a search's prompts are long (few-shot examples + the path): with flash attention on, the
    # split into decode batches changed a 336-token prompt's logprob (-2.28 warm, -2.33 cold)
    e = llama_engine
    prompt = e.chat_prompt([{"role": "user", "content": "Explain, step by step: " + "two plus two; " * 80}])
    assert len(e.tokenize(prompt)) > 300
    e.clear_cache()
    (cold,) = e.generate([prompt], max_tokens=8, temperature=0)[0]
    child = prompt + cold.text
    e.generate([prompt[: len(prompt) // 2]], max_tokens=1, temperature=0)  # cache half of it
    (warm,) = e.generate([prompt], max_tokens=8, temperature=0)[0]
    assert e.last_stats["reused_tokens"] > 0
    assert (warm.text, warm.logprob) == (cold.text, cold.logprob)
    (warm_child,) = e.generate([child], max_tokens=6, temperature=1.0, seed=2)[0]
    e.clear_cache()
    (cold_child,) = e.generate([child], max_tokens=6, temperature=1.0, seed=2)[0]
    assert (warm_child.text, warm_child.logprob) == (cold_child.text, cold_child.logprob)


def test_prompts_decode_in_chunks_of_at_least_min_batch(llama_engine):
    chunks = llama_engine._chunks(0, 1030)
    assert chunks == [(0, 512), (512, 1022), (1022, 1030)]
    assert llama_engine._chunks(100, 103) == [(100, 103)]  # a short prompt is one chunk


def test_more_sequences_than_max_batch_run_in_chunks():
    from backend.engines.llamacpp import LlamaCppEngine

    e = LlamaCppEngine.load(None, max_batch=2, n_ctx=1024)
    try:
        prompts = ["def add(a, b):", "import numpy as np\n"]
        out = e.generate(prompts, n=3, max_tokens=4, temperature=1.0, seed=5)
        assert [len(r) for r in out] == [3, 3]
        again = e.generate(prompts, n=3, max_tokens=4, temperature=1.0, seed=5)
        assert [[c.text for c in r] for r in out] == [[c.text for c in r] for r in again]
        assert len({c.text for c in out[0] + out[1]}) >= 3
    finally:
        e.close()
    with pytest.raises(RuntimeError, match="closed"):
        e.generate(["x"])


def test_several_prompts_decode_together_reproducibly(llama_engine):
    """Parallel rollouts ask for several leaves at once: one batched decode for all of them."""
    e = llama_engine
    base = e.chat_prompt([{"role": "user", "content": "Write one short sentence about a river."}])
    prompts = [base + start for start in ("The river", "A river", "Rivers")]
    kw = dict(n=2, max_tokens=24, temperature=0.9, seed=21, stop=["."])
    out = e.generate(prompts, **kw)
    assert e.last_stats.get("together") == 3  # 3 prompts x 2 sequences fit in one batch
    assert e.last_stats["reused_tokens"] > 0  # prompts 1 and 2 start from prompt 0's shared KV
    assert [len(row) for row in out] == [2, 2, 2]
    for row in out:
        for c in row:
            assert c.tokens >= 1 and "." not in c.text
            assert c.finish_reason in ("stop", "length")
    again = e.generate(prompts, **kw)
    assert [[c.text for c in r] for r in out] == [[c.text for c in r] for r in again]
    assert len({c.text for row in out for c in row}) >= 3


def test_prompts_that_do_not_fit_one_batch_run_in_turn(llama_engine):
    e = llama_engine
    prompts = [e.chat_prompt(FRUITS), e.chat_prompt([{"role": "user", "content": "Name a colour."}])]
    out = e.generate(prompts, n=e.max_batch, max_tokens=2, temperature=1.0, seed=2)
    assert "together" not in e.last_stats
    assert [len(row) for row in out] == [e.max_batch, e.max_batch]


def test_prompt_longer_than_the_context_is_refused(llama_engine):
    with pytest.raises(ValueError, match="n_ctx"):
        llama_engine.generate(["word " * 5000], max_tokens=2)


def test_concurrent_callers_are_serialised(llama_engine):
    prompt = llama_engine.chat_prompt(FRUITS)
    expected = llama_engine.generate([prompt], max_tokens=6, temperature=0)[0][0].text
    results: list[str] = []

    def call():
        results.append(llama_engine.generate([prompt], max_tokens=6, temperature=0)[0][0].text)

    threads = [threading.Thread(target=call) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [expected] * 3


def test_a_missing_gguf_path_is_reported_as_missing(tmp_path):
    from backend.engines.llamacpp import LlamaCppEngine

    missing = tmp_path / "nowhere.gguf"
    with pytest.raises(ValueError, match="model file not found"):
        LlamaCppEngine.load(str(missing))


@pytest.mark.parametrize(
    "prompts",
    [1, pytest.param(3, marks=pytest.mark.slow)],  # 28 s: the same stop path, batched
    ids=["one prompt", "prompts together"],
)
def test_a_stop_ends_a_call_inside_its_decode_loop_and_the_next_call_is_unchanged(llama_engine, prompts):
    """Stop on a long batched call (sc's k samples) ends it within a decode step (issue 15
    item 13), keeping only samples that finished, and leaves the KV cache sound: the same
    seeded call afterwards gives what it gives on an engine that was never interrupted."""
    from backend.engines.cancel import GenerationCancelled, cancellable

    e = llama_engine
    base = e.chat_prompt([{"role": "user", "content": "Write a long story about a river."}])
    batch = [base + start for start in ("The river", "A river", "Rivers")][:prompts]
    kw = dict(n=3, max_tokens=48, temperature=0.9, seed=5)  # 3 × 3 × 48 tokens: a call of seconds
    t = time.monotonic()
    expected = e.generate(batch, **kw)
    flag = threading.Event()
    threading.Timer((time.monotonic() - t) * 0.4, flag.set).start()  # well inside the same call
    with cancellable(flag), pytest.raises(GenerationCancelled) as cut:
        e.generate(batch, **kw)
    spent = sum(c.tokens for row in expected for c in row)
    assert 0 < cut.value.spent_tokens < spent  # it ended early, having generated something
    assert len(cut.value.finished) == prompts
    for row in cut.value.finished:  # only samples that ended on their own are handed back
        assert all(c.finish_reason == "stop" or c.tokens == kw["max_tokens"] for c in row)
    again = e.generate(batch, **kw)
    assert [[c.text for c in r] for r in again] == [[c.text for c in r] for r in expected]


def test_a_stop_ends_a_long_prompts_prefill_between_chunks(llama_engine, monkeypatch):
    """A long prompt is several 512-token prefill chunks (4,000 tokens: ~20 s on 2 cores): a stop or
    the run's deadline ends the call between two of them, not after the whole prompt (MO-INT
    P19's LLM-preset run ended at 169 s of 120). The next call is unchanged."""
    from backend.engines.cancel import GenerationCancelled, cancellable

    e = llama_engine
    words = " ".join(f"x{i} + y{i}" for i in range(75))  # ~650 tokens: two chunks
    batch = [e.chat_prompt([{"role": "user", "content": words}])]
    kw = dict(n=1, max_tokens=4, temperature=0.5, seed=3)
    expected = e.generate(batch, **kw)
    e.generate(["Hello"], n=1, max_tokens=2, temperature=0)  # no cached prefix to reuse
    flag, chunks = threading.Event(), []
    real = e._decode

    def decode(tokens, *args, **kwargs):  # the flag goes up once the first chunk is in
        chunks.append(len(tokens))
        flag.set()
        return real(tokens, *args, **kwargs)

    monkeypatch.setattr(e, "_decode", decode)
    with cancellable(flag), pytest.raises(GenerationCancelled) as cut:
        e.generate(batch, **kw)
    assert chunks == [512] and cut.value.finished == [[]]  # one chunk, then it stopped
    monkeypatch.undo()
    again = e.generate(batch, **kw)
    assert [[c.text for c in r] for r in again] == [[c.text for c in r] for r in expected]


def test_a_problem_the_model_cannot_read_is_refused_by_its_token_count(llama_engine):
    from backend.prompt_room import problem_too_long

    long = "Tom has 3 apples and buys 4 more. " * 1200  # ~12,000 tokens for a 4,096-token context
    said = problem_too_long(llama_engine, long, "rstar")
    assert said and "too long for this model" in said and f"{llama_engine.n_ctx:,}" in said
    assert problem_too_long(llama_engine, long[:1500], "rstar") is None  # ~400 tokens: fits
    assert problem_too_long(llama_engine, long, "lips") is None  # LIPS has its own limits


def test_prompt_fits_counts_the_real_models_tokens(llama_engine):
    """LIPS asks this before each LLM call (a grown goal once ended a whole eval)."""
    from backend.prompt_room import prompt_fits

    goal = "(a^5 + b^5 + c^5)/(a*b*c) - " * 700  # ~12,000 tokens for a 4,096-token context
    assert not prompt_fits(llama_engine, goal)
    assert prompt_fits(llama_engine, goal[:2000], room=200)
    with pytest.raises(ValueError, match="n_ctx"):  # what the prompt would have met
        llama_engine.generate([goal], n=1, max_tokens=4)
