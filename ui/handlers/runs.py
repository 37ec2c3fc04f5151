"""Starting, stopping and steering runs from the page, and the run's status line."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from backend.ppm_diagnostics import ppm_line, ppm_note
from backend.run import PAUSED_STATES
from backend.tree import Tree
from ui.engine_line import engine_line
from ui.escape import md_code, md_esc, md_esc_code
from ui.handlers.controls import Control
from ui.handlers.history_file import read_only_refusal
from ui.handlers.ppm_choice import TEST_PPM, ppm_choices
from ui.handlers.run_facts import known_answer, run_length
from ui.services import Services
from ui.vocabulary import rounds_phrase
from ui.words import count


class UserFacingError(ValueError):
    """Bad input or an unavailable resource; shown to the user as is."""


KNOWN_ANSWER_BOX = "the Known answer box"


#: what the backend's messages (written for the CLI) say, in the page's words
_PAGE_WORDS = [
    (
        re.compile(r"--reward truth needs the known answer: give it with --answer"),
        f"The truth reward needs the known answer: fill in {KNOWN_ANSWER_BOX} (or pick an example).",
    ),
    (re.compile(r"\(give --answer\)"), f"(fill in {KNOWN_ANSWER_BOX})"),
    (re.compile(r"--answer\b"), KNOWN_ANSWER_BOX),
    (re.compile(r"use --reward (\w+)"), r"choose the \1 reward"),
]


def page_message(message: str) -> str:
    """A backend message as the page says it: no CLI flag the page has no box for."""
    for pattern, words in _PAGE_WORDS:
        message = pattern.sub(words, message)
    return message


def start_run(
    services: Services,
    controls: Sequence[Control],
    problem: str,
    algorithm: str,
    reward: str,
    reference: str,
    seed: float | int | None,
    values: Sequence[Any],
    paused: bool = False,
    ppm: str | None = None,
    policy: str | None = None,
    replaces: Sequence[str | None] = (),
) -> str:
    """Start a run and return its id; raises UserFacingError saying what to fix.

    ``replaces``: runs this Run replaces (the tab's run): those still going are stopped once the
    new run is checked and about to start (a refused Run stops nothing), and the new run's status
    names them (``Services.replaced``).

    ``ppm`` is the page's PPM choice (``ppm_choices``: "default", "none" or the app's
    ``--ppm`` directory, or a round's PPM picked on the Training tab); None takes the app's
    ``--ppm`` (``Services.ppm``). ``policy``: a round's policy folder picked on the Training
    tab (run on the transformers engine); None runs the server's engine.

    The form becomes a ``RunSpec`` and the run is built by ``backend/runspec.py:
    build_search``, the one builder the CLI uses too (so the known answer grades the run
    and reaches the search only for the truth reward).

    A read-only history refuses at once (``read_only_refusal``): runs are not kept in
    memory instead, because such a run could never be saved (each event would fail and be
    logged), would be missing from History and its ``?run=`` link once it is forgotten, and
    a result that vanishes is worse than a clear "no" with the fix (a writable ``--db``).
    """
    from backend.runspec import RunSpec, build_search, model_checksum, ppm_request, search_parts, uses_ppm

    refusal = read_only_refusal(services, "started")
    if refusal:
        raise UserFacingError(refusal)
    if not problem or not problem.strip():
        raise UserFacingError("Type a problem (or pick an example) first.")
    if algorithm not in services.algorithm_names():
        raise UserFacingError(f"Unknown algorithm {algorithm!r}.")
    if algorithm == "lips" and (reference or "").strip().lower() not in ("", "proved", "refuted"):
        # a LIPS run ends proved or refuted: any other known answer graded every proof wrong
        raise UserFacingError(
            f"A LIPS run ends proved or refuted: the known answer is proved, refuted or empty, not "
            f"{str(reference).strip()[:40]!r}."
        )
    from ui.training_runs import Refused, policy_slot, round_ppm_allowed

    offered = [value for _, value in ppm_choices(services)]
    if ppm is not None and ppm not in offered and not round_ppm_allowed(services, ppm):
        # a page may only pick what this server offers: a stored or imported run's spec may
        # name a PPM directory, and a browser must never make the server read a path it names
        raise UserFacingError(
            f"This server offers the PPM choices {', '.join(offered)}; pick one of them (the run you "
            "restored used another)."
        )
    overrides = {
        c.name: v for c, v in zip(controls, values, strict=True) if c.algorithm == algorithm and v is not None
    }
    slot, reward = services.engine, reward or "auto"
    if policy:
        try:
            slot = policy_slot(services, policy)  # checked: a trained round's policy the server may use
        except Refused as exc:
            raise UserFacingError(str(exc)) from exc
    try:
        spec = RunSpec(
            problem=problem,
            algorithm=algorithm,
            config=overrides,
            reward=reward,
            ppm=services.ppm if ppm is None else ppm,
            engine=slot.name,
            model=slot.model,
            model_sha256=model_checksum(slot.name, slot.model),
            engine_options=getattr(slot, "options", {}),
            seed=int(seed or 0),
            reference=reference or None,
        )
        search_parts(spec)  # fail now, not in the worker thread
    except ValueError as exc:
        raise UserFacingError(page_message(str(exc))) from exc
    try:
        engine = slot.get()
    except RuntimeError as exc:
        raise UserFacingError(str(exc)) from exc
    from backend.prompt_room import problem_too_long

    too_long = problem_too_long(getattr(engine, "inner", engine), spec.problem, spec.algorithm)
    if too_long:  # refused before a run exists, not a run that fails at its first call
        raise UserFacingError(too_long)
    from backend.verify.answers import answers_equal

    options = {}
    override = services.step_scorer_override
    if override is not None and uses_ppm(spec.algorithm) and ppm_request(spec) is not None:
        options["step_scorer"] = override  # tests only (Services.step_scorer_override)
    stopped = stop_runs(services, replaces)
    try:
        run = services.runs.start(
            lambda run_id: build_search(spec, engine, run_id, **options),
            reference=spec.reference,
            grade=answers_equal,
            paused=paused,
        )
    except (RuntimeError, ValueError) as exc:
        raise UserFacingError(str(exc)) from exc
    services.note_replaced(run.run_id, stopped)
    return run.run_id


#: how long a Run waits for the runs it stopped to end (their slots count against max_live_runs)
REPLACED_WAIT_S = 5.0


def stop_runs(services: Services, run_ids: Sequence[str | None]) -> list[str]:
    """Stop those of ``run_ids`` still going and wait (a few seconds at most) for them to end;
    returns the ids stopped."""
    runs = []
    for run_id in dict.fromkeys(r for r in run_ids if r):
        run = services.runs.get(run_id)
        if run is not None and not run.finished:
            run.stop()
            runs.append(run)
    deadline = time.monotonic() + REPLACED_WAIT_S
    for run in runs:
        run.wait(max(0.0, deadline - time.monotonic()))
    return [run.run_id for run in runs]


@dataclass(frozen=True)
class RunForm:
    """The Solve form as a run was started with it (its RunSpec): a refresh puts it back,
    so pressing Run again starts the same thing, not the page's defaults."""

    problem: str
    algorithm: str
    reward: str
    ppm: str
    reference: str
    seed: int
    #: the algorithm's controls' values (``controls`` order, that algorithm's only)
    values: list[Any]
    #: the engine and model it ran on (a round's policy puts the Policy control back)
    engine: str | None = None
    model: str | None = None


def run_form(services: Services, run_id: str, controls: Sequence[Control]) -> RunForm | None:
    """The form of ``run_id`` from its RunSpec (``run_started.spec``), or None when the run
    has no header yet. The known answer is in the spec only for a truth run; otherwise the
    live Run or ``run_finished`` holds it (``known_answer``)."""
    from backend.runspec import runspec_from_started
    from backend.search.registry import make_config

    def read(tree: Tree) -> tuple[Any, str | None] | None:
        if tree.started is None:
            return None
        return runspec_from_started(tree.started), known_answer(services, run_id, tree)

    found = services.trees.view(run_id, read)
    if found is None:
        return None
    spec, reference = found
    mine = [c for c in controls if c.algorithm == spec.algorithm]
    try:
        cfg = make_config(spec.algorithm, spec.preset, **dict(spec.config))
        values = [getattr(cfg, c.name) for c in mine]
    except (TypeError, ValueError):  # an algorithm or setting this server does not have
        values = [c.default for c in mine]
    return RunForm(
        problem=spec.problem,
        algorithm=spec.algorithm,
        reward=spec.reward or "auto",
        ppm=spec.ppm or "none",
        reference=spec.reference or reference or "",
        seed=spec.seed,
        values=values,
        engine=spec.engine,
        model=spec.model,
    )


def control_run(services: Services, run_id: str | None, action: str) -> str:
    """Pause / resume / toggle / step / stop; returns the run's status line."""
    run = services.runs.get(run_id)
    if run is None:
        if not run_id:
            return "No live run to control."
        if run_length(services, run_id):  # an ended run keeps its status (it was replaced by a notice)
            return run_status(services, run_id) + "  \n_This run has ended: nothing to pause, step or stop._"
        return f"Run {md_code(run_id)} is not running in this server."
    if action == "toggle":
        action = "resume" if run.state in PAUSED_STATES else "pause"
    {"pause": run.pause, "resume": run.resume, "step": run.step, "stop": run.stop}[action]()
    return run_status(services, run_id)


def pause_label(services: Services, run_id: str | None) -> str:
    run = services.runs.get(run_id)
    return "Resume" if run is not None and run.state in PAUSED_STATES else "Pause"


def finished_state(fin: Any) -> str:
    """How a finished run is named in the status: with a known answer the grade decides the
    words ("finished · answer 12 · ✗ wrong (known 10)"), never "solved" beside "wrong"."""
    if fin.status == "exhausted" and fin.answer is None:  # "exhausted" alone reads as a failure of the app
        known = f" (known {md_esc(fin.reference)})" if fin.reference is not None else ""
        return f"finished · no answer found in its budget{known}"
    if fin.correct is None:  # no known answer: the search's own answer, ungraded
        said = f" · answer {md_esc(fin.answer)}" if fin.answer is not None else ""
        return f"finished ({md_esc(fin.status)}){said}"
    head = "finished" if fin.status == "solved" else f"finished ({md_esc(fin.status)})"
    answer = md_esc(fin.answer) if fin.answer is not None else "(none)"
    grade = "✓ correct" if fin.correct else f"✗ wrong (known {md_esc(fin.reference)})"
    return f"{head} · answer {answer} · {grade}"


#: why a run ended before its planned rollouts (``Search.exhausted``), in the status's words
EARLY_END = {
    "tokens": "its token budget was spent",
    "time": "its time limit was reached",
    "tree": "no node was left to expand (every path ended, failed or was pruned)",
    "queue": "no goal was left to try",
}


def run_status(services: Services, run_id: str | None, tree: Tree | None = None) -> str:
    if not run_id:
        if services.history_read_only:  # say it before the user types a problem for nothing
            return "History is read-only: runs can be viewed (History tab) but not started."
        return "No run yet: type a problem and press Run."
    run = services.runs.get(run_id)
    if tree is None:
        tree = services.trees.view(run_id, lambda t: t)
    state = run.state if run is not None else "not running"
    if tree.finished is not None:
        state = finished_state(tree.finished)
    algo = md_esc(tree.started.algorithm) if tree.started else "?"
    parts = [
        f"Run {md_code(run_id)} · {algo} · **{state}** · {rounds_phrase(tree, len(tree.iterations))} · "
        f"{count(len(tree.nodes), 'node')}"
    ]
    early = EARLY_END.get(str(((tree.finished.stats or {}) if tree.finished else {}).get("budget")))
    if early:  # the run ended before its rollouts or samples were spent: say why
        parts.append(f"ended early: {early}")
    which = ppm_note(tree)  # said on its own line below, not among the notes
    for note in [n for n in tree.notes if n is not which][-2:]:
        parts.append(f"{md_esc(note.level)}: {md_esc_code(note.message)}")
    if run is not None and run.store_error:
        parts.append(f"⚠ {md_esc(run.store_error)}")
    stopped = services.replaced(run_id)
    if stopped:  # the tab's previous run, still going when Run was pressed
        parts.append(f"this Run stopped and replaced {', '.join(md_code(r) for r in stopped)}")
    unnamed = TEST_PPM if services.step_scorer_override is not None else "a PPM given to the search"
    line = ppm_line(tree, unnamed)
    ppm = f"  \n**PPM:** {md_esc_code(line)}" if line else ""
    engine = engine_line(tree.started)  # which engine, model and servers produced the run
    return " · ".join(parts) + (f"  \n{engine}" if engine else "") + ppm
