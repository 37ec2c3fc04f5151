"""The problem catalogue: every shipped set (GSM8K, MATH-500, the LIPS inequality sets) and
any JSONL file of problems.

The CLI, the UI's problem picker and the bench all load problems through ``load_problems``,
so one place decides ids, gold answers and error messages. File format and licenses:
docs/PROBLEMS.md and assets/problems/LICENSES.md.

Registering a set is one ``DATASETS`` entry: a file under ``assets/problems/`` plus, when
its records are not ``{"problem"|"question", "answer", ...}`` JSON lines, a record parser
and/or a reader (e.g. one that turns Lean theorems into records). The inequality sets are
registered here once; LIPS reads the same files as ``Inequality`` objects
(``backend/search/lips/problems.py: load_inequalities``, which takes its set names from
``inequality_sets()``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backend.names import unknown_name_error
from backend.paths import assets_dir
from backend.verify.answers import gold_answer


@dataclass(frozen=True)
class Problem:
    """One problem to search on; ``meta`` carries everything else the record held."""

    id: str  # "<dataset>/<unique_id or id or line index>", e.g. "gsm8k/0"
    dataset: str
    question: str
    answer: str | None  # the gold final answer ("#### 18" -> "18"); None when unknown
    meta: dict[str, Any] = field(default_factory=dict, hash=False)  # solution, subject, level ...


# (record, dataset name, 0-based index among records) -> Problem
RecordParser = Callable[[Mapping[str, Any], str, int], Problem]
# file -> (1-based line number, record) pairs; raises ValueError with file:line on bad input
RecordReader = Callable[[Path], Iterator[tuple[int, Any]]]

_QUESTION_FIELDS = ("problem", "question")
_ID_FIELDS = ("unique_id", "id")


def parse_record(record: Mapping[str, Any], dataset: str, index: int) -> Problem:
    """The default parser: ``problem`` or ``question``, optional ``answer``, rest -> meta.

    A GSM8K-style answer (worked solution ending in ``#### N``) becomes the gold ``N`` and
    the full text is kept as ``meta["solution"]``. The id uses ``unique_id`` or ``id`` when
    the record has one (MATH-500's ``test/precalculus/807.json``), else the record index.
    Raises ValueError (without the file position; the loader adds it).
    """
    key = next((k for k in _QUESTION_FIELDS if k in record), None)
    if key is None:
        raise ValueError(f"record has neither 'problem' nor 'question' (fields: {', '.join(record)})")
    question = record[key]
    if not isinstance(question, str) or not question.strip():
        raise ValueError(f"'{key}' is empty or not a string")
    meta = {k: v for k, v in record.items() if k not in (key, "answer")}
    raw_answer = record.get("answer")
    answer: str | None = None
    if raw_answer is not None and str(raw_answer).strip():
        answer = gold_answer(str(raw_answer), dataset)
        if "####" in str(raw_answer):
            meta.setdefault("solution", str(raw_answer))
    local_id = next((str(record[k]) for k in _ID_FIELDS if record.get(k) not in (None, "")), str(index))
    return Problem(id=f"{dataset}/{local_id}", dataset=dataset, question=question, answer=answer, meta=meta)


def read_jsonl(path: Path) -> Iterator[tuple[int, Any]]:
    """Yield (line number, JSON value) for each non-blank line; malformed JSON -> ValueError."""
    with path.open(encoding="utf-8") as lines:
        for lineno, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                yield lineno, json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}:{lineno}: invalid JSON: {err.msg} (column {err.colno})") from None


@dataclass(frozen=True)
class DatasetSpec:
    """Where a registered set lives and how to read it."""

    filename: str  # relative to assets/problems/
    about: str = ""  # one line for --help and the UI picker
    parse: RecordParser = parse_record
    read: RecordReader = read_jsonl


def inequality_record(record: Mapping[str, Any], dataset: str, index: int) -> Problem:
    """An inequality set's record as a Problem (``canopy eval --dataset ineq-easy --algo lips``).

    The question is the plain statement the LIPS search parses; the gold answer is "proved"
    (true sets) or "refuted" (``ineq-false``): a false inequality counts as right only when the
    run finds it false, and a run that proves it is wrong. No sympy here: listing and loading
    sets stays cheap.
    """
    statement = record.get("statement")
    if not isinstance(statement, str) or not statement.strip():
        raise ValueError(f"{dataset} record {index}: no statement")
    local_id = str(record.get("id", index))
    answer = "refuted" if "false" in dataset else "proved"
    meta = {k: v for k, v in record.items() if k not in ("statement", "id")}
    return Problem(
        id=f"{dataset}/{local_id}", dataset=dataset, question=statement.strip(), answer=answer, meta=meta
    )


DATASETS: dict[str, DatasetSpec] = {
    "gsm8k": DatasetSpec("gsm8k_test.jsonl", "GSM8K test: 1,319 grade-school word problems (MIT)"),
    "gsm8k-train": DatasetSpec(
        "gsm8k_train.jsonl", "GSM8K train: 7,473 problems, for PPM training and self-evolution only (MIT)"
    ),
    "math500": DatasetSpec("math500_test.jsonl", "MATH-500: 500 competition problems, levels 1-5 (MIT)"),
    "ineq-easy": DatasetSpec("ineq_easy.jsonl", "LIPS: 25 textbook inequalities", inequality_record),
    "ineq-false": DatasetSpec("ineq_false.jsonl", "LIPS: 12 false inequalities", inequality_record),
    "mo-int": DatasetSpec("ineq_mo_int.jsonl", "LIPS: NeqLIPS MO-INT, 20 (MIT)", inequality_record),
    "chen-no": DatasetSpec("ineq_chen_no.jsonl", "LIPS: NeqLIPS ChenNO, 42 (MIT)", inequality_record),
}


def dataset_names() -> list[str]:
    """Registered dataset names, sorted."""
    return sorted(DATASETS)


def inequality_sets() -> dict[str, str]:
    """Name -> file (under ``assets/problems/``) of every registered inequality set."""
    return {name: spec.filename for name, spec in DATASETS.items() if spec.parse is inequality_record}


def _looks_like_path(name_or_path: str) -> bool:
    return name_or_path.endswith(".jsonl") or "/" in name_or_path or "\\" in name_or_path


def _resolve(name_or_path: str) -> tuple[str, Path, DatasetSpec]:
    spec = DATASETS.get(name_or_path)
    if spec is not None:
        return name_or_path, assets_dir() / "problems" / spec.filename, spec
    path = Path(name_or_path).expanduser()
    if not _looks_like_path(name_or_path) and not path.is_file():
        raise unknown_name_error("dataset", name_or_path, DATASETS)
    return path.stem, path, DatasetSpec(filename=str(path))


def load_problems(name_or_path: str, limit: int | None = None, start: int = 0) -> list[Problem]:
    """Load a registered set (``dataset_names()``) or a ``.jsonl`` file, in file order.

    ``start`` skips the first K problems (their ids keep their place in the file, so problem
    ``gsm8k-120`` is the same problem with or without ``start``); ``limit`` keeps the next N
    (reading stops there). Every failure is a
    ValueError that says what is wrong and where: unknown names (with a close match and
    the choices), missing files, malformed JSON and bad records (``file:line``).
    """
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0 or None, got {limit}")
    if start < 0:
        raise ValueError(f"start must be >= 0, got {start}")
    dataset, path, spec = _resolve(name_or_path)
    if not path.is_file():
        raise ValueError(f"problem file not found: {path}")
    problems: list[Problem] = []
    if limit == 0:
        return problems
    index = 0
    for lineno, record in spec.read(path):
        if not isinstance(record, Mapping):
            raise ValueError(f"{path}:{lineno}: expected a JSON object, got {type(record).__name__}")
        try:
            problem = spec.parse(record, dataset, index)
        except ValueError as err:
            raise ValueError(f"{path}:{lineno}: {err}") from None
        index += 1
        if index <= start:
            continue
        problems.append(problem)
        if limit is not None and len(problems) >= limit:
            break
    return problems
