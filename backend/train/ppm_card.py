"""A built PPM's model card (``MODEL_CARD.md``), written from its marker by the build itself.

Why: a shipped PPM must say what it is (backbone, data and problem ids, pairs, settings,
time, held-out pairwise accuracy next to "prefer the longer step", and its measured effect
on accuracy). Writing the card from the marker that the same build wrote keeps the two from
drifting apart: a rebuilt PPM gets a rebuilt card. The effect on search accuracy is measured
afterwards (``bench/ppm_quality.py``) and recorded into the marker's ``effect`` entry with
:func:`record_effect`, which rewrites the card; until then the card says it is not measured.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

CARD_FILE = "MODEL_CARD.md"


def id_ranges(ids: Iterable[str]) -> str:
    """Problem ids as compact ranges per set: ``gsm8k-train 0-3, 7; other/x``."""
    numbered: dict[str, list[int]] = {}
    other: list[str] = []
    for pid in ids:
        match = re.fullmatch(r"(.+)[/_](\d+)", pid)
        if match:
            numbered.setdefault(match.group(1), []).append(int(match.group(2)))
        else:
            other.append(pid)
    parts = []
    for name in sorted(numbered):
        nums = sorted(set(numbered[name]))
        runs: list[str] = []
        first = last = nums[0]
        for n in [*nums[1:], None]:
            if n is not None and n == last + 1:
                last = n
                continue
            runs.append(str(first) if first == last else f"{first}-{last}")
            if n is not None:
                first = last = n
        parts.append(f"{name} {', '.join(runs)} ({_count(len(nums), 'problem')})")
    return "; ".join(parts + sorted(other)) or "none"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _size(path: Path) -> str:
    return f"{path.stat().st_size / 1e6:.1f} MB" if path.is_file() else "absent"


def render_card(marker: Mapping[str, Any], directory: Path | None = None) -> str:
    """The card's Markdown for a PPM ``marker`` (its ``canopy_ppm.json``); ``directory``
    (where its files are) adds their sizes."""
    backbone = marker.get("backbone") or {}
    data = marker.get("data") or {}
    training = marker.get("training") or {}
    held = marker.get("heldout") or {}
    seconds = marker.get("seconds") or {}
    check = marker.get("llamacpp_check") or {}
    effect = marker.get("effect")
    top = training.get("top_layers")
    from backend.engines.embedded import EMBEDDED

    which = ("the embedded model's" if (marker.get("backbone") or {}).get("sha256") == EMBEDDED.sha256
             else "its backbone's (below)")
    kind = (f"a value head over {which} last-token state, with the top {top} layers "
            f"fine-tuned (LoRA r {training.get('lora_rank')}, shipped as a LoRA GGUF that only the "
            "PPM's context applies)" if top else "a linear value head over the model's frozen "
            "last-token hidden state")
    acc, longer = held.get("pairwise_accuracy"), held.get("prefer_longer_step")
    held_problems = _count(len(held.get("problems") or []), "problem")
    rows = [
        ("what it is", kind),
        ("backbone", f"`{backbone.get('name')}` (hidden size {backbone.get('hidden_size')}, sha256 "
                     f"`{str(backbone.get('sha256'))[:16]}…`)"),
        ("trained by", f"{marker.get('trained_by')}"),
        ("data", f"the official Q-value step pairs (filter: {data.get('pair_filter')}) of truth-rewarded "
                 f"rStar-Math searches (terminal reward ±1 from the known answer) of "
                 f"{data.get('set')} problems only: {id_ranges(data.get('problems') or [])}"),
        ("tree folders", ", ".join(f"`{f}`" for f in data.get("tree_folders") or []) or "n/a"),
        ("pairs", f"{data.get('pairs')} used"
                  + (f"; {data['equivalent_pairs_left_out']} left out whose two steps compute the same thing"
                     if data.get("equivalent_pairs_left_out") is not None else "")),
        ("training", ", ".join(f"{k} {v}" for k, v in training.items()
                               if k not in ("loss",) and not isinstance(v, dict | list))
                     + f"; loss: {training.get('loss')}"),
        ("held-out pairwise accuracy",
         f"**{_fmt(acc)}** on {held.get('pairs')} pairs of {held_problems} "
         f"no training pair came from (split by a hash of the problem id); 'prefer the longer step' on "
         f"the same pairs: {_fmt(longer)}"),
        ("training pairs ranked right", _fmt(marker.get("train_pairwise_accuracy"))),
    ]
    if check:
        same = _fmt(check.get("same_order_as_trained"))
        rows.append(("served as trained",
                     f"llama.cpp's scores order {same} of {check.get('pairs')} pairs "
                     "as the trained model does"))
    times = ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items())
    rows.append(("time", f"{times} ({marker.get('machine')})"))
    if directory is not None:
        files = ["value_head.json"] + (["ppm_lora.gguf"] if marker.get("adapter") else [])
        rows.append(("files", ", ".join(f"`{f}` {_size(Path(directory) / f)}" for f in files)))
    rows.append(("effect on accuracy", effect if isinstance(effect, str) and effect.strip()
                 else "**not measured yet** (`python bench/ppm_quality.py --ppm DIR`, docs/PPM.md)"))
    lines = ["# Model card: Canopy's PPM", "",
             "Made by Canopy's own pipeline; this card is written from `canopy_ppm.json` by the build "
             "(`backend/train/ppm_card.py`) and rewritten when the effect is recorded.", "",
             "| | |", "|---|---|"]
    lines += [f"| {k} | {str(v).replace('|', '/')} |" for k, v in rows]
    command = marker.get("command")
    if command:
        lines += ["", "Rebuild it (the same trees and settings):", "", "```", str(command), "```"]
    return "\n".join(lines) + "\n"


def write_card(directory: str | Path) -> Path:
    """Write ``MODEL_CARD.md`` next to the PPM's marker in ``directory``."""
    from backend.reward.step_scorer import MARKER

    directory = Path(directory)
    marker = json.loads((directory / MARKER).read_text(encoding="utf-8"))
    path = directory / CARD_FILE
    path.write_text(render_card(marker, directory), encoding="utf-8")
    return path


def record_effect(directory: str | Path, effect: str) -> Path:
    """Record the measured effect on accuracy (one Markdown sentence or table row) into the
    marker's ``effect`` and rewrite the card. The marker's other entries are kept as they are."""
    from backend.reward.ppm_head import _write_json
    from backend.reward.step_scorer import MARKER

    if not effect.strip():
        raise ValueError("the effect must say what was measured")
    directory = Path(directory)
    path = directory / MARKER
    marker = json.loads(path.read_text(encoding="utf-8"))
    marker["effect"] = effect.strip()
    _write_json(path, marker)  # atomic: a crash never leaves the PPM without its marker
    return write_card(directory)
