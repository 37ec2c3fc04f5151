"""Preference pairs as JSON Lines: one dataclass per line, read back with a clear error."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

P = TypeVar("P")


def write_pairs(pairs: Iterable[Any], path: str | Path) -> int:
    """Write dataclass pairs, one JSON object per line; returns how many."""
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for p in pairs:
            f.write(json.dumps(dataclasses.asdict(p), ensure_ascii=False) + "\n")
            n += 1
    return n


def read_pairs(path: str | Path, cls: type[P]) -> list[P]:
    """Read pairs written by ``write_pairs``; a line that is not a ``cls`` names its number."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    out: list[P] = []
    with open(path, encoding="utf-8") as f:
        for k, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if set(row) != names:
                    raise ValueError(f"fields {sorted(row)}, expected {sorted(names)}")
                out.append(cls(**row))
            except (json.JSONDecodeError, ValueError, TypeError) as exc:
                raise ValueError(f"{path}:{k}: not a {cls.__name__} pair ({exc})") from exc
    return out
