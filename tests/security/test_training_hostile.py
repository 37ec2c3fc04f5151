"""The Training tab against run folders its user does not control (a shared runs folder, a
hand-edited manifest): values that size work, wrong types, NaN, 5,000-digit numbers, deep
nesting, pipes and sparse files; and a page on the network probing for folders elsewhere."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from backend.evolve import runs_index as ri
from tests.evolve.run_dirs import finished_run
from ui import training_runs as tr


def _edit(path: Path, change) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data), encoding="utf-8")


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_a_manifest_planning_millions_of_rounds_is_refused_before_any_round_is_looked_at(tmp_path):
    run = finished_run(tmp_path / "runs" / "big")
    _edit(run / "manifest.json", lambda m: m["settings"].update(rounds=3_000_000))
    start = time.perf_counter()
    view = tr.run_view(run)  # polled every 3 s: it looped over three million round folders
    assert time.perf_counter() - start < 1.0
    assert "cannot be read" in view.about and "rounds is not a whole number" in view.about
    assert view.figure == tr.NO_ROUNDS


HOSTILE = {
    "rounds NaN": lambda r: _replace(r / "manifest.json", '"rounds": 2', '"rounds": NaN'),
    "rounds text": lambda r: _edit(r / "manifest.json", lambda m: m["settings"].update(rounds="2")),
    "rounds true": lambda r: _edit(r / "manifest.json", lambda m: m["settings"].update(rounds=True)),
    "start infinite": lambda r: _replace(r / "manifest.json", '"train_start": 0', '"train_start": 1e999'),
    "5000 digits": lambda r: _replace(r / "manifest.json", '"seed": 0', '"seed": ' + "9" * 5000),
    "deep nesting": lambda r: (r / "manifest.json").write_text(
        '{"format": "canopy-evolve", "settings": {"rounds": 1}, "x": ' + "[" * 100_000 + "]" * 100_000 + "}",
        encoding="utf-8"),
    "problems a number": lambda r: _edit(r / "manifest.json", lambda m: m.update(train_problems=5)),
    "models text": lambda r: _edit(r / "manifest.json", lambda m: m.update(models="x")),
    "row round markup": lambda r: _edit(r / "round-1" / "report.json",
                                        lambda row: row.update(round="<a href='http://e.invalid'>1</a>")),
    "row without round": lambda r: (r / "round-1" / "report.json").write_text('{"kind": 1}'),
    "row NaN": lambda r: _replace(r / "round-1" / "report.json", '"sft_examples": 3', '"sft_examples": NaN'),
    "row text number": lambda r: _edit(r / "round-2" / "report.json", lambda row: row.update(ppm_pairs="x")),
    "base eval shape": lambda r: (r / "round-0" / "eval.json").write_text('{"greedy": 1}', encoding="utf-8"),
}


@pytest.mark.parametrize("attack", sorted(HOSTILE))
def test_a_malformed_run_is_unreadable_with_a_reason_and_the_other_runs_still_list(tmp_path, attack):
    root = tmp_path / "runs"
    good, bad = finished_run(root / "good"), finished_run(root / "bad")
    HOSTILE[attack](bad)
    listed = dict((path, label) for label, path in tr.run_choices(root))  # raised for the whole folder
    assert listed[str(good)] == "good · finished: 2 round(s)"
    assert listed[str(bad)].startswith("bad · unreadable: ")
    view = tr.run_view(bad)  # raised (ValueError, KeyError, TypeError, RecursionError) or drew it
    assert view.about.startswith("⚠ ") and "cannot be read" in view.about and view.figure == tr.NO_ROUNDS


def test_pipes_and_sparse_files_in_a_run_folder_are_not_read(tmp_path):
    root = tmp_path / "runs"
    fifo = root / "fifo"
    fifo.mkdir(parents=True)
    os.mkfifo(fifo / "manifest.json")  # opening it would block the poll for ever
    sparse = finished_run(root / "sparse")
    with open(sparse / "round-1" / "report.json", "wb") as handle:
        handle.truncate(10 << 30)  # 10 GB, no blocks
    piped = finished_run(root / "piped")
    (piped / "round-2" / "eval.json").unlink()
    os.mkfifo(piped / "round-2" / "eval.json")
    start = time.perf_counter()
    listed = {Path(path).name: label for label, path in tr.run_choices(root)}
    assert time.perf_counter() - start < 2.0
    assert "fifo" not in listed
    assert "report.json is over 16 MB" in listed["sparse"]
    assert listed["piped"] == "piped · finished: 2 round(s)"  # its eval.json (a pipe) was not opened


def test_a_network_server_refuses_outside_folders_without_saying_which_exist(tmp_path):
    """A page on the network learnt which folders exist on the server ("No folder X" for a
    missing one, "--runs-dir only" for an existing one) and read any manifest.json it named."""
    settings = tr.TrainingSettings(tmp_path / "runs", anywhere=False)
    (tmp_path / "runs").mkdir()
    (tmp_path / "secret").mkdir()
    answers = set()
    for typed in (str(tmp_path / "secret"), str(tmp_path / "missing"), "../secret", "../missing"):
        with pytest.raises(tr.Refused) as refused:
            tr.open_folder(settings, typed)
        answers.add(str(refused.value))
    assert len(answers) == 1 and "--runs-dir only" in answers.pop()
    outside = tmp_path / "other" / "round-1" / "policy"
    outside.mkdir(parents=True)
    (tmp_path / "other" / "manifest.json").write_text("not json: a file elsewhere", encoding="utf-8")
    with pytest.raises(tr.Refused) as refused:
        tr.allowed_model(settings, str(outside), "policy")
    assert "--runs-dir only" in str(refused.value) and "JSON" not in str(refused.value)


def test_megabytes_in_one_manifest_field_do_not_reach_the_page(tmp_path):
    run = finished_run(tmp_path / "runs" / "wordy")
    _edit(run / "manifest.json", lambda m: (m.update(created="<b>" * 1_000_000),
                                             m["settings"].update(search={"k": "x" * 3_000_000})))
    _edit(run / "round-1" / "ppm.json", lambda made: made.update(why="y" * 3_000_000))
    view = tr.run_view(run)  # sent to every open page, again after each change
    assert len(view.about) < 5_000 and len(view.progress) < 5_000
    assert "<b>" not in view.about and "no PPM trained&#58; yyy" in view.progress


def test_a_folder_of_very_many_files_is_looked_at_only_up_to_a_bound(tmp_path, monkeypatch):
    """Each poll of each open page counted every file (a million: seconds of the server's time)."""
    monkeypatch.setattr(ri, "MAX_ENTRIES", 50)
    root = tmp_path / "runs"
    run = finished_run(root / "r")
    trees = run / "round-2" / "trees"
    for i in range(300):
        (trees / f"extra_{i}.jsonl.gz").touch()
        (root / f"junk_{i}").mkdir()
    assert ri.read_run(run).round(2).searched <= 50
    assert len(list(ri.list_runs(root))) <= 1
