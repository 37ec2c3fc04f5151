"""A tiny randomly initialised Qwen2 and a word-level tokenizer: real transformers code paths
for training tests, with no download and in well under a second."""

from __future__ import annotations

import pytest

WORDS = ["[PAD]", "[UNK]", "find", "x", "plan", "isolate", "guess", "add", "one", "step", "good", "bad"]


def tiny_model_and_tokenizer(seed: int = 0):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    tokenizers = pytest.importorskip("tokenizers")
    vocab = {w: i for i, w in enumerate(WORDS)}
    tok = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]"
    )
    torch.manual_seed(seed)
    config = transformers.Qwen2Config(
        vocab_size=len(WORDS),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=64,
    )
    return transformers.Qwen2ForCausalLM(config).eval(), tokenizer
