"""Importing the LIPS core loads neither z3 nor scipy (they are imported inside functions)."""

import subprocess
import sys


def test_no_heavy_imports():
    code = ("import sys\n"
            "import backend.search.lips.problem, backend.search.lips.lean, backend.search.lips.scaling, "
            "backend.search.lips.filtering, backend.search.lips.closing, backend.search.lips.score, "
            "backend.search.lips.equivalence, backend.search.lips.replay, backend.search.lips.problems\n"
            "heavy = [m for m in ('z3', 'scipy', 'torch', 'gradio') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    subprocess.run([sys.executable, "-c", code], check=True)
