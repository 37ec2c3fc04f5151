"""Screen logic as plain functions: data in, data out, no Gradio (tested directly).

The Gradio wiring in ``ui/solve.py`` and ``ui/history.py`` only adapts these to
components. Every function takes the ``Services`` bundle first.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from backend.ppm_diagnostics import disagreements, last_pick, ppm_line, ppm_note
from backend.run import PAUSED_STATES
from backend.tree import Tree
from backend.verify.answers import answer_grader
from ui.diagnostics import disagreement_panel
from ui.engine_line import engine_line
from ui.escape import md_code, md_esc, md_esc_code
from ui.figure import FigureStream, convergence_figure, touched_by, tree_figure
from ui.inspector import NodeView, answer_panel, md_text, node_view, stats_panel
from ui.services import Services
from ui.vocabulary import rounds_phrase
from ui.words import count

log = logging.getLogger(__name__)

NO_PRESET = "(defaults)"


# --- algorithm controls, generated from the registry --------------------------------------


@dataclass(frozen=True)
class Control:
    """One config field of one algorithm, as the Solve screen shows it."""

    algorithm: str
    name: str
    type: str  # "int", "float", "bool", "str", "choice"
    default: Any
    min: float | None = None
    max: float | None = None
    choices: tuple[Any, ...] | None = None
    help: str = ""

    @property
    def widget(self) -> str:
        """slider for small numeric ranges, number for wide ones, else by type."""
        if self.type in ("int", "float") and self.min is not None and self.max is not None:
            span = self.max - self.min
            if (self.type == "float" and span <= 10) or (self.type == "int" and span <= 64):
                return "slider"
            return "number"
        return {"bool": "checkbox", "choice": "dropdown"}.get(
            self.type, "number" if self.type in ("int", "float") else "text"
        )


def algorithm_controls(names: Sequence[str]) -> list[Control]:
    from backend.search.registry import config_fields

    out = []
    for name in names:
        for f in config_fields(name):
            choices = tuple(f["choices"]) if f["choices"] else None
            out.append(
                Control(name, f["name"], f["type"], f["default"], f["min"], f["max"], choices, f["help"])
            )
    return out


def algorithm_info(name: str) -> dict[str, Any]:
    """Description, presets (default first) and rewards of an algorithm."""
    from backend.search.registry import algorithm_spec

    spec = algorithm_spec(name)
    presets = list(spec.presets)
    if spec.default_preset in presets:
        presets.remove(spec.default_preset)
        presets.insert(0, spec.default_preset)
    if spec.default_preset is None:
        presets.insert(0, NO_PRESET)
    return {
        "description": spec.description,
        "presets": presets,
        "default_preset": spec.default_preset or NO_PRESET,
        "rewards": ["auto", *spec.rewards],
    }


def preset_values(algorithm: str, preset: str, controls: Sequence[Control]) -> list[Any]:
    """The values the algorithm's controls take under ``preset`` (in ``controls`` order)."""
    from backend.search.registry import make_config

    cfg = make_config(algorithm, None if preset in (NO_PRESET, "", None) else preset)
    return [getattr(cfg, c.name) for c in controls if c.algorithm == algorithm]


def problem_preview(text: str, algorithm: str = "") -> str:
    """The problem rendered; for LIPS also how its parser reads the text (or why it cannot),
    so a misread (``ab`` as one variable, a missing ``prove``) shows before Run."""
    if not text.strip():
        return "_The problem, rendered with Markdown and LaTeX, shows here._"
    if algorithm != "lips":
        return md_text(text)
    from backend.search.lips.problem import parse_problem
    from backend.search.lips.reading import ProblemParseError, reading_lines

    try:
        lines = reading_lines(parse_problem(text))
    except ProblemParseError as exc:
        return f"{md_text(text)}\n\n**LIPS cannot read this:** {md_esc(exc)}"
    read = "  \n".join(f"{md_esc(label)}: {md_code(value)}" for label, value in lines)
    return f"{md_text(text)}\n\n**LIPS reads:**  \n{read}"


def example_choices(services: Services, dataset: str, limit: int = 60) -> list[tuple[str, str]]:
    """(label, problem id) pairs for the examples picker: the problem, never its answer (a
    student sees the picker; ``pick_example`` fills the known answer in, which grades the run)."""
    if not dataset:
        return []
    out = []
    for p in services.problems(dataset, limit):
        q = " ".join(p.question.split())
        out.append((f"{p.id}: {q[:80]}{'…' if len(q) > 80 else ''}", p.id))
    return out


def pick_example(services: Services, dataset: str, problem_id: str, limit: int = 60) -> tuple[str, str]:
    """(problem text, known answer or '') for a picked example."""
    for p in services.problems(dataset, limit):
        if p.id == problem_id:
            return p.question, p.answer or ""
    return "", ""


# --- the PPM a run uses --------------------------------------------------------------------

PPM_DEFAULT_LABEL = "default (shipped PPM)"
#: "default" where the shipped PPM does not apply (``default_ppm_applies``): the run has no PPM
PPM_DEFAULT_NONE_SHIPS = "default (none ships yet: no PPM)"
PPM_DEFAULT_OTHER_MODEL = "default (no PPM for this model)"
#: how the page names ``Services.step_scorer_override`` (a test fixture, never a trained model)
TEST_PPM = "a test PPM (rule table injected by the test harness)"


def ppm_choices(services: Services) -> list[tuple[str, str]]:
    """(label, RunSpec.ppm value) of the page's PPM control: the default (named for what it gives
    on this server: the shipped PPM, or no PPM when none ships or the model is another), none,
    and the app's ``--ppm`` directory when it gave one."""
    out = [(_default_ppm_label(services), "default"), ("none", "none")]
    mine = (services.ppm or "").strip()
    if mine.lower() not in ("", "default", "none"):
        out.append((f"{mine} (--ppm)", mine))
    return out


def ppm_default_value(services: Services) -> str:
    """The control's starting value: the app's ``--ppm`` ("default" when it named nothing)."""
    mine = (services.ppm or "").strip()
    if mine.lower() in ("", "default"):
        return "default"
    return "none" if mine.lower() == "none" else mine


def ppm_choice_info(services: Services) -> str:
    """The control's help line: what "default" gives on this server (the shipped PPM applies
    to rStar-Math on the llamacpp engine with the embedded model only, and only once it has
    been built), so a user learns before Run that default means no PPM here."""
    if services.step_scorer_override is not None:
        return "default here: a test PPM (a rule table the test harness injected), not a trained model."
    why_not = _default_ppm_missing(services)
    if why_not is None:
        return "default here: Canopy's shipped PPM values every new step (rStar-Math only)."
    return f"default here means no PPM: {why_not}."


def _default_ppm_missing(services: Services) -> str | None:
    """Why "default" gives no PPM on this server's engine (``default_ppm_applies``); None: the
    shipped PPM values the steps."""
    from types import SimpleNamespace

    from backend.runspec import RunSpec, default_ppm_applies

    slot = services.engine
    engine = SimpleNamespace(info=SimpleNamespace(name=slot.name, model=slot.model))
    try:
        return default_ppm_applies(RunSpec(problem="?", engine=slot.name, model=slot.model), engine)
    except (OSError, ValueError) as exc:
        return str(exc)


def _default_ppm_label(services: Services) -> str:
    """The control's name for "default": "shipped PPM" only where one ships and applies (it read
    "default (shipped PPM)" with none in assets/ppm, where the run has no PPM)."""
    from backend.reward.step_scorer import MARKER
    from backend.runspec import shipped_ppm_dir

    if services.step_scorer_override is not None:
        return "default (test PPM)"
    if _default_ppm_missing(services) is None:
        return PPM_DEFAULT_LABEL
    return PPM_DEFAULT_OTHER_MODEL if (shipped_ppm_dir() / MARKER).is_file() else PPM_DEFAULT_NONE_SHIPS


# --- starting and controlling runs -------------------------------------------------------


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


# --- what the screens draw -----------------------------------------------------------------


def known_answer(services: Services, run_id: str, tree: Tree) -> str | None:
    """The run's known answer: graded at its end (``run_finished.reference``), held by the
    live Run before that (the search never sees it unless the reward is truth), or in the
    spec (a truth run). None when the run has none."""
    if tree.finished is not None and tree.finished.reference:
        return tree.finished.reference
    run = services.runs.get(run_id)
    if run is not None and run.reference:
        return run.reference
    spec = (tree.started.spec if tree.started else None) or {}
    return spec.get("reference") or None




@dataclass(frozen=True)
class Snapshot:
    """One stream update; a status-only one (the run's state changed, its tree did not) has
    None for every other panel: the page keeps what it shows."""

    tree: dict[str, Any] | None
    convergence: dict[str, Any] | None
    stats: str | None
    answer: str | None
    status: str
    rev: int
    #: the PPM diagnostics panel's disagreement list (Markdown)
    disagreements: str | None = ""


def snapshot(
    services: Services, run_id: str, fresh_after: int | None = None, figure: FigureStream | None = None
) -> Snapshot:
    """The screens' values for the run's current tree; with ``figure`` (one page's
    ``FigureStream``) the tree is a delta from what that page was sent last."""

    def draw(tree: Tree) -> Snapshot:
        found = disagreements(tree)  # listed in the panel and ringed in the tree: found once
        flags = [d.id for d in found]
        reference = known_answer(services, run_id, tree)
        if figure is None:
            fig = tree_figure(tree, fresh_after=fresh_after, flags=flags, grade=answer_grader(reference))
        else:
            if figure.grade is None and reference:  # a stream grades with one grader
                figure.grade = answer_grader(reference)
            touched = None
            if figure.run == run_id and figure.rev is not None:  # what changed since the last figure
                touched = touched_by(
                    e for e in services.runs.events(run_id, figure.rev) if e.seq <= tree.last_seq
                )
                from ui.steering import with_pruned_subtrees  # here: ui.steering imports this module

                touched = with_pruned_subtrees(tree, touched)  # a prune fades its whole subtree
            fig = figure.figure(tree, fresh_after=fresh_after, touched=touched, flags=flags)
        return Snapshot(
            tree=fig,
            convergence=convergence_figure(tree),
            stats=stats_panel(tree),
            answer=answer_panel(tree, _proof_events(services, run_id, tree)),
            status=run_status(services, run_id, tree),
            rev=tree.last_seq,
            disagreements=disagreement_panel(tree, found),
        )

    return services.trees.view(run_id, draw)


def _proof_events(services: Services, run_id: str, tree: Tree) -> list[Any] | None:
    """The events a LIPS proof is read from (``ui/stories.py: lips_answer``), once a goal of
    the tree is closed; None otherwise (no other panel needs them)."""
    if tree.started is None or tree.started.algorithm != "lips":
        return None
    if not any(n.status == "proved" for n in tree.nodes.values()):
        return None
    return services.runs.events(run_id, -1, tree.last_seq + 1)


#: how often a stream looks for news other than events (a resync, an ended watch) while it
#: may send; a live run's next event wakes it at once (the rate bound is
#: ``Services.update_every_s`` between two updates)
POLL_S = 0.05


def stream_run(
    services: Services, run_id: str | None, *, viewer: str | None = None, idle_limit_s: float = 3600.0
) -> Iterator[Snapshot]:
    """Snapshots of a run, at most one per ``update_every_s``, newest state wins, until it ends.

    Nothing is yielded while nothing changed (a paused run costs one cheap check per
    poll). The first snapshot is a whole figure with no "new" rings; later ones are
    deltas (``ui.figure.FigureStream``) that ring the nodes added since. A page that
    missed one asks for the whole figure again (``Services.request_resync``), which the
    next snapshot sends. ``viewer`` (a browser tab's session) has one stream at a time:
    starting another one for the same viewer (a new run in that tab) ends this one, so
    two runs never take turns drawing into one tree. The run itself goes on; History or
    its ``?run=`` URL shows it.
    """
    if not run_id:
        return
    ticket = services.watch(viewer) if viewer else 0
    try:
        yield from _stream(services, run_id, viewer, ticket, idle_limit_s)
    finally:
        if viewer:
            services.unwatch(viewer, ticket)


def _stream(
    services: Services, run_id: str, viewer: str | None, ticket: int, idle_limit_s: float
) -> Iterator[Snapshot]:
    figure = FigureStream()
    shown = -1
    shown_state: str | None = None  # the run's state the last snapshot's status line said
    idle_since = time.monotonic()
    period = services.update_every_s
    last_sent = -math.inf
    resends: list[float] = []  # when to say the live status again, once nothing else is sent
    while True:
        if viewer and not services.watching(viewer, ticket):
            return
        t = time.monotonic()
        wait = period - (t - last_sent)
        if wait > 0:  # the rate bound: newest state wins
            time.sleep(wait)
            continue
        resync = bool(viewer) and services.take_resync(viewer, ticket)
        if resync:
            figure.reset()
        last = services.trees.view(run_id, lambda tree: (tree.last_seq, tree.finished is not None))
        # a run's state can change with no event after it (pausing -> paused once the rollout
        # under way ends, stepping -> paused): the status line must say so too
        state = _live_state(services, run_id, finished=last[1])
        if last[0] == shown and not resync and state != shown_state:
            resends = _resend_times(t, was_live=shown_state is not None)
            shown_state = state  # the status line alone: no tree update (a page's deltas stay in step)
            yield Snapshot(None, None, None, None, run_status(services, run_id), shown, None)
        elif last[0] != shown or resync:
            snap = snapshot(services, run_id, fresh_after=shown if shown >= 0 else None, figure=figure)
            resends = _resend_times(t, was_live=shown_state is not None or state is not None)
            shown, shown_state = snap.rev, state
            idle_since = last_sent = t
            # drawing a big tree costs server time that the search (same process, same GIL)
            # needs too: never spend more than about half of the time drawing
            period = max(services.update_every_s, 2 * (time.monotonic() - t))
            yield snap
        elif resends and t >= resends[0]:
            resends.pop(0)  # the last word on the status line is the stream's (see STATUS_RESEND_S)
            yield Snapshot(None, None, None, None, run_status(services, run_id), shown, None)
        elif last[1] or services.runs.get(run_id) is None:
            # finished and fully shown, or nobody will ever add to it here; a resync asked
            # for meanwhile is still answered
            if not viewer or services.end_stream(viewer, ticket):
                return
        elif t - idle_since > idle_limit_s:
            return
        else:
            _wait_for_news(services, run_id, shown, min(POLL_S, period))


#: after an update of a live run, the stream says the status line again this many seconds
#: later (if nothing else was sent meanwhile): a Pause / Step / Stop click's own answer ("pausing")
#: is a separate request whose reply can reach the page after the stream's "paused", and would
#: otherwise stay on the page as the run's state
STATUS_RESEND_S = (1.0, 4.0)


def _resend_times(now: float, *, was_live: bool) -> list[float]:
    return [now + s for s in STATUS_RESEND_S] if was_live else []


def _live_state(services: Services, run_id: str, *, finished: bool) -> str | None:
    """The live run's state, as its status line words it; None once the tree has finished
    (the status then says how it ended, whatever the worker's last state)."""
    run = services.runs.get(run_id)
    return None if finished or run is None else run.state


def _wait_for_news(services: Services, run_id: str, shown: int, timeout: float) -> None:
    """Sleep up to ``timeout``, waking at once when a live run emits past ``shown``."""
    run = services.runs.get(run_id)
    if run is None:
        time.sleep(timeout)
    else:
        run.log.wait_after(shown, timeout)


def inspect(services: Services, run_id: str | None, node_id: Any, upto: int | None = None) -> NodeView:
    """The inspector for a clicked node, live or at replay position ``upto``."""
    if not run_id or node_id is None:
        return NodeView()
    try:
        nid = int(node_id)
    except (TypeError, ValueError):
        return NodeView(title=f"Not a node id: {md_esc(node_id)}")

    grade = run_grader(services, run_id)

    def view(tree: Tree) -> NodeView:
        # the events the tree was folded from: the last pick of the node, as of this tree
        events = services.runs.events(run_id, -1, tree.last_seq + 1)
        return node_view(tree, nid, last_pick(events, nid), grade, events)

    if upto is None:
        return services.trees.view(run_id, view)
    return replay_view(services, run_id, int(upto), view)


# --- the history file ----------------------------------------------------------------------


def history_banner(services: Services) -> str:
    """The page's banner about the history file, '' when all is well: a user opening the
    page learns that the history is read-only, was reset, or lives in memory only. The
    notice names paths and SQLite's words, so it is escaped."""
    notice = services.history_notice
    return f"⚠ **History:** {md_esc(notice)}" if notice else ""


#: what each refused action would have needed the history for
_READ_ONLY_FIX = {
    "started": " (nothing could be saved). Start Canopy with a writable --db to run searches.",
    "deleted": ".",
    "imported": " (nothing could be saved).",
}


def read_only_refusal(services: Services, what: str) -> str | None:
    """Why runs cannot be ``what`` ("started", "deleted", "imported") here, or None when
    the history can be written. Plain text: the caller escapes it for its component."""
    if not services.history_read_only:
        return None
    return f"History is read-only: runs can be viewed but not {what}{_READ_ONLY_FIX.get(what, '.')}"


def delete_run(services: Services, run_id: str) -> tuple[str, bool]:
    """(message, gone) for Delete; ``gone``: the run is not in the history now (deleted,
    or already gone), so the list is refreshed. A live run here, a read-only history, or a
    run that another Canopy process is still writing (``RunBusy``) is refused with a
    message, not an error dialog."""
    from backend.store import StoreError

    refusal = read_only_refusal(services, "deleted")
    if refusal:
        return f"⚠ {md_esc(refusal)}", False
    live = services.runs.get(run_id)
    if live is not None and not live.finished:
        return f"Run {md_code(run_id)} is still going: stop it first.", False
    try:
        deleted = services.store.delete(run_id)
    except StoreError as exc:
        return f"⚠ Not deleted: {md_esc(exc)}", False
    services.trees.drop(run_id)
    if not deleted:
        return f"No run {md_code(run_id)} in the history.", True
    return f"Deleted run {md_code(run_id)}.", True


# --- history -------------------------------------------------------------------------------

HISTORY_HEADERS = [
    "id", "created", "algorithm", "status", "answer", "correct", "nodes", "time s", "model", "problem",
]  # fmt: skip


def short(text: str, most: int) -> str:
    """``text`` cut to ``most`` characters, an ellipsis saying so."""
    return text if len(text) <= most else text[: most - 1] + "…"


def history_rows(services: Services, text: str = "", algorithm: str = "", status: str = "") -> list[list]:
    rows = []
    for r in services.store.list_runs(text=text.strip(), algorithm=algorithm or "", status=status or ""):
        problem = " ".join(r.problem.split())
        rows.append(
            [
                r.id,
                time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created)),
                r.algorithm,
                # a graded wrong answer is "answered", never "solved" beside correct "no"
                "answered" if r.status == "solved" and r.correct is False else r.status,
                r.answer or "",
                {True: "yes", False: "no", None: ""}[r.correct],
                r.nodes,
                round(r.wall_s, 1),
                short(r.model.replace("\\", "/").rsplit("/", 1)[-1], 24),  # a GGUF path: its file name
                short(problem, 160),
            ]
        )
    return rows


def replay_view(services: Services, run_id: str, upto: int, fn: Any) -> Any:
    """``fn(tree)`` for the run's tree after event ``upto`` (see ``ui.services.ReplayCache``)."""
    return services.replays.view(run_id, upto, fn)


def event_at(services: Services, run_id: str, upto: int) -> Any:
    """The run's event number ``upto`` (None past its end)."""
    events = services.runs.events(run_id, after=upto - 1, limit=1)
    return events[0] if events else None


def _ids(ids: Sequence[Any]) -> str:
    return " → ".join(f"#{md_esc(i)}" for i in ids)


def _first(text: str, width: int = 80) -> str:
    line = next((ln.strip() for ln in (text or "").splitlines() if ln.strip()), "")
    return md_esc(line if len(line) <= width else line[: width - 1] + "…")


def _what_happened(e: Any) -> str:
    """One event in words (the replay caption), escaped for Markdown."""
    from backend import events as ev

    if isinstance(e, ev.RunStarted):
        return f"run started: {md_esc(e.algorithm)}, reward {md_esc(e.reward or '?')}"
    if isinstance(e, ev.NodeAdded):
        under = "as the root" if e.parent is None else f"under #{md_esc(e.parent)}"
        return f"node #{md_esc(e.id)} ({md_esc(e.kind)}) added {under}: {_first(e.text or e.code or '')}"
    if isinstance(e, ev.NodeVerified):
        said = f", answer {md_esc(e.answer)}" if e.answer is not None else ""
        return f"node #{md_esc(e.id)} checked: {md_esc(e.status)} by {md_esc(e.method)}{said}"
    if isinstance(e, ev.NodeScored):
        return f"node #{md_esc(e.id)} scored {e.score:.3f} by {md_esc(e.source)}"
    if isinstance(e, ev.NodeSelected):
        return f"selection walked {_ids(e.path)} (the dashed purple line)"
    if isinstance(e, ev.Backprop):
        return (
            f"backpropagation updated N and Q of {count(len(e.updated), 'node')} "
            f"({_ids([r[0] for r in e.updated])})"
        )
    if isinstance(e, ev.IterationDone):
        votes = ", ".join(f"{md_esc(a)}: {v:g}" for a, v in list(e.votes.items())[:4])
        best = md_esc(e.best_answer) if e.best_answer is not None else "none yet"
        return f"iteration {md_esc(e.iteration)} done: best answer {best}" + (
            f" (votes {votes})" if votes else ""
        )
    if isinstance(e, ev.UserAction):
        on = f" on #{md_esc(e.node)}" if e.node is not None else ""
        return f"the user pressed {md_esc(e.action)}{on}"
    if isinstance(e, ev.UserStep):  # steering (issue 16): the step follows as its own node
        return f"the user added a step under #{md_esc(e.node)}: {_first(e.text or e.code or '')}"
    if isinstance(e, ev.Note):
        return f"{md_esc(e.level)}: {md_esc_code(e.message)}"
    if isinstance(e, ev.RunFinished):
        return finished_state(e)
    return md_esc(e.type)


def event_caption(services: Services, run_id: str, upto: int) -> str:
    """The replay caption: which event this is, when, and what it did, in words."""
    e = event_at(services, run_id, upto)
    if e is None:
        return ""
    return f"event {e.seq} at {e.t:.2f} s · **{md_esc(e.type)}**: {_what_happened(e)}"


def run_grader(services: Services, run_id: str) -> Any:
    """The grader of the whole run's known answer (a replay's prefix may not have reached
    ``run_finished``, where a non-truth run's known answer is written)."""
    return answer_grader(services.trees.view(run_id, lambda t: known_answer(services, run_id, t)))


def replay(services: Services, run_id: str, upto: int) -> Snapshot:
    from backend import events as ev

    grade = run_grader(services, run_id)
    e = event_at(services, run_id, upto)
    path = list(e.path) if isinstance(e, ev.NodeSelected) else None

    def draw(tree: Tree) -> Snapshot:
        return Snapshot(
            tree=tree_figure(tree, fresh_after=upto - 1, grade=grade, path=path),
            convergence=convergence_figure(tree),
            stats=stats_panel(tree),
            answer=answer_panel(tree, _proof_events(services, run_id, tree)),
            status=event_caption(services, run_id, upto),
            rev=tree.last_seq,
        )

    return replay_view(services, run_id, upto, draw)


#: how many of the newest runs in the history the PPM diagnostics read
PPM_HISTORY_RUNS = 200


def ppm_history(services: Services, limit: int = PPM_HISTORY_RUNS) -> tuple[list[Tree], int]:
    """(the folded trees of the history's PPM-scored runs, how many rStar-type runs were
    read) among the ``limit`` newest runs; runs of algorithms without a PPM are not read,
    and a run that does not fold (damaged) is skipped."""
    from backend.events import EventError
    from backend.ppm_diagnostics import scored_nodes
    from backend.runspec import uses_ppm

    takes: dict[str, bool] = {}
    trees, scanned = [], 0
    for rec in services.store.list_runs(limit=limit):
        if rec.algorithm not in takes:
            try:
                takes[rec.algorithm] = uses_ppm(rec.algorithm)
            except ValueError:
                takes[rec.algorithm] = False
        if not takes[rec.algorithm]:
            continue
        scanned += 1
        try:
            tree = Tree.from_events(services.runs.events(rec.id))
        except (EventError, ValueError) as exc:
            log.warning("PPM diagnostics skip run %s: %s", rec.id, exc)
            continue
        if scored_nodes(tree):
            trees.append(tree)
    return trees, scanned


def ppm_history_panel(services: Services) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(summary, calibration chart, length-bias chart) over the history's PPM-scored runs."""
    from backend.ppm_diagnostics import calibration, length_bias
    from ui.diagnostics import calibration_figure, history_summary, length_figure

    trees, scanned = ppm_history(services)
    cal, lb = calibration(trees), length_bias(trees)
    return history_summary(cal, lb, len(trees), scanned), calibration_figure(cal), length_figure(lb)


def run_length(services: Services, run_id: str) -> int:
    """Number of events in a run (the replay slider's range)."""
    return len(services.runs.events(run_id))
