"""`canopy import`, `runs` and `export` over one history file."""

import json

from backend.cli import main
from backend.events import read_jsonl, write_jsonl
from tests.factories import small_run


def test_import_list_export_round_trip(tmp_path, capsys):
    db = str(tmp_path / "h.sqlite")
    src = tmp_path / "run.jsonl"
    write_jsonl(small_run(), src)

    assert main(["import", str(src), "--db", db]) == 0
    run_id = capsys.readouterr().out.strip().rsplit(" ", 1)[-1]

    assert main(["runs", "--json", "--db", db]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in rows] == [run_id]
    assert rows[0]["answer"] == "2" and rows[0]["correct"] is True

    out = tmp_path / "back.jsonl"
    assert main(["export", run_id, "--out", str(out), "--db", db]) == 0
    _, events = read_jsonl(out)
    assert events == small_run()


def test_import_of_a_broken_file_says_why_and_stores_nothing(tmp_path, capsys):
    db = str(tmp_path / "h.sqlite")
    src = tmp_path / "broken.jsonl"
    events = small_run()
    write_jsonl(events[:3] + events[4:], src)  # a gap in seq
    assert main(["import", str(src), "--db", db]) == 2
    assert "out of order" in capsys.readouterr().err
    assert main(["runs", "--json", "--db", db]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_export_of_an_unknown_run_is_a_clear_error(tmp_path, capsys):
    assert main(["export", "nope", "--db", str(tmp_path / "h.sqlite")]) == 2
    assert "no run with id 'nope'" in capsys.readouterr().err


def test_import_of_the_official_lips_proof_tree(tmp_path, capsys):
    db = str(tmp_path / "h.sqlite")
    assert main(["import", "assets/problems/neqlips/proof.json", "--db", db]) == 0
    capsys.readouterr()
    assert main(["runs", "--json", "--db", db]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["algorithm"] == "lips" and row["nodes"] == 443
