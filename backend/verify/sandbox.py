"""Run untrusted, LLM-generated Python safely and fast: a pool of pre-started sandboxes.

Every search step of rStar-Math (arXiv:2501.04519) is Python code written by the
policy model; a step "fails" when its code errors, and its printed output is the
step's answer. That code is hostile until proven otherwise (DESIGN.md,
"Verification"), so each run gets:

* a fresh interpreter that serves exactly one snippet and then dies, so globals,
  patched builtins, files and child processes never reach the next run;
* bubblewrap isolation when ``bwrap`` works (new PID/net/IPC/mount namespaces,
  read-only system, private tmpfs workdir, no home or repo), else an rlimits-only
  fallback with a logged warning; ``ExecResult.isolation`` says which was used;
* wall-clock, CPU, address-space, process-count and output-size limits, a
  scrubbed environment, and a sweep that kills whatever the snippet left running.

Speed comes from pre-starting: interpreter start-up, bwrap set-up and the
``preload`` imports happen in the background before a job arrives, so a run costs
a pipe round trip and a ``fork``. Details and measured numbers: docs/SANDBOX.md.
"""

from __future__ import annotations

import atexit
import collections
import dataclasses
import logging
import os
import secrets
import select
import signal
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

from backend.verify._sandbox_launch import IsolationRequest, choose_isolation, plan_worker
from backend.verify._sandbox_process import JobOutcome, Worker

log = logging.getLogger(__name__)

Status = Literal["ok", "error", "timeout", "memory", "output_limit", "killed"]
# Cheap stdlib modules most math snippets import. Heavy ones (sympy ~0.5 s CPU) are
# opt-in via ``preload``: each one-shot worker pays the import again in the background.
DEFAULT_PRELOAD = ("math", "cmath", "fractions", "decimal", "itertools", "functools",
                   "collections", "statistics", "random", "re")
_MEMORY_EXIT = 86  # mirrors _sandbox_worker.MEMORY_EXIT
_STARTUP_TIMEOUT_S = 60.0  # bwrap + interpreter + preloads; sympy alone is ~1 s
_BROKEN_AFTER = 5  # consecutive start-up failures before run() raises
_RETRIES = 3  # attempts when a taken worker turns out dead before it read the job


@dataclass(frozen=True)
class SandboxLimits:
    """Per-run limits. All apply in both isolation modes."""

    timeout_s: float = 10.0  # wall clock; run(timeout_s=...) overrides per call
    cpu_s: float = 10.0  # RLIMIT_CPU per process, rounded up to whole seconds
    memory_mb: int = 1024  # RLIMIT_AS (includes the ~15 MB interpreter and preloads);
    #                        also the size of the private /tmp under bwrap
    max_procs: int = 32  # RLIMIT_NPROC: processes + threads, the worker included
    max_output_bytes: int = 64_000  # stdout + stderr together; beyond it the run is killed

    def __post_init__(self) -> None:
        for name in ("timeout_s", "cpu_s", "memory_mb", "max_procs", "max_output_bytes"):
            if getattr(self, name) <= 0:
                raise ValueError(f"SandboxLimits.{name} must be positive, got {getattr(self, name)}")
        if self.max_procs < 2:
            raise ValueError("SandboxLimits.max_procs must be >= 2 (the worker and the snippet)")
        if self.memory_mb < 64:
            raise ValueError("SandboxLimits.memory_mb must be >= 64: the interpreter alone needs ~15 MB")


@dataclass(frozen=True)
class ExecResult:
    """What one sandboxed run did.

    status: ``ok`` (exit 0); ``error`` (raised: traceback in stderr, or non-zero
    exit); ``timeout`` (wall clock or CPU limit); ``memory`` (MemoryError under the
    address-space limit); ``output_limit`` (more than ``max_output_bytes``, output
    truncated); ``killed`` (died from a signal, e.g. a segfault, or killed its own
    supervisor). The sandbox appends ``[sandbox] ...`` notes to stderr.
    returncode: exit code, ``-signum`` if killed by a signal, ``None`` if unknown.
    """

    status: Status
    stdout: str
    stderr: str
    ms: float
    isolation: str  # "bwrap", "rlimits" or "rlimits+netns"
    returncode: int | None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class SandboxPool:
    """Keeps ``size`` sandboxes started and idle; runs at most ``size`` snippets at once.

    Thread-safe. A background thread replaces each worker as soon as it is taken.
    ``bwrap --die-with-parent`` ties workers to the thread that started them, so
    that thread lives until ``close()``; runs still in flight at ``close()`` may
    end as ``killed``. ``isolation``: "auto" (bwrap if it works, else rlimits with
    a warning), "bwrap" (raise if unavailable) or "rlimits" (force the fallback).
    """

    def __init__(self, size: int = 2, limits: SandboxLimits = SandboxLimits(),
                 preload: Sequence[str] = (), *, isolation: IsolationRequest = "auto") -> None:
        if size < 1:
            raise ValueError(f"SandboxPool size must be >= 1, got {size}")
        self.size, self.limits, self.preload = size, limits, tuple(preload)
        self.isolation = choose_isolation(isolation)
        self.tag = f"canopy-pool-{secrets.token_hex(6)}"  # in every worker's argv
        self._limits_cfg = dataclasses.asdict(limits)
        self._ready: collections.deque[Worker] = collections.deque()
        self._starting: list[Worker] = []  # owned by the spawner thread
        self._cond = threading.Condition()
        self._slots = threading.BoundedSemaphore(size)
        self._closed = False
        self._failures, self._last_error = 0, ""
        self._spawner = threading.Thread(target=self._spawn_loop, name="sandbox-spawner",
                                         daemon=True)
        self._spawner.start()

    # -- public API -------------------------------------------------------------
    def run(self, code: str, *, timeout_s: float | None = None, stdin: str = "") -> ExecResult:
        """Run ``code`` as ``__main__`` in a fresh sandbox; blocks while all are busy."""
        timeout = self.limits.timeout_s if timeout_s is None else float(timeout_s)
        if timeout <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        with self._slots:
            for _ in range(_RETRIES):
                worker = self._take()
                try:
                    outcome = worker.execute(code, stdin, timeout, self.limits.max_output_bytes)
                finally:
                    worker.destroy()
                if outcome.accepted:
                    break
                # Died while idle (OOM killer, an operator's kill): the snippet never
                # started, so running it on a fresh worker is safe.
                log.warning("sandbox worker died before accepting a job; retrying")
        return _classify(outcome, worker.isolation, timeout, self.limits)

    def map(self, codes: Sequence[str], *, timeout_s: float | None = None) -> list[ExecResult]:
        """Run many snippets, up to ``size`` at once; results in input order."""
        if not codes:
            return []
        with ThreadPoolExecutor(max_workers=min(self.size, len(codes)),
                                thread_name_prefix="sandbox-map") as pool:
            return list(pool.map(lambda code: self.run(code, timeout_s=timeout_s), codes))

    def wait_ready(self, timeout_s: float = 30.0) -> bool:
        """Block until all ``size`` workers are started and idle, e.g. to warm up
        before the first request or a benchmark. False on timeout or close."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while len(self._ready) < self.size and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return len(self._ready) >= self.size

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Stop replenishing and kill idle workers. Idempotent."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        self._spawner.join(timeout=30)
        with self._cond:
            idle, self._ready = list(self._ready), collections.deque()
        for worker in idle + self._starting:
            worker.destroy()
        self._starting = []

    def __enter__(self) -> SandboxPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals --------------------------------------------------------------
    def _take(self) -> Worker:
        while True:
            with self._cond:
                while not self._ready:
                    if self._closed:
                        raise RuntimeError("SandboxPool is closed")
                    if self._failures >= _BROKEN_AFTER:
                        raise RuntimeError(
                            f"sandbox workers keep failing to start: {self._last_error}")
                    self._cond.wait(timeout=1.0)
                worker = self._ready.popleft()
                self._cond.notify_all()  # wake the spawner to start a replacement
            if worker.alive():
                return worker
            log.warning("idle sandbox worker died (rc=%s); replacing it", worker.proc.returncode)
            worker.destroy()

    def _spawn_loop(self) -> None:
        while True:
            with self._cond:
                while not self._closed and not self._starting and len(self._ready) >= self.size:
                    self._cond.wait()
                if self._closed:
                    return
                deficit = self.size - len(self._ready) - len(self._starting)
            if self._failures:  # back off while workers keep failing to start
                with self._cond:
                    self._cond.wait(timeout=min(5.0, 0.1 * 2 ** self._failures))
            for _ in range(max(0, deficit)):
                self._start_one()
            self._poll_starting()

    def _start_one(self) -> None:
        try:
            plan = plan_worker(self.isolation, self._limits_cfg, list(self.preload), self.tag)
            self._starting.append(Worker(plan))
        except OSError as exc:
            self._record_failure(f"could not start worker: {exc}")

    def _poll_starting(self) -> None:
        if not self._starting:
            return
        readable, _, _ = select.select([w.ctl_fd for w in self._starting], [], [], 0.05)
        now = time.monotonic()
        for worker in list(self._starting):
            state = worker.poll_ready() if worker.ctl_fd in readable else None
            if state is None and now - worker.started < _STARTUP_TIMEOUT_S:
                continue
            self._starting.remove(worker)
            if state:
                with self._cond:
                    self._ready.append(worker)
                    self._failures = 0
                    self._cond.notify_all()
            else:
                self._record_failure(worker.startup_error().strip() or "worker start-up timed out")

    def _record_failure(self, message: str) -> None:
        log.error("sandbox worker failed to start: %s", message)
        with self._cond:
            self._failures += 1
            self._last_error = message
            self._cond.notify_all()


def _classify(outcome: JobOutcome, isolation: str, timeout_s: float,
              limits: SandboxLimits) -> ExecResult:
    """Turn the worker's report (or its absence) into a status, with a note why."""
    rep = outcome.report or {}
    exit_code, signum = rep.get("exit"), rep.get("signal")
    returncode = exit_code if exit_code is not None else (-signum if signum else None)
    if outcome.output_exceeded:
        status: Status = "output_limit"
        note = f"output exceeded {limits.max_output_bytes} bytes; run killed"
    elif outcome.report is None:
        status = "timeout" if outcome.backstop_fired else "killed"
        note = ("wall-clock timeout; worker unresponsive" if outcome.backstop_fired
                else "the sandbox supervisor died before reporting")
    elif rep.get("reason") == "timeout":
        status, note = "timeout", f"wall-clock timeout after {timeout_s:g} s"
    elif signum == signal.SIGXCPU or (signum == signal.SIGKILL and rep.get("cpu_s", 0) >= limits.cpu_s):
        status, note = "timeout", f"CPU time limit ({limits.cpu_s:g} s) exceeded"
    elif exit_code == 0:
        status, note = "ok", ""
    elif exit_code == _MEMORY_EXIT:
        status, note = "memory", f"memory limit ({limits.memory_mb} MB) exceeded"
    elif signum:
        status, note = "killed", f"killed by {_signal_name(signum)}"
    else:
        status, note = "error", ""
    stderr = outcome.stderr.decode("utf-8", errors="replace")
    if note:
        stderr += ("" if not stderr or stderr.endswith("\n") else "\n") + f"[sandbox] {note}\n"
    return ExecResult(status, outcome.stdout.decode("utf-8", errors="replace"), stderr,
                      round(outcome.ms, 3), isolation, returncode)


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


_default: SandboxPool | None = None
_default_kwargs: dict = {}
_default_lock = threading.Lock()


def configure_default_pool(*, size: int | None = None, limits: SandboxLimits | None = None,
                           preload: Sequence[str] | None = None) -> None:
    """Set how ``default_pool()`` builds its pool, e.g. ``preload=("sympy",)`` from an
    entrypoint whose snippets use sympy. Closes the current default pool, if any."""
    global _default
    with _default_lock:
        given = {"size": size, "limits": limits, "preload": preload}
        _default_kwargs.update({k: v for k, v in given.items() if v is not None})
        old, _default = _default, None
    if old is not None:
        old.close()


def default_pool() -> SandboxPool:
    """The process-wide pool, created on first use and closed at exit."""
    global _default
    with _default_lock:
        if _default is None or _default.closed:
            kwargs = {"size": max(2, min(4, os.cpu_count() or 2)), "preload": DEFAULT_PRELOAD,
                      **_default_kwargs}
            _default = SandboxPool(**kwargs)
            atexit.register(_default.close)
        return _default


def run_code(code: str, *, timeout_s: float | None = None) -> ExecResult:
    """Run one snippet in the default pool (see ``SandboxPool.run``)."""
    return default_pool().run(code, timeout_s=timeout_s)
