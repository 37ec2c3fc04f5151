"""The one prepared check to run on a lent GPU (issue 19, item 5): the GPU path without vLLM.

A lent machine has torch and transformers but reaches no package registry, so nothing is
downloaded here: the model is a randomly initialised Qwen2 of the embedded model's shape
(Qwen2.5-Coder-0.5B: hidden 896, 24 layers, 14 heads / 2 KV heads, MLP 4864, vocab 151,936)
and the tokenizer a byte-level BPE trained here on a few lines (ids the model samples past its
vocabulary decode to nothing, so texts are short or empty: the figures are about speed and
placement, not quality). Checks, each printing its figures:

1. transformers engine on CUDA (bf16): a batched sampled call, tokens/s; same seed, same
   completions; the caller's CUDA RNG undisturbed by a seeded call.
2. a short rStar search over that engine: nodes, tokens, tokens/s.
3. PPM on CUDA: head values (FullPPM.from_model) of a batch, then ``fit`` (transformers.Trainer,
   bf16 autocast over fp32 weights) on synthetic pairs: losses, step time, the value head and
   the backbone on the GPU, weights moved by the updates.
4. Step-APO ``sequence_logps`` on CUDA.
5. the policy's SFT (``backend/train/sft.fine_tune``: TRL ``SFTTrainer``, LoRA r16, bf16 autocast)
   on examples as long as round 1's of the 300-problem CPU round (2,286 + 425 characters):
   seconds and tokens per optimiser step, peak GPU memory, the merged policy on the GPU.
6. Step-APO training (``backend/train/step_apo_trainer.train_step_apo``: TRL ``DPOTrainer`` with
   the Step-APO loss, full fine-tune against the frozen reference): seconds per step, peak memory.

    python bench/gpu_check.py            # on the GPU machine (about a minute on an H100/H200)
    python bench/gpu_check.py --small    # a tiny shape on CPU: checks the script itself

Exit status 0 when every check passed; the last line is a JSON summary.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: the embedded model's shape (Qwen2.5-Coder-0.5B-Instruct's config.json)
EMBEDDED_SHAPE = dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                      num_key_value_heads=2, vocab_size=151936, max_position_embeddings=32768,
                      rope_theta=1000000.0, tie_word_embeddings=True, rms_norm_eps=1e-6)
SMALL_SHAPE = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                   num_key_value_heads=2, vocab_size=4096, max_position_embeddings=2048,
                   tie_word_embeddings=True)
CORPUS = [
    "Tom has 3 bags with 4 apples each. He eats 2. How many apples are left?",
    "<code>\n# Step 1: apples in the bags\napples = 3 * 4\n<end_of_step>",
    "# Now print the final answer\nprint(apples - 2)\n<end_of_code>",
    "Let x be the number of apples. Then x = 3 * 4 - 2 = 10. The answer is \\boxed{10}.",
]
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
PROBLEM = CORPUS[0]

results: dict[str, object] = {}


def check(name):
    def wrap(fn):
        def run(*args):
            t0 = time.perf_counter()
            try:
                out = fn(*args)
                results[name] = {"ok": True, "s": round(time.perf_counter() - t0, 2), **(out or {})}
            except Exception as exc:  # keep going: one failed check must not hide the others
                traceback.print_exc()
                results[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:500]}
            print(f"[{name}] {json.dumps(results[name])}", flush=True)
        return run
    return wrap


def tokenizer():
    import tokenizers
    import transformers

    tok = tokenizers.Tokenizer(tokenizers.models.BPE())
    tok.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = tokenizers.decoders.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(vocab_size=600, special_tokens=SPECIALS, show_progress=False,
                                             initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS, trainer)
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<|endoftext|>",
                                                eos_token="<|im_end|>")


def random_model(shape, tok, device, dtype, seed=0):
    import torch
    import transformers

    torch.manual_seed(seed)
    eos = tok.convert_tokens_to_ids("<|im_end|>")
    config = transformers.Qwen2Config(**shape, eos_token_id=eos, pad_token_id=tok.pad_token_id)
    model = transformers.Qwen2ForCausalLM(config).to(device=device, dtype=dtype).eval()
    model.generation_config.eos_token_id = eos
    return model


def decode_step_ms(model, tok, prompt: str, batch: int, device: str, steps: int = 32) -> float:
    """One bare decode step of the model (one new token per row over a prefilled KV cache, no
    sampling, no ``generate``): what a step costs the model itself, to set beside generate's."""
    import torch

    ids = tok([prompt] * batch, return_tensors="pt")["input_ids"].to(device)
    with torch.inference_mode():
        out = model(input_ids=ids, use_cache=True)
        cache, nxt = out.past_key_values, out.logits[:, -1:].argmax(-1)
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(steps):
            out = model(input_ids=nxt, past_key_values=cache, use_cache=True)
            cache, nxt = out.past_key_values, out.logits[:, -1:].argmax(-1)
        if device == "cuda":
            torch.cuda.synchronize()
    return round((time.perf_counter() - t0) * 1000 / steps, 2)


def sweep(shape, tok, device, dtype, batches: list[int], max_tokens: int = 128) -> int:
    """The transformers engine's generated tokens per second at each batch size (8 samples per
    prompt, every sequence run to ``max_tokens``: random weights seldom stop early)."""
    import torch

    from backend.engines.base import EngineInfo
    from backend.engines.transformers import TransformersEngine

    model = random_model(shape, tok, device, dtype)
    rows = []
    for batch in batches:
        eng = TransformersEngine(model, tok, EngineInfo("transformers", "random-qwen2", {"device": device}),
                                 max_batch=batch)
        prompt = eng.chat_prompt([{"role": "user", "content": PROBLEM}])
        n = min(8, batch)
        eng.generate([prompt] * (batch // n), n=n, max_tokens=8, temperature=0.7, seed=0)  # warm-up
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = eng.generate([prompt] * (batch // n), n=n, max_tokens=max_tokens, temperature=0.7, seed=1)
        wall = time.perf_counter() - t0
        tokens = sum(c.tokens for row in out for c in row)
        rows.append({"batch": batch, "tokens": tokens, "wall_s": round(wall, 2),
                     "tokens_per_s": round(tokens / wall, 1),
                     "generate_ms_per_step": round(wall * 1000 / max_tokens, 1),
                     "forward_ms_per_step": decode_step_ms(model, tok, prompt, batch, device)})
        print("[sweep]", json.dumps(rows[-1]), flush=True)
    print(json.dumps({"ok": True, "sweep": rows}))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--small", action="store_true", help="a tiny shape (on CPU when there is no GPU)")
    ap.add_argument("--device", default=None, help="default: cuda when available")
    ap.add_argument("--sweep", default=None, metavar="N,N,...",
                    help="only the engine's throughput at these batch sizes (sequences per generate call)")
    args = ap.parse_args()

    import torch
    import transformers

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    shape = SMALL_SHAPE if args.small else EMBEDDED_SHAPE
    info = {"torch": torch.__version__, "transformers": transformers.__version__, "device": device,
            "shape": "small" if args.small else "embedded (Qwen2.5-0.5B)"}
    if device == "cuda":
        props = torch.cuda.get_device_properties(0)
        info.update(gpu=props.name, gpu_gib=round(props.total_memory / 2**30, 1),
                    bf16=torch.cuda.is_bf16_supported())
    print("[env]", json.dumps(info), flush=True)
    results["env"] = info
    tok = tokenizer()
    gen_dtype = torch.bfloat16 if device == "cuda" else torch.float32
    if args.sweep:
        return sweep(shape, tok, device, gen_dtype, [int(n) for n in args.sweep.split(",")])
    state: dict[str, object] = {}

    @check("engine")
    def engine_check():
        from backend.engines.base import EngineInfo
        from backend.engines.transformers import TransformersEngine

        model = random_model(shape, tok, device, gen_dtype)
        eng = TransformersEngine(model, tok, EngineInfo("transformers", "random-qwen2", {"device": device}),
                                 max_batch=32)
        state["engine"] = eng
        prompt = eng.chat_prompt([{"role": "user", "content": PROBLEM}])
        eng.generate([prompt], n=2, max_tokens=8, temperature=0.7, seed=0)  # warm-up
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = eng.generate([prompt] * 4, n=8, max_tokens=128, temperature=0.7, top_p=0.95, seed=1)
        wall = time.perf_counter() - t0
        tokens = sum(c.tokens for row in out for c in row)
        again = eng.generate([prompt] * 4, n=8, max_tokens=128, temperature=0.7, top_p=0.95, seed=1)
        same = [[c.text for c in r] for r in out] == [[c.text for c in r] for r in again]
        rng_kept = None
        if device == "cuda":
            torch.cuda.manual_seed(99)
            want = torch.rand(4, device=device)
            torch.cuda.manual_seed(99)
            eng.generate([prompt], n=2, max_tokens=4, temperature=0.7, seed=5)
            rng_kept = bool(torch.equal(torch.rand(4, device=device), want))
        gen_ms_sum = sum(row[0].gen_ms for row in out)
        ok = same and rng_kept is not False and gen_ms_sum <= wall * 1000 * 1.01
        if not ok:
            raise AssertionError(f"same seed same output {same}, caller's CUDA RNG kept {rng_kept}, "
                                 f"gen_ms sum {gen_ms_sum:.0f} vs wall {wall * 1000:.0f}")
        return {"completions": 32, "tokens": tokens, "wall_s": round(wall, 2),
                "tokens_per_s": round(tokens / wall, 1), "same_seed_same_output": same,
                "caller_cuda_rng_kept": rng_kept}

    @check("rstar")
    def rstar_check():
        from backend.search.registry import create_search, make_config

        eng = state.get("engine")
        if eng is None:
            raise RuntimeError("no engine (the engine check failed)")
        search = create_search("rstar", PROBLEM, engine=eng, seed=0,
                               config=make_config("rstar", rollouts=4, children=4))
        t0 = time.perf_counter()
        search.run()
        stats = search.stats()
        keep = ("nodes", "tokens", "engine_calls", "gen_s", "tokens_per_s")
        return {"wall_s": round(time.perf_counter() - t0, 2), **{k: stats[k] for k in keep if k in stats}}

    @check("ppm")
    def ppm_check():
        from backend.reward.ppm import FullPPM, ProcessPreferenceModel
        from backend.train.ppm_pairs import PPMPair
        from backend.train.ppm_trainer import PPMTrainConfig, fit

        state.pop("engine", None)  # free the policy's memory
        if device == "cuda":
            torch.cuda.empty_cache()
        backbone = random_model(shape, tok, device, torch.float32, seed=1)  # fp32 master weights
        model = ProcessPreferenceModel(backbone).to(device)
        texts = [PROBLEM + "\n" + CORPUS[1] * (1 + i % 4) for i in range(32)]
        ppm = FullPPM.from_model(model, tok, batch_size=16)
        ppm.score_steps(texts[:2])
        t0 = time.perf_counter()
        scores = ppm.score_steps(texts)
        score_s = time.perf_counter() - t0
        pairs = [PPMPair(prefix=PROBLEM + "\n", chosen=CORPUS[1], rejected=CORPUS[2] + " x" * (i % 5),
                         margin=1.0, pos_count=1, neg_count=1, chosen_id=2 * i, rejected_id=2 * i + 1)
                 for i in range(32)]
        before = model.v_head.summary.weight.detach().clone()
        back_before = next(backbone.parameters()).detach().clone()
        t0 = time.perf_counter()
        losses = fit(model, tok, pairs, PPMTrainConfig(epochs=1, batch_size=8, lr=7e-6))
        train_s = time.perf_counter() - t0
        head_dev = str(model.v_head.summary.weight.device)
        back_dev = str(next(backbone.parameters()).device)
        moved = bool((model.v_head.summary.weight.detach() != before).any())
        back_moved = bool((next(backbone.parameters()).detach() != back_before).any())
        if not (moved and back_moved and head_dev.startswith(device) and back_dev.startswith(device)):
            raise AssertionError(f"head on {head_dev}, backbone on {back_dev}, head moved {moved}, "
                                 f"backbone moved {back_moved}")
        return {"score_texts": len(texts), "score_s": round(score_s, 3), "score_range":
                [round(min(scores), 4), round(max(scores), 4)], "train_pairs": len(pairs),
                "train_steps": len(losses), "train_s": round(train_s, 2),
                "losses": [round(x, 4) for x in losses],
                "head_device": head_dev, "backbone_device": back_dev, "weight_dtype": str(before.dtype)}

    @check("step_apo")
    def step_apo_check():
        from backend.train.step_apo import sequence_logps

        model = random_model(shape, tok, device, gen_dtype, seed=2)
        got = sequence_logps(model, tok, [PROBLEM] * 4, [CORPUS[1], CORPUS[2], CORPUS[3], "x"])
        if got.device.type != torch.device(device).type or not torch.isfinite(got).all():
            raise AssertionError(f"log-probs on {got.device}: {got.tolist()}")
        return {"logps": [round(x, 2) for x in got.float().tolist()], "device": str(got.device)}

    def step_times(marks: list[float]) -> dict[str, float]:
        gaps = [b - a for a, b in itertools.pairwise(marks)]  # the first step (warm-up) left out
        return {"s_per_step_after_first": round(sorted(gaps)[len(gaps) // 2], 3) if gaps else None}

    def peak_reset():
        if device == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()

    def peak_gib():
        return round(torch.cuda.max_memory_allocated() / 2**30, 2) if device == "cuda" else None

    @check("sft")
    def sft_check():
        from backend.evolve.sft_data import SFTExample
        from backend.train.sft import SFTTrainConfig, fine_tune

        peak_reset()
        text = " ".join(CORPUS)
        prompt = (text * (2286 // len(text) + 1))[:2286]
        completion = (CORPUS[1] + "\n" + CORPUS[2] + "\n") * (425 // (len(CORPUS[1]) + len(CORPUS[2])) + 1)
        completion = completion[:425]
        examples = [SFTExample(problem_id=str(i), prompt=prompt, completion=completion, answer="10",
                               mean_q=1.0, min_q=1.0, node_id=i) for i in range(64)]
        tokens = len(tok(prompt + completion)["input_ids"])
        batch, steps = (8, 8) if not args.small else (2, 3)
        model = random_model(shape, tok, device, torch.float32, seed=3)
        marks: list[float] = []
        losses: list[float] = []

        def progress(step, total, loss):
            marks.append(time.perf_counter())
            losses.append(loss)

        merged, result = fine_tune(model, tok, examples, SFTTrainConfig(batch_size=batch, grad_accum=1,
                                   max_steps=steps, epochs=1), progress=progress)
        where = str(next(merged.parameters()).device)
        if not (len(losses) == steps and all(x == x for x in losses) and where.startswith(device)):
            raise AssertionError(f"{len(losses)} losses of {steps}: {losses}; merged model on {where}")
        timing = step_times(marks)
        per_step = timing["s_per_step_after_first"]
        return {"examples_per_step": batch, "tokens_per_example": tokens, "steps": steps, **timing,
                "train_tokens_per_s": round(batch * tokens / per_step, 1) if per_step else None,
                "losses": [round(x, 4) for x in losses], "seconds": result.seconds,
                "peak_gpu_gib": peak_gib(), "merged_on": where}

    @check("step_apo_train")
    def step_apo_train_check():
        from backend.train.step_apo import StepPair
        from backend.train.step_apo_trainer import StepAPOConfig, train_step_apo

        peak_reset()
        prompt = (" ".join(CORPUS) * 4)[:1200]
        pairs = [StepPair(prompt=prompt, chosen=CORPUS[1], rejected=CORPUS[2] + " x" * (i % 5),
                          q_chosen=0.8, q_rejected=-0.4, solution=False, chosen_id=2 * i,
                          rejected_id=2 * i + 1) for i in range(48)]
        batch, steps = (8, 6) if not args.small else (2, 3)
        model = random_model(shape, tok, device, torch.float32, seed=4)
        marks: list[float] = []
        trained, losses, seconds = train_step_apo(
            model, tok, pairs, StepAPOConfig(batch_size=batch, max_steps=steps, epochs=1),
            progress=lambda step, total, loss: marks.append(time.perf_counter()))
        where = str(next(trained.parameters()).device)
        if not (len(losses) == steps and all(x == x for x in losses) and where.startswith(device)):
            raise AssertionError(f"{len(losses)} losses of {steps}: {losses}; model on {where}")
        return {"pairs_per_step": batch, "steps": steps, **step_times(marks),
                "losses": [round(x, 4) for x in losses], "seconds": seconds, "peak_gpu_gib": peak_gib()}

    engine_check()
    rstar_check()
    ppm_check()
    step_apo_check()
    if device == "cuda":
        results["peak_gpu_gib_checks_1_to_4"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    state.clear()
    sft_check()
    step_apo_train_check()
    ok = all(v.get("ok") for v in results.values() if isinstance(v, dict) and "ok" in v)
    print(json.dumps({"ok": ok, **results}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
