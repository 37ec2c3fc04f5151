"""One door for every run: a typed ``RunSpec`` and the one builder that turns it into a search.

A ``RunSpec`` says everything a run is made of (problem, algorithm, preset, config
overrides, reward, PPM directory, engine and model, seed, the known answer for grading, the
run it was forked from). ``canopy solve``, ``canopy eval`` and the web app's Run all make one
and call :func:`build_search`, so the rules of building a search live here once:

- the config is the registry's ``make_config(algorithm, preset, **config)``;
- the known answer enters a search only as the ``truth`` reward (:func:`answer_for_search`);
  every other run is graded with it afterwards and its search never holds it;
- the PPM directory reaches the reward as an argument (``RunSpec.ppm``), never through the
  process environment.

The spec is written into the run's first event (``RunStarted.spec``, docs/FORMAT.md), so a
stored run can be run again or forked; :func:`runspec_from_started` also reads runs stored
before the field existed, as far as their header allows (``reconstructed=True``).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from backend.engines import DEFAULT_ENGINE
from backend.events import RUN_ID_RULE, valid_run_id

if TYPE_CHECKING:
    from backend.events import EventLog, RunStarted

#: engines that load a model file on this machine (the others call a server or replay text)
LOCAL_ENGINES = frozenset({"llamacpp", "transformers", "vllm"})
_SHA256 = re.compile(r"[0-9a-f]{64}")
_MAX_SEED = 2**63


@dataclass(frozen=True)
class RunSpec:
    """Everything a run is made of; JSON-serialisable (``to_dict``/``from_dict``), checked on
    construction (a ValueError names the field)."""

    problem: str
    algorithm: str = "rstar"
    #: None: the algorithm's default preset
    preset: str | None = None
    #: config overrides on top of the preset (CLI ``--set`` strings are fine: the registry coerces)
    config: Mapping[str, Any] = field(default_factory=dict, hash=False)
    reward: str = "vote"
    #: the trained PPM's directory, for the ``ppm`` reward
    ppm: str | None = None
    #: the engine's name; None for a search that needs no model (LIPS without an LLM)
    engine: str | None = DEFAULT_ENGINE
    #: what the engine loads: a .gguf path, an HF id, a served name; None: the embedded model
    model: str | None = None
    #: the model file's sha256 when it is a local file (``model_checksum``), else None
    model_sha256: str | None = None
    seed: int = 0
    #: the known answer: grades the result; the search reads it only when ``reward == "truth"``
    reference: str | None = None
    #: the run id this run was forked from
    parent: str | None = None
    #: True when rebuilt from a stored run's header that had no spec (fields it lacked are defaults)
    reconstructed: bool = False

    def __post_init__(self) -> None:
        for name, kinds in _TYPES.items():
            value = getattr(self, name)
            if isinstance(value, os.PathLike) and name in ("ppm", "model"):
                value = os.fspath(value)
                object.__setattr__(self, name, value)
            if not _is(value, kinds):
                raise ValueError(f"run spec: {name} must be {_say(kinds)}, got {_show(value)}")
        object.__setattr__(self, "config", MappingProxyType(_json_object(self.config)))
        object.__setattr__(self, "reference", _clean(self.reference))
        if not 0 <= self.seed < _MAX_SEED:
            raise ValueError(f"run spec: seed must be a non-negative integer below 2^63, got {self.seed}")
        if self.model_sha256 is not None and not _SHA256.fullmatch(self.model_sha256):
            raise ValueError(
                f"run spec: model_sha256 must be 64 lowercase hex digits, got {self.model_sha256!r}"
            )
        if self.parent is not None and not valid_run_id(self.parent):
            raise ValueError(f"run spec: parent must be a run id ({RUN_ID_RULE}), got {self.parent!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values, every field named (what ``RunStarted.spec`` holds)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["config"] = dict(self.config)
        return out

    @classmethod
    def from_dict(cls, data: Any) -> RunSpec:
        """A spec from ``to_dict()``'s output; unknown keys, a missing problem and wrong types
        are a ValueError that says which."""
        if not isinstance(data, Mapping):
            raise ValueError(f"a run spec must be an object, got {type(data).__name__}")
        unknown = sorted(str(k)[:40] for k in data if k not in _TYPES)
        if unknown:
            raise ValueError(f"run spec: unknown key(s) {', '.join(unknown)}; known: {', '.join(_TYPES)}")
        if "problem" not in data:
            raise ValueError("run spec: problem is missing")
        return cls(**data)

    def fork(self, **changes: Any) -> RunSpec:
        """A new spec with ``changes`` (checked like any spec); name the source run with
        ``parent=run_id``."""
        unknown = sorted(set(changes) - set(_TYPES))
        if unknown:
            raise ValueError(f"run spec: unknown field(s) {', '.join(unknown)}; known: {', '.join(_TYPES)}")
        return dataclasses.replace(self, **changes)


# field -> accepted Python types (None in the tuple: the field may be null)
_TYPES: dict[str, tuple[type | None, ...]] = {
    "problem": (str,),
    "algorithm": (str,),
    "preset": (str, None),
    "config": (Mapping,),
    "reward": (str,),
    "ppm": (str, None),
    "engine": (str, None),
    "model": (str, None),
    "model_sha256": (str, None),
    "seed": (int,),
    "reference": (str, None),
    "parent": (str, None),
    "reconstructed": (bool,),
}


def _is(value: Any, kinds: tuple[type | None, ...]) -> bool:
    if value is None:
        return None in kinds
    if isinstance(value, bool):  # a bool is an int to Python, not to a spec
        return bool in kinds
    return any(k is not None and isinstance(value, k) for k in kinds)


def _say(kinds: tuple[type | None, ...]) -> str:
    names = {str: "a string", int: "an integer", bool: "true or false", Mapping: "an object", None: "null"}
    return " or ".join(names[k] for k in kinds)


def _show(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:40] + '…'}"


def _json_object(config: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the overrides, refused unless it is JSON with string keys and finite numbers."""
    out = dict(config)
    bad = [k for k in out if not isinstance(k, str)]
    if bad:
        raise ValueError(f"run spec: config keys must be strings, got {_show(bad[0])}")
    try:
        json.dumps(out, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"run spec: config must hold JSON values (finite numbers, strings, ...): {exc}"
        ) from None
    return out


def _clean(reference: str | None) -> str | None:
    """A known answer as graded: stripped; blank is no answer."""
    if reference is None:
        return None
    return reference.strip() or None


# --- the one builder -----------------------------------------------------------------------


def answer_for_search(spec: RunSpec) -> str | None:
    """The known answer as far as the search may know it: only a ``truth`` run reads it
    (as its reward); every other run is graded with it after the search, never steered."""
    return spec.reference if spec.reward == "truth" else None


def search_config(spec: RunSpec) -> Any:
    """The config object: the algorithm's defaults, then the preset, then the overrides."""
    from backend.search.registry import make_config

    return make_config(spec.algorithm, spec.preset, **spec.config)


def search_parts(spec: RunSpec) -> tuple[Any, Any]:
    """The config and the reward of ``spec``'s search; a ValueError says what is wrong (the
    entry points call this to refuse bad input before they load an engine or start a thread)."""
    from backend.reward import make_reward
    from backend.search.registry import algorithm_spec

    config = search_config(spec)
    allowed = algorithm_spec(spec.algorithm).rewards
    if spec.reward not in allowed:
        raise ValueError(f"{spec.algorithm} cannot use reward '{spec.reward}'; choices: {', '.join(allowed)}")
    return config, make_reward(spec.reward, answer_for_search(spec), ppm=spec.ppm)


def build_search(
    spec: RunSpec, engine: Any, run_id: str | None = None, *, log: EventLog | None = None, **options: Any
) -> Any:
    """The search for one run, not started; every run is built here. Its ``run_started``
    carries the spec (with the known answer only for a ``truth`` run). ``options`` go to the
    search class (``executor`` in tests)."""
    from backend.search.registry import create_search

    config, reward = search_parts(spec)
    recorded = dataclasses.replace(spec, reference=answer_for_search(spec), reconstructed=False)
    return create_search(
        spec.algorithm,
        spec.problem,
        engine=engine,
        config=config,
        reward=reward,
        seed=spec.seed,
        log=log,
        run_id=run_id,
        spec=recorded.to_dict(),
        **options,
    )


# --- the model's checksum -------------------------------------------------------------------


def model_checksum(engine: str | None, model: str | None) -> str | None:
    """The sha256 of the model file ``engine`` loads for ``model``: known for the embedded
    model, computed once per path/size/mtime for another local .gguf (or read from the
    ``.sha256`` marker the cache keeps), None for hub ids, served names and non-model engines."""
    from backend.engines.embedded import EMBEDDED, EMBEDDED_ALIASES, read_marker

    if engine not in LOCAL_ENGINES:
        return None
    if model is None or model.strip().lower() in EMBEDDED_ALIASES:
        return EMBEDDED.sha256
    path = Path(model).expanduser()
    if path.suffix.lower() != ".gguf" or not path.is_file():
        return None
    st = path.stat()
    return read_marker(path) or _file_sha256(str(path.resolve()), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=32)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    from backend.engines.embedded import sha256_file

    return sha256_file(Path(path), progress=False)


# --- stored runs ------------------------------------------------------------------------------


def runspec_from_started(started: RunStarted) -> RunSpec:
    """The spec of a stored run: its recorded one, or for a run stored before specs were
    recorded, what its header says (algorithm, problem, the whole config, reward, engine),
    marked ``reconstructed=True``; the seed, preset, PPM and known answer were not stored."""
    if started.spec is not None:
        return RunSpec.from_dict(started.spec)
    engine = {k: v for k, v in started.engine.items() if isinstance(v, str) and v not in ("", "?")}
    return RunSpec(
        problem=started.problem,
        algorithm=started.algorithm,
        config=dict(started.config),
        reward=started.reward or "vote",
        engine=engine.get("name"),
        model=engine.get("model"),
        reconstructed=True,
    )
