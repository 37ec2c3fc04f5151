"""Write an evolved policy (a merged HF folder, ``backend/train/sft.py: save_policy``) as a
GGUF file the llama.cpp engine loads, so rounds ≥ 2 search at the embedded model's speed.

No HF → GGUF converter ships here (that is llama.cpp's ``convert_hf_to_gguf.py``), but a
policy fine-tuned from the embedded model has exactly the embedded GGUF's architecture. So the
base GGUF is the template: its metadata and tokenizer are copied as they are, and each of its
tensors is replaced by the policy's weight under the name mapping transformers reverses when it
loads a GGUF (``gguf.get_tensor_name_map``; qwen2 needs no q/k permutation, unlike llama).

Quantisation follows the base tensor by tensor where ``gguf.quants`` writes llama.cpp's block
format (Q8_0, Q5_0, Q4_0, ... and F32); the K-quants (Q4_K, Q6_K) it cannot write, so those
tensors become Q8_0: finer than the base's own K-quant, and on llama.cpp's CPU path faster than
F16 (docs/EVOLVE.md gives the sizes, speeds and what changes). A policy weight that
is bit for bit the base tensor dequantised (LoRA leaves the embeddings, norms and LM head as
they were) keeps the base's own blocks, so an unchanged tensor loses nothing to re-encoding.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backend.gguf_header import string_field

log = logging.getLogger(__name__)

#: the policy folder's weight checksum (``backend/evolve/manifest.py: folder_sha256``)
SOURCE_SHA_KEY = "canopy.source.sha256"
SOURCE_PATH_KEY = "canopy.source.path"
BASE_KEY = "canopy.base"
#: base GGUF keys → HF config keys that must agree (architecture, sizes)
CONFIG_KEYS = {
    "block_count": "num_hidden_layers",
    "embedding_length": "hidden_size",
    "feed_forward_length": "intermediate_size",
    "attention.head_count": "num_attention_heads",
    "attention.head_count_kv": "num_key_value_heads",
}


class PolicyMismatch(ValueError):
    """The policy is not the base GGUF's architecture: its weights cannot go into that file."""


@dataclass
class ExportResult:
    path: Path
    seconds: float
    size_bytes: int
    source_sha256: str
    types: dict[str, int] = field(default_factory=dict)  # tensor type → how many tensors
    retyped: list[str] = field(default_factory=list)  # base tensors in a K-quant, written as Q8_0
    unchanged: list[str] = field(default_factory=list)  # the base's blocks copied as they are


@functools.lru_cache(maxsize=2)
def _cached_reader(path: str, stamp: tuple[int, int, int]) -> Any:
    import gguf

    return gguf.GGUFReader(path)


def read_gguf(path: str | Path) -> Any:
    """A GGUFReader, kept while the file is unchanged: parsing the 151,936-token vocabulary
    takes seconds, and a run reads the same base (and checks the same export) again and again."""
    st = os.stat(path)
    return _cached_reader(str(path), (st.st_ino, st.st_size, st.st_mtime_ns))


def _field(reader: Any, key: str) -> Any:
    f = reader.fields.get(key)
    return None if f is None else f.contents()


def check_config(config: dict[str, Any], reader: Any) -> None:
    """Refuse a policy whose config.json does not describe the base GGUF's model."""
    arch = _field(reader, "general.architecture")
    problems = []
    if config.get("model_type") != arch:
        problems.append(f"architecture {config.get('model_type')!r} (base: {arch!r})")
    for gkey, hkey in CONFIG_KEYS.items():
        want = _field(reader, f"{arch}.{gkey}")
        if want is not None and config.get(hkey) != want:
            problems.append(f"{hkey} {config.get(hkey)} (base: {want})")
    vocab = len(reader.fields["tokenizer.ggml.tokens"].data)
    embd = next(t for t in reader.tensors if t.name == "token_embd.weight")
    rows = int(embd.shape[-1])  # ggml lists dimensions innermost first
    if config.get("vocab_size") != rows:
        problems.append(f"vocab_size {config.get('vocab_size')} (base: {rows} rows, {vocab} tokens)")
    if problems:
        raise PolicyMismatch("the policy does not match the base GGUF: " + "; ".join(problems))


def target_type(base_type: Any) -> Any:
    """The type a tensor is written in: the base's where gguf.quants writes it, else Q8_0."""
    from gguf import GGMLQuantizationType as T

    writable = {T.F32, T.F16, T.BF16, T.Q8_0, T.Q5_0, T.Q5_1, T.Q4_0, T.Q4_1}
    return base_type if base_type in writable else T.Q8_0


class PolicyWeights:
    """The policy's weights by GGUF name, read one tensor at a time (safetensors, mmapped)."""

    def __init__(self, policy_dir: Path, arch: str, n_layers: int):
        import gguf
        from safetensors import safe_open

        files = sorted(policy_dir.glob("*.safetensors"))
        if not files:
            raise FileNotFoundError(f"no .safetensors weights in {policy_dir}")
        arch_id = next(k for k, v in gguf.MODEL_ARCH_NAMES.items() if v == arch)
        names = gguf.get_tensor_name_map(arch_id, n_layers)
        self._handles = [safe_open(str(f), framework="pt") for f in files]
        self.where: dict[str, tuple[Any, str]] = {}
        for handle in self._handles:
            for hf_name in handle.keys():  # noqa: SIM118 (safe_open is not iterable)
                stem, _, suffix = hf_name.rpartition(".")
                gname = names.get_name(stem)
                if gname is None:
                    if "rotary_emb" in hf_name:  # recomputed by llama.cpp, not a weight
                        continue
                    raise PolicyMismatch(f"the policy weight {hf_name} has no place in a {arch} GGUF")
                self.where[f"{gname}.{suffix}"] = (handle, hf_name)

    def shape(self, gguf_name: str) -> tuple[int, ...]:
        handle, hf_name = self.where[gguf_name]
        return tuple(handle.get_slice(hf_name).get_shape())

    def array(self, gguf_name: str) -> Any:
        handle, hf_name = self.where[gguf_name]
        return handle.get_tensor(hf_name).float().numpy()


def _same_as_base(tensor: Any, array: Any) -> bool:
    """Whether ``array`` is exactly ``tensor`` dequantised (as transformers loads it)."""
    import numpy as np
    from gguf import quants

    return bool(np.array_equal(quants.dequantize(tensor.data, tensor.tensor_type), array))


def _plan(reader: Any, weights: PolicyWeights, reuse: bool) -> list[tuple[Any, Any, tuple[int, ...], bool]]:
    """(base tensor, target type, numpy shape, copy the base's blocks) for every base tensor,
    all checked before anything is written."""
    if "output.weight" not in weights.where and "token_embd.weight" in weights.where:
        weights.where["output.weight"] = weights.where["token_embd.weight"]  # tied embeddings
    plan = []
    for t in reader.tensors:
        shape = tuple(int(d) for d in reversed(t.shape))
        if t.name not in weights.where:
            raise PolicyMismatch(f"the policy has no weight for the base tensor {t.name}")
        if weights.shape(t.name) != shape:
            raise PolicyMismatch(f"{t.name}: policy shape {weights.shape(t.name)}, base {shape}")
        if reuse and _same_as_base(t, weights.array(t.name)):
            plan.append((t, t.tensor_type, shape, True))
        else:
            plan.append((t, target_type(t.tensor_type), shape, False))
    extra = set(weights.where) - {t.name for t in reader.tensors}
    if extra:
        raise PolicyMismatch(f"policy weights the base GGUF has no tensor for: {sorted(extra)[:5]}")
    return plan


def _encode(array: Any, qtype: Any) -> Any:
    import numpy as np
    from gguf import GGMLQuantizationType as T
    from gguf import quants

    if qtype == T.F32:
        return np.ascontiguousarray(array, dtype=np.float32)
    if qtype == T.F16:
        return np.ascontiguousarray(array, dtype=np.float16)
    return quants.quantize(np.ascontiguousarray(array, dtype=np.float32), qtype)


def _info(writer: Any, name: str, qtype: Any, shape: tuple[int, ...]) -> None:
    import numpy as np
    from gguf import GGMLQuantizationType as T
    from gguf import quants

    if qtype in (T.F32, T.F16):
        dtype = np.float32 if qtype == T.F32 else np.float16
        writer.add_tensor_info(name, shape, np.dtype(dtype), int(np.prod(shape)) * np.dtype(dtype).itemsize)
    else:
        byte_shape = quants.quant_shape_to_byte_shape(shape, qtype)
        nbytes = int(np.prod(byte_shape))
        writer.add_tensor_info(name, byte_shape, np.dtype(np.uint8), nbytes, raw_dtype=qtype)


def export_gguf(
    policy_dir: str | Path, out: str | Path, base: str | None = None, *, reuse_unchanged: bool = True
) -> ExportResult:
    """Write ``policy_dir`` as ``out`` (atomically: a temp file renamed), using ``base`` (default:
    the embedded model) as the template. Raises PolicyMismatch before writing anything.
    ``reuse_unchanged=False`` re-encodes every tensor (to test the encoder on its own)."""
    import json

    import gguf

    from backend.engines.embedded import resolve_model
    from backend.evolve.manifest import folder_sha256

    start = time.perf_counter()
    policy, out = Path(policy_dir), Path(out)
    base_path = resolve_model(base)
    reader = read_gguf(base_path)
    arch = _field(reader, "general.architecture")
    config = json.loads((policy / "config.json").read_text(encoding="utf-8"))
    check_config(config, reader)
    weights = PolicyWeights(policy, arch, int(_field(reader, f"{arch}.block_count")))
    plan = _plan(reader, weights, reuse_unchanged)
    sha = folder_sha256(policy)

    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(tmp, arch)
    alignment = _field(reader, "general.alignment")
    if alignment:
        writer.data_alignment = int(alignment)
    for f in reader.fields.values():
        if f.name == "general.architecture" or f.name.startswith(("GGUF.", "canopy.")):
            continue  # the writer writes these itself; old provenance is replaced below
        vtype = f.types[0]
        sub = f.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        value = f.contents()
        if f.name == "general.name":
            value = f"{value} (canopy policy {sha[:12]})"
        writer.add_key_value(f.name, value, vtype, sub_type=sub)
    writer.add_string(SOURCE_SHA_KEY, sha)
    writer.add_string(SOURCE_PATH_KEY, str(policy.resolve()))
    writer.add_string(BASE_KEY, Path(base_path).name)
    for t, qtype, shape, copy in plan:
        if copy:
            writer.add_tensor_info(t.name, t.data.shape, t.data.dtype, t.data.nbytes, raw_dtype=t.tensor_type)
        else:
            _info(writer, t.name, qtype, shape)
    try:
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for t, qtype, _shape, copy in plan:
            writer.write_tensor_data(t.data if copy else _encode(weights.array(t.name), qtype))
        writer.close()
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    types = Counter(qtype.name for _t, qtype, _s, _c in plan)
    retyped = [t.name for t, qtype, _s, _c in plan if qtype != t.tensor_type]
    unchanged = [t.name for t, _q, _s, copy in plan if copy]
    seconds = time.perf_counter() - start
    log.info("exported %s to %s in %.1f s", policy, out, seconds)
    return ExportResult(out, seconds, out.stat().st_size, sha, dict(types), retyped, unchanged)


def gguf_source_sha(path: str | Path) -> str | None:
    """The policy checksum an exported GGUF records, or None (not one of ours, or unreadable)."""
    try:
        return string_field(path, SOURCE_SHA_KEY)
    except (OSError, ValueError):
        return None


def ensure_policy_gguf(policy_dir: str | Path, base: str | None = None) -> Path:
    """``RUN/round-N/policy.gguf`` beside the policy folder, exported unless one already
    records this policy's checksum (so a resumed run does not export again)."""
    from backend.evolve.manifest import folder_sha256

    policy = Path(policy_dir)
    out = policy.with_name(policy.name + ".gguf")
    if out.is_file() and gguf_source_sha(out) == folder_sha256(policy):
        return out
    res = export_gguf(policy, out, base)
    log.warning("exported %s as GGUF in %.0f s (%.0f MB)", policy, res.seconds, res.size_bytes / 1e6)
    return out
