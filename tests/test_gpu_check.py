"""The prepared GPU check (bench/gpu_check.py) runs on a tiny shape on this CPU, so a lent GPU's
few minutes are not spent finding a broken script. Slow (2-3 minutes): pytest -m slow."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("trl")

ROOT = Path(__file__).resolve().parents[1]


def run_check(*args: str) -> dict:
    done = subprocess.run([sys.executable, "bench/gpu_check.py", "--small", "--device", "cpu", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_every_check_runs_and_passes_on_the_small_shape():
    summary = run_check()
    checks = ("engine", "rstar", "ppm", "step_apo", "sft", "step_apo_train")
    assert summary["ok"] and all(summary[name]["ok"] for name in checks)
    assert summary["sft"]["steps"] == len(summary["sft"]["losses"]) and summary["sft"]["merged_on"] == "cpu"
    assert summary["step_apo_train"]["losses"][0] > summary["step_apo_train"]["losses"][-1]


@pytest.mark.slow
def test_the_sweep_reports_generate_and_bare_forward_per_step():
    (row,) = run_check("--sweep", "4")["sweep"]
    assert row["batch"] == 4 and row["tokens"] > 0 and row["tokens_per_s"] > 0
    assert row["generate_ms_per_step"] > row["forward_ms_per_step"] > 0  # a generate step holds a forward
