"""The one-file HTML replay (backend/html_replay.py): what goes into the file, and that no
content can break out of its data block. The page itself is tested in chromium
(tests/ui/test_browser_compare.py)."""

from __future__ import annotations

import json
import re

import pytest

from backend import events as ev
from backend.html_replay import (
    PRUNED_STYLE,
    default_styler,
    replay_document,
    script_json,
    styled_events,
)
from backend.store import SQLiteStore
from tests.factories import small_run

HOSTILE = '</script><script>window.pwned=1</script><img src=x onerror="window.pwned=2">\u2028&amp;<!--'


def data_block(html: str) -> dict:
    m = re.search(r'<script type="application/json" id="canopy-data">(.*?)</script>', html, re.S)
    assert m, "no data block"
    return json.loads(m.group(1))


def hostile_run() -> list[ev.Event]:
    events = small_run()
    return [
        ev.NodeAdded(seq=e.seq, t=e.t, id=e.id, parent=e.parent, kind=e.kind, text=HOSTILE, code=HOSTILE)
        if isinstance(e, ev.NodeAdded) and e.id == 2
        else e
        for e in events
    ]


def test_script_json_cannot_end_the_block_and_reads_back_the_same():
    text = script_json({"t": HOSTILE, "k": ["</SCRIPT >", "<!--<script>"]})
    assert "<" not in text and ">" not in text and "\u2028" not in text
    assert json.loads(text) == {"t": HOSTILE, "k": ["</SCRIPT >", "<!--<script>"]}


def test_the_document_holds_plotly_and_every_event_once():
    html = replay_document(hostile_run())
    # one data block, and the hostile text never appears raw anywhere in the file
    assert html.count('id="canopy-data"') == 1
    assert HOSTILE not in html and "window.pwned=1</script>" not in html
    data = data_block(html)
    assert [e["seq"] for e in data["events"]] == list(range(len(small_run())))
    assert data["events"][3]["text"] == HOSTILE  # the content is there, as data
    assert "Plotly" in html and "cdn" not in html.split("<script>", 1)[0].lower()
    assert "default-src 'none'" in html  # nothing may be fetched


def test_styles_are_the_apps():
    """The replay draws with the page's tables (one copy, in backend/vocabulary.py)."""
    from backend import vocabulary
    from ui.figure import PRUNED_STYLE as UI_PRUNED
    from ui.figure import STATUS_STYLE as UI_STATUS
    from ui.vocabulary import CPL_STYLES as UI_CPL

    assert UI_STATUS is vocabulary.RSTAR_STYLES and UI_CPL is vocabulary.CPL_STYLES
    assert tuple(PRUNED_STYLE) == tuple(UI_PRUNED)


def test_canopy_export_html_of_a_cpl_run_speaks_cpl(tmp_path, capsys):
    """`canopy export --html` of a CPL run draws plan steps and format failures in CPL's words,
    never rStar-Math's "code ran" / "code failed" (the command line has no page to ask)."""
    from backend.cli import main
    from tests.ui.scripted_runs import make_run

    search = make_run(algorithm="cpl", run_id="cpl1", rollouts=4, children=3, max_depth=3)
    search.run()
    db = tmp_path / "canopy.sqlite"
    store = SQLiteStore(db)
    store.import_events("cpl1", search.log.events)
    store.close()
    out = tmp_path / "cpl1.html"
    assert main(["export", "cpl1", "--html", str(out), "--db", str(db)]) == 0
    capsys.readouterr()
    data = data_block(out.read_text(encoding="utf-8"))
    used = {data["styles"][e["style"]][2] for e in data["events"] if "style" in e}
    assert "plan step (format ok)" in used and "not a plan step (format failure)" in used
    assert not used & {"code ran", "code failed", "code timed out"}
    rstar = data_block(replay_document(small_run()))  # an rStar run keeps its code words
    assert "code ran" in {s[2] for s in rstar["styles"]}


def test_events_carry_the_look_the_node_takes_after_them():
    events = small_run()  # node 3 states "2"; the run's known answer is "2"
    data, table = styled_events(events, default_styler(lambda a: a == "2"))
    looks = {(d["type"], d.get("id")): table[d["style"]][2] for d in data if "style" in d}
    assert looks[("node_added", 1)] == "unverified"
    assert looks[("node_verified", 1)] == "code ran"
    assert looks[("node_verified", 2)] == "code failed"
    assert looks[("node_verified", 3)] == "answer correct"  # graded, as the app draws it
    ungraded, table2 = styled_events(events, default_styler(None))
    last = [d for d in ungraded if d["type"] == "node_verified"][-1]
    assert table2[last["style"]][2] == "answer (ungraded)"


def test_a_pruned_node_is_drawn_pruned_from_its_prune_event():
    events = small_run()[:-1]
    last = events[-1]
    events.append(ev.UserAction(seq=last.seq + 1, t=last.t, action="prune", node=2))
    data, table = styled_events(events, default_styler(None))
    assert table[data[-1]["style"]] == PRUNED_STYLE


def test_selection_tables_are_left_out():
    data = data_block(replay_document(small_run()))
    selected = [e for e in data["events"] if e["type"] == "node_selected"]
    assert selected and all("children" not in e and e["path"] for e in selected)


def test_not_a_run_is_refused():
    with pytest.raises(ValueError, match="run_started first"):
        replay_document(small_run()[1:])


def test_canopy_export_html_writes_the_file_and_says_its_size(tmp_path, capsys, monkeypatch):
    from backend.cli import main

    monkeypatch.chdir(tmp_path)
    db = tmp_path / "canopy.sqlite"
    store = SQLiteStore(db)
    store.import_events("r1", small_run())
    store.close()
    out = tmp_path / "r1.html"
    assert main(["export", "r1", "--html", str(out), "--db", str(db)]) == 0
    assert f"{out.stat().st_size:,} bytes" in capsys.readouterr().out
    assert data_block(out.read_text(encoding="utf-8"))["events"][0]["run_id"] == "r1"
    assert not (tmp_path / "r1.jsonl").exists()  # --html alone writes only the HTML
    assert main(["export", "../evil", "--html", str(out), "--db", str(db)]) == 2
    assert "not a run id" in capsys.readouterr().err
