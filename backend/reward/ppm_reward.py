"""The ``ppm`` reward: a trained process preference model scores each terminal in context.

tanh(value / 5) ∈ (−1, 1) is backed up (rStar-Math's inference mode, official
``agents/mcts.py``); the model itself is ``ppm.py``. The directory comes in as an argument
(``make_reward(ppm=...)``, from a run's ``RunSpec.ppm``): only the entry points (the CLI, the
web app's start) look up a default with :func:`default_ppm_dir`, so no library call and no
test reads whatever PPM this machine happens to hold.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any


class PPMReward:
    """A trained PPM's score of each terminal in context (``backend/reward/ppm.py``). The model
    loads on first use and stays loaded per directory (a web app's runs share it)."""

    name = "ppm"
    needs_reference = False
    reads_steps = True  # the search passes each terminal in context (problem + path)

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def score(self, answers: Sequence[str], texts: Sequence[str] | None = None) -> list[float]:
        if texts is None or len(texts) != len(answers):
            raise ValueError("the ppm reward scores steps in context: this search does not give them")
        from backend.reward.ppm import score

        model, tokenizer = _load_ppm(str(self.directory))
        return score(model, tokenizer, list(texts))


@functools.lru_cache(maxsize=2)
def _load_ppm(directory: str) -> tuple[Any, Any]:
    from backend.reward.ppm import load_ppm

    return load_ppm(directory)


def default_ppm_dir() -> Path:
    """Where ``canopy train-ppm`` saves and ``--reward ppm`` looks when no ``--ppm`` is given:
    ``$CANOPY_PPM``, else ``ppm`` in Canopy's cache (``$CANOPY_CACHE``, default
    ``~/.cache/canopy``). For entry points only (CLI and app start), which turn it into an
    argument."""
    from backend.engines.embedded import cache_dir

    env = os.environ.get("CANOPY_PPM")
    return Path(env).expanduser() if env else cache_dir() / "ppm"


def find_ppm(directory: str | Path | None) -> Path:
    """The PPM directory to use, or a ValueError that says how to get one."""
    how = (
        "train one with `canopy pairs --kind ppm` + `canopy train-ppm` (it saves there by default), or "
        "give --ppm DIR / set CANOPY_PPM; or use --reward vote"
    )
    if directory is None or not str(directory).strip():
        raise ValueError(f"reward 'ppm' needs a trained process preference model and none was given: {how}")
    from backend.reward.ppm import HEAD_FILE, MARKER

    where = Path(directory).expanduser()
    if not (where / MARKER).is_file() or not (where / HEAD_FILE).is_file():
        raise ValueError(
            f"reward 'ppm' needs a trained process preference model and {where} holds none: {how}"
        )
    return where
