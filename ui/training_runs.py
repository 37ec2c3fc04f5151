"""The Training tab's logic, without Gradio: which folder may be listed, the runs in it, one
run's summary, progress and charts, and a round's policy and PPM for the Solve screen.

What a page sends (a folder typed, a run or round picked, a policy or PPM path on Run) is
checked here every time: a folder outside ``--runs-dir`` only on a server that listens on
this machine alone (``TrainingSettings.anywhere``), a run only if it is one of the runs
listed in that folder, a policy or PPM only if it is a round's ``policy/`` or ``ppm/`` that
the round's stage files say it trained (``backend/evolve/runs_index.round_model``).
Everything shown is escaped (``ui.escape``).
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backend.evolve import runs_index as ri
from ui.escape import md_code, md_esc

#: the charts' Plotly figure before any round has finished (plot.js shows ``empty`` as a note)
NO_ROUNDS = {"empty": "No round has finished yet: the charts appear when round 0 or round 1 ends."}
KEEP_POLICIES = 2  # round policies kept loaded (a teacher compares two rounds)


@dataclass
class TrainingSettings:
    """Where the Training tab looks for runs, and the engines of the round policies picked."""

    root: Path = Path("runs")
    #: may a page list a folder outside ``root``? Only where the server listens on loopback
    anywhere: bool = False
    #: TEST SEAM: makes the engine of a policy folder (default: llama.cpp on the round's GGUF
    #: when it exported one, else the transformers engine)
    policy_loader: Callable[[str], Any] | None = None
    #: the llama.cpp load options of a round's GGUF (the server's own, when it runs llama.cpp)
    llamacpp_options: dict[str, Any] = field(default_factory=dict)
    _slots: OrderedDict = field(default_factory=OrderedDict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def slot(self, policy: str) -> Any:
        """The engine slot of a checked policy folder (loaded on first use, two kept)."""
        from ui.services import EngineSlot

        with self._lock:
            if policy not in self._slots:
                if self.policy_loader is not None:
                    self._slots[policy] = EngineSlot("transformers", policy,
                                                     loader=lambda: self.policy_loader(policy))
                elif (gguf := ri.round_gguf(Path(policy))) is not None:  # 3x faster on this CPU
                    self._slots[policy] = EngineSlot("llamacpp", str(gguf), options=self.llamacpp_options)
                else:
                    self._slots[policy] = EngineSlot("transformers", policy)
            self._slots.move_to_end(policy)
            while len(self._slots) > KEEP_POLICIES:
                self._slots.popitem(last=False)  # a search still using it keeps its engine alive
            return self._slots[policy]


def settings_of(services: Any) -> TrainingSettings:
    """The services' Training settings (made with the defaults when the app set none)."""
    if getattr(services, "training", None) is None:
        services.training = TrainingSettings()
    return services.training


class Refused(ValueError):
    """A folder, run or model the page may not use here; the message says why (plain text)."""


def open_folder(settings: TrainingSettings, typed: str | None) -> Path:
    """The folder to list: ``typed`` (relative to the runs folder), or the runs folder."""
    text = (typed or "").strip()
    if not text or Path(text) == settings.root:  # the box shows the root itself ("runs"): not runs/runs
        path = settings.root
    else:
        if "\x00" in text or len(text) > 1024:
            raise Refused("That is not a folder path.")
        path = Path(text).expanduser() if settings.anywhere else Path(text)
        if not path.is_absolute():
            path = settings.root / path
    # outside the runs folder is refused before the disk is looked at: which folders exist
    # elsewhere on the server is not for a page on the network to learn
    if not settings.anywhere and path != settings.root and not ri.inside(path, settings.root):
        raise Refused("This server lists evolve runs under its --runs-dir only (it is reachable from "
                      "other machines); type a folder inside it.")
    if not path.is_dir():
        raise Refused(f"No folder {text or str(settings.root)} on the server"
                      + ("" if path != settings.root else " yet: `canopy evolve runs/NAME` makes one") + ".")
    return path.resolve()


def run_choices(folder: Path) -> list[tuple[str, str]]:
    """(label, path) of the runs in ``folder``, each with where it stands."""
    out = []
    for run in ri.list_runs(folder):
        try:
            where = ri.progress_line(ri.read_run(run))
        except (ri.UnreadableRun, OSError) as exc:  # one bad run does not hide the others
            where = f"unreadable: {exc}"
        out.append((f"{run.name} · {where}", str(run)))
    return out


def checked_run(folder: Path | None, run: str | None) -> Path:
    """``run`` when it is one of the runs listed in ``folder`` (the page may send anything)."""
    if folder is None or not run:
        raise Refused("Pick a run first.")
    found = {str(p): p for p in ri.list_runs(folder)}
    if run not in found:
        raise Refused("That run is not in the listed folder; list the folder again.")
    return found[run]


@dataclass(frozen=True)
class RunView:
    about: str  # Markdown, escaped
    progress: str  # Markdown, escaped
    figure: dict[str, Any]
    rounds: list[tuple[str, int]]  # (label, N) of the rounds with a trained policy
    fingerprint: tuple
    finished: bool


def _clip(value: Any, most: int = 300) -> str:
    """A manifest value as the page shows it: a file may hold megabytes in one field."""
    text = str(value)
    return text if len(text) <= most else text[: most - 1] + "…"


def _ago(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def run_view(run: Path, now: float | None = None) -> RunView:
    """What the tab shows of ``run``; an unreadable run says why (and draws nothing)."""
    from backend.evolve.charts import round_figure

    try:
        state = ri.read_run(run, cpu_from_files=True)
    except ri.UnreadableRun as exc:
        return RunView(f"⚠ {md_code(run.name)} cannot be read: {md_esc(exc)}", "", NO_ROUNDS, [], (), True)
    info = {key: _clip(value) for key, value in ri.summary(state).items() if key != "search"}
    about = " · ".join([
        f"**{md_esc(run.name)}**",
        f"created {md_esc(info['created'])} with Canopy {md_esc(info['canopy'])}",
        f"{md_esc(info['rounds'])} round(s)",
        f"train {md_esc(info['train'])}",
        f"held out {md_esc(info['held_out'])}",
        f"base {md_code(info['base_model'])}",
        f"search {md_code(_clip(json.dumps(state.manifest['settings'].get('search'), sort_keys=True)))}",
        f"seed {md_esc(info['seed'])}",
        f"PPM: {md_esc(info['ppm'])}",
    ])
    age = (time.time() if now is None else now) - state.last_change
    line = ri.progress_line(state)
    if state.finished:
        progress = f"**{md_esc(line.capitalize())}.**"  # "Finished: 2 round(s)."
    else:
        pace = ri.pace_line(state)
        progress = (f"**In progress or stopped:** {md_esc(line)}" + (f" · {md_esc(pace)}" if pace else "")
                    + f" · last file written {_ago(age)} ago "
                    "(the files cannot tell a running process from a stopped one)")
        held_out = ri.held_out_so_far(state)
        if held_out:
            progress += "  \n" + md_esc(_clip(held_out, 600))
    notes = [f"round {r.number}: {note}" for r in state.rounds for note in r.notes]
    if notes:
        progress += "  \n" + "  \n".join(md_esc(_clip(n)) for n in notes[:20])
    chart = state.chart_rows
    figure = json.loads(round_figure(chart).to_json()) if chart else NO_ROUNDS
    scorer = " + PPM" if state.algo == "rstar" else " + value head"
    rounds = [(f"round {r.number}: policy" + (scorer if r.ppm else ""), r.number)
              for r in state.rounds if r.policy is not None]
    return RunView(about, progress, figure, rounds, state.fingerprint, state.finished)


@dataclass(frozen=True)
class Pick:
    """What "use this round" puts on the Solve screen."""

    algorithm: str  # the run's: "rstar" or "cpl"
    policy: str
    ppm: str  # the round's PPM folder (a CPL run: its value head), or "none"
    policies: list[tuple[str, str]]  # every trained round policy of the run (label, path)
    ppms: list[tuple[str, str]]  # every trained round PPM / value head of the run (label, path)
    note: str  # Markdown, escaped


def pick_round(run: Path, number: int | None) -> Pick:
    state = ri.read_run(run)
    if number is None:
        if not any(r.policy is not None for r in state.rounds):
            raise Refused(f"No round of {run.name} has trained a policy yet: a round's policy can be "
                          "used once its fine-tuning stage ends.")
        raise Refused("Pick a round first.")
    chosen = state.round(int(number))
    if chosen is None or chosen.policy is None:
        raise Refused(f"Round {number} of {run.name} trained no policy.")
    policies = [(f"{run.name} · round {r.number} policy", str(r.policy.resolve()))
                for r in state.rounds if r.policy is not None]
    exported = ri.round_gguf(chosen.policy) is not None
    runs_on = "llama.cpp (the GGUF the round exported)" if exported else "the transformers engine"
    where = f"Solve now uses {md_code(run.name)} round {chosen.number}'s policy on {runs_on}"
    # the PPM control carries the round's step scorer: rStar-Math's PPM, or CPL's value head
    scorer = "PPM" if state.algo == "rstar" else "value head"
    ppms = [(f"{run.name} · round {r.number} {scorer}", str(r.ppm.resolve())) for r in state.rounds if r.ppm]
    ppm = str(chosen.ppm.resolve()) if chosen.ppm else "none"
    with_algo = "" if state.algo == "rstar" else " with CPL"
    made = f"its {scorer}." if chosen.ppm else f"no {scorer} (this round trained none)."
    note = f"{where}{with_algo} and {made}"
    return Pick(state.algo, str(chosen.policy.resolve()), ppm, policies, ppms, note)


def allowed_model(settings: TrainingSettings, path: str, kind: str) -> Path:
    """``path`` when it is a round's trained ``kind`` folder the page may use; Refused otherwise."""
    folder = Path(path)
    if not settings.anywhere and not ri.inside(folder, settings.root):  # before any file is read
        raise Refused(f"This server uses round {kind}s under its --runs-dir only.")
    try:
        ri.round_model(folder, kind)
    except (ri.UnreadableRun, OSError) as exc:
        raise Refused(f"That {kind} is not a trained round {kind} of an evolve run ({exc}).") from None
    return folder.resolve()


def policy_slot(services: Any, policy: str) -> Any:
    """The engine slot a Run with ``policy`` (a round's policy folder) uses; Refused if not allowed."""
    settings = settings_of(services)
    return settings.slot(str(allowed_model(settings, policy, "policy")))


def round_ppm_allowed(services: Any, ppm: str) -> bool:
    try:
        allowed_model(settings_of(services), ppm, "ppm")
    except Refused:
        return False
    return True
