"""Build Canopy's own PPM end to end: the command that made ``assets/ppm`` remakes it.

1. **Searches** (``ppm_data.py``): truth-rewarded rStar-Math MCTS (rStar-Math round 1:
   terminal reward ±1 from the known answer) on GSM8K *train* problems with the embedded
   model; one events file per problem, resumable.
2. **Pairs** (``ppm_pairs.py``): the official Q-value step preferences of each tree, kept by
   ``sample_rm_data.py``'s filter (margin ≥ 0.5, ≥ 20 edits apart).
3. **Features** (``backend/engines/llamacpp_hidden.py``): the embedded model's last-token
   hidden state of problem + path + step, computed by llama.cpp exactly as the search will
   compute it when it scores.
4. **Head** (``backend/reward/ppm_head.py``): a linear value head trained with the official
   pairwise loss; problems are split 80 / 20 *by problem* (no problem on both sides) to
   measure held-out pairwise accuracy, then the shipped head is trained on all pairs with
   the same settings.
5. **Save**: ``value_head.json`` + ``canopy_ppm.json`` (data ids, counts, settings, timings,
   held-out accuracy).

Nothing here reads a test set: ``problems`` must come from ``gsm8k-train`` (or a file the
caller vouches for); the held-out split is of training problems.
"""

from __future__ import annotations

import hashlib
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backend.problems import Problem

#: rStar-Math search settings of the data rounds on this CPU (the cpu-demo preset otherwise)
DATA_CONFIG: dict[str, Any] = {"rollouts": 8}


@dataclass
class BuildReport:
    """What a build did, in numbers (also written into the marker file)."""

    problems: list[str] = field(default_factory=list)
    searched: int = 0
    solved_in_tree: int = 0
    pairs: int = 0
    train_pairs: int = 0
    heldout_pairs: int = 0
    heldout_problems: list[str] = field(default_factory=list)
    heldout_accuracy: float | None = None
    #: "prefer the longer step" on the same held-out pairs: the bar the head must clear
    heldout_longer_step: float | None = None
    train_accuracy: float | None = None
    final_loss: float | None = None
    seconds: dict[str, float] = field(default_factory=dict)


def heldout(problem_id: str, share: float = 0.2) -> bool:
    """Whether a problem is in the held-out share: a hash of its id, so the split does not
    depend on which problems a build covers or their order."""
    digest = hashlib.sha256(problem_id.encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < share


def problem_key(path: Path) -> str:
    """The problem a tree file holds, as its file name says (``gsm8k-train_12``)."""
    return path.name.removesuffix(".gz").removesuffix(".jsonl")


def collect_pairs(paths: Sequence[Path]) -> list[tuple[str, Any]]:
    """(problem id, PPMPair) for every kept pair of every tree file."""
    from backend.train.ppm_data import read_tree
    from backend.train.ppm_pairs import keep, ppm_pairs

    out = []
    for path in paths:
        try:
            tree = read_tree(path)
        except (ValueError, OSError, EOFError) as exc:  # EventError is a ValueError; gzip: OSError/EOF
            raise ValueError(f"{path}: {exc}") from None
        for pair in keep(ppm_pairs(tree)):
            out.append((problem_key(path), pair))
    return out


def pair_features(hidden: Any, pairs: Sequence[Any], batch: int = 8) -> tuple[Any, Any]:
    """Hidden states of prefix + chosen and prefix + rejected (two arrays, one row a pair);
    pairs are sent in batches that share their prefix, so the KV cache reuses it."""
    import numpy as np

    chosen, rejected = [], []
    for i in range(0, len(pairs), batch):
        group = pairs[i : i + batch]
        texts = [p.prefix + p.chosen for p in group] + [p.prefix + p.rejected for p in group]
        rows = hidden.last_hidden(texts)
        chosen.append(rows[: len(group)])
        rejected.append(rows[len(group) :])
    return np.concatenate(chosen), np.concatenate(rejected)


PPM_LOSS = "official pairwise: -log sigmoid(s_c - s_r) / (pos * neg)"


def build_record(
    report: BuildReport,
    *,
    backbone: dict[str, Any],
    trained_by: str,
    search: dict[str, Any],
    training: dict[str, Any],
    **data: Any,
) -> dict[str, Any]:
    """What a built PPM's marker says of it: backbone, data (problem ids, search settings,
    pairs), training settings, the held-out measurement, times and machine."""
    return {
        "backbone": backbone,
        "trained_by": trained_by,
        "data": {
            "set": "gsm8k-train",
            "problems": report.problems,
            "search": {"algorithm": "rstar", "reward": "truth", "ppm": "none", **search},
            "pairs": report.pairs,
            "pair_filter": "official: margin >= 0.5, >= 20 edits (backend/train/ppm_pairs.py)",
            **data,
        },
        "training": training,
        "heldout": {
            "problems": report.heldout_problems,
            "pairs": report.heldout_pairs,
            "pairwise_accuracy": report.heldout_accuracy,
            "prefer_longer_step": report.heldout_longer_step,
        },
        "train_pairwise_accuracy": report.train_accuracy,
        "seconds": report.seconds,
        "machine": f"{platform.machine()}, Python {platform.python_version()}",
    }


def why_not_shipped(report: BuildReport, min_pairs: int = 30, min_accuracy: float = 0.6) -> str | None:
    """Why a head measured as ``report`` says must not ship, or None when it may: fewer than
    ``min_pairs`` held-out pairs, accuracy below ``min_accuracy`` (chance would make every
    default search pick its answer by noise), or no better than "prefer the longer step" on
    the same pairs (then the head has learnt length, docs/PPM.md)."""
    acc, n, longer = report.heldout_accuracy, report.heldout_pairs, report.heldout_longer_step
    if acc is None or n < min_pairs:
        return f"held-out pairwise accuracy {acc} on {n} pairs (need >= {min_pairs} held-out pairs)"
    if acc < min_accuracy:
        return f"held-out pairwise accuracy {acc:.3f} on {n} pairs (need >= {min_accuracy})"
    if longer is not None and acc <= longer:
        return (f"held-out pairwise accuracy {acc:.3f} on {n} pairs is no better than 'prefer the "
                f"longer step' on the same pairs ({longer:.3f})")
    return None


def searched_trees(
    problems: Sequence[Problem],
    work_dir: str | Path,
    *,
    engine: Any,
    search_config: dict[str, Any] | None = None,
    seed: int = 0,
    search: bool = True,
    say: Callable[[str], None] = print,
) -> list[Path]:
    """The tree files of ``problems`` in ``work_dir``/trees: truth-rewarded searches run for
    those not there yet (``search``), or only the ones already there."""
    from backend.train.ppm_data import search_trees, tree_file

    trees = Path(work_dir) / "trees"
    if not search:
        return [p for p in (tree_file(trees, prob) for prob in problems) if p.is_file()]

    def done(problem: Problem, path: Path, result: Any) -> None:
        if result is not None:
            say(f"searched {problem.id}: {result.stats.get('nodes')} nodes, {result.wall_s:.0f} s")

    cfg = dict(DATA_CONFIG if search_config is None else search_config)
    return search_trees(problems, trees, engine=engine, config=cfg, ppm="none", seed=seed, on_done=done)


def build_ppm(
    problems: Sequence[Problem],
    out_dir: str | Path,
    *,
    engine: Any,
    work_dir: str | Path,
    search_config: dict[str, Any] | None = None,
    epochs: int = 30,
    lr: float = 1e-3,
    l2: float = 1e-2,
    seed: int = 0,
    search: bool = True,
    min_heldout_pairs: int = 30,
    min_heldout_accuracy: float = 0.6,
    force: bool = False,
    command: str | None = None,
    say: Callable[[str], None] = print,
) -> BuildReport:
    """Run the five steps (``command``, the command line that ran this, goes into the marker
    and the model card); ``search=False`` uses only the trees already in ``work_dir``.

    A head that does not rank at least ``min_heldout_accuracy`` of at least
    ``min_heldout_pairs`` held-out pairs correctly, or that does no better there than
    "prefer the longer step", is not saved (a ValueError says why): a PPM at chance would
    make every default search pick its answer by noise, and one at length's level has
    learnt length. ``force`` saves it anyway (to study it, not to ship it)."""
    import numpy as np

    from backend.reward.ppm_head import (
        backbone_of,
        hidden_states_for,
        pairwise_accuracy,
        save_head,
        train_head,
    )
    from backend.train.ppm_card import write_card
    from backend.train.ppm_pairs import longer_step_accuracy

    report = BuildReport()
    cfg = dict(DATA_CONFIG if search_config is None else search_config)
    t0 = time.monotonic()
    paths = searched_trees(problems, work_dir, engine=engine, search_config=cfg, seed=seed, search=search,
                           say=say)
    report.seconds["search"] = round(time.monotonic() - t0, 1)
    report.problems = [problem_key(p) for p in paths]
    report.searched = len(paths)

    t1 = time.monotonic()
    found = collect_pairs(paths)
    if not found:
        raise ValueError(f"the {len(paths)} searched problem(s) gave no PPM pairs: search more problems")
    pairs = [p for _, p in found]
    held = np.array([heldout(pid) for pid, _ in found])
    report.pairs, report.heldout_pairs = len(pairs), int(held.sum())
    report.train_pairs = report.pairs - report.heldout_pairs
    report.heldout_problems = sorted({pid for pid, _ in found if heldout(pid)})
    sources = len({pid for pid, _ in found})
    say(f"{len(pairs)} pairs from {sources} problems ({report.heldout_pairs} held out)")

    hidden = hidden_states_for(engine)  # the context the search's HeadPPM will read too
    fc, fr = pair_features(hidden, pairs)
    weights = np.array([p.weight for p in pairs], dtype=np.float32)
    report.seconds["features"] = round(time.monotonic() - t1, 1)

    t2 = time.monotonic()
    opts = {"epochs": epochs, "lr": lr, "l2": l2, "seed": seed}
    if report.heldout_pairs and report.train_pairs:
        w, b, _ = train_head(fc[~held], fr[~held], weights[~held], **opts)
        report.heldout_accuracy = round(float(pairwise_accuracy(w, b, fc[held], fr[held])), 4)
        held_pairs = [p for p, h in zip(pairs, held, strict=True) if h]
        report.heldout_longer_step = round(longer_step_accuracy(held_pairs), 4)
        say(
            f"held-out pairwise accuracy {report.heldout_accuracy:.3f} ({report.heldout_pairs} pairs; "
            f"'prefer the longer step' {report.heldout_longer_step:.3f})"
        )
    weak = why_not_shipped(report, min_heldout_pairs, min_heldout_accuracy)
    if weak and not force:
        raise ValueError(f"not saved: {weak}; search more problems (--count) or pass --force to study it")
    w, b, losses = train_head(fc, fr, weights, **opts)
    report.train_accuracy = round(float(pairwise_accuracy(w, b, fc, fr)), 4)
    report.final_loss = round(float(losses[-1]), 6) if losses else None
    report.seconds["train"] = round(time.monotonic() - t2, 1)

    about = build_record(
        report,
        backbone=backbone_of(engine),
        trained_by="canopy build-ppm (backend/train/build_ppm.py)",
        search=cfg,
        training={**opts, "loss": PPM_LOSS},
    )
    if command:
        about["command"] = command
    save_head(out_dir, w, b, about)
    write_card(out_dir)
    say(f"saved the PPM and its model card to {out_dir}")
    return report
