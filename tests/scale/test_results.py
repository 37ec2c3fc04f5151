"""The results file of a distributed run: keys change with anything the run is made of, and a
line cut short by a kill is ignored (that problem runs again)."""

from __future__ import annotations

from backend.runspec import RunSpec
from backend.scale.results import ResultsFile, result_key, results_beside


def test_the_key_is_the_problems_spec_and_id():
    spec = RunSpec(problem="Add 2 and 3.", engine="scripted", model="rules.json", reference="5")
    key = result_key(spec, "six/0")
    assert key == result_key(RunSpec.from_dict(spec.to_dict()), "six/0")
    changed = [spec.fork(seed=1), spec.fork(model="other.json"), spec.fork(config={"rollouts": 3}),
               spec.fork(reference="6"), spec.fork(problem="Add 2 and 4.")]
    assert len({key, result_key(spec, "six/1"), *(result_key(s, "six/0") for s in changed)}) == 7


def test_a_line_cut_short_is_ignored_and_a_later_line_wins(tmp_path):
    path = results_beside(tmp_path / "r.json")
    assert path.name == "r.results.jsonl"
    kept = ResultsFile(path)
    kept.add("a", {"row": {"answer": "1"}})
    kept.add("b", {"row": {"answer": "2"}})
    kept.add("a", {"row": {"answer": "3"}})
    with path.open("a", encoding="utf-8") as fh:
        fh.write('{"key": "c", "row": {"ans')  # killed mid-write
    assert kept.finished() == {"a": {"row": {"answer": "3"}}, "b": {"row": {"answer": "2"}}}
    kept.add("d", {"row": {"answer": "4"}})  # the next run's line is not glued to the broken one
    assert kept.finished()["d"] == {"row": {"answer": "4"}} and "c" not in kept.finished()
