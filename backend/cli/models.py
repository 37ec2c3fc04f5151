"""``canopy models``: which models Canopy can use (backend/engines/embedded.py)."""

from __future__ import annotations

import json
from typing import Annotated

import typer


def models(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the models Canopy can use: where they are, their size and checksum."""
    from backend.engines.embedded import describe_models

    rows = describe_models()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Canopy models")
    for col in ("name", "status", "path", "size", "sha256", "license"):
        table.add_column(col, overflow="fold")
    for row in rows:
        size = row.get("size")
        table.add_row(
            str(row.get("name", "")),
            str(row.get("status", "")),
            str(row.get("path") or "-"),
            f"{size / 1e6:.1f} MB" if isinstance(size, int | float) else "-",
            str(row.get("sha256") or "-")[:16],
            str(row.get("license", "")),
        )
    Console().print(table)


def register(app: typer.Typer) -> None:
    app.command("models")(models)
