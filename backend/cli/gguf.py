"""``canopy export-gguf``: an evolved policy as a GGUF for the llama.cpp engine
(backend/evolve/gguf_export.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def export_gguf(
    policy_dir: Annotated[Path, typer.Argument(help="A policy folder (RUN/round-N/policy).")],
    out: Annotated[Path, typer.Argument(help="The GGUF file to write.")],
    base: Annotated[
        str | None, typer.Option(help="The GGUF the policy was fine-tuned from (default: embedded model).")
    ] = None,
) -> None:
    """Write a fine-tuned policy as a GGUF (the base GGUF's metadata and tokenizer, the policy's
    weights) so `--engine llamacpp --model OUT` runs it."""
    from backend.evolve.gguf_export import export_gguf as export

    if not (policy_dir / "config.json").is_file():
        raise FileNotFoundError(f"{policy_dir} is not a model folder (no config.json)")
    res = export(policy_dir, out, base)
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(res.types.items()))
    typer.echo(f"wrote {res.path} ({res.size_bytes / 1e6:.0f} MB, {kinds}) in {res.seconds:.1f} s")
    kept, f16 = len(res.unchanged), len(res.retyped)
    typer.echo(f"{kept} tensors kept the base's blocks; {f16} K-quant tensors written as Q8_0")
    typer.echo(f"run it: canopy solve PROBLEM --engine llamacpp --model {res.path}")


def register(app: typer.Typer) -> None:
    app.command("export-gguf")(export_gguf)
