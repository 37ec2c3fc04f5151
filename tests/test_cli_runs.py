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


def _stored_run(tmp_path):
    from backend.store import SQLiteStore

    db = tmp_path / "h.sqlite"
    store = SQLiteStore(db)
    store.import_events("r1", small_run())
    store.close()
    return db


def _one_error_line(err):
    lines = err.strip().splitlines()
    return len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err


def test_pairs_of_a_damaged_stored_run_is_one_error_line(tmp_path, capsys):
    import sqlite3

    db = _stored_run(tmp_path)
    con = sqlite3.connect(db)
    con.execute("UPDATE events SET json = '{' WHERE run_id = 'r1' AND seq = 2")
    con.commit()
    con.close()
    assert main(["pairs", "r1", "--db", str(db), "--out", str(tmp_path / "p.jsonl")]) == 2
    err = capsys.readouterr().err
    assert _one_error_line(err) and "seq 2 is damaged" in err


def test_pairs_turns_a_database_failure_into_one_error_line(tmp_path, capsys, monkeypatch):
    import sqlite3

    from backend.store import SQLiteStore

    db = _stored_run(tmp_path)

    def failing(self, run_id, after=-1, limit=None):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(SQLiteStore, "read", failing)
    assert main(["pairs", "r1", "--db", str(db), "--out", str(tmp_path / "p.jsonl")]) == 2
    err = capsys.readouterr().err
    assert _one_error_line(err) and "history database: disk I/O error" in err
    assert not (tmp_path / "p.jsonl").exists()


def test_runs_table_shows_typed_text_literally(tmp_path, capsys):
    """A problem or answer holding rich markup ("[/x]") crashed `canopy runs` (MarkupError) or
    vanished from the table ("[a]"); it is shown as typed."""
    import dataclasses

    from backend import events as ev

    db = str(tmp_path / "h.sqlite")
    src = tmp_path / "run.jsonl"
    events = [
        dataclasses.replace(e, problem="[/x] odd [bold]1+1?") if isinstance(e, ev.RunStarted) else e
        for e in small_run()
    ]
    write_jsonl(events, src)
    assert main(["import", str(src), "--db", db]) == 0
    capsys.readouterr()
    assert main(["runs", "--db", db]) == 0
    out = capsys.readouterr().out  # the column folds: look for the pieces
    assert "[/x]" in out and "[bold]1+1?" in out
