"""The JSONL inequality sets and their loader."""

import json

import pytest

from backend.search.lips.lean import parse_lean_file
from backend.search.lips.problems import ASSETS, PROBLEM_SETS, load_inequalities

FIELDS = {"id", "statement", "variables", "constraints", "lhs", "rhs", "source", "reference_proof"}


@pytest.mark.parametrize(("name", "count"), [("ineq-easy", 25), ("ineq-false", 12), ("mo-int", 20),
                                             ("chen-no", 42)])
def test_sets_load(name, count):
    problems = load_inequalities(name)
    assert len(problems) == count
    assert len({p.id for p in problems}) == count
    for line in (ASSETS / PROBLEM_SETS[name]).read_text().splitlines():
        assert set(json.loads(line)) >= FIELDS


def test_lean_sets_match_the_lean_files():
    for name, file in [("mo-int", "INT_MO.lean"), ("chen-no", "Evan_chen.lean")]:
        for p, t in zip(load_inequalities(name), parse_lean_file(ASSETS / "neqlips" / file), strict=True):
            assert p.goal.diff - t.problem.goal.diff == 0
            assert [c.expr for c in p.constraints] == [c.expr for c in t.problem.constraints]
            assert p.reference_proof == t.proof


def test_unknown_set_name():
    with pytest.raises(ValueError, match="unknown inequality set 'mo_int'; did you mean 'mo-int'"):
        load_inequalities("mo_int")


def test_license_is_shipped():
    assert "MIT License" in (ASSETS / "neqlips" / "LICENSE").read_text()
