"""The store's errors: each says why a history operation could not be done, so callers
(the app, the CLI, the importer) can show it or choose a fallback by kind."""


class StoreError(ValueError):
    """A store operation that cannot be done (unknown run, bad event); the message says why."""


class DuplicateEvent(StoreError):
    """An event with this (run_id, seq) is already stored."""


class RunBusy(StoreError):
    """A run that another live process is still writing (its lease is fresh)."""


class HistoryReadOnly(StoreError):
    """The history file cannot be written from here (a read-only file, folder or store)."""


class HistoryCorrupt(StoreError):
    """The file is not an SQLite database, or a damaged one."""


class HistoryForeign(StoreError):
    """An SQLite database that is not a Canopy history (its tables lack Canopy's columns)."""
