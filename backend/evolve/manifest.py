"""An evolve run's settings and manifest: what a run directory was made with, so it can be
resumed (the same settings, checked) and read later (which problems, seeds, versions, models).

``manifest.json`` holds the settings, Canopy's version, the training and held-out problem
ids (never overlapping: training problems come from ``gsm8k-train``, held-out ones from the
GSM8K *test* set), the seed of every problem's search, the RunSpec each round's searches
use, and the sha256 of every model the run loads or makes (the base model file, each
round's policy weights, each round's PPM). Written atomically; rewritten as rounds add models.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
FORMAT = "canopy-evolve"
#: data rounds: problems come from here only (never a set whose accuracy is reported)
TRAIN_SET = "gsm8k-train"
#: the held-out slice is GSM8K test: evaluated, never used to pick settings
TEST_SET = "gsm8k"
#: the paper's rounds: 1-2 terminal-guided (no PPM), from 3 on PPM-augmented
FIRST_PPM_ROUND = 3
#: how a round's PPM is trained (EvolveSettings.ppm_method) and from which trees (ppm_data)
PPM_METHODS = ("full", "top-layers")
PPM_DATA = ("round", "all-rounds")
#: retry passes a round may make (the paper makes two: 64, then 128 rollouts)
MAX_RETRIES = 4
#: the round from which the unsolved training problems are searched again (the paper's round 4)
RETRY_ROUND = 4


@dataclass(frozen=True)
class EvolveSettings:
    """Everything that decides what an evolve run computes (so a resume must match)."""

    rounds: int = 2
    train_start: int = 0
    train_count: int = 20
    test_start: int = 100
    test_count: int = 20
    #: rStar-Math overrides of the data rounds' truth-rewarded searches (cpu-demo otherwise)
    search: Mapping[str, Any] = field(default_factory=lambda: {"rollouts": 4})
    #: overrides of the held-out evaluation's default search (cpu-demo otherwise)
    eval_search: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0
    #: official sample_sft_data.py --n: correct traces kept per problem
    top_k: int = 2
    #: SFT settings (backend/train/sft.py: SFTTrainConfig fields; lora_rank sets r, alpha = 2r)
    sft: Mapping[str, Any] = field(default_factory=dict)
    #: "base": each round fine-tunes the base model on its data; "previous": the latest policy
    finetune_from: str = "base"
    #: fewer PPM pairs than this: the round trains no PPM (and says so)
    ppm_min_pairs: int = 30
    #: False: the rounds keep their PPM pairs but train no PPM (the full PPM's fine-tune takes
    #: hours on a 2-core CPU; a round that only measures the policy's SFT can skip it)
    train_ppm: bool = True
    #: PPM training settings (backend/train/ppm_trainer.py: PPMTrainConfig fields, LoRA on;
    #: for "top-layers", backend/train/build_top_layers_ppm.py: TopLayersSettings fields)
    ppm_train: Mapping[str, Any] = field(default_factory=dict)
    #: "full": the paper's PPM (the round's policy + a value head, LoRA over every layer, run by
    #: transformers); "top-layers": the CPU lever, the policy's top layers (LoRA) + a head over
    #: cached states, exported as a LoRA GGUF that llama.cpp runs beside the policy (docs/EVOLVE.md)
    ppm_method: str = "full"
    #: "round": a round's PPM learns from its own trees (the paper); "all-rounds": from the trees
    #: of this round and every earlier one (a CPU round's few hundred searches give few pairs)
    ppm_data: str = "round"
    #: a PPM directory for the PPM-augmented rounds when the run has trained none
    ppm: str | None = None
    evaluate_base: bool = True
    #: also self-consistency of each evaluated round's policy on the held-out slice, with as many
    #: samples as match its search's tokens (stages.sc_samples): the baseline a search must beat
    #: at equal compute. About as long again as the held-out search; may be asked for later
    eval_sc: bool = False
    #: from round 4 (the paper's): the training problems still unsolved after the round's search
    #: are searched again, a pass per entry with that many rollouts and another seed (the paper:
    #: 64, then 128); empty: no retries (backend/evolve/retry.py)
    retry_rollouts: Sequence[int] = ()

    def __post_init__(self) -> None:
        if self.rounds < 1 or self.train_count < 1 or self.test_count < 0 or self.top_k < 1:
            raise ValueError("rounds, train_count and top_k must be ≥ 1; test_count ≥ 0")
        if self.rounds >= FIRST_PPM_ROUND and not self.train_ppm and self.ppm is None:
            which = (f"round {FIRST_PPM_ROUND} is" if self.rounds == FIRST_PPM_ROUND
                     else f"rounds {FIRST_PPM_ROUND}-{self.rounds} are")
            raise ValueError(
                f"{which} PPM-augmented: with PPM training off (--no-ppm-training) give a PPM "
                f"(--ppm DIR), or stop at round {FIRST_PPM_ROUND - 1}"
            )
        if self.ppm_method not in PPM_METHODS:
            raise ValueError(f"ppm_method must be one of {', '.join(PPM_METHODS)}, not {self.ppm_method!r}")
        if self.ppm_data not in PPM_DATA:
            raise ValueError(f"ppm_data must be one of {', '.join(PPM_DATA)}, not {self.ppm_data!r}")
        if self.finetune_from not in ("base", "previous"):
            raise ValueError(f"finetune_from must be base or previous, not {self.finetune_from!r}")
        retries = self.retry_rollouts
        if (not isinstance(retries, (list, tuple)) or len(retries) > MAX_RETRIES
                or not all(isinstance(r, int) and not isinstance(r, bool) and r >= 1 for r in retries)
                or list(retries) != sorted(set(retries))):
            raise ValueError(f"retry_rollouts must be at most {MAX_RETRIES} increasing rollout counts "
                             f"(e.g. 64, 128), not {retries!r}")
        object.__setattr__(self, "retry_rollouts", list(retries))
        object.__setattr__(self, "search", dict(self.search))
        object.__setattr__(self, "eval_search", dict(self.eval_search))
        object.__setattr__(self, "sft", dict(self.sft))
        object.__setattr__(self, "ppm_train", dict(self.ppm_train))

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvolveSettings:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"evolve settings: unknown key(s) {', '.join(unknown)}")
        return cls(**data)


def round_kind(number: int) -> str:
    """The paper's name for round ``number``'s search."""
    return "terminal-guided" if number < FIRST_PPM_ROUND else "ppm-augmented"


def write_json(path: str | Path, data: Any) -> Path:
    """JSON written beside the target and renamed: a file that exists is whole."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.write_text(json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False), encoding="utf-8")
    os.replace(partial, target)
    return target


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def folder_sha256(directory: str | Path, suffixes: tuple[str, ...] = (".safetensors", ".bin", ".pt")) -> str:
    """One checksum of a model folder's weight files (names and bytes, in name order)."""
    h = hashlib.sha256()
    for path in sorted(Path(directory).rglob("*")):
        if path.is_file() and path.suffix in suffixes:
            h.update(path.relative_to(directory).as_posix().encode())
            with path.open("rb") as fh:
                while chunk := fh.read(1 << 20):
                    h.update(chunk)
    return h.hexdigest()


def ppm_sha256(directory: str | Path) -> str:
    """A PPM folder's checksum: its weight files, and for a head PPM (``value_head.json`` +
    ``ppm_lora.gguf``, backend/reward/ppm_head.py) those two."""
    if (Path(directory) / "value_head.json").is_file():
        return folder_sha256(directory, (".json", ".gguf"))
    return folder_sha256(directory)


def new_manifest(
    settings: EvolveSettings,
    *,
    train_ids: list[str],
    test_ids: list[str],
    base: Mapping[str, Any],
) -> dict[str, Any]:
    """The manifest of a new run (rounds are added as they make models)."""
    from backend import __version__

    overlap = set(train_ids) & set(test_ids)
    if overlap:
        raise ValueError(f"training and held-out problems overlap: {sorted(overlap)[:3]}")
    return {
        "format": FORMAT,
        "version": 1,
        "canopy": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "settings": settings.to_dict(),
        "train_set": TRAIN_SET,
        "test_set": TEST_SET,
        "train_problems": list(train_ids),
        "test_problems": list(test_ids),
        "models": {"base": dict(base)},
        "rounds": {},
    }


def open_manifest(run_dir: Path, settings: EvolveSettings, fresh: dict[str, Any]) -> dict[str, Any]:
    """The run's manifest: ``fresh`` written for a new run; for an existing one, the stored
    manifest, refused when it was made with other settings or problems (a resume must not
    mix two experiments)."""
    path = run_dir / MANIFEST
    if not path.is_file():
        write_json(path, fresh)
        return fresh
    stored = read_json(path)
    if stored.get("format") != FORMAT:
        raise ValueError(f"{path} is not an evolve manifest")
    changed = _late_ppm_settings(run_dir, stored, fresh["settings"])
    for key in ("settings", "train_problems", "test_problems"):
        if _identity(key, stored.get(key)) != _identity(key, fresh[key]):
            raise ValueError(
                f"{run_dir} was started with other {key.replace('_', ' ')}; resume it with the same "
                "options, or use a new run directory"
            )
    if stored.get("models", {}).get("base") != fresh["models"]["base"]:
        raise ValueError(f"{run_dir} was started with another base model: {stored['models']['base']}")
    planned, asked = stored["settings"].get("rounds"), fresh["settings"]["rounds"]
    if isinstance(planned, int) and asked < planned:
        raise ValueError(f"{run_dir} was started with --rounds {planned}; resume it with --rounds {planned} "
                         "or more (more rounds continue it)")
    if asked != planned:  # more rounds: the rounds done stay as they are, later ones are added
        stored["settings"]["rounds"], changed = asked, True
    if fresh["settings"].get("evaluate_base") and not stored["settings"].get("evaluate_base", True):
        stored["settings"]["evaluate_base"], changed = True, True  # round 0 measured later: listed now
    if fresh["settings"].get("eval_sc") and not stored["settings"].get("eval_sc", False):
        stored["settings"]["eval_sc"], changed = True, True  # the run's rounds now carry it
    if changed:
        write_json(path, stored)
    return stored


#: settings that say what is done in this invocation, not what the experiment is: round 0 may
#: be measured after the rounds (a long run's searches first, its baseline in a later session),
#: a finished run may be given more rounds (no round depends on how many follow it), and
#: self-consistency may be added to rounds already evaluated (nothing else reads it)
_NOT_IDENTITY = ("evaluate_base", "rounds", "eval_sc")


def _identity(key: str, value: Any) -> Any:
    if key != "settings" or not isinstance(value, dict):
        return value
    defaults = EvolveSettings().to_dict()  # a key added since the run began: its default, as then
    return {k: v for k, v in {**defaults, **value}.items() if k not in _NOT_IDENTITY}


#: settings that only the PPM stages and the PPM-augmented rounds read: they may change while no
#: PPM-augmented round has begun (a run's terminal-guided rounds first, its PPM decided later)
LATE_PPM_SETTINGS = ("ppm", "train_ppm", "ppm_method", "ppm_data", "ppm_train", "ppm_min_pairs")
#: each late setting and the first round that reads it: until that round begins it may change
#: (round 4's retries may be decided once rounds 1-3 are done)
LATE_SETTINGS = {**dict.fromkeys(LATE_PPM_SETTINGS, FIRST_PPM_ROUND), "retry_rollouts": RETRY_ROUND}


def _late_ppm_settings(run_dir: Path, stored: dict[str, Any], asked: Mapping[str, Any]) -> bool:
    """Take the late settings ``asked`` (``LATE_SETTINGS``: the PPM's, round 4's retries) into
    ``stored`` when they differ and the first round that reads them has no folder yet; each
    change is recorded in the manifest's ``edits``. The stages of rounds already done stay as
    their files say (a stage is never re-run). True when the manifest changed. Once that round
    has begun they are identity."""
    settings = {**EvolveSettings().to_dict(), **stored.get("settings", {})}
    rounds = [int(p.name.split("-")[-1]) for p in run_dir.glob("round-*") if p.name.split("-")[-1].isdigit()]
    diff = {k: asked[k] for k, first in LATE_SETTINGS.items()
            if k in asked and settings.get(k) != asked[k] and not any(n >= first for n in rounds)}
    if not diff:
        return False
    when = time.strftime("%Y-%m-%d", time.gmtime())
    for key, value in diff.items():
        stored.setdefault("edits", []).append({
            "date": when,
            "what": f"settings.{key} {json.dumps(settings.get(key))} -> {json.dumps(value)} before round "
                    f"{LATE_SETTINGS[key]} began (the stages already done stay as they were)",
        })
        stored["settings"][key] = value
    return True
