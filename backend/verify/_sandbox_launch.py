"""How a sandbox worker process is started: the bubblewrap command line or the fallback.

Two isolation modes (see docs/SANDBOX.md):

* ``"bwrap"``: bubblewrap gives each worker fresh PID, network, IPC, UTS, cgroup and
  mount namespaces; the filesystem is read-only ``/usr`` plus the Python install,
  with a private size-capped tmpfs ``/tmp`` as working directory. No home directory,
  no repository, nothing from ``/etc`` but the loader cache and the timezone.
  ``--die-with-parent`` and the PID namespace mean that killing the bwrap process
  kills every process the snippet started.
* ``"rlimits"``: no bwrap (or it does not work here). The worker runs on the host
  filesystem in a throwaway directory, in its own session, with rlimits; it tries to
  enter a private network namespace (reported as ``"rlimits+netns"``).

When the pool runs as root, each worker drops to its own random unprivileged uid:
root ignores RLIMIT_NPROC (so a fork bomb would not be stopped), and a uid of its
own lets the pool find and kill everything the snippet left behind.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import secrets
import shutil
import signal
import site
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

log = logging.getLogger(__name__)

IsolationRequest = Literal["auto", "bwrap", "rlimits"]
WORKER_MARKER = "canopy-sandbox-worker"
# Random per-worker uids come from this range when running as root: far above any
# uid a distribution hands out, below the 2**31 limit some tools assume.
_UID_LOW, _UID_HIGH = 1_500_000_000, 2_000_000_000
_ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/localtime")
_TOP_DIRS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "USER": "sandbox",
    "LOGNAME": "sandbox",
    # BLAS/OpenMP thread pools reserve address space per thread and would trip
    # RLIMIT_AS; snippets are small, one thread is plenty.
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    # glibc reserves a 64 MB malloc arena per thread, which counts against RLIMIT_AS.
    "MALLOC_ARENA_MAX": "2",
}


@dataclass(frozen=True)
class LaunchPlan:
    """Everything needed to Popen one worker, plus what to clean up afterwards."""

    argv: list[str]
    env: dict[str, str]
    isolation: str
    host_workdir: str | None  # fallback only: removed after the job
    uid: int | None  # per-worker uid when root, else None


@functools.cache
def worker_source() -> str:
    return (Path(__file__).with_name("_sandbox_worker.py")).read_text(encoding="utf-8")


def python_paths() -> list[str]:
    """Site-packages directories the worker adds to ``sys.path`` (it runs with -S,
    so no .pth hooks run inside the sandbox and startup stays fast)."""
    paths = list(site.getsitepackages())
    return [p for p in dict.fromkeys(paths) if os.path.isdir(p)]


def _python_mounts() -> list[str]:
    """Host directories the interpreter needs, minus those already under /usr."""
    exe = os.path.realpath(sys.executable)
    candidates = [sys.base_prefix, sys.prefix, sys.exec_prefix, os.path.dirname(exe),
                  os.path.dirname(sys.executable), *python_paths()]
    out: list[str] = []
    for path in sorted({os.path.realpath(p) for p in candidates if p}):
        if path == "/usr" or path.startswith("/usr/"):
            continue
        if any(path.startswith(parent + "/") for parent in out):
            continue
        out.append(path)
    return out


def _bwrap_prefix(tmpfs_bytes: int, as_root: bool) -> list[str]:
    args = ["bwrap", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
            "--unshare-cgroup-try", "--die-with-parent", "--new-session",
            "--hostname", "sandbox", "--ro-bind", "/usr", "/usr"]
    if not as_root:
        # Unprivileged: a user namespace is what lets bwrap build the others; it
        # also makes RLIMIT_NPROC count only this sandbox's processes.
        args += ["--unshare-user", "--cap-drop", "ALL"]
    for top in _TOP_DIRS:
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    for path in _ETC_FILES:
        if os.path.exists(path):
            args += ["--ro-bind", path, path]
    args += ["--proc", "/proc", "--dev", "/dev",
             "--perms", "1777", "--size", str(tmpfs_bytes), "--tmpfs", "/tmp",
             # multiprocessing's semaphores need a writable /dev/shm
             "--perms", "1777", "--size", str(tmpfs_bytes), "--tmpfs", "/dev/shm"]
    made: set[str] = set()
    for path in _python_mounts():
        # bwrap would create missing parents (e.g. /root for a pyenv install) as
        # 0700 root, which a worker that drops to its own uid cannot traverse.
        for parent in reversed(Path(path).parents):
            if str(parent) != "/" and str(parent) not in made:
                made.add(str(parent))
                args += ["--perms", "0755", "--dir", str(parent)]
        args += ["--ro-bind", path, path]
    args += ["--chdir", "/tmp", "--clearenv"]
    for key, value in {**_ENV, "HOME": "/tmp", "TMPDIR": "/tmp"}.items():
        args += ["--setenv", key, value]
    return args


def _python_argv(config_json: str) -> list[str]:
    # -I: ignore PYTHON* env and user site; -S: no site hooks; -B: no .pyc writes.
    return [sys.executable, "-I", "-S", "-B", "-c", worker_source(), config_json]


def bwrap_argv(tmpfs_bytes: int, command: list[str]) -> list[str]:
    return _bwrap_prefix(tmpfs_bytes, os.geteuid() == 0) + command


@functools.cache
def bwrap_works() -> bool:
    """Probe once per process: bwrap may be installed yet unusable (no user
    namespaces in a container, AppArmor restrictions, ...)."""
    if shutil.which("bwrap") is None:
        return False
    probe = bwrap_argv(16 << 20, [sys.executable, "-I", "-S", "-c", "print('ok')"])
    try:
        done = subprocess.run(probe, capture_output=True, timeout=30, check=False,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("bwrap probe failed: %s", exc)
        return False
    if done.returncode != 0 or done.stdout.strip() != b"ok":
        log.warning("bwrap is installed but unusable here (rc=%s): %s", done.returncode,
                    done.stderr.decode(errors="replace").strip()[:500])
        return False
    return True


def choose_isolation(requested: IsolationRequest) -> str:
    if requested == "rlimits":
        return "rlimits"
    if bwrap_works():
        return "bwrap"
    if requested == "bwrap":
        raise RuntimeError("isolation='bwrap' requested but bubblewrap is missing or "
                           "unusable; install it (apt-get install bubblewrap)")
    log.warning("bubblewrap unavailable: sandbox falls back to rlimits only (no "
                "filesystem isolation; see docs/SANDBOX.md)")
    if os.geteuid() == 0 and not python_readable_by_others():
        log.warning("the Python install under %s is not readable by other users: in the "
                    "rlimits fallback snippets can import only preloaded modules",
                    sys.base_prefix)
    return "rlimits"


def plan_worker(isolation: str, limits: dict, preload: list[str], tag: str = "") -> LaunchPlan:
    """Build the command line for one worker; creates its host workdir in fallback.

    ``tag`` identifies the pool in the worker's command line (``ps``), which every
    process the snippet forks inherits: operators and tests can find strays by it.
    """
    as_root = os.geteuid() == 0
    uid = _UID_LOW + secrets.randbelow(_UID_HIGH - _UID_LOW) if as_root else None
    tmpfs_bytes = int(limits["memory_mb"]) << 20
    cfg = {"preload": preload, "paths": python_paths(), "limits": limits,
           "uid": uid, "gid": uid, "marker": WORKER_MARKER, "pool": tag,
           # kill(-1) from the worker reaches only the snippet when the worker has a
           # private uid or PID namespace; in a user-mode fallback it would not.
           "kill_all": isolation == "bwrap" or uid is not None}
    if isolation == "bwrap":
        cfg.update(workdir="/tmp", netns=False, nproc_relative=False)
        argv = bwrap_argv(tmpfs_bytes, _python_argv(json.dumps(cfg)))
        return LaunchPlan(argv, {**_ENV, "HOME": "/tmp"}, "bwrap", None, uid)
    workdir = tempfile.mkdtemp(prefix="canopy-sandbox-")
    cfg.update(workdir=workdir, netns=True, nproc_relative=not as_root)
    env = {**_ENV, "HOME": workdir, "TMPDIR": workdir}
    return LaunchPlan(_python_argv(json.dumps(cfg)), env, "rlimits", workdir, uid)


def kill_uid(uid: int) -> int:
    """SIGKILL every process owned by ``uid`` until none is left (fallback, root).

    Safe only because the uid is a random one reserved for a single worker.
    """
    killed = 0
    for _ in range(100):
        pids = [pid for pid in _pids() if _proc_uid(pid) == uid]
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass
    return killed


def _pids() -> list[int]:
    return [int(e) for e in os.listdir("/proc") if e.isdigit()]


def _proc_uid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Uid:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def remove_uid_files(uid: int, roots: tuple[str, ...] = ("/tmp", "/var/tmp", "/dev/shm")) -> None:
    """Fallback, root: delete what the worker's private uid left in shared
    world-writable directories, so the next run cannot see it."""
    for root in roots:
        try:
            entries = list(os.scandir(root))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.stat(follow_symlinks=False).st_uid != uid:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    os.unlink(entry.path)
            except OSError:
                continue


def python_readable_by_others() -> bool:
    """Whether a uid-dropped fallback worker can import modules after set-up:
    every directory above the interpreter's prefix must be world-searchable."""
    for path in _python_mounts() or [sys.base_prefix]:
        for parent in [Path(path), *Path(path).parents]:
            try:
                if not parent.stat().st_mode & 0o001:
                    return False
            except OSError:
                return False
    return True


def remove_workdir(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)
    if os.path.exists(path):
        log.warning("could not fully remove sandbox workdir %s", path)
