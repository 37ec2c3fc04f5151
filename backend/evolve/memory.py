"""Peak resident memory of a block of code, sampled: what ``bench/evolve.py`` prints and the
fine-tuning tests bound (the issue's budget: under 12 GB for the 0.5B model's LoRA run)."""

from __future__ import annotations

import threading
from typing import Any


class PeakRSS:
    """``with PeakRSS() as peak: ...`` then ``peak.peak_mb`` (the most RSS seen) and
    ``peak.grew_mb`` (that minus the RSS at the start); sampled every ``every_s`` seconds."""

    def __init__(self, every_s: float = 0.02) -> None:
        import psutil

        self._proc = psutil.Process()
        self.every_s = every_s
        self.start_mb = self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _rss_mb(self) -> float:
        return self._proc.memory_info().rss / 2**20

    def _sample(self) -> None:
        while not self._stop.wait(self.every_s):
            self.peak_mb = max(self.peak_mb, self._rss_mb())

    def __enter__(self) -> PeakRSS:
        self.start_mb = self.peak_mb = self._rss_mb()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak_mb = max(self.peak_mb, self._rss_mb())

    @property
    def grew_mb(self) -> float:
        return self.peak_mb - self.start_mb


# --- a stage's peak, from the kernel's high-water mark ------------------------------------------
#
# A stage runs for minutes to hours; sampling RSS from a thread for that long is wasteful, and
# the kernel already keeps the peak (VmHWM). Linux resets it when "5" is written to
# /proc/self/clear_refs (proc(5)), so a stage's own peak is: reset at its start, read at its end.

_STATUS = "/proc/self/status"
_CLEAR_REFS = "/proc/self/clear_refs"


def reset_peak_rss() -> bool:
    """Start a new peak-RSS window for this process; False where the kernel does not allow it
    (then ``peak_rss_mb`` is the peak since the process started)."""
    try:
        with open(_CLEAR_REFS, "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _status_mb(field: str) -> float | None:
    """A memory line of /proc/self/status (kB there) in MB; None off Linux."""
    try:
        with open(_STATUS) as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def peak_rss_mb() -> float | None:
    """This process's peak resident memory in MB since the last ``reset_peak_rss`` (or its
    start); None off Linux. Child processes (the code sandbox, Ray workers) are not counted."""
    return _status_mb("VmHWM")


def rss_mb() -> float | None:
    """This process's resident memory now, in MB; None off Linux."""
    return _status_mb("VmRSS")


def release_freed_memory() -> bool:
    """Collect garbage, then hand the heap's free pages back to the kernel (glibc's
    ``malloc_trim``). A training stage frees gigabytes of activations and optimiser state
    in pieces small enough for malloc to keep; without this the process carried them into
    every later stage (10.2 GB read in an evaluation that needs about 1 GB). False where
    the C library has no ``malloc_trim`` (not glibc)."""
    import ctypes
    import ctypes.util
    import gc

    gc.collect()
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return False
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    trim(0)
    return True
