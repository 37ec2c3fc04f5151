"""The ``canopy`` command line (typer).

Every command turns bad input into one clear line on stderr and a non-zero exit:
``main()`` catches the errors the backend raises on purpose (ValueError and its
subclasses, missing files, missing optional packages) and prints their message
instead of a traceback. Heavy modules are imported inside commands so that
``canopy --help`` stays instant.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from backend import __version__

app = typer.Typer(
    name="canopy",
    help="Watch, debug and teach LLM reasoning search (rStar-Math, LIPS, CPL).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


class UserError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""


def _version(value: bool) -> None:
    if value:
        typer.echo(f"canopy {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details to stderr.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )


@app.command("exec")
def exec_file(
    file: Annotated[Path, typer.Argument(help="Python file to run in the sandbox ('-' reads stdin).")],
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.1, max=600, help="Wall-clock limit in seconds.")
    ] = 10.0,
) -> None:
    """Run a Python file in the sandbox and print one JSON result."""
    if str(file) == "-":
        code = sys.stdin.read()
    else:
        if not file.is_file():
            raise UserError(f"no such file: {file}")
        try:
            code = file.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise UserError(f"{file} is not UTF-8 text: {exc.reason}") from exc
    from backend.verify.sandbox import SandboxLimits, SandboxPool

    limits = SandboxLimits(timeout_s=timeout, cpu_s=timeout)
    with SandboxPool(size=1, limits=limits) as pool:
        result = pool.run(code, timeout_s=timeout)
    typer.echo(json.dumps(result.to_dict(), ensure_ascii=False))
    if not result.ok:
        raise typer.Exit(1)


@app.command("models")
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


def _command_name(info: typer.models.CommandInfo) -> str:
    """The name typer gives a command: its own, else its function's (``import_`` -> ``import-``)."""
    callback = getattr(info.callback, "__name__", "")
    return info.name or typer.main.get_command_name(callback)


def _register_optional_commands() -> None:
    """Add the commands that live next to their features (search, runs, web app), once.

    ``main`` runs many times in one process (tests, notebooks) and each call comes here: a
    module's ``register`` is made on a scratch app and only the commands this app lacks are
    copied over, so the command list never grows (a growing list made every call slower)
    and a module's own ``register`` need not be idempotent. Checking names, not a flag,
    also re-adds commands to a list a test has swapped out.
    """
    import importlib

    from backend._optional import is_available

    have = {_command_name(c) for c in app.registered_commands}
    for name in ("backend.cli_search", "backend.cli_runs", "backend.cli_train"):
        if not is_available(name):
            continue
        scratch = typer.Typer()
        importlib.import_module(name).register(scratch)
        for info in scratch.registered_commands:
            if _command_name(info) not in have:
                app.registered_commands.append(info)
                have.add(_command_name(info))


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``canopy`` console script.

    Click handles its own usage errors (message + exit 2); errors the backend raises
    on purpose become one ``error: ...`` line and exit 2, never a traceback.
    """
    _register_optional_commands()
    try:
        app(args=argv, prog_name="canopy")
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return 130
    except (UserError, ValueError, FileNotFoundError, ImportError, LookupError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
