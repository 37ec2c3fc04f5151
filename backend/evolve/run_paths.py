"""Model paths in an evolve run's records, kept relative to the run directory.

A run folder is carried between machines and checkouts (``assets/evolve-300`` is copied to
``runs/evo-300`` wherever the checkout lives), so a stage record that named its policy as
``/work/main/runs/evo-300/round-3/ppm`` would send the next round to a folder that is not
there. Records are written with paths inside the run as ``round-N/...`` (``portable``) and
read back against the folder they are in now (``anchored``); records written before this,
with absolute paths, are re-anchored from their ``round-N`` component when the old path is
gone. Paths outside the run (a ``--ppm`` or base model the user gave) are left as given.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

#: a round's folder name (``round-0``, ``round-12``): the part of a path that is the run's own
_ROUND = re.compile(r"round-\d+")
#: the stage-record keys a resumed run loads a model from
MODEL_KEYS = ("policy", "ppm", "gguf", "start_from", "value", "value_head")


def portable(record: Any, root: str | Path) -> Any:
    """``record`` with every string that is an absolute path inside ``root`` made relative to
    it (POSIX form), at any depth of dicts and lists; other values unchanged."""
    base = Path(root).resolve()

    def one(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: one(item) for key, item in value.items()}
        if isinstance(value, list):
            return [one(item) for item in value]
        if isinstance(value, str) and "\n" not in value and os.path.isabs(value):
            try:
                return Path(value).resolve().relative_to(base).as_posix()
            except ValueError:
                return value
        return value

    return one(record)


def anchored(record: dict[str, Any], root: str | Path) -> dict[str, Any]:
    """A stage record read from ``root`` with its model paths (``MODEL_KEYS``) absolute again:
    ``round-N/...`` joined to ``root``; an absolute path that no longer exists but runs through
    a ``round-N`` folder (a record from before paths were portable, or a run moved since)
    re-rooted at ``root``; anything else (``"base"``, None, a path outside the run, one with
    ``..``) as stored."""
    base = Path(root).resolve()
    out = dict(record)
    for key in MODEL_KEYS:
        value = out.get(key)
        if isinstance(value, str) and (found := _in_run(value, base)) is not None:
            out[key] = found
    return out


def _in_run(value: str, root: Path) -> str | None:
    path = Path(value)
    parts = path.parts
    if ".." in parts:  # a record that climbs out of its run is not the run's own model
        return None
    if not path.is_absolute():
        return str(root.joinpath(*parts)) if parts and _ROUND.fullmatch(parts[0]) else None
    if path.exists():
        return None
    rounds = [i for i, part in enumerate(parts) if _ROUND.fullmatch(part)]
    return str(root.joinpath(*parts[rounds[-1]:])) if rounds else None
