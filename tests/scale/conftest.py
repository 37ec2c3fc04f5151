"""One local Ray instance (2 CPUs) for every test in tests/scale, shut down after them."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="package")
def ray_local():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()
