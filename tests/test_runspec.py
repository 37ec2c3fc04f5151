"""RunSpec and the one builder: round trip, validation, the known-answer rule, re-running a
stored run from its spec, forks, old headers without a spec, the PPM as an argument."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import types
from collections.abc import Mapping
from pathlib import Path

import pytest
from typer.testing import CliRunner

from backend import events as ev
from backend.reward import REWARDS, TruthReward, make_reward
from backend.runspec import RunSpec, build_search, model_checksum, runspec_from_started
from backend.search.config import config_dict
from backend.search.registry import make_config
from backend.solve import solve_spec
from backend.store import SQLiteStore
from backend.tree import Tree
from tests.factories import RulePPM
from tests.search.helpers import SeededEngine
from tests.search.test_cpl import BAD, PA, PA2, PB, PROBLEM, SOL10, SOL12, engine

ROOT = Path(__file__).resolve().parents[1]
SECRET = "918273"  # a known answer no prompt, config or canned text contains


def cpl_spec(**changes) -> RunSpec:
    base = RunSpec(problem=PROBLEM, algorithm="cpl", config={"rollouts": 3}, engine="scripted", seed=7)
    return base.fork(**changes)


# --- the record ---------------------------------------------------------------------------


def test_to_dict_and_from_dict_round_trip_through_json():
    spec = RunSpec(
        problem="What is 2 + 3?",
        algorithm="rstar",
        preset="cpu-demo",
        config={"rollouts": 4, "c": "1.5", "chat": True},
        reward="truth",
        ppm="/models/ppm",
        engine="llamacpp",
        model="/models/m.gguf",
        model_sha256="a" * 64,
        seed=3,
        reference="5",
        parent="abc123",
    )
    back = RunSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert back == spec and back.to_dict() == spec.to_dict()
    assert set(spec.to_dict()) == {f.name for f in dataclasses.fields(RunSpec)}
    assert RunSpec.from_dict({"problem": "p"}) == RunSpec("p")  # every other field has a default


def test_a_spec_is_frozen_and_holds_its_own_copy_of_the_config():
    overrides = {"rollouts": 2}
    spec = RunSpec("p", config=overrides)
    overrides["rollouts"] = 9
    assert spec.config["rollouts"] == 2
    with pytest.raises(TypeError):
        spec.config["rollouts"] = 9  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.seed = 1  # type: ignore[misc]
    assert hash(spec) == hash(RunSpec("p", config={"rollouts": 2}))


def test_the_known_answer_is_stripped_and_blank_is_none():
    assert RunSpec("p", reference="  5 ").reference == "5"
    assert RunSpec("p", reference="   ").reference is None
    assert RunSpec("p", ppm=Path("/x/ppm")).ppm == "/x/ppm"


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ([1, 2], "a run spec must be an object, got list"),
        ({"algorithm": "rstar"}, "problem is missing"),
        ({"problem": "p", "rollouts": 3}, "unknown key(s) rollouts"),
        ({"problem": 5}, "problem must be a string, got int 5"),
        ({"problem": "p", "seed": True}, "seed must be an integer, got bool True"),
        ({"problem": "p", "seed": "1"}, "seed must be an integer, got str '1'"),
        ({"problem": "p", "seed": -1}, "seed must be a non-negative integer"),
        ({"problem": "p", "config": [1]}, "config must be an object"),
        ({"problem": "p", "config": {"c": float("nan")}}, "config must hold JSON values"),
        ({"problem": "p", "config": {"c": object()}}, "config must hold JSON values"),
        ({"problem": "p", "preset": 3}, "preset must be a string or null, got int 3"),
        ({"problem": "p", "model_sha256": "abc"}, "model_sha256 must be 64 lowercase hex digits"),
        ({"problem": "p", "parent": "../x"}, "parent must be a run id"),
        ({"problem": "p", "reconstructed": 1}, "reconstructed must be true or false"),
    ],
)
def test_from_dict_refuses_with_a_message_that_names_the_field(data, needle):
    with pytest.raises(ValueError, match=re.escape(needle)):
        RunSpec.from_dict(data)


def test_fork_changes_only_what_it_is_told_and_checks_it():
    spec = cpl_spec(reference="10")
    child = spec.fork(seed=8, parent="run1")
    assert (child.seed, child.parent) == (8, "run1")
    assert dataclasses.replace(child, seed=7, parent=None) == spec
    with pytest.raises(ValueError, match="unknown field"):
        spec.fork(rollouts=5)
    with pytest.raises(ValueError, match="seed must be an integer"):
        spec.fork(seed="8")


# --- the known-answer rule ------------------------------------------------------------------


def _holders(obj, needle, path="search", seen=None, depth=0):
    """Where in an object graph a string containing ``needle`` lives (attributes, items)."""
    seen = set() if seen is None else seen
    if isinstance(obj, str):
        return [path] if needle in obj else []
    if id(obj) in seen or depth > 14 or isinstance(obj, type | types.ModuleType | bytes | int | float):
        return []
    seen.add(id(obj))
    if callable(obj) and not hasattr(obj, "__dict__"):
        return []
    if isinstance(obj, Mapping):
        items = [(f"{path}[{k!r}]", v) for k, v in obj.items()] + [(f"{path}<key>", k) for k in obj]
    elif isinstance(obj, list | tuple | set | frozenset):
        items = [(f"{path}[{i}]", v) for i, v in enumerate(obj)]
    else:
        names = list(getattr(obj, "__dict__", {})) + [
            s for c in type(obj).__mro__ for s in getattr(c, "__slots__", ()) if hasattr(obj, s)
        ]
        items = [(f"{path}.{n}", getattr(obj, n)) for n in names]
    return [hit for p, v in items for hit in _holders(v, needle, p, seen, depth + 1)]


@pytest.mark.parametrize("reward", [r for r in REWARDS if r != "truth"])
def test_a_search_for_any_reward_but_truth_never_holds_the_known_answer(reward):
    scorer = RulePPM() if reward == "ppm" else None
    spec = RunSpec(PROBLEM, reward=reward, reference=SECRET, engine="scripted")
    search = build_search(spec, engine(), "r0", step_scorer=scorer)
    assert search.reward.name == reward and not isinstance(search.reward, TruthReward)
    assert _holders(search, SECRET) == [] and _holders(search.reward, SECRET) == []


def test_a_vote_run_never_holds_the_known_answer_from_start_to_finish():
    search = build_search(cpl_spec(reference=SECRET), engine(), "r1")
    assert _holders(search, SECRET) == []
    search.start()
    while not search.done:
        search.step()
    assert _holders(search, SECRET) == []  # not in the run_started spec nor anywhere after
    assert search.log.events[0].spec["reference"] is None


def test_a_truth_search_holds_it_as_its_reward_and_states_it():
    search = build_search(cpl_spec(reward="truth", reference=SECRET), engine(), "r2")
    assert isinstance(search.reward, TruthReward) and _holders(search.reward, SECRET)
    search.start()
    assert search.log.events[0].spec["reference"] == SECRET and search.log.events[0].reward == "truth"


def test_grading_still_gets_the_known_answer():
    res = solve_spec(cpl_spec(reference="10"), engine=engine())
    assert (res.reference, res.correct) == ("10", True)
    assert res.events[-1].reference == "10" and res.events[0].spec["reference"] is None
    with pytest.raises(ValueError, match="needs the known answer"):
        build_search(cpl_spec(reward="truth"), engine())


def _app_services():
    """The web app's services over a memory history and the CPL test engine."""
    from backend.store import MemoryStore
    from ui.services import EngineSlot, Services

    return Services(store=MemoryStore(), engine=EngineSlot("scripted", "cpl rules", loader=engine))


def _form(algorithm):
    """The Solve screen's controls for ``algorithm`` and their default preset's values."""
    from ui import handlers as h

    controls = h.algorithm_controls([algorithm])
    return controls, h.preset_values(algorithm, h.algorithm_info(algorithm)["default_preset"], controls)


def test_the_web_apps_run_goes_through_the_builder():
    from ui import handlers as h

    services = _app_services()
    controls, values = _form("cpl")
    try:
        run_id = h.start_run(services, controls, PROBLEM, "cpl", "vote", f" {SECRET} ", 4, values)
        assert services.runs.get(run_id).wait(20)
        events = services.store.read(run_id)
        spec = runspec_from_started(events[0])
        assert (spec.algorithm, spec.seed, spec.engine, spec.model) == ("cpl", 4, "scripted", "cpl rules")
        assert spec.reference is None and spec.model_sha256 is None
        assert spec.config == {c.name: v for c, v in zip(controls, values, strict=True)}
        assert events[-1].reference == SECRET and SECRET not in json.dumps(events[0].to_dict())
    finally:
        services.close()


def test_the_web_app_gives_each_run_its_ppm_and_says_when_there_is_none(tmp_path):
    from ui import handlers as h

    services = _app_services()
    controls, values = _form("rstar")
    try:
        services.ppm = "none"
        needs = r"needs a process preference model.*choose the vote reward"
        with pytest.raises(h.UserFacingError, match=needs):
            h.start_run(services, controls, "What is 2 + 3?", "rstar", "ppm", "", 0, values)
        services.ppm = str(tmp_path / "app-ppm")
        missing = re.escape(services.ppm) + " is not a Canopy PPM directory"
        with pytest.raises(h.UserFacingError, match=missing):
            h.start_run(services, controls, "What is 2 + 3?", "rstar", "auto", "", 0, values)
    finally:
        services.close()


# --- stored runs: re-run, fork, old headers ---------------------------------------------------

_MEASURED = {"wall_s", "gen_s", "exec_s", "verify_s", "tokens_per_s"}


def comparable(events):
    """The events without what differs between two runs of one spec: times and the run id."""
    out = []
    for e in events:
        d = {k: v for k, v in e.to_dict().items() if k not in ("t", "run_id", "gen_ms", "ms")}
        if "stats" in d:
            d["stats"] = {k: v for k, v in d["stats"].items() if k not in _MEASURED}
        out.append(d)
    return out


def test_a_stored_run_runs_again_from_its_spec_to_the_same_events(tmp_path):
    store = SQLiteStore(tmp_path / "history.sqlite")
    try:
        first = solve_spec(cpl_spec(), engine=engine())  # a fresh scripted engine per run
        for e in first.events:
            store.append(first.run_id, e)
        stored = store.read(first.run_id)
    finally:
        store.close()
    spec = runspec_from_started(stored[0])
    assert spec == cpl_spec() and not spec.reconstructed
    again = solve_spec(spec, engine=engine())
    assert again.run_id != first.run_id
    assert comparable(again.events) == comparable(stored) and len(stored) > 10


def test_a_fork_with_another_seed_shares_the_root_and_differs_after_it():
    texts = [PA, PB, PA2, SOL10, SOL12, BAD]
    first = solve_spec(cpl_spec(), engine=SeededEngine(texts))
    spec = runspec_from_started(first.events[0]).fork(seed=8, parent=first.run_id)
    fork = solve_spec(spec, engine=SeededEngine(texts))
    a, b = comparable(first.events), comparable(fork.events)
    assert a[1] == b[1] and a[1]["parent"] is None  # the same root node
    assert a[2:] != b[2:] and a[2] != b[2]  # and a different tree right after it
    assert fork.events[0].spec["parent"] == first.run_id and fork.events[0].spec["seed"] == 8
    assert Tree.from_events(fork.events).started.spec == spec.to_dict()


def test_an_old_header_without_a_spec_is_reconstructed_and_marked():
    cfg = config_dict(make_config("cpl", rollouts=3))
    old = ev.event_from_dict(
        {
            "type": "run_started",
            "seq": 0,
            "run_id": "old1",
            "algorithm": "cpl",
            "problem": PROBLEM,
            "config": cfg,
            "engine": {"name": "scripted", "model": "?"},
            "reward": "vote",
        }
    )
    assert old.spec is None and Tree.from_events([old]).started.spec is None  # old runs still load
    spec = runspec_from_started(old)
    assert spec.reconstructed and (spec.algorithm, spec.problem, spec.reward) == ("cpl", PROBLEM, "vote")
    assert (spec.engine, spec.model, spec.seed, spec.preset) == ("scripted", None, 0, None)
    assert spec.config == cfg
    rerun = solve_spec(spec, engine=engine())  # what it lacked takes defaults; it runs
    assert rerun.config == cfg and rerun.events[0].spec["reconstructed"] is False


def test_run_started_spec_is_validated_like_every_field():
    good = solve_spec(cpl_spec(), engine=engine()).events[0].to_dict()
    assert ev.event_from_dict(good).spec == good["spec"]
    for bad, needle in [
        ({**good["spec"], "rollouts": 3}, "unknown key(s) rollouts"),
        ({**good["spec"], "seed": "7"}, "seed must be an integer"),
        ("cpl", "must be an object or null"),
        ({"problem": "p", "config": {"c": float("nan")}}, "finite number"),
    ]:
        with pytest.raises(ev.EventFormatError, match=re.escape(needle)) as err:
            ev.event_from_dict({**good, "spec": bad})
        assert (err.value.event_type, err.value.field) == ("run_started", "spec")


# --- the model's checksum -----------------------------------------------------------------------


def test_model_checksum(tmp_path, monkeypatch):
    from backend import runspec
    from backend.engines import embedded

    sha = embedded.EMBEDDED.sha256
    assert model_checksum("llamacpp", None) == model_checksum("transformers", "embedded") == sha
    assert model_checksum("openai", None) is None and model_checksum("scripted", "rules.json") is None
    assert model_checksum("transformers", "Qwen/Qwen2.5-0.5B-Instruct") is None
    assert model_checksum("llamacpp", str(tmp_path / "missing.gguf")) is None
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF" + bytes(1000))
    calls = []
    real = embedded.sha256_file
    monkeypatch.setattr(embedded, "sha256_file", lambda path, **kw: calls.append(path) or real(path, **kw))
    runspec._file_sha256.cache_clear()
    want = hashlib.sha256(gguf.read_bytes()).hexdigest()
    assert model_checksum("llamacpp", str(gguf)) == model_checksum("llamacpp", str(gguf)) == want
    assert len(calls) == 1  # hashed once for this path, size and mtime
    gguf.write_bytes(b"GGUF" + bytes(2000))
    assert model_checksum("llamacpp", str(gguf)) == hashlib.sha256(gguf.read_bytes()).hexdigest()
    assert len(calls) == 2


# --- configuration as arguments ------------------------------------------------------------------


def test_the_library_never_reads_a_ppm_from_the_environment(tmp_path, monkeypatch):
    machine = tmp_path / "machine-ppm"
    machine.mkdir()
    (machine / "canopy_ppm.json").write_text('{"format": "canopy-ppm-head"}')
    monkeypatch.setenv("CANOPY_PPM", str(machine))
    with pytest.raises(ValueError, match="needs a process preference model"):
        make_reward("ppm")
    with pytest.raises(ValueError, match="needs a process preference model, and no PPM"):
        build_search(RunSpec("What is 2 + 3?", reward="ppm", engine="scripted"), engine())


def test_no_code_reads_a_ppm_from_the_environment_and_nothing_writes_it():
    readers, writers = [], []
    for path in [*ROOT.glob("backend/**/*.py"), *ROOT.glob("ui/**/*.py"), ROOT / "app.py"]:
        text = path.read_text(encoding="utf-8")
        rel = path.relative_to(ROOT).as_posix()
        if "CANOPY_PPM" in text:
            readers.append(rel)
        if re.search(r"os\.environ\[[^]]+\]\s*=|os\.putenv|environ\.(update|setdefault)", text):
            writers.append(rel)
    # the one write: OMP_WAIT_POLICY=PASSIVE when unset, before llama.cpp or torch loads libgomp
    assert readers == [] and writers == ["backend/engines/_threads.py"]


def test_the_cli_writes_the_spec_and_takes_ppm_as_an_argument(tmp_path):
    from backend.cli import app
    from backend.cli.search import register
    from tests.test_solve_cli import RULES

    register(app)
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps(RULES))
    out = tmp_path / "run.jsonl"
    common = ["solve", "Add 2 and 3.", "--engine", "scripted", "--model", str(rules), "--rollouts", "1"]
    res = CliRunner().invoke(app, [*common, "--answer", "5", "--seed", "3", "--events", str(out)])
    assert res.exit_code == 0, res.output
    _, events = ev.read_jsonl(out)
    spec = runspec_from_started(events[0])
    assert (spec.engine, spec.model, spec.seed, spec.ppm) == ("scripted", str(rules), 3, "default")
    assert events[0].reward == "vote"  # auto: no PPM applies to the scripted engine, so the vote
    assert any("no PPM" in e.message for e in events if isinstance(e, ev.Note))
    assert spec.reference is None  # a vote run: the answer grades it (run_finished), never steers it
    assert spec.config == {"rollouts": 1} and events[-1].reference == "5" and events[-1].correct
    missing = tmp_path / "no-ppm"
    res = CliRunner().invoke(app, [*common, "--reward", "ppm", "--ppm", str(missing)])
    assert res.exit_code == 2 and str(missing) in res.output
    assert os.environ.get("CANOPY_PPM") is None  # --ppm is an argument, not an environment write


@pytest.mark.parametrize(
    "marker",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"format": 3}',
        "not json",
        '{"format": "canopy-ppm-head"' + " " * (5 << 20) + "}",
    ],
)
def test_a_hostile_ppm_marker_is_a_clear_error_before_anything_loads(tmp_path, marker):
    (tmp_path / "canopy_ppm.json").write_text(marker)
    spec = RunSpec(PROBLEM, ppm=str(tmp_path), engine="scripted")
    with pytest.raises(ValueError, match=r"canopy_ppm\.json"):
        build_search(spec, engine(), "h1")


def test_the_ppm_note_names_a_ppm_with_its_own_top_layers_and_survives_odd_markers():
    from types import SimpleNamespace

    from backend.runspec import _describe

    adapter = {"file": "ppm_lora.gguf", "sha256": "ab" * 32}
    v2 = SimpleNamespace(about={"format": "canopy-ppm-head", "adapter": adapter,
                                "training": {"top_layers": 4}})
    assert _describe(v2) == "canopy-ppm-head, its own LoRA on the top 4 layers"
    for training in (None, [4], "4", {"top_layers": True}, {"top_layers": "4"}):
        odd = SimpleNamespace(about={"format": "canopy-ppm-head", "adapter": adapter, "training": training})
        assert _describe(odd) == "canopy-ppm-head"
    frozen = SimpleNamespace(about={"format": "canopy-ppm-head", "training": {"top_layers": 4}})
    assert _describe(frozen) == "canopy-ppm-head"  # no adapter: the frozen model's states
