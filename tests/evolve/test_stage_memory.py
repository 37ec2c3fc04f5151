"""Each evolve stage records its own peak resident memory (the issue's 12 GB budget) from the
kernel's high-water mark, reset when the stage starts: a stage after a big one must not
inherit the big one's peak."""

from __future__ import annotations

import sys

import pytest

from backend.evolve.manifest import read_json
from backend.evolve.memory import peak_rss_mb, release_freed_memory, reset_peak_rss, rss_mb
from backend.evolve.report import peak_cell, peak_rss
from backend.evolve.stages import _done, _finish

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="VmHWM and clear_refs are Linux's")


def _touch(mb: int) -> bytearray:
    block = bytearray(mb * 2**20)
    for i in range(0, len(block), 4096):  # make every page resident
        block[i] = 1
    return block


@linux
def test_a_stage_records_its_own_peak_not_the_one_before_it(tmp_path):
    big = _touch(300)
    del big
    before = peak_rss_mb()
    assert _done(tmp_path / "small.json") is None  # the stage will run: its window starts here
    small = _touch(20)
    _finish(tmp_path / "small.json", {"seconds": 0.1})
    del small
    recorded = read_json(tmp_path / "small.json")["peak_rss_mb"]
    if not reset_peak_rss():
        pytest.skip("this kernel does not let a process reset its peak RSS")
    assert recorded < before - 200  # the 300 MB block of before the stage is not its peak


@linux
def test_a_stage_already_done_is_read_back_with_its_recorded_peak(tmp_path):
    _done(tmp_path / "s.json")
    _finish(tmp_path / "s.json", {"seconds": 1.0})
    first = read_json(tmp_path / "s.json")["peak_rss_mb"]
    assert first and first > 10
    assert _done(tmp_path / "s.json") == {"seconds": 1.0, "peak_rss_mb": first}


def _fragments(count: int, size: int = 50_000) -> list[bytearray]:
    """Many heap blocks below malloc's mmap threshold, every page touched: what a training
    step's activations and optimiser state look like to the allocator."""
    return [bytearray(b"x" * size) for _ in range(count)]


@linux
def test_a_stage_about_to_run_gets_back_what_earlier_stages_freed(tmp_path):
    """Without the release, freed small blocks stay resident (glibc keeps them for reuse): the
    evaluation after training read 10.2 GB. ``_done`` hands them back before the stage runs."""
    if not release_freed_memory():
        pytest.skip("no malloc_trim here (not glibc)")
    start = rss_mb()
    blocks = _fragments(6000)  # about 300 MB
    keep = blocks[::100]  # a few survivors pin the heap's top: no plain shrink gives it back
    del blocks
    held = rss_mb()
    assert held > start + 200  # freed, yet still resident
    assert _done(tmp_path / "next.json") is None
    assert rss_mb() < held - 200
    assert len(keep) == 60


def test_the_report_shows_the_rounds_highest_stage_peak():
    row = peak_rss(search={"peak_rss_mb": 900.0}, fine_tune={"peak_rss_mb": 5400.5}, eval={})
    assert row == {"peak_rss_mb": {"search": 900.0, "fine_tune": 5400.5, "eval": None}}
    assert peak_cell(row) == "5400.5"
    assert peak_cell({"peak_rss_mb": {"search": None}}) == "–"  # stages saved before it was recorded
    assert peak_cell({}) == "–"
