"""Workers that ask Ray for GPUs (``--ray-gpus-per-worker``), on a local Ray with one logical
GPU: Ray hands it out and sets ``CUDA_VISIBLE_DEVICES`` as it would a real one, so what a
worker sees is what a GPU engine on it would load onto. A pool never asks for more workers
than the cluster holds (one asked beyond would wait forever, and its problem with it), and a
GPU engine on workers that ask for no GPU is refused before any work."""

from __future__ import annotations

import pytest

from backend.engines.scripted import ScriptedEngine
from backend.scale.ray_eval import ray_evaluate_spec
from backend.solve import evaluate_spec
from tests.scale.engines import GpuLoggingFactory
from tests.scale.six import PROBLEMS, same

pytest.importorskip("ray")


def seen(log):
    """Per worker (process): the GPU ids Ray gave it and the CUDA_VISIBLE_DEVICES it set."""
    return {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in log.read_text().splitlines()}


@pytest.mark.timeout(180)  # a problem given to a worker Ray cannot place would wait forever
def test_two_workers_asking_one_gpu_each_share_the_one_gpu_in_turn_and_match_the_in_process_eval(
    ray_local, spec, tmp_path
):
    assert ray_local.cluster_resources().get("GPU") == 1
    local = evaluate_spec(PROBLEMS, spec, engine=ScriptedEngine.from_file(spec.model))
    log = tmp_path / "gpus.txt"
    report, stats = ray_evaluate_spec(PROBLEMS, spec, workers=2, num_gpus=1,
                                      engine_factory=GpuLoggingFactory(log))
    assert stats.width == 1 and stats.actors == 1  # one GPU holds one such worker: no second is asked for
    assert list(seen(log).values()) == ["gpu_ids=0 cuda_visible=0"]
    assert same(report.results) == same(local.results)

    # half a GPU each: both workers at once (each loads only once the other has), both on GPU 0
    log2 = tmp_path / "halves.txt"
    half, stats = ray_evaluate_spec(PROBLEMS[:2], spec, workers=2, num_gpus=0.5,
                                    engine_factory=GpuLoggingFactory(log2, together=2))
    assert stats.width == 2 and list(seen(log2).values()) == ["gpu_ids=0 cuda_visible=0"] * 2
    assert same(half.results) == same(local.results[:2])


def test_a_gpu_engine_on_workers_without_a_gpu_is_refused_before_any_work(ray_local, spec, tmp_path):
    log = tmp_path / "gpus.txt"
    vllm = spec.fork(engine="vllm", model="Qwen/Qwen2.5-Math-1.5B-Instruct")
    with pytest.raises(ValueError, match="needs a GPU each: give --ray-gpus-per-worker 1"):
        ray_evaluate_spec(PROBLEMS, vllm, workers=2, engine_factory=GpuLoggingFactory(log))
    # more GPUs per worker than the cluster has: not one worker fits, said before any work
    with pytest.raises(ValueError, match="no node holds one worker of 1 CPU and 2 GPU"):
        ray_evaluate_spec(PROBLEMS, spec, workers=2, num_gpus=2, engine_factory=GpuLoggingFactory(log))
    assert not log.exists()  # no worker built an engine


class Cluster:
    """What ``workers_that_fit`` reads of Ray: its nodes and their resources."""

    def __init__(self, *nodes):
        self._nodes = [{"Alive": alive, "Resources": res} for alive, res in nodes]

    def nodes(self):
        return self._nodes

    def cluster_resources(self):
        return {"CPU": sum(n["Resources"].get("CPU", 0) for n in self._nodes),
                "GPU": sum(n["Resources"].get("GPU", 0) for n in self._nodes)}


def test_workers_fit_node_by_node_and_dead_nodes_hold_none():
    from backend.scale.cluster import workers_that_fit

    two = Cluster((True, {"CPU": 8, "GPU": 1}), (True, {"CPU": 8, "GPU": 1}), (False, {"CPU": 8, "GPU": 4}))
    assert workers_that_fit(two, 16) == 16  # CPUs only: 8 + 8
    assert workers_that_fit(two, 16, 1) == 2 and workers_that_fit(two, 16, 0.5) == 4
    assert workers_that_fit(two, 1, 0.5) == 1
    with pytest.raises(ValueError, match="no node holds one worker"):  # 2 GPUs in all, but 1 a node
        workers_that_fit(two, 4, 2)
