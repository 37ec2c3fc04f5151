"""The scaling-lemma engine, one lemma family at a time: where it applies, the known stronger goal
comes out; where it does not, nothing does."""

import pytest
import sympy as sp

from backend.search.lips.lemmas import lemma_by_name, load_lemmas
from backend.search.lips.matching import numerically_same
from backend.search.lips.problem import Goal, parse_problem
from backend.search.lips.scaling import apply_lemma, instantiate, scale_goal


def new_goals(problem_text: str, lemma: str) -> tuple:
    p = parse_problem(problem_text)
    return p, [s.new for s in apply_lemma(p.goal, lemma_by_name(lemma))]


def produces(problem_text: str, lemma: str, expected: str) -> bool:
    p, goals = new_goals(problem_text, lemma)
    want = parse_problem(f"{','.join(p.variables)} real; prove {expected}").goal
    return any(numerically_same(g.diff, want.diff) for g in goals)


def test_library_loads_all_164():
    lemmas = load_lemmas()
    assert len(lemmas) == 164
    assert {lem.direction for lem in lemmas} == {"left", "right"}
    # nine entries forget a variable in `var` (e.g. q); they are inferred, not literal symbols
    assert "q" in lemma_by_name("Muirhead_onestep_left_2vars").variables


def test_direction_semantics():
    """left: input <= output rewrites the lhs; right: input >= output rewrites the rhs."""
    p = parse_problem("a,b > 0; prove a*b <= a^2 + b^2")
    left = apply_lemma(p.goal, lemma_by_name("AM_GM_square_left_2vars"))
    right = apply_lemma(p.goal, lemma_by_name("AM_GM_square_right_2vars"))
    assert left and all(s.new.rhs == p.goal.rhs and s.side == "lhs" for s in left)
    assert right and all(s.new.lhs == p.goal.lhs and s.side == "rhs" for s in right)
    a, b = p.symbol_list
    assert Goal(a * b, 2 * a * b) in [s.new for s in right]


@pytest.mark.parametrize(("family", "problem", "lemma", "expected"), [
    ("AM-GM", "a,b>0; prove sqrt(a*b) <= a + b", "AM_GM_normal_right_2vars", "sqrt(a*b) <= 2*sqrt(a*b)"),
    ("AM-GM", "a,b>0; prove a^2*b <= a^3 + b^3", "AM_GM_cubic_left_3vars",
     "(2*a^3 + b^3)/3 <= a^3 + b^3"),
    ("AM-GM 1", "a>0; prove 2*a <= a^2 + 1", "AM_GM_square_right_2vars", "2*a <= 2*a"),
    ("Cauchy-Schwarz", "a,b,c,d real; prove 0 <= (a^2+b^2)*(c^2+d^2)", "Cauchy_Schwarz_normal_right_2vars",
     "0 <= (a*c + b*d)^2"),
    ("power mean", "a,b>0; prove a*b <= a^2 + b^2", "weighted_Power_Mean_Rgt1_right_2vars",
     "a*b <= (a+b)^2/2"),
    ("Schur", "a,b,c>0; prove 0 <= a^3+b^3+c^3+3*a*b*c", "Schur_Teq1_right_3vars",
     "0 <= a^2*b + a^2*c + b^2*a + b^2*c + c^2*a + c^2*b"),
    ("AM-HM", "a,b,c>0; prove 1 <= 1/a + 1/b + 1/c", "AM_HM_div_right_3vars", "1 <= 9/(a+b+c)"),
    ("Titu", "a,b,c,x,y,z>0; prove 0 <= a^2/x + b^2/y + c^2/z", "Titu_normal_right_3vars",
     "0 <= (a+b+c)^2/(x+y+z)"),
    ("Chebyshev", "a,b>0; prove (a^2+b^2)*(a+b) <= 4*a^3 + 4*b^3", "Chebyshev_cycle_Qeq1_left_2vars",
     "2*a^3 + 2*b^3 <= 4*a^3 + 4*b^3"),
    ("Muirhead", "a,b,c>0; prove a^2*b + b^2*c + c^2*a <= a^3+b^3+c^3", "Muirhead_Qeq1Req0_left_3vars",
     "a^3+b^3+c^3 <= a^3+b^3+c^3"),
    ("rearrangement", "a,b,c real; prove a*b+b*c+c*a <= a^2+b^2+c^2", "Rearrange_cycle_mul_right_3vars",
     "a*b+b*c+c*a <= a*b+b*c+c*a"),
    ("Jensen", "a,b>0; prove sqrt(a) + sqrt(b) <= 2*sqrt(a+b)", "Jensen_sqrt_left_2vars",
     "sqrt(2)*sqrt(a+b) <= 2*sqrt(a+b)"),
    ("Vasc", "a,b,c real; prove a^3*b + b^3*c + c^3*a <= (a^2+b^2+c^2)^2", "Vasc_left_3vars",
     "(a^2+b^2+c^2)^2/3 <= (a^2+b^2+c^2)^2"),
])
def test_family_applies(family, problem, lemma, expected):
    assert produces(problem, lemma, expected), family


@pytest.mark.parametrize(("problem", "lemma"), [
    ("a,b>0; prove 1 <= a^2 + b", "AM_GM_square_right_2vars"),  # only one square on the rhs
    ("a,b,c,d>0; prove 0 <= (a^2+b)*(c^2+d^2)", "Cauchy_Schwarz_normal_right_2vars"),
    ("a,b,c>0; prove 1 <= a + b + c", "AM_HM_div_right_3vars"),  # no reciprocals
    ("a,b,c>0; prove 1 <= a^3 + b^3 + c^3", "Schur_Teq1_right_3vars"),  # the 3abc term is missing
    ("a,b>0; prove a^2 + b^2 <= 5", "AM_GM_square_right_2vars"),  # matching side is the lhs: wrong side
    ("a,b,c>0; prove a + b + c <= 1/a + 1/b + 1/c", "AM_HM_div_left_3vars"),  # 1/(u+v+w) absent on lhs
])
def test_family_does_not_apply(problem, lemma):
    _, goals = new_goals(problem, lemma)
    assert goals == []


def test_step_record_and_script_instantiation():
    p = parse_problem("a,b,c real; prove a*b + b*c + c*a <= a^2 + b^2 + c^2")
    lem = lemma_by_name("Rearrange_cycle_mul_right_3vars")
    a, b, c = p.symbol_list
    values = {"u": a, "v": b, "w": c, "i1": 1, "j1": 0, "i2": 1, "j2": 0, "k": 1, "l": 0}
    step = instantiate(lem, values, p.goal)
    assert sp.expand(step.lemma_in - p.goal.rhs) == 0
    assert sp.expand(step.new.rhs - (a * b + b * c + c * a)) == 0
    assert step.tactic().startswith("scale Rearrange_cycle_mul_right_3vars (u := a)")
    assert step.tactic().endswith("(left := a*b + a*c + b*c)")
    with pytest.raises(ValueError, match="no value for lemma variable"):
        instantiate(lem, {"u": a}, p.goal)


def test_match_cap_counts_distinct_outputs():
    p = parse_problem("a,b,c,d>0; prove 0 <= a^2+b^2+c^2+d^2")
    steps = apply_lemma(p.goal, lemma_by_name("AM_GM_square_right_2vars"))
    assert len(steps) == 6  # C(4,2) pairs; the u<->v swap gives the same goal and is not repeated


def test_a_kept_side_is_matched_once(monkeypatch):
    # a scaling step changes one side; expanding its new goal used to match the kept side
    # against every lemma again
    from backend.search.lips import scaling

    calls: list[object] = []
    real = scaling.match_lemma_side

    def counting(lemma, side, config):
        calls.append(side)
        return real(lemma, side, config)

    monkeypatch.setattr(scaling, "match_lemma_side", counting)
    monkeypatch.setattr(scaling, "_MATCHES", {})
    p = parse_problem("a,b,c > 0; prove a^2+b^2+c^2 >= a*b+b*c+c*a")
    root = scaling.scale_goal(p.goal).steps
    step = next(s for s in root if s.direction == "left")  # the rhs is kept
    assert calls and step.new.rhs == p.goal.rhs
    calls.clear()
    again = scaling.scale_goal(step.new).steps
    assert calls and p.goal.rhs not in calls  # only the new lhs was matched
    monkeypatch.setattr(scaling, "_MATCHES", {})
    assert [s.new.key() for s in scaling.scale_goal(step.new).steps] == [s.new.key() for s in again]


def test_scaling_can_be_stopped_between_lemmas():
    # a search's stop check runs before each lemma: a large goal's scaling (tens of seconds on
    # MO-INT P4) no longer runs past the time limit
    p = parse_problem("a, b, c > 0; prove a^2 + b^2 + c^2 >= a*b + b*c + c*a")
    calls = []

    def between() -> None:
        calls.append(1)
        if len(calls) > 3:
            raise TimeoutError("stop")

    with pytest.raises(TimeoutError):
        scale_goal(p.goal, between=between)
    assert len(calls) == 4
