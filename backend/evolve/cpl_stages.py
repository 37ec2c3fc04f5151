"""The CPL-specific stages of a round, each resumable as the rStar-Math ones (``stages.py``):
an output written atomically, skipped when present; searches and evaluations keep one file per
problem. The SFT stage is ``stages.policy_stage`` itself (it reads ``sft.jsonl``).

search (``trees/``, ``search.json``) → data (``sft.jsonl``, ``apo_pairs.jsonl``,
``value.jsonl``, ``data.json``) → SFT (``policy/``, ``policy.json``) → Step-APO
(``policy-apo/``, ``apo.json``) → value head (``value/``, ``value.json``) → evaluation
(``eval/<kind>/<problem>.json``, ``eval.json``).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from backend.evolve.cpl_data import apo_rows, best_plans, read_lines, write_lines
from backend.evolve.manifest import folder_sha256
from backend.evolve.runs_index import CHECKPOINTS
from backend.evolve.stages import CHECKPOINT_EVERY, Progress, Round, _done, _finish, held_out_accuracy
from backend.problems import Problem


def search_config(rnd: Round, fmt: str) -> dict[str, Any]:
    return {**rnd.settings.search, "step_format": fmt}


def cpl_solved(tree: Any) -> bool:
    """A truth-rewarded CPL plan tree "solved in search": a terminal backed up at +1 (the known answer)."""
    return any(n.answer is not None and n.q > 0.999 for n in tree.nodes.values())


def cpl_search_stage(rnd: Round, problems: Sequence[Problem], fmt: str) -> dict[str, Any]:
    """Truth-rewarded CPL MCTS (±1 from the known answer) on the training problems with the
    round's policy, its step format and the value head it was given (``rnd.ppm_in``): the
    rStar rounds' search machinery (``backend/evolve/trees.py``) with ``algorithm="cpl"``, so
    it runs on Ray workers as theirs does."""
    from backend.evolve.trees import round_trees
    from backend.train.ppm_data import read_tree

    out = rnd.folder / "search.json"
    if (done := _done(out)) is not None:
        return done
    config = search_config(rnd, fmt)
    label = f"round {rnd.number}: CPL search"
    paths = round_trees(rnd, problems, algorithm="cpl", config=config, label=label)
    solved = right = nodes = 0
    wall = 0.0
    for path in paths:
        tree = read_tree(path)
        solved += cpl_solved(tree)
        right += bool(tree.finished is not None and tree.finished.correct)
        nodes += len(tree.nodes)
        wall += float(tree.finished.stats.get("wall_s", 0.0)) if tree.finished else 0.0
    summary = {
        "problems": len(problems), "right_answer_in_tree": solved, "search_answer_right": right,
        "nodes": nodes, "config": config, "value_head": rnd.ppm_in, "policy": rnd.policy_in or "base",
        "seconds": round(wall, 2),
    }
    _finish(out, summary)
    return summary


def xml_prefix(rnd: Round, problem: Problem) -> str:
    """The round-2 search's prompt for ``problem`` (the XML format, the run's search settings)."""
    from backend.search.cpl import policy_prefix
    from backend.search.registry import make_config

    cfg = make_config("cpl", **search_config(rnd, "xml"))
    return policy_prefix(problem.question, rnd.models.engine(rnd.policy_in), cfg)


def cpl_data_stage(rnd: Round, problems: Sequence[Problem], plans_per_problem: int) -> dict[str, Any]:
    """SFT plans, Step-APO pairs and value examples of the round's trees (``cpl_data.py``)."""
    from backend.evolve.sft_data import write_examples
    from backend.train.ppm_data import read_tree, tree_file
    from backend.train.value_head import value_examples

    out = rnd.folder / "data.json"
    if (done := _done(out)) is not None:
        return done
    t0 = time.monotonic()
    examples, pairs, values = [], [], []
    for problem in problems:
        tree = read_tree(tree_file(rnd.folder / "trees", problem))
        prefix = xml_prefix(rnd, problem)
        examples += best_plans(tree, problem.id, prefix, plans_per_problem)
        pairs += apo_rows(tree, problem.id, prefix)
        values += [
            {"problem": problem.id, "chunks": list(v.chunks), "qs": list(v.qs)} for v in value_examples(tree)
        ]
    write_examples(examples, rnd.folder / "sft.jsonl")
    write_lines(rnd.folder / "apo_pairs.jsonl", pairs)
    write_lines(rnd.folder / "value.jsonl", values)
    summary = {
        "sft_examples": len(examples), "problems_with_examples": len({e.problem_id for e in examples}),
        "apo_pairs": len(pairs), "problems_with_pairs": len({p["problem"] for p in pairs}),
        "value_examples": len(values), "seconds": round(time.monotonic() - t0, 2),
    }
    _finish(out, summary)
    return summary


def apo_stage(rnd: Round, start: str | None, apo: Mapping[str, Any]) -> dict[str, Any]:
    """Step-APO on the round's pairs from ``start`` (the SFT policy), the reference frozen at it."""
    from backend.train.sft import save_policy
    from backend.train.step_apo import StepPair
    from backend.train.step_apo_trainer import StepAPOConfig, pairs_within_budget, train_step_apo

    out = rnd.folder / "apo.json"
    if (done := _done(out)) is not None:
        if done.get("trained") and not (rnd.folder / "policy-apo").is_dir():
            raise ValueError(  # a full fine-tune keeps no adapter to rebuild it from
                f"{rnd.folder / 'policy-apo'} is missing (a run copied without its weights?): "
                f"copy it too, or delete {out} to run round {rnd.number}'s Step-APO again"
            )
        return done
    rows = read_lines(rnd.folder / "apo_pairs.jsonl")
    if not rows:
        rnd.say(f"round {rnd.number}: no Step-APO pairs; the policy stays the SFT one")
        summary = {"trained": False, "policy": start, "why": "no Step-APO pairs", "seconds": 0.0}
        _finish(out, summary)
        return summary
    pairs = [StepPair(**{k: v for k, v in r.items() if k != "problem"}) for r in rows]
    threads = getattr(rnd.models, "threads", None)
    length = rnd.settings.sft.get("max_length", StepAPOConfig.max_length)  # the SFT's: the same prompts
    config = StepAPOConfig(**{"seed": rnd.settings.seed, "threads": threads, "max_length": length, **apo})
    found = len(pairs)
    pairs = pairs_within_budget(pairs, config)  # --apo-max-steps: the pairs those steps reach
    if len(pairs) < found:
        rnd.say(f"round {rnd.number}: Step-APO on {len(pairs)} of {found} pairs (--apo-max-steps "
                f"{config.max_steps}: the pairs those steps reach, a seeded sample)")
    model, tokenizer = rnd.models.trainable(start)
    label = f"round {rnd.number}: Step-APO"
    checkpoints = rnd.folder / CHECKPOINTS["apo"]  # a killed run resumes here, not at step 1
    model, losses, seconds = train_step_apo(
        model, tokenizer, pairs, config, progress=lambda s, n, _: rnd.progress(label, s, n),
        checkpoints=checkpoints, save_every=CHECKPOINT_EVERY,
    )
    folder = save_policy(model, tokenizer, rnd.folder / "policy-apo", start_from=start or "base",
                         round=rnd.number, pairs=len(pairs), pairs_found=found, losses=losses,
                         **config.about())
    summary = {"trained": True, "policy": str(folder), "pairs": len(pairs), "pairs_found": found,
               "steps": len(losses),
               "first_loss": losses[0], "last_loss": losses[-1], "sha256": folder_sha256(folder),
               "seconds": seconds}
    _finish(out, summary)
    shutil.rmtree(checkpoints, ignore_errors=True)  # the policy is saved: nothing to resume
    return summary


def value_stage(rnd: Round, policy: str | None) -> dict[str, Any]:
    """The round's value head on ``policy``'s backbone, trained on ``value.jsonl``."""
    from backend.reward.ppm import ProcessPreferenceModel
    from backend.train.ppm_trainer import LoRA, PPMTrainConfig
    from backend.train.value_head import VALUE_TRAIN, ValueExample, fit_value_head, save_value_head

    out = rnd.folder / "value.json"
    if (done := _done(out)) is not None:
        return done
    rows = read_lines(rnd.folder / "value.jsonl")
    if not rows:
        why = "no path ended in a solution with an answer"
        rnd.say(f"round {rnd.number}: no value head trained: {why}")
        summary = {"trained": False, "value": None, "why": why, "examples": 0, "seconds": 0.0}
        _finish(out, summary)
        return summary
    t0 = time.monotonic()
    examples = [ValueExample(tuple(r["chunks"]), tuple(r["qs"])) for r in rows]
    opts = {**VALUE_TRAIN, "lora": LoRA(), "seed": rnd.settings.seed, **rnd.settings.ppm_train}
    config = PPMTrainConfig(**opts)
    backbone, tokenizer = rnd.models.trainable(policy)
    model = ProcessPreferenceModel(backbone)
    label = f"round {rnd.number}: value head"
    losses = fit_value_head(
        model, tokenizer, examples, config, progress=lambda s, n, _: rnd.progress(label, s, n)
    )
    folder = save_value_head(model, tokenizer, rnd.folder / "value", base=policy or "base",
                             examples=len(examples), **config.about())
    summary = {"trained": True, "value": str(folder), "examples": len(examples), "steps": len(losses),
               "first_loss": losses[0], "last_loss": losses[-1], "sha256": folder_sha256(folder),
               "seconds": round(time.monotonic() - t0, 2)}
    _finish(out, summary)
    return summary


#: greedy decoding in CPL's format: one path, the likeliest token each time, one candidate a step
GREEDY = {"rollouts": 1, "children": 1, "root_children": 1, "temperature": 0.0}


def cpl_eval_stage(
    folder: Path, label: str, rnd_models: Any, settings: Any, policy: str | None, value: str | None,
    fmt: str, problems: Sequence[Problem], progress: Progress,
) -> dict[str, Any]:
    """Held-out GSM8K *test* accuracy of ``policy`` in CPL's format ``fmt``: greedy (one path,
    temperature 0, one candidate per step: ``GREEDY``) and CPL's search (with ``value``).
    Reported, never used to pick settings."""
    from backend.runspec import RunSpec

    out = folder / "eval.json"
    if (done := _done(out)) is not None:
        return done
    summary: dict[str, Any] = {"policy": policy or "base", "value_head": value, "format": fmt,
                               "problems": len(problems)}
    about = rnd_models.describe(policy)
    for kind in ("greedy", "search"):
        search = kind == "search"
        config = {**settings.eval_search, **({} if search else GREEDY), "step_format": fmt}
        spec = RunSpec(
            problem="", algorithm="cpl", config=config, ppm=(value or "none") if search else "none",
            engine=about["engine"], model=about["model"], seed=settings.seed,
        )
        summary[kind] = held_out_accuracy(
            folder / "eval" / kind, spec, problems, lambda: rnd_models.engine(policy), settings.seed,
            lambda i: progress(f"{label}: {kind} on held-out", i, len(problems)),  # noqa: B023 - called now
        )
    _finish(out, summary)
    return summary
