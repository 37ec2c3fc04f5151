"""``canopy runs``, ``export``, ``import``: the run history from the shell.

They share the web app's SQLite history (``$CANOPY_HOME/canopy.sqlite``), so a run
solved in the browser can be exported from the shell and an imported file opens in
the app's History screen.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

DbOption = Annotated[
    Path | None, typer.Option("--db", help="History database (default $CANOPY_HOME/canopy.sqlite).")
]


@contextlib.contextmanager
def history(db: Path | None) -> Iterator[Any]:
    """The history (``open_store`` logs its ``notice`` about a read-only or corrupt file as
    a warning on stderr), with database failures as one ``error:`` line
    (``backend.cli.run`` prints ValueErrors) instead of a traceback."""
    import sqlite3

    from backend.store import open_store

    store = open_store(db)
    try:
        yield store
    except sqlite3.Error as exc:
        raise ValueError(f"history database: {exc}") from None
    finally:
        store.close()


def runs(
    text: Annotated[
        str, typer.Option("--filter", help="Show runs whose problem or answer contains this.")
    ] = "",
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000)] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    db: DbOption = None,
) -> None:
    """List stored runs, newest first."""
    with history(db) as store:
        records = store.list_runs(text=text, limit=limit)
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in records], indent=2))
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"Canopy runs ({len(records)})")
    for col in ("id", "algorithm", "status", "answer", "correct", "nodes", "wall s", "problem"):
        table.add_column(col, overflow="fold")
    for r in records:
        correct = "-" if r.correct is None else ("yes" if r.correct else "no")
        cells = (
            r.id,
            r.algorithm,
            r.status,
            r.answer or "-",
            correct,
            str(r.nodes),
            f"{r.wall_s:.1f}",
            r.problem[:60],
        )
        table.add_row(*(escape(c) for c in cells))  # typed and imported text: never markup
    Console().print(table)


def export(
    run_id: Annotated[str, typer.Argument(help="Run id (see `canopy runs`).")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="File to write (default RUN_ID.jsonl).")
    ] = None,
    html: Annotated[
        Path | None,
        typer.Option("--html", help="Write a self-contained HTML replay here instead (opens offline)."),
    ] = None,
    db: DbOption = None,
) -> None:
    """Export a stored run as Canopy JSON Lines (a versioned header, then its events), or with
    --html as one HTML file that replays it offline (backend/html_replay.py)."""
    from backend.events import RUN_ID_RULE, valid_run_id
    from backend.export import export_run

    if not valid_run_id(run_id):  # before RUN_ID.jsonl is made a path
        raise ValueError(f"{run_id[:80]!r} is not a run id ({RUN_ID_RULE}); see `canopy runs`")
    with history(db) as store:
        if html is not None:
            from backend.html_replay import export_replay

            made = export_replay(store, run_id, html)
            typer.echo(
                f"wrote an HTML replay of run {run_id} ({made.events} events) to {html}: {made.bytes:,} bytes"
            )
            if out is None:
                return
        path = out or Path(f"{run_id}.jsonl")
        count = export_run(store, run_id, path)
    typer.echo(f"wrote {count} events of run {run_id} to {path}")


def import_(
    file: Annotated[Path, typer.Argument(help="A Canopy events file (.jsonl).")],
    db: DbOption = None,
) -> None:
    """Validate a run file and add it to the history (nothing is written if it is malformed).

    Also takes a NeqLIPS proof.json (the official LIPS proof tree), converted to events.
    """
    from backend.export import import_run

    with history(db) as store:
        if getattr(store, "path", None) is None:  # open_store fell back to memory: nothing would be kept
            raise ValueError(f"not imported: {store.notice}")
        if file.suffix == ".json" and file.is_file():
            run_id = _import_proofjson(store, file)
        else:
            run_id = import_run(store, file)
    typer.echo(f"imported {file} as run {run_id}")


def _import_proofjson(store: Any, file: Path) -> str:
    """Convert a NeqLIPS proof.json to events and import those; a malformed one is one
    RunImportError (the converter is not written for hostile input, so its errors are caught here)."""
    import tempfile

    from backend.export import RunImportError, import_run
    from backend.search.lips.proofjson import is_proofjson, proofjson_to_jsonl

    try:
        if file.stat().st_size > 64 << 20:
            raise RunImportError(f"{file}: a proof.json over 64 MiB is not read")
        if not is_proofjson(file):
            raise RunImportError(f"{file}: a .json file must be a NeqLIPS proof.json; Canopy runs are .jsonl")
        with tempfile.TemporaryDirectory() as tmp:
            converted = Path(tmp) / f"{file.stem}.jsonl"
            proofjson_to_jsonl(file, converted)
            return import_run(store, converted)
    except RunImportError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, IndexError, RecursionError) as exc:
        raise RunImportError(
            f"{file}: not a proof.json Canopy can read ({type(exc).__name__}: {exc})"
        ) from None


def register(app: typer.Typer) -> None:
    app.command("runs")(runs)
    app.command("export")(export)
    app.command("import")(import_)
