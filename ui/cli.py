"""The ``canopy`` console script: the backend's commands (``backend/cli/``) plus ``serve``.

``serve`` starts the web app, which is ``ui/``: it lives here because ``backend`` never
imports ``ui``. Its flags are defined once, in ``ui.app.parse_args``; ``canopy serve ARGS``
hands ARGS to ``ui.app.main``, the code behind ``python app.py ARGS`` too, so
``canopy serve --help`` and ``python app.py --help`` list the same flags.
``python -m ui.cli`` is this command without the installed script.
"""

from __future__ import annotations

import sys

import typer

from backend.cli import new_app, register_all, run

app = new_app()


def serve(ctx: typer.Context) -> None:
    """Start the web app (same flags as `python app.py`, e.g. --port 8000).

    Off loopback (--host 0.0.0.0 or --share) it needs --auth USER:PASS, --auth-file FILE or --no-auth.
    """
    from ui.app import main as app_main  # Gradio loads here, not for `canopy --help`

    raise typer.Exit(app_main(ctx.args, prog="canopy serve"))


def register(target: typer.Typer) -> None:
    # every argument, --help included, goes to ui.app's parser
    settings = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}
    target.command("serve", context_settings=settings)(serve)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``canopy`` console script."""
    register_all(app, extra=(register,))
    return run(app, argv)


if __name__ == "__main__":
    sys.exit(main())
