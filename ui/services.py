"""What the screens need from the rest of Canopy, bundled so tests can swap any part.

- ``EngineSlot``: the one engine of this server, loaded lazily on the first Run (loading
  the embedded model takes seconds, and the page must come up even when the model is
  missing: the status line says why instead). It hands out a ``LockedEngine``: llama.cpp
  and friends are not safe to call from two threads, and two browser sessions may run
  searches at once.
- ``TreeCache``: the Tree of a run, folded incrementally from its events and shared by
  every session watching that run (the tree is a pure fold, so sharing is safe under a lock).
- ``Services``: store + run manager + engine + cache + the algorithm registry and the
  problem sets, which are looked up by name, never imported at module import time; it
  also says what state the history file is in (``history_notice``, ``history_read_only``).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from backend import events as ev
from backend.run import RunManager
from backend.tree import Tree
from ui.engine_line import servers_text
from ui.escape import md_esc

log = logging.getLogger(__name__)


class LockedEngine:
    """Same interface as the engine it wraps; one ``generate`` at a time, unless the engine
    says it is ``thread_safe`` (the OpenAI engine: its servers take concurrent requests)."""

    def __init__(self, engine: Any) -> None:
        self.inner = engine
        self.info = engine.info
        self._lock = threading.Lock()

    def generate(self, prompts: Sequence[str], **kw: Any) -> Any:
        if getattr(self.inner, "thread_safe", False):  # e.g. a pool of servers: runs use it at once
            return self.inner.generate(prompts, **kw)
        with self._lock:
            return self.inner.generate(prompts, **kw)

    def chat_prompt(self, messages: Any, **kw: Any) -> str:
        return self.inner.chat_prompt(messages, **kw)

    def close(self) -> None:
        self.inner.close()


class EngineSlot:
    """Loads the server's engine on first use and reports where that stands."""

    def __init__(
        self,
        name: str,
        model: str | None = None,
        loader: Callable[[], Any] | None = None,
        options: dict[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.model = model
        #: the engine's load options (``--engine-opt``), recorded in every run's spec
        self.options = dict(options or {})
        self._loader = loader
        self._engine: LockedEngine | None = None
        self._error: str | None = None
        self._loading = False
        self._load_s = 0.0
        self._lock = threading.Lock()

    def _load(self) -> Any:
        if self._loader is not None:
            return self._loader()
        from backend.engines import load_engine

        return load_engine(self.name, self.model, **self.options)

    def get(self) -> LockedEngine:
        """The engine, loading it now if needed; raises RuntimeError with the reason."""
        with self._lock:
            if self._engine is not None:
                return self._engine
            self._loading = True
            t = time.monotonic()
            try:
                self._engine = LockedEngine(self._load())
                self._error = None
                self._load_s = time.monotonic() - t
                log.info("engine %s ready in %.1f s", self.name, self._load_s)
                return self._engine
            except Exception as exc:  # missing model, missing package, bad rules file ...
                log.exception("engine %s could not be loaded", self.name)
                self._error = f"{type(exc).__name__}: {exc}"
                raise RuntimeError(f"the {self.name} engine could not be loaded: {exc}") from exc
            finally:
                self._loading = False

    @property
    def ready(self) -> bool:
        """True once the engine is loaded (the next Run starts without loading it)."""
        return self._engine is not None

    def status(self) -> str:
        """The engine line of the page (Markdown; names and errors escaped, ``ui.escape``)."""
        what = md_esc(self.name) + (f" · {md_esc(self.model)}" if self.model else "")
        if self._engine is not None:
            info = self._engine.info
            servers = servers_text((getattr(info, "details", None) or {}).get("servers"))
            return (
                f"Engine ready: {md_esc(info.name)} · {md_esc(info.model)}{servers}"
                f" (loaded in {self._load_s:.1f} s)"
            )
        if self._loading:
            return f"Loading engine {what}…"
        if self._error:
            return f"⚠ Engine {what} unavailable: {md_esc(self._error)}"
        return f"Engine {what}: loads on the first Run."


class TreeCache:
    """Trees of recently viewed runs, brought up to date from their events on demand."""

    def __init__(self, events: Callable[[str, int], list[ev.Event]], size: int = 8) -> None:
        self._events = events
        self._size = size
        self._trees: OrderedDict[str, tuple[Tree, threading.Lock]] = OrderedDict()
        self._lock = threading.Lock()

    def _entry(self, run_id: str) -> tuple[Tree, threading.Lock]:
        with self._lock:
            entry = self._trees.get(run_id)
            if entry is None:
                entry = (Tree(), threading.Lock())
                self._trees[run_id] = entry
            self._trees.move_to_end(run_id)
            while len(self._trees) > self._size:
                self._trees.popitem(last=False)
            return entry

    def view(self, run_id: str, fn: Callable[[Tree], Any]) -> Any:
        """Bring the run's tree up to date and call ``fn(tree)`` while holding its lock."""
        tree, lock = self._entry(run_id)
        with lock:
            for e in self._events(run_id, tree.last_seq):
                tree.apply(e)
            return fn(tree)

    def drop(self, run_id: str) -> None:
        with self._lock:
            self._trees.pop(run_id, None)


class ReplayCache:
    """The last replayed run's events and tree: scrubbing forward only applies new events,
    scrubbing back refolds from the start (a 20k-event run folds in well under a second)."""

    def __init__(self, events: Callable[[str, int], list[ev.Event]]) -> None:
        self._events_of = events
        self._lock = threading.Lock()
        self._run: str | None = None
        self._events: list[ev.Event] = []
        self._tree = Tree()

    def view(self, run_id: str, upto: int, fn: Callable[[Tree], Any]) -> Any:
        """``fn(tree after event upto)``, called under the lock (the tree is shared)."""
        with self._lock:
            if run_id != self._run or upto >= len(self._events):  # another run, or it grew
                self._run, self._events, self._tree = run_id, self._events_of(run_id, -1), Tree()
            if upto < self._tree.last_seq:
                self._tree = Tree()
            for e in self._events[self._tree.last_seq + 1 : upto + 1]:
                self._tree.apply(e)
            return fn(self._tree)


def _problems(name: str, limit: int | None = None) -> list[Any]:
    from backend.problems import load_problems

    return load_problems(name, limit)


def _datasets() -> list[str]:
    from backend.problems import dataset_names

    return dataset_names()


@dataclass
class Services:
    store: Any
    engine: EngineSlot
    runs: RunManager = field(init=False)
    trees: TreeCache = field(init=False)
    replays: ReplayCache = field(init=False)
    #: algorithms offered on the Solve screen (None: everything the registry has)
    algorithms: list[str] | None = None
    default_algorithm: str = "rstar"
    problems: Callable[[str, int | None], list[Any]] = _problems
    datasets: Callable[[], list[str]] = _datasets
    #: seconds between screen updates while a run streams (about 2 per second)
    update_every_s: float = 0.5
    max_live_runs: int = 4
    #: every run's ``RunSpec.ppm`` (``--ppm``): "default" (the shipped PPM where it applies),
    #: "none", or a PPM directory
    ppm: str = "default"
    #: TEST SEAM, never set by the app: a step scorer (tests/factories.py: RulePPM, a rule
    #: table) that every rStar-Math run whose PPM choice is not "none" gets instead of
    #: loading a real PPM (``ui.handlers.start_run``), so browser tests can drive PPM runs
    #: before a trained PPM ships; the page says "test PPM" wherever it names the PPM
    step_scorer_override: Any = None
    #: the Training tab's runs folder and round-policy engines (``ui/training_runs.TrainingSettings``;
    #: None: ./runs, nothing outside it)
    training: Any = None

    def __post_init__(self) -> None:
        self.runs = RunManager(self.store, max_live=self.max_live_runs)
        self.trees = TreeCache(self.runs.events)
        self.replays = ReplayCache(self.runs.events)
        self._viewers: dict[str, int] = {}
        self._resync: set[str] = set()
        self._tickets = itertools.count(1)
        self._viewers_lock = threading.Lock()
        #: per tab (session hash): a lock its Runs start under, and the run its last Run started
        self._tabs: dict[str, tuple[threading.Lock, list[str | None]]] = {}
        #: run id -> the runs its Run stopped (said in its status)
        self._replaced: dict[str, list[str]] = {}

    def watch(self, viewer: str) -> int:
        """Register a new stream for ``viewer``; earlier streams of that viewer should end."""
        with self._viewers_lock:
            self._viewers[viewer] = ticket = next(self._tickets)
            self._resync.discard(viewer)  # the new stream starts with a whole figure anyway
            return ticket

    def watching(self, viewer: str, ticket: int) -> bool:
        with self._viewers_lock:
            return self._viewers.get(viewer) == ticket

    def unwatch(self, viewer: str, ticket: int) -> None:
        with self._viewers_lock:
            if self._viewers.get(viewer) == ticket:
                del self._viewers[viewer]
                self._resync.discard(viewer)

    def request_resync(self, viewer: str) -> bool:
        """The viewer's page lost track of its tree: its stream's next update is a whole
        figure. False when no stream of that viewer is running (the caller sends one)."""
        with self._viewers_lock:
            if viewer not in self._viewers:
                return False
            self._resync.add(viewer)
            return True

    def take_resync(self, viewer: str, ticket: int) -> bool:
        """True once after ``request_resync`` for the stream holding ``ticket``."""
        with self._viewers_lock:
            if self._viewers.get(viewer) != ticket or viewer not in self._resync:
                return False
            self._resync.discard(viewer)
            return True

    def end_stream(self, viewer: str, ticket: int) -> bool:
        """A finished stream's last word: ends it unless a resync is pending (then the
        stream must send one more whole figure; ``take_resync`` will say so)."""
        with self._viewers_lock:
            if self._viewers.get(viewer) == ticket and viewer in self._resync:
                return False
            if self._viewers.get(viewer) == ticket:
                del self._viewers[viewer]
            return True

    def tab(self, viewer: str) -> tuple[threading.Lock, list[str | None]]:
        """(the lock a tab's Runs start under, [the run its last Run started]): Run replaces the
        tab's run, so one tab never has two live searches (two quick Runs, a lost run id)."""
        with self._viewers_lock:
            if viewer not in self._tabs:
                self._tabs[viewer] = (threading.Lock(), [None])
            return self._tabs[viewer]

    def note_replaced(self, run_id: str, stopped: list[str]) -> None:
        if stopped:
            with self._viewers_lock:
                self._replaced[run_id] = list(stopped)

    def replaced(self, run_id: str | None) -> list[str]:
        """The runs that ``run_id``'s Run stopped (they were the tab's, still going)."""
        with self._viewers_lock:
            return list(self._replaced.get(run_id or "", ()))

    @property
    def history_notice(self) -> str | None:
        """What ``open_store`` had to do to give a usable history (read-only, moved aside,
        in memory only): the page shows it as a banner. None when all is well."""
        return getattr(self.store, "notice", None)

    @property
    def history_read_only(self) -> bool:
        """Whether the history refuses writes: runs can be viewed, not started, imported or deleted."""
        return bool(getattr(self.store, "read_only", False))

    def algorithm_names(self) -> list[str]:
        from backend.search.registry import algorithm_names

        names = algorithm_names()
        return [n for n in (self.algorithms or names) if n in names]

    def close(self) -> None:
        self.runs.shutdown()
        self.store.close()
