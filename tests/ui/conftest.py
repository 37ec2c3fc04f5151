from __future__ import annotations

import pytest

from tests.ui.server import demo_services


@pytest.fixture
def services():
    """The app's services over a memory history and the scripted engine (fast updates)."""
    s = demo_services(update_every_s=0.05)
    yield s
    s.close()
