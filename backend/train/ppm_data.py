"""The trees a PPM is trained from: truth-rewarded rStar-Math searches on training problems
(and, with ``algorithm="cpl"``, the truth-mode plan trees CPL's rounds learn from).

rStar-Math's round 1 (official ``config/sample_mcts.yaml``) runs MCTS with the terminal
reward +1 / −1 from the ground truth, so every step's Q says how often it led to a right
answer; ``backend/train/ppm_pairs.py`` reads step preferences off those Q values. This is
the named training-data mode (``reward = "truth"``): it runs only on training problems
(``gsm8k-train``), never on a set whose accuracy is reported.

One gzipped events file per problem (Canopy JSON Lines, docs/FORMAT.md) in a folder, written
when the problem's search ends: an interrupted batch resumes where it stopped (across
sessions too: ``assets/ppm-data/`` keeps the searches the shipped PPM is built from, a few
kB a problem), and ``gunzip`` gives a file ``canopy import`` reads.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from backend import events as ev
from backend.problems import Problem
from backend.runspec import RunSpec

_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def tree_file(out_dir: Path, problem: Problem) -> Path:
    """Where the search of ``problem`` is kept: its id with path characters replaced."""
    return out_dir / f"{_SAFE.sub('_', problem.id)}.jsonl.gz"


def problem_seed(problem: Problem, seed: int) -> int:
    """The run seed of one problem: ``seed`` plus its index in its set, so a resumed batch
    and a fresh one give each problem the same search."""
    tail = problem.id.rsplit("/", 1)[-1]
    return seed + (int(tail) if tail.isdigit() else 0)


def reference_steps(problem: Problem) -> int:
    """Calculator steps (``<<...>>``) in a GSM8K reference solution: a cheap difficulty
    measure for choosing *training* problems (never test ones); 0 without a solution."""
    return str(problem.meta.get("solution", "")).count("<<")


def search_trees(
    problems: Iterable[Problem],
    out_dir: str | Path,
    *,
    engine: Any,
    algorithm: str = "rstar",
    config: Mapping[str, Any] | None = None,
    ppm: str | None = None,
    seed: int = 0,
    on_done: Callable[[Problem, Path, Any], None] | None = None,
) -> list[Path]:
    """Run one truth-rewarded search of ``algorithm`` per problem (rStar-Math's MCTS, or CPL's
    plan MCTS: ``"cpl"``), skipping problems whose file exists, and return every problem's
    events file. ``ppm`` (a PPM directory; for CPL a value head) values new steps as in the
    paper's rounds 2-4; None is round 1. ``on_done(problem, path, result)`` is called
    after each new search (``result`` is None for a problem already done)."""
    from backend.solve import solve_spec

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for problem in problems:
        if problem.answer is None:
            raise ValueError(f"{problem.id} has no known answer: a truth-rewarded search needs one")
        path = tree_file(out, problem)
        paths.append(path)
        if path.is_file():
            if on_done:
                on_done(problem, path, None)
            continue
        spec = RunSpec(
            problem=problem.question,
            algorithm=algorithm,
            engine=getattr(getattr(engine, "info", None), "name", None) or "llamacpp",
            config=dict(config or {}),
            reward="truth",
            ppm=ppm,
            reference=problem.answer,
            seed=problem_seed(problem, seed),
        )
        result = solve_spec(spec, engine=engine)
        partial = path.with_name(path.name + ".partial")
        with gzip.open(partial, "wt", encoding="utf-8") as fh:
            ev.write_jsonl(result.events, fh, algorithm=algorithm)
        partial.replace(path)  # a file that exists is a whole search
        if on_done:
            on_done(problem, path, result)
    return paths


def read_tree(path: str | Path) -> Any:
    """The tree (``backend/tree.py``) folded from one events file (gzipped or not)."""
    from backend.tree import Tree

    if str(path).endswith(".gz"):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            _header, events = ev.read_jsonl(fh)
    else:
        _header, events = ev.read_jsonl(path)
    return Tree.from_events(events)
