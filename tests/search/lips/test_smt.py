"""z3 queries have hard time limits, and "unknown" never counts as a proof or a pass."""

import time

import pytest

from backend.search.lips import smt, z3process, z3terms
from backend.search.lips.closing import CloseConfig, close_goal
from backend.search.lips.filtering import FilterConfig, check_step
from backend.search.lips.numeric import PointCache
from backend.search.lips.problem import Goal, parse_problem
from backend.search.lips.problems import load_inequalities


def _hard_query():
    p = {q.id: q for q in load_inequalities("mo-int")}["mo-int-P1"]
    return p, [(c.expr, c.rel) for c in p.constraints] + [(p.goal.rhs - p.goal.lhs, "<")]


def test_a_query_that_ignores_its_soft_timeout_is_killed_at_the_hard_limit():
    p, facts = _hard_query()
    smt.solve(("a",), [(p.symbols["a"], ">")], 1.0)  # worker started beforehand
    t0 = time.perf_counter()
    # z3 gets no timeout at all (a z3 that ignores it): only the hard limit can stop it
    r = smt.solve(p.variables, facts, 1.0, soft_timeout=False)
    wall = time.perf_counter() - t0
    assert r.status == "unknown" and "hard time limit" in r.reason
    assert wall < smt.hard_limit_s(1.0) + 1.0, wall
    # the next query gets a fresh worker and a real answer
    q = parse_problem("a, b > 0; prove a^2 + b^2 >= 2*a*b")
    r2 = smt.find_counterexample(q, q.goal.rhs - q.goal.lhs, 3.0)
    assert r2.status == "unsat"
    r3 = smt.find_counterexample(q, q.goal.lhs - q.goal.rhs, 3.0)
    assert r3.status == "sat" and set(r3.point()) == {"a", "b"}


def test_soft_timeout_gives_unknown_well_within_the_hard_limit():
    p, facts = _hard_query()
    t0 = time.perf_counter()
    r = smt.solve(p.variables, facts, 0.3)
    assert r.status == "unknown"
    assert time.perf_counter() - t0 < smt.hard_limit_s(0.3) + 1.0


@pytest.fixture
def every_query_killed(monkeypatch):
    monkeypatch.setattr(smt, "hard_limit_s", lambda timeout_s: 0.0)


def test_unknown_never_proves_a_goal(every_query_killed):
    p = parse_problem("a, b > 0; prove (a + b)/2 >= sqrt(a*b)")  # only z3 proves this one
    r = close_goal(p, p.goal, config=CloseConfig(minimise_starts=0))
    assert r.status == "unknown" and not r.proved
    z3_try = [a for a in r.attempts if a.method == "z3"]
    assert z3_try and z3_try[0].status == "unknown" and "hard time limit" in z3_try[0].detail


def test_unknown_never_passes_a_step(every_query_killed):
    p = parse_problem("a, b > 0; prove a + b >= 2*sqrt(a*b)")
    a, b = p.symbols["a"], p.symbols["b"]
    # 2 sqrt(ab) <= (a + b): replacing the lhs by a+b is sound, but only z3 could show it here
    new = Goal(a + b, p.goal.rhs)
    r = check_step(p, p.goal, new)
    assert r.status == "unknown" and not r.new_goal_proved
    assert r.status != "passed"


def test_a_finished_threads_worker_is_stopped():
    import gc
    import threading

    p = parse_problem("a > 0; prove a >= 0")
    procs = []

    def job():
        smt.solve(p.variables, [(p.symbols["a"], ">")], 1.0)
        procs.append(z3process._local.workers[0].proc)

    t = threading.Thread(target=job)
    t.start()
    t.join()
    gc.collect()
    assert procs and procs[0].poll() is not None  # killed and reaped with its thread


def test_searches_in_several_threads_build_z3_terms_without_corrupting_each_other():
    # the web app runs several LIPS searches at once; in z3's shared default context two threads
    # building terms together broke each other's ("Value cannot be converted into a Z3 Boolean")
    import threading

    problem = parse_problem("a, b, c > 0; prove (a^2+b^2+c^2)^3 >= 27*a^2*b^2*c^2")
    facts = [*smt.constraint_facts(problem), (problem.goal.diff, ">")]
    errors: list[BaseException] = []
    answers: list[str] = []

    def work() -> None:
        try:
            for _ in range(15):
                tr = z3terms.Translator(problem.variables)
                for e, r in facts * 20:  # enough term building to interleave with the others
                    tr.rel(e, r)
                answers.append(smt.solve(problem.variables, facts, 5.0).status)
        except BaseException as exc:  # the test reports whatever a thread hit
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert answers and set(answers) <= {"unsat", "unknown"} and "unsat" in answers


def test_queries_on_two_slots_run_at_once_and_each_gets_its_own_answer():
    p, facts = _hard_query()
    hard = smt.submit(p.variables, facts, 2.0, slot=0)  # z3 works on it for about 2 s
    q = parse_problem("a, b > 0; prove a^2 + b^2 >= 2*a*b")
    easy = smt.submit_counterexample(q, q.goal.lhs - q.goal.rhs, 3.0, slot=1)  # a != b: sat
    assert easy.result().status == "sat"
    assert not hard.ready(0.0)  # the easy answer did not wait behind the hard query
    assert hard.result().status == "unknown"
    assert z3process._local.workers[0].proc.pid != z3process._local.workers[1].proc.pid


def test_a_step_refuted_by_z3_leaves_no_stale_answer_in_the_implication_worker():
    # no test points: z3 refutes the new goal while the implication query (sat) runs beside it
    p = parse_problem("a, b > 0; prove a*b <= a^2 + b^2")
    a, b = p.symbols["a"], p.symbols["b"]
    new = Goal(a * b, 2 * b - a)  # false at a = b = 2; the claim a^2 + b^2 - 2b + a >= 0 is false too
    r = check_step(p, p.goal, new, PointCache(), FilterConfig(n_points=0, refute_timeout_s=3.0))
    assert (r.status, r.kind, r.method) == ("counterexample", "new_goal_false", "z3")
    # the next query on the implication's worker gets its own answer, not the implication's "sat"
    contradiction = smt.submit(p.variables, [(a, ">"), (a, "<")], 3.0, slot=1).result()
    assert contradiction.status == "unsat"


@pytest.mark.parametrize(("text", "status"), [
    ("a, b > 0; prove Max(a, b) >= (a + b)/2", "unsat"),  # was "cannot encode Max": no proof at all
    ("x real; prove Min(x, 1, x^2) <= 1", "unsat"),
    ("a, b > 0; prove Min(a, b) >= Max(a, b)", "sat"),  # false: z3 finds a counterexample
])
def test_max_and_min_are_encoded_exactly(text, status):
    q = parse_problem(text)
    r = smt.find_counterexample(q, q.goal.rhs - q.goal.lhs, 3.0)
    assert r.status == status, r
