"""SOS closer: a float SDP, then an exact rational certificate; nothing is proved on floats."""

import dataclasses
import time
from fractions import Fraction

import pytest
import sympy as sp

from backend.search.lips.closing import CloseConfig, close_goal
from backend.search.lips.problem import parse_problem
from backend.search.lips.sos import sos_close
from backend.search.lips.sos_form import NO_HOMOGENISING, polynomial_form
from backend.search.lips.sos_gram import psd_exact
from backend.search.lips.sos_mult import Certificate, multiplier_certificate

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


@pytest.mark.parametrize(
    "text",
    [
        "a,b,c >= 0; prove a^3+b^3+c^3 >= sqrt(2)*a*b*c",  # raised AttributeError ('Mul' has no .p)
        "a,b,c >= 0; prove a^3+b^3+c^3 >= exp(1)*a*b*c",
        "a,b >= 0; a*b = sqrt(2); prove a^2+b^2 >= 2",  # homogenised with the constraint
        "a,b,c >= 0; a*b*c = sqrt(2); prove a^2+b^2+c^2 >= 2",  # the equality multipliers' path
    ],
)
def test_irrational_coefficients_are_declined_with_why_not_crashed(text):
    p = parse_problem(text)
    r = sos_close(p, p.goal)
    assert r.status == "unknown" and "irrational coefficients" in r.detail


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


ABC = "a,b,c > 0; a*b*c = 1; prove a^2 + b^2 + c^2 >= a + b + c"


MO_INT_P6 = ("a,b,c > 0; a*b*c = 1; "
             "prove 3/4 <= a^3/((1 + b)*(1 + c)) + b^3/((1 + a)*(1 + c)) + c^3/((1 + a)*(1 + b))")


@pytest.mark.parametrize("text", [ABC, MO_INT_P6])
def test_sos_under_abc_equals_one_uses_an_equality_multiplier(text):
    # abc = 1 cannot homogenise goals of degrees 2 and 1 (or 4, 3, 2, 1): only a multiplier for
    # abc - 1 helps (MO-INT P6, from the IMO 1998 shortlist, is proved at the root this way)
    p = parse_problem(text)
    assert polynomial_form(p, p.goal) == NO_HOMOGENISING
    r = sos_close(p, p.goal, 60)
    assert r.status == "proved" and "equality multipliers" in r.detail, r.detail


def test_the_multiplier_certificate_is_an_exact_identity_checked_here_in_sympy():
    p = parse_problem(ABC)
    cert = multiplier_certificate(p, p.goal, time.perf_counter() + 60)
    assert isinstance(cert, Certificate), cert
    # rebuilt here from the problem, not from the certificate's own fields: a, b, c = x^2, y^2, z^2
    x, y, z = (sp.Symbol(f"{n}_sq", real=True) for n in "abc")
    target = x**4 + y**4 + z**4 - x**2 - y**2 - z**2
    constraint = x**2 * y**2 * z**2 - 1
    assert set(cert.gens) == {x, y, z}
    sigma = sp.S.Zero
    for block in cert.blocks:
        gram = sp.Matrix([[sp.Rational(v.numerator, v.denominator) for v in row] for row in block.gram])
        assert all(isinstance(v, sp.Rational) for v in gram)  # rationals, no floats
        assert gram.is_positive_semidefinite
        mons = sp.Matrix([sp.Mul(*[g**e for g, e in zip(cert.gens, m, strict=True)]) for m in block.basis])
        w = sp.Matrix([sum(c * mv for c, mv in zip(col, mons, strict=True)) for col in block.face])
        sigma += (w.T * gram * w)[0, 0]
    (lam,) = cert.multipliers
    assert sp.expand(target + lam * constraint - sigma) == 0
    # and the certificate's own check refuses a tampered multiplier
    forged = dataclasses.replace(cert, multipliers=(lam + 1,))
    assert cert.verify() and not forged.verify()


def test_a_false_goal_under_abc_equals_one_gets_no_certificate():
    p = parse_problem("a,b,c > 0; a*b*c = 1; prove a^2 + b^2 + c^2 >= 4")  # a = b = c = 1: 3 < 4
    assert sos_close(p, p.goal, 30).status == "unknown"


def test_sos_beside_z3_keeps_the_sequential_answer():
    # SOS may run while z3 works, but a goal z3 decides is z3's, with no SOS attempt listed
    p = parse_problem("a, b > 0; prove (a + b)/2 >= sqrt(a*b)")  # not polynomial: SOS cannot, z3 can
    r = close_goal(p, p.goal, config=CloseConfig(minimise_starts=0))
    assert r.proved and r.method == "z3"
    assert [a.method for a in r.attempts] == ["points", "positivity", "univariate", "z3"]
