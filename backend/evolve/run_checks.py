"""The checks an evolve run's files pass before the Training tab reads them (``runs_index.py``).

Why: a run folder is a file tree the page's user may not control (a shared runs folder, a
hand-edited manifest). Every field that sizes work (``rounds``) or reaches a chart or the
summary line is checked for its type and range first, so a hostile file is an "unreadable"
run with the reason, never a stalled server or an exception that hides every other run.
"""

from __future__ import annotations

import math
from typing import Any

from backend.evolve.manifest import FORMAT, MANIFEST

#: rounds a manifest may plan (``canopy evolve --rounds`` allows 4; folders are ``round-N``, one digit)
MAX_ROUNDS = 9
#: report fields the charts draw: each a finite number or absent
CHART_FIELDS = ("heldout_greedy_accuracy", "heldout_search_accuracy", "heldout_sc_accuracy",
                "solved_in_search", "sft_examples", "ppm_pairs", "train_loss_first", "train_loss_last")


class UnreadableRun(ValueError):
    """A run directory whose files cannot be read as an evolve run (the message says why)."""


def _number(value: Any) -> bool:
    """A finite int or float (not a bool): what a count or a rate in these files is."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_manifest(manifest: Any) -> None:
    """UnreadableRun unless the fields this module and the Training tab read have the types
    ``manifest.py`` writes: a hand-edited or hostile manifest is refused before any work is sized
    by it (``rounds: 3000000`` looped over three million round folders on every poll)."""
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise UnreadableRun(f"{MANIFEST} is not an evolve manifest")
    settings = manifest.get("settings")
    if not isinstance(settings, dict):
        raise UnreadableRun(f"{MANIFEST} has no settings")
    rounds = settings.get("rounds", 0)
    if not (isinstance(rounds, int) and not isinstance(rounds, bool) and 0 <= rounds <= MAX_ROUNDS):
        raise UnreadableRun(f"{MANIFEST}: rounds is not a whole number from 0 to {MAX_ROUNDS}")
    for key in ("train_start", "test_start"):
        if key in settings and not (_number(settings[key]) and abs(settings[key]) < 10**12):
            raise UnreadableRun(f"{MANIFEST}: {key} is not a number")
    for key in ("train_problems", "test_problems"):
        if not isinstance(manifest.get(key, []), list):
            raise UnreadableRun(f"{MANIFEST}: {key} is not a list")
    models = manifest.get("models", {})
    if not isinstance(models, dict) or not isinstance(models.get("base", {}), dict):
        raise UnreadableRun(f"{MANIFEST}: models is not an object")


def check_row(row: Any, number: int, where: str = "report.json") -> None:
    """A round's report row as the charts need it: its own round number, finite numbers.
    ``where``: the file(s) the row was read from, for the message."""
    if not isinstance(row, dict) or row.get("round") != number or isinstance(row.get("round"), bool):
        raise UnreadableRun(f"round-{number}/{where} is not round {number}'s report")
    bad = [key for key in CHART_FIELDS if row.get(key) is not None and not _number(row[key])]
    if bad:
        raise UnreadableRun(f"round-{number}/{where}: {', '.join(bad)} not a finite number")
    if not isinstance(row.get("heldout_cpu_note"), str | None):
        raise UnreadableRun(f"round-{number}/report.json: heldout_cpu_note is not text")


def check_base_eval(evaluation: dict[str, Any]) -> None:
    """Round 0's ``eval.json`` as ``report.baseline_report`` reads it."""
    if not isinstance(evaluation.get("problems"), int) or not all(
            isinstance(evaluation.get(kind, {}), dict) for kind in ("greedy", "search", "sc")):
        raise UnreadableRun("round-0/eval.json is not a held-out evaluation")
