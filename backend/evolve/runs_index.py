"""What an evolve run directory holds right now, read from its files alone (so the web app's
Training tab can show a run while another process is writing it): the manifest's summary,
each round's finished stages, the stage in progress and how far it got, the report rows the
charts are drawn from, and the round policies and PPMs that exist.

The stage outputs are the ones ``stages.py`` writes atomically (a file that exists is
whole): ``search.json`` after ``trees/`` (one file per problem), ``data.json``,
``policy.json``, ``ppm.json``, ``eval.json`` after ``eval/<kind>/`` (one file per problem),
and the round's ``report.json``. Nothing here writes, and nothing is followed out of the
directory it was given: symbolic links are skipped, a broken or oversized JSON file makes
the run "unreadable" with the reason instead of an exception.
"""

from __future__ import annotations

import json
import math
import os
import re
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from itertools import islice, pairwise
from pathlib import Path
from typing import Any

from backend.evolve.machine import mismatch_note
from backend.evolve.manifest import MANIFEST
from backend.evolve.report import baseline_report
from backend.evolve.run_checks import MAX_ROUNDS, UnreadableRun, check_base_eval, check_manifest, check_row

__all__ = ["MAX_ROUNDS", "UnreadableRun"]

#: a round's stages in the order they run, with the file that says each one is done
STAGES = (
    ("search", "search.json"),
    ("data", "data.json"),
    ("policy", "policy.json"),
    ("ppm", "ppm.json"),
    ("eval", "eval.json"),
    ("report", "report.json"),
)
#: CPL's rounds (``cpl_rounds.py``): SFT ("policy"), then Step-APO, then the value head
CPL_STAGES = (
    ("search", "search.json"),
    ("data", "data.json"),
    ("policy", "policy.json"),
    ("apo", "apo.json"),
    ("value", "value.json"),
    ("eval", "eval.json"),
    ("report", "report.json"),
)
#: per algorithm: its stages, the (stage, folder) that make a round's policy (the last one
#: trained wins: CPL's Step-APO policy over its SFT one), and the (stage, folder) of the
#: round's step scorer (rStar-Math's PPM, CPL's value head)
LAYOUTS: dict[str, tuple[tuple, tuple, tuple[str, str]]] = {
    "rstar": (STAGES, (("policy", "policy"),), ("ppm", "ppm")),
    "cpl": (CPL_STAGES, (("policy", "policy"), ("apo", "policy-apo")), ("value", "value")),
}
EVAL_KINDS = ("greedy", "search")
#: the fine-tuning stages' Trainer checkpoints (``backend/train/checkpoints.py``), in the round's
#: folder while the stage runs: the tab reads the newest one's step and loss
CHECKPOINTS = {"policy": "policy.checkpoints", "apo": "policy-apo.checkpoints"}
#: a fine-tuned round's LoRA adapter in 16 bits (backend/train/sft.py: save_adapter)
ADAPTER = "policy.adapter"
#: the newest per-problem files the recent pace is read from: the median gap between them, so
#: that one pause among them (a laptop lid closed, a run resumed the next day) does not count
PACE_FILES = 10
#: gaps shorter than this are files written together, not solved one by one (a run folder
#: copied with ``cp -r`` stamps every file within milliseconds)
PACE_MIN_GAP_S = 0.05
#: JSON files bigger than this are not read (a manifest of 7,473 problems is ~1 MB)
MAX_JSON_BYTES = 16 << 20
#: entries looked at in one folder on each poll (a round of 7,473 problems writes that many trees;
#: a folder of a million files took seconds per poll, per open page)
MAX_ENTRIES = 100_000
_ROUND_DIR = re.compile(r"round-(\d)$")


@dataclass(frozen=True)
class RoundState:
    """One round as its files show it."""

    number: int
    done: tuple[str, ...]  # the stages whose output exists
    searched: int = 0  # per-problem tree files written so far
    to_search: int = 0  # the run's training problems
    evaluated: int = 0  # per-problem evaluation files (greedy, search and sc together)
    to_evaluate: int = 0
    eval_kinds: tuple[str, ...] = EVAL_KINDS  # the held-out evaluations the run makes (eval_kinds)
    policy: Path | None = None  # round-N/policy (CPL: policy-apo, else policy) when trained
    ppm: Path | None = None  # round-N/ppm (CPL: its value head, round-N/value) when trained
    notes: tuple[str, ...] = ()  # why no policy / no PPM, as the stage files say
    #: the stage in progress, per problem: (what, files left, seconds a file over the newest
    #: PACE_FILES) when its files show a pace, else None
    pace: tuple[str, int, float] | None = None
    #: a fine-tuning stage in progress: (steps saved, steps in all, the last and the first logged
    #: loss) from its newest whole checkpoint, else None
    training: tuple[int, int, float | None, float | None] | None = None
    stages: tuple[str, ...] = tuple(name for name, _ in STAGES)  # this algorithm's, in order
    #: a round still running: the chart's numbers of the stages it has finished (its report row
    #: comes only at its end, hours after its search), marked ``so_far``; else None
    so_far: Mapping[str, Any] | None = None
    #: round 4's retries of its unsolved problems (backend/evolve/retry.py): (rollouts, tree
    #: files written) per pass begun, in order
    retried: tuple[tuple[int, int], ...] = ()

    @property
    def finished(self) -> bool:
        return "report" in self.done

    @property
    def current(self) -> str | None:
        """The first stage without output (None when the round is finished)."""
        names = self.stages if self.number else ("eval", "report")
        return next((name for name in names if name not in self.done), None)


@dataclass(frozen=True)
class RunState:
    """One evolve run directory: what it was made with, where it stands, its report rows."""

    path: Path
    manifest: Mapping[str, Any]
    rounds: tuple[RoundState, ...]
    rows: tuple[Mapping[str, Any], ...]  # report rows of the finished rounds (round 0 first)
    last_change: float  # newest mtime of the files read (seconds since the epoch)
    fingerprint: tuple = field(repr=False, default=())

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def chart_rows(self) -> list[Mapping[str, Any]]:
        """The finished rounds' rows, then what a running round has produced so far."""
        return [*self.rows, *(r.so_far for r in self.rounds if r.so_far is not None)]

    @property
    def algo(self) -> str:
        """"rstar" or "cpl" (``canopy evolve --algo``)."""
        return str(self.manifest.get("settings", {}).get("algo", "rstar"))

    @property
    def planned_rounds(self) -> int:
        return int(self.manifest.get("settings", {}).get("rounds", 0))

    @property
    def finished(self) -> bool:
        trained = [r for r in self.rounds if r.number > 0]
        return len(trained) >= self.planned_rounds and all(r.finished for r in self.rounds)

    @property
    def working_on(self) -> RoundState | None:
        """The first unfinished round (None when every round is finished)."""
        return next((r for r in self.rounds if not r.finished), None)

    def round(self, number: int) -> RoundState | None:
        return next((r for r in self.rounds if r.number == number), None)


def inside(path: Path, root: Path) -> bool:
    """Whether ``path`` resolves to ``root`` or below it (no link leads out)."""
    try:
        path.resolve().relative_to(root.resolve())
    except (OSError, ValueError):
        return False
    return True


def _plain_dir(path: Path, root: Path) -> bool:
    return not path.is_symlink() and path.is_dir() and inside(path, root)


def _plain_file(path: Path, root: Path) -> bool:
    return not path.is_symlink() and path.is_file() and inside(path, root)


def _read_json(path: Path, root: Path) -> Any:
    """The JSON in ``path``; None when it is absent. UnreadableRun when it is a link, too big
    or not JSON."""
    if path.is_symlink():
        raise UnreadableRun(f"{path.name} is a symbolic link (not followed)")
    if not path.is_file():
        return None
    if not inside(path, root):
        raise UnreadableRun(f"{path.name} lies outside the run directory")
    if path.stat().st_size > MAX_JSON_BYTES:
        raise UnreadableRun(f"{path.name} is over {MAX_JSON_BYTES >> 20} MB")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:  # ValueError: bad JSON, UTF-8 or a 5,000-digit int
        raise UnreadableRun(f"{path.parent.name}/{path.name} is not valid JSON ({str(exc)[:200]})") from None


def is_run(path: Path) -> bool:
    """A directory with an evolve ``manifest.json`` (the format is checked when read)."""
    return not path.is_symlink() and (path / MANIFEST).is_file() and not (path / MANIFEST).is_symlink()


def list_runs(root: str | Path) -> list[Path]:
    """The evolve runs in ``root``: ``root`` itself when it is one, else its subdirectories
    that are (one level, no links), newest manifest first."""
    base = Path(root)
    if not base.is_dir():
        raise FileNotFoundError(f"{base} is not a directory")
    if is_run(base):
        return [base]
    found = []
    with os.scandir(base) as entries:
        for entry in islice(entries, MAX_ENTRIES):
            child = base / entry.name
            if entry.is_dir(follow_symlinks=False) and is_run(child) and inside(child, base):
                found.append(child)
    return sorted(found, key=lambda p: ((p / MANIFEST).stat().st_mtime, p.name), reverse=True)


def _count(folder: Path, suffix: str, root: Path) -> int:
    if not _plain_dir(folder, root):
        return 0
    with os.scandir(folder) as entries:  # the entries' own types: no stat per file
        return sum(1 for e in islice(entries, MAX_ENTRIES) if e.name.endswith(suffix) and not e.is_symlink())


def _retry_dirs(folder: Path, root: Path) -> list[tuple[int, Path]]:
    """A round's retry passes (``round-N/trees-retry-R/``, plain folders), fewer rollouts first."""
    from backend.evolve.retry import RETRY_PREFIX

    if not _plain_dir(folder, root):
        return []
    with os.scandir(folder) as entries:
        names = [e.name for e in islice(entries, MAX_ENTRIES) if e.name.startswith(RETRY_PREFIX)]
    found = [(int(name[len(RETRY_PREFIX):]), folder / name) for name in names
             if name[len(RETRY_PREFIX):].isdigit() and len(name) < len(RETRY_PREFIX) + 7]
    return sorted((r, sub) for r, sub in found if _plain_dir(sub, root))


def _mtimes(folder: Path, suffix: str, root: Path) -> list[float]:
    """The modification times of ``folder``'s per-problem files, oldest first."""
    if not _plain_dir(folder, root):
        return []
    times = []
    with os.scandir(folder) as entries:
        for entry in islice(entries, MAX_ENTRIES):
            if entry.name.endswith(suffix) and not entry.is_symlink():
                try:
                    times.append(entry.stat(follow_symlinks=False).st_mtime)
                except OSError:  # removed since it was listed
                    continue
    return sorted(times)


def _pace(folder: Path, suffix: str, root: Path, total: int, what: str) -> tuple[str, int, float] | None:
    """(what, files left, seconds a file lately): the median gap between the newest PACE_FILES
    files' times. A mean would let one pause among them (the run stopped and resumed) swell the
    pace: a run resumed after an hour's break read 217 s a solve while it went at 62."""
    times = _mtimes(folder, suffix, root)
    recent = times[-PACE_FILES:]
    gaps = [b - a for a, b in pairwise(recent) if b - a >= PACE_MIN_GAP_S]
    if len(gaps) < 2 or len(times) >= total:
        return None
    return what, total - len(times), statistics.median(gaps)


_KIND_WORDS = {"sc": "self-consistency"}


def eval_kinds(manifest: Mapping[str, Any]) -> tuple[str, ...]:
    """The held-out evaluations a run's rounds make, in the order they run: greedy and search,
    then self-consistency when the run asks for it (``EvolveSettings.eval_sc``)."""
    settings = manifest.get("settings")
    asked = isinstance(settings, dict) and settings.get("eval_sc") is True
    return EVAL_KINDS + (("sc",) if asked else ())


def _stage_pace(folder: Path, current: str | None, to_search: int, to_test: int,
                per_kind: Mapping[str, int], root: Path) -> tuple[str, int, float] | None:
    """The recent pace of the per-problem stage in progress (search, or an eval kind)."""
    if current == "search":
        return _pace(folder / "trees", ".jsonl.gz", root, to_search, "problem")
    if current == "eval":
        for kind, count in per_kind.items():  # they run in this order: the first one unfinished
            if count < to_test:
                return _pace(folder / "eval" / kind, ".json", root, to_test, f"{kind} solve")
    return None


def _training(
    folder: Path, current: str | None, root: Path
) -> tuple[int, int, float | None, float | None] | None:
    """(step, max steps, last loss, first loss) of the newest whole checkpoint of the fine-tuning
    stage in progress; None when there is none yet (or it cannot be read: a progress detail, not
    a reason to call the run unreadable)."""
    sub = CHECKPOINTS.get(current or "")
    if sub is None or not _plain_dir(folder / sub, root):
        return None
    with os.scandir(folder / sub) as entries:
        steps = sorted((int(e.name[len("checkpoint-"):]), e.name) for e in islice(entries, 1000)
                       if e.name.startswith("checkpoint-") and e.name[len("checkpoint-"):].isdigit())
    for _, name in reversed(steps):
        try:
            state = _read_json(folder / sub / name / "trainer_state.json", root)
        except UnreadableRun:
            continue
        if isinstance(state, dict) and isinstance(state.get("global_step"), int):
            losses = [e["loss"] for e in state.get("log_history", ()) if isinstance(e, dict)
                      and isinstance(e.get("loss"), (int, float)) and math.isfinite(e["loss"])]
            total = state.get("max_steps") if isinstance(state.get("max_steps"), int) else 0
            return state["global_step"], total, *((losses[-1], losses[0]) if losses else (None, None))
    return None


def _round_state(folder: Path, number: int, manifest: Mapping[str, Any], root: Path, algo: str) -> tuple:
    """(RoundState, its report row or None, the mtimes seen)."""
    stages, policies, (scorer_stage, scorer_dir) = LAYOUTS[algo]
    stamps = []
    outputs: dict[str, Any] = {}
    for name, filename in stages:
        data = _read_json(folder / filename, root)
        if data is not None:
            if not isinstance(data, dict):
                raise UnreadableRun(f"{folder.name}/{filename} is not a JSON object")
            outputs[name] = data
            stamps.append((folder / filename).stat().st_mtime)
    searched = _count(folder / "trees", ".jsonl.gz", root)
    retried = tuple((rollouts, _count(sub, ".jsonl.gz", root)) for rollouts, sub in _retry_dirs(folder, root))
    stamps += [sub.stat().st_mtime for _, sub in _retry_dirs(folder, root)]
    kinds = eval_kinds(manifest)
    per_kind = {kind: _count(folder / "eval" / kind, ".json", root) for kind in kinds}
    evaluated = sum(per_kind.values())
    for sub in (folder / "trees", *(folder / "eval" / k for k in kinds)):
        if _plain_dir(sub, root):
            stamps.append(sub.stat().st_mtime)
    notes = []
    policy = ppm = None
    for stage, sub in policies:
        what = "Step-APO policy" if stage == "apo" else "policy"
        if outputs.get(stage, {}).get("trained"):
            if _plain_dir(folder / sub, root):
                policy = folder / sub
            else:  # e.g. a run copied without its weights (assets/ ship the stage files only)
                notes.append(f"the trained {what} is not here: no folder {sub}/")
        elif stage in outputs:
            notes.append(f"no {what} trained: {outputs[stage].get('why', 'the stage says none')}")
    scorer = "PPM" if algo == "rstar" else "value head"
    if outputs.get(scorer_stage, {}).get("trained"):
        if _plain_dir(folder / scorer_dir, root):
            ppm = folder / scorer_dir
        else:
            notes.append(f"the trained {scorer} is not here: no folder {scorer_dir}/")
    elif scorer_stage in outputs:
        notes.append(f"no {scorer} trained: {outputs[scorer_stage].get('why', 'the stage says none')}")
    row = outputs.get("report")
    if row is not None and number:
        check_row(row, number)
    if number == 0:  # round 0 is the base policy's evaluation only
        if "eval" in outputs:
            check_base_eval(outputs["eval"])
        row = baseline_report(outputs["eval"]) if "eval" in outputs else None
        if row is not None:
            check_row(row, 0)
        outputs = {k: v for k, v in outputs.items() if k == "eval"}
        if row is not None:
            outputs["report"] = row
    to_test = len(manifest.get("test_problems", ()))
    done = tuple(name for name, _ in stages if name in outputs)
    if "sc" in kinds and "eval" in outputs and "sc" not in outputs["eval"]:
        # self-consistency asked for after the round was evaluated: its evaluation (and so the
        # round) is under way again; its report row stays on the chart meanwhile
        done = tuple(name for name in done if name not in ("eval", "report"))
    state = RoundState(
        number=number,
        done=done,
        searched=searched if number else 0,
        to_search=len(manifest.get("train_problems", ())) if number else 0,
        evaluated=evaluated,
        to_evaluate=len(kinds) * to_test,
        eval_kinds=kinds,
        policy=policy,
        ppm=ppm,
        notes=tuple(notes),
        stages=tuple(name for name, _ in stages),
        retried=retried if number else (),
    )
    pace = _stage_pace(folder, state.current, state.to_search, to_test, per_kind, root)
    training = _training(folder, state.current, root)
    if training is not None:  # a new checkpoint is a change: "last file written" and the redraw
        stamps.append((folder / CHECKPOINTS[str(state.current)]).stat().st_mtime)
    so_far = None if row is not None or not number else _so_far(number, outputs)
    if so_far is not None and "eval" not in outputs:  # a held-out kind done before the stage is
        for kind in EVAL_KINDS:
            if per_kind.get(kind) == to_test > 0:
                so_far[f"heldout_{kind}_accuracy"] = _finished_accuracy(folder / "eval" / kind, to_test, root)
    if so_far is not None and training is not None and state.current == "policy":
        so_far = {**so_far, "train_loss_first": training[3], "train_loss_last": training[2]}  # so far
    return replace(state, pace=pace, training=training, so_far=so_far), row, stamps


def _so_far(number: int, outputs: Mapping[str, Mapping[str, Any]]) -> dict[str, Any] | None:
    """A running round's chart numbers from its finished stages' files, under the report
    rows' keys (``report.round_report``); None before its search has finished."""
    search = outputs.get("search")
    if search is None:
        return None
    data, policy, evaluation = (outputs.get(name, {}) for name in ("data", "policy", "eval"))

    def accuracy(kind: str) -> Any:
        part = evaluation.get(kind)
        return part.get("accuracy") if isinstance(part, dict) else None

    row = {
        "round": number,
        "so_far": True,
        "solved_in_search": search.get("right_answer_in_tree"),
        "sft_examples": data.get("sft_examples"),
        "ppm_pairs": data.get("ppm_pairs"),
        "train_loss_first": policy.get("first_loss"),
        "train_loss_last": policy.get("last_loss"),
        "heldout_greedy_accuracy": accuracy("greedy"),
        "heldout_search_accuracy": accuracy("search"),
    }
    check_row(row, number, "stage files")  # finite numbers or nothing, as in a finished round's report
    return row


def _finished_accuracy(sub: Path, to_test: int, root: Path) -> float | None:
    """A held-out kind's accuracy from its per-problem files once all ``to_test`` are written
    (greedy ends hours before the search, and eval.json only with both): None if any file does
    not say whether it was right."""
    results = _eval_results(sub, root)
    graded = [right for right, _ in results.values() if right is not None]
    return sum(graded) / to_test if len(graded) == to_test else None


def _eval_results(sub: Path, root: Path) -> dict[str, tuple[bool | None, str | None]]:
    """One held-out evaluation's per-problem files (``stages.held_out_accuracy``), read as the
    index reads every file (plain files inside the run only): file name -> (right or not, the
    CPU it ran on), each None where the file does not say. An unreadable file is left out: a
    detail of the view, not a reason to call the whole run unreadable."""
    if not _plain_dir(sub, root):
        return {}
    with os.scandir(sub) as entries:
        names = [e.name for e in islice(entries, MAX_ENTRIES)
                 if e.name.endswith(".json") and not e.is_symlink()]
    out: dict[str, tuple[bool | None, str | None]] = {}
    for name in names:
        try:
            data = _read_json(sub / name, root)
        except UnreadableRun:
            continue
        if isinstance(data, dict):
            right, cpu = data.get("correct"), data.get("cpu")
            out[name] = (right if isinstance(right, bool) else None,
                         cpu[:200] if isinstance(cpu, str) else None)
    return out


def _eval_cpus(folder: Path, root: Path) -> set[str]:
    """The CPUs a round's held-out result files name (``machine.cpu_name``)."""
    return {cpu for kind in EVAL_KINDS
            for _, cpu in _eval_results(folder / "eval" / kind, root).values() if cpu}


def held_out_so_far(run: RunState) -> str | None:
    """While a round's held-out evaluation runs (hours on a CPU), what its per-problem files
    say so far: per kind, how many of the problems done it got right, and how many of *those
    same problems* each earlier round got right (the same problems and seeds: a fair read
    before the round ends, where its accuracy over the first 40 problems against another
    round's over 100 would not be). A round evaluated on another CPU is marked (llama.cpp's
    numerics differ by CPU: ``machine.py``). Plain text; None outside an evaluation. Reads
    every result file of the run: for one page's view, not for a listing."""
    rnd = run.working_on
    if rnd is None or rnd.current != "eval":
        return None
    to_test = len(run.manifest.get("test_problems", ()))
    parts = []
    for kind in rnd.eval_kinds:
        now = _eval_results(run.path / f"round-{rnd.number}" / "eval" / kind, run.path)
        graded = {name: right for name, (right, _) in now.items() if right is not None}
        if not graded:
            continue
        cpus = {cpu for _, cpu in now.values() if cpu}
        text = f"{_KIND_WORDS.get(kind, kind)} {sum(graded.values())}/{len(graded)} right"
        text += " so far" if len(graded) < to_test else ""
        earlier = []
        for other in run.rounds:
            if other.number >= rnd.number:
                continue
            before = _eval_results(run.path / f"round-{other.number}" / "eval" / kind, run.path)
            shared = [name for name in graded if before.get(name, (None, None))[0] is not None]
            if shared:
                theirs = {cpu for _, cpu in before.values() if cpu}
                other_cpu = " on another CPU" if cpus and theirs and theirs != cpus else ""
                earlier.append(f"round {other.number} {sum(bool(before[n][0]) for n in shared)}/{len(shared)}"
                               + other_cpu)
        if earlier:
            text += " (the same problems: " + ", ".join(earlier) + ")"
        parts.append(text)
    return f"round {rnd.number} held out: " + "; ".join(parts) if parts else None


def _with_cpu_notes(root: Path, rounds: list[RoundState], rows: list[Mapping[str, Any]],
                    from_files: bool) -> list[RoundState]:
    """Each finished round's warning when its held-out evaluation ran on other CPUs than round
    0's (the report row's ``heldout_cpu_note``; a row written before Canopy recorded it: worked
    out from the result files when ``from_files``, which reads every one of them)."""
    by_round = {row["round"]: row for row in rows}
    base: set[str] | None = None
    out = []
    for state in rounds:
        row = by_round.get(state.number)
        note = None
        if state.number and row is not None:
            if "heldout_cpu_note" in row:
                note = row["heldout_cpu_note"]
            elif from_files:
                base = _eval_cpus(root / "round-0", root) if base is None else base
                note = mismatch_note(base, _eval_cpus(root / f"round-{state.number}", root))
        out.append(replace(state, notes=(*state.notes, note)) if note else state)
    return out


def read_run(path: str | Path, *, cpu_from_files: bool = False) -> RunState:
    """The run in ``path`` as its files show it now; UnreadableRun says what is wrong.
    ``cpu_from_files``: also work out the CPU warning of rounds whose report predates it from
    their result files (one page's view of a run, not a listing of many)."""
    root = Path(path)
    manifest = _read_json(root / MANIFEST, root)
    check_manifest(manifest)
    settings = manifest["settings"]
    planned = settings.get("rounds", 0)
    algo = str(settings.get("algo", "rstar"))
    if algo not in LAYOUTS:
        raise UnreadableRun(f"{MANIFEST}: unknown algorithm {algo!r}")
    numbers = [0] if settings.get("evaluate_base", True) else []
    numbers += list(range(1, planned + 1))
    rounds, rows = [], []
    stamps = [(root / MANIFEST).stat().st_mtime]
    for number in numbers:
        folder = root / f"round-{number}"
        if folder.is_symlink() or (folder.exists() and not _plain_dir(folder, root)):
            raise UnreadableRun(f"{folder.name} is not a plain directory (links are not followed)")
        state, row, seen = _round_state(folder, number, manifest, root, algo)
        rounds.append(state)
        stamps += seen
        if row is not None:
            rows.append(row)
    rounds = _with_cpu_notes(root, rounds, rows, cpu_from_files)
    fingerprint = tuple(sorted(stamps)) + tuple((r.searched, r.evaluated, r.training) for r in rounds)
    return RunState(root, manifest, tuple(rounds), tuple(rows), max(stamps), fingerprint)


def summary(run: RunState) -> dict[str, Any]:
    """The manifest's headline numbers (values as stored; the caller escapes them)."""
    m, s = run.manifest, run.manifest.get("settings", {})
    base = m.get("models", {}).get("base", {})
    return {
        "created": m.get("created"),
        "canopy": m.get("canopy"),
        "rounds": s.get("rounds"),
        "train": f"{m.get('train_set')} {s.get('train_start')}-"
                 f"{int(s.get('train_start', 0)) + len(m.get('train_problems', ())) - 1}",
        "held_out": f"{m.get('test_set')} {s.get('test_start')}-"
                    f"{int(s.get('test_start', 0)) + len(m.get('test_problems', ())) - 1}",
        "search": s.get("search"),
        "base_model": f"{base.get('engine')} · {base.get('model')}",
        "seed": s.get("seed"),
        "finetune_from": s.get("finetune_from"),
        "ppm": ppm_plan(s),
    }


def ppm_plan(settings: dict[str, Any]) -> str:
    """How the run's PPM is made and which one its PPM-augmented rounds start with, in words."""
    method, data = settings.get("ppm_method", "full"), settings.get("ppm_data", "round")
    trees = "its own trees" if data == "round" else "every round's trees so far"
    made = f"each round trains a {method} PPM from {trees}" if settings.get("train_ppm", True) else (
        "no PPM training")
    given = settings.get("ppm")
    return made + (f"; rounds from 3 search with {given} until a round has trained one" if given else "")


def progress_line(run: RunState) -> str:
    """Where the run stands, in words (plain text): finished, or the round and stage whose
    output is missing and how far its per-problem files got. Files cannot tell a running
    process from a stopped one, so the caller shows ``last_change`` beside this."""
    if run.finished:
        return f"finished: {len(run.rounds) - (run.rounds[0].number == 0)} round(s)"
    rnd = run.working_on
    if rnd is None:
        return "no round started"
    stage = rnd.current
    where = f"round {rnd.number}, {stage}"
    if stage == "search":
        line = f"{where}: {rnd.searched}/{rnd.to_search} problems searched"
        if rnd.retried:  # round 4's second look at what it left unsolved
            rollouts, count = rnd.retried[-1]
            line += f"; unsolved ones again with {rollouts} rollouts: {count} searched"
        return line
    if stage == "eval":
        words = [_KIND_WORDS.get(k, k) for k in rnd.eval_kinds]
        kinds = ", ".join(words[:-1]) + " and " + words[-1]
        return f"{where}: {rnd.evaluated}/{rnd.to_evaluate} held-out solves ({kinds})"
    if rnd.training is not None:
        step, total, loss, _ = rnd.training
        of = f"/{total}" if total else ""
        return f"{where}: step {step}{of} saved" + (f", loss {loss:.3f}" if loss is not None else "")
    return where


def pace_line(run: RunState) -> str | None:
    """The stage in progress at its recent pace, in words ("23 s a problem lately: about
    1 h 29 min to go for the 232 left"), or None when its files show no pace yet."""
    rnd = run.working_on
    if rnd is None or rnd.pace is None:
        return None
    what, left, seconds = rnd.pace
    return (f"{seconds:.0f} s a {what} lately: about {duration_words(left * seconds)} to go "
            f"for the {left} left")


def duration_words(seconds: float) -> str:
    """``95`` → "2 min", ``5400`` → "1 h 30 min" (estimates: whole minutes are enough)."""
    minutes = max(1, round(seconds / 60))
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def round_gguf(policy: Path) -> Path | None:
    """The GGUF an rStar-Math round exported of its ``policy`` folder (``round-N/policy.gguf``,
    ``canopy evolve --policy-engine llamacpp``) when the round's ``policy.json`` names it and
    the file records that policy's checksum; None otherwise (the folder then runs on
    transformers). Reading the GGUF's metadata takes seconds the first time (its vocabulary),
    then it is cached while the file is unchanged."""
    folder = policy.parent
    gguf = policy.with_name(policy.name + ".gguf")
    if policy.name != "policy" or not _plain_file(gguf, folder):
        return None
    try:
        stage = _read_json(folder / "policy.json", folder)
    except UnreadableRun:
        return None
    named = Path(str(stage.get("gguf") or "")).name if isinstance(stage, dict) else ""
    if named != gguf.name or not stage.get("sha256"):
        return None
    from backend.evolve.gguf_export import gguf_source_sha

    return gguf if gguf_source_sha(gguf) == stage["sha256"] else None


def round_number(path: Path) -> int | None:
    """N of a ``round-N`` folder name (None for any other name)."""
    found = _ROUND_DIR.match(path.name)
    return int(found.group(1)) if found else None


def round_model(path: str | Path, kind: str) -> tuple[Path, int]:
    """(the run directory, N) when ``path`` is ``RUN/round-N/policy`` (``kind`` "policy") or
    ``RUN/round-N/ppm`` ("ppm") of an evolve run whose stage files say that round trained it;
    UnreadableRun otherwise. The web app checks every path a page sends with this."""
    names = {"policy": ("policy", "policy-apo"), "ppm": ("ppm", "value")}
    if kind not in names:
        raise ValueError(f"kind must be policy or ppm, not {kind!r}")
    folder = Path(path)
    number = round_number(folder.parent)
    if folder.name not in names[kind] or number is None or number == 0:
        raise UnreadableRun(f"not a round's {kind} folder (RUN/round-N/{kind})")
    run = folder.parent.parent
    if not is_run(run):
        raise UnreadableRun(f"{run.name} is not an evolve run")
    state = read_run(run).round(number)
    made = getattr(state, kind, None) if state is not None else None
    if made is None or made.resolve() != folder.resolve():
        raise UnreadableRun(f"round {number} of {run.name} trained no {kind}")
    return run, number
