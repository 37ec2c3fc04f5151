"""The ``canopy`` command line (typer): the app, its error handling and the registration of
the command groups, one module each (docs/CLI.md):

    search.py   solve, eval
    runs.py     runs, export, import   (the web app's history)
    train.py    pairs, train-ppm
    sandbox.py  exec
    models.py   models
    gguf.py     export-gguf

``canopy serve`` is not here: the web app is ``ui/``, which ``backend`` never imports, so the
console script is ``ui/cli.py``, these commands plus ``serve``. ``python -m backend.cli`` runs
the backend's commands alone.

Every command turns bad input into one clear line on stderr and a non-zero exit: ``run()``
catches the errors the backend raises on purpose (ValueError and its subclasses, missing
files, missing optional packages) and prints their message instead of a traceback. Heavy
modules are imported inside commands so that ``canopy --help`` stays instant.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Sequence
from typing import Annotated

import typer

from backend import __version__

#: the command groups, in the order ``canopy --help`` lists them: ``backend/cli/<name>.py``
GROUPS = ("sandbox", "models", "search", "runs", "train", "compare", "evolve", "gguf")


class UserError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""


def _version(value: bool) -> None:
    if value:
        typer.echo(f"canopy {__version__}")
        raise typer.Exit()


def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details to stderr.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )


def new_app() -> typer.Typer:
    """An empty ``canopy`` app (name, help, ``--version``, ``-v``): the backend's and, with
    ``serve``, the console script's (ui/cli.py) are two of these, so neither changes the other."""
    app = typer.Typer(
        name="canopy",
        help="Watch, debug and teach LLM reasoning search (rStar-Math, LIPS, CPL).",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )
    app.callback()(_root)
    return app


app = new_app()


def _command_name(info: typer.models.CommandInfo) -> str:
    """The name typer gives a command: its own, else its function's (``import_`` -> ``import-``)."""
    callback = getattr(info.callback, "__name__", "")
    return info.name or typer.main.get_command_name(callback)


def register_all(target: typer.Typer, extra: Sequence[Callable[[typer.Typer], None]] = ()) -> None:
    """Add every group's commands (then ``extra``'s) to ``target``, once.

    ``main`` runs many times in one process (tests, notebooks) and each call comes here: a
    group's ``register`` is made on a scratch app and only the commands ``target`` lacks are
    copied over, so the command list never grows (a growing list made every call slower)
    and a group's own ``register`` need not be idempotent. Checking names, not a flag,
    also re-adds commands to a list a test has swapped out.
    """
    registers = [importlib.import_module(f"{__name__}.{name}").register for name in GROUPS]
    have = {_command_name(c) for c in target.registered_commands}
    for register in [*registers, *extra]:
        scratch = typer.Typer()
        register(scratch)
        for info in scratch.registered_commands:
            if _command_name(info) not in have:
                target.registered_commands.append(info)
                have.add(_command_name(info))


def run(target: typer.Typer, argv: list[str] | None = None) -> int:
    """Run ``target`` on ``argv`` and return the exit code.

    Click handles its own usage errors (message + exit 2); errors the backend raises
    on purpose become one ``error: ...`` line and exit 2, never a traceback.
    """
    try:
        target(args=argv, prog_name="canopy")
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


def main(argv: list[str] | None = None) -> int:
    """The backend's commands (``python -m backend.cli``); the ``canopy`` console script is
    ``ui.cli.main``, which adds ``serve``."""
    register_all(app)
    return run(app, argv)


register_all(app)  # ``from backend.cli import app`` is the whole backend CLI
