"""SOS closer: a float SDP, then an exact rational certificate; nothing is proved on floats."""

from fractions import Fraction

import pytest

from backend.search.lips.closing import CloseConfig, close_goal
from backend.search.lips.problem import parse_problem
from backend.search.lips.sos import sos_close
from backend.search.lips.sos_form import polynomial_form
from backend.search.lips.sos_gram import psd_exact

pytest.importorskip("cvxpy")


def test_exact_psd_test():
    f = Fraction
    assert psd_exact([[f(1), f(1)], [f(1), f(1)]])
    assert not psd_exact([[f(1), f(2)], [f(2), f(1)]])
    assert not psd_exact([[f(0), f(1)], [f(1), f(1)]])
    # PSD up to 1e-12 is not PSD
    assert not psd_exact([[f(1), f(1)], [f(1), f(1) - f(1, 10**12)]])


@pytest.mark.parametrize(
    "text",
    [
        "a,b > 0; prove a^2+b^2 >= 2*a*b",
        "a,b,c > 0; prove a/(b+c) + b/(c+a) + c/(a+b) >= 3/2",  # Nesbitt: squares + denominators
        "a,b,c > 0; a+b+c = 3; prove a^2+b^2+c^2 >= 3",  # homogenised with the constraint
        "x, y real; prove x^4 + y^4 >= x^3*y + x*y^3",
    ],
)
def test_true_polynomial_goals_get_an_exact_certificate(text):
    p = parse_problem(text)
    r = sos_close(p, p.goal)
    assert r.status == "proved" and "exact Gram matrix" in r.detail, r.detail


@pytest.mark.parametrize(
    "text",
    [
        "a,b > 0; prove a^2 + b^2 >= 3*a*b",  # false
        "x, y real; prove x^4*y^2 + x^2*y^4 + 1 >= 3*x^2*y^2",  # Motzkin: true, but not a sum of squares
        "a,b > 0; prove a + b >= 2*sqrt(a*b)",  # not a polynomial
    ],
)
def test_no_certificate_no_proof(text):
    p = parse_problem(text)
    assert sos_close(p, p.goal).status == "unknown"


def test_polynomial_form_writes_nonnegative_variables_as_squares():
    p = parse_problem("a,b > 0; prove a + b >= 2*a*b/(a+b)")
    poly, how = polynomial_form(p, p.goal)
    assert poly.total_degree() == 4 and "squares" in how


def test_close_goal_uses_sos_after_z3():
    p = parse_problem("a,b,c > 0; prove a/(b+c) + b/(c+a) + c/(a+b) >= 3/2")
    r = close_goal(p, p.goal, config=CloseConfig(z3_timeout_s=0.001, minimise_starts=0))
    assert r.proved and r.method == "sos"
    off = close_goal(p, p.goal, config=CloseConfig(z3_timeout_s=0.001, minimise_starts=0, sos_timeout_s=0))
    assert not off.proved
