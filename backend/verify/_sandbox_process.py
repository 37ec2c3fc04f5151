"""One pre-started, one-shot sandbox worker as seen from the pool.

A ``Worker`` is spawned (bwrap + Python + preloads) ahead of time, reports ready on
a private control pipe, serves exactly one job, and is then destroyed: its whole
process group is SIGKILLed (in bwrap mode that tears down the PID namespace), and
in fallback mode its uid is swept and its workdir removed.

The job I/O loop reads stdout and stderr while the snippet runs, so a snippet can
never block on a full pipe, and it enforces the output cap by asking the worker to
stop (a byte on its stdin) the moment the cap is crossed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass

from backend.verify._sandbox_launch import (
    LaunchPlan,
    kill_uid,
    remove_uid_files,
    remove_workdir,
)

log = logging.getLogger(__name__)

# After the output cap is hit, how long the worker gets to stop the snippet and report.
_DRAIN_GRACE_S = 0.5
# The worker enforces the wall clock itself; the pool kills it this much later.
_BACKSTOP_S = 1.0
_CHUNK = 1 << 16


@dataclass(frozen=True)
class JobOutcome:
    """Raw facts about one job; ``sandbox.py`` turns them into an ``ExecResult``."""

    stdout: bytes
    stderr: bytes
    report: dict | None  # the worker's result line; None if it died or was killed
    accepted: bool  # the worker read the job; if not, the snippet never ran
    output_exceeded: bool
    backstop_fired: bool
    ms: float


class Worker:
    """A started worker process; call ``poll_ready`` until it is ready, then ``execute``
    once, then ``destroy`` (always, also after failures)."""

    def __init__(self, plan: LaunchPlan) -> None:
        self.plan = plan
        self.ready_info: dict | None = None
        self.reported = False  # the worker swept its own descendants and reported
        self.started = time.monotonic()
        self._ctl_buf = b""
        ctl_r, ctl_w = os.pipe()
        try:
            # start_new_session: killpg reaches every process that stays in the group.
            self.proc = subprocess.Popen(
                [*plan.argv, str(ctl_w)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, env=plan.env, pass_fds=(ctl_w,),
                start_new_session=True, cwd=plan.host_workdir or "/")
        except BaseException:
            os.close(ctl_r)
            self._cleanup_files()
            raise
        finally:
            os.close(ctl_w)
        os.set_blocking(ctl_r, False)
        self.ctl_fd = ctl_r

    @property
    def isolation(self) -> str:
        if self.ready_info and self.plan.isolation == "rlimits" and self.ready_info.get("netns"):
            return "rlimits+netns"
        return self.plan.isolation

    def alive(self) -> bool:
        return self.proc.poll() is None

    def poll_ready(self) -> bool | None:
        """Read what the control pipe has: True when ready, None if not yet,
        False if the worker died during start-up."""
        try:
            data = os.read(self.ctl_fd, _CHUNK)
        except BlockingIOError:
            return None
        if not data:
            return False
        self._ctl_buf += data
        if b"\n" not in self._ctl_buf:
            return None
        line, self._ctl_buf = self._ctl_buf.split(b"\n", 1)
        self.ready_info = json.loads(line)
        for failure in self.ready_info.get("preload_failed", []):
            log.warning("sandbox preload failed: %s", failure)
        return True

    def startup_error(self) -> str:
        """Stderr of a worker that failed to start; destroys the worker."""
        self._kill_group()
        try:
            text = self.proc.stderr.read().decode(errors="replace")[-2000:]
        except (OSError, ValueError):
            text = ""
        self.destroy()
        return text

    def execute(self, code: str, stdin: str, timeout_s: float, max_output: int) -> JobOutcome:
        payload = json.dumps({"code": code, "stdin": stdin, "timeout_s": timeout_s}).encode()
        pending = f"{len(payload)}\n".encode() + payload
        start = time.monotonic()
        loop = _JobLoop(self, pending, max_output, start + timeout_s + _BACKSTOP_S)
        loop.run()
        lines = []
        for raw in loop.ctl.split(b"\n")[:-1]:
            try:
                lines.append(json.loads(raw))
            except ValueError:
                log.warning("garbled sandbox control line: %r", raw[:200])
        accepted = any(line.get("accepted") for line in lines)
        report = next((line for line in lines if "reason" in line), None)
        self.reported = report is not None
        return JobOutcome(bytes(loop.out), bytes(loop.err), report, accepted, loop.exceeded,
                          loop.backstop_fired, (time.monotonic() - start) * 1000.0)

    def destroy(self) -> None:
        """Kill the worker's process group and everything it left; idempotent."""
        self._kill_group()
        if self.plan.uid is not None and self.plan.isolation == "rlimits":
            # bwrap's PID namespace needs no sweep. In fallback, a worker that
            # reported has already killed all its descendants (it is their
            # subreaper); otherwise setsid() daemons may have escaped the group.
            if not self.reported:
                kill_uid(self.plan.uid)
            remove_uid_files(self.plan.uid)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        if self.ctl_fd >= 0:
            os.close(self.ctl_fd)
            self.ctl_fd = -1
        self._cleanup_files()

    def _kill_group(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            log.error("sandbox worker %d did not die after SIGKILL", self.proc.pid)

    def _cleanup_files(self) -> None:
        if self.plan.host_workdir and os.path.exists(self.plan.host_workdir):
            remove_workdir(self.plan.host_workdir)


class _JobLoop:
    """The select() loop for one job: feed the job frame, collect capped output,
    read the worker's report, and give up at the backstop deadline."""

    def __init__(self, worker: Worker, pending: bytes, max_output: int, deadline: float):
        self.worker, self.pending, self.max_output = worker, pending, max_output
        self.deadline, self.kill_at = deadline, float("inf")
        self.out, self.err, self.ctl = bytearray(), bytearray(), b""
        self.total = 0
        self.exceeded = self.backstop_fired = self.reported = False
        proc = worker.proc
        self.stdin_fd = proc.stdin.fileno()
        for fd in (self.stdin_fd, proc.stdout.fileno(), proc.stderr.fileno()):
            os.set_blocking(fd, False)
        self.sel = selectors.DefaultSelector()
        self.sel.register(proc.stdout.fileno(), selectors.EVENT_READ, self.out)
        self.sel.register(proc.stderr.fileno(), selectors.EVENT_READ, self.err)
        self.sel.register(worker.ctl_fd, selectors.EVENT_READ, "ctl")
        self.sel.register(self.stdin_fd, selectors.EVENT_WRITE, "stdin")

    def run(self) -> None:
        try:
            while self._reading() and not self.reported:
                now = time.monotonic()
                limit = min(self.deadline, self.kill_at)
                if now >= limit:
                    self.backstop_fired = now >= self.deadline
                    return
                for key, _ in self.sel.select(limit - now):
                    self._handle(key)
            if self.reported:
                self._drain()
        finally:
            self.sel.close()

    def _drain(self) -> None:
        """After the report every snippet process is dead (the worker swept them),
        so whatever they wrote is already in the pipes: read it without waiting
        for EOF, which would also wait for bwrap to tear the namespace down."""
        for key in list(self.sel.get_map().values()):
            if isinstance(key.data, bytearray):
                while key.fd in self.sel.get_map() and self._handle(key):
                    pass

    def _reading(self) -> bool:
        return any(k.data != "stdin" for k in self.sel.get_map().values())

    def _handle(self, key: selectors.SelectorKey) -> bool:
        """Serve one ready descriptor; True if it yielded data."""
        if key.data == "stdin":
            self._feed()
            return False
        try:
            data = os.read(key.fd, _CHUNK)
        except BlockingIOError:
            return False
        except OSError:
            data = b""
        if not data:
            self.sel.unregister(key.fd)
            return False
        if key.data == "ctl":
            self.ctl += data
            self.reported = b'"reason"' in self.ctl and self.ctl.endswith(b"\n")
            return True
        room = max(0, self.max_output - self.total)
        key.data.extend(data[:room])
        self.total += len(data)
        if self.total > self.max_output and not self.exceeded:
            self.exceeded = True
            self._request_stop()
        return True

    def _feed(self) -> None:
        try:
            written = os.write(self.stdin_fd, self.pending)
        except BlockingIOError:
            return
        except OSError:  # worker gone; its pipes will tell us the rest
            self.pending = b""
            written = 0
        self.pending = self.pending[written:]
        if not self.pending:
            self.sel.unregister(self.stdin_fd)

    def _request_stop(self) -> None:
        """Ask the worker to kill the snippet and report; force-kill soon after."""
        self.kill_at = min(self.kill_at, time.monotonic() + _DRAIN_GRACE_S)
        if self.pending:
            return
        with contextlib.suppress(OSError):
            os.write(self.stdin_fd, b"K")
