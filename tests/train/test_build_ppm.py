"""``canopy build-ppm``'s pipeline: truth searches kept per problem (gzipped, resumable), the
official pairs, the held-out split by problem, and the refusal to save a head at chance.

Searches use the scripted engine over the real rStar core; the head's features come from
the real SmolLM2 through llama.cpp (skipped without it)."""

from __future__ import annotations

import gzip

import pytest

from backend.engines.scripted import Rule, ScriptedEngine
from backend.problems import Problem
from backend.train.build_ppm import build_ppm, collect_pairs, heldout
from backend.train.ppm_data import read_tree, search_trees, tree_file
from tests.engines.test_llamacpp_hidden import SMOLLM2, requires_smollm2

QUESTION = "Tom has 3 bags with 4 apples each. He eats 2. How many apples are left?"
STEP = "<code>\n# Step 1: apples in the bags\napples = 3 * 4\n<end_of_step>"
RIGHT = "\n\n# Now print the final answer\nprint(apples - 2)\n<end_of_code>"
WRONG = "\n\n# He never eats any of them, so we print every apple we counted\nprint(apples)\n<end_of_code>"


def engine():
    return ScriptedEngine(
        [
            Rule(lambda p: p.endswith("apples = 3 * 4\n<end_of_step>"), [RIGHT, WRONG, RIGHT, WRONG]),
            Rule(lambda p: p.endswith("<|im_start|>assistant\n"), [STEP]),
        ]
    )


def problems(k=3):
    return [Problem(id=f"toy/{i}", dataset="toy", question=QUESTION, answer="10") for i in range(k)]


def test_the_held_out_split_is_by_problem_id_stable_and_about_a_fifth():
    ids = [f"gsm8k-train/{i}" for i in range(2000)]
    share = sum(heldout(i) for i in ids) / len(ids)
    assert 0.17 < share < 0.23
    assert [heldout(i) for i in ids[:50]] == [heldout(i) for i in ids[:50]]


def test_truth_searches_are_kept_gzipped_resume_and_give_the_official_pairs(tmp_path):
    seen = []
    paths = search_trees(problems(), tmp_path, engine=engine(), config={"rollouts": 4, "children": 4},
                         on_done=lambda p, path, res: seen.append((p.id, res is None)))
    assert [p.name for p in paths] == ["toy_0.jsonl.gz", "toy_1.jsonl.gz", "toy_2.jsonl.gz"]
    assert seen == [("toy/0", False), ("toy/1", False), ("toy/2", False)]
    with gzip.open(paths[0], "rt") as fh:
        assert '"reward":"truth"' in fh.read()
    tree = read_tree(paths[0])
    assert tree.started.spec["engine"] == "scripted"  # the spec names the engine that searched
    answers = {n.answer for n in tree.nodes.values() if n.answer}
    assert answers == {"10", "12"}  # a mixed tree: the pairs' raw material
    found = collect_pairs(paths)
    assert found and all(pid.startswith("toy_") for pid, _ in found)
    assert all("print(apples - 2)" in p.chosen and "print(apples)" in p.rejected for _, p in found)
    # a second call finds every problem done and runs nothing
    seen.clear()
    search_trees(problems(), tmp_path, engine=None, on_done=lambda p, path, res: seen.append(res))
    assert seen == [None, None, None]
    assert tree_file(tmp_path, problems()[0]) == paths[0]


def test_a_problem_without_a_known_answer_is_refused(tmp_path):
    with pytest.raises(ValueError, match="no known answer"):
        unknown = Problem(id="x/0", dataset="x", question=QUESTION, answer=None)
        search_trees([unknown], tmp_path, engine=engine())


@requires_smollm2
def test_a_head_at_chance_is_not_saved_unless_forced(tmp_path):
    from backend.engines.llamacpp import LlamaCppEngine
    from backend.reward.ppm_head import HeadPPM

    search_trees(problems(), tmp_path / "trees", engine=engine(), config={"rollouts": 4, "children": 4})
    llama = LlamaCppEngine.load(SMOLLM2, max_batch=1, n_ctx=1024)
    try:
        kw = {"engine": llama, "work_dir": tmp_path, "search": False, "say": lambda _: None}
        with pytest.raises(ValueError, match="not saved: held-out pairwise accuracy"):
            build_ppm(problems(), tmp_path / "ppm", **kw)
        assert not (tmp_path / "ppm").exists()
        report = build_ppm(problems(), tmp_path / "ppm", force=True, command="canopy build-ppm --force", **kw)
        assert report.searched == 3 and report.pairs > 0
        card = (tmp_path / "ppm" / "MODEL_CARD.md").read_text()  # written by the build, from its marker
        assert "toy 0-2 (3 problems)" in card and "canopy build-ppm --force" in card
        assert "not measured yet" in card
        ppm = HeadPPM.load(tmp_path / "ppm", llama)
        about = ppm.about
        assert about["data"]["problems"] == ["toy_0", "toy_1", "toy_2"]
        assert about["data"]["search"]["reward"] == "truth" and about["backbone"]["sha256"]
        values = ppm.score_steps([QUESTION + "\n" + STEP + RIGHT, QUESTION + "\n" + STEP + WRONG])
        assert len(values) == 2 and all(-1 < v < 1 for v in values)
    finally:
        llama.close()


def test_reference_steps_count_the_calculator_steps_of_a_training_solution():
    from backend.problems import load_problems
    from backend.train.ppm_data import reference_steps

    first = load_problems("gsm8k-train", 1)[0]  # Natalia's clips: two <<...>> steps
    assert reference_steps(first) == 2
    assert reference_steps(problems(1)[0]) == 0  # no solution, nothing to count


def test_build_ppm_with_another_policy_needs_its_own_out_and_work(tmp_path):
    # the defaults are the shipped PPM and its searches, both the embedded model's: a head over
    # another policy's states written there would be served as the default PPM
    from typer.testing import CliRunner

    from backend.cli import app

    runner = CliRunner()
    for extra in ([], ["--out", str(tmp_path / "ppm")], ["--work", str(tmp_path / "work")]):
        res = runner.invoke(app, ["build-ppm", "--model", str(tmp_path / "policy.gguf"), *extra])
        assert res.exit_code == 2 and "needs its own --out and --work" in res.output, res.output
    res = runner.invoke(app, ["build-ppm", "--model", str(tmp_path / "policy.gguf"), "--count", "1",
                              "--out", str(tmp_path / "ppm"), "--work", str(tmp_path / "work")])
    assert "model file not found" in str(res.exception), res.output  # it went on to load that model
    assert not (tmp_path / "ppm").exists()


def test_a_head_no_better_than_preferring_the_longer_step_is_not_shipped():
    from backend.train.build_ppm import BuildReport, why_not_shipped
    from backend.train.ppm_pairs import PPMPair, longer_step_accuracy

    def pair(chosen, rejected):
        return PPMPair("q", chosen, rejected, 1.0, 1, 1, 1, 2)

    pairs = [pair("a longer step", "short"), pair("x", "a much longer step"), pair("same", "SAME")]
    assert longer_step_accuracy(pairs) == pytest.approx((1 + 0 + 0.5) / 3)  # ties count half

    def report(acc, n=40, longer=0.65):
        return BuildReport(heldout_accuracy=acc, heldout_pairs=n, heldout_longer_step=longer)

    assert why_not_shipped(report(0.70)) is None
    assert "no better than 'prefer the longer step'" in why_not_shipped(report(0.64))
    assert "no better than" in why_not_shipped(report(0.65))  # equal is not better
    assert "need >= 0.6" in why_not_shipped(report(0.55, longer=0.5))
    assert "need >= 30 held-out pairs" in why_not_shipped(report(0.9, n=20))
    assert "need >= 30" in why_not_shipped(report(None, n=0, longer=None))


@requires_smollm2
@pytest.mark.model
def test_a_top_layers_ppm_is_trained_exported_and_scored_by_llamacpp_as_trained(tmp_path):
    """``canopy build-ppm --top-layers``: LoRA on SmolLM2's top layers over cached states,
    exported as the PPM's own LoRA GGUF. The directory loads as a version-2 head PPM whose
    llama.cpp scores order the pairs as the trained model did, and the gate still applies."""
    pytest.importorskip("peft")
    pytest.importorskip("gguf")
    import json

    from backend.engines.llamacpp import LlamaCppEngine
    from backend.reward.ppm_head import HeadPPM
    from backend.reward.step_scorer import MARKER
    from backend.train.build_top_layers_ppm import TopLayersSettings, build_top_layers_ppm

    config = {"rollouts": 4, "children": 4}
    paths = search_trees(problems(), tmp_path / "trees", engine=engine(), config=config)
    llama = LlamaCppEngine.load(SMOLLM2, max_batch=1, n_ctx=1024)
    settings = TopLayersSettings(top_layers=2, lora_rank=4, lr=3e-3, epochs=6, batch_size=2, threads=2,
                                 drop_equivalent=True)
    kw = {"engine": llama, "settings": settings, "states_cache": tmp_path / "states.safetensors",
          "say": lambda _: None}
    try:
        with pytest.raises(ValueError, match="not saved: held-out pairwise accuracy"):
            build_top_layers_ppm(paths, tmp_path / "ppm", **kw)  # 3 toy problems: too few held out
        assert not (tmp_path / "ppm").exists()
        report = build_top_layers_ppm(paths, tmp_path / "ppm", force=True, **kw)
        assert report.pairs > 0 and report.train_accuracy == 1.0  # the one toy preference, learnt
        marker = json.loads((tmp_path / "ppm" / MARKER).read_text())
        assert marker["version"] == 2 and marker["training"]["top_layers"] == 2
        assert marker["data"]["tree_folders"] == [str(tmp_path / "trees")]
        assert marker["training"]["adapted_weights"] == 2 * 7  # every linear weight of both layers
        assert marker["llamacpp_check"]["same_order_as_trained"] == 1.0
        ppm = HeadPPM.load(tmp_path / "ppm", llama)
        right, wrong = ppm.score_steps([QUESTION + "\n" + STEP + RIGHT, QUESTION + "\n" + STEP + WRONG])
        assert right > wrong
    finally:
        llama.close()


def test_top_layers_options_are_checked_before_any_model_loads(tmp_path):
    from typer.testing import CliRunner

    from backend.cli import app

    runner = CliRunner()
    out = ["--out", str(tmp_path / "p")]

    def said(res) -> str:  # the message, out of rich's wrapped box
        return " ".join(w for w in res.output.split() if w not in "│╭╮╰╯─")

    res = runner.invoke(app, ["build-ppm", "--no-search", "--trees", str(tmp_path), *out])
    assert res.exit_code == 2 and "go with --top-layers" in said(res), res.output
    missing = str(tmp_path / "none")
    res = runner.invoke(app, ["build-ppm", "--no-search", "--top-layers", "2", "--trees", missing, *out])
    assert res.exit_code == 2 and "is not a folder of search trees" in said(res), res.output
    res = runner.invoke(app, ["build-ppm", "--top-layers", "-1"])
    assert res.exit_code == 2
    assert not (tmp_path / "p").exists()


@pytest.mark.parametrize("content", [b"not gzip at all", gzip.compress(b'{"not": "canopy"}\n'),
                                     gzip.compress(b"x" * 100)[:20]])
def test_a_tree_file_that_is_not_one_is_refused_with_its_name(tmp_path, content):
    # --trees takes any folder: a broken or foreign file must say which it is, not crash
    bad = tmp_path / "evil.jsonl.gz"
    bad.write_bytes(content)
    with pytest.raises(ValueError, match=r"evil\.jsonl\.gz: "):
        collect_pairs([bad])
