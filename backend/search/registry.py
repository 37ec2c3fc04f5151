"""The algorithm registry: name -> search class (its config dataclass, presets, rewards).

The CLI and the UI build their options from here (``config_fields``), and a new algorithm
(LIPS, CPL) plugs in with one ``ALGORITHMS`` entry: a ``"module:Class"`` string resolved on
lookup, so ``import backend.search.registry`` imports no algorithm, engine or model.

A search class provides: ``name``, ``description``, ``Config`` (a frozen dataclass whose
fields are made with ``backend.search.config.knob``), ``presets`` ({name: overrides}),
``default_preset``, ``rewards`` (the first is the default) and the constructor
``Cls(problem, *, engine, config, reward, seed, log, run_id)`` with the step API of
``backend/search/base.py``.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from backend.events import EventLog
from backend.names import unknown_name_error
from backend.search.config import build_config
from backend.search.config import config_fields as _fields

ALGORITHMS: dict[str, str] = {
    "rstar": "backend.search.rstar:RStarSearch",
    "greedy": "backend.search.baselines:GreedySearch",
    "sc": "backend.search.baselines:SampleSearch",
    "bon": "backend.search.baselines:BestOfNSearch",
    "lips": "backend.search.lips.search:LipsSearch",
    "cpl": "backend.search.cpl:CPLSearch",
}


@dataclass(frozen=True)
class AlgorithmSpec:
    name: str
    cls: type
    description: str
    config_cls: type
    presets: Mapping[str, Mapping[str, Any]]
    default_preset: str | None
    rewards: tuple[str, ...]


def algorithm_names() -> list[str]:
    return sorted(ALGORITHMS)


def algorithm_spec(name: str) -> AlgorithmSpec:
    if name not in ALGORITHMS:
        raise unknown_name_error("algorithm", name, ALGORITHMS)
    module, _, attr = ALGORITHMS[name].partition(":")
    cls = getattr(importlib.import_module(module), attr)
    return AlgorithmSpec(
        name=name,
        cls=cls,
        description=cls.description,
        config_cls=cls.Config,
        presets=dict(cls.presets),
        default_preset=cls.default_preset,
        rewards=tuple(cls.rewards),
    )


def config_fields(name: str) -> list[dict[str, Any]]:
    """The options of an algorithm: name, type, default, min, max, choices, help."""
    return _fields(algorithm_spec(name).config_cls)


def make_config(name: str, preset: str | None = None, **overrides: Any) -> Any:
    """Defaults, then ``preset`` (or the algorithm's default preset), then overrides."""
    spec = algorithm_spec(name)
    if preset is None:
        preset = spec.default_preset
    return build_config(spec.config_cls, spec.presets, preset, overrides)


def create_search(
    name: str,
    problem: str,
    *,
    engine: Any,
    config: Any = None,
    reward: Any = None,
    seed: int = 0,
    log: EventLog | None = None,
    run_id: str | None = None,
    **extra: Any,
) -> Any:
    """A search object for one run (not started: call ``start()``/``step()``/``run()``)."""
    spec = algorithm_spec(name)
    if config is None:
        config = make_config(name)
    elif isinstance(config, Mapping):
        config = make_config(name, **config)
    elif not isinstance(config, spec.config_cls):
        raise TypeError(f"{name} needs a {spec.config_cls.__name__}, got {type(config).__name__}")
    return spec.cls(
        problem, engine=engine, config=config, reward=reward, seed=seed, log=log, run_id=run_id, **extra
    )
