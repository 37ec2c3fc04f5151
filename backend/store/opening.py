"""``open_store``: always a usable history, whatever state the file is in (read-only,
corrupt, foreign, missing folder), with ``store.notice`` saying what was done."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from backend.store.errors import HistoryCorrupt, HistoryReadOnly, StoreError
from backend.store.memory import MemoryStore
from backend.store.sqlite import SQLiteStore

DB_NAME = "canopy.sqlite"

log = logging.getLogger("backend.store")  # one logger name for the whole history (docs/CLI.md quotes it)


def default_home() -> Path:
    """``$CANOPY_HOME`` or ``~/.cache/canopy`` (not created here: entrypoints create it)."""
    return Path(os.environ.get("CANOPY_HOME") or Path.home() / ".cache" / "canopy")


def _may_write(db: Path) -> bool:
    """What the file modes say (root ignores them; SQLite's own refusal is the other check)."""
    folder_ok = os.access(db.parent, os.W_OK)
    if not db.exists():
        return folder_ok
    return os.access(db, os.W_OK) and (folder_ok or Path(f"{db}-wal").exists())


def _in_memory(notice: str) -> MemoryStore:
    log.warning("%s", notice)
    return MemoryStore(notice=notice)


def _moved_aside(db: Path) -> Path:
    """Rename ``db`` (and its ``-wal``/``-shm``/``-journal``) to ``<name>.corrupt-<timestamp>``."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = db.with_name(f"{db.name}.corrupt-{stamp}")
    n = 1
    while aside.exists():
        aside, n = db.with_name(f"{db.name}.corrupt-{stamp}-{n}"), n + 1
    os.replace(db, aside)
    for suffix in ("-wal", "-shm", "-journal"):
        side = Path(f"{db}{suffix}")
        if side.exists():
            os.replace(side, Path(f"{aside}{suffix}"))
    return aside


def _replace_corrupt(db: Path, why: StoreError) -> SQLiteStore | MemoryStore:
    try:
        aside = _moved_aside(db)
    except OSError as exc:
        return _in_memory(
            f"The history file {db} cannot be read ({why}) and cannot be moved aside ({exc.strerror}). "
            "This session's runs are kept in memory only and are lost when Canopy stops."
        )
    try:
        store = SQLiteStore(db)
    except StoreError as exc:
        return _in_memory(
            f"The history file {db} could not be read and was moved to {aside}; a new one cannot be "
            f"created ({exc}). This session's runs are kept in memory only."
        )
    store.notice = (
        f"The history file {db} could not be read ({why}). It was moved to {aside} and a new, "
        "empty history was started."
    )
    log.warning("%s", store.notice)
    return store


def _read_only_store(db: Path, why: str) -> SQLiteStore | MemoryStore:
    try:
        store = SQLiteStore(db, read_only=True)
    except HistoryCorrupt as exc:
        return _replace_corrupt(db, exc)
    except StoreError as exc:
        return _in_memory(
            f"The history file {db} cannot be opened ({exc}). This session's runs are kept in memory "
            "only and are lost when Canopy stops."
        )
    store.notice = (
        f"The history file {db} is read-only ({why}): past runs can be listed, opened and exported, "
        "but new runs, imports and deletions are not saved."
    )
    log.warning("%s", store.notice)
    return store


def open_store(path: str | Path | None = None, *, read_only: bool | None = None) -> SQLiteStore | MemoryStore:
    """Open the history at ``path`` (default ``default_home()/canopy.sqlite``), creating its folder.

    It does not fail on the file itself; ``store.notice`` (None when all is well) says what
    happened and ``store.read_only`` whether writes are refused:

    - a file or folder that cannot be written (or ``read_only=True``): opened read-only;
    - not SQLite or a damaged database: moved to ``<name>.corrupt-<timestamp>`` and a new,
      empty history started;
    - an SQLite file that is not a Canopy history, or nothing usable at all: a MemoryStore
      (runs are kept for this session only); the file is left as it is.
    """
    db = Path(path) if path is not None else default_home() / DB_NAME
    try:
        db.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return _in_memory(
            f"The history folder {db.parent} cannot be created ({exc.strerror}). This session's runs "
            "are kept in memory only and are lost when Canopy stops."
        )
    if read_only:
        return _read_only_store(db, "opened read-only on request")
    if read_only is None and not _may_write(db):
        return _read_only_store(db, "the file or its folder is write-protected")
    try:
        return SQLiteStore(db)
    except HistoryReadOnly as exc:
        return _read_only_store(db, str(exc))
    except HistoryCorrupt as exc:
        return _replace_corrupt(db, exc)
    except StoreError as exc:  # not a Canopy history, or locked: leave the file alone
        return _in_memory(
            f"{exc}. This session's runs are kept in memory only and are lost when Canopy stops."
        )
