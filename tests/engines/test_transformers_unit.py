"""The transformers engine's bookkeeping without a model: seeding that leaves the caller's RNGs
alone (a recording stand-in for torch's generators, since no GPU is needed to see which ones
are touched) and gen_ms when a prompt's samples take several chunks."""

from __future__ import annotations

import contextlib
import threading
import time
from types import SimpleNamespace as NS

import pytest

from backend._optional import is_available
from backend.engines.base import Completion

pytestmark = pytest.mark.skipif(not is_available("torch"), reason="needs torch")


class Gen:
    """A recording stand-in for a torch.Generator."""

    def __init__(self):
        self.seeds: list[int] = []

    def manual_seed(self, seed):
        self.seeds.append(seed)


def fake_torch():
    forks: list[list[int]] = []

    @contextlib.contextmanager
    def fork_rng(devices):
        forks.append(list(devices))
        yield

    # no torch.manual_seed here: it reseeds every GPU, so calling it is a failure
    return NS(random=NS(fork_rng=fork_rng, default_generator=Gen()),
              cuda=NS(default_generators=[Gen(), Gen()], current_device=lambda: 0), forks=forks)


def test_a_seed_touches_the_cpu_and_the_models_gpu_only_and_restores_both():
    from backend.engines.transformers import seeded_rng

    torch = fake_torch()
    with seeded_rng(torch, 7, NS(type="cuda", index=1)):
        pass
    assert torch.forks == [[1]]  # the model's GPU state is saved and restored, with the CPU's
    assert torch.random.default_generator.seeds == [7] and torch.cuda.default_generators[1].seeds == [7]
    assert torch.cuda.default_generators[0].seeds == []  # another GPU's RNG: untouched
    with seeded_rng(torch, 3, NS(type="cpu", index=None)):
        pass
    assert torch.forks[-1] == [] and torch.cuda.default_generators[0].seeds == []


def test_no_seed_forks_and_seeds_nothing():
    from backend.engines.transformers import seeded_rng

    torch = fake_torch()
    with seeded_rng(torch, None, NS(type="cuda", index=0)):
        pass
    assert torch.forks == [] and torch.random.default_generator.seeds == []


def test_the_real_cpu_rng_of_the_caller_is_kept():
    import torch

    from backend.engines.transformers import seeded_rng

    torch.manual_seed(123)
    want = torch.rand(3)
    torch.manual_seed(123)
    with seeded_rng(torch, 5, torch.device("cpu")):
        inside = torch.rand(3)
    assert torch.equal(torch.rand(3), want) and not torch.equal(inside, want)


def test_a_prompt_sampled_in_several_chunks_carries_the_whole_time():
    from backend.engines.transformers import TransformersEngine

    engine = TransformersEngine.__new__(TransformersEngine)  # no model: the chunking alone
    engine.max_batch, engine._lock = 2, threading.Lock()

    def chunk(prompts, k, req, seed):
        time.sleep(0.05)
        return [Completion("x", 1, -1.0, "length", None, 50.0 / len(prompts))] * (k * len(prompts))

    engine._generate_chunk = chunk
    t0 = time.perf_counter()
    (row,) = engine.generate(["p"], n=6, temperature=1.0)  # 3 chunks of 2 samples
    wall_ms = (time.perf_counter() - t0) * 1000
    assert len(row) == 6 and len({c.gen_ms for c in row}) == 1
    assert 150 <= row[0].gen_ms <= wall_ms  # all three chunks, not the last one's 50 ms
