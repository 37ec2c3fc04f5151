"""Round reports: one round's numbers (JSON) and the run's table (Markdown), from the stage
outputs alone, so a resumed run writes the same report as one that never stopped (times
aside: ``seconds`` are measured)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def round_report(
    number: int,
    kind: str,
    *,
    policy_in: str | None,
    ppm_in: str | None,
    search: Mapping[str, Any],
    data: Mapping[str, Any],
    policy: Mapping[str, Any],
    ppm: Mapping[str, Any],
    evaluation: Mapping[str, Any],
    versus: Mapping[str, Sequence[int]] | None = None,
    tokens: Mapping[str, float] | None = None,
    cpu_note: str | None = None,
    versus_search: Mapping[str, Sequence[int] | None] | None = None,
    search_vs_sc: Sequence[int] | None = None,
) -> dict[str, Any]:
    """What one round did, in numbers; ``versus``: [won, lost] against round 0 per evaluation
    (``stages.versus_round_0``); ``tokens``: mean tokens a problem per evaluation
    (``stages.eval_tokens``); ``cpu_note``: ``stages.cpu_note``; ``versus_search``: the
    training search against the previous round's (``stages.versus_previous_search``);
    ``search_vs_sc``: the held-out search against self-consistency (``stages.versus_search``)."""
    seconds = {
        "search": search["seconds"],
        "data": data["seconds"],
        "fine_tune": policy["seconds"],
        "ppm": ppm["seconds"],
        "eval": eval_seconds(evaluation),
    }
    return {
        "round": number,
        "kind": kind,
        "policy_in": policy_in or "base",
        "ppm_in": ppm_in,
        "problems_searched": search["problems"],
        "solved_in_search": search["right_answer_in_tree"],
        "search_answer_right": search["search_answer_right"],
        **search_won_lost(versus_search),
        "retries": search.get("retries"),
        "solved_after_retries": search.get("right_answer_after_retries"),
        "sft_examples": data["sft_examples"],
        "ppm_pairs": data["ppm_pairs"],
        "policy_trained": policy["trained"],
        "policy": policy.get("policy"),
        "train_steps": policy.get("steps", 0),
        "train_loss_first": policy.get("first_loss"),
        "train_loss_last": policy.get("last_loss"),
        "ppm_trained": ppm["trained"],
        "ppm": ppm.get("ppm"),
        "ppm_heldout_pairwise_accuracy": ppm.get("heldout_pairwise_accuracy"),
        "ppm_note": ppm.get("why") or ppm.get("note"),
        "heldout_problems": evaluation["problems"],
        "heldout_greedy_accuracy": evaluation.get("greedy", {}).get("accuracy"),
        "heldout_search_accuracy": evaluation.get("search", {}).get("accuracy"),
        **heldout_tokens(tokens),
        **won_lost(versus),
        **sc_keys(evaluation, tokens, versus, search_vs_sc),
        "heldout_cpu_note": cpu_note,
        "seconds": {**seconds, "total": round(sum(seconds.values()), 2)},
        **peak_rss(search=search, data=data, fine_tune=policy, ppm=ppm, eval=evaluation),
    }


def peak_rss(**stages: Mapping[str, Any]) -> dict[str, dict[str, float | None]]:
    """The row key of each stage's peak resident memory in MB (``stages._finish``; None for a
    stage saved before Canopy recorded it). Measured, like ``seconds``."""
    return {"peak_rss_mb": {name: summary.get("peak_rss_mb") for name, summary in stages.items()}}


def peak_cell(row: Mapping[str, Any]) -> str:
    """The report table's cell: the round's highest stage peak (MB), "–" when none was recorded."""
    known = [v for v in (row.get("peak_rss_mb") or {}).values() if v is not None]
    return _cell(max(known)) if known else "–"


def retry_notes(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The report's lines for rounds that searched their unsolved problems again
    (``backend/evolve/retry.py``; none: no lines)."""
    notes = []
    keys = ("searched", "rollouts", "solved")
    for row in rows:
        passes = row.get("retries")
        if not (isinstance(passes, list) and passes and all(  # a run folder's file: counts or nothing
                isinstance(p, dict) and all(type(p.get(k)) is int for k in keys) for p in passes)):
            continue
        each = "; ".join(f"{p['searched']} searched with {p['rollouts']} rollouts, {p['solved']} solved"
                         for p in passes)
        notes.append(f"- round {row['round']}: {each}; a right answer in {row.get('solved_after_retries')} "
                     f"trees after the retries (the table's count is the first search's)")
    return ["", "Retries of the unsolved training problems:", *notes] if notes else []


def machine_notes(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The report's lines for rounds evaluated on another CPU than round 0 (none: no lines)."""
    notes = [f"- round {r['round']}: {r['heldout_cpu_note']}" for r in rows if r.get("heldout_cpu_note")]
    return ["", "Machines:", *notes] if notes else []


def won_lost(versus: Mapping[str, Sequence[int]] | None) -> dict[str, list[int] | None]:
    """The row keys of a round's pairwise count against round 0 (None: no round 0)."""
    versus = versus or {}
    return {f"heldout_{kind}_won_lost": list(versus[kind]) if kind in versus else None
            for kind in ("greedy", "search")}


def search_won_lost(versus: Mapping[str, Sequence[int] | None] | None) -> dict[str, list[int] | None]:
    """The row keys of a round's training search against the previous round's (None: round 1,
    or a report built without the trees)."""
    versus = versus or {}
    return {key: list(versus[key]) if versus.get(key) is not None else None
            for key in ("solved_in_search_won_lost", "search_answer_won_lost")}


def heldout_tokens(tokens: Mapping[str, float] | None) -> dict[str, float | None]:
    """The row keys of a round's mean tokens per held-out problem (None: not evaluated)."""
    tokens = tokens or {}
    return {f"heldout_{kind}_tokens": tokens.get(kind) for kind in ("greedy", "search")}


def sc_keys(
    evaluation: Mapping[str, Any], tokens: Mapping[str, float] | None,
    versus: Mapping[str, Sequence[int]] | None, search_vs_sc: Sequence[int] | None,
) -> dict[str, Any]:
    """The row keys of a round's held-out self-consistency (``EvolveSettings.eval_sc``): its
    accuracy, samples and tokens, the search's [won, lost] against it, and its own against
    round 0's. No keys when the round ran none, so reports of runs without it read as before."""
    if "sc" not in evaluation:
        return {}
    return {
        "heldout_sc_accuracy": evaluation["sc"].get("accuracy"),
        "heldout_sc_samples": evaluation.get("sc_samples"),
        "heldout_sc_tokens": (tokens or {}).get("sc"),
        "heldout_search_vs_sc_won_lost": list(search_vs_sc) if search_vs_sc is not None else None,
        "heldout_sc_won_lost": list(versus["sc"]) if versus and "sc" in versus else None,
    }


def eval_seconds(evaluation: Mapping[str, Any]) -> float:
    """Seconds of a round's held-out evaluation (greedy, search and self-consistency together)."""
    return round(sum(evaluation.get(k, {}).get("seconds", 0.0) for k in ("greedy", "search", "sc")), 2)


def baseline_report(
    evaluation: Mapping[str, Any], tokens: Mapping[str, float] | None = None,
    search_vs_sc: Sequence[int] | None = None, cpu_note: str | None = None,
) -> dict[str, Any]:
    """Round 0: the base policy on the same held-out problems and seeds (``cpu_note``: when
    its own evaluations ran on different CPUs, ``stages.cpu_note``)."""
    return {
        "round": 0,
        "kind": "base policy",
        "heldout_problems": evaluation["problems"],
        "heldout_greedy_accuracy": evaluation.get("greedy", {}).get("accuracy"),
        "heldout_search_accuracy": evaluation.get("search", {}).get("accuracy"),
        **heldout_tokens(tokens),
        **sc_keys(evaluation, tokens, None, search_vs_sc),
        **({"heldout_cpu_note": cpu_note} if cpu_note else {}),
        "seconds": {"eval": eval_seconds(evaluation)},
        **peak_rss(eval=evaluation),
    }


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    if isinstance(value, (list, tuple)):  # [won, lost]
        return "/".join(str(v) for v in value)
    return str(value)


_COLUMNS = (
    ("round", "round"),
    ("kind", "kind"),
    ("problems_searched", "searched"),
    ("solved_in_search", "solved in search"),
    ("solved_in_search_won_lost", "solved won/lost vs previous round"),
    ("sft_examples", "SFT examples"),
    ("ppm_pairs", "PPM pairs"),
    ("train_loss_first", "loss first"),
    ("train_loss_last", "loss last"),
    ("ppm_heldout_pairwise_accuracy", "PPM held-out acc."),
    ("heldout_greedy_accuracy", "held-out greedy"),
    ("heldout_search_accuracy", "held-out search"),
    ("heldout_greedy_tokens", "greedy tokens / problem"),
    ("heldout_search_tokens", "search tokens / problem"),
    ("heldout_greedy_won_lost", "greedy won/lost vs round 0"),
    ("heldout_search_won_lost", "search won/lost vs round 0"),
)


_SC_COLUMNS = (
    ("round", "round"),
    ("heldout_search_accuracy", "held-out search"),
    ("heldout_sc_accuracy", "held-out self-consistency"),
    ("heldout_sc_samples", "samples"),
    ("heldout_search_tokens", "search tokens / problem"),
    ("heldout_sc_tokens", "self-consistency tokens / problem"),
    ("heldout_search_vs_sc_won_lost", "search won/lost vs self-consistency"),
    ("heldout_sc_won_lost", "self-consistency won/lost vs round 0"),
)


def sc_table(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The report's lines comparing each round's search with its self-consistency at the same
    tokens (the rounds that ran it; none: no lines)."""
    with_sc = [r for r in rows if "heldout_sc_accuracy" in r]
    if not with_sc:
        return []
    lines = ["", "Self-consistency at the search's tokens (samples = search tokens / greedy tokens):", "",
             "| " + " | ".join(h for _, h in _SC_COLUMNS) + " |", "|" + "---|" * len(_SC_COLUMNS)]
    return lines + ["| " + " | ".join(_cell(r.get(key)) for key, _ in _SC_COLUMNS) + " |" for r in with_sc]


def markdown(rows: Sequence[Mapping[str, Any]], title: str = "Evolve run") -> str:
    """The rounds as one Markdown table (round 0 is the base policy), plus each round's notes."""
    lines = [f"# {title}", "", "| " + " | ".join(h for _, h in _COLUMNS) + " | time (s) | peak RSS (MB) |"]
    lines.append("|" + "---|" * (len(_COLUMNS) + 2))
    for row in rows:
        cells = [_cell(row.get(key)) for key, _ in _COLUMNS]
        total = row.get("seconds", {})
        cells += [_cell(total.get("total", total.get("eval"))), peak_cell(row)]
        lines.append("| " + " | ".join(cells) + " |")
    notes = [f"- round {r['round']}: {r['ppm_note']}" for r in rows if r.get("ppm_note")]
    if notes:
        lines += ["", "PPM:", *notes]
    lines += retry_notes(rows)
    lines += machine_notes(rows)
    lines += sc_table(rows)
    lines += [
        "",
        "Held-out accuracy is on GSM8K test problems (never searched for training, never used to "
        "pick settings); solved in search = the truth-rewarded tree held a right answer (on the "
        "training problems, searched again each round with the same seeds: solved won/lost = solved "
        "in this round and not in the previous one, and the reverse); held-out won/lost = "
        "held-out problems right in this round and wrong in round 0 (same seeds), and the reverse.",
    ]
    return "\n".join(lines) + "\n"
