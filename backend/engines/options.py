"""Engine options from the command line (``--engine-opt KEY=VALUE``), checked against the engine.

Every engine's ``load`` takes keyword options (vLLM's GPU memory share, the OpenAI engine's
``extra_body`` and timeout, llama.cpp's threads ...). Rather than one flag per option per
engine, the CLI and the app take ``KEY=VALUE`` pairs and this module turns them into typed
arguments: the key must be a keyword of that engine's ``load``, the value is read by the type
of the option's default (bool, int, float, str; a JSON object for a dict option such as
``extra_body``). JSON is parsed as data (``json.loads``, size-capped), never evaluated.
Secrets are refused: an API key on a command line ends up in shell history and in the run's
spec, so it is read from ``$OPENAI_API_KEY`` only.
"""

from __future__ import annotations

import inspect
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

#: options that must never travel on a command line or into a stored run
SECRET_OPTIONS = {"api_key": "give the API key in $OPENAI_API_KEY, not on the command line"}
#: the longest value accepted (an extra_body JSON object is the long one)
MAX_VALUE_CHARS = 4096
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


#: options whose repeats add up (``--engine-opt base_url=A --engine-opt base_url=B``: two servers,
#: as ``base_url=A,B``); any other option given twice is refused rather than the last one winning
LIST_OPTIONS = frozenset({"base_url"})


def engine_option_kinds(engine: str) -> dict[str, str]:
    """``{option: kind}`` of ``engine``'s ``load`` keywords (not the model, not ``**kwargs``);
    kind is bool, dict, int, float or str, read from the annotation (else the default's type)."""
    from backend.engines import engine_class

    cls = engine_class(engine)
    load = getattr(cls, "load", None) or cls.from_file
    out = {}
    for name, param in inspect.signature(load).parameters.items():
        if name in ("model", "path") or param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
            continue
        out[name] = _kind(param.annotation, param.default)
    return out


def _kind(annotation: Any, default: Any) -> str:
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    for kind in ("bool", "dict", "int", "float", "str"):
        if kind in text:
            return kind
    for kind in (bool, dict, int, float):
        if isinstance(default, kind):
            return kind.__name__
    return "str"


def parse_engine_options(engine: str, items: Iterable[str] | None) -> dict[str, Any]:
    """``KEY=VALUE`` strings → the typed keyword arguments of ``engine``'s ``load``.

    Raises ValueError naming the item, with the engine's options when the key is unknown."""
    from backend.names import unknown_name_error

    kinds = engine_option_kinds(engine)
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = str(item).partition("=")
        key, raw = key.strip(), raw.strip()
        if not sep or not key:
            raise ValueError(f"--engine-opt takes KEY=VALUE, got {item!r}")
        if key in SECRET_OPTIONS:
            raise ValueError(f"--engine-opt {key}: {SECRET_OPTIONS[key]}")
        if key not in kinds:
            raise unknown_name_error("option", key, kinds, owner=f"the {engine} engine")
        if len(raw) > MAX_VALUE_CHARS:
            raise ValueError(f"--engine-opt {key}: the value is over {MAX_VALUE_CHARS} characters")
        value = _typed(key, raw, kinds[key])
        if key in LIST_OPTIONS:  # refused now, before a run records it (no login or query in a URL)
            from backend.engines.server_pool import split_urls

            split_urls(str(value))
        if key in out:
            if key not in LIST_OPTIONS:
                raise ValueError(f"--engine-opt {key} is given twice ({out[key]!r}, {value!r}): give it once")
            value = f"{out[key]},{value}"
        out[key] = value
    return out


def check_engine_options(engine: str | None, options: Mapping[str, Any]) -> None:
    """A stored or imported run's options: known keys of that engine, no secrets, JSON values."""
    from backend.names import unknown_name_error

    if not options:
        return
    if engine is None:
        raise ValueError("engine options need an engine")
    kinds = engine_option_kinds(engine)
    for key in options:
        if key in SECRET_OPTIONS:
            raise ValueError(f"engine option {key}: {SECRET_OPTIONS[key]}")
        if key not in kinds:
            raise unknown_name_error("option", key, kinds, owner=f"the {engine} engine")


def _typed(key: str, raw: str, kind: str) -> Any:
    """``raw`` read as ``kind`` (bool, dict: a JSON object, int, float, str)."""
    if kind == "bool":
        low = raw.lower()
        if low in _TRUE | _FALSE:
            return low in _TRUE
        raise ValueError(f"--engine-opt {key}: expected true or false, got {raw!r}")
    if kind == "dict":
        try:
            value = json.loads(raw)
        except (json.JSONDecodeError, RecursionError) as exc:
            why = getattr(exc, "msg", "nested too deeply")
            raise ValueError(f"--engine-opt {key}: expected a JSON object ({why})") from None
        if not isinstance(value, dict):
            raise ValueError(f"--engine-opt {key}: expected a JSON object, got {type(value).__name__}")
        return value
    if kind == "int":
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"--engine-opt {key}: expected an integer, got {raw!r}") from None
    if kind == "float":
        try:
            number = float(raw)
        except ValueError:
            raise ValueError(f"--engine-opt {key}: expected a number, got {raw!r}") from None
        if not math.isfinite(number):
            raise ValueError(f"--engine-opt {key}: must be a finite number, got {raw!r}")
        return number
    return raw
