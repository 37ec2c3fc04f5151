"""Problem sets (backend/problems.py) and the shipped files under assets/problems/."""

import hashlib
import json
import re
from pathlib import Path

import pytest

from backend import problems
from backend.problems import DATASETS, DatasetSpec, Problem, assets_dir, dataset_names, load_problems

SHARED_DATA = Path("/work/shared/data")
MATH500_FIELDS = {"problem", "solution", "answer", "subject", "level", "unique_id"}


def _write(path: Path, *lines: str) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


# -- shipped sets ---------------------------------------------------------------------------


def test_registered_sets_exist_under_assets():
    assert dataset_names() == sorted(DATASETS)
    assert {"gsm8k", "math500"} <= set(dataset_names())
    for name in ("gsm8k", "math500"):
        assert (assets_dir() / "problems" / DATASETS[name].filename).is_file()


def test_gsm8k_has_1319_problems_with_integer_gold_answers():
    gsm = load_problems("gsm8k")
    assert len(gsm) == 1319
    assert all(re.fullmatch(r"-?\d+", p.answer or "") for p in gsm)
    first = gsm[0]
    assert first.id == "gsm8k/0" and first.dataset == "gsm8k" and first.answer == "18"
    assert first.question.startswith("Janet")
    assert first.meta["solution"].endswith("#### 18")
    assert len({p.id for p in gsm}) == 1319
    # thousands separators in "#### 1,600"-style golds are removed
    raw = [json.loads(line) for line in (assets_dir() / "problems/gsm8k_test.jsonl").open()]
    with_commas = [i for i, r in enumerate(raw) if "," in r["answer"].rsplit("####", 1)[1]]
    assert with_commas and all("," not in gsm[i].answer for i in with_commas)


def test_math500_keeps_all_500_records_and_their_fields():
    path = assets_dir() / "problems" / "math500_test.jsonl"
    records = [json.loads(line) for line in path.open(encoding="utf-8")]
    assert len(records) == 500
    assert all(set(r) == MATH500_FIELDS for r in records)
    loaded = load_problems("math500")
    assert len(loaded) == 500
    for record, p in zip(records, loaded, strict=True):
        assert {"problem": p.question, "answer": p.answer, **p.meta} == record
        assert p.id == f"math500/{record['unique_id']}"
    assert loaded[0].id == "math500/test/precalculus/807.json"
    assert {p.meta["level"] for p in loaded} == {1, 2, 3, 4, 5}


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="needs the shared source data")
@pytest.mark.parametrize(
    "name", ["gsm8k_test.jsonl", "math500_test.jsonl", "LICENSE.gsm8k", "LICENSE.math500"]
)
def test_shipped_files_are_byte_identical_to_their_sources(name):
    assert (assets_dir() / "problems" / name).read_bytes() == (SHARED_DATA / name).read_bytes()


def test_math500_file_matches_the_prm800k_checksum():
    data = (assets_dir() / "problems" / "math500_test.jsonl").read_bytes()
    assert len(data) == 446_564
    assert hashlib.sha256(data).hexdigest().startswith("35dc4108")


def test_licenses_cover_every_shipped_set():
    text = (assets_dir() / "problems" / "LICENSES.md").read_text(encoding="utf-8")
    for needle in ("gsm8k_test.jsonl", "3101c7d", "math500_test.jsonl", "cf1c785", "NeqLIPS", "ad657df"):
        assert needle in text
    assert text.count("MIT License") >= 3


def test_limit_keeps_the_first_n():
    assert [p.id for p in load_problems("gsm8k", limit=3)] == ["gsm8k/0", "gsm8k/1", "gsm8k/2"]
    assert load_problems("math500", limit=0) == []
    assert len(load_problems("math500", limit=10_000)) == 500
    with pytest.raises(ValueError, match="limit must be >= 0"):
        load_problems("gsm8k", limit=-1)


def test_start_skips_problems_and_ids_keep_their_place():
    assert [p.id for p in load_problems("gsm8k", limit=2, start=5)] == ["gsm8k/5", "gsm8k/6"]
    tail = load_problems("mo-int", start=15)
    assert [p.id for p in tail] == [p.id for p in load_problems("mo-int")[15:]] and len(tail) == 5
    assert load_problems("gsm8k", start=5, limit=1)[0] == load_problems("gsm8k", limit=6)[5]
    with pytest.raises(ValueError, match="start must be >= 0"):
        load_problems("gsm8k", limit=1, start=-1)


def test_problem_is_frozen_and_hashable():
    p = load_problems("gsm8k", limit=1)[0]
    with pytest.raises(AttributeError):
        p.answer = "19"  # type: ignore[misc]
    assert hash(p) == hash(Problem(p.id, p.dataset, p.question, p.answer, meta={}))


# -- loading a path -------------------------------------------------------------------------


def test_path_with_problem_and_question_fields(tmp_path):
    path = _write(
        tmp_path / "mine.jsonl",
        json.dumps({"problem": "What is 1+1?", "answer": "2", "level": 1}),
        "",
        json.dumps({"question": "Half of 3?", "answer": "#### 1.5", "id": "q7"}),
        json.dumps({"question": "No gold here"}),
        json.dumps({"problem": "Numeric gold", "answer": 18}),
    )
    got = load_problems(str(path))
    assert [p.id for p in got] == ["mine/0", "mine/q7", "mine/2", "mine/3"]
    assert {p.dataset for p in got} == {"mine"}
    assert got[0].question == "What is 1+1?" and got[0].answer == "2" and got[0].meta == {"level": 1}
    assert got[1].answer == "1.5" and got[1].meta == {"id": "q7", "solution": "#### 1.5"}
    assert got[2].answer is None
    assert got[3].answer == "18"
    assert load_problems(str(path), limit=1) == got[:1]


def test_a_new_set_is_one_dict_entry(tmp_path, monkeypatch):
    problems_dir = tmp_path / "problems"
    problems_dir.mkdir()
    _write(problems_dir / "tiny.jsonl", json.dumps({"problem": "a+b >= 2 sqrt(ab)"}))
    monkeypatch.setattr(problems, "assets_dir", lambda: tmp_path)
    monkeypatch.setitem(DATASETS, "tiny", DatasetSpec("tiny.jsonl", "one inequality"))
    assert "tiny" in dataset_names()
    [p] = load_problems("tiny")
    assert p.id == "tiny/0" and p.answer is None


def test_inequality_sets_are_registered_once_and_read_both_ways():
    """One catalogue: canopy eval reads an inequality set as Problems, LIPS as Inequalities."""
    from backend.search.lips.problems import PROBLEM_SETS, load_inequalities

    assert problems.inequality_sets() == PROBLEM_SETS
    assert set(PROBLEM_SETS) == {"ineq-easy", "ineq-false", "mo-int", "chen-no"}
    for name in PROBLEM_SETS:
        as_problems, as_inequalities = load_problems(name), load_inequalities(name)
        assert [p.id for p in as_problems] == [f"{name}/{q.id}" for q in as_inequalities]
        assert {p.answer for p in as_problems} == {"refuted" if name == "ineq-false" else "proved"}
        assert [p.question for p in as_problems] == [q.statement.strip() for q in as_inequalities]


# -- errors ---------------------------------------------------------------------------------


def test_unknown_name_suggests_a_close_match():
    with pytest.raises(ValueError) as err:
        load_problems("gsm8i")
    choices = ", ".join(dataset_names())
    assert {"gsm8k", "math500"} <= set(dataset_names())
    assert str(err.value) == f"unknown dataset 'gsm8i'; did you mean 'gsm8k'? choices: {choices}"
    with pytest.raises(ValueError) as err:
        load_problems("zzz")
    assert str(err.value) == f"unknown dataset 'zzz'; choices: {choices}"


def test_missing_file(tmp_path):
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(ValueError, match=f"problem file not found: {re.escape(str(missing))}"):
        load_problems(str(missing))


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['{"problem": "ok"}', '{"problem": "broken"'], r":2: invalid JSON: Expecting ',' delimiter"),
        (['{"problem": "ok"}', "[1, 2]"], r":2: expected a JSON object, got list"),
        (['{"text": "hi"}'], r":1: record has neither 'problem' nor 'question' \(fields: text\)"),
        (['{"problem": "   "}'], r":1: 'problem' is empty or not a string"),
        (['{"question": ""}'], r":1: 'question' is empty or not a string"),
        (['{"question": 5}'], r":1: 'question' is empty or not a string"),
    ],
)
def test_bad_records_name_file_and_line(tmp_path, lines, message):
    path = _write(tmp_path / "bad.jsonl", *lines)
    with pytest.raises(ValueError, match=re.escape(str(path)) + message):
        load_problems(str(path))
