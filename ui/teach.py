"""Teacher mode on the Solve screen: the run told one search phase at a time.

The lesson is ``backend/teach.py``'s (phases with sentences in the run's own numbers). This
panel draws the tree as it was at each phase (History's replay cache: the nodes a phase
added ringed, the path it walked or the reward's way up drawn as the selected path), and
before a selection asks "which child will MCTS pick?" when asking is on: the student picks
one, the reveal shows every sibling's arithmetic, and the score counts right answers.

Driving the search: when the lesson reaches the end of what the run has done, Next pauses
a live run and steps it by one iteration (``Run.step``), so the search advances only as
fast as the class does. A finished run (or one from History's ``?run=``) is told as it is.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from backend.teach import MCTS_PHASES, Phase, check, lesson
from ui.escape import md_esc
from ui.services import Services
from ui.views import encode, tree_view

#: how long Next waits for the stepped iteration before saying the search is still working
STEP_WAIT_S = 30.0
#: MCTS phases by where they are in the rollout, not numbered: a rollout repeats select, expand,
#: verify on its way down and a new tree's first one starts by expanding the root, so "phase 2 of
#: 4" came first and "phase 1 of 4" third (a walk found the order confusing)
PHASE_NAMES = {
    "select": "select ↓ (going down: pick a child)",
    "expand": "expand ↓ (going down: the model writes new steps)",
    "evaluate": "verify / evaluate ↓ (going down: check the new steps)",
    "backpropagate": "backpropagate ↑ (back up: the rollout ends)",
    "rank": "rank",
    "pop": "pop",
    "tactics": "tactics",
    "filter": "filter",
}


@dataclass
class Progress:
    """Where one page is in the lesson of one run, and its score."""

    run: str | None = None
    index: int = -1
    asking: int | None = None  # the phase whose question is on screen
    right: int = 0
    asked: int = 0
    done: set[int] = field(default_factory=set)


def _phases(services: Services, run_id: str) -> list[Phase]:
    return lesson(services.runs.events(run_id))


def _step_run(services: Services, run_id: str, have: int) -> list[Phase]:
    """Step a live run by one iteration and wait for its phases (or the end)."""
    run = services.runs.get(run_id)
    if run is None or run.finished:
        return _phases(services, run_id)
    run.step()  # pauses a running search first: teacher mode drives it
    end = time.monotonic() + STEP_WAIT_S
    while time.monotonic() < end:
        phases = _phases(services, run_id)
        if (len(phases) > have and run.state == "paused") or run.finished:
            return phases
        time.sleep(0.05)
    return _phases(services, run_id)


def _figure(services: Services, run_id: str, phase: Phase, before: bool = False) -> str:
    """The tree as of ``phase`` (``before``: just before it, with the path walked so far)."""
    from ui.figure import tree_figure
    from ui.handlers import replay_view, run_grader

    grade = run_grader(services, run_id)
    upto = phase.first_seq - 1 if before else phase.last_seq
    path = phase.path[:-1] if before else phase.path

    def draw(tree: Any) -> dict[str, Any]:
        return tree_figure(
            tree, fresh_after=None if before else phase.first_seq - 1, grade=grade, path=path or None
        )

    return encode(replay_view(services, run_id, upto, draw))


#: said where a rollout starts (the first phase, each one after a backpropagation) and before the lesson
ROLLOUT = (
    "One iteration is one rollout: from the root it goes **down** the tree, repeating select → expand "
    "→ verify until it reaches an answer or a dead end, then **backpropagates** the result back up "
    "the path. A root with no children yet has nothing to select, so the first rollout starts by "
    "expanding it."
)
START = "Press **Next phase** to start the lesson of this run."


def _head(phase: Phase, index: int, total: int) -> str:
    name = PHASE_NAMES.get(phase.kind, phase.kind)
    rounds = "Iteration" if phase.kind in MCTS_PHASES else "Pop"  # LIPS counts pops, not iterations
    return f"**{rounds} {phase.iteration + 1} · {name}** (step {index + 1} of {total})"


def _starts_rollout(phases: list[Phase], index: int) -> bool:
    """True at the lesson's first phase and after each backpropagation, where a rollout starts
    from the root again (MCTS only: LIPS pops have their own words)."""
    kind = phases[index].kind
    first = index == 0 or (phases[index - 1].kind == "backpropagate" and kind != "backpropagate")
    return first and kind in MCTS_PHASES  # CPL backs up each failed step at once: several in a row


def _text(phase: Phase, index: int, total: int, extra: list[str] | None = None, *, new: bool = False) -> str:
    head = _head(phase, index, total) + (f"\n\n_{ROLLOUT}_" if new else "")
    lines = [md_esc(s) for s in phase.sentences]
    if extra:
        lines += extra
    return head + "\n\n" + "\n\n".join(lines)


def _score(p: Progress) -> str:
    return f"Predictions: **{p.right} of {p.asked}** right." if p.asked else "No prediction yet."


class TeachHandlers:
    def __init__(self, services: Services) -> None:
        self.s = services

    def next(self, run_id: str | None, progress: Progress | None, ask: bool) -> tuple[Any, ...]:
        """The next phase, or its question first (a selection, with asking on)."""
        p = progress if progress is not None and progress.run == run_id else Progress(run=run_id)
        if not run_id:
            return (
                gr.skip(),
                "Start a run first (or open one from History).",
                gr.update(visible=False),
                p,
                _score(p),
            )
        phases = _phases(self.s, run_id)
        if p.index + 1 >= len(phases):
            phases = _step_run(self.s, run_id, len(phases))
        if p.index + 1 >= len(phases):
            run = self.s.runs.get(run_id)
            said = (
                "The search is still working on this iteration: press Next again."
                if run and not run.finished
                else ("That was the last phase: the search is finished.")
            )
            return gr.skip(), said, gr.update(visible=False), p, _score(p)
        index = p.index + 1
        phase = phases[index]
        if ask and phase.question is not None and index not in p.done:
            p.asking = index
            q = phase.question
            choices = [(f"#{o}", str(o)) for o in q.options]
            said = (
                f"{_head(phase, index, len(phases))}\n\n"
                + (f"_{ROLLOUT}_\n\n" if _starts_rollout(phases, index) else "")
                + f"Which child of #{q.parent} will MCTS pick? Choose one below, then press **Check**."
            )
            radio = gr.update(choices=choices, value=None, visible=True)
            return _figure(self.s, run_id, phase, before=True), said, radio, p, _score(p)
        p.index, p.asking = index, None
        return (
            _figure(self.s, run_id, phase),
            _text(phase, index, len(phases), new=_starts_rollout(phases, index)),
            gr.update(visible=False),
            p,
            _score(p),
        )

    def waiting(self, run_id: str | None, progress: Progress | None) -> Any:
        """The lesson's line while Next steps a live run (up to ``STEP_WAIT_S``): the model is
        working, said at once; no change when the next phase is already there."""
        p = progress if progress is not None and progress.run == run_id else Progress(run=run_id)
        run = self.s.runs.get(run_id) if run_id else None
        if run is None or run.finished or p.index + 1 < len(_phases(self.s, run_id)):
            return gr.skip()
        return "_Asking the search for its next iteration: the model is working…_"

    def check(self, run_id: str | None, progress: Progress | None, picked: str | None) -> tuple[Any, ...]:
        """Score the prediction and reveal the selection with every sibling's arithmetic."""
        p = progress if progress is not None and progress.run == run_id else Progress(run=run_id)
        if not run_id or p.asking is None:
            return gr.skip(), gr.skip(), gr.skip(), p, _score(p)
        if picked is None or not str(picked).lstrip("-").isdigit():
            return gr.skip(), "Choose a child first.", gr.skip(), p, _score(p)
        phases = _phases(self.s, run_id)
        index, phase = p.asking, phases[p.asking]
        right, verdict = check(phase.question, int(picked))  # type: ignore[arg-type]
        p.asked += 1
        p.right += int(right)
        p.done.add(index)
        p.index, p.asking = index, None
        mark = "✓" if right else "✗"
        reveal = [f"{mark} {md_esc(verdict)}", *(f"- {md_esc(line)}" for line in phase.question.reveal)]  # type: ignore[union-attr]
        text = _text(phase, index, len(phases), reveal, new=_starts_rollout(phases, index))
        return _figure(self.s, run_id, phase), text, gr.update(visible=False), p, _score(p)

    def toggled(self, on: bool, run_id: str | None) -> tuple[Any, str]:
        """(the panel, the Pause button's label): on, a live run pauses, since from now on the
        lesson steps it; off, it runs on by itself again (a walk found it left paused, with
        nothing on the page saying so but the button)."""
        from backend.run import PAUSED_STATES
        from ui.handlers import pause_label

        run = self.s.runs.get(run_id) if run_id else None
        if run is not None and not run.finished:
            if on:
                run.pause()
            elif run.state in PAUSED_STATES:
                run.resume()
        return gr.update(visible=bool(on)), pause_label(self.s, run_id)

    def reset(self, run_id: str | None) -> tuple[Any, ...]:
        return (
            "",
            f"{START}\n\n_{ROLLOUT}_",
            gr.update(visible=False),
            Progress(run_id),
            ("No prediction yet."),
        )


def build_teacher(services: Services, solve: Any) -> None:
    """The toggle and the teacher panel under the Solve screen, on the screen's run."""
    hs = TeachHandlers(services)
    fast = {"concurrency_limit": None, "show_progress": "hidden", "api_visibility": "private"}
    toggle = gr.Checkbox(
        label="Teacher mode: one search phase at a time", value=False, elem_id="teach-toggle"
    )
    # the id on a Column: Gradio draws a Group's elem_id on two nested divs (#teach-panel twice)
    with gr.Column(visible=False, elem_id="teach-panel") as panel, gr.Group():
        with gr.Row():
            ask = gr.Checkbox(label="Ask which child MCTS will pick", value=True, elem_id="teach-ask")
            nxt = gr.Button("Next phase", variant="primary", elem_id="teach-next")
        lesson_md = gr.Markdown(f"{START}\n\n_{ROLLOUT}_", elem_id="teach-lesson")
        predict = gr.Radio(label="Your prediction", choices=[], visible=False, elem_id="teach-predict")
        check_btn = gr.Button("Check", elem_id="teach-check")
        score = gr.Markdown("No prediction yet.", elem_id="teach-score")
        tree = tree_view("teach-tree")
    progress = gr.State(None)
    outputs = [tree, lesson_md, predict, progress, score]
    toggle.change(hs.toggled, [toggle, solve.run], [panel, solve.pause], **fast)
    nxt.click(hs.waiting, [solve.run, progress], lesson_md, **fast).then(
        hs.next, [solve.run, progress, ask], outputs, **fast
    )
    check_btn.click(hs.check, [solve.run, progress, predict], outputs, **fast)
    solve.run.change(hs.reset, solve.run, outputs, **fast)
