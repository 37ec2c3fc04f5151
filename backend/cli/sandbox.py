"""``canopy exec``: run untrusted Python in the sandbox (backend/verify/sandbox.py) from the shell."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from backend.cli import UserError


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


def register(app: typer.Typer) -> None:
    app.command("exec")(exec_file)
