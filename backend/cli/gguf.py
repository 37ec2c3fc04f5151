"""``canopy export-gguf``: an evolved policy as a GGUF for the llama.cpp engine
(backend/evolve/gguf_export.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def export_gguf(
    policy_dir: Annotated[Path, typer.Argument(
        help="A policy folder (RUN/round-N/policy), or its LoRA adapter (RUN/round-N/policy.adapter)."
    )],
    out: Annotated[Path, typer.Argument(help="The GGUF file to write.")],
    base: Annotated[
        str | None, typer.Option(help="The GGUF the policy was fine-tuned from (default: embedded model).")
    ] = None,
) -> None:
    """Write a fine-tuned policy as a GGUF (the base GGUF's metadata and tokenizer, the policy's
    weights), or its LoRA adapter as llama.cpp's LoRA GGUF (a few MB, applied over the base at
    load), so `--engine llamacpp --model OUT` runs it."""
    from backend.evolve.gguf_export import export_gguf as export

    if (policy_dir / "adapter_config.json").is_file():
        from backend.evolve.lora_gguf import export_lora_gguf

        lora = export_lora_gguf(policy_dir, out, base)
        typer.echo(
            f"wrote {lora.path} ({lora.size_bytes / 1e6:.1f} MB, {lora.tensors} LoRA tensors, rank "
            f"{lora.rank}, alpha {lora.alpha:g}) in {lora.seconds:.1f} s; llama.cpp applies it over "
            f"{base or 'the embedded model'} at load"
        )
        typer.echo(f"run it: canopy solve PROBLEM --engine llamacpp --model {lora.path}")
        return
    if not (policy_dir / "config.json").is_file():
        raise FileNotFoundError(
            f"{policy_dir} is neither a model folder (config.json) nor a LoRA adapter (adapter_config.json)"
        )
    res = export(policy_dir, out, base)
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(res.types.items()))
    typer.echo(f"wrote {res.path} ({res.size_bytes / 1e6:.0f} MB, {kinds}) in {res.seconds:.1f} s")
    kept, f16 = len(res.unchanged), len(res.retyped)
    typer.echo(f"{kept} tensors kept the base's blocks; {f16} K-quant tensors written as Q8_0")
    typer.echo(f"run it: canopy solve PROBLEM --engine llamacpp --model {res.path}")


def register(app: typer.Typer) -> None:
    app.command("export-gguf")(export_gguf)
