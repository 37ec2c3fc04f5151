"""The HTML eval report (``backend/report_html.py``) says which problems failed and why: a
problem the Ray pool gave up on has no answer, and "(none)" alone read as a search that found
nothing."""

from __future__ import annotations

from backend.problems import Problem
from backend.report_html import eval_html
from backend.solve import EvalReport, error_row

REASON = "ran past the 600 s limit <script>alert(1)</script> (tried 3 times)"


def _row(pid: str, answer: str | None, status: str) -> dict:
    return {"id": pid, "question": "What is 1+1?", "reference": "2", "answer": answer,
            "correct": answer == "2", "status": status, "votes": {}, "tokens": 40, "wall_s": 1.0,
            "iterations": 2, "nodes": 5, "in_tree": answer == "2", "run_id": "r"}


def test_a_failed_problem_shows_its_status_and_escaped_reason_and_the_counts_say_how_many_failed():
    gave_up = error_row(Problem(id="gsm8k/7", dataset="gsm8k", question="Q?", answer="3"), REASON)
    rows = [_row("gsm8k/1", "2", "solved"), _row("gsm8k/2", None, "exhausted"), gave_up]
    page = eval_html(EvalReport("rstar", "gsm8k", "vote", {}, rows, 3.0).to_dict())

    escaped = "ran past the 600 s limit &lt;script&gt;alert(1)&lt;/script&gt; (tried 3 times)"
    assert f"failed</span> (status error): {escaped}" in page
    assert "<script>alert(1)" not in page  # the reason is data
    assert "1 right, 1 failed (no answer, counted wrong) of 3" in page
    assert ">1/3 (1 failed)</td>" in page  # the method table's count too
    assert "(none, exhausted)" in page  # a search that finished without an answer says so
