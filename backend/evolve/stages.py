"""The stages of one rStar-Math round, each resumable: it writes its output atomically and is
skipped when that output exists (a kill at any point loses at most the stage, or for the
searches and the evaluation, the problem, in progress).

search (``trees/``, one gzipped truth search per problem, then ``search.json``) → data
(``sft.jsonl``, ``ppm_pairs.jsonl``, ``data.json``) → policy (``policy/``, ``policy.json``)
→ PPM (``ppm/``, ``ppm.json``) → evaluation (``eval/<kind>/<problem>.json``, ``eval.json``;
kinds greedy, search and, when asked, sc).
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backend.evolve.manifest import EvolveSettings, folder_sha256, ppm_sha256, read_json, write_json
from backend.evolve.memory import peak_rss_mb, release_freed_memory, reset_peak_rss
from backend.evolve.models import Models
from backend.evolve.run_paths import anchored, portable
from backend.evolve.runs_index import ADAPTER, CHECKPOINTS
from backend.problems import Problem

Say = Callable[[str], None]
Progress = Callable[[str, int, int], None]  # (what, done, total)
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")
#: optimiser steps between the fine-tuning stages' checkpoints (SFT, CPL's Step-APO: on this
#: CPU a step of 4 examples takes about a minute, so a kill costs a few minutes of training)
CHECKPOINT_EVERY = 5


@dataclass
class Round:
    """One round: where it writes, which policy and PPM it searches with."""

    number: int
    folder: Path
    settings: EvolveSettings
    models: Models
    policy_in: str | None  # None: the base model
    ppm_in: str | None  # None: terminal-guided
    say: Say = print
    progress: Progress = field(default=lambda what, done, total: None)


def _done(path: Path) -> dict[str, Any] | None:
    """The stage's saved summary, or None when the stage is to run: then what earlier stages
    freed goes back to the kernel and its peak-RSS window starts here (``_finish`` records it)."""
    if path.is_file():
        return anchored(read_json(path), path.parent.parent)
    release_freed_memory()
    reset_peak_rss()
    return None


def _finish(path: Path, summary: dict[str, Any]) -> None:
    """Save a stage's summary with the peak resident memory of the process while it ran
    (``peak_rss_mb``, the issue's 12 GB budget; the sandbox's and Ray workers' not counted)."""
    summary["peak_rss_mb"] = peak_rss_mb()
    write_record(path, summary)


def write_record(path: Path, record: dict[str, Any]) -> None:
    """A stage record (``RUN/round-N/<stage>.json``) with the run's paths relative to ``RUN``
    (``run_paths.portable``): ``_done`` reads it back against wherever the run is then."""
    write_json(path, portable(record, path.parent.parent))


# --- search ---------------------------------------------------------------------------------


def search_stage(rnd: Round, problems: Sequence[Problem]) -> dict[str, Any]:
    """Truth-rewarded rStar-Math MCTS on the training problems with the round's policy (and
    PPM from round 3), one events file per problem (``backend/train/ppm_data.py``)."""
    from backend.evolve.manifest import RETRY_ROUND
    from backend.evolve.retry import retry_unsolved
    from backend.evolve.trees import round_trees
    from backend.train.ppm_data import read_tree

    out = rnd.folder / "search.json"
    if (done := _done(out)) is not None:
        return done
    label = f"round {rnd.number}: search"  # in process or on Ray workers (backend/evolve/trees.py)
    paths = round_trees(rnd, problems, algorithm="rstar", config=rnd.settings.search, label=label)
    solved: dict[str, bool] = {}
    right = nodes = 0
    wall = 0.0
    for problem, path in zip(problems, paths, strict=True):
        tree = read_tree(path)
        solved[problem.id] = rstar_solved(tree)
        right += bool(tree.finished is not None and tree.finished.correct)
        nodes += len(tree.nodes)
        wall += float(tree.finished.stats.get("wall_s", 0.0)) if tree.finished else 0.0
    summary = {
        "problems": len(paths),
        "right_answer_in_tree": sum(solved.values()),
        "search_answer_right": right,
        "nodes": nodes,
        "config": dict(rnd.settings.search),
        "ppm": rnd.ppm_in,
        "policy": rnd.policy_in or "base",
        "seconds": round(wall, 2),
    }
    if rnd.number >= RETRY_ROUND and rnd.settings.retry_rollouts:
        summary["retries"] = retry_unsolved(rnd, problems, solved)
        summary["right_answer_after_retries"] = sum(solved.values())
        summary["seconds"] = round(wall + sum(r["seconds"] for r in summary["retries"]), 2)
    _finish(out, summary)
    return summary


# --- data -----------------------------------------------------------------------------------


def data_stage(rnd: Round, problems: Sequence[Problem]) -> dict[str, Any]:
    """The official SFT examples (top-k correct traces by mean Q) in the policy's prompt
    format, and the official PPM pairs, from the round's trees."""
    from backend.evolve.retry import problem_trees, retry_folders
    from backend.evolve.sft_data import sft_examples, write_examples
    from backend.train.ppm_data import read_tree
    from backend.train.ppm_pairs import keep, ppm_pairs

    out = rnd.folder / "data.json"
    if (done := _done(out)) is not None:
        return done
    t0 = time.monotonic()
    chat_prompt = rnd.models.engine(rnd.policy_in).chat_prompt  # the prompt the search sent
    examples, pairs = [], []
    retries = retry_folders(rnd.folder)  # listed once, not once per problem
    for problem in problems:  # a retried problem's trees: only one can hold a right answer
        for path in problem_trees(rnd.folder, problem, retries):
            tree = read_tree(path)
            examples += sft_examples(tree, problem.id, chat_prompt, k=rnd.settings.top_k)
            pairs += [{"problem": problem.id, **vars(p)} for p in keep(ppm_pairs(tree))]
    write_examples(examples, rnd.folder / "sft.jsonl")
    _write_lines(rnd.folder / "ppm_pairs.jsonl", pairs)
    summary = {
        "sft_examples": len(examples),
        "problems_with_examples": len({e.problem_id for e in examples}),
        "ppm_pairs": len(pairs),
        "problems_with_pairs": len({p["problem"] for p in pairs}),
        "seconds": round(time.monotonic() - t0, 2),
    }
    _finish(out, summary)
    return summary


def _write_lines(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    partial.replace(path)


def read_pairs_with_problems(path: Path) -> list[tuple[str, Any]]:
    from backend.train.ppm_pairs import PPMPair

    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [(r.pop("problem"), PPMPair(**r)) for r in rows]


# --- policy ---------------------------------------------------------------------------------


def sft_config(settings: EvolveSettings, threads: int | None = None) -> Any:
    """The fine-tuning settings; ``threads`` (the machine's, not the experiment's) unless the
    settings name some."""
    from backend.train.ppm_trainer import LoRA
    from backend.train.sft import SFTTrainConfig

    opts = {"threads": threads, **settings.sft}
    rank = int(opts.pop("lora_rank", 16))
    return SFTTrainConfig(seed=settings.seed, lora=LoRA(r=rank, alpha=2 * rank), **opts)


def policy_stage(rnd: Round, start_from: str | None) -> dict[str, Any]:
    """Fine-tune ``start_from`` (None: the base model) on the round's SFT examples; with none,
    the round keeps its input policy (and says so)."""
    from backend.evolve.sft_data import read_examples
    from backend.train.sft import POLICY_MARKER, fine_tune, save_policy

    out = rnd.folder / "policy.json"
    if (done := _done(out)) is not None:
        if done.get("trained") and not (rnd.folder / "policy").is_dir():
            return _policy_from_adapter(rnd, done)
        return done
    examples = read_examples(rnd.folder / "sft.jsonl")
    if not examples:
        rnd.say(f"round {rnd.number}: no correct trajectory to fine-tune on; the policy stays as it was")
        summary = {"trained": False, "policy": rnd.policy_in, "why": "no SFT examples", "seconds": 0.0}
        _finish(out, summary)
        return summary
    config = sft_config(rnd.settings, getattr(rnd.models, "threads", None))
    model, tokenizer = rnd.models.trainable(start_from)
    label = f"round {rnd.number}: fine-tune"
    checkpoints = rnd.folder / CHECKPOINTS["policy"]  # a killed run resumes here, not at step 1
    merged, result = fine_tune(
        model, tokenizer, examples, config, progress=lambda step, steps, _: rnd.progress(label, step, steps),
        checkpoints=checkpoints, save_every=CHECKPOINT_EVERY, adapter_dir=rnd.folder / ADAPTER,
    )
    about = {
        "start_from": start_from or "base", "round": rnd.number, "examples": len(examples),
        "losses": result.losses, **config.about(),
    }
    write_json(rnd.folder / ADAPTER / POLICY_MARKER, {"format": "canopy-policy-adapter", **about})
    folder = save_policy(merged, tokenizer, rnd.folder / "policy", **about)
    summary = {
        "trained": True,
        "policy": str(folder),
        "start_from": start_from or "base",
        "examples": len(examples),
        "steps": result.steps,
        "first_loss": result.losses[0],
        "last_loss": result.losses[-1],
        "sha256": folder_sha256(folder),
        "adapter": ADAPTER,
        "adapter_sha256": folder_sha256(rnd.folder / ADAPTER),
        "seconds": result.seconds,
    }
    summary.update(_prepare(rnd, folder))
    _finish(out, summary)
    shutil.rmtree(checkpoints, ignore_errors=True)  # the policy is saved: nothing to resume
    return summary


def _prepare(rnd: Round, folder: Path) -> dict[str, Any]:
    inner = getattr(rnd.models, "inner", rnd.models)  # RayModels wraps the driver's LocalModels
    if prepare := getattr(inner, "prepare_policy", None):  # e.g. policy.gguf for llama.cpp
        return prepare(str(folder))
    return {}


def _policy_from_adapter(rnd: Round, done: dict[str, Any]) -> dict[str, Any]:
    """A fine-tuned round whose merged policy folder is gone (the run was carried to another
    machine without its 2 GB of weights) is rebuilt from its 16-bit adapter over the model it
    started from: the same weights, checked against the recorded checksum; no adapter (a
    run from before adapters were kept) says what to do instead of training again."""
    from backend.train.sft import POLICY_MARKER, merge_adapter, save_policy

    adapter = rnd.folder / ADAPTER
    if not adapter.is_dir():
        raise ValueError(
            f"{rnd.folder / 'policy'} is missing and no {ADAPTER}/ is there to rebuild it from: "
            f"delete {rnd.folder / 'policy.json'} to fine-tune round {rnd.number} again"
        )
    start = done.get("start_from", "base")
    about = read_json(adapter / POLICY_MARKER) if (adapter / POLICY_MARKER).is_file() else {}
    about.pop("format", None)
    model, tokenizer = rnd.models.trainable(None if start == "base" else start)
    folder = save_policy(merge_adapter(model, adapter), tokenizer, rnd.folder / "policy", **about)
    same = folder_sha256(folder) == done.get("sha256")
    rnd.say(
        f"round {rnd.number}: policy rebuilt from {ADAPTER}/"
        + ("" if same else " (its checksum differs from the one recorded when it was trained)")
    )
    summary = {**done, "policy": str(folder), "rebuilt_from_adapter": True, "same_sha256": same}
    summary.update(_prepare(rnd, folder))
    write_record(rnd.folder / "policy.json", summary)
    return summary


# --- PPM ------------------------------------------------------------------------------------


def ppm_stage(rnd: Round, policy: str | None) -> dict[str, Any]:
    """The round's PPM (the paper's full PPM: the new policy's backbone + a value head, LoRA;
    or with ``ppm_method="top-layers"`` its top layers only, run by llama.cpp), trained on the
    pairs of the problems outside the held-out share and measured on the others; skipped, with
    the reason, when there are too few pairs."""
    from backend.train.build_ppm import heldout

    out = rnd.folder / "ppm.json"
    if (done := _done(out)) is not None:
        return done
    found = [pair for folder in ppm_round_folders(rnd)
             for pair in read_pairs_with_problems(folder / "ppm_pairs.jsonl")]
    need = rnd.settings.ppm_min_pairs
    train = [p for pid, p in found if not heldout(pid)]
    held = [p for pid, p in found if heldout(pid)]
    why = None
    if not rnd.settings.train_ppm:
        why = f"PPM training is off (--no-ppm-training); its {len(found)} pairs are in ppm_pairs.jsonl"
    elif len(found) < need or not train or not held:
        why = (
            f"{len(found)} PPM pairs ({len(train)} to train, {len(held)} held out); "
            f"a PPM needs at least {need}, with some on each side"
        )
    if why:
        rnd.say(f"round {rnd.number}: no PPM trained: {why}")
        summary = {"trained": False, "ppm": None, "why": why, "pairs": len(found), "seconds": 0.0}
        _finish(out, summary)
        return summary
    if rnd.settings.ppm_method == "top-layers":
        summary = _train_top_layers_ppm(rnd, policy)
    else:
        summary = _train_ppm(rnd, policy, train, held)
    _finish(out, summary)
    return summary


def ppm_round_folders(rnd: Round) -> list[Path]:
    """The rounds whose data a round's PPM learns from: its own, or with
    ``ppm_data="all-rounds"`` every round of the run up to it."""
    numbers = [rnd.number] if rnd.settings.ppm_data == "round" else range(1, rnd.number + 1)
    return [rnd.folder.parent / f"round-{k}" for k in numbers]


def ppm_tree_files(rnd: Round) -> list[Path]:
    """The search trees of ``ppm_round_folders`` (``round-K/trees/*.jsonl.gz``, then any
    retry pass's: ``backend/evolve/retry.py``)."""
    from backend.evolve.retry import retry_folders

    folders = [sub for folder in ppm_round_folders(rnd) for sub in (folder / "trees", *retry_folders(folder))]
    return [path for folder in folders for path in sorted(folder.glob("*.jsonl.gz"))]


def _train_top_layers_ppm(rnd: Round, policy: str | None) -> dict[str, Any]:
    """The CPU lever (``ppm_method="top-layers"``): ``canopy build-ppm --top-layers``'s build over
    the round's policy as llama.cpp runs it, so the next round's search values its steps at
    the policy's speed. Trained whatever its held-out accuracy (the paper's rounds use the
    latest PPM); the accuracy, the gate's verdict and "prefer the longer step" are reported."""
    from dataclasses import fields

    from backend.train.build_ppm import why_not_shipped
    from backend.train.build_top_layers_ppm import TopLayersSettings, build_top_layers_ppm

    t0 = time.monotonic()
    known = {f.name for f in fields(TopLayersSettings)}
    opts = {"epochs": 1, "seed": rnd.settings.seed, **rnd.settings.ppm_train}
    unknown = sorted(set(opts) - known)
    if unknown:
        raise ValueError(f"ppm_train: {', '.join(unknown)} is not a top-layers PPM setting "
                         f"({', '.join(sorted(known))})")
    engine = rnd.models.engine(policy)  # llama.cpp: the PPM is exported for it and checked on it
    folder = rnd.folder / "ppm"
    if folder.exists():
        shutil.rmtree(folder)  # a build killed before its summary was written
    trees = ppm_tree_files(rnd)
    label = f"round {rnd.number}: PPM"
    report = build_top_layers_ppm(
        trees, folder, engine=engine, settings=TopLayersSettings(**opts), force=True,
        states_cache=rnd.folder / "ppm-states.safetensors",
        say=lambda line: rnd.say(f"{label}: {line}"),
    )
    (rnd.folder / "ppm-states.safetensors").unlink(missing_ok=True)  # about 1 MB a text: not kept
    return {
        "trained": True,
        "method": "top-layers",
        "ppm": str(folder),
        "trees": len(trees),
        "tree_rounds": rnd.settings.ppm_data,
        "pairs": report.pairs,
        "train_pairs": report.train_pairs,
        "heldout_pairs": report.heldout_pairs,
        "heldout_pairwise_accuracy": report.heldout_accuracy,
        "heldout_longer_step": report.heldout_longer_step,
        "note": (f"top-layers PPM from {len(trees)} trees ({rnd.settings.ppm_data}); "
                 + (f"used although it would not ship: {gate}" if (gate := why_not_shipped(report)) else
                    "it clears canopy build-ppm's gate")),
        "last_loss": report.final_loss,
        "train_pairwise_accuracy": report.train_accuracy,
        "sha256": ppm_sha256(folder),
        "seconds": round(time.monotonic() - t0, 2),
    }


def _train_ppm(rnd: Round, policy: str | None, train: list[Any], held: list[Any]) -> dict[str, Any]:
    from backend.reward.ppm import ProcessPreferenceModel, head_values, save_ppm
    from backend.train.ppm_trainer import LoRA, PPMTrainConfig, fit

    t0 = time.monotonic()
    opts = {"lora": LoRA(), "seed": rnd.settings.seed, **rnd.settings.ppm_train}
    config = PPMTrainConfig(**opts)
    backbone, tokenizer = rnd.models.trainable(policy)
    model = ProcessPreferenceModel(backbone)
    label = f"round {rnd.number}: PPM"
    losses = fit(model, tokenizer, train, config, progress=lambda s, n, loss: rnd.progress(label, s, n))
    chosen = head_values(model, tokenizer, [p.prefix + p.chosen for p in held])
    rejected = head_values(model, tokenizer, [p.prefix + p.rejected for p in held])
    accuracy = sum(c > r for c, r in zip(chosen, rejected, strict=True)) / len(held)
    folder = rnd.folder / "ppm"
    save_ppm(model, tokenizer, folder, base=policy or "base", pairs=len(train), heldout_pairs=len(held),
             heldout_accuracy=round(accuracy, 4), **config.about())
    return {
        "trained": True,
        "ppm": str(folder),
        "pairs": len(train) + len(held),
        "train_pairs": len(train),
        "heldout_pairs": len(held),
        "heldout_pairwise_accuracy": round(accuracy, 4),
        "first_loss": losses[0],
        "last_loss": losses[-1],
        "sha256": folder_sha256(folder),
        "seconds": round(time.monotonic() - t0, 2),
    }


# --- evaluation -----------------------------------------------------------------------------

EVALS = ("greedy", "search", "sc")
#: self-consistency's samples are never fewer than this (one sample is greedy's job)
MIN_SC_SAMPLES = 2


def eval_stage(
    folder: Path, label: str, models: Models, settings: EvolveSettings, policy: str | None,
    ppm: str | None, problems: Sequence[Problem], progress: Progress,
) -> dict[str, Any]:
    """Accuracy on the held-out GSM8K *test* slice: greedy decoding of ``policy`` and the
    default rStar-Math search with it (and ``ppm``); with ``settings.eval_sc``, also
    self-consistency of ``policy`` at the search's tokens (``sc_samples``), the baseline a
    search must beat at equal compute. Reported, never used to pick settings; one file per
    problem, so a kill loses one problem at most. A round evaluated before ``eval_sc`` was
    asked keeps its greedy and search and gains the self-consistency."""
    from backend.runspec import RunSpec

    out = folder / "eval.json"
    done = _done(out)
    if done is not None and ("sc" in done or not settings.eval_sc):
        return done
    if done is not None:  # self-consistency asked for after the round was evaluated
        release_freed_memory()
        reset_peak_rss()
    summary: dict[str, Any] = done or {"policy": policy or "base", "ppm": ppm, "problems": len(problems)}
    earlier_peak = summary.pop("peak_rss_mb", None)
    about = models.describe(policy)
    for kind in EVALS:
        if kind in summary or (kind == "sc" and not settings.eval_sc):
            continue
        algorithm = {"greedy": "greedy", "search": "rstar", "sc": "sc"}[kind]
        if kind == "sc":  # after greedy and search: their tokens set k (no problems: none to set)
            summary["sc_samples"] = sc_samples(folder) if problems else MIN_SC_SAMPLES
        config = {"greedy": {}, "search": dict(settings.eval_search),
                  "sc": {"samples": summary.get("sc_samples")}}[kind]
        spec = RunSpec(
            problem="", algorithm=algorithm, config=config, ppm=ppm if kind == "search" else "none",
            engine=about["engine"], model=about["model"], seed=settings.seed,
        )
        summary[kind] = held_out_accuracy(
            folder / "eval" / kind, spec, problems, lambda: models.engine(policy), settings.seed,
            lambda i: progress(f"{label}: {kind} on held-out", i, len(problems)),  # noqa: B023 - called now
        )
    _finish(out, summary)
    if earlier_peak is not None:
        summary["peak_rss_mb"] = max(earlier_peak, summary["peak_rss_mb"])
        write_record(out, summary)
    return summary


def sc_samples(round_folder: Path) -> int:
    """Self-consistency's k for a round's held-out slice: the search's mean tokens a problem over
    greedy's (``eval_tokens``), rounded, at least MIN_SC_SAMPLES: the same token budget, the
    rule of bench/quality.py. Each sample is one greedy-sized program, so k of them cost about
    what the search did."""
    tokens = eval_tokens(round_folder)
    greedy, search = tokens.get("greedy"), tokens.get("search")
    if not greedy or search is None:
        raise ValueError(f"{round_folder.name}: self-consistency is matched to the search's tokens, "
                         "and the greedy and search evaluations have no results there")
    return max(MIN_SC_SAMPLES, round(search / greedy))


def versus_search(round_folder: Path, against: str = "sc") -> list[int] | None:
    """[won, lost] of a round's held-out search against another of its evaluations (default
    self-consistency at the same tokens) on the problems both ran: right in the search and
    wrong there, and the reverse. None when either has no results."""
    search = correct_by_id(round_folder / "eval" / "search")
    other = correct_by_id(round_folder / "eval" / against)
    both = search.keys() & other.keys()
    if not both:
        return None
    return [sum(search[i] and not other[i] for i in both), sum(other[i] and not search[i] for i in both)]


def versus_round_0(round_folder: Path) -> dict[str, list[int]]:
    """This round against round 0 on the held-out problems both evaluated (the same problems
    and seeds), per evaluation: [won, lost] = right now and wrong in round 0, and the reverse;
    a pairwise count shows what an accuracy difference hides. Empty without a round 0."""
    base_eval = round_folder.parent / "round-0" / "eval"
    out: dict[str, list[int]] = {}
    for kind in EVALS:
        base, now = correct_by_id(base_eval / kind), correct_by_id(round_folder / "eval" / kind)
        both = base.keys() & now.keys()
        if both:
            out[kind] = [sum(now[i] and not base[i] for i in both), sum(base[i] and not now[i] for i in both)]
    return out


def rstar_solved(tree: Any) -> bool:
    """A truth-rewarded rStar tree "solved in search": some finished trace holds the known answer."""
    from backend.evolve.sft_data import correct_traces

    return bool(correct_traces(tree))


def versus_previous_search(
    round_folder: Path, number: int, solved: Callable[[Any], bool] = rstar_solved,
) -> dict[str, list[int] | None]:
    """This round's training search against the previous round's, on the training problems both
    searched (same problems, same seeds): [won, lost] = solved now and not in round N-1, and the
    reverse, for ``solved`` (a right answer in the tree: what feeds the SFT data) and for the
    search's own answer. The counts show what a "solved in search" difference hides: a gain of 9
    can be 9 won and none lost, or 20 won and 11 lost. None in round 1 (round 0 searches nothing)."""
    from backend.train.ppm_data import read_tree

    keys = ("solved_in_search_won_lost", "search_answer_won_lost")
    before_folder = round_folder.parent / f"round-{number - 1}" / "trees"
    now_folder = round_folder / "trees"
    if number < 2 or not before_folder.is_dir() or not now_folder.is_dir():
        return dict.fromkeys(keys)
    names = [{p.name for p in folder.glob("*.jsonl.gz")} for folder in (now_folder, before_folder)]
    both = sorted(names[0] & names[1])
    if not both:
        return dict.fromkeys(keys)
    counts = {key: [0, 0] for key in keys}
    for name in both:
        trees = read_tree(now_folder / name), read_tree(before_folder / name)
        in_tree = [solved(t) for t in trees]
        answered = [bool(t.finished is not None and t.finished.correct) for t in trees]
        for key, (now, before) in zip(keys, (in_tree, answered), strict=True):
            counts[key][0] += now and not before
            counts[key][1] += before and not now
    return counts


def eval_cpus(round_folder: Path) -> list[str]:
    """The CPUs a round's held-out result files say they ran on (files written before the
    CPU was recorded say none)."""
    return sorted({cpu for cpus in eval_cpus_by_kind(round_folder).values() for cpu in cpus})


def eval_cpus_by_kind(round_folder: Path) -> dict[str, list[str]]:
    """Per held-out evaluation of a round (greedy, search, sc), the CPUs its files name."""
    return {kind: sorted({str(row["cpu"]) for row in _rows(round_folder / "eval" / kind) if row.get("cpu")})
            for kind in EVALS}


def cpu_note(round_folder: Path) -> str | None:
    """A warning when this round's held-out evaluation and round 0's ran on different CPUs, or
    this round's own evaluations did (``backend/evolve/machine.py``: the same policy answers
    differently there), else None."""
    from backend.evolve.machine import mismatch_note, split_note

    against_0 = None
    if round_folder.name != "round-0":
        against_0 = mismatch_note(eval_cpus(round_folder.parent / "round-0"), eval_cpus(round_folder))
    notes = [note for note in (against_0, split_note(eval_cpus_by_kind(round_folder))) if note]
    return "; ".join(notes) or None


def eval_tokens(round_folder: Path) -> dict[str, float]:
    """Mean tokens a held-out problem cost, per evaluation of a round, read from its per-problem
    files (so a report written from an older ``eval.json`` has it too): accuracy alone hides a
    round that got right by spending ten times the tokens. (Seconds are in the row's
    ``seconds``: measured, so not part of what a resumed run must reproduce.)"""
    out: dict[str, float] = {}
    for kind in EVALS:
        folder = round_folder / "eval" / kind
        rows = [read_json(path) for path in sorted(folder.glob("*.json"))] if folder.is_dir() else []
        if rows:
            out[kind] = round(sum(int(r.get("tokens") or 0) for r in rows) / len(rows), 1)
    return out


def _rows(folder: Path) -> list[dict[str, Any]]:
    """The per-problem result files of one held-out evaluation (``held_out_accuracy``)."""
    return [read_json(path) for path in sorted(folder.glob("*.json"))] if folder.is_dir() else []


def correct_by_id(folder: Path) -> dict[str, bool]:
    """Problem id -> right or not, from one held-out evaluation's files."""
    return {row["id"]: bool(row["correct"]) for row in _rows(folder)}


def held_out_accuracy(
    folder: Path, spec: Any, problems: Sequence[Problem], engine: Callable[[], Any], seed: int,
    progress: Callable[[int], None],
) -> dict[str, Any]:
    """``spec`` run on each held-out problem (seed ``seed + i``, graded by its known answer),
    one result file per problem in ``folder`` (a kill loses one problem at most; files already
    there are read, not run again); the accuracy, count right and seconds."""
    from backend.evolve.machine import cpu_name
    from backend.solve import solve_spec

    right = wall = 0.0
    for i, problem in enumerate(problems):
        path = folder / f"{_SAFE.sub('_', problem.id)}.json"
        if not path.is_file():
            one = spec.fork(problem=problem.question, reference=problem.answer, seed=seed + i)
            res = solve_spec(one, engine=engine())
            write_json(path, {"id": problem.id, "answer": res.answer, "reference": problem.answer,
                              "correct": bool(res.correct), "wall_s": res.wall_s, "tokens": res.tokens,
                              "cpu": cpu_name()})
        row = read_json(path)
        right += row["correct"]
        wall += row["wall_s"]
        progress(i + 1)
    return {"accuracy": round(right / len(problems), 4) if problems else None,
            "correct": int(right), "seconds": round(wall, 2)}
