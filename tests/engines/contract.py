"""The engine contract (backend/engines/base.py), as one abstract test suite.

Subclass ``EngineContract`` per engine and provide an ``engine`` fixture. The
checks avoid assuming what a model says: the stop-string check derives its stop
string from the engine's own greedy output, so it holds for canned text and for
any real model alike.
"""

from __future__ import annotations

import pytest

from backend.engines.base import Completion, Engine, GenerationRequest

#: (prompts, settings) that no engine can honour; each must fail before any generation
BAD_REQUESTS = [
    pytest.param(["p"], {"n": 0}, id="n=0"),
    pytest.param(["p"], {"n": 2.0}, id="n-float"),
    pytest.param(["p"], {"max_tokens": 0}, id="max_tokens=0"),
    pytest.param(["p"], {"temperature": -0.5}, id="temperature<0"),
    pytest.param(["p"], {"temperature": float("nan")}, id="temperature-nan"),
    pytest.param(["p"], {"top_p": 0.0}, id="top_p=0"),
    pytest.param(["p"], {"top_p": 1.5}, id="top_p>1"),
    pytest.param(["p"], {"seed": -1}, id="seed<0"),
    pytest.param(["p"], {"seed": 1.5}, id="seed-float"),
    pytest.param(["p"], {"stop": "\n"}, id="stop-a-string"),
    pytest.param(["p"], {"stop": ["ok", 3]}, id="stop-not-strings"),
    pytest.param("p", {}, id="prompts-a-string"),
    pytest.param([""], {}, id="empty-prompt"),
    pytest.param([None], {}, id="prompt-not-a-string"),
]


class EngineContract:
    #: a prompt that makes the engine write a long-ish text (no early end of sequence)
    long_prompt: str = "Count from 1 to 40, separated by commas."
    #: chat messages whose answer is short and ends with end of sequence
    short_messages: tuple[dict[str, str], ...] = (
        {"role": "user", "content": "What is 2+2? Answer with the number only."},
    )
    #: chat prompts are rendered with the engine's template unless a subclass says otherwise
    use_chat: bool = True

    def prompt(self, engine: Engine, text: str) -> str:
        return engine.chat_prompt([{"role": "user", "content": text}]) if self.use_chat else text

    def test_is_an_engine(self, engine):
        assert isinstance(engine, Engine)
        assert engine.info.name and engine.info.model

    def test_one_list_per_prompt_with_n_each(self, engine):
        prompts = [self.prompt(engine, self.long_prompt), self.prompt(engine, "Name three animals.")]
        out = engine.generate(prompts, n=3, max_tokens=6, temperature=0.8, seed=1)
        assert len(out) == 2
        for comps in out:
            assert len(comps) == 3
            for c in comps:
                assert isinstance(c, Completion)
                assert isinstance(c.text, str)
                assert 0 <= c.tokens <= 6
                assert c.finish_reason in ("stop", "length")
                assert c.logprob is None or c.logprob <= 1e-4
                assert c.gen_ms >= 0

    def test_empty_prompt_list(self, engine):
        assert engine.generate([], n=2, max_tokens=4) == []

    def test_bad_sampling_settings_raise(self, engine):
        p = [self.prompt(engine, self.long_prompt)]
        for bad in ({"n": 0}, {"max_tokens": 0}, {"temperature": -1.0}, {"top_p": 0.0}):
            with pytest.raises(ValueError):
                engine.generate(p, **bad)

    @pytest.mark.parametrize(("prompts", "bad"), BAD_REQUESTS)
    def test_bad_requests_get_the_shared_message(self, engine, prompts, bad):
        """Every engine refuses through GenerationRequest: one message whichever engine is loaded."""
        with pytest.raises(ValueError) as expected:
            GenerationRequest.make(prompts, **bad)
        with pytest.raises(ValueError) as got:
            engine.generate(prompts, **bad)
        assert str(got.value) == str(expected.value)

    def test_empty_stop_strings_are_ignored(self, engine):
        p = [self.prompt(engine, self.long_prompt)]
        (plain,) = engine.generate(p, max_tokens=4, temperature=0)[0]
        (c,) = engine.generate(p, max_tokens=4, temperature=0, stop=[""])[0]
        assert (c.text, c.finish_reason, c.stop_reason) == (plain.text, plain.finish_reason, None)

    def test_max_tokens_gives_length(self, engine):
        (c,) = engine.generate([self.prompt(engine, self.long_prompt)], max_tokens=3, temperature=0)[0]
        assert c.finish_reason == "length"
        assert c.stop_reason is None
        assert c.tokens == 3
        assert c.text

    def test_stop_string_is_cut_and_named(self, engine):
        p = [self.prompt(engine, self.long_prompt)]
        (free,) = engine.generate(p, max_tokens=16, temperature=0)[0]
        assert len(free.text) >= 6, free
        stop = free.text[len(free.text) // 2 : len(free.text) // 2 + 2]
        (c,) = engine.generate(p, max_tokens=16, temperature=0, stop=["@@never@@", stop])[0]
        assert c.finish_reason == "stop"
        assert c.stop_reason == stop
        assert c.text == free.text[: free.text.find(stop)]
        assert stop not in c.text

    def test_end_of_sequence_is_stop_without_reason(self, engine):
        p = [engine.chat_prompt(list(self.short_messages))]
        (c,) = engine.generate(p, max_tokens=24, temperature=0)[0]
        assert c.finish_reason == "stop", c
        assert c.stop_reason is None
        assert c.tokens < 24

    def test_greedy_is_deterministic(self, engine):
        p = [self.prompt(engine, self.long_prompt)]
        a = engine.generate(p, n=2, max_tokens=8, temperature=0)[0]
        b = engine.generate(p, n=2, max_tokens=8, temperature=0)[0]
        assert len(a) == len(b) == 2
        assert [c.text for c in a] == [c.text for c in b]

    def test_same_seed_same_completions(self, engine):
        p = [self.prompt(engine, "Write one sentence about trees.")]
        a = engine.generate(p, n=3, max_tokens=8, temperature=1.0, top_p=0.95, seed=123)[0]
        b = engine.generate(p, n=3, max_tokens=8, temperature=1.0, top_p=0.95, seed=123)[0]
        assert [c.text for c in a] == [c.text for c in b]
        assert [c.tokens for c in a] == [c.tokens for c in b]

    def test_chat_prompt_keeps_the_content(self, engine):
        text = engine.chat_prompt([{"role": "user", "content": "What is 2 + 3?"}])
        assert isinstance(text, str)
        assert "What is 2 + 3?" in text
