"""ui/click_order.py: a page's late answer to an older node click is skipped, per page and per
listener, and a click without a counter (an older page, a direct call) is always answered."""

from __future__ import annotations

from types import SimpleNamespace

import gradio as gr

from tests.ui.server import demo_services
from ui.click_order import ClickOrder
from ui.solve import SolveHandlers


def page(session: str) -> SimpleNamespace:
    return SimpleNamespace(session_hash=session)


def test_an_older_click_is_skipped_once_a_newer_one_of_the_same_page_was_answered():
    order = ClickOrder()
    assert order.newest(page("a"), "inspect", {"seq": 2})
    assert not order.newest(page("a"), "inspect", {"seq": 1})  # late: the page has moved on
    assert order.newest(page("a"), "inspect", {"seq": 2})  # the same click again is answered
    assert order.newest(page("b"), "inspect", {"seq": 1})  # another page counts on its own
    assert order.newest(page("a"), "steer", {"seq": 1})  # and so does another listener


def test_clicks_without_a_counter_or_a_session_are_answered_and_the_memory_is_bounded():
    order = ClickOrder(most=2)
    order.newest(page("a"), "inspect", {"seq": 9})
    for data in ({}, {"seq": "8"}, {"seq": True}, {"seq": None}):
        assert order.newest(page("a"), "inspect", data)
    assert order.newest(None, "inspect", {"seq": 1})
    assert order.newest(SimpleNamespace(), "inspect", {"seq": 1})
    order.newest(page("b"), "inspect", {"seq": 1})
    order.newest(page("c"), "inspect", {"seq": 1})  # page a, least recently used, is forgotten
    assert order.newest(page("a"), "inspect", {"seq": 1})


def test_the_inspector_handler_skips_every_output_of_a_late_older_click():
    handlers = SolveHandlers(demo_services(), [])
    newer = handlers.click(None, SimpleNamespace(_data={"node_id": 3, "seq": 5}), page("p"))
    older = handlers.click(None, SimpleNamespace(_data={"node_id": 1, "seq": 4}), page("p"))
    assert not all(v == gr.skip() for v in newer)  # answered (the run is unknown: it says so)
    assert len(older) == len(newer) and all(v == gr.skip() for v in older)
