"""The docs point at code that exists: docs/ALGORITHMS.md maps each paper mechanism to its file
and its test, docs/ARCHITECTURE.md names every module; a renamed test or a moved file leaves
them pointing at nothing (ALGORITHMS.md named a self-consistency test renamed long before)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: docs that describe the code as it is (the others also tell history: "then assets/ppm-study")
CURRENT = ("docs/ALGORITHMS.md", "docs/ARCHITECTURE.md")
TEST_NAME = re.compile(r"`[^`\n]*?\b(test_[a-z0-9_]+)\b[^`\n]*`")
#: names from the papers' official code that the docs quote, not Canopy tests (NeqLIPS's
#: scaler keeps its counterexamples in ``test_cases``: docs/LIPS.md)
OFFICIAL_NAMES = {"test_cases"}
CODE_PATH = re.compile(r"`((?:backend|ui|tests|bench)/[A-Za-z0-9_./-]+?)(?:::[A-Za-z0-9_]+)?[.,:;]?`")


def _defined_tests() -> set[str]:
    names = set()
    for path in (ROOT / "tests").rglob("*.py"):
        names.add(path.stem)
        text = path.read_text(encoding="utf-8")
        names.update(re.findall(r"^\s*(?:async )?def (test_[a-z0-9_]+)", text, re.M))
    return names


def _docs() -> list[Path]:
    return [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]


@pytest.mark.parametrize("doc", _docs(), ids=lambda p: p.name)
def test_every_test_a_doc_names_exists(doc):
    defined = _defined_tests()
    named = {m.group(1) for m in TEST_NAME.finditer(doc.read_text(encoding="utf-8"))}
    assert sorted(named - defined - OFFICIAL_NAMES) == []


@pytest.mark.parametrize("doc", CURRENT)
def test_every_file_the_current_docs_name_exists(doc):
    text = (ROOT / doc).read_text(encoding="utf-8")
    cited = {m.group(1).rstrip("/.") for m in CODE_PATH.finditer(text)}
    assert cited, f"{doc} names no file: the pattern no longer reads it"
    missing = sorted(p for p in cited if not (ROOT / p).exists() and not any(c in p for c in "*{<"))
    assert missing == []
