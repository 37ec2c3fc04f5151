"""The history file's banner and the refusals of a read-only history; deleting a run."""

from __future__ import annotations

import logging

from ui.escape import md_code, md_esc
from ui.services import Services

log = logging.getLogger(__name__)


def history_banner(services: Services) -> str:
    """The page's banner about the history file, '' when all is well: a user opening the
    page learns that the history is read-only, was reset, or lives in memory only. The
    notice names paths and SQLite's words, so it is escaped."""
    notice = services.history_notice
    return f"⚠ **History:** {md_esc(notice)}" if notice else ""


#: what each refused action would have needed the history for
_READ_ONLY_FIX = {
    "started": " (nothing could be saved). Start Canopy with a writable --db to run searches.",
    "deleted": ".",
    "imported": " (nothing could be saved).",
}


def read_only_refusal(services: Services, what: str) -> str | None:
    """Why runs cannot be ``what`` ("started", "deleted", "imported") here, or None when
    the history can be written. Plain text: the caller escapes it for its component."""
    if not services.history_read_only:
        return None
    return f"History is read-only: runs can be viewed but not {what}{_READ_ONLY_FIX.get(what, '.')}"


def delete_run(services: Services, run_id: str) -> tuple[str, bool]:
    """(message, gone) for Delete; ``gone``: the run is not in the history now (deleted,
    or already gone), so the list is refreshed. A live run here, a read-only history, or a
    run that another Canopy process is still writing (``RunBusy``) is refused with a
    message, not an error dialog."""
    from backend.store import StoreError

    refusal = read_only_refusal(services, "deleted")
    if refusal:
        return f"⚠ {md_esc(refusal)}", False
    live = services.runs.get(run_id)
    if live is not None and not live.finished:
        return f"Run {md_code(run_id)} is still going: stop it first.", False
    try:
        deleted = services.store.delete(run_id)
    except StoreError as exc:
        return f"⚠ Not deleted: {md_esc(exc)}", False
    services.trees.drop(run_id)
    if not deleted:
        return f"No run {md_code(run_id)} in the history.", True
    return f"Deleted run {md_code(run_id)}.", True
