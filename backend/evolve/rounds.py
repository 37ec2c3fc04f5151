"""rStar-Math's self-evolution rounds, run in a directory that can be resumed after a kill.

The paper (arXiv 2501.04519, §3.3 and Fig. 1c): round 1 searches with the base policy and the
terminal reward (±1 from the known answer); round 2 does the same with the round-1 policy;
rounds 3-4 are PPM-augmented (the latest PPM values each new step). Each round here:

1. truth-rewarded MCTS on GSM8K *train* problems (never a test problem);
2. the official SFT data (top-k correct traces by mean Q, ``sft_data.py``) and PPM pairs;
3. the policy fine-tuned on that data (TRL SFTTrainer + LoRA, ``backend/train/sft.py``),
   from the base model (``finetune_from="base"``) or the latest policy;
4. a PPM trained on the pairs (skipped, with the reason, when there are too few);
5. evaluation on a held-out GSM8K *test* slice: greedy decoding of the new policy, and the
   default search with it (and its PPM); reported, never used to pick settings.

Round 0 evaluates the base policy on the same slice and seeds. Every stage writes its output
atomically and is skipped when present (``stages.py``); ``manifest.json`` records what the
run is made of (``manifest.py``), each round writes ``report.json`` / ``report.md``, and the
run's ``report.json`` / ``report.md`` hold every round, ``report.html`` their Plotly charts.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from backend.evolve.charts import write_charts
from backend.evolve.manifest import (
    FIRST_PPM_ROUND,
    MANIFEST,
    TEST_SET,
    TRAIN_SET,
    EvolveSettings,
    new_manifest,
    open_manifest,
    round_kind,
    write_json,
)
from backend.evolve.models import Models
from backend.evolve.report import baseline_report, markdown, round_report
from backend.evolve.run_paths import portable
from backend.evolve.stages import (
    Progress,
    Round,
    Say,
    cpu_note,
    data_stage,
    eval_stage,
    eval_tokens,
    policy_stage,
    ppm_stage,
    search_stage,
    versus_previous_search,
    versus_round_0,
    versus_search,
)


def _quiet(what: str, done: int, total: int) -> None:
    pass


def problem_sets(settings: EvolveSettings) -> tuple[list[Any], list[Any]]:
    """(training problems from gsm8k-train, held-out problems from the GSM8K test set)."""
    from backend.problems import load_problems

    train = load_problems(TRAIN_SET, settings.train_start + settings.train_count)[settings.train_start :]
    test = load_problems(TEST_SET, settings.test_start + settings.test_count)[settings.test_start :]
    return train, test


def run_evolve(
    run_dir: str | Path,
    settings: EvolveSettings,
    models: Models,
    *,
    say: Say = print,
    progress: Progress = _quiet,
) -> list[dict[str, Any]]:
    """Run (or resume) every round; the report rows (round 0 first when evaluated)."""
    from backend.train.ppm_data import problem_seed

    root = Path(run_dir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    train, test = problem_sets(settings)
    fresh = new_manifest(
        settings,
        train_ids=[p.id for p in train],
        test_ids=[p.id for p in test],
        base=models.describe(None),
    )
    fresh["seeds"] = {
        "search": {p.id: problem_seed(p, settings.seed) for p in train},
        "eval": {p.id: settings.seed + i for i, p in enumerate(test)},
    }
    manifest = open_manifest(root, settings, fresh)
    rows: list[dict[str, Any]] = []
    if settings.evaluate_base:
        base = eval_stage(root / "round-0", "round 0", models, settings, None, None, test, progress)
        rows.append(baseline_report(base, eval_tokens(root / "round-0"), versus_search(root / "round-0"),
                                    cpu_note(root / "round-0")))
    policy, latest_ppm = None, settings.ppm
    for number in range(1, settings.rounds + 1):
        ppm_in = latest_ppm if number >= FIRST_PPM_ROUND else None
        if number >= FIRST_PPM_ROUND and ppm_in is None:
            raise ValueError(
                f"round {number} is PPM-augmented and no PPM exists: no earlier round trained one "
                "(too few pairs) and none was given (--ppm DIR); run more training problems, "
                "or stop at round 2"
            )
        rnd = Round(number, root / f"round-{number}", settings, models, policy, ppm_in, say, progress)
        row, policy, new_ppm = _one_round(rnd, train, test, start_from=policy)
        latest_ppm = new_ppm or latest_ppm
        manifest["rounds"][str(number)] = _manifest_entry(rnd, row)
        write_json(root / MANIFEST, portable(manifest, root))
        rows.append(row)
        say(f"round {number} done: {_summary(row)}")
    write_json(root / "report.json", portable({"rounds": rows}, root))
    (root / "report.md").write_text(markdown(rows, f"Evolve run {root.name}"), encoding="utf-8")
    write_charts(rows, root / "report.html")
    return rows


def _one_round(rnd: Round, train: list[Any], test: list[Any], *, start_from: str | None) -> tuple:
    """One round's stages; (its report row, the policy after it, the PPM it trained or None)."""
    t0 = time.monotonic()
    search = search_stage(rnd, train)
    data = data_stage(rnd, train)
    base_or_latest = None if rnd.settings.finetune_from == "base" else start_from
    trained = policy_stage(rnd, base_or_latest)
    policy = trained["policy"] if trained["trained"] else rnd.policy_in
    ppm = ppm_stage(rnd, policy)
    new_ppm = ppm["ppm"] if ppm["trained"] else None
    evaluation = eval_stage(
        rnd.folder, f"round {rnd.number}", rnd.models, rnd.settings, policy, new_ppm or rnd.ppm_in, test,
        rnd.progress,
    )
    row = round_report(
        rnd.number, round_kind(rnd.number), policy_in=rnd.policy_in, ppm_in=rnd.ppm_in, search=search,
        data=data, policy=trained, ppm=ppm, evaluation=evaluation, versus=versus_round_0(rnd.folder),
        tokens=eval_tokens(rnd.folder), cpu_note=cpu_note(rnd.folder),
        versus_search=versus_previous_search(rnd.folder, rnd.number), search_vs_sc=versus_search(rnd.folder),
    )
    write_json(rnd.folder / "report.json", portable(row, rnd.folder.parent))
    (rnd.folder / "report.md").write_text(markdown([row], f"Round {rnd.number}"), encoding="utf-8")
    rnd.say(f"round {rnd.number}: {time.monotonic() - t0:.1f} s in this session")
    return row, policy, new_ppm


def _manifest_entry(rnd: Round, row: dict[str, Any]) -> dict[str, Any]:
    """What the manifest keeps of a round: its searches' RunSpec and the models it made."""
    from backend.evolve.manifest import folder_sha256, ppm_sha256
    from backend.runspec import RunSpec

    about = rnd.models.describe(rnd.policy_in)
    spec = RunSpec(
        problem="(each training problem)", algorithm="rstar", config=dict(rnd.settings.search),
        reward="truth", ppm=rnd.ppm_in or "none", engine=about["engine"], model=about["model"],
        seed=rnd.settings.seed,
    )
    made = {}
    for key, checksum in (("policy", folder_sha256), ("ppm", ppm_sha256)):
        if row.get(f"{key}_trained") and row.get(key):
            made[key] = {"path": row[key], "sha256": checksum(row[key])}
    return {"kind": row["kind"], "search_spec": spec.to_dict(), "policy_in": about, "made": made}


def _summary(row: dict[str, Any]) -> str:
    return (
        f"{row['solved_in_search']}/{row['problems_searched']} solved in search, "
        f"{row['sft_examples']} SFT examples, {row['ppm_pairs']} PPM pairs, "
        f"held-out greedy {row['heldout_greedy_accuracy']}, search {row['heldout_search_accuracy']}"
        + (f", self-consistency {row['heldout_sc_accuracy']} ({row['heldout_sc_samples']} samples)"
           if "heldout_sc_accuracy" in row else "")
    )
