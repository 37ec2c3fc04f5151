"""``canopy solve`` and ``canopy eval``: the search from the command line.

``backend/cli/__init__.py`` calls :func:`register` to add both commands. Options come from the
algorithm registry: ``--rollouts``/``--children`` are shortcuts, and ``--set KEY=VALUE``
reaches every field of the algorithm's config (``canopy solve --algo rstar --set c=1.5``).
Bad input is one ``error: ...`` line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from backend import events as ev

_ERRORS = (ValueError, TypeError, FileNotFoundError, ImportError, LookupError, OSError, RuntimeError)

AlgoOpt = Annotated[str, typer.Option("--algo", "-a", help="Algorithm: rstar, cpl, greedy, sc, bon, lips.")]
RewardOpt = Annotated[
    str,
    typer.Option(
        "--reward",
        help="auto (default: ppm with a PPM, else vote), vote, ppm, truth (training data: uses --answer).",
    ),
]
PpmOpt = Annotated[
    str,
    typer.Option(
        "--ppm",
        help="default (the shipped PPM: rstar with the embedded model), none, or a PPM directory.",
    ),
]
PresetOpt = Annotated[
    str | None, typer.Option("--preset", help="Config preset, e.g. cpu-demo, paper-inference.")
]
RolloutsOpt = Annotated[int | None, typer.Option("--rollouts", help="MCTS rollouts (rstar, cpl).")]
ChildrenOpt = Annotated[int | None, typer.Option("--children", help="Candidates per expansion (rstar, cpl).")]
SamplesOpt = Annotated[int | None, typer.Option("--samples", help="Samples (sc, bon).")]
SetOpt = Annotated[list[str] | None, typer.Option("--set", help="Any config field: KEY=VALUE (repeatable).")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Run seed (same seed, same tree).")]
EngineOpt = Annotated[
    str, typer.Option("--engine", help="Engine: llamacpp (embedded model), transformers, ...")
]
ModelOpt = Annotated[str | None, typer.Option("--model", help="Model path/id (scripted: a rules JSON file).")]
EngineOptionsOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--engine-opt",
        help="An option of the engine's load, KEY=VALUE (repeatable): e.g. gpu_memory_utilization=0.6, "
        "ppm_gpu_memory_utilization=0.2, batch_invariant=true (vllm); extra_body='{\"top_k\": 20}', "
        "timeout=900, base_url=URL (openai). Recorded in the run's spec.",
    ),
]
ThreadsOpt = Annotated[
    int | None, typer.Option("--threads", min=1, help="llamacpp engine threads (default: all cores).")
]
RayOpt = Annotated[
    bool,
    typer.Option(
        "--ray", help="Spread the problems over Ray workers (the scale extra); alone: a local Ray. Finished "
        "problems are kept beside the report and skipped on a rerun; every run goes into the history.",
    ),
]
RayAddressOpt = Annotated[
    str | None,
    typer.Option(
        "--ray-address", help="A Ray cluster to join (auto, HOST:6379, ray://HOST:10001); implies --ray."
    ),
]
RayWorkersOpt = Annotated[int, typer.Option("--ray-workers", min=1, help="Ray workers (one engine each).")]
RayGpusOpt = Annotated[
    float,
    typer.Option(
        "--ray-gpus-per-worker", min=0.0, help="GPUs Ray reserves for each worker (0.5: two workers per "
        "GPU); --engine vllm needs them.",
    ),
]
RayTimeoutOpt = Annotated[
    float | None,
    typer.Option(
        "--ray-problem-timeout", min=1.0, help="Seconds one problem may take on a worker: past it the worker "
        "is killed and replaced and the problem tried again (3 tries in all), then reported failed. "
        "Default: no limit.",
    ),
]


def _fail(msg: str) -> typer.Exit:
    typer.echo(f"error: {msg}", err=True)
    return typer.Exit(2)


def _overrides(
    algo: str, rollouts: int | None, children: int | None, samples: int | None, sets: list[str] | None
) -> dict[str, Any]:
    from backend.search.registry import config_fields

    names = {f["name"] for f in config_fields(algo)}
    out: dict[str, Any] = {}
    for flag, key, value in (
        ("--rollouts", "rollouts", rollouts),
        ("--children", "children", children),
        ("--samples", "samples", samples),
    ):
        if value is None:
            continue
        if key not in names:
            raise ValueError(f"{flag} does not apply to {algo} (its options: {', '.join(sorted(names))})")
        out[key] = value
    for item in sets or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set takes KEY=VALUE, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def _spec(
    problem: str,
    algo: str,
    preset: str | None,
    overrides: dict[str, Any],
    reward: str,
    ppm: str | None,
    engine: str,
    model: str | None,
    seed: int,
    answer: str | None = None,
    engine_options: list[str] | None = None,
) -> Any:
    """The RunSpec of the flags, checked (config, reward, PPM, engine options) before any
    engine loads."""
    from backend.engines.options import parse_engine_options
    from backend.runspec import RunSpec, model_checksum, search_parts

    spec = RunSpec(
        problem=problem,
        algorithm=algo,
        preset=preset,
        config=overrides,
        reward=reward,
        ppm=ppm,
        engine=engine,
        model=model,
        seed=seed,
        reference=answer,
        engine_options=parse_engine_options(engine, engine_options),
    )
    search_parts(spec)
    return spec.fork(model_sha256=model_checksum(engine, model))


def _engine(spec: Any, threads: int | None = None) -> Any:
    """The spec's engine with its options (``--threads`` is llama.cpp's ``n_threads``)."""
    from backend.engines import load_engine

    options = dict(spec.engine_options)
    if threads:
        options.setdefault("n_threads", threads)
    return load_engine(spec.engine, spec.model, **options)


class ProgressLine:
    """The live line: iterations, nodes, best answer, tokens/s (an EventLog subscriber)."""

    def __init__(self, live: Any = None) -> None:
        self.live = live
        self.nodes = self.iterations = self.tokens = 0
        self.best: str | None = None
        self.t0 = time.monotonic()

    def __call__(self, e: ev.Event) -> None:
        if isinstance(e, ev.RunStarted):
            self.nodes = self.iterations = self.tokens = 0
            self.best, self.t0 = None, time.monotonic()
        elif isinstance(e, ev.NodeAdded):
            self.nodes += 1
            self.tokens += e.tokens
        elif isinstance(e, ev.IterationDone):
            self.iterations, self.best = e.iteration + 1, e.best_answer
            self.tokens = max(self.tokens, e.tokens)  # includes dropped duplicate candidates
        else:
            return
        if self.live is not None:
            self.live.update(self.line())

    def line(self) -> str:
        rate = self.tokens / max(time.monotonic() - self.t0, 1e-6)
        return (
            f"iterations {self.iterations} · nodes {self.nodes} · best {self.best or '-'} · "
            f"{self.tokens} tokens · {rate:.1f} tok/s"
        )


def _root_notes(res: Any) -> list[str]:
    """Notes the search put on the root (LIPS: how ambiguous problem text was read)."""
    from backend import events as ev

    roots = {e.id for e in res.events if isinstance(e, ev.NodeAdded) and e.parent is None}
    return [e.message for e in res.events if isinstance(e, ev.Note) and e.node in roots]


def _proof(res: Any) -> str:
    """A LIPS proof step by step (goals, lemmas, why each step holds, the certificate:
    ``backend/search/lips/readable.py``), else the search's own proof text."""
    from backend.search.lips.readable import proof_plain, readable_proof

    proof = readable_proof(res.events) if res.algorithm == "lips" else None
    return proof_plain(proof) if proof is not None else res.proof


def _print_result(console: Any, res: Any) -> None:
    from rich.markup import escape
    for message in _root_notes(res):
        console.print(f"note: {message}", markup=False, highlight=False)
    verdict = ""
    if res.correct is not None:
        reference = escape(f"(reference {res.reference})")  # file text: never markup
        verdict = "  [green]correct[/]" if res.correct else f"  [red]wrong[/] {reference}"
    answer = escape(str(res.answer if res.answer is not None else "(none)"))  # model text
    console.print(f"[bold]answer:[/] {answer}{verdict}")
    console.print(f"{res.algorithm} · reward {res.reward} · status {res.status}")
    if res.steps:
        console.print("[bold]best path:[/]")
    for i, st in enumerate(res.steps, 1):
        console.print(f"  [{i}] {st['kind']} · {st['status'] or '-'} · N={st['n']} Q={st['q']:+.2f}")
        body = (st["code"] or st["text"] or "").strip()
        for line in body.splitlines()[:40]:
            console.print(f"      {line}", markup=False, highlight=False)
        if st["output"]:
            console.print(f"      → {st['output'].strip()[-300:]}", markup=False, highlight=False)
    if getattr(res, "proof", ""):
        console.print("[bold]proof:[/]")
        console.print(_proof(res), markup=False, highlight=False, soft_wrap=True)
    if res.votes:
        console.print(
            "votes: " + ", ".join(f"{k} ×{v:g}" for k, v in list(res.votes.items())[:8]), markup=False
        )
    s = res.stats
    rounds = "pops (goals taken from the queue)" if res.algorithm == "lips" else "iterations"
    console.print(
        f"tokens {s.get('tokens', 0)} · {s.get('wall_s', 0):.1f} s · {s.get('tokens_per_s', 0):.1f} tok/s · "
        f"{s.get('iterations', 0)} {rounds} · {s.get('nodes', 0)} nodes"
    )


def solve_cmd(
    problem: Annotated[str, typer.Argument(help="The problem text.")],
    algo: AlgoOpt = "rstar",
    answer: Annotated[str | None, typer.Option("--answer", help="Known answer: grades the result.")] = None,
    reward: RewardOpt = "auto",
    ppm: PpmOpt = "default",
    preset: PresetOpt = None,
    rollouts: RolloutsOpt = None,
    children: ChildrenOpt = None,
    samples: SamplesOpt = None,
    sets: SetOpt = None,
    seed: SeedOpt = 0,
    events: Annotated[
        Path | None, typer.Option("--events", help="Write the run's events (JSONL) here.")
    ] = None,
    engine: EngineOpt = "llamacpp",
    model: ModelOpt = None,
    threads: ThreadsOpt = None,
    engine_opts: EngineOptionsOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    lean: Annotated[
        bool, typer.Option("--lean", help="lips: also print the proof as a NeqLIPS tactic script.")
    ] = False,
) -> None:
    """Solve one problem and show the answer, its grading and the best path."""
    from rich.console import Console
    from rich.live import Live

    from backend.prompt_room import problem_too_long
    from backend.solve import solve_spec

    console = Console()
    try:
        overrides = _overrides(algo, rollouts, children, samples, sets)
        spec = _spec(problem, algo, preset, overrides, reward, ppm, engine, model, seed, answer, engine_opts)
        eng = _engine(spec, threads)
        too_long = problem_too_long(eng, spec.problem, spec.algorithm)
        if too_long:
            raise ValueError(too_long)
        with Live("starting…", console=Console(stderr=True), transient=True, refresh_per_second=4) as live:
            res = solve_spec(spec, engine=eng, on_event=ProgressLine(live))
        if events is not None:
            ev.write_jsonl(res.events, events, algorithm=algo)
    except _ERRORS as exc:
        raise _fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(res.to_dict(), ensure_ascii=False, indent=2))
    else:
        _print_result(console, res)
        if lean:
            script = res.tactic_script or "(no proof found: nothing to export)"
            console.print("[bold]tactic script (NeqLIPS form, not checked in Lean here):[/]")
            console.print(script, markup=False, highlight=False, soft_wrap=True)


def eval_cmd(
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="gsm8k, math500, ineq-easy, ... or .jsonl")],
    limit: Annotated[int | None, typer.Option("--limit", "-n", min=1, help="First N problems.")] = None,
    start: Annotated[
        int, typer.Option("--start", min=0, help="Skip the first K problems (ids keep their place).")
    ] = 0,
    algo: AlgoOpt = "rstar",
    reward: RewardOpt = "auto",
    ppm: PpmOpt = "default",
    preset: PresetOpt = None,
    rollouts: RolloutsOpt = None,
    children: ChildrenOpt = None,
    samples: SamplesOpt = None,
    sets: SetOpt = None,
    seed: SeedOpt = 0,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write a JSON report here (and an HTML one beside it).")
    ] = None,
    engine: EngineOpt = "llamacpp",
    model: ModelOpt = None,
    threads: ThreadsOpt = None,
    engine_opts: EngineOptionsOpt = None,
    ray: RayOpt = False,
    ray_address: RayAddressOpt = None,
    ray_workers: RayWorkersOpt = 2,
    ray_gpus_per_worker: RayGpusOpt = 0.0,
    ray_problem_timeout: RayTimeoutOpt = None,
) -> None:
    """Solve N problems of a set (the first, or from --start) and report accuracy, tokens and time."""
    from rich.console import Console

    from backend.problems import load_problems

    console = Console()
    try:
        problems = load_problems(dataset, limit, start)
        if not problems:
            skipped = f" after skipping the first {start} (--start)" if start else ""
            raise ValueError(f"no problems in {dataset}{skipped}")
        graded = [p for p in problems if p.answer is not None]
        if len(graded) < len(problems):
            raise ValueError(
                f"{len(problems) - len(graded)} problem(s) in {dataset} have no answer to grade against"
            )
        overrides = _overrides(algo, rollouts, children, samples, sets)
        # problem i of the file runs with seed + i, with or without --start
        spec = _spec("", algo, preset, overrides, reward, ppm, engine, model, seed + start, None, engine_opts)
        if (ray_gpus_per_worker or ray_problem_timeout) and not (ray or ray_address):
            raise ValueError("--ray-gpus-per-worker and --ray-problem-timeout are for Ray workers: add --ray")
        if ray or ray_address:
            from backend.scale.command import ray_eval

            rep = ray_eval(console, problems, dataset, spec, address=ray_address, workers=ray_workers,
                           threads=threads, report=report, gpus=ray_gpus_per_worker,
                           timeout_s=ray_problem_timeout)
        else:
            rep = _run_eval(console, problems, dataset, _engine(spec, threads), spec)
        if report is not None:
            from backend.report_html import eval_html

            report.write_text(json.dumps(rep.to_dict(), ensure_ascii=False, indent=2), encoding="utf-8")
            _html_beside(report).write_text(eval_html(rep.to_dict()), encoding="utf-8")
    except _ERRORS as exc:
        raise _fail(str(exc)) from None
    s = rep.summary()
    errors = f" · {s['errors']} ended in error" if s["errors"] else ""
    console.print(
        f"accuracy {s['accuracy']:.1%} ({s['correct']}/{s['total']}) · mean tokens {s['mean_tokens']:.0f} · "
        f"mean time {s['mean_wall_s']:.1f} s · wall {s['wall_s']:.1f} s · "
        f"a right answer somewhere in the tree {s['in_tree']}/{s['total']}{errors}",
        markup=False,
    )
    if report is not None:
        console.print(f"report: {report} · {_html_beside(report)} (accuracy against tokens)", markup=False)
    if rep.stopped:
        raise _fail(f"{rep.stopped} ({len(rep.results)} of {len(problems)} problems in the report)")


def _html_beside(report: Path) -> Path:
    """The HTML report's path next to the JSON one (never the JSON file itself)."""
    return (
        report.with_suffix(".html")
        if report.suffix != ".html"
        else report.with_name(report.stem + ".chart.html")
    )


def _run_eval(console: Any, problems: list, dataset: str, eng: Any, spec: Any) -> Any:
    """evaluate_spec() under a progress bar, one line per problem."""
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from backend.solve import evaluate_spec

    algo = spec.algorithm

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(escape(f"{algo} on {dataset}"), total=len(problems))
        right = [0]

        def on_result(i: int, prob: Any, res: Any) -> None:
            right[0] += bool(res.correct)
            mark = "[green]✓[/]" if res.correct else "[red]✗[/]"
            bar.console.print(  # ids, answers and references are file and model text: never markup
                mark + escape(f" {prob.id}: answer {res.answer} · reference {prob.answer} · ")
                + f"{res.tokens} tokens · {res.wall_s:.1f} s"
            )
            bar.update(task, advance=1, description=escape(f"{algo} on {dataset} · {right[0]}/{i + 1} right"))

        def on_error(i: int, prob: Any, reason: str) -> None:
            bar.console.print(f"[red]✗ {escape(prob.id)}: error[/] {escape(reason)}")
            bar.update(task, advance=1, description=escape(f"{algo} on {dataset} · {right[0]}/{i + 1} right"))

        return evaluate_spec(
            problems, spec, engine=eng, dataset=dataset, on_result=on_result, on_error=on_error
        )


def register(app: typer.Typer) -> None:
    """Add ``solve`` and ``eval`` to the ``canopy`` app (idempotent)."""
    have = {c.name for c in app.registered_commands}
    if "solve" not in have:
        app.command("solve")(solve_cmd)
    if "eval" not in have:
        app.command("eval")(eval_cmd)
