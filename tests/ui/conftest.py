from __future__ import annotations

import pytest

from backend.search import registry
from tests.ui.server import DEMO, DEMO_ENTRY, demo_services


@pytest.fixture
def demo_registered(monkeypatch):
    """The test-only demo algorithm in the registry, for this test only."""
    monkeypatch.setitem(registry.ALGORITHMS, DEMO, DEMO_ENTRY)
    return DEMO


@pytest.fixture
def services(demo_registered):
    s = demo_services(update_every_s=0.05)
    yield s
    s.close()
