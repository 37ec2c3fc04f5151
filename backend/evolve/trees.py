"""The search stage's trees, for rStar-Math's rounds and CPL's alike: one truth-rewarded search
per training problem (``backend/train/ppm_data.py: search_trees``, the algorithm a parameter),
on Ray workers when the run's Models seam spreads them (``backend/scale/evolve_search.py``),
else in this process. Either way a problem is done when its events file exists, so a rerun
searches only the missing ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backend.problems import Problem

if TYPE_CHECKING:
    from backend.evolve.stages import Round


def round_trees(
    rnd: Round, problems: Sequence[Problem], *, algorithm: str, config: Mapping[str, Any], label: str,
    folder: Path | None = None, seed: int | None = None,
) -> list[Path]:
    """Every problem's events file under ``folder`` (default ``rnd.folder / "trees"``), searched
    with the round's policy and PPM (or CPL value head) and ``seed`` (default the run's);
    ``label`` names the progress bar."""
    from backend.train.ppm_data import search_trees, tree_file

    trees = rnd.folder / "trees" if folder is None else folder
    count = iter(range(1, len(problems) + 1))
    rnd.progress(label, 0, len(problems))
    options = {
        "algorithm": algorithm,
        "config": dict(config),
        "ppm": rnd.ppm_in or "none",
        "seed": rnd.settings.seed if seed is None else seed,
        "on_done": lambda p, path, res: rnd.progress(label, next(count), len(problems)),
    }
    spread = getattr(rnd.models, "search_trees", None)  # Ray workers
    if spread is not None:
        return spread(rnd.policy_in, problems, trees, **options)
    missing = [p for p in problems if not tree_file(trees, p).is_file()]
    engine = rnd.models.engine(rnd.policy_in) if missing else None  # no load when all are done
    return search_trees(problems, trees, engine=engine, **options)
