"""The prompt-length refusal (``backend/prompt_room.py``) with text that tokenizes to many more
tokens than its characters suggest: a token is at least one byte, not one character."""

from __future__ import annotations

from backend.prompt_room import problem_too_long


class ByteTokenizer:
    """An engine whose tokenizer spends one token per UTF-8 byte (a byte-level BPE's worst case)."""

    def __init__(self, n_ctx: int) -> None:
        self.n_ctx, self.calls = n_ctx, 0

    def tokenize(self, text: str) -> list[int]:
        self.calls += 1
        return list(text.encode("utf-8"))


def test_a_short_problem_of_wide_characters_is_counted_not_waved_through():
    engine = ByteTokenizer(n_ctx=2048)  # room for 512 tokens of problem
    wide = "\U0001d54f" * 500  # 500 characters, 2,000 bytes
    said = problem_too_long(engine, wide, "rstar")  # "under 512 characters always fits" let it run
    assert said and "2,000 tokens" in said and engine.calls == 1


def test_short_ascii_problems_are_not_tokenized_and_long_ones_that_fit_pass():
    engine = ByteTokenizer(n_ctx=4096)
    assert problem_too_long(engine, "x" * 127, "rstar") is None and engine.calls == 0
    assert problem_too_long(engine, "Tom has 3 apples. " * 100, "rstar") is None and engine.calls == 1
