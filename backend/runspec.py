"""One door for every run: a typed ``RunSpec`` and the one builder that turns it into a search.

A ``RunSpec`` says everything a run is made of (problem, algorithm, preset, config
overrides, reward, PPM directory, engine and model, seed, the known answer for grading, the
run it was forked from). ``canopy solve``, ``canopy eval`` and the web app's Run all make one
and call :func:`build_search`, so the rules of building a search live here once:

- the config is the registry's ``make_config(algorithm, preset, **config)``;
- the known answer enters a search only as the ``truth`` reward (:func:`answer_for_search`);
  every other run is graded with it afterwards and its search never holds it;
- the PPM (``RunSpec.ppm``: ``default``, ``none`` or a directory) is loaded here with the
  engine (``step_scorer_for``) and handed to the search; the reward ``auto`` becomes ``ppm``
  when there is one (``reward_name``). Nothing reaches a search through the environment.

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
    #: vote, truth, ppm, or auto (ppm when the run has a PPM, else vote)
    reward: str = "auto"
    #: the process preference model: "default" (the shipped one, for rStar-Math with the
    #: embedded model; no PPM otherwise), "none" (or None), or a PPM directory
    ppm: str | None = "default"
    #: the engine's name; None for a search that needs no model (LIPS without an LLM)
    engine: str | None = DEFAULT_ENGINE
    #: what the engine loads: a .gguf path, an HF id, a served name; None: the embedded model
    model: str | None = None
    #: the model file's sha256 when it is a local file (``model_checksum``), else None
    model_sha256: str | None = None
    #: keyword options of the engine's ``load`` (``--engine-opt KEY=VALUE``: GPU memory shares,
    #: a server's ``extra_body``, threads ...; ``backend/engines/options.py``); never a secret
    engine_options: Mapping[str, Any] = field(default_factory=dict, hash=False)
    seed: int = 0
    #: the known answer: grades the result; the search reads it only when ``reward == "truth"``
    reference: str | None = None
    #: the run id this run was forked from
    parent: str | None = None
    #: a fork's kept path: the steps (``{"text", "code"}``) of the source run's path, added
    #: under the root before the search starts (MCTS algorithms; ``backend/steering.py``)
    prefix: tuple[Mapping[str, Any], ...] = field(default=(), hash=False)
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
        object.__setattr__(
            self, "engine_options", MappingProxyType(_json_object(self.engine_options, "engine_options"))
        )
        if self.engine_options:
            from backend.engines.options import check_engine_options

            check_engine_options(self.engine, self.engine_options)
        object.__setattr__(self, "reference", _clean(self.reference))
        object.__setattr__(self, "prefix", _prefix_steps(self.prefix))
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
        out["prefix"] = [dict(step) for step in self.prefix]
        out["engine_options"] = dict(self.engine_options)
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
    "engine_options": (Mapping,),
    "seed": (int,),
    "reference": (str, None),
    "parent": (str, None),
    "prefix": (list, tuple),
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
    names |= {list: "a list of steps", tuple: "a list of steps"}
    return " or ".join(dict.fromkeys(names[k] for k in kinds))


def _prefix_steps(steps: Any) -> tuple[dict[str, Any], ...]:
    """A fork's kept path, checked: each step an object with a ``text`` string and a
    ``code`` string or null, nothing else."""
    out = []
    for i, step in enumerate(steps):
        if not isinstance(step, Mapping) or set(step) - {"text", "code"} or not isinstance(
            step.get("text"), str
        ):
            raise ValueError(f"run spec: prefix[{i}] must be an object {{text, code}}, got {_show(step)}")
        code = step.get("code")
        if code is not None and not isinstance(code, str):
            raise ValueError(f"run spec: prefix[{i}].code must be a string or null, got {_show(code)}")
        out.append({"text": step["text"], "code": code})
    return tuple(out)


def _show(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:40] + '…'}"


def _json_object(config: Mapping[str, Any], name: str = "config") -> dict[str, Any]:
    """A copy of the overrides, refused unless it is JSON with string keys and finite numbers."""
    out = dict(config)
    bad = [k for k in out if not isinstance(k, str)]
    if bad:
        raise ValueError(f"run spec: {name} keys must be strings, got {_show(bad[0])}")
    try:
        json.dumps(out, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValueError(
            f"run spec: {name} must hold JSON values (finite numbers, strings, ...): {exc}"
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


# --- the PPM --------------------------------------------------------------------------------

PPM_DEFAULT = "default"
PPM_NONE = "none"
#: how the root notes of ``step_scorer_for`` / ``build_search`` start (the page reads them:
#: ``backend/ppm_diagnostics.py: ppm_note``)
PPM_NOTE_VALUED = "steps valued by "
PPM_NOTE_NONE = "no PPM: "


def shipped_ppm_dir() -> Path:
    """Where Canopy's own PPM ships (``assets/ppm``, docs/PPM.md)."""
    from backend.paths import assets_dir

    return assets_dir() / "ppm"


def uses_ppm(algorithm: str) -> bool:
    """Whether the algorithm takes a process preference model (rStar-Math's MCTS does)."""
    from backend.search.registry import algorithm_spec

    return bool(getattr(algorithm_spec(algorithm).cls, "uses_ppm", False))


def takes_value_head(algorithm: str) -> bool:
    """Whether the algorithm takes CPL's value head in the PPM's place: ``RunSpec.ppm`` naming
    a ``canopy-cpl-value`` directory (``backend/train/value_head.py``), handed to the search as
    its ``step_scorer``. There is no default one."""
    from backend.search.registry import algorithm_spec

    return bool(getattr(algorithm_spec(algorithm).cls, "takes_value_head", False))


def ppm_request(spec: RunSpec) -> str | None:
    """What ``spec.ppm`` asks for, checked without loading anything: None (no PPM),
    ``"default"``, or a PPM directory that exists (a ValueError says what is wrong)."""
    value = (spec.ppm or "").strip()
    if value.lower() in ("", PPM_NONE):
        return None
    if value.lower() == PPM_DEFAULT:
        return PPM_DEFAULT
    if not uses_ppm(spec.algorithm) and not takes_value_head(spec.algorithm):
        raise ValueError(
            f"{spec.algorithm} does not use a PPM (rStar-Math does): drop --ppm or give --ppm none"
        )
    from backend.reward.step_scorer import read_marker

    read_marker(value)
    return value


def default_ppm_applies(spec: RunSpec, engine: Any) -> str | None:
    """Why the shipped PPM does not apply to this run (None: it does). It values the
    embedded model's own hidden states, so it needs rStar-Math on the llama.cpp engine with
    the embedded model."""
    from backend.engines.embedded import EMBEDDED
    from backend.reward.step_scorer import MARKER

    info = getattr(engine, "info", None)
    name, model = getattr(info, "name", None), getattr(info, "model", None)
    sha = model_checksum(name, model if isinstance(model, str) else None)
    if name != "llamacpp" or sha != EMBEDDED.sha256:
        return (
            "the shipped PPM values the embedded model's steps on the llamacpp engine; "
            "this run uses another model"
        )
    if not (shipped_ppm_dir() / MARKER).is_file():
        return f"no PPM ships in {shipped_ppm_dir()} (build one with `canopy build-ppm`)"
    return None


def step_scorer_for(spec: RunSpec, engine: Any) -> tuple[Any, str | None]:
    """(the run's PPM or None, a note for the tree's root saying which PPM values the steps,
    or why the default one does not)."""
    from backend.reward.step_scorer import load_step_scorer

    request = ppm_request(spec)
    ppm = uses_ppm(spec.algorithm)
    if request is None or (not ppm and (request == PPM_DEFAULT or not takes_value_head(spec.algorithm))):
        return None, None  # "default" for an algorithm without a PPM (CPL's head has none): nothing to say
    if request == PPM_DEFAULT:
        why_not = default_ppm_applies(spec, engine)
        if why_not is not None:
            return None, f"{PPM_NOTE_NONE}{why_not}"
        directory = str(shipped_ppm_dir())
        scorer = load_step_scorer(directory, engine)
        return scorer, f"{PPM_NOTE_VALUED}Canopy's shipped PPM ({_describe(scorer)})"
    scorer = _cpl_value(spec, request) or load_step_scorer(request, engine)
    return scorer, f"{PPM_NOTE_VALUED}the PPM in {request} ({_describe(scorer)})"


def _cpl_value(spec: RunSpec, directory: str) -> Any:
    """CPL's value head when ``directory`` holds one (``backend/train/value_head.py``); None for
    an rStar-Math PPM. Each algorithm takes only its own kind."""
    from backend.reward.step_scorer import read_marker
    from backend.search.cpl import VALUE_FORMAT

    is_value = read_marker(directory)["format"] == VALUE_FORMAT
    if is_value != takes_value_head(spec.algorithm):
        raise ValueError(f"{directory}: CPL takes a {VALUE_FORMAT} directory and rStar-Math a PPM")
    if not is_value:
        return None
    from backend.train.value_head import CPLValue

    return CPLValue.load(directory)


def _describe(scorer: Any) -> str:
    """The kind of PPM, as its marker names it (`canopy-ppm-head`, `canopy-ppm`)."""
    about = getattr(scorer, "about", None)
    if isinstance(about, dict) and about.get("format"):
        training = about.get("training")
        top = training.get("top_layers") if isinstance(training, dict) and about.get("adapter") else None
        kind = str(about["format"])
        if isinstance(top, int) and not isinstance(top, bool):
            kind += f", its own LoRA on the top {top} layers"
        if about.get("own_backbone"):  # a head PPM beside a policy that runs another model
            kind += f", on its own copy of {about['own_backbone']}: the policy is another model"
        return kind
    return type(scorer).__name__


def reward_name(spec: RunSpec, has_ppm: bool) -> str:
    """The reward a run uses: ``auto`` is ``ppm`` with a PPM, else the algorithm's first."""
    from backend.reward import AUTO_REWARD
    from backend.search.registry import algorithm_spec

    allowed = algorithm_spec(spec.algorithm).rewards
    if spec.reward == AUTO_REWARD:
        return "ppm" if has_ppm and "ppm" in allowed else allowed[0]
    if spec.reward not in allowed:
        raise ValueError(
            f"{spec.algorithm} cannot use reward '{spec.reward}'; choices: auto, {', '.join(allowed)}"
        )
    return spec.reward


def search_parts(spec: RunSpec) -> tuple[Any, Any]:
    """The config and the reward name of ``spec``'s search; a ValueError says what is wrong
    (the entry points call this to refuse bad input before they load an engine or start a
    thread)."""
    config = search_config(spec)
    if spec.prefix and not takes_prefix(spec.algorithm):
        raise ValueError(
            f"{spec.algorithm} cannot start from a kept path (a fork's prefix): only MCTS searches can"
        )
    request = ppm_request(spec)
    name = reward_name(spec, has_ppm=request is not None)
    if name == "ppm" and request is None:
        raise ValueError(
            "reward 'ppm' needs a process preference model: give --ppm default or --ppm DIR, "
            "or use --reward vote"
        )
    if name == "truth" and spec.reference is None:
        raise ValueError("--reward truth needs the known answer: give it with --answer")
    return config, name


def takes_prefix(algorithm: str) -> bool:
    """Whether a fork of an ``algorithm`` run can keep a path (the MCTS searches)."""
    from backend.search.mcts import MCTSSearch
    from backend.search.registry import algorithm_spec

    return issubclass(algorithm_spec(algorithm).cls, MCTSSearch)


def build_search(
    spec: RunSpec,
    engine: Any,
    run_id: str | None = None,
    *,
    log: EventLog | None = None,
    step_scorer: Any = None,
    **options: Any,
) -> Any:
    """The search for one run, not started; every run is built here. Its ``run_started``
    carries the spec (with the known answer only for a ``truth`` run). The PPM comes from
    ``spec.ppm`` (``step_scorer_for``) unless ``step_scorer`` gives one (tests, benches).
    ``options`` go to the search class (``executor`` in tests)."""
    from backend.reward import make_reward
    from backend.search.registry import create_search

    config, _ = search_parts(spec)
    note = None  # a PPM handed in (tests, benches) is named by whoever handed it in
    if step_scorer is None:
        step_scorer, note = step_scorer_for(spec, engine)
    name = reward_name(spec, has_ppm=step_scorer is not None)
    if name == "ppm" and step_scorer is None:
        raise ValueError(f"reward 'ppm' needs a process preference model, and {note or 'none was found'}")
    reward = make_reward(name, answer_for_search(spec), scorer=step_scorer)
    if spec.prefix:
        options["prefix"] = [dict(step) for step in spec.prefix]
    if uses_ppm(spec.algorithm) or takes_value_head(spec.algorithm):
        options["step_scorer"] = step_scorer
        options["notes"] = [note] if note else []
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
