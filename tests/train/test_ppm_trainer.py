"""The full PPM trained through ``transformers.Trainer`` (backend/train/ppm_trainer.py) and
served as a StepScorer (``FullPPM``), on the tiny Qwen2 of tests/train/tiny.py; the vLLM path
against a stand-in vllm module here, for real on a GPU (``-m gpu``)."""

from __future__ import annotations

import json
import math
import os

import pytest

from backend.train.ppm_pairs import PPMPair
from tests.engines.test_vllm import fake_vllm
from tests.train.tiny import tiny_model_and_tokenizer

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("accelerate")  # transformers.Trainer needs it

from backend.reward.ppm import (  # noqa: E402 (after the skips: torch is a hard import there)
    HEAD_FILE,
    MARKER,
    FullPPM,
    ProcessPreferenceModel,
    ppm_loss,
    save_ppm,
    score,
)
from backend.train.ppm_trainer import (  # noqa: E402
    LoRA,
    PPMCollator,
    PPMTrainConfig,
    PPMTrainer,
    fit,
    torch_threads,
    training_arguments,
)

GOOD, BAD = "isolate x step", "guess one"
PAIRS = [
    PPMPair("find x ", GOOD, BAD, 2.0, 1, 1, 1, 2),
    PPMPair("Let x be ", "the number of apples", "bad good bad", 1.5, 2, 2, 3, 4),
]
FAST = PPMTrainConfig(epochs=6, lr=1e-2, batch_size=2)  # the tiny model learns in a few steps


def _ppm(seed: int = 0, dropout: float = 0.1):
    backbone, tokenizer = tiny_model_and_tokenizer(seed)
    return ProcessPreferenceModel(backbone, dropout), tokenizer


@pytest.fixture(autouse=True)
def _fresh_ppm_cache():
    FullPPM.cache_clear()
    yield
    FullPPM.cache_clear()


def test_the_defaults_are_the_official_run():
    config = PPMTrainConfig()
    assert (config.epochs, config.lr, config.scheduler, config.weight_decay, config.max_length) == (
        2, 7e-6, "linear", 0.0, 2048)
    args = training_arguments(config, "unused")
    assert (args.optim, args.learning_rate, args.num_train_epochs) == ("adamw_torch", 7e-6, 2)
    assert args.warmup_steps == 0 and not args.remove_unused_columns
    with pytest.raises(ValueError, match="learning rate"):
        PPMTrainConfig(lr=0)
    with pytest.raises(ValueError, match="rank"):
        LoRA(r=0)


def test_the_collator_stacks_chosen_rows_over_rejected_with_each_pair_weight():
    _, tokenizer = _ppm()
    batch = PPMCollator(tokenizer)(PAIRS)
    texts = [p.prefix + p.chosen for p in PAIRS] + [p.prefix + p.rejected for p in PAIRS]
    rows = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    assert batch["input_ids"].shape == (4, max(map(len, rows)))
    ids, mask = batch["input_ids"].tolist(), batch["attention_mask"].tolist()
    for row, got, seen in zip(rows, ids, mask, strict=True):  # right padding
        assert got[: len(row)] == row and seen == [1] * len(row) + [0] * (len(got) - len(row))
    assert batch["weights"].tolist() == [1.0, 0.25]  # 1 / (pos_count · neg_count)
    cut = PPMCollator(tokenizer, max_length=3)(PAIRS)
    assert cut["input_ids"].shape[1] == 3 and cut["input_ids"][0].tolist() == rows[0][:3]  # keeps the start


def test_the_trainer_loss_is_the_weighted_official_loss(tmp_path):
    model, tokenizer = _ppm()
    with torch.no_grad():
        model.v_head.summary.weight.normal_(0, 1.0)  # values that differ between texts
    trainer = PPMTrainer(
        model=model, args=training_arguments(FAST, str(tmp_path)), data_collator=PPMCollator(tokenizer)
    )
    device = next(model.parameters()).device  # the Trainer put it on the GPU where there is one
    batch = {k: v.to(device) for k, v in PPMCollator(tokenizer)(PAIRS).items()}
    model.eval()  # no dropout: the same values twice
    with torch.no_grad():
        loss = trainer.compute_loss(model, dict(batch))
        values = model(batch["input_ids"], batch["attention_mask"])
    terms = [-torch.nn.functional.logsigmoid(values[k] - values[k + 2]).item() for k in range(2)]
    assert loss.item() == pytest.approx(1.0 * terms[0] + 0.25 * terms[1], rel=1e-5)
    assert loss.item() != pytest.approx(terms[0] + terms[1], rel=1e-3)  # the weight is not dropped
    assert loss.item() == pytest.approx(ppm_loss(values[:2], values[2:], batch["weights"]).item(), rel=1e-6)


def test_training_lowers_the_loss_and_ranks_every_chosen_step_first():
    model, tokenizer = _ppm()
    seen = []
    losses = fit(model, tokenizer, PAIRS * 2, FAST, progress=lambda *a: seen.append(a))
    assert len(losses) == 12 and [s[:2] for s in seen] == [(k, 12) for k in range(1, 13)]
    assert losses[-1] < 0.5 * losses[0]
    for p in PAIRS:
        chosen, rejected = score(model, tokenizer, [p.prefix + p.chosen, p.prefix + p.rejected])
        assert chosen > rejected
    assert not model.training
    with pytest.raises(ValueError, match="no PPM pairs"):
        fit(model, tokenizer, [])


def test_the_pair_weight_steers_training():
    # the same two texts preferred both ways: weights 1 and 1/16 leave GOOD on top; if the
    # weights were ignored the two pairs would pull equally and the scores would stay level
    def margin(reverse_counts):
        model, tokenizer = _ppm(dropout=0.0)
        pairs = [
            PPMPair("find x ", GOOD, BAD, 2.0, 1, 1, 1, 2),
            PPMPair("find x ", BAD, GOOD, 2.0, *reverse_counts, 2, 1),
        ]
        fit(model, tokenizer, pairs, FAST)
        good, bad = score(model, tokenizer, ["find x " + GOOD, "find x " + BAD])
        return good - bad

    assert margin((4, 4)) > 0.1
    assert abs(margin((1, 1))) < 0.02


def test_a_seed_reproduces_a_run_and_another_seed_does_not():
    def run(seed):
        model, tokenizer = _ppm()
        torch.manual_seed(1234 + seed)  # whatever the caller did to the global RNG before
        return fit(model, tokenizer, PAIRS * 2, PPMTrainConfig(epochs=1, lr=1e-2, batch_size=2, seed=seed))

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_torch_threads_are_set_for_the_run_and_restored():
    before = torch.get_num_threads()
    with torch_threads(1) as n:
        assert n == torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with torch_threads(None) as n:
        assert n == len(os.sched_getaffinity(0))  # the cores this process may use
    assert torch.get_num_threads() == before


def test_lora_trains_adapters_and_the_whole_head_then_merges():
    pytest.importorskip("peft")
    from backend.train.ppm_trainer import add_lora

    model, tokenizer = _ppm()
    add_lora(model, LoRA(r=4))
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert {"v_head.summary.weight", "v_head.summary.bias"} <= trainable
    assert all("lora_" in n for n in trainable - {"v_head.summary.weight", "v_head.summary.bias"})

    model, tokenizer = _ppm()
    base = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    head = model.v_head.summary.weight.detach().clone()
    fit(model, tokenizer, PAIRS * 2, PPMTrainConfig(epochs=6, lr=1e-2, batch_size=2, lora=LoRA(r=4)))
    assert type(model.backbone).__name__ == "Qwen2ForCausalLM"  # merged: a plain causal LM again
    assert model.backbone.state_dict().keys() == base.keys()
    changed = [k for k, v in model.backbone.state_dict().items() if not torch.equal(v, base[k].to(v.device))]
    assert changed and all(k.endswith("proj.weight") for k in changed)  # only the adapted linears
    assert not torch.equal(model.v_head.summary.weight, head.to(model.v_head.summary.weight.device))
    chosen, rejected = score(model, tokenizer, ["find x " + GOOD, "find x " + BAD])
    assert chosen > rejected


def test_lora_on_the_top_layers_adapts_only_those_and_still_learns():
    pytest.importorskip("peft")
    import re

    from backend.train.ppm_trainer import add_lora

    model, tokenizer = _ppm()
    depth = model.backbone.config.num_hidden_layers
    add_lora(model, LoRA(r=4, top_layers=1))
    adapted = {int(m.group(1)) for n, p in model.named_parameters()
               if p.requires_grad and (m := re.search(r"layers\.(\d+)\..*lora_", n))}
    assert adapted == {depth - 1}

    model, tokenizer = _ppm()
    base = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    fit(model, tokenizer, PAIRS * 2, PPMTrainConfig(epochs=6, lr=1e-2, batch_size=2,
                                                     lora=LoRA(r=4, top_layers=1)))
    changed = {k for k, v in model.backbone.state_dict().items() if not torch.equal(v, base[k].to(v.device))}
    assert changed and all(f"layers.{depth - 1}." in k for k in changed)  # merged: only the top layer
    chosen, rejected = score(model, tokenizer, ["find x " + GOOD, "find x " + BAD])
    assert chosen > rejected
    with pytest.raises(ValueError, match="top_layers"):
        LoRA(top_layers=0)


def test_a_saved_ppm_scores_the_same_after_loading(tmp_path):
    from backend.reward.step_scorer import MARKER as STEP_SCORER_MARKER
    from backend.reward.step_scorer import load_step_scorer

    model, tokenizer = _ppm()
    fit(model, tokenizer, PAIRS, FAST)
    texts = ["find x " + GOOD, "find x " + BAD, "Let x be the number of apples"]
    before = FullPPM.from_model(model, tokenizer).score_steps(texts)
    save_ppm(model, tokenizer, tmp_path / "ppm", base="tiny", **FAST.about())
    assert MARKER == STEP_SCORER_MARKER
    about = json.loads((tmp_path / "ppm" / MARKER).read_text())
    assert about["format"] == "canopy-ppm" and about["lr"] == 1e-2 and about["base"] == "tiny"

    ppm = FullPPM.load(tmp_path / "ppm")
    assert (ppm.name, ppm.runtime, ppm.about["format"]) == ("ppm", "transformers", "canopy-ppm")
    assert ppm.score_steps(texts) == pytest.approx(before, abs=1e-6)
    assert ppm.score_steps([]) == []
    assert FullPPM.load(tmp_path / "ppm") is ppm  # loaded once per directory
    assert load_step_scorer(tmp_path / "ppm", engine=None) is ppm  # what a search gets

    save_ppm(model, tokenizer, tmp_path / "ppm", base="tiny, again")
    assert FullPPM.load(tmp_path / "ppm") is not ppm  # saved again: loaded again
    with pytest.raises(ValueError, match="not a Canopy PPM directory"):
        FullPPM.load(tmp_path)
    (tmp_path / "head").mkdir()
    (tmp_path / "head" / MARKER).write_text(json.dumps({"format": "canopy-ppm-head"}))
    (tmp_path / "head" / HEAD_FILE).write_bytes(b"")
    with pytest.raises(ValueError, match="canopy-ppm-head"):
        FullPPM.load(tmp_path / "head")


def test_after_a_bf16_fit_the_model_in_memory_scores_like_the_saved_one(monkeypatch, tmp_path):
    """The Trainer's bf16 mode wraps the model's forward in bfloat16 autocast (``accelerate``);
    ``fit`` takes the wrapper off again, so the trained model scores in float32 like the same
    weights saved and loaded (on an H200 the two were 3e-3 apart before). A CPU reproduces it:
    the tiny model's steps are quick even where bfloat16 is emulated."""
    monkeypatch.setattr("backend.train.ppm_trainer.cpu_has_fast_bf16", lambda: True)
    model, tokenizer = _ppm()
    fit(model, tokenizer, PAIRS, PPMTrainConfig(epochs=2, lr=1e-2, batch_size=2, bf16=True))
    assert "_original_forward" not in model.__dict__  # accelerate's autocast wrapper is gone
    texts = ["find x " + GOOD, "find x " + BAD]
    in_memory = FullPPM.from_model(model, tokenizer).score_steps(texts)
    save_ppm(model, tokenizer, tmp_path)
    assert FullPPM.load(tmp_path).score_steps(texts) == pytest.approx(in_memory, abs=1e-6)


def test_the_vllm_path_gives_the_transformers_numbers(monkeypatch, tmp_path):
    """FullPPM on vLLM, with a stand-in vllm whose embed() returns what vLLM's LAST pooler
    returns: the decoder's final hidden state at the last token (computed here by the saved
    backbone itself). So the head loading and tanh(v / 5) on the vLLM path are checked."""
    model, tokenizer = _ppm()
    fit(model, tokenizer, PAIRS, FAST)
    save_ppm(model, tokenizer, tmp_path)
    texts = ["find x " + GOOD, "find x " + BAD]
    reference = FullPPM.load(tmp_path, runtime="transformers").score_steps(texts)
    decoder = model.backbone.get_decoder().eval()

    @torch.no_grad()
    def last_state(ids):
        return decoder(input_ids=torch.tensor([ids], device=decoder.device)).last_hidden_state[0, -1].tolist()

    import transformers

    saved_tokenizer = transformers.AutoTokenizer.from_pretrained(tmp_path)  # what vLLM would load
    vllm = fake_vllm(monkeypatch, last_state, tokenizer=saved_tokenizer, model_len=128)
    ppm = FullPPM.load(tmp_path, runtime="vllm", gpu_memory_utilization=0.3)
    assert ppm.runtime == "vllm" and vllm.made[0].kwargs["gpu_memory_utilization"] == 0.3
    assert ppm.score_steps(texts) == pytest.approx(reference, abs=1e-6)
    assert len({round(s, 6) for s in reference}) == 2 and all(-1 < s < 1 for s in reference)

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # "auto" on a GPU machine with vllm
    assert FullPPM.load(tmp_path).runtime == "vllm"
    with pytest.raises(ValueError, match="runtime"):
        FullPPM.load(tmp_path, runtime="onnx")


# --- on a GPU: pytest -m gpu ------------------------------------------------------------------


def _cuda() -> bool:
    return torch.cuda.is_available()


@pytest.mark.gpu
@pytest.mark.skipif(not _cuda(), reason="needs a CUDA GPU")
def test_train_and_score_on_a_gpu(tmp_path):
    """A few Trainer steps on CUDA (bf16 where supported), then scoring through transformers
    and, with vLLM installed, through vLLM (a head_dim of 64 so vLLM's attention kernels take
    the model); the two agree up to vLLM's half precision."""
    import transformers

    _, tokenizer = tiny_model_and_tokenizer()
    torch.manual_seed(0)
    config = transformers.Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=256,
    )
    model = ProcessPreferenceModel(transformers.Qwen2ForCausalLM(config))
    losses = fit(model, tokenizer, PAIRS * 4, PPMTrainConfig(epochs=2, lr=1e-3, batch_size=4))
    assert len(losses) == 4 and all(math.isfinite(v) for v in losses)
    assert next(model.parameters()).device.type == "cuda"
    with torch.no_grad():  # a head with something to say, so the two runtimes are compared on it
        model.v_head.summary.weight.normal_(0, 0.1)
    save_ppm(model, tokenizer, tmp_path)
    texts = ["find x " + GOOD, "find x " + BAD, "Let x be the number of apples"]
    on_torch = FullPPM.load(tmp_path, runtime="transformers").score_steps(texts)
    assert all(-1 < s < 1 for s in on_torch) and max(on_torch) - min(on_torch) > 0.05
    pytest.importorskip("vllm")
    on_vllm = FullPPM.load(tmp_path, runtime="vllm", gpu_memory_utilization=0.3).score_steps(texts)
    assert on_vllm == pytest.approx(on_torch, abs=0.02)


def test_drop_autocast_gives_a_prepared_model_its_float32_forward_back():
    """The helper every trainer calls after training (PPM, CPL value head, SFT, Step-APO):
    ``accelerate``'s bf16 preparation makes a module compute in bfloat16 behind a float32
    output; afterwards the module computes in float32 again."""
    import accelerate
    from accelerate.state import AcceleratorState

    from backend.train.checkpoints import drop_autocast

    torch.manual_seed(0)
    layer, x = torch.nn.Linear(64, 64), torch.randn(4, 64)
    exact = torch.nn.functional.linear(x, layer.weight, layer.bias)
    AcceleratorState._reset_state(reset_partial_state=True)  # process-wide: earlier Trainers set it
    try:
        accelerate.Accelerator(mixed_precision="bf16", cpu=True).prepare_model(layer)
        with torch.no_grad():
            assert not torch.equal(layer(x), exact)  # bfloat16 inside, float32 outside
            assert drop_autocast(layer) is layer
            assert torch.equal(layer(x), exact)
    finally:  # and the next test's Trainer makes its own
        AcceleratorState._reset_state(reset_partial_state=True)
