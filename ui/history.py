"""The History screen: every stored run, filter, open → replay slider, delete, export, import.

Replay uses the same tree view as the live screen: the slider picks an event number and
the tree is the fold of the events up to it (``ui.handlers.replay``).
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from backend.export import RunImportError, export_run, import_run
from ui import handlers as h
from ui import history_share as share
from ui.click_order import ClickOrder
from ui.cost import COST_MODES
from ui.escape import md_code, md_esc
from ui.inspector import NodeView
from ui.services import Services
from ui.solve import LATEX, Inspector, build_inspector
from ui.views import encode, plot_view, tree_view
from ui.words import count

STATUSES = ["", "running", "solved", "proved", "exhausted", "stopped", "error", "interrupted"]


#: the list's column widths (``h.HISTORY_HEADERS`` order): the problem gets the room, the
#: model file name (cut short by ``h.history_rows``) little
HISTORY_WIDTHS = ["9%", "9%", "6%", "7%", "6%", "5%", "5%", "5%", "10%", "38%"]
#: after Export: click the file's link, so the download starts with the one click on Export
DOWNLOAD_JS = """() => { setTimeout(() => {
  const a = document.querySelector('#hist-download a[download], #hist-download a');
  if (a) a.click(); }, 50); }"""


class HistoryHandlers:
    def __init__(self, services: Services) -> None:
        self.s = services
        self._export_dir: Path | None = None
        self.clicks = ClickOrder()

    def rows(self, text: str, algorithm: str, status: str) -> list[list[Any]]:
        return h.history_rows(self.s, text or "", algorithm or "", status or "")

    def select(self, evt: gr.SelectData) -> str:
        row = getattr(evt, "row_value", None) or []
        return str(row[0]) if row else gr.skip()

    def open(self, run_id: str) -> tuple:
        run_id = (run_id or "").strip()
        n = h.run_length(self.s, run_id) if run_id else 0
        if n == 0:
            msg = (
                "Pick a run in the list (or paste its id)."
                if not run_id
                else f"No run {md_code(run_id)} in the history."
            )
            return (
                None,
                gr.Slider(minimum=0, maximum=1, value=0),
                msg,
                "",
                "",
                "",
                "",
                *Inspector.values(NodeView()),
            )
        snap = h.replay(self.s, run_id, n - 1)
        return (
            run_id,
            gr.Slider(minimum=0, maximum=max(n - 1, 1), value=n - 1, step=1),
            snap.status,
            encode(snap.tree),
            encode(snap.convergence),
            snap.stats,
            snap.answer,
            *Inspector.values(NodeView()),
        )

    def replay(self, run_id: str | None, upto: float) -> tuple:
        if not run_id:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        snap = h.replay(self.s, run_id, int(upto))
        return snap.status, encode(snap.tree), encode(snap.convergence), snap.stats, snap.answer

    def click(
        self, run_id: str | None, upto: float, evt: gr.EventData, request: gr.Request = None
    ) -> list[Any]:
        data = getattr(evt, "_data", None) or {}
        view = h.inspect(self.s, run_id, data.get("node_id"), upto=int(upto))
        if not self.clicks.newest(request, "inspect", data):  # asked once the answer is ready
            return [gr.skip() for _ in Inspector.values(view)]  # a newer click was answered meanwhile
        return Inspector.values(view)

    def cost(self, run_id: str | None, upto: float, mode: str) -> tuple:
        """(breakdown, figure) of the cost view at replay step ``upto`` (``ui/history_share.py``)."""
        return share.cost_view(self.s, run_id, int(upto), mode)

    def delete(self, run_id: str | None, text: str, algorithm: str, status: str) -> tuple:
        """(message, list, opened run); a refused delete (``h.delete_run``) leaves both as they are."""
        if not run_id:
            return "Open a run first.", gr.skip(), gr.skip()
        message, gone = h.delete_run(self.s, run_id)
        if not gone:
            return message, gr.skip(), gr.skip()
        return message, self.rows(text, algorithm, status), None

    def after_delete(self, opened: str | None) -> tuple:
        """The replay view once the opened run is gone (``opened`` None): emptied, so a deleted
        run's tree, answer and caption no longer read as a run still there; else unchanged."""
        if opened is not None:
            return tuple(gr.skip() for _ in range(6 + len(Inspector.values(NodeView()))))
        return self.open("")[1:]

    def export(self, run_id: str | None) -> tuple[str, Any]:
        """(message, download); a malformed or unknown id (an API caller's) or a damaged
        stored run is a message, and no earlier run's file stays on offer."""
        if not run_id:
            return "Open a run first.", None
        if self._export_dir is None:
            self._export_dir = Path(tempfile.mkdtemp(prefix="canopy-export-"))
        path = self._export_dir / f"canopy-run-{_file_safe(run_id)}.jsonl"
        try:
            n = export_run(self.s.store, run_id, path)
        except (ValueError, OSError) as exc:  # StoreError is a ValueError
            return f"⚠ Export failed: {md_esc(exc)}", gr.File(value=None, visible=False)
        said = f"Exported {count(n, 'event')} of run {md_code(run_id)}."
        return said, gr.File(value=str(path), visible=True)

    def export_html(self, run_id: str | None) -> tuple[str, Any, str]:
        """(message, download, the run id for the download click): the run as one HTML file
        that replays it offline (``ui/history_share.py``)."""
        if not run_id:
            return "Open a run first.", None, ""
        if self._export_dir is None:
            self._export_dir = Path(tempfile.mkdtemp(prefix="canopy-export-"))
        return share.export_html(self.s, run_id, self._export_dir / f"canopy-run-{_file_safe(run_id)}.html")

    def import_file(self, file: Any, text: str, algorithm: str, status: str) -> tuple:
        """(message, list, run id box, *the opened run's views): the imported run replaces
        the one on screen. A run already in the history (the same file twice, or a run
        exported from here) is opened and said to be there, not stored again."""
        refusal = h.read_only_refusal(self.s, "imported")
        if refusal:
            return self._not_imported(f"⚠ {md_esc(refusal)}")
        path = getattr(file, "name", file)
        if not path:
            return self._not_imported("No file.")
        if not is_upload(path):
            return self._not_imported(f"⚠ Import failed: {NOT_UPLOADED}")
        try:
            run_id = import_run(self.s.store, path, keep_id=True)
            message = f"Imported as run {md_code(run_id)}."
        except RunImportError as exc:
            run_id = self._already_stored(path)
            if run_id is None:
                return self._not_imported(f"⚠ Import failed: {md_esc(exc)}")
            message = f"Run {md_code(run_id)} is already in the history (not imported again): opened it."
        except OSError as exc:
            return self._not_imported(f"⚠ Import failed: cannot read the file ({md_esc(exc)})")
        return message, self.rows(text, algorithm, status), run_id, *self.open(run_id)

    def _already_stored(self, path: str) -> str | None:
        """The file's run id when that run is in the history already, else None."""
        from backend.export import read_run_file

        try:
            _, events, _ = read_run_file(path)
        except (RunImportError, OSError, ValueError):
            return None
        run_id = getattr(events[0], "run_id", None) if events else None
        return run_id if run_id and self.s.store.get(run_id) is not None else None

    @staticmethod
    def _not_imported(message: str) -> tuple:
        """A refused or failed import: the message, and the screen as it was."""
        return message, *(gr.skip() for _ in range(2 + OPEN_OUTPUTS))


#: how many values ``HistoryHandlers.open`` returns (opened, slider, 5 views, the inspector's
#: outputs: not NodeView's fields, one of which only decides what is shown)
OPEN_OUTPUTS = 7 + len(Inspector.values(NodeView()))


NOT_UPLOADED = "only a file uploaded with the Import button can be imported."


def upload_folder() -> str:
    """Where Gradio keeps uploaded files (``GRADIO_TEMP_DIR``, default ``$TMPDIR/gradio``)."""
    from gradio.utils import get_upload_folder

    return os.path.realpath(get_upload_folder())


def is_upload(path: str | os.PathLike) -> bool:
    """True for a regular file inside Gradio's upload folder, symlinks resolved: the API's
    file input takes a path from the client, and must never open a file it names elsewhere
    on the server (Gradio refuses those too; this holds whatever Gradio does)."""
    real = os.path.realpath(path)
    return os.path.commonpath([real, upload_folder()]) == upload_folder() and os.path.isfile(real)


def _file_safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:80] or "run"


def uploads_only(button: gr.UploadButton) -> gr.UploadButton:
    """``button`` whose value can only be a file uploaded to this server.

    Gradio downloads a file input given as an http(s) URL (an API caller names it) before
    any handler runs: the server would fetch a URL of the caller's choosing. This refuses
    URLs there. (Per instance: a subclass of a Gradio component makes Gradio write a .pyi
    file next to this module.)"""
    move, move_async = button.move_resource_to_block_cache, button.async_move_resource_to_block_cache

    def guarded(url_or_file_path: str | Path | None) -> str | None:
        _refuse_url(url_or_file_path)
        return move(url_or_file_path)

    async def guarded_async(url_or_file_path: str | Path | None) -> str | None:
        _refuse_url(url_or_file_path)
        return await move_async(url_or_file_path)

    button.move_resource_to_block_cache = guarded  # type: ignore[method-assign]
    button.async_move_resource_to_block_cache = guarded_async  # type: ignore[method-assign]
    return button


def _refuse_url(path: str | Path | None) -> None:
    if isinstance(path, str) and re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", path):
        raise gr.Error(f"Import failed: {NOT_UPLOADED}")


@dataclass
class HistoryScreen:
    list: gr.Dataframe
    refresh_inputs: list[gr.Component]
    handlers: HistoryHandlers


def build_history(services: Services) -> HistoryScreen:
    hs = HistoryHandlers(services)
    with gr.Row():
        text = gr.Textbox(label="Filter (problem or answer contains)", scale=3, elem_id="hist-filter")
        algorithm = gr.Dropdown(
            choices=["", *services.algorithm_names()], value="", label="Algorithm", scale=1
        )
        status = gr.Dropdown(choices=STATUSES, value="", label="Status", scale=1)
        refresh = gr.Button("Refresh", scale=0, elem_id="hist-refresh")
    runs = gr.Dataframe(
        headers=h.HISTORY_HEADERS,
        value=h.history_rows(services),
        interactive=False,
        wrap=True,
        max_height=320,
        column_widths=HISTORY_WIDTHS,
        elem_id="hist-list",
    )
    with gr.Row():
        run_id = gr.Textbox(label="Run id", scale=2, elem_id="hist-run-id")
        open_btn = gr.Button("Open", scale=0, elem_id="hist-open")
        delete = gr.Button("Delete", variant="stop", scale=0, elem_id="hist-delete")
        export = gr.Button("Export JSONL", scale=0, elem_id="hist-export")
        export_html = gr.Button("Export HTML", scale=0, elem_id="hist-export-html")
        upload = uploads_only(
            gr.UploadButton(
                "Import JSONL", file_types=[".jsonl", ".json", ".txt"], scale=0, elem_id="hist-import"
            )
        )
    message = gr.Markdown(elem_id="hist-message")
    download = gr.File(label="Exported file", visible=False, elem_id="hist-download")
    opened = gr.State(None)
    slider = gr.Slider(
        minimum=0, maximum=1, step=1, value=0, label="Replay: event number", elem_id="hist-slider"
    )
    caption = gr.Markdown(elem_id="hist-caption")
    tree = tree_view("hist-tree")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1):
            inspector = build_inspector("hist-insp")
        with gr.Column(scale=1):
            answer = gr.Markdown(elem_id="hist-answer", latex_delimiters=LATEX)
            convergence = plot_view("hist-convergence")
            stats = gr.Markdown(elem_id="hist-stats")
    with gr.Accordion("Cost: where tokens and time went", open=False, elem_id="hist-cost"):
        cost_mode = gr.Radio(
            choices=[(title, mode) for mode, (title, _) in COST_MODES.items()],
            value="tokens",
            label="Colour the tree by",
            elem_id="hist-cost-mode",
        )
        with gr.Row(equal_height=False):
            cost_plot = plot_view("hist-cost-plot")
            cost_text = gr.Markdown(elem_id="hist-cost-text")

    fast = {"concurrency_limit": None, "show_progress": "hidden", "api_visibility": "private"}
    filters = [text, algorithm, status]
    for trigger in (refresh.click, text.submit, algorithm.change, status.change):
        trigger(hs.rows, filters, runs, **fast)
    view = [caption, tree, convergence, stats, answer]
    costs = ([opened, slider, cost_mode], [cost_text, cost_plot])
    runs.select(hs.select, None, run_id, **fast).then(
        hs.open, run_id, [opened, slider, *view, *inspector.outputs], **fast
    ).then(hs.cost, *costs, **fast)
    open_btn.click(hs.open, run_id, [opened, slider, *view, *inspector.outputs], **fast).then(
        hs.cost, *costs, **fast
    )
    run_id.submit(hs.open, run_id, [opened, slider, *view, *inspector.outputs], **fast).then(
        hs.cost, *costs, **fast
    )
    slider.input(hs.replay, [opened, slider], view, trigger_mode="always_last", **fast)
    slider.release(hs.replay, [opened, slider], view, trigger_mode="always_last", **fast).then(
        hs.cost, *costs, **fast
    )
    cost_mode.change(hs.cost, *costs, **fast)
    tree.node_click(  # type: ignore[attr-defined]
        hs.click, [opened, slider], inspector.outputs, trigger_mode="multiple", **fast  # ui/click_order.py
    )
    delete.click(hs.delete, [opened, *filters], [message, runs, opened], **fast).then(
        hs.after_delete, opened, [slider, *view, *inspector.outputs], **fast
    )
    export.click(hs.export, opened, [message, download], **fast).then(None, None, None, js=DOWNLOAD_JS)
    exported = gr.Textbox(visible=False)  # the run whose HTML file the download click waits for
    export_html.click(hs.export_html, opened, [message, download, exported], **fast).then(
        None, exported, None, js=share.DOWNLOAD_HTML_JS
    )
    shown = [opened, slider, *view, *inspector.outputs]
    upload.upload(hs.import_file, [upload, *filters], [message, runs, run_id, *shown], **fast)
    return HistoryScreen(runs, filters, hs)
