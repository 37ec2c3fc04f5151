"""The evolve runs kept under assets/ (evo-300, cpl-r20) are carried to other machines and
resumed there (docs/EVOLVE.md): their records must name the run's own models relative to the
run, so the copy goes on from its own policy and PPM wherever the checkout lives."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from backend.evolve.runs_index import is_run, read_run

ASSETS = Path(__file__).resolve().parents[2] / "assets"
RUNS = sorted(p for p in ASSETS.iterdir() if p.is_dir() and is_run(p))


def records(run: Path) -> list[Path]:
    """The run's manifest, reports and stage records (not the model folders' own markers,
    which say where a model was trained)."""
    return [run / "manifest.json", *run.glob("report.json"), *run.glob("round-*/*.json")]


def absolute_paths(value) -> list[str]:
    if isinstance(value, dict):
        return [p for item in value.values() for p in absolute_paths(item)]
    if isinstance(value, list):
        return [p for item in value for p in absolute_paths(item)]
    return [value] if isinstance(value, str) and "\n" not in value and os.path.isabs(value) else []


def test_the_runs_kept_in_assets_are_found():
    assert {p.name for p in RUNS} >= {"evolve-300", "cpl-r20"}


@pytest.mark.parametrize("run", RUNS, ids=lambda p: p.name)
def test_a_kept_run_names_no_absolute_path_and_reads_as_a_run(run):
    found = {str(f.relative_to(run)): absolute_paths(json.loads(f.read_text(encoding="utf-8")))
             for f in records(run)}
    assert {name: paths for name, paths in found.items() if paths} == {}
    state = read_run(run)
    assert [r.number for r in state.rounds if r.finished and r.number > 0]  # at least one round
