"""Reading a GGUF file's header without building it: one string value (``string_field``), and
the base model a Canopy LoRA adapter GGUF names (``lora_base``). The engines and the evolve
code both read headers; this module imports nothing heavy, so either may use it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: where a Canopy LoRA GGUF (backend/evolve/lora_gguf.py) names its base: "embedded" or a path
LORA_BASE_KEY = "canopy.lora.base"
LORA_SOURCE_SHA_KEY = "canopy.lora.source.sha256"


class AdapterMismatch(ValueError):
    """A LoRA adapter cannot be written for (or applied to) a base GGUF."""


#: GGUF value types → their fixed sizes in bytes (8: string and 9: array are variable)
_GGUF_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_GGUF_STRING, _GGUF_ARRAY = 8, 9
#: bounds a header may not pass (a file in a runs folder is data, not trusted)
_MAX_KEYS, _MAX_ITEMS, _MAX_TEXT = 100_000, 10_000_000, 64 << 20


_SCALAR_FORMATS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_MAX_TENSORS, _MAX_DIMS = 1_000_000, 8


def _number(f: Any, fmt: str) -> Any:
    import struct

    raw = f.read(struct.calcsize(fmt))
    if len(raw) != struct.calcsize(fmt):
        raise ValueError("the GGUF header ends early")
    return struct.unpack("<" + fmt, raw)[0]


def _text(f: Any) -> bytes:
    size = _number(f, "Q")
    if size > _MAX_TEXT:
        raise ValueError("a GGUF string is implausibly long")
    raw = f.read(size)
    if len(raw) != size:
        raise ValueError("the GGUF header ends early")
    return raw


def _skip(f: Any, kind: int) -> None:
    if kind == _GGUF_STRING:
        f.seek(_number(f, "Q"), os.SEEK_CUR)
    elif kind == _GGUF_ARRAY:
        item, count = _number(f, "I"), _number(f, "Q")
        if count > _MAX_ITEMS:
            raise ValueError("a GGUF array is implausibly long")
        if item in _GGUF_SIZES:
            f.seek(count * _GGUF_SIZES[item], os.SEEK_CUR)
        else:
            for _ in range(count):
                _skip(f, item)
    elif kind in _GGUF_SIZES:
        f.seek(_GGUF_SIZES[kind], os.SEEK_CUR)
    else:
        raise ValueError(f"unknown GGUF value type {kind}")


def _open_header(f: Any, path: str | Path) -> tuple[int, int]:
    """(tensor count, key count) after the magic and version."""
    if f.read(4) != b"GGUF":
        raise ValueError(f"{Path(path).name} is not a GGUF file")
    version, tensors, keys = _number(f, "I"), _number(f, "Q"), _number(f, "Q")
    if version < 2 or keys > _MAX_KEYS or tensors > _MAX_TENSORS:
        raise ValueError(f"unsupported GGUF header (version {version}, {keys} keys, {tensors} tensors)")
    return tensors, keys


def string_field(path: str | Path, key: str) -> str | None:
    """One string value of a GGUF header, found by walking the key-value section and seeking
    over the rest: ``gguf.GGUFReader`` builds every field (a 151,936-token vocabulary), which
    took 12 s on this busy CPU for one checksum. ValueError on a file that is not GGUF."""
    with open(path, "rb") as f:
        _tensors, keys = _open_header(f, path)
        wanted = key.encode()
        for _ in range(keys):
            name, kind = _text(f), _number(f, "I")
            if name == wanted:
                if kind != _GGUF_STRING:
                    raise ValueError(f"GGUF key {key} is not a string")
                return _text(f).decode("utf-8")
            _skip(f, kind)
    return None


@dataclass(frozen=True)
class Header:
    """A GGUF header's scalar and string values (arrays left out) and each tensor's shape, in
    numpy order (the reverse of GGUF's)."""

    fields: dict[str, Any]
    shapes: dict[str, tuple[int, ...]]


def read_header(path: str | Path) -> Header:
    """The header without the arrays (the vocabulary) or the tensor data: milliseconds, where
    ``gguf.GGUFReader`` took tens of seconds for the embedded model on a loaded CPU."""
    fields: dict[str, Any] = {}
    shapes: dict[str, tuple[int, ...]] = {}
    with open(path, "rb") as f:
        tensors, keys = _open_header(f, path)
        for _ in range(keys):
            name, kind = _text(f).decode("utf-8", "replace"), _number(f, "I")
            if kind == _GGUF_STRING:
                fields[name] = _text(f).decode("utf-8", "replace")
            elif kind in _SCALAR_FORMATS:
                fields[name] = _number(f, _SCALAR_FORMATS[kind])
            else:
                _skip(f, kind)
        for _ in range(tensors):
            name, dims = _text(f).decode("utf-8", "replace"), _number(f, "I")
            if dims > _MAX_DIMS:
                raise ValueError(f"GGUF tensor {name} has {dims} dimensions")
            shape = tuple(_number(f, "Q") for _ in range(dims))
            f.seek(4 + 8, os.SEEK_CUR)  # the tensor's type (u32) and data offset (u64)
            shapes[name] = tuple(reversed(shape))
    return Header(fields, shapes)


def lora_base(path: str | Path) -> str | None:
    """The base model a Canopy LoRA GGUF names ("embedded" or a GGUF path); None when ``path``
    is a GGUF that is not a LoRA adapter. Reads the header only."""
    if string_field(path, "general.type") != "adapter":
        return None
    base = string_field(path, LORA_BASE_KEY)
    if base is None:
        raise AdapterMismatch(
            f"{Path(path).name} is a LoRA adapter that names no base model ({LORA_BASE_KEY}); "
            "write it with `canopy export-gguf ADAPTER_DIR OUT`"
        )
    return base
