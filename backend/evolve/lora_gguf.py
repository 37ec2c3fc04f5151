"""A round's LoRA adapter (``backend/train/sft.py: save_adapter``) as a llama.cpp LoRA GGUF, so
an evolved policy runs on llama.cpp from a file of a few MB over the embedded model, instead
of a merged GGUF of hundreds of MB (``gguf_export.py``).

llama.cpp's adapter format (its ``convert_lora_to_gguf.py``): ``general.type = "adapter"``,
``adapter.type = "lora"``, ``adapter.lora.alpha``, and per adapted weight two tensors named
after the base GGUF tensor, ``<name>.lora_a`` (PEFT's A, [r, in]) and ``<name>.lora_b`` (B,
[out, r]); llama.cpp adds ``alpha / r · B A x`` to the layer's output. Canopy also records the
base GGUF the adapter belongs to (``canopy.base``) and the adapter folder's checksum, so
``--engine llamacpp --model ADAPTER.gguf`` loads that base and applies the adapter
(``backend/engines/llamacpp.py``).

Everything is checked before a byte is written: the adapter must be plain LoRA (no DoRA, no
per-module ranks or alphas, no extra trained modules), and every adapted weight must exist in
the base GGUF with the shape A and B imply.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backend.gguf_header import LORA_BASE_KEY, LORA_SOURCE_SHA_KEY, AdapterMismatch

PEFT_PREFIX = "base_model.model."


@dataclass(frozen=True)
class LoraExport:
    path: Path
    seconds: float
    size_bytes: int
    tensors: int
    alpha: float
    rank: int


def _adapter_settings(folder: Path) -> tuple[float, int]:
    """(alpha as llama.cpp applies it, rank) of a plain PEFT LoRA folder; refuses the rest."""
    config_file = folder / "adapter_config.json"
    if not config_file.is_file() or not (folder / "adapter_model.safetensors").is_file():
        raise AdapterMismatch(f"{folder} is not a saved LoRA adapter (adapter_config.json + safetensors)")
    config = json.loads(config_file.read_text(encoding="utf-8"))
    if str(config.get("peft_type", "")).upper() != "LORA":
        raise AdapterMismatch(f"{folder}: peft_type {config.get('peft_type')!r}, not LORA")
    unsupported = [key for key in ("use_dora", "rank_pattern", "alpha_pattern", "modules_to_save")
                   if config.get(key)]
    if config.get("bias", "none") != "none":
        unsupported.append(f"bias={config['bias']}")
    if unsupported:
        raise AdapterMismatch(f"{folder}: llama.cpp's LoRA has no {', '.join(unsupported)}")
    rank, alpha = int(config["r"]), float(config["lora_alpha"])
    if config.get("use_rslora"):  # PEFT scales by alpha/sqrt(r); llama.cpp by alpha/r
        alpha *= math.sqrt(rank)
    return alpha, rank


def _plan(
    folder: Path, base_shapes: dict[str, tuple[int, ...]], arch: str, n_layers: int
) -> list[tuple[str, Any]]:
    """(GGUF tensor name, float16 array) for every A and B, checked against the base."""
    import gguf
    import numpy as np
    from safetensors.torch import load_file

    arch_id = next(k for k, v in gguf.MODEL_ARCH_NAMES.items() if v == arch)
    names = gguf.get_tensor_name_map(arch_id, n_layers)
    pairs: dict[str, dict[str, Any]] = {}
    for key, tensor in load_file(str(folder / "adapter_model.safetensors")).items():
        stem = key.removeprefix(PEFT_PREFIX)
        module, dot, part = stem.rpartition(".lora_")
        tag = {"A.weight": "a", "B.weight": "b"}.get(part) if dot else None
        if tag is None:
            raise AdapterMismatch(f"{key} is not a LoRA A or B weight")
        gname = names.get_name(module)
        if gname is None or f"{gname}.weight" not in base_shapes:
            raise AdapterMismatch(f"{module} has no weight in a {arch} GGUF")
        pairs.setdefault(f"{gname}.weight", {})[tag] = tensor.float().numpy()
    if not pairs:
        raise AdapterMismatch(f"{folder} holds no LoRA weights")
    plan = []
    for name, ab in sorted(pairs.items()):
        if set(ab) != {"a", "b"}:
            raise AdapterMismatch(f"{name}: the adapter has only lora_{''.join(ab).upper()}")
        out_dim, in_dim = base_shapes[name]
        a, b = ab["a"], ab["b"]
        if a.shape[1] != in_dim or b.shape[0] != out_dim or a.shape[0] != b.shape[1]:
            raise AdapterMismatch(
                f"{name}: A {a.shape} and B {b.shape} do not fit the base's {(out_dim, in_dim)}"
            )
        plan.append((f"{name}.lora_a", np.ascontiguousarray(a, dtype=np.float16)))
        plan.append((f"{name}.lora_b", np.ascontiguousarray(b, dtype=np.float16)))
    return plan


def export_lora_gguf(adapter_dir: str | Path, out: str | Path, base: str | None = None) -> LoraExport:
    """Write the PEFT adapter folder ``adapter_dir`` as llama.cpp's LoRA GGUF ``out`` (a temp
    file renamed) for ``base`` (default: the embedded model), float16. AdapterMismatch, before
    anything is written, when it does not fit."""
    import gguf

    from backend.engines.embedded import resolve_model
    from backend.evolve.manifest import folder_sha256
    from backend.gguf_header import read_header

    start = time.perf_counter()
    folder, out = Path(adapter_dir), Path(out)
    alpha, rank = _adapter_settings(folder)
    base_path = resolve_model(base)
    header = read_header(base_path)
    arch = header.fields.get("general.architecture")
    if not isinstance(arch, str) or f"{arch}.block_count" not in header.fields:
        raise AdapterMismatch(f"{base_path} names no architecture and block count")
    plan = _plan(folder, header.shapes, arch, int(header.fields[f"{arch}.block_count"]))

    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(tmp, arch)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, alpha)
    writer.add_string(LORA_BASE_KEY, "embedded" if base is None else str(Path(base_path).resolve()))
    writer.add_string(LORA_SOURCE_SHA_KEY, folder_sha256(folder))
    for name, array in plan:
        writer.add_tensor(name, array)
    try:
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return LoraExport(out, time.perf_counter() - start, out.stat().st_size, len(plan), alpha, rank)
