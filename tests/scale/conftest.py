"""One local Ray instance (2 CPUs and 1 logical GPU: Ray hands it out as it would a real one)
for every test in tests/scale, shut down after them."""

from __future__ import annotations

import json

import pytest

from backend.runspec import RunSpec
from tests.scale.six import RULES


@pytest.fixture(scope="package")
def ray_local():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture
def spec(tmp_path):
    """The RunSpec of the six problems' eval: the scripted engine over their rules file."""
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps(RULES))
    return RunSpec(problem="", config={"rollouts": 2, "children": 2, "few_shot": 0},
                   engine="scripted", model=str(rules), ppm="none")


