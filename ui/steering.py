"""Steer the live search from the page: prune a subtree, expand a node now, add my own step,
fork a new run from a node.

The node is the one last clicked in the tree (the inspector's node). The inspector itself has
buttons for it under its title (``InspectorSteer``: prune, expand now, go through it next,
fork; shown once a node is clicked, the three that change a search only while the run is
live); the "Steer the search" panel has those and "Add my step here". Prune, expand and add
go to the live Run's queue (``Run.act``); its worker applies them between iterations and
records each as an event (``backend/steering.py``), so History's replay and an export show
them and the run's RunSpec plus its user actions reproduce it. Fork starts a new run from
the run's own spec with the path to the node kept (``fork_spec``) on this server's engine,
and the page follows the new run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from backend.tree import Tree
from ui.click_order import ClickOrder
from ui.escape import md_code, md_esc
from ui.services import Services
from ui.vocabulary import vocabulary
from ui.words import count

HELP = (
    "Click a node in the tree, then: **Prune** its subtree (never selected again, drawn faded, "
    "its answers no longer count), **Expand now** (its children are generated at once and the next "
    "rollout goes through it), **Add my step** (your text and code, run and verified like a "
    "generated step), or **Fork** a new run that starts with the path to this node."
)


def with_pruned_subtrees(tree: Tree, touched: set[int]) -> set[int]:
    """A prune changes the drawing of every node below it: ``touched`` plus the subtree of
    each touched node that is pruned and has children (the figure's delta redraws them)."""
    for nid in list(touched):
        node = tree.nodes.get(nid)
        if node is not None and node.pruned and node.children:
            touched.update(tree.subtree(nid))
    return touched


def _node(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class SteerHandlers:
    """The page's steering buttons over ``Run.act`` and ``fork_spec``."""

    def __init__(self, services: Services) -> None:
        self.s = services
        self.clicks = ClickOrder()

    def pick(self, run_id: str | None, evt: gr.EventData, request: gr.Request = None) -> tuple[Any, ...]:
        """(node, the panel's message, then the inspector's row: its group, the prune, expand,
        go-through and fork buttons, its message) for the clicked node."""
        data = getattr(evt, "_data", None) or {}
        node = _node(data.get("node_id"))
        if node is None or (data.get("run_id") and data.get("run_id") != run_id):
            return (gr.skip(),) * 8
        live = self._live(run_id, node)[2] is None
        forkable = self._forkable(run_id)
        if not self.clicks.newest(request, "steer", data):  # a newer click was answered: keep its node
            return (gr.skip(),) * 8
        shown = gr.update(visible=live)
        if live:
            said = f"Steer node **#{node}**: applied between iterations."
        elif forkable:
            said = f"Node **#{node}**: the run is not running, so it can only be forked from here."
        else:
            said = f"Node **#{node}**: the run is not running, and only MCTS runs can be forked."
        panel = f"Steering node **#{node}** of run {md_code(run_id)}."
        return node, panel, gr.update(visible=True), shown, shown, shown, gr.update(visible=forkable), said

    def reset(self, run_id: str | None) -> tuple[Any, ...]:
        """A new run on the page (typed, forked, re-attached): the clicked node belonged to the
        last one, so it is forgotten and the inspector's row hidden until a node of this run
        is clicked (else a button would steer node #N of a run the user never clicked in)."""
        return None, gr.update(visible=False)

    def _forkable(self, run_id: str | None) -> bool:
        """Whether the run's algorithm can start from a kept path (only MCTS searches can)."""
        from backend.runspec import takes_prefix
        from backend.store import StoreError

        if not run_id:
            return False
        try:
            started = self.s.trees.view(run_id, lambda t: t.started)
            # an imported run may name an algorithm this Canopy lacks (or hostile text): not forkable,
            # never an exception whose message (the name) a page would show
            return started is not None and takes_prefix(getattr(started, "algorithm", "") or "")
        except (KeyError, ValueError, StoreError):
            return False

    def _live(self, run_id: str | None, node: Any) -> tuple[Any, int | None, str | None]:
        nid = _node(node)
        if not run_id or nid is None:
            return None, None, "Click a node in the tree first."
        run = self.s.runs.get(run_id)
        if run is None or run.finished:
            return None, nid, (
                f"Run {md_code(run_id)} is not running in this server: a finished run cannot be "
                "steered; fork it instead."
            )
        return run, nid, None

    def act(self, action: str, run_id: str | None, node: Any) -> str:
        run, nid, problem = self._live(run_id, node)
        if problem:
            return problem
        if action == "expand":  # expand now, and the next rollout goes through it
            run.act("expand", nid)
            run.act("force", nid)
        else:
            run.act(action, nid)
        said = {
            "prune": "prune the subtree of",
            "expand": "expand now and walk through",
            "force": "walk the next rollout through",
        }[action]
        return f"Asked the search to {said} node **#{nid}** (applied between iterations)."

    def prune(self, run_id: str | None, node: Any) -> str:
        return self.act("prune", run_id, node)

    def expand(self, run_id: str | None, node: Any) -> str:
        return self.act("expand", run_id, node)

    def force(self, run_id: str | None, node: Any) -> str:
        return self.act("force", run_id, node)

    def add_step(self, run_id: str | None, node: Any, text: str, code: str) -> str:
        run, nid, problem = self._live(run_id, node)
        if problem:
            return problem
        if not (text or "").strip() and not (code or "").strip():
            return "Type the step's text, its code, or both."
        run.act("add_step", nid, text=text or "", code=(code or None))
        return f"Asked the search to add your step under node **#{nid}** (run and verified like any step)."

    def fork(self, run_id: str | None, node: Any, seed: float | None) -> tuple[Any, ...]:
        """Start the fork; returns (the new run id for the page, the same for the URL, a message,
        then the inspector's values): the page follows the fork, so the inspector no longer shows
        the parent's node (it did, with no ring in the new tree) but says what was forked."""
        from backend.steering import fork_spec
        from ui.inspector import NodeView
        from ui.solve import Inspector

        keep = [gr.skip()] * len(Inspector.values(NodeView()))
        nid = _node(node)
        if not run_id or nid is None:
            return gr.skip(), gr.skip(), "Click a node in the tree first.", *keep
        from ui.handlers import known_answer

        try:
            spec, known = self.s.trees.view(
                run_id, lambda t: (fork_spec(t, nid), known_answer(self.s, run_id, t))
            )
            # the parent's known answer grades the fork as it graded the parent (a stored spec
            # holds it only for a truth run: a fork of a graded run came out "ungraded")
            new_id = start_spec(self.s, spec.fork(seed=int(seed or 0), reference=spec.reference or known))
        except ValueError as exc:
            return gr.skip(), gr.skip(), f"⚠ {md_esc(exc)}", *keep
        said = (
            f"Forked run {md_code(new_id)} from node **#{nid}** of {md_code(run_id)}: it starts "
            f"with the {count(len(spec.prefix), 'step')} of that path."
        )
        shown = NodeView(title=f"{said} Click a node of its tree to inspect it.",
                         runs_code=vocabulary(spec.algorithm).runs_code)
        return new_id, new_id, said, *Inspector.values(shown)


def start_spec(services: Services, spec: Any) -> str:
    """Start ``spec`` on this server's engine; the PPM is the server's own choice unless the
    spec names one this server offers (a stored or imported spec's PPM path is never read)."""
    from backend.runspec import build_search, model_checksum, ppm_request, search_parts, uses_ppm
    from backend.verify.answers import answers_equal
    from ui.handlers import UserFacingError, ppm_choices, read_only_refusal

    refusal = read_only_refusal(services, "started")
    if refusal:
        raise ValueError(refusal)
    offered = [value for _, value in ppm_choices(services)]
    slot = services.engine
    spec = spec.fork(
        ppm=spec.ppm if spec.ppm in offered else services.ppm,
        engine=slot.name,
        model=slot.model,
        model_sha256=model_checksum(slot.name, slot.model),
    )
    search_parts(spec)
    try:
        engine = slot.get()
    except RuntimeError as exc:
        raise ValueError(str(exc)) from exc
    options = {}
    if services.step_scorer_override is not None and uses_ppm(spec.algorithm) and ppm_request(spec):
        options["step_scorer"] = services.step_scorer_override  # tests only
    try:
        run = services.runs.start(
            lambda run_id: build_search(spec, engine, run_id, **options),
            reference=spec.reference,
            grade=answers_equal,
        )
    except (RuntimeError, UserFacingError) as exc:
        raise ValueError(str(exc)) from exc
    return run.run_id


@dataclass
class SteerPanel:
    node: gr.State
    message: gr.Markdown


@dataclass
class InspectorSteer:
    """The inspected node's steering buttons, laid out in the Solve screen's inspector."""

    group: gr.Group
    prune: gr.Button
    expand: gr.Button
    force: gr.Button
    fork: gr.Button
    message: gr.Markdown


def build_inspector_steering() -> InspectorSteer:
    """Lay out the inspector's steering row (hidden until a node is clicked); ``build_steering``
    wires it."""
    # the id on a Column: Gradio draws a Group's elem_id on two nested divs (#insp-steer twice)
    with gr.Column(visible=False, elem_id="insp-steer") as group, gr.Group():
        with gr.Row():
            prune = gr.Button("Prune (avoid)", size="sm", elem_id="insp-prune")
            expand = gr.Button("Expand now", size="sm", elem_id="insp-expand")
            force = gr.Button("Go through it next", size="sm", elem_id="insp-force")
            fork = gr.Button("Fork from here", size="sm", elem_id="insp-fork")
        message = gr.Markdown(elem_id="insp-steer-message")
    return InspectorSteer(group, prune, expand, force, fork, message)


def build_steering(services: Services, solve: Any) -> SteerPanel:
    """The steering panel under the Solve screen, wired to its tree, run and stream."""
    from ui.solve import SET_URL_JS

    hs = SteerHandlers(services)
    node = gr.State(None)
    fast = {"concurrency_limit": None, "show_progress": "hidden", "api_visibility": "private"}
    with gr.Accordion("Steer the search", open=False, elem_id="steer-panel"):
        gr.Markdown(HELP)
        message = gr.Markdown("Click a node in the tree first.", elem_id="steer-message")
        with gr.Row():
            prune = gr.Button("Prune subtree", elem_id="steer-prune")
            expand = gr.Button("Expand now", elem_id="steer-expand")
        with gr.Row(equal_height=False):
            text = gr.Textbox(label="My step: text", lines=2, elem_id="steer-text")
            code = gr.Code(language="python", label="My step: code", interactive=True, elem_id="steer-code")
        add = gr.Button("Add my step here", elem_id="steer-add")
        with gr.Row():
            seed = gr.Number(value=1, precision=0, label="Fork's seed", elem_id="steer-seed")
            fork = gr.Button("Fork a new run from this node", elem_id="steer-fork")
        new_run = gr.Textbox(visible=False)
    row: InspectorSteer = solve.steer
    shown = [row.group, row.prune, row.expand, row.force, row.fork, row.message]
    solve.tree.node_click(hs.pick, solve.run, [node, message, *shown], trigger_mode="multiple", **fast)
    solve.run.change(hs.reset, solve.run, [node, row.group], **fast)
    prune.click(hs.prune, [solve.run, node], message, **fast)
    expand.click(hs.expand, [solve.run, node], message, **fast)
    add.click(hs.add_step, [solve.run, node, text, code], message, **fast)
    row.prune.click(hs.prune, [solve.run, node], row.message, **fast)
    row.expand.click(hs.expand, [solve.run, node], row.message, **fast)
    row.force.click(hs.force, [solve.run, node], row.message, **fast)
    for button, said in ((fork, message), (row.fork, row.message)):
        outputs = [solve.run, new_run, said, *(solve.inspector_outputs or [])]
        forked = button.click(hs.fork, [solve.run, node, seed], outputs, **fast)
        forked.then(None, new_run, None, js=SET_URL_JS).then(
            solve.handlers.stream, solve.run, solve.stream_outputs, trigger_mode="multiple", **fast
        )
    return SteerPanel(node, message)
