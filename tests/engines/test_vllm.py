"""vLLM adapter: output mapping tested with fake outputs, the PPM scoring adapter with a stand-in
vllm module; the real engine only on a GPU."""

from __future__ import annotations

import dataclasses
import importlib.machinery
import sys
import types
from types import SimpleNamespace as NS

import numpy as np
import pytest

from backend._optional import is_available
from backend.engines.vllm import completion_from_output, to_completions
from tests.engines.contract import EngineContract


def out(text, ids, finish, stop_reason=None, lp=-1.5, index=0):
    return NS(index=index, text=text, token_ids=ids, finish_reason=finish, stop_reason=stop_reason,
              cumulative_logprob=lp)


def test_stop_string_finish():
    c = completion_from_output(out("x = 1", [1, 2, 3], "stop", "\n\n"), gen_ms=5.0)
    assert (c.text, c.tokens, c.finish_reason, c.stop_reason, c.logprob, c.gen_ms) == (
        "x = 1", 3, "stop", "\n\n", -1.5, 5.0)


def test_end_of_sequence_and_stop_token_ids_have_no_stop_reason():
    assert completion_from_output(out("a", [1], "stop", None)).stop_reason is None
    assert completion_from_output(out("a", [1], "stop", 151645)).stop_reason is None  # a stop token id


def test_length_and_missing_logprob():
    c = completion_from_output(out("abc", [1, 2], "length", None, lp=None))
    assert c.finish_reason == "length" and c.stop_reason is None and c.logprob is None


def test_abort_raises():
    with pytest.raises(RuntimeError, match="abort"):
        completion_from_output(out("", [], "abort"))


def test_request_outputs_map_in_prompt_order_and_greedy_fills_n():
    ros = [NS(outputs=[out("b", [2], "length", index=1), out("a", [1], "length", index=0)]),
           NS(outputs=[out("c", [3], "stop", index=0), out("d", [4], "stop", index=1)])]
    res = to_completions(ros, n=2, call_ms=80.0)
    assert [[c.text for c in r] for r in res] == [["a", "b"], ["c", "d"]]
    assert {c.gen_ms for r in res for c in r} == {40.0}  # the call's time shared by its 2 prompts
    (greedy,) = to_completions([NS(outputs=[out("g", [1], "stop")])], n=3)
    assert [c.text for c in greedy] == ["g", "g", "g"]
    with pytest.raises(RuntimeError, match="expected 3"):
        to_completions([NS(outputs=[out("a", [1], "stop"), out("b", [1], "stop")])], n=3)


def _has_cuda() -> bool:
    if not is_available("torch"):
        return False
    import torch

    return torch.cuda.is_available()


@pytest.mark.gpu
@pytest.mark.skipif(not is_available("vllm") or not _has_cuda(), reason="needs vllm and a CUDA GPU")
class TestVLLMContract(EngineContract):
    @pytest.fixture(scope="class")
    def engine(self):
        from backend.engines.vllm import VLLMEngine

        engine = VLLMEngine.load("Qwen/Qwen2.5-0.5B-Instruct", gpu_memory_utilization=0.3, max_model_len=4096)
        yield engine
        engine.close()


# --- the PPM scoring adapter (VLLMValueHead), against a stand-in vllm module ----------------
# The stand-in is a test double: it records what the adapter asks of vllm.LLM and answers
# LLM.embed with hidden states from a function of the token ids. It checks the adapter's side
# of the contract (arguments, token ids, the head on top); vLLM itself runs only in the GPU
# tests.


@dataclasses.dataclass
class PoolerConfigNow:
    """The fields that matter of vLLM's current ``PoolerConfig``."""

    pooling_type: str | None = None
    use_activation: bool | None = None


@dataclasses.dataclass
class PoolerConfigBefore:
    """... and of older releases', whose switch for the embed normalisation is ``normalize``."""

    pooling_type: str | None = None
    normalize: bool | None = None


class CharTokenizer:
    """One token per character; remembers whether special tokens were asked for."""

    def __init__(self) -> None:
        self.special: list[bool] = []

    def encode(self, text, add_special_tokens=True):
        self.special.append(add_special_tokens)
        return [ord(c) for c in text]


class FakePoolingLLM:
    """Test double for ``vllm.LLM`` in a pooling run (see above)."""

    def __init__(self, hidden, tokenizer, model_len, model, **kwargs):
        self.model, self.kwargs = model, kwargs
        self.hidden, self.tokenizer = hidden, tokenizer
        # like vLLM: the asked-for max_model_len, else the model's own
        self.llm_engine = NS(model_config=NS(max_model_len=kwargs.get("max_model_len") or model_len))
        self.embed_calls: list[tuple[list, dict]] = []

    def get_tokenizer(self):
        return self.tokenizer

    def embed(self, prompts, **kwargs):
        self.embed_calls.append((list(prompts), kwargs))
        return [NS(outputs=NS(embedding=list(self.hidden(p["prompt_token_ids"])))) for p in prompts]


def fake_vllm(monkeypatch, hidden, *, tokenizer=None, pooler_config=PoolerConfigNow, model_len=64):
    """Install a stand-in ``vllm`` (and ``vllm.config``) in ``sys.modules``; ``made`` on the
    module lists the LLMs built."""
    vllm = types.ModuleType("vllm")
    vllm.__spec__ = importlib.machinery.ModuleSpec("vllm", None)  # so find_spec (require) sees it
    config = types.ModuleType("vllm.config")
    config.__spec__ = importlib.machinery.ModuleSpec("vllm.config", None)
    config.PoolerConfig = pooler_config
    vllm.config = config
    vllm.made = []
    tok = tokenizer or CharTokenizer()

    def llm(model, **kwargs):
        made = FakePoolingLLM(hidden, tok, model_len, model, **kwargs)
        vllm.made.append(made)
        return made

    vllm.LLM = llm
    monkeypatch.setitem(sys.modules, "vllm", vllm)
    monkeypatch.setitem(sys.modules, "vllm.config", config)
    return vllm


def _states(ids):
    """A hidden state that depends on the whole text: (length, last id, 1)."""
    return [float(len(ids)), float(ids[-1]), 1.0]


def test_the_ppm_backbone_loads_as_a_last_token_pooling_model(monkeypatch, tmp_path):
    from backend.engines.vllm import PPM_GPU_SHARE, VLLMValueHead

    vllm = fake_vllm(monkeypatch, _states)
    VLLMValueHead.load(tmp_path, weight=np.zeros(3), bias=0.0)
    (llm,) = vllm.made
    assert llm.model == str(tmp_path)
    kw = llm.kwargs
    assert (kw["runner"], kw["convert"]) == ("pooling", "embed")
    # the raw last-token state: LAST pooling, not L2-normalised
    assert kw["pooler_config"] == PoolerConfigNow(pooling_type="LAST", use_activation=False)
    assert kw["gpu_memory_utilization"] == PPM_GPU_SHARE and kw["max_model_len"] is None


def test_older_vllm_turns_the_normalisation_off_by_its_older_name(monkeypatch, tmp_path):
    from backend.engines.vllm import VLLMValueHead

    vllm = fake_vllm(monkeypatch, _states, pooler_config=PoolerConfigBefore)
    VLLMValueHead.load(tmp_path, weight=np.zeros(3), bias=0.0, enforce_eager=True)
    kw = vllm.made[0].kwargs
    assert kw["pooler_config"] == PoolerConfigBefore(pooling_type="LAST", normalize=False)
    assert kw["enforce_eager"] is True  # extra arguments reach vllm.LLM


def test_values_are_the_head_on_the_last_token_state(monkeypatch, tmp_path):
    from backend.engines.vllm import VLLMValueHead

    vllm = fake_vllm(monkeypatch, _states, model_len=6)
    head = VLLMValueHead.load(tmp_path, weight=np.array([0.5, 0.01, -2.0]), bias=0.25)
    values = head.values(["ab", "abcdefgh"])
    # "abcdefgh" is cut to its first max_model_len − 1 = 5 tokens (official prevent_overlength)
    expected = [0.5 * 2 + 0.01 * ord("b") - 2.0 + 0.25, 0.5 * 5 + 0.01 * ord("e") - 2.0 + 0.25]
    assert values == pytest.approx(expected)
    ((prompts, kwargs),) = vllm.made[0].embed_calls  # one batched call
    assert prompts == [{"prompt_token_ids": [97, 98]}, {"prompt_token_ids": [97, 98, 99, 100, 101]}]
    assert kwargs == {"use_tqdm": False}
    assert vllm.made[0].tokenizer.special == [False, False]  # as the transformers path: no special tokens
    assert head.values([]) == [] and len(vllm.made[0].embed_calls) == 1
    with pytest.raises(ValueError, match="empty"):
        head.values([""])


def test_hidden_states_of_the_wrong_width_are_refused(monkeypatch, tmp_path):
    from backend.engines.vllm import VLLMValueHead, last_token_states

    fake_vllm(monkeypatch, _states)
    head = VLLMValueHead.load(tmp_path, weight=np.zeros(4), bias=0.0)  # a head for width 4, states of 3
    with pytest.raises(RuntimeError, match="shape"):
        head.values(["a"])
    assert last_token_states([]).shape == (0, 0)


# --- the generation engine (VLLMEngine), against a stand-in vllm module -----------------------
# Test double again: SamplingParams records its arguments, LLM.generate answers each token-id
# prompt with canned outputs. It checks what VLLMEngine asks of vLLM, not vLLM.


class FakeGenLLM:
    """Test double for ``vllm.LLM`` in a generation run."""

    def __init__(self, model_len: int):
        self.tokenizer = CharTokenizer()
        self.llm_engine = NS(model_config=NS(max_model_len=model_len))
        self.calls: list[tuple[list, list]] = []

    def get_tokenizer(self):
        return self.tokenizer

    def generate(self, prompts, params, use_tqdm=True):
        self.calls.append((list(prompts), list(params)))
        return [NS(outputs=[out(f"t{k}", [1, 2], "length", index=k) for k in range(p.kwargs["n"])])
                for p in params]


def gen_engine(monkeypatch, model_len=16):
    from backend.engines.base import EngineInfo
    from backend.engines.vllm import VLLMEngine

    vllm = types.ModuleType("vllm")
    vllm.__spec__ = importlib.machinery.ModuleSpec("vllm", None)
    vllm.SamplingParams = lambda **kw: NS(kwargs=kw)
    monkeypatch.setitem(sys.modules, "vllm", vllm)
    return VLLMEngine(FakeGenLLM(model_len), EngineInfo("vllm", "stand-in"))


def test_prompts_go_as_token_ids_without_added_special_tokens(monkeypatch):
    engine = gen_engine(monkeypatch)
    engine.generate(["<s>ab"], n=2, max_tokens=4, temperature=0.5)
    ((prompts, params),) = engine.llm.calls
    assert prompts == [{"prompt_token_ids": [ord(c) for c in "<s>ab"]}]  # no second BOS
    assert engine.llm.tokenizer.special == [False]
    assert (params[0].kwargs["n"], params[0].kwargs["max_tokens"]) == (2, 4)


def test_a_prompt_past_max_model_len_fails_alone(monkeypatch):
    engine = gen_engine(monkeypatch, model_len=10)
    out_ = engine.generate(["x" * 12, "abcdefgh", "ab"], n=2, max_tokens=5, temperature=0.5)
    assert [c.finish_reason for c in out_[0]] == ["length", "length"] and out_[0][0].text == ""
    assert [c.text for c in out_[1]] == ["t0", "t1"] and [c.text for c in out_[2]] == ["t0", "t1"]
    ((prompts, params),) = engine.llm.calls  # only the prompts that fit, in one call
    assert len(prompts) == 2
    # max_tokens cut to what the context leaves: 10 - 8 = 2 for "abcdefgh", 5 for "ab"
    assert [p.kwargs["max_tokens"] for p in params] == [2, 5]


def test_greedy_asks_vllm_for_one_sample(monkeypatch):
    engine = gen_engine(monkeypatch)
    comps = engine.generate(["ab"], n=3, temperature=0)[0]
    assert [c.text for c in comps] == ["t0"] * 3
    assert engine.llm.calls[0][1][0].kwargs["n"] == 1


def test_a_gguf_without_a_converted_folder_says_what_to_do(monkeypatch, tmp_path):
    from backend.engines import vllm as engine_module

    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")
    monkeypatch.setenv("CANOPY_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(engine_module, "resolve_model", lambda m: str(gguf))
    with pytest.raises(ValueError, match=r"HF model id or folder.*--engine transformers"):
        engine_module.vllm_source(None)
    monkeypatch.setattr(engine_module, "resolve_model", lambda m: m)
    assert engine_module.vllm_source("Qwen/Qwen2.5-0.5B-Instruct") == "Qwen/Qwen2.5-0.5B-Instruct"


def test_a_gguf_with_a_converted_folder_loads_that(monkeypatch, tmp_path):
    import json

    from backend.engines import vllm as engine_module
    from backend.engines.transformers import _converted_dir, _source_key

    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")
    monkeypatch.setenv("CANOPY_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(engine_module, "resolve_model", lambda m: str(gguf))
    conv = _converted_dir(str(gguf))
    conv.mkdir(parents=True)
    (conv / "config.json").write_text("{}")
    (conv / "canopy-source.json").write_text(json.dumps(_source_key(gguf)))
    assert engine_module.vllm_source(None) == str(conv)


def test_load_passes_the_source_and_can_ask_for_batch_invariance(monkeypatch):
    from backend.engines import vllm as engine_module

    made = []
    vllm = types.ModuleType("vllm")
    vllm.__spec__ = importlib.machinery.ModuleSpec("vllm", None)

    def llm(**kwargs):
        import os

        made.append((kwargs, os.environ.get("VLLM_BATCH_INVARIANT")))  # as vLLM sees it when building
        return FakeGenLLM(64)

    vllm.LLM = llm
    monkeypatch.setitem(sys.modules, "vllm", vllm)
    monkeypatch.setenv("VLLM_BATCH_INVARIANT", "0")  # recorded, so the test's "1" is undone after it
    monkeypatch.delenv("VLLM_BATCH_INVARIANT")
    engine = engine_module.VLLMEngine.load("org/model", max_model_len=64)
    assert made[-1][0]["model"] == "org/model" and made[-1][1] is None
    assert engine.info.details["batch_invariant"] is False and engine.max_model_len == 64
    with pytest.raises(ValueError, match="VLLM_BATCH_INVARIANT=1"):  # Canopy never writes the environment
        engine_module.VLLMEngine.load("org/model", batch_invariant=True)
    monkeypatch.setenv("VLLM_BATCH_INVARIANT", "1")  # as a launcher would
    engine = engine_module.VLLMEngine.load("org/model", batch_invariant=True)
    assert made[-1][1] == "1" and engine.info.details["batch_invariant"] is True


def test_the_gpu_split_between_policy_and_ppm_is_an_engine_option(monkeypatch, tmp_path):
    """``--engine-opt gpu_memory_utilization=… ppm_gpu_memory_utilization=…``: the policy gets
    its share, a full PPM loaded beside it gets the other, and a split past the cap is refused
    before vLLM starts."""
    from backend.engines import vllm as engine_module
    from backend.engines.options import parse_engine_options
    from backend.reward import ppm as ppm_module
    from backend.reward.step_scorer import load_step_scorer

    made = []
    vllm = types.ModuleType("vllm")
    vllm.__spec__ = importlib.machinery.ModuleSpec("vllm", None)
    vllm.LLM = lambda **kw: made.append(kw) or FakeGenLLM(64)
    monkeypatch.setitem(sys.modules, "vllm", vllm)
    options = parse_engine_options("vllm", ["gpu_memory_utilization=0.6", "ppm_gpu_memory_utilization=0.3"])
    engine = engine_module.VLLMEngine.load("org/model", **options)
    assert made[-1]["gpu_memory_utilization"] == 0.6
    asked = []
    fake_load = classmethod(lambda cls, d, **kw: asked.append(kw) or "ppm")
    monkeypatch.setattr(ppm_module.FullPPM, "load", fake_load)
    (tmp_path / "canopy_ppm.json").write_text('{"format": "canopy-ppm"}')
    assert load_step_scorer(tmp_path, engine) == "ppm"
    assert asked == [{"gpu_memory_utilization": 0.3}]
    with pytest.raises(ValueError, match=r"at most 0\.98"):
        engine_module.VLLMEngine.load("org/model", gpu_memory_utilization=0.9, ppm_gpu_memory_utilization=0.2)
    with pytest.raises(ValueError, match="between 0 and 1"):
        engine_module.VLLMEngine.load("org/model", gpu_memory_utilization=1.5)
    assert len(made) == 1  # neither refused split reached vLLM
