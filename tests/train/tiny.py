"""A tiny randomly initialised Qwen2 and a small byte-level BPE tokenizer: real transformers
code paths for training tests, with no download and in well under a second. The tokenizer is
byte-level BPE like Qwen's, so a saved copy reloads (as transformers' Qwen2Tokenizer) to the
same token ids."""

from __future__ import annotations

import pytest

CORPUS = [
    "find x plan isolate x step one add guess good bad",
    "Let x be the number of apples. Then x = 3 * 4 - 2 = 10.",
    "print(x) # Step 1: add one and isolate x",
]


def tiny_model_and_tokenizer(seed: int = 0, layers: int = 1):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    tokenizers = pytest.importorskip("tokenizers")
    tok = tokenizers.Tokenizer(tokenizers.models.BPE())
    tok.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = tokenizers.decoders.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(
        vocab_size=320,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS, trainer)
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<|endoftext|>")
    torch.manual_seed(seed)
    config = transformers.Qwen2Config(
        vocab_size=tok.get_vocab_size(),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=layers,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=128,
    )
    return transformers.Qwen2ForCausalLM(config).eval(), tokenizer
