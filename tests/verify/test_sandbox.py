"""Tests for backend/verify/sandbox.py: the API contract, isolation between runs,
worker replacement, and the hostile corpus in tests/verify/hostile/.

Every test runs in each isolation mode this machine supports ("bwrap" when
bubblewrap works, and the rlimits fallback). Leftover processes are found by
scanning /proc (stdlib only): a snippet's processes either carry the pool's tag in
their command line (forks keep the worker's argv) or the per-case marker (execs).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from backend.verify._sandbox_launch import bwrap_works
from backend.verify.sandbox import ExecResult, SandboxLimits, SandboxPool, default_pool, run_code

REPO = Path(__file__).resolve().parents[2]
HOSTILE = Path(__file__).with_name("hostile")
LIMITS = SandboxLimits(timeout_s=5, cpu_s=5, memory_mb=256, max_procs=32, max_output_bytes=64_000)
SECRET_NAME = "CANOPY_SANDBOX_TEST_SECRET"
SECRET_VALUE = f"s3cret-{secrets.token_hex(8)}"
# A root fallback worker drops to a private uid; when the interpreter lives under a
# 0700 home (pyenv as root) it can import only what was loaded before the drop.
FALLBACK_PRELOAD = ("os", "sys", "time", "signal", "socket", "subprocess", "ctypes", "threading",
                    "resource", "json", "builtins", "math", "encodings.idna")
FALLBACK_MODE = "rlimits-root" if os.geteuid() == 0 else "rlimits-user"
MODES = (["bwrap"] if bwrap_works() else []) + [FALLBACK_MODE]


# -- process scanning -------------------------------------------------------------
def _proc_table() -> dict[int, tuple[int, bytes]]:
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        table[int(entry)] = (int(stat.rsplit(")", 1)[1].split()[1]), cmdline)
    return table


def _leftovers(pool: SandboxPool, marker: str | None = None) -> list[str]:
    """Processes from finished runs: tagged but not under an idle worker, or marked."""
    table = _proc_table()
    allowed = {w.proc.pid for w in list(pool._ready) + list(pool._starting)}
    grew = True
    while grew:
        kids = {pid for pid, (ppid, _) in table.items() if ppid in allowed} - allowed
        allowed |= kids
        grew = bool(kids)
    bad = []
    for pid, (_, cmd) in table.items():
        tagged = pool.tag.encode() in cmd and pid not in allowed
        if tagged or (marker and marker.encode() in cmd):
            bad.append(f"{pid}: {cmd[:120]!r}")
    return bad


def assert_nothing_left(pool: SandboxPool, marker: str | None = None, wait_s: float = 5.0) -> None:
    deadline = time.monotonic() + wait_s
    while (bad := _leftovers(pool, marker)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not bad, f"processes left behind: {bad}"


def assert_serves(pool: SandboxPool) -> None:
    res = pool.run("print(6 * 7)")
    assert res.ok and res.stdout == "42\n", res


# -- fixtures ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def secrets_planted():
    """A secret env var in this process and a secret file in the real home dir."""
    home_file = Path.home() / f".canopy-sandbox-secret-{secrets.token_hex(4)}"
    home_file.write_text(SECRET_VALUE)
    old = os.environ.get(SECRET_NAME)
    os.environ[SECRET_NAME] = SECRET_VALUE
    try:
        yield home_file
    finally:
        home_file.unlink(missing_ok=True)
        if old is None:
            os.environ.pop(SECRET_NAME, None)
        else:
            os.environ[SECRET_NAME] = old


@pytest.fixture(scope="module", params=MODES)
def pool(request, secrets_planted):
    isolation = "bwrap" if request.param == "bwrap" else "rlimits"
    preload = () if isolation == "bwrap" else FALLBACK_PRELOAD
    with SandboxPool(size=2, limits=LIMITS, preload=preload, isolation=isolation) as p:
        p.mode = request.param
        yield p
    deadline = time.monotonic() + 5
    while (left := [c for _, c in _proc_table().values() if p.tag.encode() in c]) and \
            time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, f"close() left processes: {left}"


@pytest.fixture(scope="module")
def listener():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    yield srv.getsockname()[1]
    srv.close()


# -- API contract -----------------------------------------------------------------
def test_ok_error_stdin_and_result_shape(pool):
    res = pool.run("import math\nprint(math.comb(10, 3))")
    assert (res.status, res.stdout, res.returncode) == ("ok", "120\n", 0)
    assert res.ok and res.isolation.startswith(pool.isolation) and res.ms > 0
    assert set(res.to_dict()) == {"status", "stdout", "stderr", "ms", "isolation", "returncode"}

    err = pool.run("x = 1\nraise ValueError('bad step')")
    assert err.status == "error" and not err.ok and err.returncode == 1
    assert "ValueError: bad step" in err.stderr and 'File "<snippet>", line 2' in err.stderr
    assert "_sandbox_worker" not in err.stderr  # worker frames are hidden

    assert pool.run("import sys; sys.exit(3)").returncode == 3
    assert pool.run("import sys; sys.exit(3)").status == "error"
    assert pool.run("import sys; sys.exit(0)").ok
    assert pool.run("def f(:\n  pass").status == "error"
    echoed = pool.run("print(input()[::-1])", stdin="abc\n")
    assert echoed.stdout == "cba\n"
    assert pool.run("print('héllo ∑ 🚀')").stdout == "héllo ∑ 🚀\n"


def test_partial_output_survives_timeout(pool):
    res = pool.run("print('step 1 done')\nwhile True: pass", timeout_s=1.0)
    assert res.status == "timeout" and res.stdout == "step 1 done\n"
    assert "wall-clock timeout" in res.stderr


def test_nothing_leaks_between_runs(pool):
    setup = (
        "import builtins, math, os, sys\n"
        "builtins.len = lambda x: -1\n"
        "builtins.print = lambda *a, **k: None\n"
        "math.pi = 3\n"
        "sys.leak = 'x'\n"
        "LEAKED_GLOBAL = 1\n"
        "os.environ['LEAK'] = '1'\n"
        "open('leak.txt', 'w').write('x')\n"
        "open(os.path.expanduser('~/leak.txt'), 'w').write('x')\n"
        "os.makedirs('/dev/shm', exist_ok=True)\n"
    )
    if pool.mode != "rlimits-user":  # a user-mode fallback shares /tmp with the host
        setup += "open('/tmp/canopy-leak.txt', 'w').write('x')\nopen('/dev/shm/canopy-leak', 'w')\n"
    assert pool.run(setup).ok
    check = (
        "import math, os, sys\n"
        "assert len([1, 2]) == 2, 'len patched'\n"
        "assert math.pi > 3.14, 'math patched'\n"
        "assert not hasattr(sys, 'leak'), 'sys attr leaked'\n"
        "assert 'LEAKED_GLOBAL' not in globals(), 'global leaked'\n"
        "assert 'LEAK' not in os.environ, 'env leaked'\n"
        "for p in ['leak.txt', os.path.expanduser('~/leak.txt'), '/tmp/canopy-leak.txt',\n"
        "          '/dev/shm/canopy-leak']:\n"
        "    assert not os.path.exists(p), p\n"
        "print('clean')\n"
    )
    for _ in range(pool.size + 1):  # more runs than workers: reused slots are clean too
        res = pool.run(check)
        assert res.ok and res.stdout == "clean\n", res


def test_environment_is_scrubbed(pool, secrets_planted):
    res = pool.run("import os, json; print(json.dumps(dict(os.environ)))")
    assert res.ok and SECRET_NAME not in res.stdout and SECRET_VALUE not in res.stdout
    assert "PATH" in res.stdout


def test_map_keeps_order_and_threads_share_the_pool(pool):
    codes = [f"import time; time.sleep({0.05 * (5 - i)}); print({i})" for i in range(5)]
    assert [r.stdout for r in pool.map(codes)] == [f"{i}\n" for i in range(5)]
    assert pool.map([]) == []

    results: list[ExecResult] = []
    lock = threading.Lock()

    def call(i: int) -> None:
        res = pool.run(f"print({i} * {i})")
        with lock:
            results.append(res)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.stdout for r in results) == sorted(f"{i * i}\n" for i in range(6))


def _idle_families(pool: SandboxPool) -> list[set[int]]:
    """Pids of every process of every idle worker (bwrap: outer, init, python)."""
    deadline = time.monotonic() + 10
    while len(pool._ready) < pool.size and time.monotonic() < deadline:
        time.sleep(0.02)
    table = _proc_table()
    families = []
    for worker in list(pool._ready):
        family = {worker.proc.pid}
        for _ in range(5):
            family |= {pid for pid, (ppid, _) in table.items() if ppid in family}
        families.append(family)
    return families


def _signal_all(pids: set[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def test_dead_idle_worker_is_replaced(pool):
    for family in _idle_families(pool):  # e.g. the OOM killer took them
        _signal_all(family, signal.SIGKILL)
    time.sleep(0.2)
    assert_serves(pool)
    assert_nothing_left(pool)


def test_wedged_worker_is_killed_and_replaced(pool):
    if pool.mode != MODES[0]:
        pytest.skip("pool logic, not isolation: one mode is enough (each run costs ~3 s)")
    for family in _idle_families(pool):  # frozen workers never accept the job
        _signal_all(family, signal.SIGSTOP)
    start = time.monotonic()
    res = pool.run("print(6 * 7)", timeout_s=0.3)
    # The snippet never started on a frozen worker, so the pool retried it elsewhere.
    assert res.ok and res.stdout == "42\n", res
    assert time.monotonic() - start < 10
    assert_serves(pool)
    assert_nothing_left(pool)


def test_cpu_limit_is_enforced():
    limits = SandboxLimits(timeout_s=20, cpu_s=1, memory_mb=256)
    with SandboxPool(size=1, limits=limits, isolation="auto", preload=FALLBACK_PRELOAD) as p:
        res = p.run("while True: pass")
    assert res.status == "timeout" and "CPU time limit" in res.stderr
    assert res.ms < 10_000


def test_preload_is_imported_ahead_and_failures_are_tolerated(caplog):
    with SandboxPool(size=1, preload=("fractions", "no_such_module_xyz")) as p:
        res = p.run("import sys; print('fractions' in sys.modules)")
    assert res.stdout == "True\n"
    assert any("no_such_module_xyz" in r.getMessage() for r in caplog.records)


def test_closed_pool_refuses_work_and_limits_are_validated():
    p = SandboxPool(size=1)
    p.close()
    p.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        p.run("print(1)")
    with pytest.raises(ValueError):
        SandboxLimits(memory_mb=0)
    with pytest.raises(ValueError):
        SandboxPool(size=0)


def test_default_pool_and_run_code():
    assert default_pool() is default_pool()
    res = run_code("print(sum(range(10)))", timeout_s=5)
    assert res.ok and res.stdout == "45\n"


# -- hostile corpus -----------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    name: str
    code: str
    expect: frozenset[str]
    timeout: float
    modes: frozenset[str] | None
    needs: frozenset[str]
    stdout_has: str | None


def _load_case(path: Path) -> Case:
    meta: dict[str, str] = {}
    for line in path.read_text().splitlines():
        match = re.match(r"#\s*([\w-]+):\s*(.*)", line)
        if not match:
            break
        meta[match[1]] = match[2].strip()

    def as_set(key: str) -> frozenset[str]:
        return frozenset(s.strip() for s in meta.get(key, "").split(",") if s.strip())

    return Case(path.stem, path.read_text(), as_set("expect"), float(meta.get("timeout", 3)),
                as_set("modes") or None, as_set("needs"), meta.get("stdout-has"))


CASES = [_load_case(p) for p in sorted(HOSTILE.glob("*.py"))]


def test_corpus_is_well_formed():
    assert len(CASES) >= 25
    for case in CASES:
        assert case.expect, f"{case.name}: missing '# expect:'"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_snippet_is_contained(pool, case, listener, secrets_planted):
    if case.modes is not None and pool.mode not in case.modes:
        pytest.skip(f"not containable in {pool.mode} mode (see docs/SANDBOX.md)")
    if "netns" in case.needs and pool.isolation == "rlimits" and not _fallback_has_netns(pool):
        pytest.skip("no network namespace in this fallback")
    marker = f"{secrets.randbelow(10**6) + 7 * 10**6}.{secrets.randbelow(10**6):06d}"
    code = (case.code.replace("{{MARKER}}", marker).replace("{{PORT}}", str(listener))
            .replace("{{SECRET_NAME}}", SECRET_NAME).replace("{{SECRET_VALUE}}", SECRET_VALUE)
            .replace("{{HOME_FILE}}", str(secrets_planted)).replace("{{REPO}}", str(REPO)))
    start = time.monotonic()
    res = pool.run(code, timeout_s=case.timeout)
    elapsed = time.monotonic() - start
    try:
        assert res.status in case.expect, res
        assert "ESCAPED" not in res.stdout, res.stdout
        if case.stdout_has:
            assert case.stdout_has in res.stdout, res
        assert len(res.stdout) + len(res.stderr) <= LIMITS.max_output_bytes + 200
        assert elapsed < case.timeout + 5, f"took {elapsed:.1f} s"
        assert_nothing_left(pool, marker)
        assert_serves(pool)
    finally:
        for planted in (*Path.home().glob(f".canopy-sandbox-planted-{marker}"),
                        *REPO.glob(f"backend/verify/planted_{marker}.py")):
            planted.unlink()


def _fallback_has_netns(pool: SandboxPool) -> bool:
    return pool.run("print(1)").isolation == "rlimits+netns"


def test_configure_default_pool():
    from backend.verify import sandbox

    try:
        sandbox.configure_default_pool(size=1, preload=("fractions",))
        pool = default_pool()
        assert pool.size == 1 and pool.preload == ("fractions",)
        assert run_code("print(3)").stdout == "3\n"
    finally:
        sandbox._default_kwargs.clear()
        sandbox.configure_default_pool()
    assert default_pool().size >= 2
