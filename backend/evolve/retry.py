"""Round 4's second look at the hard problems (rStar-Math §4.4, round 4: "for problems that
remain unsolved after 16 MCTS rollouts, we perform additional rollouts (64 and even 128), and
increase the number of MCTS tree expansions with different random seeds").

From round ``manifest.RETRY_ROUND`` (4) on, the training problems whose truth-rewarded tree
holds no right answer after the round's search are searched again, once per entry of
``EvolveSettings.retry_rollouts`` (the paper: 64, then 128), each pass with that many rollouts,
another seed, and only the problems still unsolved. A pass writes one tree per problem into
``round-N/trees-retry-R/`` (resumable like the search: a problem is done when its file exists).
The round's SFT data and PPM pairs then come from every tree of a problem
(:func:`problem_trees`); the round-against-round comparison stays on the first pass, the one
searched alike in every round.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backend.problems import Problem

if TYPE_CHECKING:
    from backend.evolve.stages import Round

RETRY_PREFIX = "trees-retry-"


def retry_folder(round_folder: Path, rollouts: int) -> Path:
    return round_folder / f"{RETRY_PREFIX}{rollouts}"


def retry_folders(round_folder: Path) -> list[Path]:
    """The round's retry passes on disk, in the order they ran (fewer rollouts first)."""
    found = [(int(p.name[len(RETRY_PREFIX):]), p) for p in round_folder.glob(f"{RETRY_PREFIX}*")
             if p.is_dir() and p.name[len(RETRY_PREFIX):].isdigit()]
    return [p for _, p in sorted(found)]


def problem_trees(round_folder: Path, problem: Problem, retries: Sequence[Path] | None = None) -> list[Path]:
    """Every tree the round searched for ``problem``: the search's, then each retry's
    (``retries``: the round's ``retry_folders``, listed once by a caller that loops over problems)."""
    from backend.train.ppm_data import tree_file

    first = tree_file(round_folder / "trees", problem)
    folders = retry_folders(round_folder) if retries is None else retries
    return [first] + [path for folder in folders if (path := tree_file(folder, problem)).is_file()]


def retry_unsolved(rnd: Round, problems: Sequence[Problem], solved: dict[str, bool]) -> list[dict[str, Any]]:
    """Search the problems not ``solved`` again, a pass per ``retry_rollouts`` entry (each with
    the next seed); ``solved`` is updated. One summary per pass: rollouts, seed, problems
    searched and newly solved, and the searches' seconds."""
    from backend.evolve.stages import rstar_solved
    from backend.evolve.trees import round_trees
    from backend.train.ppm_data import read_tree

    passes = []
    for index, rollouts in enumerate(rnd.settings.retry_rollouts):
        todo = [p for p in problems if not solved[p.id]]
        seed = rnd.settings.seed + 1 + index
        found, wall = 0, 0.0
        if todo:
            label = f"round {rnd.number}: retry ({rollouts} rollouts)"
            config = {**rnd.settings.search, "rollouts": rollouts}
            paths = round_trees(rnd, todo, algorithm="rstar", config=config, label=label,
                                folder=retry_folder(rnd.folder, rollouts), seed=seed)
            for problem, path in zip(todo, paths, strict=True):
                tree = read_tree(path)
                wall += float(tree.finished.stats.get("wall_s", 0.0)) if tree.finished else 0.0
                if rstar_solved(tree):
                    solved[problem.id] = True
                    found += 1
        rnd.say(f"round {rnd.number}: retry with {rollouts} rollouts: {found} of {len(todo)} unsolved "
                "problems solved")
        passes.append({"rollouts": rollouts, "seed": seed, "searched": len(todo), "solved": found,
                       "seconds": round(wall, 2)})
    return passes
