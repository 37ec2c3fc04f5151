"""The closing certificate of a LIPS proof as the page shows it (``readable_cert.py``), from an
imported events file whose SOS record is not one ``sos_cert.record`` wrote: thousands of squares
(each read with the grammar and printed by sympy, on every render) or parts of the wrong shape."""

from __future__ import annotations

import time

from backend import events as ev
from backend.search.lips.readable_cert import closing_certificate

GOAL = "a^2+b^2 >= 2*a*b"
SQUARE = {"plain": "(a-b)^2", "latex": "x", "factor": "1", "square": "(a+b+c)^6-a*b*c*(a+b)"}


def _close(record) -> ev.NodeVerified:
    return ev.NodeVerified(seq=3, t=0.0, id=2, status="proved", method="sos", detail={"certificate": record})


def test_a_record_of_thousands_of_squares_is_not_read_on_every_render():
    record = {"kind": "sos", "numerator": "a^2-2*a*b+b^2", "denominator": "1", "polynomial": "a^2-2*a*b+b^2",
              "squares": [SQUARE] * 5000, "count": 5000}
    start = time.perf_counter()
    cert = closing_certificate(GOAL, _close(record), ["a", "b", "c"])  # ~2 s before, per render
    assert time.perf_counter() - start < 0.5
    assert "(a+b+c)" not in cert.latex and cert.latex  # the goal's own difference is shown instead


def test_a_record_of_the_wrong_shape_shows_the_goals_difference_instead_of_failing():
    for squares in ([{}], [{"plain": 1, "factor": "1", "square": "a"}], ["(a-b)^2"], {"a": 1}):
        record = {"kind": "sos", "numerator": "a^2-2*a*b+b^2", "denominator": "1",
                  "polynomial": "a^2-2*a*b+b^2", "squares": squares}
        cert = closing_certificate(GOAL, _close(record), ["a", "b"])  # raised KeyError / TypeError
        assert "a - b" in cert.plain or "rhs - lhs" in cert.plain, cert.plain
