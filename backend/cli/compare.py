"""``canopy compare``: several methods on the same problems, seeds and budget, with a JSON
and an HTML report (``backend/compare.py`` does the work, ``backend/report_html.py`` the page).

    canopy compare --dataset gsm8k --limit 20 --algos greedy,sc,rstar --budget tokens=1500
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any

import typer

from backend.cli.search import (
    _ERRORS,
    EngineOpt,
    ModelOpt,
    PpmOpt,
    SeedOpt,
    ThreadsOpt,
    _engine,
    _fail,
    _spec,
)


def compare_cmd(
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="gsm8k, math500, ... or a .jsonl file")],
    algos: Annotated[
        str,
        typer.Option(
            "--algos", help="Methods, comma-separated: ALGO or ALGO:KEY=VALUE (e.g. rstar:children=3)."
        ),
    ] = "greedy,sc,rstar",
    limit: Annotated[int | None, typer.Option("--limit", "-n", min=1, help="First N problems.")] = None,
    start: Annotated[
        int, typer.Option("--start", min=0, help="Skip the first K problems (ids keep their place).")
    ] = 0,
    budget: Annotated[
        str | None, typer.Option("--budget", help="tokens=N or iterations=N, the same for every method.")
    ] = None,
    reward: Annotated[
        str, typer.Option("--reward", help="auto (default), vote or ppm; truth is refused.")
    ] = "auto",
    ppm: PpmOpt = "default",
    seed: SeedOpt = 0,
    report: Annotated[
        Path | None, typer.Option("--report", help="JSON report (default compare-DATASET.json).")
    ] = None,
    html: Annotated[
        Path | None, typer.Option("--html", help="HTML report (default: the JSON's name, .html).")
    ] = None,
    engine: EngineOpt = "llamacpp",
    model: ModelOpt = None,
    threads: ThreadsOpt = None,
) -> None:
    """Run every method on the same problems, seeds and budget; report accuracy, tokens, time
    and the problems each method won and lost against each other."""
    from rich.console import Console
    from rich.markup import escape

    from backend.compare import compare, method_spec, parse_budget, parse_methods
    from backend.problems import load_problems
    from backend.report_html import compare_html

    console = Console()
    try:
        methods = parse_methods(algos)
        plan = parse_budget(budget)
        problems = load_problems(dataset, limit, start)
        if not problems:
            skipped = f" after skipping the first {start} (--start)" if start else ""
            raise ValueError(f"no problems in {dataset}{skipped}")
        if any(p.answer is None for p in problems):
            raise ValueError(f"some problems in {dataset} have no answer to grade against")
        base = _spec("", methods[0].algorithm, None, {}, reward, ppm, engine, model, seed + start)
        for m in methods:  # a bad method or setting fails before the model loads
            method_spec(base, m, plan)
        eng = _engine(base, threads)

        def progress(method: Any, i: int, prob: Any, res: Any) -> None:
            mark = "[green]✓[/]" if res.correct else "[red]✗[/]"
            console.print(  # labels, ids, answers are user, file and model text: never markup
                mark
                + escape(f" {method.label} · {prob.id}: answer {res.answer} · reference {prob.answer} · ")
                + f"{res.tokens} tokens · {res.wall_s:.1f} s",
                highlight=False,
            )

        def failed(method: Any, i: int, prob: Any, why: str) -> None:
            console.print(f"✗ {method.label} · {prob.id}: error {why}", markup=False, highlight=False)

        rep = compare(
            problems,
            methods,
            base,
            engine=eng,
            budget=plan,
            dataset=dataset,
            on_result=progress,
            on_error=failed,
        )
        data = rep.to_dict()
        stem = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(dataset).stem) or "dataset"
        report = report or Path(f"compare-{stem}.json")
        html = html or report.with_suffix(".html")
        report.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
        html.write_text(compare_html(data), encoding="utf-8")
    except _ERRORS as exc:
        raise _fail(str(exc)) from None
    _print_summary(console, data)
    console.print(f"report: {report} · {html}", highlight=False)


def _print_summary(console: Any, data: dict[str, Any]) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=escape(f"compare on {data['dataset']} · budget {data['budget'] or 'none'}"))
    for col in ("method", "accuracy", "right", "mean tokens", "mean s", "wall s", "budget"):
        table.add_column(col, overflow="fold")
    for m in data["methods"]:
        table.add_row(
            escape(m["label"]),
            f"{m['accuracy']:.1%}",
            f"{m['correct']}/{m['total']}",
            f"{m['mean_tokens']:.0f}",
            f"{m['mean_wall_s']:.1f}",
            f"{m['wall_s']:.1f}",
            m["budget_rule"],
        )
    console.print(table)
    for p in data["pairwise"]:
        console.print(
            f"{p['a']} vs {p['b']}: {p['a']} won {p['a_won']}, {p['b']} won {p['b_won']}, "
            f"both right {p['both']}, both wrong {p['neither']}",
            highlight=False,
            markup=False,
        )


def register(app: typer.Typer) -> None:
    app.command("compare")(compare_cmd)
