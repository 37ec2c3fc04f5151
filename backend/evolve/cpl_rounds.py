"""CPL's training rounds (arXiv 2409.08642; official README "Round 1" / "Round 2"), resumable.

Round 1: plan-space MCTS in the round-1 format with the base policy, terminals graded against
the known answer (truth mode, ±1) on GSM8K *train* problems; from its trees the SFT plans,
the Step-APO pairs and the value examples (``cpl_data.py``); the policy fine-tuned by SFT
(``stages.policy_stage``: TRL ``SFTTrainer`` + LoRA), then by Step-APO from the SFT policy
(``backend/train/step_apo_trainer.py``: TRL ``DPOTrainer`` with the Step-APO loss, reference
frozen at the SFT policy, β 0.3, α 1, lr 1e-6, 3 epochs), and a value head trained on the new
policy's backbone (``backend/train/value_head.py``). Round 2: the same with the round-1
policy, the round-2 XML format (what round 1's data taught) and round 1's value head in the
search (one leaf per iteration, its estimate backed up before expansion).

Each round is evaluated on a held-out GSM8K *test* slice (greedy and CPL's search), round 0
being the base policy; the rows go to ``report.json`` / ``report.md`` / ``report.html`` as
the rStar-Math rounds' do (``rounds.py``), and ``manifest.json`` records the settings
(``"algo": "cpl"``), problems, seeds, RunSpecs and model checksums.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backend.evolve.charts import write_charts
from backend.evolve.cpl_data import PLANS_PER_PROBLEM
from backend.evolve.cpl_stages import (
    apo_stage,
    cpl_data_stage,
    cpl_eval_stage,
    cpl_search_stage,
    cpl_solved,
    search_config,
)
from backend.evolve.manifest import (
    MANIFEST,
    EvolveSettings,
    folder_sha256,
    new_manifest,
    open_manifest,
    write_json,
)
from backend.evolve.models import Models
from backend.evolve.report import (
    _cell,
    eval_seconds,
    heldout_tokens,
    machine_notes,
    peak_cell,
    peak_rss,
    search_won_lost,
    won_lost,
)
from backend.evolve.rounds import problem_sets
from backend.evolve.run_paths import portable
from backend.evolve.stages import (
    Progress,
    Round,
    Say,
    cpu_note,
    eval_tokens,
    policy_stage,
    versus_previous_search,
    versus_round_0,
)

CPL_ROUNDS = 2


@dataclass(frozen=True)
class CPLSettings:
    """An evolve run's settings (``EvolveSettings``: problems, searches, SFT, value head
    training in ``ppm_train``) plus CPL's own: Step-APO (``StepAPOConfig`` fields) and the SFT
    plans kept per problem."""

    evolve: EvolveSettings = field(default_factory=EvolveSettings)
    apo: Mapping[str, Any] = field(default_factory=dict)
    plans_per_problem: int = PLANS_PER_PROBLEM

    def __post_init__(self) -> None:
        if not 1 <= self.evolve.rounds <= CPL_ROUNDS:
            raise ValueError(f"CPL has {CPL_ROUNDS} rounds, not {self.evolve.rounds}")
        if self.evolve.eval_sc:
            raise ValueError("held-out self-consistency (eval_sc) samples rStar-Math's code solutions; "
                             "CPL's rounds do not run it")
        object.__setattr__(self, "apo", dict(self.apo))

    def to_dict(self) -> dict[str, Any]:
        return {
            "algo": "cpl",
            **self.evolve.to_dict(),
            "apo": dict(self.apo),
            "plans_per_problem": self.plans_per_problem,
        }


def _quiet(what: str, done: int, total: int) -> None:
    pass


def round_format(number: int) -> str:
    """Official: round 1 searches in the plan format, round 2 in XML."""
    return "plan" if number == 1 else "xml"


def run_cpl_evolve(
    run_dir: str | Path,
    settings: CPLSettings,
    models: Models,
    *,
    say: Say = print,
    progress: Progress = _quiet,
) -> list[dict[str, Any]]:
    """Run (or resume) CPL's rounds; the report rows (round 0 first when evaluated)."""
    from backend.train.ppm_data import problem_seed

    evolve = settings.evolve
    root = Path(run_dir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    train, test = problem_sets(evolve)
    # the manifest takes any settings with to_dict(): CPL's carry the rStar ones and their own
    fresh = new_manifest(
        settings,  # type: ignore[arg-type]
        train_ids=[p.id for p in train],
        test_ids=[p.id for p in test],
        base=models.describe(None),
    )
    fresh["seeds"] = {
        "search": {p.id: problem_seed(p, evolve.seed) for p in train},
        "eval": {p.id: evolve.seed + i for i, p in enumerate(test)},
    }
    manifest = open_manifest(root, settings, fresh)  # type: ignore[arg-type]
    rows: list[dict[str, Any]] = []
    if evolve.evaluate_base:
        base = cpl_eval_stage(root / "round-0", "round 0", models, evolve, None, None, "plan", test, progress)
        rows.append(
            {
                "round": 0,
                "kind": "base policy",
                "heldout_problems": base["problems"],
                "heldout_greedy_accuracy": base["greedy"]["accuracy"],
                "heldout_search_accuracy": base["search"]["accuracy"],
                **heldout_tokens(eval_tokens(root / "round-0")),
                "seconds": {"eval": round(base["greedy"]["seconds"] + base["search"]["seconds"], 2)},
                **peak_rss(eval=base),
            }
        )
    policy, value = None, None
    for number in range(1, evolve.rounds + 1):
        rnd = Round(number, root / f"round-{number}", evolve, models, policy, value, say, progress)
        row, policy, value = _one_round(rnd, settings, train, test)
        manifest["rounds"][str(number)] = _manifest_entry(rnd, row)
        write_json(root / MANIFEST, portable(manifest, root))
        rows.append(row)
        say(
            f"CPL round {number} done: "
            f"{row['solved_in_search']}/{row['problems_searched']} solved in search, "
            f"{row['sft_examples']} SFT plans, {row['apo_pairs']} Step-APO pairs, "
            f"held-out greedy {row['heldout_greedy_accuracy']}, search {row['heldout_search_accuracy']}"
        )
    write_json(root / "report.json", portable({"algo": "cpl", "rounds": rows}, root))
    (root / "report.md").write_text(markdown(rows, f"CPL evolve run {root.name}"), encoding="utf-8")
    write_charts(rows, root / "report.html")
    return rows


def _one_round(rnd: Round, settings: CPLSettings, train: list[Any], test: list[Any]) -> tuple:
    """One round's stages; (its row, the policy after it, the value head it trained or the old one)."""
    t0 = time.monotonic()
    fmt = round_format(rnd.number)
    search = cpl_search_stage(rnd, train, fmt)
    data = cpl_data_stage(rnd, train, settings.plans_per_problem)
    start = None if rnd.settings.finetune_from == "base" else rnd.policy_in
    sft = policy_stage(rnd, start)
    after_sft = sft["policy"] if sft["trained"] else rnd.policy_in
    apo = apo_stage(rnd, after_sft, settings.apo)
    policy = apo["policy"] if apo["trained"] else after_sft
    value = _value(rnd, policy)
    new_value = value["value"] if value["trained"] else rnd.ppm_in
    evaluation = cpl_eval_stage(
        rnd.folder,
        f"round {rnd.number}",
        rnd.models,
        rnd.settings,
        policy,
        new_value,
        "xml" if sft["trained"] else fmt,
        test,
        rnd.progress,
    )
    row = cpl_row(rnd, fmt, search, data, sft, apo, value, evaluation)
    write_json(rnd.folder / "report.json", portable(row, rnd.folder.parent))
    (rnd.folder / "report.md").write_text(markdown([row], f"CPL round {rnd.number}"), encoding="utf-8")
    rnd.say(f"CPL round {rnd.number}: {time.monotonic() - t0:.1f} s in this session")
    return row, policy, new_value


def _value(rnd: Round, policy: str | None) -> dict[str, Any]:
    from backend.evolve.cpl_stages import value_stage

    return value_stage(rnd, policy)


def cpl_row(
    rnd: Round,
    fmt: str,
    search: Mapping[str, Any],
    data: Mapping[str, Any],
    sft: Mapping[str, Any],
    apo: Mapping[str, Any],
    value: Mapping[str, Any],
    evaluation: Mapping[str, Any],
) -> dict[str, Any]:
    """What one CPL round did, in numbers (keys shared with the rStar rows where they mean the same)."""
    seconds = {
        "search": search["seconds"],
        "data": data["seconds"],
        "fine_tune": sft["seconds"],
        "step_apo": apo["seconds"],
        "value_head": value["seconds"],
        "eval": eval_seconds(evaluation),
    }
    guided = "value-head" if rnd.ppm_in else "terminal-guided"
    return {
        "round": rnd.number,
        "kind": f"CPL {fmt} format, {guided}",
        "policy_in": rnd.policy_in or "base",
        "value_in": rnd.ppm_in,
        "problems_searched": search["problems"],
        "solved_in_search": search["right_answer_in_tree"],
        "search_answer_right": search["search_answer_right"],
        **search_won_lost(versus_previous_search(rnd.folder, rnd.number, cpl_solved)),
        "sft_examples": data["sft_examples"],
        "apo_pairs": data["apo_pairs"],
        "value_examples": data["value_examples"],
        "policy_trained": sft["trained"],
        "train_steps": sft.get("steps", 0),
        "train_loss_first": sft.get("first_loss"),
        "train_loss_last": sft.get("last_loss"),
        "apo_trained": apo["trained"],
        "apo_steps": apo.get("steps", 0),
        "apo_loss_first": apo.get("first_loss"),
        "apo_loss_last": apo.get("last_loss"),
        "policy": apo.get("policy") if apo["trained"] else sft.get("policy"),
        "value_trained": value["trained"],
        "value": value.get("value"),
        "value_loss_first": value.get("first_loss"),
        "value_loss_last": value.get("last_loss"),
        "value_note": value.get("why"),
        "heldout_problems": evaluation["problems"],
        "heldout_greedy_accuracy": evaluation["greedy"]["accuracy"],
        "heldout_search_accuracy": evaluation["search"]["accuracy"],
        **heldout_tokens(eval_tokens(rnd.folder)),
        **won_lost(versus_round_0(rnd.folder)),
        "heldout_cpu_note": cpu_note(rnd.folder),
        "seconds": {**seconds, "total": round(sum(seconds.values()), 2)},
        **peak_rss(search=search, data=data, fine_tune=sft, step_apo=apo, value_head=value, eval=evaluation),
    }


def _manifest_entry(rnd: Round, row: Mapping[str, Any]) -> dict[str, Any]:
    from backend.runspec import RunSpec

    about = rnd.models.describe(rnd.policy_in)
    spec = RunSpec(
        problem="(each training problem)",
        algorithm="cpl",
        config=search_config(rnd, round_format(rnd.number)),
        reward="truth",
        ppm=rnd.ppm_in or "none",
        engine=about["engine"],
        model=about["model"],
        seed=rnd.settings.seed,
    )
    made = {
        key: {"path": row[key], "sha256": folder_sha256(row[key])}
        for key in ("policy", "value")
        if row.get(key) and row.get(f"{key}_trained")
    }
    return {"kind": row["kind"], "search_spec": spec.to_dict(), "policy_in": about, "made": made}


_COLUMNS = (
    ("round", "round"),
    ("kind", "kind"),
    ("problems_searched", "searched"),
    ("solved_in_search", "solved in search"),
    ("solved_in_search_won_lost", "solved won/lost vs previous round"),
    ("sft_examples", "SFT plans"),
    ("apo_pairs", "Step-APO pairs"),
    ("value_examples", "value examples"),
    ("train_loss_last", "SFT loss last"),
    ("apo_loss_first", "APO loss first"),
    ("apo_loss_last", "APO loss last"),
    ("value_loss_last", "value loss last"),
    ("heldout_greedy_accuracy", "held-out greedy"),
    ("heldout_search_accuracy", "held-out search"),
    ("heldout_greedy_tokens", "greedy tokens / problem"),
    ("heldout_search_tokens", "search tokens / problem"),
    ("heldout_greedy_won_lost", "greedy won/lost vs round 0"),
    ("heldout_search_won_lost", "search won/lost vs round 0"),
)


def markdown(rows: Sequence[Mapping[str, Any]], title: str) -> str:
    """The CPL rounds as one Markdown table (round 0 is the base policy)."""
    lines = [
        f"# {title}",
        "",
        "| " + " | ".join(h for _, h in _COLUMNS) + " | time (s) | peak RSS (MB) |",
        "|" + "---|" * (len(_COLUMNS) + 2),
    ]
    for row in rows:
        total = row.get("seconds", {})
        cells = [_cell(row.get(key)) for key, _ in _COLUMNS]
        cells += [_cell(total.get("total", total.get("eval"))), peak_cell(row)]
        lines.append("| " + " | ".join(cells) + " |")
    notes = [f"- round {r['round']}: {r['value_note']}" for r in rows if r.get("value_note")]
    lines += ["", *(["Value head:", *notes, ""] if notes else [])]
    if machines := machine_notes(rows):
        lines += [*machines[1:], ""]
    lines.append(
        "Held-out accuracy is on GSM8K test problems (never searched for training, never used to pick "
        "settings); solved in search = the truth-mode plan tree held a right answer (solved won/lost: "
        "against the previous round on the same training problems)."
    )
    return "\n".join(lines) + "\n"
