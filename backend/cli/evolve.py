"""``canopy evolve``: rStar-Math's self-evolution rounds in a resumable run directory
(``backend/evolve/``, docs/EVOLVE.md)."""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from backend.evolve.runs_index import duration_words


def evolve(
    run_dir: Annotated[Path, typer.Argument(help="Run directory (made, or resumed when it exists).")],
    rounds: Annotated[int, typer.Option(min=1, max=4, help="Rounds (the paper: 4; 3-4 need a PPM).")] = 2,
    train_start: Annotated[int, typer.Option(min=0, help="First gsm8k-train problem (0-based).")] = 0,
    train_count: Annotated[int, typer.Option(min=1, max=7473, help="Training problems per round.")] = 20,
    test_start: Annotated[int, typer.Option(min=0, help="First GSM8K test problem held out.")] = 100,
    test_count: Annotated[int, typer.Option(min=0, max=1319, help="Held-out GSM8K test problems.")] = 20,
    rollouts: Annotated[int, typer.Option(min=1, max=1000, help="MCTS rollouts per training problem.")] = 4,
    children: Annotated[int, typer.Option(min=1, max=64, help="Candidates per expansion.")] = 4,
    eval_rollouts: Annotated[
        int | None, typer.Option(min=1, max=1000, help="Rollouts of the held-out search (default: cpu-demo).")
    ] = None,
    top_k: Annotated[int, typer.Option(min=1, max=64, help="Traces kept per problem (official 2).")] = 2,
    epochs: Annotated[int, typer.Option(min=1, max=100, help="SFT epochs.")] = 2,
    lr: Annotated[float, typer.Option(min=0.0, max=1.0, help="SFT learning rate (LoRA).")] = 1e-4,
    lora_rank: Annotated[int, typer.Option(min=1, max=1024, help="LoRA rank r (alpha = 2r).")] = 16,
    grad_accum: Annotated[int, typer.Option(min=1, max=256, help="Examples per optimiser step.")] = 4,
    max_length: Annotated[int, typer.Option(min=16, help="Tokens of prompt + completion.")] = 2048,
    max_steps: Annotated[
        int | None, typer.Option(min=1, help="Stop fine-tuning after this many steps (smoke runs).")
    ] = None,
    bf16: Annotated[bool | None, typer.Option(
        "--bf16/--fp32",
        help="SFT in bfloat16 autocast (float32 master weights); default: on a GPU that has it. On a "
             "CPU with AVX512-BF16 or AMX --bf16 cuts the step time by about a quarter (bench/evolve.py); "
             "refused on a CPU without AVX-512 or AMX, where bfloat16 is emulated about 100x slower.")
    ] = None,
    finetune_from: Annotated[
        str, typer.Option(help="base: each round fine-tunes the base model; previous: the latest policy.")
    ] = "base",
    ppm_min_pairs: Annotated[
        int, typer.Option(min=1, help="Fewer PPM pairs than this: the round trains no PPM.")
    ] = 30,
    ppm_training: Annotated[bool, typer.Option(
        "--ppm-training/--no-ppm-training",
        help="Train each round's PPM (off: the pairs are kept, no PPM; the full PPM takes hours on a CPU).",
    )] = True,
    ppm: Annotated[
        str | None, typer.Option(help="A PPM directory for rounds 3-4 when the run has trained none "
                                      "(PPM options may change until round 3 begins).")
    ] = None,
    ppm_epochs: Annotated[int | None, typer.Option(
        min=1, help="Epochs of each round's PPM (rStar) or value head (CPL); default: the official "
                    "(PPM 2, value head 7). Fewer keep a CPU round short.")
    ] = None,
    ppm_method: Annotated[str, typer.Option(
        help="full: the paper's PPM (every layer, LoRA; hours a round on a CPU); top-layers: the "
             "policy's top 4 layers + a head, run by llama.cpp beside it (needs --policy-engine "
             "llamacpp; about an hour for a few hundred pairs on 2 cores). docs/EVOLVE.md.")
    ] = "full",
    ppm_data: Annotated[str, typer.Option(
        help="round: a round's PPM learns from its own trees (the paper); all-rounds: from every "
             "round's so far (more pairs).")
    ] = "round",
    engine: Annotated[str, typer.Option(help="Engine of the base policy's searches.")] = "llamacpp",
    model: Annotated[str | None, typer.Option(help="Base model (default: the embedded model).")] = None,
    policy_engine: Annotated[str, typer.Option(
        help="Engine of fine-tuned policies: transformers, vllm (a GPU; the paper presets), or llamacpp "
             "(each policy exported to GGUF).")
    ] = "transformers",
    threads: Annotated[int | None, typer.Option(min=1, help="CPU threads (default: all cores).")] = None,
    seed: Annotated[int, typer.Option(min=0)] = 0,
    algo: Annotated[
        str, typer.Option(help="rstar (rStar-Math's rounds) or cpl (CPL's 2: SFT, Step-APO, value head).")
    ] = "rstar",
    apo_max_steps: Annotated[
        int | None, typer.Option(min=1, help="CPL: stop Step-APO after this many steps (smoke runs).")
    ] = None,
    apo_lora_rank: Annotated[
        int | None, typer.Option(min=1, help="CPL: Step-APO with LoRA rank r (default: full fine-tune).")
    ] = None,
    no_base_eval: Annotated[
        bool, typer.Option("--no-base-eval", help="Skip round 0 (the base policy on the held-out slice).")
    ] = False,
    eval_sc: Annotated[bool, typer.Option(
        "--eval-sc",
        help="Also evaluate self-consistency of each round's policy on the held-out slice, with as "
             "many samples as match its search's tokens (about as long again as the held-out search; "
             "rStar-Math rounds; may be added to a run whose rounds are done).")
    ] = False,
    retry_rollouts: Annotated[str | None, typer.Option(
        help="From round 4 (the paper's): search the training problems still unsolved again with "
             "these many rollouts and another seed, a pass each, e.g. 64,128 (the paper's); off by "
             "default (hours on a CPU). backend/evolve/retry.py.")
    ] = None,
    preset: Annotated[
        str | None, typer.Option(help="paper-round1..4: the paper's scale for a GPU with vLLM; "
                                      "cpu-smoke: the whole loop on 2 cores in < 30 min "
                                      "(docs/EVOLVE.md); options you give override it.")
    ] = None,
    ray: Annotated[bool, typer.Option("--ray", help="Search stage on Ray workers (local Ray).")] = False,
    ray_address: Annotated[str | None, typer.Option(help="A Ray cluster's address; implies --ray.")] = None,
    ray_workers: Annotated[int, typer.Option(min=1, help="Ray workers (one engine each).")] = 2,
    ray_gpus_per_worker: Annotated[float, typer.Option(
        min=0.0, help="GPUs Ray reserves for each worker (0.5: two per GPU); vllm needs them.")] = 0.0,
    ray_problem_timeout: Annotated[float | None, typer.Option(
        min=1.0, help="Seconds one problem's search may take on a worker before it is killed and the "
                      "problem tried again (3 tries; then the stage stops, the other trees kept).")] = None,
    ctx: typer.Context = None,  # type: ignore[assignment]  # typer passes it: which options were typed
) -> None:
    """Run self-evolution rounds: truth-rewarded MCTS on GSM8K train problems, the official SFT
    data and PPM pairs, LoRA fine-tuning of the policy (and a PPM), evaluation on held-out
    GSM8K test problems (rStar-Math; --algo cpl: CPL's plan search, SFT, Step-APO and value
    head). Stop it any time; the same command resumes it."""
    from backend._optional import require

    for name in ("torch", "transformers", "trl", "peft"):
        require(name, extra="hf")
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from backend.evolve.manifest import EvolveSettings
    from backend.evolve.models import LocalModels
    from backend.evolve.rounds import run_evolve

    sft = {"epochs": epochs, "lr": lr, "lora_rank": lora_rank, "grad_accum": grad_accum}
    sft["max_length"] = max_length
    if max_steps is not None:
        sft["max_steps"] = max_steps
    if bf16 is not None:  # only when given: runs started before the option keep their identity
        sft["bf16"] = bf16
    if bf16:  # checked now, not hours later when the searches are done and the SFT starts
        from backend.train.ppm_trainer import use_bf16

        try:
            use_bf16(True)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--bf16") from None
    settings = EvolveSettings(
        rounds=rounds, train_start=train_start, train_count=train_count, test_start=test_start,
        test_count=test_count, search={"rollouts": rollouts, "children": children},
        eval_search={"rollouts": eval_rollouts} if eval_rollouts else {}, seed=seed, top_k=top_k, sft=sft,
        finetune_from=finetune_from, ppm_min_pairs=ppm_min_pairs, train_ppm=ppm_training, ppm=ppm,
        evaluate_base=not no_base_eval, eval_sc=eval_sc, retry_rollouts=_rollout_list(retry_rollouts),
        ppm_train={"epochs": ppm_epochs} if ppm_epochs else {},
        **_ppm_choice(ppm_method, ppm_data, engine, policy_engine),
    )
    if preset:
        from backend.evolve.presets import apply

        if algo != "rstar":
            raise typer.BadParameter("the presets hold rStar-Math's settings; not with --algo cpl")

        # by name: typer ships its own click, whose ParameterSource is not click's
        source = ctx.get_parameter_source
        typed = {k for k in ctx.params if getattr(source(k), "name", "DEFAULT") != "DEFAULT"}
        try:
            settings, engine, model, policy_engine = apply(
                preset, settings, engine, model, typed, policy_engine
            )
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--preset") from None
    if algo not in ("rstar", "cpl"):
        raise typer.BadParameter(f"--algo must be rstar or cpl, not {algo!r}")
    if settings.retry_rollouts and algo != "rstar":
        raise typer.BadParameter("the retries search rStar-Math's unsolved problems; not with --algo cpl",
                                 param_hint="--retry-rollouts")
    if eval_sc and algo != "rstar":
        raise typer.BadParameter("self-consistency samples rStar-Math's code solutions; not with --algo cpl",
                                 param_hint="--eval-sc")
    run = run_evolve
    if algo == "cpl":  # CPL's rounds (backend/evolve/cpl_rounds.py, docs/EVOLVE.md)
        from backend.evolve.cpl_rounds import CPLSettings, run_cpl_evolve

        apo = {"max_steps": apo_max_steps, "lora_rank": apo_lora_rank}
        cpl = CPLSettings(settings, apo={k: v for k, v in apo.items() if v is not None})

        def run(run_dir, _settings, models, **kw):  # type: ignore[no-redef]
            return run_cpl_evolve(run_dir, cpl, models, **kw)

    if (ray_gpus_per_worker or ray_problem_timeout) and not (ray or ray_address):
        raise typer.BadParameter("only with Ray workers: add --ray", param_hint="--ray-gpus-per-worker")
    if ray or ray_address:
        from backend.scale.cluster import refuse_gpuless

        try:
            refuse_gpuless(engine, ray_gpus_per_worker)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--ray-gpus-per-worker") from None
    placed = {"policy_engine": policy_engine} if policy_engine != "transformers" else {}
    models = LocalModels(engine, model, threads, **placed)
    if ray or ray_address:  # the search stage on Ray workers, each with its own LocalModels (docs/SCALE.md)
        from functools import partial

        from backend.scale.evolve_search import RayModels

        worker_models = partial(LocalModels, engine, model, threads, **placed)
        models = RayModels(models, worker_models, address=ray_address, workers=ray_workers,
                           num_gpus=ray_gpus_per_worker, timeout_s=ray_problem_timeout)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns) as bar:
        tasks: dict[str, int] = {}

        def bars(what: str, done: int, total: int) -> None:
            if what not in tasks:
                tasks[what] = bar.add_task(what, total=total)
            bar.update(tasks[what], completed=done, total=total)

        plain = LogLines(lambda line: bar.console.print(line, markup=False, highlight=False))
        progress = bars if bar.console.is_terminal else plain

        try:
            rows = run(run_dir, settings, models, say=bar.console.print, progress=progress)
        finally:
            models.close()
    last = rows[-1]
    sc = f", self-consistency {last['heldout_sc_accuracy']}" if "heldout_sc_accuracy" in last else ""
    typer.echo(f"{len(rows)} report rows; last round: held-out greedy {last.get('heldout_greedy_accuracy')}, "
               f"search {last.get('heldout_search_accuracy')}{sc}")
    typer.echo(f"report: {Path(run_dir) / 'report.md'}")


#: progress calls closer together than this are items an earlier process already did
SKIPPED_S = 0.5
#: the newest progress calls a log line's pace is measured over
PACE_CALLS = 11


class LogLines:
    """Progress as plain lines when the output is a file (``nohup … > run.log``): rich draws
    no bars there, so a run of hours printed nothing until it ended. One line per stage at
    most every ``every_s`` seconds, and one when it completes."""

    def __init__(self, echo: Callable[[str], None], every_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.echo, self.every_s, self.clock = echo, every_s, clock
        self.last: dict[str, float] = {}
        #: per stage: the (clock, done) of its newest calls, the pace's window (a pause, e.g.
        #: SIGSTOP or a closed lid, leaves it once PACE_CALLS more items are done)
        self.window: dict[str, deque[tuple[float, int]]] = {}
        self.seen: dict[str, float] = {}
        self.finished: set[str] = set()

    def __call__(self, what: str, done: int, total: int) -> None:
        now = self.clock()
        if what not in self.seen or now - self.seen[what] < SKIPPED_S:
            # the first call, or one right after the last: a problem done by an earlier process
            # (a resumed stage reports those first, all at once): the pace starts after them
            self.window[what] = deque(maxlen=PACE_CALLS)
        self.seen[what] = now
        self.window[what].append((now, done))
        if done >= total:
            if what in self.finished:
                return
            self.finished.add(what)
        elif what in self.last and now - self.last[what] < self.every_s:
            return
        self.last[what] = now
        started, done_then = self.window[what][0]
        line = f"{time.strftime('%H:%M:%S')} {what}: {done}/{total}"
        if done_then < done < total:  # this process's own recent pace
            each = (now - started) / (done - done_then)
            line += f" · {each:.0f} s each, about {duration_words(each * (total - done))} to go"
        self.echo(line)


def evolve_status(
    run_dir: Annotated[Path, typer.Argument(help="An evolve run directory.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print it as JSON.")] = False,
) -> None:
    """Where an evolve run stands, from its files alone (a running process is not disturbed):
    its settings, the stage in progress with its recent pace and the time to go, and the
    table of the rounds finished so far. What the web app's Training tab shows, for a shell."""
    from backend.cli import UserError
    from backend.evolve import runs_index as ri
    from backend.evolve.report import markdown

    if not ri.is_run(run_dir):
        raise UserError(f"{run_dir} holds no evolve run (no manifest.json)")
    try:
        state = ri.read_run(run_dir)
    except ri.UnreadableRun as exc:
        raise UserError(f"{run_dir} cannot be read: {exc}") from None
    about = ri.summary(state)
    age = time.time() - state.last_change
    notes = [(r.number, note) for r in state.rounds for note in r.notes]
    status = {
        "run": state.name, **about, "finished": state.finished, "stage": ri.progress_line(state),
        "pace": ri.pace_line(state), "held_out_so_far": ri.held_out_so_far(state),
        "last_change_s_ago": round(age),
        "notes": [f"round {number}: {note}" for number, note in notes],
        "finished_rounds": list(state.rows),  # their report rows, round 0 (the base policy) first
    }
    if as_json:
        typer.echo(json.dumps(status, indent=2, ensure_ascii=False, default=str))
        return
    typer.echo(f"{state.name} · {about['train']} → held out {about['held_out']} · "
               f"base {about['base_model']} · {about['rounds']} round(s) · seed {about['seed']}")
    typer.echo(f"PPM: {about['ppm']}")
    if state.finished:
        typer.echo(status["stage"].capitalize() + ".")
    else:
        pace = f" · {status['pace']}" if status["pace"] else ""
        typer.echo(f"In progress or stopped: {status['stage']}{pace} · last file written "
                   f"{ri.duration_words(age) if age >= 60 else f'{age:.0f} s'} ago")
        if status["held_out_so_far"]:
            typer.echo(status["held_out_so_far"])
    in_table = {(row["round"], row["ppm_note"]) for row in state.rows if row.get("ppm_note")}
    for number, note in notes:  # a finished round's PPM note is already under the table
        if not any(n == number and why in note for n, why in in_table):
            typer.echo(f"round {number}: {note}")
    if state.rows:
        typer.echo("")
        typer.echo(markdown(state.rows, title=state.name).split("\n", 2)[2].rstrip())


def register(app: typer.Typer) -> None:
    app.command("evolve")(evolve)
    app.command("evolve-status")(evolve_status)


def _rollout_list(text: str | None) -> list[int]:
    """``--retry-rollouts 64,128`` as [64, 128]; BadParameter for anything else than at most
    MAX_RETRIES increasing whole numbers (1-100000), checked before any work starts."""
    from backend.evolve.manifest import MAX_RETRIES

    if text is None or not text.strip():
        return []
    parts = [part.strip() for part in text.split(",", MAX_RETRIES + 1)]
    whole = all(part.isascii() and part.isdigit() and len(part) <= 6 for part in parts)
    if (len(parts) > MAX_RETRIES or not whole or not all(1 <= int(part) <= 100_000 for part in parts)
            or [int(part) for part in parts] != sorted({int(part) for part in parts})):
        raise typer.BadParameter(f"give at most {MAX_RETRIES} increasing rollout counts, e.g. 64,128 "
                                 f"(not {text[:40]!r})", param_hint="--retry-rollouts")
    return [int(part) for part in parts]


def _ppm_choice(method: str, data: str, engine: str, policy_engine: str) -> dict[str, str]:
    """--ppm-method / --ppm-data as settings, checked before any work."""
    from backend.evolve.manifest import PPM_DATA, PPM_METHODS

    if method not in PPM_METHODS:
        raise typer.BadParameter(f"must be one of {', '.join(PPM_METHODS)}", param_hint="--ppm-method")
    if data not in PPM_DATA:
        raise typer.BadParameter(f"must be one of {', '.join(PPM_DATA)}", param_hint="--ppm-data")
    if method == "top-layers" and (engine, policy_engine) != ("llamacpp", "llamacpp"):
        raise typer.BadParameter("a top-layers PPM runs on llama.cpp beside the policy: use --engine "
                                 "llamacpp --policy-engine llamacpp", param_hint="--ppm-method")
    return {"ppm_method": method, "ppm_data": data}
