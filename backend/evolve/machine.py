"""Which CPU a held-out evaluation ran on. llama.cpp's kernels differ by CPU (AVX2, AVX-512,
AMX), so the same model and greedy decoding can take another token at a near-tie: the embedded
model's greedy answers on GSM8K test 100-199 differed on 19 of 100 problems between an AVX-512
and an AVX2 machine (docs/EVOLVE.md). A round compared problem by problem with round 0 must be
measured on the same kind of CPU, so each result file records it."""

from __future__ import annotations

import functools
import platform
from collections.abc import Collection, Mapping
from pathlib import Path

#: the widest vector extension first: the one llama.cpp's kernels use
_WIDTHS = (("amx_tile", "amx"), ("avx512f", "avx512"), ("avx2", "avx2"))


@functools.cache
def cpu_name() -> str:
    """This machine's CPU as :func:`describe_cpu` words it ('AMD EPYC (avx2)'); without
    /proc/cpuinfo, the platform's processor string."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    return describe_cpu(text)


def describe_cpu(cpuinfo: str) -> str:
    """'<model name> (<widest vector extension>)' from the text of /proc/cpuinfo."""
    name, flags = "", set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and not name:
            name = value.strip()
        elif key.strip() == "flags":
            flags = set(value.split())
            break
    width = next((w for flag, w in _WIDTHS if flag in flags), None)
    name = name or platform.processor() or platform.machine() or "unknown CPU"
    return f"{name} ({width})" if width else name


def mismatch_note(round0: Collection[str], this_round: Collection[str]) -> str | None:
    """The warning for a round whose held-out results ran on other CPUs than round 0's, or
    None (the same CPUs, or a side that did not record its CPU)."""
    base, now = sorted(set(round0)), sorted(set(this_round))
    if not base or not now or base == now:
        return None
    return (f"held-out evaluation on {' + '.join(now)}, round 0 on {' + '.join(base)}: llama.cpp's "
            "numerics differ by CPU, so won/lost against round 0 mixes the policy's change with the "
            "machine's; measure both on one machine (bench/evolve_same_machine.py)")


def split_note(by_kind: Mapping[str, Collection[str]]) -> str | None:
    """The warning for a round whose own held-out evaluations (greedy, search, self-consistency)
    ran on different CPUs, or None (one CPU, or fewer than two evaluations that recorded one):
    the search's won/lost against greedy or self-consistency then mixes methods and machines."""
    named = {kind: sorted(set(cpus)) for kind, cpus in by_kind.items() if cpus}
    if len({tuple(cpus) for cpus in named.values()}) < 2:
        return None
    where = ", ".join(f"{kind} on {' + '.join(cpus)}" for kind, cpus in named.items())
    return (f"this round's evaluations ran on different CPUs ({where}): comparing them with each other "
            "mixes the methods with the machines")
