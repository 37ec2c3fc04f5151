"""The program that runs inside one sandbox: serve exactly one snippet, then exit.

canopy-sandbox-worker (this marker lets tests and operators find stray workers).

The pool starts this file's source with ``python -I -S -B -c SOURCE CONFIG_JSON``
(inside bubblewrap when available), so it must be self-contained and stdlib-only:
the repository is never mounted into the sandbox. Lifecycle:

1. Trusted set-up, before any untrusted byte arrives: extend ``sys.path`` with the
   site-packages directories, import the ``preload`` modules (the slow part we pay
   ahead of time), optionally enter a fresh network namespace (fallback mode), drop
   to the per-worker uid when started as root, become a child subreaper and make
   itself non-dumpable (so the snippet cannot ptrace it), then write a ready line
   on fd 3.
2. Read one job frame from stdin (``<length>\\n<json>``).
3. Fork. The child applies the CPU/memory/file rlimits, points fd 0 at the job's
   stdin, closes every other descriptor, and ``exec``s the snippet. The parent
   waits with the wall-clock timeout and also stops early when the pool writes a
   byte to (or closes) stdin, e.g. because the output cap was hit.
4. Kill the child if still running, kill every descendant that was re-parented to
   us (double-forked daemons included), write one JSON result line on fd 3, exit.

Because a fresh interpreter serves each job, nothing (globals, patched builtins,
imported-module state) can leak into the next job.
"""

import atexit
import builtins
import contextlib
import ctypes
import faulthandler
import io
import json
import math
import os
import resource
import select
import signal
import sys
import time
import traceback
import types

CTL_FD = 3  # replaced by the pool-chosen descriptor (argv[2]) in main()
# Exit code the child uses for an uncaught MemoryError. Forgeable by the snippet
# (sys.exit(86)); that only mislabels its own result.
MEMORY_EXIT = 86
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
MIB = 1024 * 1024
_STREAMS = []


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _prctl(libc, option, arg):
    libc.prctl(ctypes.c_int(option), ctypes.c_ulong(arg), ctypes.c_ulong(0),
               ctypes.c_ulong(0), ctypes.c_ulong(0))


def _write_ctl(obj):
    data = (json.dumps(obj) + "\n").encode()
    while data:
        data = data[os.write(CTL_FD, data):]


def _preload(names):
    """Import what snippets commonly need; failures are reported, not fatal."""
    failed = []
    sink = io.StringIO()  # keep import-time warnings out of the first job's stderr
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        for name in names:
            try:
                __import__(name)
            except Exception as exc:  # any import failure is reportable
                failed.append(f"{name}: {type(exc).__name__}: {exc}")
    return failed


def _enter_netns(libc):
    """Fallback mode only: a private, empty network namespace (loopback down)."""
    uid, gid = os.getuid(), os.getgid()
    flags = CLONE_NEWNET if uid == 0 else CLONE_NEWNET | CLONE_NEWUSER
    if libc.unshare(ctypes.c_int(flags)) != 0:
        return False
    if uid != 0:
        with open("/proc/self/setgroups", "w") as fh:
            fh.write("deny")
        with open("/proc/self/uid_map", "w") as fh:
            fh.write(f"{uid} {uid} 1")
        with open("/proc/self/gid_map", "w") as fh:
            fh.write(f"{gid} {gid} 1")
    return True


class _CapHeader(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _CapData(ctypes.Structure):
    _fields_ = (("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32))


def _drop_capabilities(libc):
    """Creating a user namespace grants full capabilities inside it; the snippet
    needs none of them (capset v3 with all-zero sets)."""
    header = _CapHeader(0x20080522, 0)
    data = (_CapData * 2)()
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset failed")


def _count_own_processes():
    uid = str(os.getuid())
    count = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as fh:
                for line in fh:
                    if line.startswith("Uid:"):
                        count += line.split()[1] == uid
                        break
        except OSError:
            continue
    return count


def _drop_privileges(cfg):
    uid, gid = cfg.get("uid"), cfg.get("gid")
    if uid is None or os.getuid() != 0:
        return
    os.chown(cfg["workdir"], uid, gid)
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if os.getuid() != uid or os.geteuid() != uid:
        raise RuntimeError("failed to drop privileges")


def _set_nproc(cfg, own_userns):
    max_procs = int(cfg["limits"]["max_procs"])
    if cfg.get("nproc_relative") and not own_userns:
        # Non-root fallback without a user namespace: RLIMIT_NPROC counts every
        # process of this uid on the host, so allow what exists plus max_procs.
        max_procs += _count_own_processes()
    _, hard = resource.getrlimit(resource.RLIMIT_NPROC)
    if hard != resource.RLIM_INFINITY:
        max_procs = min(max_procs, hard)
    resource.setrlimit(resource.RLIMIT_NPROC, (max_procs, max_procs))


def _warm_up():
    """Exercise compile/exec/traceback once before forking: their first use in a
    process does lazy set-up that would otherwise cost every child ~3 ms of CPU.
    gc.freeze() then keeps the child's collector off the worker's objects, so the
    child does not copy-on-write pages it never uses."""
    import gc

    try:
        exec(compile("def f(n):\n    return 1 // n\nf(0)", "<warm-up>", "exec"), {})
    except ZeroDivisionError as exc:
        traceback.format_exception(type(exc), exc, exc.__traceback__)
    gc.collect()
    gc.freeze()


def _setup(cfg):
    sys.path.extend(p for p in cfg["paths"] if p not in sys.path)
    failed = _preload(cfg["preload"])
    libc = _libc()
    netns = bool(cfg.get("netns")) and _enter_netns(libc)
    os.chdir(cfg["workdir"])
    _drop_privileges(cfg)
    if netns and os.getuid() != 0:
        _drop_capabilities(libc)
    _prctl(libc, PR_SET_NO_NEW_PRIVS, 1)
    _prctl(libc, PR_SET_CHILD_SUBREAPER, 1)
    _prctl(libc, PR_SET_DUMPABLE, 0)
    _set_nproc(cfg, own_userns=netns)
    _warm_up()
    return libc, {"ready": True, "preload_failed": failed, "netns": netns}


def _read_exact(fd, n):
    chunks = []
    while n > 0:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            raise EOFError("job frame truncated")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _read_job():
    header = b""
    while not header.endswith(b"\n"):
        byte = os.read(0, 1)
        if not byte:
            raise EOFError("no job")
        header += byte
    return json.loads(_read_exact(0, int(header)))


def _write_fd(fd, text):
    """Write straight to a descriptor: the snippet may have replaced sys.stderr."""
    data = text.encode("utf-8", "backslashreplace")
    with contextlib.suppress(OSError):
        while data:
            data = data[os.write(fd, data):]


def _report(exc):
    """Print the snippet's traceback without the worker's own frame."""
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    try:
        tb = exc.__traceback__.tb_next if exc.__traceback__ else None
        text = "".join(traceback.format_exception(type(exc), exc, tb))
    except BaseException:  # e.g. MemoryError again, or a sabotaged traceback module
        text = f"{type(exc).__name__}: <traceback unavailable>\n"
    _write_fd(2, text)


def _exit_code(exc):
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    _write_fd(2, f"{code}\n")
    return 1


def _run_snippet(source):
    """Execute the snippet as __main__; return the process exit code."""
    try:
        code = compile(source, "<snippet>", "exec")
    except (SyntaxError, ValueError) as exc:
        _write_fd(2, "".join(traceback.format_exception_only(type(exc), exc)))
        return 1
    # A fresh __main__ (as runpy does): the snippet sees none of the worker's names,
    # while the worker's own functions keep their original globals.
    main = types.ModuleType("__main__")
    main.__file__ = "<snippet>"
    sys.modules["__main__"] = main
    saved_builtins = dict(builtins.__dict__)
    failure = None
    try:
        exec(code, main.__dict__)
        rc = 0
    except SystemExit as exc:
        rc = _exit_code(exc)
    except BaseException as exc:  # report everything the snippet raises
        failure = exc
        rc = MEMORY_EXIT if isinstance(exc, MemoryError) else 1
    finally:
        # Our exit path (tracebacks, atexit, flushing) must not run patched builtins.
        builtins.__dict__.clear()
        builtins.__dict__.update(saved_builtins)
    if failure is not None:
        _report(failure)
    return rc


def _child(job, cfg, libc):
    _prctl(libc, PR_SET_PDEATHSIG, signal.SIGKILL)
    _prctl(libc, PR_SET_DUMPABLE, 1)  # normal /proc/self for the snippet itself
    lim = cfg["limits"]
    cpu = max(1, math.ceil(lim["cpu_s"]))
    mem = int(lim["memory_mb"]) * MIB
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_FSIZE, (mem, mem))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    stdin_path = os.path.join(cfg["workdir"], ".sandbox-stdin")
    with open(stdin_path, "w", encoding="utf-8") as fh:
        fh.write(job.get("stdin", ""))
    fd = os.open(stdin_path, os.O_RDONLY)
    os.unlink(stdin_path)
    os.dup2(fd, 0)
    os.closerange(3, 65536)
    faulthandler.enable()  # a segfault prints the Python stack to stderr
    sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115 - lives for the process
    sys.stdout.reconfigure(encoding="utf-8", errors="backslashreplace", line_buffering=True)
    sys.stderr.reconfigure(encoding="utf-8", errors="backslashreplace")
    _STREAMS.extend((sys.stdout, sys.stderr))  # flushed at exit even if replaced
    sys.argv = ["<snippet>"]
    _exit_fast(_run_snippet(job["code"]))


def _exit_fast(code):
    """Do what interpreter exit does for the snippet (join non-daemon threads, run
    atexit, flush), then skip finalisation: tearing down a forked interpreter
    touches every page and costs ~20 ms of copy-on-write faults."""
    try:
        threading = sys.modules.get("threading")
        if threading is not None:
            threading._shutdown()
        atexit._run_exitfuncs()
    except BaseException:  # the snippet's exit handlers may raise anything
        traceback.print_exc()
        code = code or 1
    for stream in {sys.stdout, sys.stderr, *_STREAMS}:
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def _wait_child(pid, timeout_s):
    """Wait for the child, the deadline, or a stop request on stdin; kill if needed."""
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:  # kernel < 5.3: poll instead
        pidfd = None
    deadline = time.monotonic() + timeout_s
    reason = "exit"
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            reason = "timeout"
            break
        watch = [0] if pidfd is None else [pidfd, 0]
        ready, _, _ = select.select(watch, [], [], left if pidfd is not None else min(left, 0.005))
        if pidfd in ready or (pidfd is None and os.waitid(
                os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None):
            break
        if 0 in ready:
            reason = "stopped"
            break
    if reason != "exit":
        os.kill(pid, signal.SIGKILL)
    _, status, usage = os.wait4(pid, 0)
    if pidfd is not None:
        os.close(pidfd)
    return reason, status, usage


def _children():
    tid = os.getpid()
    try:
        with open(f"/proc/self/task/{tid}/children") as fh:
            return [int(p) for p in fh.read().split()]
    except OSError:
        return []


def _sweep(kill_all):
    """Kill everything the snippet left, then reap what was re-parented to us.

    ``kill_all``: we are alone with the snippet under our uid (a private uid, or a
    PID namespace), so kill(-1) reaches exactly the snippet's processes, in one
    pass the kernel makes atomic against concurrent forks. Otherwise (user-mode
    fallback, where kill(-1) would hit the user's other programs) walk the
    subreaper's children; a fork bomb busy on all CPUs slows that walk down.
    """
    if kill_all:
        for _ in range(3):
            try:
                os.kill(-1, signal.SIGKILL)
            except ProcessLookupError:  # nothing left to signal
                break
    for _ in range(1000):
        kids = _children()
        if not kids:
            return
        for pid in kids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for _ in kids:
            try:
                os.waitpid(-1, 0)
            except ChildProcessError:
                break


def main():
    global CTL_FD
    cfg = json.loads(sys.argv[1])
    CTL_FD = int(sys.argv[2])
    libc, ready = _setup(cfg)
    _write_ctl(ready)
    job = _read_job()
    _write_ctl({"accepted": True})  # from here on the job counts as started
    pid = os.fork()
    if pid == 0:
        _child(job, cfg, libc)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # only the snippet may hold the output pipes, so the
    os.dup2(devnull, 2)  # pool sees EOF once the snippet's process tree is gone
    reason, status, usage = _wait_child(pid, float(job["timeout_s"]))
    _sweep(bool(cfg.get("kill_all")))
    _write_ctl({
        "reason": reason,
        "exit": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
        "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "maxrss_kb": usage.ru_maxrss,
    })
    os._exit(0)


if __name__ == "__main__":
    main()
