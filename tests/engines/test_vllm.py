"""vLLM adapter: output mapping tested with fake outputs; the real engine only on a GPU."""

from __future__ import annotations

from types import SimpleNamespace as NS

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
