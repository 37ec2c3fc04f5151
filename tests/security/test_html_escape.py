"""Content never becomes markup: every panel the page shows, rendered from a run whose every
free-text field is hostile (``tests/security/hostile.py``), holds no element, attribute or
link that came from the content.

Markdown panels are rendered the way Gradio's page renders them (LaTeX spans taken out
first and put back HTML-escaped, the rest through a CommonMark renderer with raw HTML on;
``markdown-it-py`` stands in for the page's ``marked``) and parsed with ``html.parser``.
What ``marked`` does beyond CommonMark (GFM autolinks of bare URLs, ``www.`` and e-mail
addresses) is checked on the Markdown source. The real page is checked in chromium by
``test_browser_hostile.py``.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import pytest
from markdown_it import MarkdownIt

from backend.store import MemoryStore
from backend.tree import Tree
from tests.security.hostile import EVIL, HOSTILE, HOSTILE_LINE, hostile_events
from ui import handlers as h
from ui.escape import esc, md_code, md_esc
from ui.figure import convergence_figure, tree_figure
from ui.inspector import answer_panel, md_text, node_view, stats_panel
from ui.services import EngineSlot, Services
from ui.solve import LATEX

GRADIO_DEFAULT_LATEX = [{"left": "$$", "right": "$$", "display": True}]
MD = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
#: the same parser keeping a character reference a token of its own (as marked's autolink
#: rule, which runs on the source, sees it)
TOKENS = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"]).disable("text_join")

#: elements our own Markdown may produce (formatting only: none fetches or links anything)
INERT = {"p", "br", "strong", "em", "code", "pre", "span", "ol", "ul", "li", "del", "s", "hr", "blockquote"}
INERT |= {f"h{k}" for k in range(1, 7)} | {"table", "thead", "tbody", "tr", "th", "td"}
#: the only attributes, and their allowed values
ATTRS = {
    ("span", "class"): re.compile(r"canopy-dollar"),
    ("code", "class"): re.compile(r"language-python"),
    ("ol", "start"): re.compile(r"\d+"),
}
#: what marked (GFM) turns into a link without any bracket: bare URLs, www., e-mail addresses
GFM_AUTOLINK = re.compile(r"(?i)(?:https?|ftp)://|www\.|[\w.+-]+@[\w-]+\.[\w.-]+")
_KEEP_ENTITIES = re.compile(r"[<>\"']|&(?!(?:#\d{1,7}|#[Xx][a-fA-F0-9]{1,6}|\w+);)")


def plain_texts(source: str) -> list[str]:
    """The runs of inline text Markdown parses in ``source`` (not code, not what a character
    reference stands for): where marked's GFM autolinks can start."""
    out = []
    for token in TOKENS.parse(source):
        out += [c.content for c in token.children or [] if c.type == "text"]
    return out


class Elements(HTMLParser):
    """Every start tag with its attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, attrs))

    handle_startendtag = handle_starttag


def elements(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    parser = Elements()
    parser.feed(html)
    parser.close()
    return parser.found


def gradio_markdown(source: str, delimiters: list[dict]) -> tuple[str, str]:
    """(what the Markdown parser sees, the HTML) for a gr.Markdown value, as the page does it
    (gradio's markdown-code.js: LaTeX spans out by delimiter, Markdown, spans back escaped)."""
    spans: list[str] = []

    def take(m: re.Match) -> str:
        spans.append(m.group(0))
        return f"%%%LATEX_BLOCK_{len(spans) - 1}%%%"

    text = source
    for d in delimiters:
        text = re.sub(re.escape(d["left"]) + r"([\s\S]+?)" + re.escape(d["right"]), take, text)
    out = MD.render(text)
    back = re.sub(
        r"%%%LATEX_BLOCK_(\d+)%%%",
        lambda m: _KEEP_ENTITIES.sub(lambda c: esc(c.group(0)), spans[int(m.group(1))]),
        out,
    )
    return text, back


def assert_inert_html(html: str, where: str) -> None:
    for tag, attrs in elements(html):
        assert tag in INERT, f"{where}: a <{tag}> element from content: {html[:300]!r}"
        for name, value in attrs:
            rule = ATTRS.get((tag, name))
            assert rule is not None and rule.fullmatch(value or ""), (
                f"{where}: attribute {name}={value!r} on <{tag}> from content"
            )
    assert f"http://{EVIL}" not in re.sub(r">[^<]*<", "><", html), f"{where}: the hostile URL in markup"


def assert_inert_markdown(source: str, where: str, delimiters: list[dict] | None = None) -> None:
    """Rendered with Gradio's LaTeX handling (``delimiters``) and without any: no element,
    attribute, link or autolink from content."""
    for delims in (delimiters or GRADIO_DEFAULT_LATEX, []):
        seen, html = gradio_markdown(source, delims)
        assert_inert_html(html, f"{where} (latex {bool(delims)})")
        for text in plain_texts(seen):
            hit = GFM_AUTOLINK.search(text)
            assert hit is None, f"{where}: marked would autolink {text[hit.start() : hit.start() + 40]!r}"


def assert_plotly_text(text: str, where: str) -> None:
    """Plotly reads hover labels, legend names and titles as a little HTML: only our <br>."""
    assert "<" not in str(text).replace("<br>", ""), f"{where}: markup in {text!r}"


# --- the panels ------------------------------------------------------------------------------


@pytest.fixture
def tree() -> Tree:
    return Tree.from_events(hostile_events())


@pytest.fixture
def live_tree() -> Tree:
    return Tree.from_events(hostile_events(finished=False))


@pytest.fixture
def services():
    s = Services(store=MemoryStore(), engine=EngineSlot("scripted", "rules"), algorithms=["greedy"])
    s.store.import_events("hostile-run", hostile_events(level="warning"))
    yield s
    s.close()


def test_the_hostile_run_really_is_hostile(tree):
    """The fixture is what the tests claim: the raw values would make elements and links."""
    _, raw = gradio_markdown(HOSTILE, GRADIO_DEFAULT_LATEX)
    tags = {t for t, _ in elements(raw)}
    assert {"img", "a", "script"} <= tags
    assert tree.nodes[1].method == HOSTILE_LINE and tree.finished.error == HOSTILE


def test_inspector_panels(tree):
    for nid in tree.nodes:
        v = node_view(tree, nid)
        for name in ("title", "verification", "numbers", "uct_note"):
            assert_inert_markdown(getattr(v, name), f"node {nid} {name}")
        for name in ("text", "path"):
            assert_inert_markdown(getattr(v, name), f"node {nid} {name}", LATEX)
    assert_inert_markdown(node_view(tree, 999).title, "missing node")


def test_answer_stats_and_status_panels(tree, live_tree, services):
    for t, what in ((tree, "finished"), (live_tree, "live")):
        assert_inert_markdown(answer_panel(t), f"answer panel ({what})", LATEX)
        assert_inert_markdown(stats_panel(t), f"stats panel ({what})")
        assert_inert_markdown(h.run_status(services, "hostile-run", t), f"run status ({what})")
    # a run id that names no run: reflected from ?run= or the Run id box
    assert_inert_markdown(h.run_status(services, HOSTILE_LINE, tree), "run status, hostile id")
    assert_inert_markdown(h.control_run(services, HOSTILE_LINE, "pause"), "control, hostile id")
    assert_inert_markdown(h.inspect(services, "hostile-run", HOSTILE_LINE).title, "inspect, hostile node id")


def test_replay_captions_and_snapshots(services):
    n = h.run_length(services, "hostile-run")
    assert n > 10
    for upto in range(n):
        snap = h.replay(services, "hostile-run", upto)
        assert_inert_markdown(snap.status, f"caption {upto}")
        assert_inert_markdown(snap.answer, f"replay answer {upto}", LATEX)
        assert_inert_markdown(snap.stats, f"replay stats {upto}")


def test_problem_preview_keeps_math_but_no_markup():
    preview = h.problem_preview(HOSTILE)
    assert_inert_markdown(preview, "problem preview", LATEX)
    math = f"$![m](http://{EVIL}/m)$"
    assert md_text(math) == f"$!&#91;m&#93;(http&#58;//{EVIL}/m)$"  # still a formula, read as typed


def test_figure_hover_texts_names_and_kinds(tree):
    fig = tree_figure(tree, title=HOSTILE_LINE)
    for k, text in enumerate(fig["nodes"]["text"]):
        assert_plotly_text(text, f"hover text {k}")
    for kind in fig["nodes"]["kind"]:
        assert_plotly_text(kind, "kind")
    assert_plotly_text(fig["layout"]["title"]["text"], "title")
    for trace in convergence_figure(tree)["data"]:
        assert_plotly_text(trace["name"], "convergence legend")


def test_history_messages_and_rows(services, tmp_path, monkeypatch):
    from ui.history import HistoryHandlers

    hs = HistoryHandlers(services)
    assert_inert_markdown(hs.open(HOSTILE_LINE)[2], "open, hostile id")
    opened = hs.open("hostile-run")
    assert_inert_markdown(opened[2], "open caption")
    assert_inert_markdown(opened[6], "open answer", LATEX)
    # an imported file whose content is hostile: the error message quotes it
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))
    bad = tmp_path / "run.jsonl"
    bad.write_text(HOSTILE + "\n", encoding="utf-8")
    assert_inert_markdown(hs.import_file(str(bad), "", "", "")[0], "import error")
    rows = h.history_rows(services)
    assert rows and rows[0][0] == "hostile-run"  # a gr.Dataframe of str cells: shown as text


@pytest.mark.filterwarnings("ignore:Unknown algorithm")  # gr.Warning outside a page event warns
def test_engine_line_and_start_errors(services):
    from ui.solve import SolveHandlers

    def broken():
        raise RuntimeError(HOSTILE)

    services.engine = EngineSlot(HOSTILE_LINE, HOSTILE_LINE, loader=broken)
    assert_inert_markdown(services.engine.status(), "engine line")
    with pytest.raises(h.UserFacingError):
        h.start_run(services, [], "1+1", "greedy", "vote", "", 0, [])
    assert_inert_markdown(services.engine.status(), "engine line after a failed load")
    hs = SolveHandlers(services, [])
    out = hs.start(None, None, HOSTILE, HOSTILE_LINE, "vote", "", 0)
    assert_inert_markdown(out[1], "start error")


def test_run_id_from_the_url_is_shown_as_text(services):
    from ui.solve import SolveHandlers

    hs = SolveHandlers(services, [])
    request = SimpleNamespace(query_params={"run": HOSTILE_LINE})
    run, status, _, engine = hs.attach(request)
    assert run is None
    assert_inert_markdown(status, "?run= status")
    assert_inert_markdown(engine, "engine line")


# --- the escaping functions themselves ----------------------------------------------------------


@pytest.mark.parametrize(
    "value", [HOSTILE, HOSTILE_LINE, "1. a list?", "# heading?", "> quote?", "a|b", "$5 and $6"]
)
def test_md_esc_is_text_only(value):
    """md_esc's output renders to exactly one paragraph of text (plus literal-dollar spans)."""
    for source in (md_esc(value), md_code(value)):
        _, html = gradio_markdown(source, LATEX)
        tags = [t for t, _ in elements(html)]
        assert set(tags) <= {"p", "span", "code"} and tags.count("p") == 1, (value, html)
        assert_inert_markdown(source, f"md_esc({value[:20]!r})", LATEX)


def test_md_esc_shows_the_value_itself():
    """Character references are shown as the characters: the reader sees what was written."""
    from html import unescape

    value = "a <b> & `c` *d* [e](f) $5 1. g"
    shown = re.sub(r"<[^>]+>", "", gradio_markdown(md_esc(value), [])[1])
    assert unescape(shown).strip() == value


def test_esc_escapes_quotes_for_attributes():
    assert esc('"><img src=x>') == "&quot;&gt;&lt;img src=x&gt;"
    assert esc(None) == ""


def test_md_text_keeps_formatting_and_formulas():
    text = "Let $f: [0,1] \\to \\mathbb{R}$ and *x* be **bold**; see [link](http://x.org) or ![i](http://x.org/i.png)"
    shown = md_text(text)
    _, html = gradio_markdown(shown, LATEX)
    tags = {t for t, _ in elements(html)}
    assert {"em", "strong"} <= tags and not tags & {"a", "img"}
    assert "$f: &#91;0,1&#93; \\to \\mathbb{R}$" in shown  # the browser decodes it before KaTeX reads it


def test_best_path_code_fence_cannot_be_closed_by_the_code():
    from backend import events as ev

    events = hostile_events(finished=False)
    tree = Tree.from_events(events)
    tree.apply(
        ev.RunFinished(seq=len(events), status="solved", answer="2", best_path=[0, 1, 2], reference=None)
    )
    tree.nodes[1].code = "x = 1\n`````\n![x](http://evil.example/after-fence)\n```mermaid\nA-->B\n```"
    text = answer_panel(tree)
    assert_inert_markdown(text, "best path with a fence in the code", LATEX)
    assert "``````python" in text


def test_no_panel_module_builds_markup_from_unescaped_values():
    """A guard against new sinks: the UI modules that format content import the escapers."""
    root = Path(__file__).resolve().parents[2] / "ui"
    handlers = [f"handlers/{m}.py" for m in ("controls", "runs", "screens", "history_file", "history")]
    for name in ("inspector.py", *handlers, "history.py", "solve.py", "figure.py", "services.py"):
        source = (root / name).read_text(encoding="utf-8")
        assert "from ui.escape import" in source, name
        hit = re.search(r"f\"[^\"\n]*`\{", source)
        assert hit is None, f"{name}: a value in a backtick code span (use md_code): {hit and hit.group(0)}"
