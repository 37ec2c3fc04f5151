"""Whether bfloat16 pays on this CPU: one matrix product of the policy's MLP shape
(1024 tokens × 896 by 896 × 4864, Qwen2.5-0.5B) in float32 and in bfloat16, timed in one
run, and what ``cpu_has_fast_bf16`` (the check behind ``--bf16``'s refusal) says.

On a CPU with AVX512-BF16 or AMX bfloat16 was 3x faster (2026-12-03); on an AVX2-only CPU it
is emulated and far slower, which is why ``canopy evolve --bf16`` refuses there.

    python bench/bf16_matmul.py [--threads 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def seconds_per_product(a, b, repeats: int) -> float:
    """Mean seconds of ``a @ b`` after one warm-up product."""
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import torch

    from backend.train.ppm_trainer import cpu_has_fast_bf16

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    a, b = torch.randn(1024, 896), torch.randn(896, 4864)
    fp32 = seconds_per_product(a, b, args.repeats)
    bf16 = seconds_per_product(a.bfloat16(), b.bfloat16(), args.repeats)
    print(f"torch {torch.__version__}, {args.threads} threads, CPU capability "
          f"{torch.backends.cpu.get_cpu_capability()}, cpu_has_fast_bf16: {cpu_has_fast_bf16()}")
    print(f"float32  {fp32 * 1000:9.1f} ms per product")
    print(f"bfloat16 {bf16 * 1000:9.1f} ms per product")
    print(f"bfloat16 / float32 time: {bf16 / fp32:.2f}x "
          f"({'bfloat16 faster' if bf16 < fp32 else 'bfloat16 slower'})")


if __name__ == "__main__":
    main()
