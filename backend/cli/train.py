"""``canopy pairs`` and ``canopy train-ppm``: preference pairs from stored search trees, and
rStar-Math's process preference model trained on PPM pairs (docs/CLI.md)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from backend.cli.runs import DbOption, history


def command_line() -> str:
    """How this process was started, as a command to paste (for a built PPM's marker and card)."""
    import shlex
    import sys

    return shlex.join(["canopy", *sys.argv[1:]])


def pairs(
    run_ids: Annotated[list[str], typer.Argument(help="Run ids (see `canopy runs`).")],
    kind: Annotated[
        str,
        typer.Option("--kind", help="step-apo (CPL, from any run) or ppm (rStar-Math, truth-rewarded runs)."),
    ] = "step-apo",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="JSON Lines file to write.")] = None,
    db: DbOption = None,
) -> None:
    """Preference pairs from stored search trees, as the papers' official scripts build them:
    Step-APO's sibling steps whose values straddle zero, or the PPM's Q-value step pairs
    (kept when the margin is ≥ 0.5 and the steps are ≥ 20 edits apart). docs/CLI.md."""
    from backend.train.pairs_io import write_pairs
    from backend.tree import Tree

    if kind == "step-apo":
        from backend.train.step_apo import step_pairs as build
    elif kind == "ppm":
        from backend.train.ppm_pairs import keep, ppm_pairs

        def build(tree: Tree) -> list:
            return keep(ppm_pairs(tree))
    else:
        raise typer.BadParameter(f"--kind must be step-apo or ppm, not {kind!r}")
    path = out or Path(f"{kind.replace('-', '_')}_pairs.jsonl")
    found = []
    with history(db) as store:  # a database failure or a damaged stored run: one error line
        for run_id in run_ids:
            if store.get(run_id) is None:
                raise LookupError(f"no stored run {run_id!r} (see `canopy runs`)")
            found.append((run_id, build(Tree.from_events(store.read(run_id)))))
    count = write_pairs((p for _, ps in found for p in ps), path)
    for run_id, ps in found:
        typer.echo(f"{run_id}: {len(ps)} pairs")
    typer.echo(f"wrote {count} {kind} pairs to {path}")


def train_ppm(
    pairs_file: Annotated[Path, typer.Argument(help="PPM pairs (`canopy pairs --kind ppm`).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for the trained PPM.")],
    base: Annotated[
        str | None,
        typer.Option(
            "--base", help="Backbone: HF id or directory, a .gguf, or the embedded model (default)."
        ),
    ] = None,
    epochs: Annotated[int, typer.Option(min=1, max=100, help="Official: 2.")] = 2,
    lr: Annotated[float, typer.Option(min=0.0, max=1.0, help="AdamW learning rate (official 7e-6).")] = 7e-6,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, max=256, help="Pairs per step.")] = 4,
    grad_accum: Annotated[
        int, typer.Option("--grad-accum", min=1, max=256, help="Steps accumulated per optimiser update.")
    ] = 1,
    max_length: Annotated[
        int,
        typer.Option(
            "--max-length", min=2, help="Tokens per text; longer ones keep their start (official 2048)."
        ),
    ] = 2048,
    lora: Annotated[
        bool, typer.Option("--lora", help="Train LoRA adapters on the backbone (PEFT) instead of all of it.")
    ] = False,
    lora_rank: Annotated[
        int, typer.Option("--lora-rank", min=1, max=1024, help="LoRA rank r (alpha = 2r).")
    ] = 16,
    lora_top_layers: Annotated[
        int | None,
        typer.Option("--lora-top-layers", min=1, help="With --lora: adapters on the last N layers (CPU)."),
    ] = None,
    gradient_checkpointing: Annotated[
        bool,
        typer.Option(
            "--gradient-checkpointing/--no-gradient-checkpointing",
            help="Recompute activations in backward (official; about a third of the memory, 1.3x a step).",
        ),
    ] = True,
    threads: Annotated[
        int | None, typer.Option(min=1, help="CPU torch threads (default: the cores this process may use).")
    ] = None,
    seed: Annotated[int, typer.Option()] = 0,
) -> None:
    """Put a value head on a causal LM and train both on Q-value step pairs with the official
    loss, through a transformers Trainer (backend/train/ppm_trainer.py)."""
    from backend._optional import require

    require("torch", extra="hf")
    require("transformers", extra="hf")
    if lora:
        require("peft", extra="train")
    from rich.progress import Progress

    from backend.reward.ppm import ProcessPreferenceModel, load_backbone, save_ppm
    from backend.train.pairs_io import read_pairs
    from backend.train.ppm_pairs import PPMPair
    from backend.train.ppm_trainer import LoRA, PPMTrainConfig, fit

    config = PPMTrainConfig(
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        grad_accum=grad_accum,
        max_length=max_length,
        seed=seed,
        gradient_checkpointing=gradient_checkpointing,
        lora=LoRA(r=lora_rank, alpha=2 * lora_rank, top_layers=lora_top_layers) if lora else None,
        threads=threads,
    )
    pairs = read_pairs(pairs_file, PPMPair)
    if not pairs:
        raise ValueError(f"{pairs_file} holds no pairs")
    backbone, tokenizer = load_backbone(base)
    model = ProcessPreferenceModel(backbone)
    with Progress() as bar:
        task = bar.add_task(f"training on {len(pairs)} pairs", total=None)

        def progress(step: int, steps: int, loss: float) -> None:
            bar.update(task, completed=step, total=steps, description=f"loss {loss:.4f}")

        losses = fit(model, tokenizer, pairs, config, progress=progress)
    save_ppm(
        model,
        tokenizer,
        out,
        base=base or "embedded",
        pairs=len(pairs),
        steps=len(losses),
        first_loss=losses[0],
        last_loss=losses[-1],
        **config.about(),
    )
    typer.echo(f"trained on {len(pairs)} pairs, {len(losses)} steps: loss {losses[0]:.4f} → {losses[-1]:.4f}")
    typer.echo(f"saved the PPM to {out}")


def build_ppm(
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Where to save the PPM (default: assets/ppm, the shipped one)."),
    ] = None,
    start: Annotated[int, typer.Option(min=0, help="First gsm8k-train problem (0-based).")] = 0,
    count: Annotated[
        int, typer.Option(min=1, max=7473, help="How many gsm8k-train problems to search.")
    ] = 40,
    work: Annotated[
        Path | None,
        typer.Option(
            "--work",
            help="Folder for the searches (one events file per problem, resumable; "
            "default: assets/ppm-data, the searches the shipped PPM comes from).",
        ),
    ] = None,
    rollouts: Annotated[int, typer.Option(min=1, max=1000, help="MCTS rollouts per problem.")] = 8,
    max_steps: Annotated[
        int | None,
        typer.Option(
            "--max-steps",
            min=1,
            max=100,
            help="Search only problems whose reference solution has at most this many calculator steps "
            "(<<...>>): the embedded model solves more of those, so a search gives more pairs.",
        ),
    ] = None,
    no_search: Annotated[
        bool, typer.Option("--no-search", help="Use only the searches already in --work.")
    ] = False,
    epochs: Annotated[
        int | None, typer.Option(min=1, max=100000, help="Default: 30 for a head, 4 with --top-layers.")
    ] = None,
    lr: Annotated[
        float | None,
        typer.Option(min=0.0, max=10.0, help="Default: 1e-3 for a head, 5e-4 with --top-layers."),
    ] = None,
    l2: Annotated[float, typer.Option(min=0.0, max=100.0, help="L2 penalty on the head's weights.")] = 1e-2,
    top_layers: Annotated[
        int,
        typer.Option(
            "--top-layers",
            min=0,
            max=64,
            help="Also fine-tune the model's top N layers (LoRA, shipped as a LoRA GGUF the PPM applies): "
            "the paper's fine-tuned PPM with the bottom layers frozen. 0: a head on frozen states.",
        ),
    ] = 0,
    lora_rank: Annotated[int, typer.Option("--lora-rank", min=1, max=256, help="With --top-layers.")] = 16,
    extra_trees: Annotated[
        list[Path] | None,
        typer.Option(
            "--trees",
            help="With --top-layers: more folders of search trees (*.jsonl.gz, GSM8K train only) to take "
            "pairs from, e.g. assets/evolve-300/round-1/trees.",
        ),
    ] = None,
    keep_equivalent: Annotated[
        bool,
        typer.Option(
            "--keep-equivalent",
            help="With --top-layers: keep pairs whose two steps compute the same thing "
            "(left out by default).",
        ),
    ] = False,
    seed: Annotated[int, typer.Option()] = 0,
    threads: Annotated[
        int | None, typer.Option(min=1, help="llama.cpp threads (default: all cores).")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Save the head even when held-out accuracy is too low to ship.")
    ] = False,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="A GGUF policy to search with and read states from (e.g. an evolve round's "
            "policy.gguf: the paper starts its PPM from the fine-tuned policy); needs --out and --work.",
        ),
    ] = None,
) -> None:
    """Build Canopy's own PPM from scratch: truth-rewarded rStar-Math searches on GSM8K *train*
    problems with the embedded model, the official Q-value pairs, the model's hidden states,
    a value head (docs/PPM.md). Resumable: searches already in --work are kept."""
    if model is not None and (out is None or work is None):
        # the defaults are the shipped PPM and its searches: both belong to the embedded model
        raise typer.BadParameter(
            "--model needs its own --out and --work: assets/ppm and assets/ppm-data hold the "
            "embedded model's PPM and searches",
            param_hint="--model",
        )
    from backend.engines import load_engine
    from backend.paths import assets_dir
    from backend.problems import load_problems
    from backend.runspec import shipped_ppm_dir
    from backend.train.build_ppm import build_ppm as build
    from backend.train.ppm_data import reference_steps

    problems = load_problems("gsm8k-train", start + count)[start:]
    if max_steps is not None:
        problems = [p for p in problems if reference_steps(p) <= max_steps]
    if top_layers == 0 and (extra_trees or keep_equivalent):
        raise typer.BadParameter("--trees and --keep-equivalent go with --top-layers", param_hint="--trees")
    for folder in extra_trees or []:
        if not folder.is_dir():
            raise typer.BadParameter(f"{folder} is not a folder of search trees", param_hint="--trees")
    engine = load_engine("llamacpp", model, **({"n_threads": threads} if threads else {}))
    try:
        if top_layers:
            from backend.train.build_ppm import searched_trees
            from backend.train.build_top_layers_ppm import TopLayersSettings, build_top_layers_ppm

            paths = searched_trees(problems, work or assets_dir() / "ppm-data", engine=engine,
                                   search_config={"rollouts": rollouts}, seed=seed, search=not no_search,
                                   say=typer.echo)
            paths += [f for folder in extra_trees or [] for f in sorted(folder.glob("*.jsonl.gz"))]
            settings = TopLayersSettings(
                top_layers=top_layers, lora_rank=lora_rank, lr=5e-4 if lr is None else lr,
                epochs=4 if epochs is None else epochs, seed=seed, threads=threads or os.cpu_count() or 1,
                drop_equivalent=not keep_equivalent,
            )
            report = build_top_layers_ppm(paths, out or shipped_ppm_dir(), engine=engine, settings=settings,
                                          force=force, command=command_line(), say=typer.echo)
        else:
            report = build(
                problems,
                out or shipped_ppm_dir(),
                engine=engine,
                work_dir=work or assets_dir() / "ppm-data",
                search_config={"rollouts": rollouts},
                epochs=30 if epochs is None else epochs,
                lr=1e-3 if lr is None else lr,
                l2=l2,
                seed=seed,
                search=not no_search,
                force=force,
                command=command_line(),
                say=typer.echo,
            )
    finally:
        engine.close()
    typer.echo(
        f"{report.searched} problems, {report.pairs} pairs; held-out pairwise accuracy "
        f"{report.heldout_accuracy if report.heldout_accuracy is not None else 'n/a'} "
        f"('prefer the longer step' on the same pairs: "
        f"{report.heldout_longer_step if report.heldout_longer_step is not None else 'n/a'})"
    )


def register(app: typer.Typer) -> None:
    app.command("pairs")(pairs)
    app.command("train-ppm")(train_ppm)
    app.command("build-ppm")(build_ppm)
