"""The problem box for LIPS: a format hint, and a preview of how the parser reads the text
(implicit products, the constraints, the goal, or the error) before Run."""

from __future__ import annotations

import time

import pytest

from tests.security.hostile import HOSTILE
from tests.security.test_html_escape import assert_inert_markdown
from ui import handlers as h
from ui.solve import LIPS_INFO, LIPS_PLACEHOLDER, SolveHandlers, problem_box_hint

TYPED = "a, b, c > 0, prove a^2 + b^2 + c^2 >= ab + bc + ca"


def test_the_lips_preview_shows_the_reading():
    preview = h.problem_preview(TYPED, "lips")
    assert "**LIPS reads:**" in preview
    assert "ab read as a&#42;b" in preview and "ca read as c&#42;a" in preview
    assert "variables: <code>a, b, c</code>" in preview
    assert "<code>a &#62; 0; b &#62; 0; c &#62; 0</code>" in preview


def test_other_algorithms_preview_only_the_rendered_problem():
    assert h.problem_preview(TYPED, "rstar") == h.problem_preview(TYPED) == h.md_text(TYPED)


def test_the_lips_preview_teaches_the_format_when_the_text_cannot_be_read():
    preview = h.problem_preview("a, b, c > 0, a^2 + b^2", "lips")
    assert "**LIPS cannot read this:**" in preview and "no goal found" in preview
    assert "separated by &#39;;&#39;" in preview


def test_a_long_input_is_not_repeated_in_the_preview_error():
    text = "x" * 10_000
    preview = h.problem_preview(text, "lips")
    assert len(preview) < len(text) + 600  # the rendered problem once, the message short


def test_the_lips_preview_is_inert():
    for text in (HOSTILE, f"a, b > 0; prove a >= b {HOSTILE}", "a, b > 0; prove a*b <= a^2 + b^2"):
        assert_inert_markdown(h.problem_preview(text, "lips"), "lips preview")


def test_the_preview_handler_takes_the_algorithm(services):
    hs = SolveHandlers(services, [])
    assert "ab read as" in hs.preview(TYPED, "lips")
    assert "LIPS" not in hs.preview(TYPED, "rstar")


def test_the_problem_box_hint_follows_the_algorithm():
    assert problem_box_hint("lips") == {"placeholder": LIPS_PLACEHOLDER, "info": LIPS_INFO}
    assert problem_box_hint("rstar")["info"] == ""
    assert "ab" in LIPS_PLACEHOLDER and "';'" in LIPS_INFO


# --- in a real browser -------------------------------------------------------------------------


@pytest.mark.browser
def test_typing_a_lips_problem_shows_how_it_is_read():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    from tests.ui import server as srv

    if not srv.CHROMIUM.exists():
        pytest.skip(f"{srv.CHROMIUM} is missing (apt-get install chromium)")
    demo, services, url = srv.start()
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(srv.CHROMIUM), args=srv.CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.set_default_timeout(60_000)
                page.goto(url)
                page.wait_for_selector("#run-btn")
                page.click("#algorithm input")
                page.get_by_role("option", name="lips", exact=True).click()
                _wait(lambda: _placeholder(page) == LIPS_PLACEHOLDER, "the LIPS placeholder")
                assert "separated by ';'" in page.inner_text("#problem")  # the info line
                page.fill("#problem textarea", TYPED)
                _wait(lambda: "ab read as a*b" in page.inner_text("#problem-preview"), "the reading")
                shown = page.inner_text("#problem-preview")
                assert "bc read as b*c" in shown and "a > 0; b > 0; c > 0" in shown
                page.fill("#problem textarea", "a, b > 0, a + b")
                _wait(lambda: "no goal found" in page.inner_text("#problem-preview"), "the format hint")
                page.click("#algorithm input")  # another algorithm: the plain box and preview again
                page.get_by_role("option", name="rstar", exact=True).click()
                _wait(lambda: "LIPS" not in page.inner_text("#problem-preview"), "the plain preview")
                plain = problem_box_hint("rstar")["placeholder"]
                _wait(lambda: _placeholder(page) == plain, "the plain placeholder")
                assert "separated by ';'" not in page.inner_text("#problem")
            finally:
                browser.close()
    finally:
        srv.stop(demo, services)


def _placeholder(page) -> str | None:
    return page.get_attribute("#problem textarea", "placeholder")


def _wait(cond, what: str, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")
