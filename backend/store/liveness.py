"""Who writes a run and whether that writer still lives: ``recover`` closes only runs
whose writer is gone, and a run another live process writes is never deleted under it."""

from __future__ import annotations

import os
import socket
from pathlib import Path


def process_owner() -> str:
    """An id for this process that a later process can check for liveness."""
    return f"{socket.gethostname()}:{os.getpid()}:{_process_start(os.getpid())}"


def _process_start(pid: int) -> str:
    """Start time of ``pid`` in clock ticks (Linux), so a reused pid is not mistaken for it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "?"
    return stat.rsplit(")", 1)[1].split()[19]


def owner_alive(owner: str) -> bool:
    host, _, rest = owner.partition(":")
    pid_s, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid_s.isdigit():
        return True  # another machine's process: we cannot tell, so we leave it alone
    pid = int(pid_s)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return start in ("?", "") or _process_start(pid) == start


def _is_dead(owner: str, lease_until: float, now: float) -> bool:
    """Whether a running run's writer is gone: its lease ran out, or (on this host) its
    process no longer exists. A run with no lease (written before leases) goes by the
    process alone, and another host's process is only judged by its lease."""
    if lease_until and now > lease_until:
        return True
    return not owner_alive(owner)
