"""Search configs: frozen dataclasses whose fields carry their own bounds and help.

Every algorithm has one ``XConfig`` dataclass. A field made with :func:`knob` records its
help text, bounds and choices in ``dataclasses.field(metadata=...)``, so the CLI and the
UI build their options from the same place (``config_fields``) and :func:`check_config`
rejects a bad value with a message that names the field, the bound and the value.
Presets are plain dicts of overrides, applied by :func:`build_config`.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from backend.names import unknown_name_error

C = TypeVar("C")


def knob(
    default: Any,
    help: str,
    *,
    min: float | None = None,
    max: float | None = None,
    choices: tuple[Any, ...] | None = None,
) -> Any:
    """A config field with its documentation and bounds (read by ``config_fields``)."""
    meta = {"help": help, "min": min, "max": max, "choices": choices}
    return dataclasses.field(default=default, metadata=meta)


def _literal_choices(tp: Any) -> tuple[Any, ...] | None:
    if typing.get_origin(tp) is typing.Literal:
        return typing.get_args(tp)
    return None


def _type_name(tp: Any) -> str:
    if _literal_choices(tp) is not None:
        return "choice"
    return getattr(tp, "__name__", str(tp))


def config_fields(cls: type) -> list[dict[str, Any]]:
    """One dict per field: name, type, default, min, max, choices, help."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        choices = f.metadata.get("choices") or _literal_choices(tp)
        out.append(
            {
                "name": f.name,
                "type": _type_name(tp),
                "default": f.default,
                "min": f.metadata.get("min"),
                "max": f.metadata.get("max"),
                "choices": list(choices) if choices else None,
                "help": f.metadata.get("help", ""),
            }
        )
    return out


def _coerce(name: str, tp: Any, value: Any) -> Any:
    """Accept CLI strings and JSON numbers for typed fields; reject what cannot fit."""
    if _literal_choices(tp) is not None or tp is str:
        return value
    if tp is bool:
        if isinstance(value, str):
            low = value.strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError(f"{name} must be true or false, got {value!r}")
        return bool(value)
    if tp in (int, float):
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            raise ValueError(f"{name} must be a number, got {value!r}") from None
        if not math.isfinite(number):  # nan passes every bound check (all comparisons are False)
            raise ValueError(f"{name} must be a finite number, got {value!r}")
        if tp is int:
            if number != int(number):
                raise ValueError(f"{name} must be a whole number, got {value!r}")
            return int(number)
        return number
    return value


def check_config(cfg: Any) -> None:
    """Raise ValueError naming the first field outside its bounds or choices."""
    hints = typing.get_type_hints(type(cfg))
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        choices = f.metadata.get("choices") or _literal_choices(hints[f.name])
        if choices and value not in choices:
            raise ValueError(f"{f.name} must be one of {', '.join(map(str, choices))}; got {value!r}")
        lo, hi = f.metadata.get("min"), f.metadata.get("max")
        if isinstance(value, int | float) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise ValueError(f"{f.name} must be a finite number, got {value}")
            if lo is not None and value < lo:
                raise ValueError(f"{f.name} must be at least {lo}, got {value}")
            if hi is not None and value > hi:
                raise ValueError(f"{f.name} must be at most {hi}, got {value}")


def build_config(
    cls: type[C],
    presets: Mapping[str, Mapping[str, Any]] | None = None,
    preset: str | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> C:
    """Defaults, then the preset's values, then explicit overrides (None means "not given")."""
    presets = presets or {}
    values: dict[str, Any] = {}
    if preset is not None:
        if preset not in presets:
            raise unknown_name_error("preset", preset, presets)
        values.update(presets[preset])
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    for key in list(values):
        if key not in names:
            raise unknown_name_error("option", key, names, owner=cls.__name__, sort=False)
        values[key] = _coerce(key, hints[key], values[key])
    cfg = cls(**values)
    check_config(cfg)
    return cfg


def config_dict(cfg: Any) -> dict[str, Any]:
    """The config as plain JSON-able values (what RunStarted.config carries)."""
    return dataclasses.asdict(cfg)
