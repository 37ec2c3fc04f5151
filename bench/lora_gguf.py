"""An evolved policy's LoRA adapter on llama.cpp (backend/evolve/lora_gguf.py): how much slower
is the embedded model with a LoRA GGUF applied at load than without it?

A round's adapter is rank 16 on all seven projections of every layer. Unless ``--adapter DIR``
names a real one (``RUN/round-N/policy.adapter``), a random adapter of that shape is written
(speed does not depend on the values). The two engines take turns on each prompt, so load
changes on a shared machine hit both; the ratio is the figure to read.

    python bench/lora_gguf.py --threads 2 --tokens 48 --repeats 3
    python bench/lora_gguf.py --adapter runs/evo-300/round-1/policy.adapter
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable from a checkout without install

QUESTIONS = [
    "Write a Python function that returns the sum of a list.",
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
    "How many clips did Natalia sell altogether in April and May?",
]
#: Qwen2.5-0.5B's projections: (out, in)
SHAPES = {
    "self_attn.q_proj": (896, 896), "self_attn.k_proj": (128, 896), "self_attn.v_proj": (128, 896),
    "self_attn.o_proj": (896, 896), "mlp.gate_proj": (4864, 896), "mlp.up_proj": (4864, 896),
    "mlp.down_proj": (896, 4864),
}


def random_adapter(folder: Path, rank: int, layers: int = 24) -> Path:
    import torch
    from safetensors.torch import save_file

    gen = torch.Generator().manual_seed(0)
    tensors = {}
    for layer in range(layers):
        for module, (out_dim, in_dim) in SHAPES.items():
            key = f"base_model.model.model.layers.{layer}.{module}"
            tensors[f"{key}.lora_A.weight"] = (torch.randn(rank, in_dim, generator=gen) * 0.01).half()
            tensors[f"{key}.lora_B.weight"] = (torch.randn(out_dim, rank, generator=gen) * 0.001).half()
    folder.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(folder / "adapter_model.safetensors"))
    config = {"peft_type": "LORA", "r": rank, "lora_alpha": 2 * rank, "target_modules": list(SHAPES)}
    (folder / "adapter_config.json").write_text(json.dumps(config))
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adapter", type=Path, default=None, help="a PEFT LoRA folder (default: random)")
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from backend.engines.llamacpp import LlamaCppEngine
    from backend.evolve.lora_gguf import export_lora_gguf

    with tempfile.TemporaryDirectory(prefix="canopy-lora-bench-") as scratch:
        folder = args.adapter or random_adapter(Path(scratch) / "adapter", args.rank)
        res = export_lora_gguf(folder, Path(scratch) / "policy.lora.gguf")
        print(f"export: {res.seconds:.2f} s, {res.size_bytes / 1e6:.1f} MB, {res.tensors} tensors, "
              f"rank {res.rank}, alpha {res.alpha:g}")
        engines = {
            "embedded": LlamaCppEngine.load(None, n_threads=args.threads, max_batch=1),
            "embedded + LoRA": LlamaCppEngine.load(str(res.path), n_threads=args.threads, max_batch=1),
        }
        seconds = dict.fromkeys(engines, 0.0)
        tokens = dict.fromkeys(engines, 0)
        try:
            for _ in range(args.repeats):
                for q in QUESTIONS:
                    for name, engine in engines.items():  # take turns: load drifts hit both
                        engine.clear_cache()
                        prompt = engine.chat_prompt([{"role": "user", "content": q}])
                        t0 = time.perf_counter()
                        row = engine.generate([prompt], max_tokens=args.tokens, temperature=0)[0][0]
                        seconds[name] += time.perf_counter() - t0
                        tokens[name] += row.tokens
        finally:
            for engine in engines.values():
                engine.close()
        rate = {name: tokens[name] / seconds[name] for name in engines}
        for name in engines:
            print(f"{name:>16}: {rate[name]:.1f} tok/s ({tokens[name]} tokens, prompt included in the time)")
        print(f"LoRA / embedded: {rate['embedded + LoRA'] / rate['embedded']:.2f}x "
              f"(load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
