"""z3 worker processes with a hard wall-clock limit per query (`smt.py` sends the queries).

z3's `timeout` is soft: z3 polls it only at some points of its search (nlsat's algebraic-number
and big-integer work is not interrupted), so one query can run far past it and stall the whole
search. Every query therefore runs in a worker process (`z3worker.py`, at most `SLOTS` = 2 per
thread, so two independent queries run at once) that is killed when the hard limit below passes;
the answer is then "unknown", like a soft timeout.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import select
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path

WORKER = Path(__file__).with_name("z3worker.py")
INPROCESS = os.environ.get("CANOPY_Z3_INPROCESS", "") == "1"  # debugging: no worker, soft limit only
_local = threading.local()
_workers: weakref.WeakSet[Worker] = weakref.WeakSet()  # live workers, for the exit hook


def hard_limit_s(timeout_s: float) -> float:
    """Wall seconds a query may take in all: z3's soft timeout plus grace for a loaded machine."""
    return 1.5 * timeout_s + 0.5


class Worker:
    """One z3 worker process, owned by the thread (and process) that started it."""

    def __init__(self) -> None:
        self.owner = os.getpid()
        self.proc = subprocess.Popen(
            [sys.executable, str(WORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.buf = b""
        _workers.add(self)
        if self._line(30.0) is None:
            self.kill()
            raise RuntimeError("the z3 worker did not start")

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None and self.owner == os.getpid()

    def _line(self, limit_s: float) -> bytes | None:
        """The next answer line, or None when the limit passes or the worker dies."""
        deadline = time.monotonic() + limit_s
        fd = self.proc.stdout.fileno()  # type: ignore[union-attr]
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                return None
            chunk = os.read(fd, 1 << 16)
            if not chunk:  # the worker died (z3 crashed)
                return None
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line

    def ready(self, wait_s: float) -> bool:
        """An answer line is waiting (or the worker died), checked for at most ``wait_s``."""
        if b"\n" in self.buf:
            return True
        ready, _, _ = select.select([self.proc.stdout.fileno()], [], [], max(0.0, wait_s))  # type: ignore[union-attr]
        return bool(ready)

    def send(self, request: dict) -> bool:
        """Hand the worker one query; False (after killing it) when the pipe is broken."""
        try:
            self.proc.stdin.write((json.dumps(request) + "\n").encode())  # type: ignore[union-attr]
            self.proc.stdin.flush()  # type: ignore[union-attr]
        except (BrokenPipeError, OSError):
            self.kill()
            return False
        return True

    def receive(self, limit_s: float) -> dict | None:
        """The answer to the query sent, or None after killing the worker (past the limit, or it died)."""
        line = self._line(limit_s)
        if line is None:
            self.kill()
            return None
        return json.loads(line)

    def ask(self, request: dict, limit_s: float) -> dict | None:
        """The worker's answer, or None after killing it (past the limit, or it died)."""
        return self.receive(limit_s) if self.send(request) else None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()  # SIGKILL to the process this object started, by its pid
        self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout):
            if f is not None:
                f.close()
        _workers.discard(self)

    def __del__(self) -> None:  # the owning thread ended (its thread-local is dropped)
        if self.owner == os.getpid():
            with contextlib.suppress(Exception):  # interpreter shutdown: the exit hook cleans up
                self.kill()


#: z3 processes one thread may run at once: a search's independent queries (a candidate's two
#: filter checks) run side by side on the 2 cores, never more
SLOTS = 2


def thread_worker(slot: int = 0) -> Worker:
    """This thread's worker number ``slot`` (0 or 1), started (again) when needed."""
    if not 0 <= slot < SLOTS:
        raise ValueError(f"slot {slot} outside 0..{SLOTS - 1}")
    workers: list[Worker | None] = getattr(_local, "workers", None) or [None] * SLOTS
    _local.workers = workers
    w = workers[slot]
    if w is None or not w.alive:
        if w is not None and w.owner == os.getpid():
            w.kill()
        w = workers[slot] = Worker()
    return w


@atexit.register
def _stop_workers() -> None:
    for w in list(_workers):
        if w.owner == os.getpid():
            w.kill()
