"""The Solve screen: problem, algorithm and its settings, controls, the live tree, inspector.

Layout is built here and every event is wired at the end of ``build_solve``. The logic is
in ``ui/handlers/``; ``SolveHandlers`` only adapts it to Gradio (bound methods, because
Gradio injects ``gr.EventData`` / ``gr.Request`` by type hint, which it cannot see through
``functools.partial``). ``gr.State`` holds only the run id.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import gradio as gr

from ui import handlers as h
from ui.click_order import ClickOrder
from ui.escape import esc, md_code, md_esc
from ui.figure import message_figure
from ui.inspector import NodeView, uct_table
from ui.services import Services
from ui.steering import build_inspector_steering
from ui.views import encode, plot_view, tree_view
from ui.vocabulary import vocabulary

LATEX = [
    {"left": "$$", "right": "$$", "display": True},
    {"left": "$", "right": "$", "display": False},
    {"left": "\\(", "right": "\\)", "display": False},
    {"left": "\\[", "right": "\\]", "display": True},
]
#: an empty convergence panel (plot.js draws nothing for it)
NO_CONVERGENCE: dict[str, Any] = {"data": [], "layout": {}}
SET_URL_JS = """(run_id) => {
  if (run_id) { const u = new URL(window.location); u.searchParams.set('run', run_id);
                window.history.replaceState(null, '', u); }
  return run_id;
}"""


@dataclass
class Inspector:
    title: gr.Markdown
    text: gr.Markdown
    code: gr.Code
    output: gr.Code
    verification: gr.Markdown
    numbers: gr.Markdown
    uct: gr.Markdown
    uct_note: gr.Markdown
    path: gr.Markdown
    why: gr.Markdown
    #: what ``build_inspector``'s ``actions`` laid out under the title (None without)
    actions: Any = None

    @property
    def outputs(self) -> list[gr.Component]:
        return [
            self.title,
            self.text,
            self.code,
            self.output,
            self.verification,
            self.numbers,
            self.uct,
            self.uct_note,
            self.path,
            self.why,
        ]

    @staticmethod
    def values(v: NodeView) -> list[Any]:
        """The inspector's values; the code and output boxes only for a node with code or output
        of an algorithm that runs code (a CPL plan step or a LIPS goal has none:
        ``ui/vocabulary.py``; no node clicked yet, or the root, has neither)."""
        boxes = v.runs_code and bool(v.code or v.output)
        code = gr.update(value=v.code, visible=boxes)
        output = gr.update(value=v.output, visible=boxes)
        return [
            *(v.title, v.text, code, output, v.verification, v.numbers),
            *(uct_table(v.uct), v.uct_note, v.path, v.why),
        ]


def build_inspector(prefix: str, actions: Any = None) -> Inspector:
    """The inspector's boxes; ``actions()`` lays out what can be done to the node under its title
    (the Solve screen's steering buttons, ``ui/steering.py``)."""
    title = gr.Markdown(NodeView().title, elem_id=f"{prefix}-title")
    laid_out = actions() if actions is not None else None
    text = gr.Markdown(latex_delimiters=LATEX, elem_id=f"{prefix}-text", label="step")
    # hidden until a node with code is inspected (Inspector.values): a new user's first page
    # showed two big empty code boxes under "Click a node"
    code = gr.Code(
        language="python", label="code", interactive=False, elem_id=f"{prefix}-code", visible=False
    )
    output = gr.Code(
        label="execution output (stdout / stderr)", interactive=False, elem_id=f"{prefix}-output",
        visible=False,
    )
    verification = gr.Markdown(elem_id=f"{prefix}-verification", latex_delimiters=LATEX)
    numbers = gr.Markdown(elem_id=f"{prefix}-numbers")
    why = gr.Markdown(elem_id=f"{prefix}-why")  # which term won the node's last selection
    uct_note = gr.Markdown(elem_id=f"{prefix}-uct-note")
    # a Markdown table: a Dataframe's sort buttons made it wider than the column
    uct = gr.Markdown(elem_id=f"{prefix}-uct", elem_classes=["canopy-uct"])
    with gr.Accordion("Path from the root", open=False):
        path = gr.Markdown(elem_id=f"{prefix}-path", latex_delimiters=LATEX)
    return Inspector(title, text, code, output, verification, numbers, uct, uct_note, path, why, laid_out)


class SolveHandlers:
    """Thin Gradio adapters over ``ui.handlers``."""

    def __init__(self, services: Services, controls: Sequence[h.Control]) -> None:
        self.s = services
        self.controls = list(controls)
        self.clicks = ClickOrder()

    def start(
        self,
        request: gr.Request,
        old_run: str | None,
        problem: str,
        algorithm: str,
        reward: str,
        reference: str,
        seed: float,
        *values: Any,
        ppm: str | None = None,
        policy: str | None = None,
    ) -> tuple:
        viewer = getattr(request, "session_hash", None) if request is not None else None
        try:
            run_id = self._start_in_tab(
                viewer, problem, algorithm, reward, reference, seed, values, ppm, policy
            )
        except h.UserFacingError as exc:
            gr.Warning(esc(exc))  # a toast renders HTML
            # the error stays on screen: the previous run's tree, answer and "finished" status
            # are cleared (they read as the result of this Run), and its stream stops
            if request is not None and request.session_hash:
                self.s.watch(request.session_hash)
            return (
                None,
                f"⚠ {md_esc(exc)} · **Run not started.**",
                "Pause",
                self.s.engine.status(),
                *Inspector.values(NodeView()),
                encode(message_figure(f"Run not started: {exc}")),
                encode(NO_CONVERGENCE),
                "",
                "",
            )
        if request is not None and request.session_hash:
            self.s.watch(request.session_hash)  # this tab's stream of its previous run stops now
        return (
            run_id,
            h.run_status(self.s, run_id),
            "Pause",
            self.s.engine.status(),
            # no empty code boxes before a click for algorithms that run no code
            *Inspector.values(NodeView(runs_code=vocabulary(algorithm).runs_code)),
            *(gr.skip() for _ in range(4)),  # the new run's stream draws them
        )

    def _start_in_tab(
        self, viewer: str | None, problem: str, algorithm: str, reward: str,
        reference: str, seed: float, values: Sequence[Any], ppm: str | None, policy: str | None,
    ) -> str:
        """Start a run that replaces the tab's run: the one the tab's last Run started (also after a
        double Run or a page that lost its id), stopped if still going. A tab's Runs start one at a
        time, so it never has two live searches. A run the tab only shows (opened from a shared
        link or History, another person's) is never stopped by this tab's Run."""
        if not viewer:
            return h.start_run(self.s, self.controls, problem, algorithm, reward, reference, seed, values,
                               ppm=ppm, policy=policy)
        lock, last = self.s.tab(viewer)
        with lock:
            run_id = h.start_run(self.s, self.controls, problem, algorithm, reward, reference, seed, values,
                                 ppm=ppm, policy=policy, replaces=[last[0]])
            last[0] = run_id
        return run_id

    def start_from_page(
        self,
        request: gr.Request,
        old_run: str | None,
        problem: str,
        algorithm: str,
        reward: str,
        ppm: str,
        policy: str,
        reference: str,
        seed: float,
        *values: Any,
    ) -> tuple:
        """Run, as the page calls it: the PPM and Policy controls' values come after Reward
        (Policy: "" for the server's engine, or a round's policy picked on the Training tab)."""
        return self.start(
            request, old_run, problem, algorithm, reward, reference, seed, *values, ppm=ppm,
            policy=policy or None,
        )

    def starting(self) -> str:
        """The status line the moment Run is pressed, in words: Gradio's own progress text
        ("processing | 1.5s") is hidden on this line (it flashed there and read as the run's)."""
        if self.s.engine.ready:
            return "Starting the run…"
        return "Starting the run… (the engine loads on the first Run: this can take a while)"

    def stream(self, run_id: str | None, request: gr.Request) -> Iterator[tuple]:
        # one stream per browser tab: a newer stream (a new run, a re-attach) ends this one
        viewer = getattr(request, "session_hash", None) if request is not None else None
        sent = False
        for snap in h.stream_run(self.s, run_id, viewer=viewer):
            sent = True
            if snap.tree is None:  # the run's state changed, not its tree: the status line only
                yield (gr.skip(), gr.skip(), gr.skip(), gr.skip(), snap.status, gr.skip())
                continue
            yield (
                encode(snap.tree),
                encode(snap.convergence),
                snap.stats,
                snap.answer,
                snap.status,
                snap.disagreements,
            )
        if not sent:  # a generator that yields nothing empties its outputs (the status line)
            yield tuple(gr.skip() for _ in range(6))

    def ppm_history(self) -> tuple[str, str, str]:
        """The PPM diagnostics over the history: summary, calibration and length charts."""
        summary, calibration, length = h.ppm_history_panel(self.s)
        return summary, encode(calibration), encode(length)

    def toggle(self, run_id: str | None) -> tuple[str, str]:
        status = h.control_run(self.s, run_id, "toggle")
        return status, h.pause_label(self.s, run_id)

    def step(self, run_id: str | None) -> tuple[str, str]:
        return h.control_run(self.s, run_id, "step"), "Resume"

    def stop(self, run_id: str | None) -> tuple[str, str]:
        return h.control_run(self.s, run_id, "stop"), "Pause"

    def echo(self, run_id: str | None) -> str:
        return run_id or ""

    def after_stream(self, run_id: str | None) -> str:
        return h.pause_label(self.s, run_id)

    def resync(self, run_id: str | None, evt: gr.EventData, request: gr.Request) -> Any:
        """The page lost track of the tree (a delta did not follow what it holds): the
        tab's stream sends the whole figure next, or, when no stream runs, here it is."""
        viewer = getattr(request, "session_hash", None) if request is not None else None
        if viewer and self.s.request_resync(viewer):
            return gr.skip()
        data = getattr(evt, "_data", None) or {}
        wanted = data.get("run_id") or run_id
        if not wanted or wanted != run_id:
            return gr.skip()  # a late value of an older run: the current run's stream decides
        return encode(h.snapshot(self.s, run_id).tree)

    def click(self, run_id: str | None, evt: gr.EventData, request: gr.Request = None) -> list[Any]:
        data = getattr(evt, "_data", None) or {}
        view = h.inspect(self.s, data.get("run_id") or run_id, data.get("node_id"))
        if not self.clicks.newest(request, "inspect", data):  # asked once the answer is ready
            return [gr.skip() for _ in Inspector.values(view)]  # a newer click was answered meanwhile
        return Inspector.values(view)

    def attach(self, request: gr.Request) -> tuple[str | None, str, str, str]:
        """On page load: re-attach to ``?run=ID`` (a refresh keeps watching a live run);
        ``form_values`` then puts the run's form back."""
        run_id = (request.query_params.get("run") or "").strip() if request is not None else ""
        status = self.s.engine.status()
        if not run_id:
            return None, h.run_status(self.s, None), "Pause", status
        if self.s.runs.get(run_id) is None and self.s.store.get(run_id) is None:
            return None, f"Run {md_code(run_id)} is not in this server's history.", "Pause", status
        return run_id, h.run_status(self.s, run_id), h.pause_label(self.s, run_id), status

    def form_values(self, run_id: str | None) -> list[Any]:
        """Problem, algorithm, reward, PPM, known answer, seed, policy and every setting widget as
        ``run_id`` was started (``h.run_form``), so Run after a refresh starts the same thing;
        all skipped when there is no such run."""
        from ui.training import restored_policy

        form = h.run_form(self.s, run_id, self.controls) if run_id else None
        if form is None or form.algorithm not in self.s.algorithm_names():
            return [gr.skip() for _ in range(7 + len(self.controls))]
        rewards = h.algorithm_info(form.algorithm)["rewards"]
        ppms = h.ppm_choices(self.s)
        if form.ppm not in [v for _, v in ppms]:
            ppms.append((form.ppm, form.ppm))
        mine = iter(form.values)
        settings = [next(mine) if c.algorithm == form.algorithm else gr.skip() for c in self.controls]
        return [
            form.problem,
            form.algorithm,
            gr.Dropdown(choices=rewards, value=form.reward if form.reward in rewards else rewards[0]),
            gr.Dropdown(choices=ppms, value=form.ppm, visible=takes_ppm(form.algorithm)),
            form.reference,
            form.seed,
            restored_policy(self.s, form.engine, form.model),
            *settings,
        ]

    def preview(self, text: str, algorithm: str = "") -> str:
        return h.problem_preview(text, algorithm)

    def problem_hint(self, algorithm: str) -> Any:
        return gr.update(**problem_box_hint(algorithm))

    def examples(self, dataset: str) -> Any:
        try:
            return gr.Dropdown(choices=h.example_choices(self.s, dataset), value=None)
        except ValueError as exc:
            gr.Warning(esc(exc))
            return gr.Dropdown(choices=[], value=None)

    def unpick(self, example: str | None = None) -> tuple[Any, Any]:
        """(example, known answer) once the problem is the user's own text: the Examples box
        shows no choice (None as the value itself: in ``gr.Dropdown(value=None)`` None means
        "unchanged"), and a known answer the picked example filled in is emptied (it graded the
        user's next problem: a LIPS proof read "✗ wrong (known 3)" after a GSM8K pick). A known
        answer typed with no example picked stays."""
        return None, ("" if example else gr.skip())

    def pick(self, dataset: str, problem_id: str, algorithm: str | None = None) -> tuple[Any, Any, Any]:
        """(problem, known answer, algorithm) of a picked example: an inequality set's example
        puts LIPS on the form, a word problem's takes LIPS off it (an MO-INT inequality picked
        while rStar-Math was chosen ran rStar on it)."""
        if not problem_id:
            return gr.skip(), gr.skip(), gr.skip()
        from backend.problems import inequality_sets

        problem, answer = h.pick_example(self.s, dataset, problem_id)
        names = self.s.algorithm_names()
        if dataset in inequality_sets():
            fits = "lips" if "lips" in names and algorithm != "lips" else None
        else:
            default = self.s.default_algorithm if self.s.default_algorithm in names else names[0]
            fits = default if algorithm == "lips" and default != "lips" else None
        return problem, answer, fits or gr.skip()

    def choose_algorithm(self, algorithm: str, reward: str | None = None) -> list[Any]:
        """The algorithm's description, rewards and settings group; the reward chosen stays
        when the algorithm offers it (a re-attach sets the algorithm and its run's reward)."""
        info = h.algorithm_info(algorithm)
        groups = [gr.Group(visible=name == algorithm) for name in self.s.algorithm_names()]
        keep = reward if reward in info["rewards"] else info["rewards"][0]
        return [
            info["description"],
            gr.Dropdown(choices=info["rewards"], value=keep),
            gr.Dropdown(visible=takes_ppm(algorithm)),
            *groups,
        ]

    def preset(self, algorithm: str, preset: str) -> list[Any]:
        return h.preset_values(algorithm, preset, self.controls)


#: the problem box for LIPS: the format its parser reads (docs/LIPS.md), shown before anyone types
LIPS_PLACEHOLDER = "a, b, c > 0; prove a^2 + b^2 + c^2 >= ab + bc + ca"
LIPS_INFO = (
    "LIPS: constraints and one goal, separated by ';' (or ', prove ...'); ab means a*b when a and b "
    "are variables; LaTeX works too. How it was read shows under the box."
)


def problem_box_hint(algorithm: str) -> dict[str, Any]:
    """Placeholder and info line of the problem box for the chosen algorithm."""
    if algorithm == "lips":
        return {"placeholder": LIPS_PLACEHOLDER, "info": LIPS_INFO}
    return {"placeholder": "Type a math problem…", "info": ""}  # "" clears it (None is no change)


def takes_ppm(algorithm: str) -> bool:
    """Whether the PPM control applies (rStar-Math takes a PPM; CPL, LIPS, baselines do not)."""
    from backend.runspec import uses_ppm

    try:
        return uses_ppm(algorithm)
    except ValueError:
        return False


PPM_DIAGNOSTICS_HELP = (
    "How far to trust the PPM. **Disagreements** (this run, live): steps visited twice or more "
    "whose PPM score and Q differ most. **Calibration** and **length bias** (the history's runs, "
    "on request): does a higher PPM score mean a correct answer more often, and does the PPM "
    "simply prefer longer steps? docs/UI.md says what each chart can and cannot tell."
)


def build_ppm_diagnostics() -> tuple[gr.Markdown, gr.Button, gr.Markdown, gr.HTML, gr.HTML]:
    """The PPM diagnostics accordion: the live disagreement list, then the history's charts."""
    with gr.Accordion("PPM diagnostics", open=False, elem_id="ppm-diagnostics"):
        gr.Markdown(PPM_DIAGNOSTICS_HELP)
        disagree = gr.Markdown("_No run yet._", elem_id="ppm-disagree")
        button = gr.Button("Check calibration and length bias over the history", elem_id="ppm-history-btn")
        summary = gr.Markdown(elem_id="ppm-history")
        with gr.Row(equal_height=False):
            calibration = plot_view("ppm-calibration")
            length = plot_view("ppm-length")
    return disagree, button, summary, calibration, length


def _widget(c: h.Control, value: Any) -> gr.Component:
    common = {
        "label": c.name.replace("_", " "),
        "info": c.help or None,
        "elem_id": f"cfg-{c.algorithm}-{c.name}",
    }
    kind = c.widget
    if kind == "slider":
        step = 1 if c.type == "int" else 0.05
        return gr.Slider(minimum=c.min, maximum=c.max, step=step, value=value, **common)
    if kind == "number":
        return gr.Number(
            value=value, minimum=c.min, maximum=c.max, precision=0 if c.type == "int" else None, **common
        )
    if kind == "checkbox":
        return gr.Checkbox(value=bool(value), **common)
    if kind == "dropdown":
        return gr.Dropdown(choices=list(c.choices or ()), value=value, **common)
    return gr.Textbox(value="" if value is None else str(value), **common)


@dataclass
class SolveScreen:
    run: gr.State
    tree: gr.HTML
    status: gr.Markdown
    engine: gr.Markdown
    pause: gr.Button
    stream_outputs: list[gr.Component]
    handlers: SolveHandlers
    #: the inspected node's steering buttons (``ui/steering.py: InspectorSteer``)
    steer: Any = None
    #: the form controls the Training tab sets ("use this round")
    algorithm: gr.Dropdown | None = None
    ppm: gr.Dropdown | None = None
    policy: gr.Dropdown | None = None
    #: the inspector's components (``Inspector.outputs``): a fork clears them for its new run
    inspector_outputs: list[gr.Component] | None = None


def build_solve(services: Services, demo: gr.Blocks) -> SolveScreen:
    """Lay out the Solve screen in the current Blocks context and wire its events."""
    names = services.algorithm_names()
    controls = h.algorithm_controls(names)
    hs = SolveHandlers(services, controls)
    default = services.default_algorithm if services.default_algorithm in names else names[0]
    run = gr.State(None)
    run_box = gr.Textbox(
        visible=False
    )  # the id again, for the browser-side URL update (State stays server-side)
    engine = gr.Markdown(services.engine.status(), elem_id="engine-status")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=320):
            problem = gr.Textbox(label="Problem", lines=4, elem_id="problem", **problem_box_hint(default))
            preview = gr.Markdown(h.problem_preview(""), latex_delimiters=LATEX, elem_id="problem-preview")
            with gr.Accordion("Examples", open=False):
                datasets = services.datasets()
                dataset = gr.Dropdown(choices=datasets, value=None, label="Problem set", elem_id="dataset")
                example = gr.Dropdown(choices=[], label="Problem", elem_id="example")
            reference = gr.Textbox(label="Known answer (optional: grades the result)", elem_id="reference")
            algorithm = gr.Dropdown(choices=names, value=default, label="Algorithm", elem_id="algorithm")
            info = h.algorithm_info(default)
            description = gr.Markdown(info["description"])
            reward = gr.Dropdown(
                choices=info["rewards"], value=info["rewards"][0], label="Reward", elem_id="reward"
            )
            ppm = gr.Dropdown(
                choices=h.ppm_choices(services),
                value=h.ppm_default_value(services),
                label="PPM (process preference model)",
                info=h.ppm_choice_info(services),
                visible=takes_ppm(default),
                elem_id="ppm",
            )
            policy = gr.Dropdown(  # a round's policy from the Training tab; hidden until one is picked
                choices=[("the server's engine", "")], value="", label="Policy", elem_id="policy",
                visible=False,
                info="the server's engine, or an evolve round's policy (llama.cpp on the GGUF the round "
                     "exported, else the transformers engine)",
            )
            seed = gr.Number(value=0, precision=0, label="Seed", elem_id="seed")
            groups, widgets, presets = [], [], {}
            with gr.Accordion("Settings", open=False, elem_id="settings"):
                for name in names:
                    ainfo = h.algorithm_info(name)
                    with gr.Group(visible=name == default) as group:
                        presets[name] = gr.Dropdown(
                            choices=ainfo["presets"],
                            value=ainfo["default_preset"],
                            label=f"{name} preset",
                            elem_id=f"preset-{name}",
                        )
                        start = h.preset_values(name, ainfo["default_preset"], controls)
                        mine = [c for c in controls if c.algorithm == name]
                        widgets += [_widget(c, v) for c, v in zip(mine, start, strict=True)]
                    groups.append(group)
        with gr.Column(scale=3):
            with gr.Row():
                run_btn = gr.Button("Run", variant="primary", elem_id="run-btn")
                pause = gr.Button("Pause", elem_id="pause-btn")
                step = gr.Button("Step", elem_id="step-btn")
                stop = gr.Button("Stop", variant="stop", elem_id="stop-btn")
            status = gr.Markdown(h.run_status(services, None), elem_id="run-status")
            tree = tree_view("tree")
            disagree, ppm_btn, ppm_summary, calibration, length = build_ppm_diagnostics()
            with gr.Row(equal_height=False):
                with gr.Column(scale=1):
                    # issue 16: the inspected node's steering buttons, under its title
                    inspector = build_inspector("insp", build_inspector_steering)
                with gr.Column(scale=1):
                    answer = gr.Markdown(elem_id="answer", latex_delimiters=LATEX)
                    convergence = plot_view("convergence")
                    stats = gr.Markdown(elem_id="stats")

    # every event is the page's own: none is advertised as an API endpoint (ui/app.py)
    fast = {"concurrency_limit": None, "show_progress": "hidden", "api_visibility": "private"}
    stream_outputs = [tree, convergence, stats, answer, status, disagree]
    problem.change(hs.preview, [problem, algorithm], preview, trigger_mode="always_last", **fast)
    algorithm.change(hs.preview, [problem, algorithm], preview, trigger_mode="always_last", **fast)
    algorithm.change(hs.problem_hint, algorithm, problem, **fast)
    dataset.change(hs.examples, dataset, example, **fast)
    example.change(hs.pick, [dataset, example, algorithm], [problem, reference, algorithm], **fast)
    # typing one's own problem (input: the user, not a picked example) un-picks the example
    problem.input(hs.unpick, example, [example, reference], **fast)
    algorithm.change(hs.choose_algorithm, [algorithm, reward], [description, reward, ppm, *groups], **fast)
    for name, dd in presets.items():
        mine = [w for c, w in zip(controls, widgets, strict=True) if c.algorithm == name]
        dd.change(hs.preset, [gr.State(name), dd], mine, **fast)
    # the status says in words that the Run is starting; no Gradio progress text on the page's
    # lines (show_progress hidden: its "processing | 1.5s" timer read as the run's status)
    started = run_btn.click(hs.starting, None, status, **fast).then(
        hs.start_from_page,
        [run, problem, algorithm, reward, ppm, policy, reference, seed, *widgets],
        [run, status, pause, engine, *inspector.outputs, tree, convergence, stats, answer],
        concurrency_limit=None,
        show_progress="hidden",
        api_visibility="private",
        api_name="start",  # the event's name stays "start" (private: no REST call reaches it)
    )
    # "multiple": the stream of this tab's previous run may still be pending; it ends by itself
    # (Services.watch), and the new one must not be dropped meanwhile
    stream = {"fn": hs.stream, "inputs": run, "outputs": stream_outputs, "trigger_mode": "multiple", **fast}
    live = started.then(hs.echo, run, run_box, **fast).then(None, run_box, None, js=SET_URL_JS)
    live.then(**stream).then(hs.after_stream, run, pause, **fast)
    pause.click(hs.toggle, run, [status, pause], **fast)
    step.click(hs.step, run, [status, pause], **fast)
    stop.click(hs.stop, run, [status, pause], **fast)
    # every click runs and a late answer to an older click is skipped (ui/click_order.py: "once"
    # dropped clicks, "always_last" replayed the older click's node)
    tree.node_click(  # type: ignore[attr-defined]
        hs.click, run, inspector.outputs, trigger_mode="multiple", **fast
    )
    tree.resync(hs.resync, run, tree, **fast)  # type: ignore[attr-defined]
    ppm_btn.click(hs.ppm_history, None, [ppm_summary, calibration, length], **fast)
    attached = demo.load(hs.attach, None, [run, status, pause, engine], **fast)
    form = [problem, algorithm, reward, ppm, reference, seed, policy, *widgets]
    attached.then(hs.form_values, run, form, **fast)
    attached.then(**stream).then(hs.after_stream, run, pause, **fast)
    return SolveScreen(
        run, tree, status, engine, pause, stream_outputs, hs, inspector.actions, algorithm=algorithm, ppm=ppm,
        policy=policy, inspector_outputs=inspector.outputs,
    )
