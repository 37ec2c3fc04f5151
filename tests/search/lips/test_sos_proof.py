"""Issue 15: a proof closed by SOS shows its squares, in the events, the readable proof and the
CLI's proof text, and they sum (sympy expand) to the difference the goal is about."""

from __future__ import annotations

import time

import pytest
import sympy as sp

from backend import events as ev
from backend.search.lips import closing
from backend.search.lips.expr import make_symbols, parse_expression
from backend.search.lips.problem import parse_problem
from backend.search.lips.readable import proof_markdown, proof_plain, readable_proof
from backend.search.lips.search import LipsConfig, LipsSearch
from backend.search.lips.smt import Pending, SmtResult

pytest.importorskip("cvxpy")

SCHUR_FREE = "a,b,c > 0; prove a^2+b^2+c^2 >= a*b+b*c+c*a"  # positivity cannot, SOS can
ABC = "a,b,c > 0; a*b*c = 1; prove a^2 + b^2 + c^2 >= a + b + c"  # SOS with a multiplier for abc - 1


@pytest.fixture
def z3_withheld(monkeypatch):
    """z3 answers "unknown" (as at its time limit), so the closer after it, SOS, decides."""
    def unknown(problem, expr, timeout_s, *a, **k):
        return Pending([], time.perf_counter(), done=SmtResult("unknown", None, "withheld by the test", 0.0))

    monkeypatch.setattr(closing, "submit_counterexample", unknown)


def _sos_run(text: str) -> LipsSearch:
    s = LipsSearch(text, engine=None, config=LipsConfig(llm_rewrite=False, llm_rank=False, homogenise=False))
    s.run()
    assert s.proved is not None and s.proved_by == "sos", s.proved_by
    return s


def _read(text: str, variables) -> sp.Expr:
    """What the student sees, read back with LIPS's own safe grammar (never sympify)."""
    return parse_expression(text, make_symbols(variables))


@pytest.mark.parametrize("text", [SCHUR_FREE, ABC])
def test_an_sos_closed_proof_lists_squares_that_sum_to_the_difference(z3_withheld, text):
    s = _sos_run(text)
    closed = [e for e in s.state.log.events if isinstance(e, ev.NodeVerified) and e.status == "proved"][-1]
    rec = closed.detail["certificate"]
    assert rec["kind"] == "sos" and rec["identity_checked"] and rec["squares"]

    proof = readable_proof(s.state.log.events)
    cert = proof.certificate
    assert cert.method == "sos" and cert.squares == [q["plain"] for q in rec["squares"]]
    p = parse_problem(text)
    names = list(p.variables)
    sigma = sp.Add(*[_read(q, names) for q in cert.squares])
    # the difference of the goal, computed here from the problem, not from the certificate
    diff = sp.expand(sp.fraction(sp.together(p.goal.rhs - p.goal.lhs))[0])
    multipliers = sp.Add(*[_read(m["multiplier"], names) * _read(m["constraint"], names)
                           for m in rec["multipliers"]])
    assert sp.expand(sigma - multipliers - diff) == 0
    if text == ABC:
        assert sp.expand(_read(rec["multipliers"][0]["constraint"], names) - (p.symbols["a"] * p.symbols["b"]
                                                                              * p.symbols["c"] - 1)) == 0
    plain, md = proof_plain(proof), proof_markdown(proof)
    assert cert.squares[0] in plain and ">= 0" in plain
    assert "\\left(" in md and "\\ge 0" in md  # the squares in LaTeX, one display formula per line
    assert cert.squares[0] in s.proof_text()  # canopy solve's proof text too


def test_the_squares_are_the_exact_ldl_split_of_the_gram_matrix():
    from fractions import Fraction as F

    from backend.search.lips.sos_gram import ldl_exact

    r = [[F(2), F(1)], [F(1), F(2)]]  # = 2 (x + y/2)^2 + 3/2 y^2
    parts = ldl_exact(r)
    assert parts == [(F(2), [F(1), F(1, 2)]), (F(3, 2), [F(0), F(1)])]
    assert ldl_exact([[F(1), F(2)], [F(2), F(1)]]) is None


def test_the_page_makes_its_latex_from_the_record_read_with_the_safe_grammar(z3_withheld):
    # an imported events file may carry any text: its own LaTeX fields never reach the page, and
    # a part that does not read as an expression is shown as escaped text
    import dataclasses

    s = _sos_run(SCHUR_FREE)
    bad = "\\href{http://x.test}{y} <img src=x onerror=alert(1)>"
    events = []
    for e in s.state.log.events:
        if isinstance(e, ev.NodeVerified) and "certificate" in (e.detail or {}):
            rec = dict(e.detail["certificate"])
            kept = [dict(q, latex=bad) for q in rec["squares"]]
            e = dataclasses.replace(e, detail={**e.detail, "certificate": {**rec, "squares": kept}})
        events.append(e)
    md = proof_markdown(readable_proof(events))
    assert "\\left(" in md and "href" not in md and "<img" not in md
    rec["squares"][0] = dict(rec["squares"][0], square=bad)
    hostile = [dataclasses.replace(e, detail={**e.detail, "certificate": rec})
               if isinstance(e, ev.NodeVerified) and "certificate" in (e.detail or {}) else e for e in events]
    md = proof_markdown(readable_proof(hostile))
    assert "\\href" not in md.replace("\\\\href", "") and "<img" not in md.replace("\\<img", "")


def test_the_recheck_of_an_sos_close_reads_its_squares_back_instead_of_solving_it_again(z3_withheld,
                                                                                         monkeypatch):
    # under load a second SDP could miss its budget and drop a found proof (MO-INT P2 in a 30 s
    # run at load 13); the shown squares, read back and summed exactly, are the re-check
    from backend.search.lips import sos

    calls = []
    real = sos.sos_close

    def counted(*a, **k):
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(sos, "sos_close", counted)
    s = _sos_run(ABC)
    assert len(calls) == 1
    closing_check = next(c for c in s.proof_chain if c.get("close"))
    assert closing_check["ok"] and closing_check["method"].startswith("close:sos certificate")


def test_a_tampered_certificate_does_not_re_check():
    import copy

    from backend.search.lips.sos import sos_close
    from backend.search.lips.sos_cert import check_record

    p = parse_problem(ABC)
    rec = sos_close(p, p.goal, 60).certificate
    assert check_record(p, p.goal, rec)[0]
    wrong_weight = copy.deepcopy(rec)
    wrong_weight["squares"][0]["factor"] = "2*(" + rec["squares"][0]["factor"] + ")"
    wrong_constraint = copy.deepcopy(rec)
    wrong_constraint["multipliers"][0]["constraint"] = "a*b*c - 2"
    negative = copy.deepcopy(rec)
    negative["squares"].append({"factor": "-1", "square": "a - b"})
    for bad in (wrong_weight, wrong_constraint, negative):
        assert not check_record(p, p.goal, bad)[0]
