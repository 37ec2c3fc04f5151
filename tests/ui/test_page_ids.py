"""Element ids on the built page are unique (the walk of 2026-12-03 found ``#teach-panel`` twice
in the DOM): checked on the Blocks config, no browser needed."""

from __future__ import annotations

from collections import Counter

import pytest

from ui.app import build_app


@pytest.fixture(scope="module")
def components():
    from tests.ui.server import demo_services

    services = demo_services()
    try:
        yield build_app(services).get_config_file()["components"]
    finally:
        services.close()


def test_no_elem_id_is_given_twice(components):
    ids = Counter(c["props"]["elem_id"] for c in components if c.get("props", {}).get("elem_id"))
    assert not [k for k, n in ids.items() if n > 1]
    assert {"run-btn", "teach-panel", "insp-steer"} <= set(ids)


def test_no_group_has_an_elem_id(components):
    """Gradio (6.31) draws a Group's elem_id on two nested divs (``#teach-panel`` and
    ``#insp-steer`` were each twice in the page once shown): an id goes on a Column around it."""
    groups = [c["props"] for c in components if c.get("type") == "group"]
    assert groups and [g["elem_id"] for g in groups if g.get("elem_id")] == []
