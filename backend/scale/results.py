"""Finished problems of a distributed run, one JSON line each, keyed by RunSpec and problem.

The key is the sha256 of the problem's own RunSpec (problem text, known answer, seed,
settings, model and its checksum) and the problem id, so a rerun with the same settings
skips what is done and any change of setting, model or seed runs everything again. A line
is appended and flushed to disk when its problem finishes; a line cut short by a kill is
ignored (that problem runs again).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any


def result_key(spec: Any, problem_id: str) -> str:
    """The key of one problem's result: RunSpec (``to_dict``) and problem id, hashed."""
    text = json.dumps({"spec": spec.to_dict(), "problem": problem_id}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def results_beside(report: Path) -> Path:
    """Where an eval report's finished problems are kept: ``<report>.results.jsonl``."""
    return report.with_name(report.stem + ".results.jsonl")


class ResultsFile:
    """Append-only JSON Lines of ``{"key": ..., **value}``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def finished(self) -> dict[str, dict[str, Any]]:
        """Every whole line's value by key (a later line for a key wins)."""
        if not self.path.is_file():
            return {}
        out: dict[str, dict[str, Any]] = {}
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                data = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by a kill
            if isinstance(data, dict) and isinstance(data.get("key"), str):
                out[data.pop("key")] = data
        return out

    def add(self, key: str, value: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"key": key, **value}, ensure_ascii=False) + "\n"
        if self._cut_short():
            line = "\n" + line  # after a line a kill cut short, start a new one
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())

    def _cut_short(self) -> bool:
        """Whether the file ends inside a line."""
        if not self.path.is_file() or self.path.stat().st_size == 0:
            return False
        with self.path.open("rb") as fh:
            fh.seek(-1, os.SEEK_END)
            return fh.read(1) != b"\n"
