"""The Training tab: the ``canopy evolve`` runs in a folder, one run's manifest summary and
round-by-round charts (``backend/evolve/charts.py``'s figure), redrawn while a round runs
(a ``gr.Timer`` polls the run's stage files and redraws only when they change), and "use this
round", which puts a round's policy and PPM on the Solve screen so the same problem can be
solved with round 1 and round 2. The logic is ``ui/training_runs.py``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gradio as gr

from backend.evolve import runs_index as ri
from ui import handlers as h
from ui import training_runs as tr
from ui.escape import esc, md_esc
from ui.services import Services
from ui.views import encode, plot_view
from ui.words import count

#: seconds between looks at a run that is not finished
POLL_S = 3.0
HELP = (
    "Runs of `canopy evolve` (docs/EVOLVE.md): what each was made with, its rounds' charts "
    "(held-out accuracy, what each search produced, the fine-tuning loss), and while a round runs, "
    "the stage it is in. **Use this round** puts that round's policy (on llama.cpp when the run exported "
    "its GGUF, else on the transformers engine) "
    "and its PPM on the Solve screen, so one problem can be solved with round 1 and then round 2."
)
NO_POLICY_YET = "No round of this run has trained a policy yet."
SERVER_ENGINE = ""  # the Policy control's value for "the server's own engine"


class TrainingHandlers:
    """Gradio adapters over ``ui/training_runs.py`` (outputs in the order the tab wires them)."""

    def __init__(self, services: Services) -> None:
        self.s = services
        self.settings = tr.settings_of(services)

    def list_runs(self, typed: str | None) -> tuple[Any, Any, str]:
        """(the folder's state, the runs dropdown, a message)."""
        try:
            folder = tr.open_folder(self.settings, typed)
            choices = tr.run_choices(folder)
        except (tr.Refused, OSError) as exc:
            return None, gr.Dropdown(choices=[], value=None), f"⚠ {md_esc(exc)}"
        if not choices:
            return folder, gr.Dropdown(choices=[], value=None), f"No evolve run in {md_esc(folder.name)} yet."
        return folder, gr.Dropdown(choices=choices, value=choices[0][1]), f"{count(len(choices), 'run')}."

    def show(self, folder: Path | None, run: str | None, seen: Any = None) -> list[Any]:
        """about, progress, chart, round choice, fingerprint, timer; all skipped but the
        progress line when the run's files are as they were at the last look."""
        try:
            path = tr.checked_run(folder, run)
        except (tr.Refused, OSError) as exc:
            return ["", f"⚠ {md_esc(exc)}" if run else "", encode(tr.NO_ROUNDS),
                    gr.Dropdown(choices=[], value=None), None, gr.Timer(active=False)]
        view = tr.run_view(path)
        timer = gr.Timer(active=not view.finished)
        if seen is not None and tuple(seen) == view.fingerprint:
            return [gr.skip(), view.progress, gr.skip(), gr.skip(), gr.skip(), timer]
        last = view.rounds[-1][1] if view.rounds else None
        info = None if view.rounds else NO_POLICY_YET
        return [view.about, view.progress, encode(view.figure),
                gr.Dropdown(choices=view.rounds, value=last, info=info), list(view.fingerprint), timer]

    def use(self, folder: Path | None, run: str | None, number: Any) -> list[Any]:
        """Solve's policy, PPM and algorithm controls, the note, and the tab to show."""
        try:
            pick = tr.pick_round(tr.checked_run(folder, run), number)
        except (tr.Refused, ri.UnreadableRun, OSError) as exc:
            gr.Warning(esc(exc))
            return [gr.skip(), gr.skip(), gr.skip(), f"⚠ {md_esc(exc)}", gr.skip()]
        return [
            gr.Dropdown(choices=policy_choices(self.s, pick.policies), value=pick.policy, visible=True),
            gr.Dropdown(choices=h.ppm_choices(self.s) + pick.ppms, value=pick.ppm),
            pick.algorithm,  # the run's: its policies were trained on that algorithm's format
            pick.note,
            gr.Tabs(selected="solve"),
        ]


def policy_choices(services: Services, rounds: Sequence[tuple[str, str]] = ()) -> list[tuple[str, str]]:
    """The Solve screen's Policy control: the server's engine, then round policies picked."""
    slot = services.engine
    server = f"the server's engine ({slot.name}" + (f" · {slot.model})" if slot.model else ")")
    return [(server, SERVER_ENGINE), *rounds]


def restored_policy(services: Services, engine: str | None, model: str | None) -> Any:
    """The Policy control of a re-attached run: its round policy when it ran one this server
    may use (skipped otherwise: the control stays as it is)."""
    if not model or engine not in ("transformers", "llamacpp"):
        return gr.skip()
    if engine == "llamacpp":  # a round's exported GGUF: RUN/round-N/policy.gguf beside its folder
        if not model.endswith("policy.gguf"):
            return gr.skip()
        model = model[: -len(".gguf")]
    try:
        folder = tr.allowed_model(tr.settings_of(services), model, "policy")
        run, number = ri.round_model(folder, "policy")
    except tr.Refused:
        return gr.skip()
    rounds = [(f"{run.name} · round {number} policy", str(folder))]
    return gr.Dropdown(choices=policy_choices(services, rounds), value=str(folder), visible=True)


def build_training(services: Services, demo: gr.Blocks, solve: Any, tabs: gr.Tabs) -> TrainingHandlers:
    """Lay out the Training tab in the current Blocks context and wire it to ``solve``'s
    form (``SolveScreen.policy``, ``.ppm``, ``.algorithm``) and ``tabs``."""
    hs = TrainingHandlers(services)
    gr.Markdown(HELP)
    with gr.Row(equal_height=True):
        typed = gr.Textbox(
            value=str(hs.settings.root), label="Runs folder", elem_id="training-folder", scale=4,
            info="--runs-dir of the app" + (", or any folder on this machine" if hs.settings.anywhere
                                             else ", or a folder inside it"),
        )
        look = gr.Button("List runs", elem_id="training-list", scale=1)
    folder = gr.State(None)  # the checked folder: kept on the server, never sent by the page
    message = gr.Markdown(elem_id="training-message")
    run = gr.Dropdown(choices=[], value=None, label="Evolve run", elem_id="training-run")
    about = gr.Markdown(elem_id="training-about")
    progress = gr.Markdown(elem_id="training-progress")
    chart = plot_view("training-chart")
    with gr.Row(equal_height=True):
        round_pick = gr.Dropdown(choices=[], value=None, label="Round", elem_id="training-round", scale=2)
        use = gr.Button("Use this round on the Solve screen", elem_id="training-use", variant="primary",
                        scale=1)
    picked = gr.Markdown(elem_id="training-picked")
    seen = gr.State(None)
    timer = gr.Timer(POLL_S, active=False)

    fast = {"concurrency_limit": None, "show_progress": "hidden", "api_visibility": "private"}
    view = [about, progress, chart, round_pick, seen, timer]
    listed = look.click(hs.list_runs, typed, [folder, run, message], **fast)
    submitted = typed.submit(hs.list_runs, typed, [folder, run, message], **fast)
    submitted.then(hs.show, [folder, run], view, **fast)
    listed.then(hs.show, [folder, run], view, **fast)
    demo.load(hs.list_runs, typed, [folder, run, message], **fast).then(hs.show, [folder, run], view, **fast)
    run.input(hs.show, [folder, run], view, **fast)
    timer.tick(hs.show, [folder, run, seen], view, **fast)
    use.click(hs.use, [folder, run, round_pick], [solve.policy, solve.ppm, solve.algorithm, picked, tabs],
              **fast)
    return hs
